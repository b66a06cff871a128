"""A job's head as the SQL stores read it back: one row of :data:`HEAD_FIELDS`, in that order.

SQLite keeps a job in one table and PostgreSQL in two (a cold and a hot row), but both select a job's head in
this order and decode it here: params and results are JSON text (never pickle), the current operation is the
JSON of an :class:`~jobdeck.core.model.OperationRef`.
"""

from __future__ import annotations

import json
from typing import Any

from ..core.jsoncodec import loads_stored
from ..core.model import JobInfo, JobStatus, OperationRef
from ..core.usage import Usage

__all__ = ["HEAD_FIELDS", "job_from_row", "operation_from_json"]

HEAD_FIELDS = ("id", "job_type", "author", "status", "progress", "start_time", "end_time", "last_activity",
               "params", "result", "operation", "owner", "heartbeat_time", "abort_reason", "abort_time", "rerun_of",
               "aborted_by", "queued_time", "attempt", "max_attempts", "retry_at", "resumed_from",
               "schedule_id", "run_at", "signature", "usage")


def operation_from_json(text: str | None) -> OperationRef | None:
    return OperationRef.from_dict(json.loads(text)) if text else None


def job_from_row(row: tuple[Any, ...]) -> JobInfo:
    """A job from a row of :data:`HEAD_FIELDS` (messages and operation tree left empty)."""
    (job_id, job_type, author, status, progress, start, end, activity, params, result, op,
     owner, heartbeat, abort_reason, abort_time, rerun_of, aborted_by, queued_time, attempt,
     max_attempts, retry_at, resumed_from, schedule_id, run_at,
     signature, usage) = row
    return JobInfo(
        id=job_id,
        job_type=job_type,
        author=author,
        status=JobStatus(status),
        progress=progress,
        start_time=start,
        end_time=end,
        last_activity_time=activity,
        params=loads_stored(params),
        result=loads_stored(result),
        current_operation=operation_from_json(op),
        owner=owner,
        heartbeat_time=heartbeat,
        abort_reason=abort_reason,
        abort_time=abort_time,
        rerun_of=rerun_of,
        aborted_by=aborted_by,
        queued_time=queued_time,
        attempt=attempt,
        max_attempts=max_attempts,
        retry_at=retry_at,
        resumed_from=resumed_from,
        schedule_id=schedule_id,
        run_at=run_at,
        signature=signature,
        usage=Usage.from_stored(usage),
    )
