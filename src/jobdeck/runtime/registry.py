"""The job types a runner knows: their handlers, limits and parameters, checked when they are registered.

    types = JobTypes()
    types.register("Condense", condense, timeout=3600)
    types.get("Condense").check_params({"question_ids": [1, 2]})

:class:`~jobdeck.JobRunner` keeps one and answers ``register``, ``register_external``, ``get_type`` and ``types``
from it; the supervisor's re-queueing asks it which types may run again.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypedDict

from ..core.budget import Budget
from ..core.errors import InvalidArgumentError, UnknownJobTypeError
from ..core.i18n import DEFAULT_LOCALE, Localized, localized
from ..core.jobtype import DEFAULT_STALL_AFTER, Handler, JobType
from ..core.retry import Retry

__all__ = ["ExternalTypeOptions", "JobTypeOptions", "JobTypes"]


class ExternalTypeOptions(TypedDict, total=False):
    """The options of :meth:`JobTypes.register_external`, for a caller that passes them on."""

    title: Localized | None
    description: Localized
    max_concurrent: int
    params: Mapping[str, Any] | None
    budget: Budget | None
    max_budget: Budget | None


class JobTypeOptions(ExternalTypeOptions, total=False):
    """The options of :meth:`JobTypes.register`, for a caller that passes them on."""

    timeout: float | None
    capture_logs: bool
    requeue_on_worker_lost: int
    retry: Retry | None
    stall_after: float | None


def _translations(name: str, given: Localized | None) -> dict[str, str]:
    """A title or description given by language (``{"en": "Import", "fi": "Tuonti"}``), checked; {} for a plain
    string (one text in every language)."""
    if given is None or isinstance(given, str):
        return {}
    if not isinstance(given, Mapping) or not given \
            or not all(isinstance(k, str) and isinstance(v, str) for k, v in given.items()):
        raise InvalidArgumentError(f"{name} must be a string or a non-empty mapping of language codes to strings "
                                   f"such as {{'en': 'Import', 'fi': 'Tuonti'}}, got {given!r}")
    return {code.lower(): text for code, text in given.items()}


def _any_handler(ctl: Any, **params: Any) -> None:
    """Stands in for an external type's handler while ``register`` checks the options."""


class JobTypes:
    """Job types by name. Registering a name again replaces its type."""

    def __init__(self) -> None:
        self._types: dict[str, JobType] = {}

    def register(
        self,
        job_type: str,
        handler: Handler | None = None,
        *,
        title: Localized | None = None,
        description: Localized = "",
        max_concurrent: int = 1,
        timeout: float | None = None,
        params: Mapping[str, Any] | None = None,
        capture_logs: bool = False,
        requeue_on_worker_lost: int = 0,
        retry: Retry | None = None,
        stall_after: float | None = DEFAULT_STALL_AFTER,
        budget: Budget | None = None,
        max_budget: Budget | None = None,
    ) -> Any:
        """Register ``handler`` for ``job_type``, or return a decorator that does (``handler`` None).
        The options are :meth:`JobRunner.register <jobdeck.JobRunner.register>`'s."""
        if not isinstance(job_type, str) or not job_type.strip():
            raise InvalidArgumentError(f"job_type must be a non-empty string, got {job_type!r}")
        if isinstance(max_concurrent, bool) or not isinstance(max_concurrent, int) or max_concurrent < 1:
            raise InvalidArgumentError(f"max_concurrent must be a positive integer, got {max_concurrent!r}")
        if timeout is not None and timeout <= 0:
            raise InvalidArgumentError(f"timeout must be positive seconds, got {timeout!r}")
        if isinstance(requeue_on_worker_lost, bool) or not isinstance(requeue_on_worker_lost, int) \
                or requeue_on_worker_lost < 0:
            raise InvalidArgumentError("requeue_on_worker_lost must be how many times a job may go back to the queue "
                                       f"(an integer, 0 for never), got {requeue_on_worker_lost!r}")
        if stall_after is not None and (isinstance(stall_after, bool) or not isinstance(stall_after, int | float)
                                        or not stall_after > 0 or stall_after == float("inf")):
            raise InvalidArgumentError(f"stall_after must be positive seconds or None, got {stall_after!r}")
        if retry is not None and not isinstance(retry, Retry):
            raise InvalidArgumentError(f"retry must be a jobdeck.Retry(...) or None, got {retry!r}")
        for name, given in (("budget", budget), ("max_budget", max_budget)):
            if given is not None and not isinstance(given, Budget):
                raise InvalidArgumentError(f"{name} must be a jobdeck.Budget(...) or None, got {given!r}")
        if budget is not None and max_budget is not None:
            budget.check_within(max_budget)
        titles, descriptions = _translations("title", title), _translations("description", description)

        def add(fn: Handler) -> Handler:
            if not callable(fn):
                raise InvalidArgumentError(f"handler for {job_type!r} must be callable")
            self._types[job_type] = JobType(job_type, fn, localized(title, DEFAULT_LOCALE) or job_type,
                                            localized(description, DEFAULT_LOCALE), max_concurrent,
                                            timeout, dict(params or {}), capture_logs=bool(capture_logs),
                                            requeue_on_worker_lost=requeue_on_worker_lost, retry=retry,
                                            stall_after=None if stall_after is None else float(stall_after),
                                            budget=budget, max_budget=max_budget, titles=titles,
                                            descriptions=descriptions)
            return fn

        return add if handler is None else add(handler)

    def register_external(
        self,
        job_type: str,
        *,
        title: Localized | None = None,
        description: Localized = "",
        max_concurrent: int = 1,
        params: Mapping[str, Any] | None = None,
        budget: Budget | None = None,
        max_budget: Budget | None = None,
    ) -> None:
        """Register a type whose jobs run elsewhere (no handler here), with :meth:`register`'s checks. A budget is
        checked against the use its jobs report (``POST /single/{id}/report``)."""
        self.register(job_type, _any_handler, title=title, description=description, max_concurrent=max_concurrent,
                      params=params, budget=budget, max_budget=max_budget)
        spec = self._types[job_type]
        self._types[job_type] = JobType(spec.name, None, spec.title, spec.description, spec.max_concurrent, None,
                                        spec.params, budget=spec.budget, max_budget=spec.max_budget,
                                        titles=spec.titles, descriptions=spec.descriptions)

    def get(self, job_type: str) -> JobType:
        """The type named ``job_type``; UnknownJobTypeError (naming the known ones) if there is none."""
        found = self._types.get(job_type)
        if found is None:
            raise UnknownJobTypeError(job_type, list(self._types))
        return found

    def names(self) -> frozenset[str]:
        """The names of every registered type."""
        return frozenset(self._types)

    def all(self) -> list[JobType]:
        """Every type, in the order they were first registered."""
        return list(self._types.values())

    def runnable(self) -> frozenset[str]:
        """The names of the types whose handlers run here (every type but the external ones)."""
        return frozenset(spec.name for spec in self._types.values() if not spec.external)

    def requeueable(self) -> dict[str, int]:
        """How many times a job of each type may go back to the queue when its worker dies, for the types
        that allow it at all (``requeue_on_worker_lost``)."""
        return {spec.name: spec.requeue_on_worker_lost for spec in self._types.values() if spec.requeue_on_worker_lost}

