"""What a batch of buffered writes (:mod:`._buffer`) becomes in a SQL store, worked out once for SQLite and
PostgreSQL alike: which jobs refuse it (gone, or finished), the message rows worth inserting (those the cap keeps
once the whole batch is in), the events to log in the order of the calls, and one activity update per job (its
last activity time, newest progress value, current operation and operation tree). Each store then writes that
with its own statements, in its own transaction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from ..core.jsoncodec import dumps_text
from ..core.model import JobMessage, JobStatus, OperationRef, format_time
from ._buffer import Write, kept, message_event
from ._stored import operation_from_json

__all__ = ["Activity", "Batch", "Head", "plan_batch"]

# A job as a batch needs it: status, end time (None while active) and current operation as stored (JSON text).
Head = tuple[str, float | None, str | None]


@dataclass(slots=True)
class Activity:
    """One job's update: ``None`` leaves the stored value as it is."""

    time: float = 0.0
    progress: float | None = None
    operation: str | None = None  # JSON text
    tree: str | None = None  # JSON text
    usage: str | None = None  # JSON text: what the job spent, carried by the tree
    current: OperationRef | None = None  # the current operation, for the progress events


@dataclass(slots=True)
class Batch:
    refused: dict[str, JobStatus | None] = field(default_factory=dict)  # status, or None: no such job
    messages: list[tuple[str, str, str, float]] = field(default_factory=list)  # job id, kind, text, time
    events: list[tuple[str, str, str]] = field(default_factory=list)  # job id, type, data (JSON text)
    activity: dict[str, Activity] = field(default_factory=dict)


def plan_batch(writes: Sequence[Write], heads: Mapping[str, Head], max_messages: int) -> Batch:
    """The rows, events and updates of ``writes`` for jobs whose ``heads`` were read in the writing transaction."""
    batch = Batch()
    refused = batch.refused
    for job_id, _ in writes:
        head = heads.get(job_id)
        if head is None:
            refused[job_id] = None
        elif head[1] is not None:  # end_time set: the job finished
            refused[job_id] = JobStatus(head[0])
    keep = kept(writes, max_messages)
    for i, (job_id, write) in enumerate(writes):
        if job_id in refused:
            continue
        state = batch.activity.get(job_id)
        if state is None:
            state = batch.activity[job_id] = Activity()
        state.time = write.timestamp
        if isinstance(write, JobMessage):
            if keep[i]:
                batch.messages.append((job_id, write.type._value_, write.message, write.timestamp))
            batch.events.append((job_id, "message", message_event(write)))
            continue
        if write.operation is not None:
            state.current = write.operation
            state.operation = dumps_text(write.operation.to_dict())
        elif state.current is None:
            state.current = operation_from_json(heads[job_id][2])
        if write.operations is not None:
            state.tree = write.operations.to_json()
            if write.operations.usage is not None:
                state.usage = write.operations.usage.to_json()
        state.progress = write.value
        op = state.current
        batch.events.append((job_id, "progress", dumps_text({
            "progress": write.value, "lastActivityTime": format_time(write.timestamp),
            "currentOperation": op.to_dict() if op else None})))
    return batch
