"""The job as plain data: statuses, messages, the job record and its camelCase JSON form.

Nothing here does I/O or knows a store. Times are POSIX timestamps (``float`` seconds, as ``time.time()``
returns) because job code writes them in hot loops; the JSON form turns them into ISO 8601 UTC strings with
milliseconds and ``Z`` (``2026-01-01T00:00:00.000Z``), the shape the reference system's clients read.
"""

from __future__ import annotations

import enum
import math
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from .errors import InvalidArgumentError
from .operations import OperationTree
from .usage import Usage

__all__ = [
    "MAX_MESSAGE_CHARS",
    "JobInfo",
    "JobMessage",
    "JobStatus",
    "MessageType",
    "OperationRef",
    "PastCursor",
    "clip_message",
    "format_time",
    "parse_time",
]

JSONValue = Any  # what json/orjson can encode; kept loose on purpose (params and results are the user's)


class JobStatus(enum.StrEnum):
    """Lifecycle of a job. ``queued``, ``running`` and ``aborting`` are active; the rest are terminal and final.

    ``queued`` jobs wait for a worker of a task engine (see :mod:`jobdeck.executors`); they count toward a
    type's ``max_concurrent`` like running ones. ``queued -> running`` when a worker claims the job.
    """

    QUEUED = "queued"
    RUNNING = "running"
    ABORTING = "aborting"
    COMPLETED = "completed"
    FAILED = "failed"
    ABORTED = "aborted"

    @property
    def is_active(self) -> bool:
        return self in ACTIVE

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL


# The longest text one message keeps, on every path (handlers, log capture, the report API, failure reasons).
# Messages are lines a person reads; a longer text (a data dump, a whole page) is cut with a visible marker so that
# one job cannot make every list of active jobs megabytes long.
MAX_MESSAGE_CHARS = 8192


def clip_message(text: str) -> str:
    """``text`` cut to :data:`MAX_MESSAGE_CHARS` characters, ending with a marker that says how much was cut."""
    if len(text) <= MAX_MESSAGE_CHARS:
        return text
    # The marker counts towards the bound; size it for the longest figure it can state (all of ``text``).
    keep = MAX_MESSAGE_CHARS - len(f" [... {len(text)} characters cut]")
    return text[:keep] + f" [... {len(text) - keep} characters cut]"


ACTIVE: frozenset[JobStatus] = frozenset({JobStatus.QUEUED, JobStatus.RUNNING, JobStatus.ABORTING})
TERMINAL: frozenset[JobStatus] = frozenset({JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.ABORTED})


class MessageType(enum.StrEnum):
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


# Date parts by whole second, and the ".mmmZ" tails: formatting dominates serialising message-heavy jobs, and
# a dict lookup plus one concatenation costs half of lru_cache plus an f-string with a format spec.
_SECONDS: dict[int, str] = {}
_MILLIS = tuple(f".{i:03d}Z" for i in range(1000))


def format_time(ts: float | None) -> str | None:
    """POSIX seconds -> ``2026-01-01T00:00:00.000Z`` (None stays None), rounded to the nearest millisecond."""
    if ts is None:
        return None
    whole, millis = divmod(round(ts * 1000), 1000)
    head = _SECONDS.get(whole)
    if head is None:
        if len(_SECONDS) >= 4096:
            _SECONDS.clear()
        head = _SECONDS[whole] = datetime.fromtimestamp(whole, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return head + _MILLIS[millis]


def parse_time(text: str | None) -> float | None:
    """ISO 8601 (``Z`` or an offset; a naive time counts as UTC) -> POSIX seconds. ValueError if malformed."""
    if text is None:
        return None
    if not isinstance(text, str):
        raise InvalidArgumentError(f"expected an ISO 8601 time string, got {type(text).__name__}")
    value = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.timestamp()


@dataclass(frozen=True, slots=True)
class JobMessage:
    """One entry of a job's message log."""

    type: MessageType
    message: str
    timestamp: float

    def to_dict(self) -> dict[str, Any]:
        # ``_value_`` is the member's plain value: a slot read, where ``.value`` goes through a descriptor.
        return {"type": self.type._value_, "message": self.message, "timestamp": format_time(self.timestamp)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JobMessage:
        ts = parse_time(data["timestamp"])
        return cls(MessageType(data["type"]), str(data["message"]), ts if ts is not None else 0.0)


@dataclass(frozen=True, slots=True)
class OperationRef:
    """Where a pipeline is: the current operation's id, its 1-based index and the number of operations."""

    id: str
    index: int
    total: int

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "index": self.index, "total": self.total}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> OperationRef:
        return cls(str(data["id"]), int(data["index"]), int(data["total"]))


@dataclass(frozen=True, slots=True, order=True)
class PastCursor:
    """A place in the past-jobs list, which is ordered by (end time, id), newest first.

    ``get_past_jobs(before=cursor)`` returns the jobs after it in that order, so that paging costs the same on the
    first page as on the thousandth (keyset paging, not offsets) and is not disturbed by jobs that end or are
    evicted meanwhile. Its text form (``str(cursor)``, :meth:`parse`) is what the API hands out; clients treat it
    as opaque.
    """

    end_time: float
    id: str

    @classmethod
    def of(cls, job: JobInfo) -> PastCursor:
        """The cursor just after ``job`` (a past job): the next page starts with the job ended before it."""
        if job.end_time is None:
            raise InvalidArgumentError(f"job {job.id} is still active: only past jobs have a place in the past list")
        return cls(job.end_time, job.id)

    @classmethod
    def parse(cls, text: str) -> PastCursor:
        """The inverse of ``str(cursor)``; ValueError saying what is wrong with anything else."""
        if not isinstance(text, str):
            raise InvalidArgumentError(f"a past-jobs cursor is a string, got {type(text).__name__}")
        end, sep, job_id = text.partition("_")
        try:
            if not sep or len(text) > 80:
                raise ValueError
            value = float(end)
            if not math.isfinite(value):
                raise ValueError
            canonical = str(uuid.UUID(job_id))
        except ValueError:
            raise InvalidArgumentError(f"malformed cursor {text[:80]!r}: pass back a next cursor exactly as jobdeck "
                                       "returned it") from None
        return cls(value, canonical)

    def __str__(self) -> str:
        return f"{self.end_time!r}_{self.id}"


def _diagnosis(value: Any) -> dict[str, str] | None:
    if not isinstance(value, dict) or "code" not in value:
        return None
    return {"code": str(value["code"]), "text": str(value.get("text", ""))}


@dataclass(slots=True)
class JobInfo:
    """A snapshot of one job. Stores hand out copies: changing one does not change the stored job.

    ``owner`` names the process running the job (``host:pid:token``) and ``heartbeat_time`` is when that
    process last said it is alive; together they let the reaper tell a dead process from a busy job.
    ``rerun_of`` is the id of the job this one re-ran with the same type and (possibly edited) params.
    ``queued_time`` is when a job run by a task engine was queued (None for jobs run where they were started);
    its ``start_time`` is when a worker claimed it (the queue time until then). ``attempt`` counts the runs: 1,
    then one more each time the job went back to the queue because the worker running it died (only for types
    registered with ``requeue_on_worker_lost``, or a failed run was retried). ``max_attempts`` is how many runs
    its type allows (1: no retry); ``retry_at`` is when a ``queued`` job waiting for its next attempt is due (None
    otherwise); ``resumed_from`` is the id of the job whose saved values and done operations this one took over.
    ``schedule_id`` names the schedule that started the job; ``run_at`` is when it was due (a one-off start with
    ``run_at``, or the schedule's occurrence): such a job waits ``queued`` until then.
    ``signature`` is set when the job fails: its error's cause with the details normalised away
    (:func:`~jobdeck.core.signature.signature_of`), by which failures are grouped.
    ``operations`` is the operation tree as its controller last published it; only reads that ask for it
    (``Store.require_job(id, operations=True)``) carry it, list views and events never do (:meth:`head` drops it).
    ``usage`` is what the job spent (``ctl.usage()``, :mod:`jobdeck.core.usage`), None until it recorded any.
    """

    id: str
    job_type: str
    author: str
    status: JobStatus = JobStatus.RUNNING
    progress: float = 0.0
    start_time: float = field(default_factory=time.time)
    end_time: float | None = None
    last_activity_time: float = 0.0
    info_messages: list[JobMessage] = field(default_factory=list)
    warning_messages: list[JobMessage] = field(default_factory=list)
    error_messages: list[JobMessage] = field(default_factory=list)
    params: JSONValue = None
    result: JSONValue = None
    current_operation: OperationRef | None = None
    owner: str | None = None
    heartbeat_time: float | None = None
    abort_reason: str | None = None
    abort_time: float | None = None
    rerun_of: str | None = None
    aborted_by: str | None = None
    queued_time: float | None = None
    operations: OperationTree | None = None
    attempt: int = 1
    max_attempts: int = 1
    retry_at: float | None = None
    resumed_from: str | None = None
    schedule_id: str | None = None  # the schedule that started it (issue 23)
    run_at: float | None = None  # when a one-off start or a schedule's occurrence was due (issue 23)
    # ``{"code", "text"}`` as an API answer carried it (jobdeck.core.diagnosis); stores never set it (issue 22).
    diagnosis: dict[str, str] | None = None
    signature: str | None = None
    usage: Usage | None = None

    def __post_init__(self) -> None:
        if not self.last_activity_time:
            self.last_activity_time = self.start_time

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE

    @property
    def duration(self) -> float:
        """Seconds from start to end (to now while active)."""
        return (self.end_time if self.end_time is not None else time.time()) - self.start_time

    def messages(self, kind: MessageType) -> list[JobMessage]:
        if kind is MessageType.INFO:
            return self.info_messages
        if kind is MessageType.WARNING:
            return self.warning_messages
        return self.error_messages

    def all_messages(self) -> list[JobMessage]:
        """All three kinds merged, oldest first (stable: ties keep info, warning, error order)."""
        merged = [*self.info_messages, *self.warning_messages, *self.error_messages]
        merged.sort(key=lambda m: m.timestamp)
        return merged

    def head(self) -> JobInfo:
        """A copy without messages: what list views and events carry."""
        return JobInfo(
            id=self.id,
            job_type=self.job_type,
            author=self.author,
            status=self.status,
            progress=self.progress,
            start_time=self.start_time,
            end_time=self.end_time,
            last_activity_time=self.last_activity_time,
            params=self.params,
            result=self.result,
            current_operation=self.current_operation,
            owner=self.owner,
            heartbeat_time=self.heartbeat_time,
            abort_reason=self.abort_reason,
            abort_time=self.abort_time,
            rerun_of=self.rerun_of,
            aborted_by=self.aborted_by,
            queued_time=self.queued_time,
            attempt=self.attempt,
            max_attempts=self.max_attempts,
            retry_at=self.retry_at,
            resumed_from=self.resumed_from,
            schedule_id=self.schedule_id,
            run_at=self.run_at,
            signature=self.signature,
            usage=self.usage,
        )

    @property
    def waited(self) -> float | None:
        """Seconds spent waiting for a worker (to now while still queued); None if the job was never queued."""
        if self.queued_time is None:
            return None
        until = time.time() if self.status is JobStatus.QUEUED else self.start_time
        return max(0.0, until - self.queued_time)

    def to_dict(self, messages: int | None = None) -> dict[str, Any]:
        """The camelCase JSON form. ``messages``: None for all, N for the newest N of each kind (0: none)."""

        def tail(items: list[JobMessage]) -> list[dict[str, Any]]:
            if messages is not None:
                items = items[-messages:] if messages > 0 else []
            return [m.to_dict() for m in items]

        out: dict[str, Any] = {
            "id": self.id,
            "jobType": self.job_type,
            "author": self.author,
            "status": self.status.value,
            "progress": self.progress,
            "startTime": format_time(self.start_time),
            "endTime": format_time(self.end_time),
            "lastActivityTime": format_time(self.last_activity_time),
            "infoMessages": tail(self.info_messages),
            "warningMessages": tail(self.warning_messages),
            "errorMessages": tail(self.error_messages),
            "params": self.params,
            "result": self.result,
            "currentOperation": self.current_operation.to_dict() if self.current_operation else None,
            "owner": self.owner,
            "heartbeatTime": format_time(self.heartbeat_time),
            "abortReason": self.abort_reason,
            "abortRequestedTime": format_time(self.abort_time),
            "rerunOf": self.rerun_of,
            "abortedBy": self.aborted_by,
            "queuedTime": format_time(self.queued_time),
            "attempt": self.attempt,
            "maxAttempts": self.max_attempts,
            "retryAt": format_time(self.retry_at),
            "resumedFrom": self.resumed_from,
            "scheduleId": self.schedule_id,
            "runAt": format_time(self.run_at),
            "signature": self.signature,
            "usage": self.usage.to_dict() if self.usage is not None else None,
        }
        if self.operations is not None:  # present only where it was read (the single-job view)
            out["operations"] = self.operations.to_list()
        if self.diagnosis is not None:  # present only as an API answer carried it
            out["diagnosis"] = dict(self.diagnosis)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JobInfo:
        """Inverse of :meth:`to_dict`; fields added after the reference (params, owner...) are optional."""
        start = parse_time(data["startTime"])
        op = data.get("currentOperation")
        return cls(
            id=str(data["id"]),
            job_type=str(data["jobType"]),
            author=str(data["author"]),
            status=JobStatus(data["status"]),
            progress=float(data["progress"]),
            start_time=start if start is not None else 0.0,
            end_time=parse_time(data.get("endTime")),
            last_activity_time=parse_time(data.get("lastActivityTime")) or 0.0,
            info_messages=[JobMessage.from_dict(m) for m in data.get("infoMessages") or []],
            warning_messages=[JobMessage.from_dict(m) for m in data.get("warningMessages") or []],
            error_messages=[JobMessage.from_dict(m) for m in data.get("errorMessages") or []],
            params=data.get("params"),
            result=data.get("result"),
            current_operation=OperationRef.from_dict(op) if op else None,
            owner=data.get("owner"),
            heartbeat_time=parse_time(data.get("heartbeatTime")),
            abort_reason=data.get("abortReason"),
            abort_time=parse_time(data.get("abortRequestedTime")),
            rerun_of=data.get("rerunOf"),
            aborted_by=data.get("abortedBy"),
            queued_time=parse_time(data.get("queuedTime")),
            operations=OperationTree.from_list(data["operations"]) if data.get("operations") is not None else None,
            attempt=int(data.get("attempt") or 1),
            max_attempts=int(data.get("maxAttempts") or 1),
            retry_at=parse_time(data.get("retryAt")),
            resumed_from=data.get("resumedFrom"),
            schedule_id=data.get("scheduleId"),
            run_at=parse_time(data.get("runAt")),
            diagnosis=_diagnosis(data.get("diagnosis")),
            signature=data.get("signature"),
            usage=Usage.from_dict(data["usage"]) if data.get("usage") is not None else None,
        )

    def to_json(self, messages: int | None = None) -> str:
        import json

        return json.dumps(self.to_dict(messages), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | bytes) -> JobInfo:
        import json

        return cls.from_dict(json.loads(text))
