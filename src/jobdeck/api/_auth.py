"""Who is asking: a host application's ``auth`` callable, or jobdeck's own bearer token.

- ``auth(request) -> principal | None`` (sync or async): the embedding application decides; None is a 401.
- ``token``: ``Authorization: Bearer <token>`` or the ``jobdeck_token`` cookie the login page sets
  (HttpOnly, SameSite=Strict). No credentials is a 401, a wrong token a 403; compared in constant time. Wrong
  tokens are throttled per client address (429, :mod:`jobdeck.api._throttle`, which says what it relies on).
  ``token`` is an admin; each of ``viewer_tokens`` a viewer (see :mod:`jobdeck.api._roles`). Either may be a
  mapping ``{name: secret}`` of named credentials (:mod:`jobdeck.core.credentials`): the principal is then the
  name, so that every start and abort records who did it; a token without a name is ``admin`` or ``viewer``.
- Neither: no authentication (for embedding behind the host's own protection, or ``serve --no-auth``).

The principal becomes the default author of the jobs a request starts.
"""

from __future__ import annotations

import hmac
import inspect
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from starlette.requests import HTTPConnection
from starlette.responses import Response

from ..core.credentials import check_name
from ..core.errors import InvalidArgumentError
from ._errors import ApiError
from ._report_token import REPORT_TOKEN_PREFIX
from ._roles import ADMIN, VIEWER, Principal, principal_role
from ._throttle import Throttle, client_keys

__all__ = ["COOKIE_NAME", "AuthFunc", "Authenticator", "clear_token_cookie", "principal_name", "set_token_cookie"]

COOKIE_NAME = "jobdeck_token"
ANONYMOUS = "anonymous"
BEARER_PRINCIPAL = "admin"

AuthFunc = Callable[[Any], Any]
# A shared token, or named ones {name: secret}.
Tokens = str | Mapping[str, str] | Sequence[str] | None


def _named(tokens: Tokens, unnamed: str) -> list[tuple[str, str]]:
    """``[(name, secret)]`` for a token, a list of tokens (each named ``unnamed``) or a mapping of named ones."""
    if tokens is None:
        return []
    if isinstance(tokens, str):
        return [(unnamed, tokens)]
    if isinstance(tokens, Mapping):
        return [(check_name(name), secret) for name, secret in tokens.items()]
    return [(unnamed, secret) for secret in tokens]


def principal_name(principal: Any) -> str:
    """A readable name for whatever ``auth`` returned: the string itself, or an ``email``/``username``/``name``
    attribute or key, else ``str(principal)``."""
    if isinstance(principal, str):
        return principal
    for key in ("email", "username", "name"):
        value = principal.get(key) if isinstance(principal, dict) else getattr(principal, key, None)
        if isinstance(value, str) and value:
            return value
    return str(principal)


class Authenticator:
    """Checks a request's credentials; raises :class:`ApiError` 401/403 or returns the principal's name."""

    def __init__(self, auth: AuthFunc | None = None, token: Tokens = None, viewer_tokens: Tokens = ()) -> None:
        admins, viewers = _named(token, BEARER_PRINCIPAL), _named(viewer_tokens, VIEWER)
        secrets = [secret for _, secret in (*admins, *viewers)]
        if any(not isinstance(value, str) or not value for value in secrets):
            raise InvalidArgumentError("token and viewer_tokens must be non-empty strings")
        if viewers and not admins and auth is None:
            raise InvalidArgumentError("viewer_tokens need an admin token (or an auth callable) beside them")
        if len(set(secrets)) < len(secrets):
            raise InvalidArgumentError("each token must differ from the others (a viewer token from the admin's)")
        named = [name for name, _ in (*admins, *viewers) if name not in (BEARER_PRINCIPAL, VIEWER)]
        if len(set(named)) < len(named):
            raise InvalidArgumentError("each named token needs a name of its own")
        if any(t.startswith(REPORT_TOKEN_PREFIX) for t in secrets):
            # Such a token would be taken for a job's report token, and is never compared with these.
            raise InvalidArgumentError(f"token and viewer_tokens must not begin with {REPORT_TOKEN_PREFIX!r}, "
                                       "the mark of a job's report token")
        if auth is not None and not callable(auth):
            raise InvalidArgumentError("auth must be a callable (request) -> principal | None")
        self.auth = auth
        self._tokens = [(secret.encode(), role, name) for role, pairs in ((ADMIN, admins), (VIEWER, viewers))
                        for name, secret in pairs]
        self.throttle = Throttle()

    @property
    def enabled(self) -> bool:
        return self.auth is not None or bool(self._tokens)

    @property
    def uses_token(self) -> bool:
        return bool(self._tokens)

    def token_role(self, supplied: str) -> str | None:
        """The role of a configured token equal to ``supplied`` (each compared in constant time), else None."""
        found = self._token_principal(supplied)
        return found.role if found is not None else None

    def _token_principal(self, supplied: str) -> Principal | None:
        raw = supplied.encode("utf-8", "surrogateescape")
        found = None
        for token, role, name in self._tokens:   # every token compared: the time says nothing about which
            if hmac.compare_digest(raw, token) and found is None:
                found = Principal(name, role)
        return found

    def token_matches(self, supplied: str) -> bool:
        """True when ``supplied`` is one of the configured tokens (admin or viewer)."""
        return self.token_role(supplied) is not None

    def check_token(self, conn: HTTPConnection, supplied: str) -> bool:
        """:meth:`token_matches` for a request, through the throttle: ApiError(429) when the client may not have
        credentials checked now, or when a wrong token comes past its free ones (see :mod:`._throttle`)."""
        return self.checked_role(conn, supplied) is not None

    def checked_role(self, conn: HTTPConnection, supplied: str) -> str | None:
        """:meth:`token_role` through the throttle (see :meth:`check_token`). A report token is None without
        being compared or counted: using it on the wrong endpoint is a mistake of scope, not a guess."""
        found = self.checked_principal(conn, supplied)
        return found.role if found is not None else None

    def checked_principal(self, conn: HTTPConnection, supplied: str) -> Principal | None:
        """The :class:`Principal` of ``supplied`` through the throttle, as :meth:`checked_role`."""
        if supplied.startswith(REPORT_TOKEN_PREFIX):
            return None
        client, proxy = client_keys(conn.scope)
        verdict = self.throttle.refusal(client, proxy)
        if verdict is not None:
            seconds = str(max(1, math.ceil(verdict.retry_after)))
            raise ApiError(429, f"too many wrong tokens from {verdict.who}: no credential from it is checked for "
                                f"{seconds}s", {"Retry-After": seconds})
        found = self._token_principal(supplied)
        if found is not None:
            self.throttle.succeeded(client)
            return found
        wait = self.throttle.failed(client, proxy)
        if wait is not None:
            seconds = str(max(1, math.ceil(wait)))
            raise ApiError(429, f"wrong token, and too many from this address: after {self.throttle.limit} in "
                                f"{self.throttle.window / 60:g} minutes no credential from it is checked for a "
                                "while, not even the right one", {"Retry-After": seconds})
        return None

    @staticmethod
    def supplied_token(conn: HTTPConnection) -> str | None:
        header = conn.headers.get("authorization")
        if header is not None:
            scheme, _, value = header.partition(" ")
            if scheme.lower() == "bearer" and value.strip():
                return value.strip()
        return conn.cookies.get(COOKIE_NAME) or None

    async def authenticate(self, conn: HTTPConnection) -> str:
        """The principal's name, or ApiError(401) without credentials / ApiError(403) with wrong ones."""
        return (await self.identify(conn)).name

    async def identify(self, conn: HTTPConnection) -> Principal:
        """The :class:`Principal` (name and role), or ApiError(401) without credentials / 403 with wrong ones."""
        if self.auth is None and not self._tokens:
            return Principal(ANONYMOUS, ADMIN)
        if self.auth is not None:
            principal = self.auth(conn)
            if inspect.isawaitable(principal):
                principal = await principal
            if principal is not None:
                try:
                    role = principal_role(principal)
                except ValueError as exc:  # never guess a role: refuse
                    raise ApiError(403, f"the signed-in principal has an {exc}") from None
                return Principal(principal_name(principal), role, principal)
        if self._tokens:
            supplied = self.supplied_token(conn)
            if supplied is None:
                raise ApiError(401, "authentication required: send 'Authorization: Bearer <token>' or log in",
                               {"WWW-Authenticate": "Bearer"})
            found = self.checked_principal(conn, supplied)
            if found is not None:
                return found
            if supplied.startswith(REPORT_TOKEN_PREFIX):
                raise ApiError(403, "a report token is accepted only by its own job's report endpoints "
                                    "(/single/{id}/report, /complete, /fail, /aborted)")
            raise ApiError(403, "wrong token")
        raise ApiError(401, "authentication required")


def set_token_cookie(response: Response, token: str, secure: bool) -> None:
    """The browser keeps the token in an HttpOnly, SameSite=Strict cookie (no script can read it)."""
    response.set_cookie(COOKIE_NAME, token, httponly=True, samesite="strict", path="/", secure=secure)


def clear_token_cookie(response: Response, secure: bool) -> None:
    response.delete_cookie(COOKIE_NAME, path="/", httponly=True, samesite="strict", secure=secure)
