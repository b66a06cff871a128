"""Change events: what stores emit and ``/events`` streams.

Every change to a job becomes one event with an id that orders it within its store. A listener that
remembers the last id it saw can ask for everything after it and miss nothing; when the store no longer holds
that far back (its event log is bounded), it is told so (``EventBatch.reset``) and must reload full state.

Event ``data`` is a camelCase patch of the job's JSON form plus, for ``message`` events, the new message:
``created`` and ``status`` carry the whole job without messages; ``progress`` carries ``progress``,
``lastActivityTime`` and ``currentOperation``; ``message`` carries ``message`` and ``lastActivityTime``;
``removed`` carries nothing but the id (past jobs deleted by ``cleanup_past_jobs``).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from .model import JobInfo, JobMessage, OperationRef, format_time

__all__ = ["EventBatch", "EventType", "JobEvent"]


class EventType(enum.StrEnum):
    CREATED = "created"
    PROGRESS = "progress"
    MESSAGE = "message"
    STATUS = "status"
    REMOVED = "removed"


@dataclass(frozen=True, slots=True)
class JobEvent:
    id: str
    type: EventType
    job_id: str
    data: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "type": self.type.value, "jobId": self.job_id, "data": self.data}


@dataclass(slots=True)
class EventBatch:
    """Events after a cursor. ``cursor`` is the id to ask after next time; ``reset`` means events were lost
    to the log's bound (or the cursor is unknown), so the reader must reload state before applying these."""

    events: list[JobEvent] = field(default_factory=list)
    cursor: str | None = None
    reset: bool = False


def job_data(job: JobInfo) -> dict[str, Any]:
    """The job without its message lists: the data of ``created`` and ``status`` events."""
    data = job.to_dict(messages=0)
    del data["infoMessages"], data["warningMessages"], data["errorMessages"]
    return data


def progress_data(progress: float, ts: float, operation: OperationRef | None) -> dict[str, Any]:
    return {
        "progress": progress,
        "lastActivityTime": format_time(ts),
        "currentOperation": operation.to_dict() if operation else None,
    }


def message_data(message: JobMessage) -> dict[str, Any]:
    return {"message": message.to_dict(), "lastActivityTime": format_time(message.timestamp)}
