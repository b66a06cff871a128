"""The SQLite store's schema, its upgrade steps, and the mapping between rows and :class:`JobInfo`.

The schema version lives in ``PRAGMA user_version``. ``STEPS[n]`` upgrades a file from version ``n`` to
``n + 1``; opening a file runs the steps it lacks in one transaction, so a crash during an upgrade leaves the
file at its old version. A file written by a newer jobdeck is refused rather than guessed at.

A job is active exactly while its ``end_time`` is NULL (every terminal transition sets it); the partial indexes
below make the active list and the past list (newest ended first) cheap however many rows the other one has.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from ..errors import StoreError
from ..model import JobInfo, JobMessage, JobStatus, MessageType, OperationRef

__all__ = ["HEAD_COLUMNS", "LATEST_VERSION", "STEPS", "job_from_row", "job_to_row", "message_from_row", "migrate"]

STEPS: list[list[str]] = [
    # 0 -> 1: jobs, their messages, and the bounded change log.
    [
        """CREATE TABLE jobs (
            id TEXT PRIMARY KEY,
            job_type TEXT NOT NULL,
            author TEXT NOT NULL,
            status TEXT NOT NULL,
            progress REAL NOT NULL DEFAULT 0,
            start_time REAL NOT NULL,
            end_time REAL,
            last_activity REAL NOT NULL,
            params TEXT NOT NULL DEFAULT 'null',
            result TEXT NOT NULL DEFAULT 'null',
            operation TEXT,
            abort_reason TEXT,
            abort_time REAL
        )""",
        "CREATE INDEX jobs_past ON jobs(end_time) WHERE end_time IS NOT NULL",
        """CREATE TABLE messages (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            job_id TEXT NOT NULL,
            kind TEXT NOT NULL,
            text TEXT NOT NULL,
            ts REAL NOT NULL
        )""",
        "CREATE INDEX messages_by_job ON messages(job_id, kind, seq)",
        """CREATE TABLE events (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            job_id TEXT NOT NULL,
            type TEXT NOT NULL,
            data TEXT NOT NULL
        )""",
    ],
    # 1 -> 2: owner and heartbeat, so that a job of a dead process can be told from a busy one; an index for
    # the active list and the max_active check.
    [
        "ALTER TABLE jobs ADD COLUMN owner TEXT",
        "ALTER TABLE jobs ADD COLUMN heartbeat_time REAL",
        "CREATE INDEX jobs_active ON jobs(start_time) WHERE end_time IS NULL",
    ],
]
LATEST_VERSION = len(STEPS)

HEAD_COLUMNS = (
    "id, job_type, author, status, progress, start_time, end_time, last_activity, params, result, operation, "
    "owner, heartbeat_time, abort_reason, abort_time"
)


def migrate(conn: sqlite3.Connection, path: str) -> int:
    """Bring the file up to :data:`LATEST_VERSION`; returns the version it had."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > LATEST_VERSION:
            raise StoreError(
                f"SQLite store {path} has schema version {version} but this jobdeck knows only up to "
                f"{LATEST_VERSION}; it was written by a newer jobdeck: upgrade jobdeck or use another file")
        for step in STEPS[version:]:
            for statement in step:
                conn.execute(statement)
        if version != LATEST_VERSION:
            # PRAGMA takes no parameters; the value is our own integer.
            conn.execute(f"PRAGMA user_version = {LATEST_VERSION:d}")
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return int(version)


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def job_to_row(job: JobInfo) -> tuple[Any, ...]:
    """Values in :data:`HEAD_COLUMNS` order. Params and results are JSON text, never pickle."""
    op = job.current_operation
    return (
        job.id, job.job_type, job.author, job.status.value, job.progress, job.start_time, job.end_time,
        job.last_activity_time, _dumps(job.params), _dumps(job.result), _dumps(op.to_dict()) if op else None,
        job.owner, job.heartbeat_time, job.abort_reason, job.abort_time,
    )


def job_from_row(row: tuple[Any, ...]) -> JobInfo:
    (job_id, job_type, author, status, progress, start, end, activity, params, result, op,
     owner, heartbeat, abort_reason, abort_time) = row
    return JobInfo(
        id=job_id,
        job_type=job_type,
        author=author,
        status=JobStatus(status),
        progress=progress,
        start_time=start,
        end_time=end,
        last_activity_time=activity,
        params=json.loads(params),
        result=json.loads(result),
        current_operation=operation_from_json(op),
        owner=owner,
        heartbeat_time=heartbeat,
        abort_reason=abort_reason,
        abort_time=abort_time,
    )


def operation_from_json(text: str | None) -> OperationRef | None:
    return OperationRef.from_dict(json.loads(text)) if text else None


def message_from_row(kind: str, text: str, ts: float) -> JobMessage:
    return JobMessage(MessageType(kind), text, ts)
