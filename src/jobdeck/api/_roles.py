"""Roles and the two permission hooks: who may start and who may abort.

Two built-in roles: ``admin`` (everything) and ``viewer`` (reads only: lists, job pages, events). The shared
``token`` is an admin, each ``viewer_tokens`` entry a viewer. A principal returned by ``create_app(auth=fn)`` may
carry a role as a ``role`` attribute or key (``{"email": "a@example.com", "role": "viewer"}``); one without a role
is an admin, as every principal was before roles existed.

Two hooks decide per request, each ``(principal, ...) -> bool`` and by default "admin only":

    def can_start(principal: Principal, job_type: str) -> bool: ...
    def can_abort(principal: Principal, job: JobInfo) -> bool: ...

A refused write is a 403 ``{"error": "...", "requiredRole": "admin"}`` naming the role that would be allowed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..core.errors import InvalidArgumentError
from ..core.model import JobInfo
from ._errors import ApiError

__all__ = ["ADMIN", "ROLES", "VIEWER", "CanAbort", "CanStart", "Permissions", "Principal", "principal_role"]

ADMIN = "admin"
VIEWER = "viewer"
ROLES = (ADMIN, VIEWER)


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is asking: a readable ``name``, a ``role`` (admin or viewer), and what ``auth`` returned (``identity``,
    None for jobdeck's own tokens)."""

    name: str
    role: str
    identity: Any = None

    @property
    def is_admin(self) -> bool:
        return self.role == ADMIN


CanStart = Callable[[Principal, str], bool]
CanAbort = Callable[[Principal, JobInfo], bool]


def principal_role(principal: Any) -> str:
    """The ``role`` attribute or key of what ``auth`` returned (admin without one); ValueError for an unknown role,
    so that a typo in the host application never grants more than it says."""
    value = principal.get("role") if isinstance(principal, dict) else getattr(principal, "role", None)
    if value is None:
        return ADMIN
    if value not in ROLES:
        raise InvalidArgumentError(f"unknown role {value!r}; jobdeck knows {', '.join(ROLES)}")
    return str(value)


def admin_only(principal: Principal, *_: Any) -> bool:
    return principal.is_admin


class Permissions:
    """Applies the hooks; raises :class:`ApiError` 403 naming the role needed when one refuses."""

    def __init__(self, can_start: CanStart | None = None, can_abort: CanAbort | None = None) -> None:
        for name, hook in (("can_start", can_start), ("can_abort", can_abort)):
            if hook is not None and not callable(hook):
                raise InvalidArgumentError(f"{name} must be a callable (principal, ...) -> bool")
        self.custom_start = can_start is not None
        self.custom_abort = can_abort is not None
        self._can_start: CanStart = can_start or admin_only
        self._can_abort: CanAbort = can_abort or admin_only

    def may_start(self, principal: Principal, job_type: str) -> bool:
        return bool(self._can_start(principal, job_type))

    def may_abort(self, principal: Principal, job: JobInfo) -> bool:
        return bool(self._can_abort(principal, job))

    def require_start(self, principal: Principal, job_type: str) -> None:
        if not self.may_start(principal, job_type):
            raise self._refusal(principal, f"starting {job_type!r} jobs", self.custom_start, "can_start")

    def require_abort(self, principal: Principal, job: JobInfo) -> None:
        if not self.may_abort(principal, job):
            raise self._refusal(principal, f"aborting job {job.id}", self.custom_abort, "can_abort")

    def require_admin(self, principal: Principal, what: str) -> None:
        if not principal.is_admin:
            raise self._refusal(principal, what, False, "")

    @staticmethod
    def _refusal(principal: Principal, what: str, custom: bool, hook: str) -> ApiError:
        why = f"the application's {hook} refused it" if custom else f"it needs the {ADMIN} role"
        return RoleError(f"{what} is not allowed for {principal.name} (role {principal.role}): {why}")


class RoleError(ApiError):
    """A 403 whose body also carries ``requiredRole``."""

    required_role = ADMIN

    def __init__(self, message: str) -> None:
        super().__init__(403, message)
