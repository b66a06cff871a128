"""Every error jobdeck raises, under one root.

    JobdeckError
    ├── InvalidArgumentError    an argument jobdeck cannot take (also a ValueError): the message names it
    │   ├── InvalidParamsError  params a job type's handler does not accept: ``field`` names the parameter
    │   └── AmbiguousJobIdError an id prefix that matches more than one job: ``candidates`` lists them
    ├── JobNotFoundError        an id that no store knows (never created, or evicted)
    ├── JobFinishedError        a change asked of a job that already reached a terminal state
    ├── JobConflictError        a job type already runs its maximum number of jobs
    ├── UnknownJobTypeError     a job type no runner has registered
    ├── ScheduleNotFoundError   a schedule id the store does not know
    ├── ScheduleConflictError   a schedule id taken already, or a code schedule asked to be edited or deleted
    ├── AbortError              raised by ``check_abort()`` inside job code when an abort was requested
    ├── RetryLater              raised by job code to have its run retried after ``seconds`` (``reason`` says why)
    ├── StoreError              a backend cannot be opened or reached (bad URL, missing extra, I/O)
    ├── ExecutorError           a task engine cannot be configured or reached (bad URL, missing extra)
    │   └── EnqueueError        a job could not be handed to the engine (it was failed, not left queued)
    └── ClientError             the HTTP client got an error answer or could not reach the server

Messages state the fact first, then the remedy, so that a one-line print is enough for an operator.
"""

from __future__ import annotations

__all__ = [
    "AbortError",
    "AmbiguousJobIdError",
    "ClientError",
    "EnqueueError",
    "ExecutorError",
    "InvalidArgumentError",
    "InvalidParamsError",
    "JobConflictError",
    "JobFinishedError",
    "JobNotFoundError",
    "JobdeckError",
    "RetryLater",
    "ScheduleConflictError",
    "ScheduleNotFoundError",
    "StoreError",
    "UnknownJobTypeError",
]


class JobdeckError(Exception):
    """Root of every jobdeck error."""


class InvalidArgumentError(JobdeckError, ValueError):
    """An argument jobdeck cannot take: a wrong type, a value out of range, params that are not JSON.

    Also a ``ValueError``, so code written against the built-in keeps working. ``argument`` names what was
    wrong (``"params"``, ``"max_messages"``, ...) when one argument is to blame.
    """

    def __init__(self, message: str, argument: str | None = None) -> None:
        self.argument = argument
        super().__init__(message)


class JobNotFoundError(JobdeckError, KeyError):
    """No job with this id exists in the store."""

    def __init__(self, job_id: str, hint: str | None = None) -> None:
        self.job_id = job_id
        text = f"job {job_id!r} not found"
        if hint:
            text += f" ({hint})"
        super().__init__(text)

    def __str__(self) -> str:  # KeyError would quote the whole message
        return str(self.args[0])


class JobFinishedError(JobdeckError):
    """The job is already completed, failed or aborted; terminal states are final.

    The store's own mutations answer ``False`` instead (a handler unwinding after an abort must not crash);
    this is raised where a caller asked explicitly, such as a late report over HTTP (409 with the ``status``).
    """

    def __init__(self, job_id: str, status: str) -> None:
        self.job_id = job_id
        self.status = status
        super().__init__(f"job {job_id} already ended with status {status!r}; terminal states are final, "
                         "so the change is not recorded")


class JobConflictError(JobdeckError):
    """Starting the job would exceed the job type's ``max_concurrent`` active jobs."""

    def __init__(self, job_type: str, max_concurrent: int, active_ids: list[str] | None = None,
                 message: str | None = None) -> None:
        """``message`` replaces the default wording when the conflict is another one (a job that is still
        active cannot be resumed, say)."""
        self.job_type = job_type
        self.max_concurrent = max_concurrent
        self.active_ids = list(active_ids or [])
        running = f" (active: {', '.join(self.active_ids)})" if self.active_ids else ""
        super().__init__(message or (
            f"job type {job_type!r} already has {max_concurrent} active job(s){running}; "
            "wait for it to finish or abort it first"
        ))


class UnknownJobTypeError(JobdeckError):
    """The job type was never registered with the runner."""

    def __init__(self, job_type: str, known: list[str] | None = None) -> None:
        self.job_type = job_type
        self.known = sorted(known or [])
        known_text = ", ".join(self.known) if self.known else "none"
        super().__init__(f"unknown job type {job_type!r}; registered types: {known_text}")


class ScheduleNotFoundError(JobdeckError, KeyError):
    """No schedule with this id exists in the store."""

    def __init__(self, schedule_id: str) -> None:
        self.schedule_id = schedule_id
        super().__init__(f"schedule {schedule_id!r} not found")

    def __str__(self) -> str:  # KeyError would quote the whole message
        return str(self.args[0])


class ScheduleConflictError(JobdeckError):
    """The schedule cannot be changed that way: its id is taken, or it is defined in code (a code schedule can be
    paused, resumed and run now; its definition is the code's)."""

    def __init__(self, schedule_id: str, message: str) -> None:
        self.schedule_id = schedule_id
        super().__init__(message)


class InvalidParamsError(InvalidArgumentError):
    """Params do not fit the job type: ``field`` names the parameter (None when the params are not an object)."""

    def __init__(self, job_type: str, field: str | None, problem: str) -> None:
        self.job_type = job_type
        self.field = field
        super().__init__(f"invalid params for {job_type}: {problem}", "params")


class AmbiguousJobIdError(InvalidArgumentError):
    """An id prefix matches several jobs; ``candidates`` are (some of) their ids."""

    def __init__(self, prefix: str, candidates: list[str]) -> None:
        self.prefix = prefix
        self.candidates = list(candidates)
        shown = ", ".join(c[:13] for c in self.candidates[:10])
        more = ", ..." if len(self.candidates) > 10 else ""
        super().__init__(f"job id prefix {prefix!r} is ambiguous: it matches {shown}{more}; give more characters",
                         "id")


class AbortError(JobdeckError):
    """Raised inside job code by ``check_abort()`` once an abort was requested.

    Job code may catch it to clean up, but should re-raise it so that the job ends ``aborted``.
    """

    def __init__(self, job_id: str, reason: str | None = None) -> None:
        self.job_id = job_id
        self.reason = reason
        super().__init__(f"job {job_id} was asked to abort: {reason or 'no reason given'}")


class RetryLater(JobdeckError):
    """Raised by job code to have this run retried in ``seconds`` (a provider's ``Retry-After``, say), with
    ``reason`` saying why. It counts as an attempt of the type's :class:`~jobdeck.Retry`; past the last attempt the
    job fails with ``reason``. Raised with seconds that are not a number >= 0, it is an InvalidArgumentError.

        raise RetryLater(float(response.headers["Retry-After"]), "429 Too Many Requests")
    """

    def __init__(self, seconds: float, reason: str) -> None:
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not seconds >= 0 \
                or seconds == float("inf"):
            raise InvalidArgumentError(f"RetryLater seconds must be a number >= 0, got {seconds!r}", "seconds")
        self.seconds = float(seconds)
        self.reason = str(reason)
        super().__init__(self.reason)


class StoreError(JobdeckError):
    """A store cannot be opened or reached: unknown URL scheme, missing extra, unreachable server, bad path."""


class ExecutorError(JobdeckError):
    """A task engine cannot be used: unknown executor URL, missing extra, unreachable broker, bad setup."""


class EnqueueError(ExecutorError):
    """The engine did not accept a job (its broker is down, say). The job was failed, never left ``queued``."""

    def __init__(self, job_id: str, reason: str) -> None:
        self.job_id = job_id
        super().__init__(f"job {job_id} could not be queued: {reason}; it was marked failed, try again once the "
                         "task engine's broker is reachable")


class ClientError(JobdeckError):
    """The jobdeck server answered with an error, or could not be reached."""

    def __init__(self, message: str, status_code: int | None = None) -> None:
        self.status_code = status_code
        super().__init__(message)
