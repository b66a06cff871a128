"""The SQLite store's message rows: a batch of buffered writes in one transaction, and loading messages fast.

:func:`write_batch` runs inside the store's ``BEGIN IMMEDIATE`` transaction: it reads the status of every job
in the batch once, drops the writes of jobs that are no longer active, and writes the rest with one
``executemany`` per table, in the order of the calls. Messages that the cap would delete before the batch ends
are not inserted at all (their events are still logged), and the cap and the event log's bound are applied
once per batch instead of once per message.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from itertools import groupby
from operator import itemgetter

from ..core.model import JobInfo, JobMessage, JobStatus, MessageType
from ._batch import plan_batch
from ._buffer import Write

__all__ = ["CAP_MESSAGES", "CHUNK", "load_messages", "write_batch"]

# Keeps the newest max_messages of one kind: everything at or below the (max+1)-th newest goes.
CAP_MESSAGES = (
    "DELETE FROM messages WHERE job_id = ?1 AND kind = ?2 AND seq <= "
    "(SELECT seq FROM messages WHERE job_id = ?1 AND kind = ?2 ORDER BY seq DESC LIMIT 1 OFFSET ?3)"
)
CHUNK = 500  # ids per IN (...) list, well below SQLite's variable limit
_KINDS = {kind.value: kind for kind in MessageType}
_NEWEST = "SELECT text, ts FROM messages WHERE job_id = ? AND kind = ? ORDER BY seq DESC LIMIT ?"
_ACTIVITY = ("UPDATE jobs SET last_activity = ?, progress = COALESCE(?, progress), "
             "operation = COALESCE(?, operation), operations = COALESCE(?, operations), usage = COALESCE(?, usage) "
             "WHERE id = ?")



def _heads(conn: sqlite3.Connection, ids: list[str]) -> dict[str, tuple[str, float | None, str | None]]:
    heads = {}
    for i in range(0, len(ids), CHUNK):
        chunk = ids[i:i + CHUNK]
        for job_id, status, end, op in conn.execute(
                f"SELECT id, status, end_time, operation FROM jobs WHERE id IN ({','.join('?' * len(chunk))})",  # noqa: S608
                chunk):
            heads[job_id] = (status, end, op)
    return heads


def write_batch(conn: sqlite3.Connection, writes: Sequence[Write], max_messages: int,
                max_events: int) -> dict[str, JobStatus | None]:
    """Write buffered messages and progress values of active jobs; returns the jobs whose writes were dropped
    (their status, or None when the job no longer exists)."""
    batch = plan_batch(writes, _heads(conn, list(dict.fromkeys(job_id for job_id, _ in writes))), max_messages)
    rows, events = batch.messages, batch.events
    if rows:
        conn.executemany("INSERT INTO messages (job_id, kind, text, ts) VALUES (?, ?, ?, ?)", rows)
        for job_id, kind in {(r[0], r[1]) for r in rows}:
            conn.execute(CAP_MESSAGES, (job_id, kind, max_messages))
    if events:
        conn.executemany("INSERT INTO events (job_id, type, data) VALUES (?, ?, ?)", events)
        (last,) = conn.execute("SELECT MAX(id) FROM events").fetchone()
        if last > max_events:
            conn.execute("DELETE FROM events WHERE id <= ?", (last - max_events,))
    conn.executemany(_ACTIVITY, [(a.time, a.progress, a.operation, a.tree, a.usage, job_id)
                                 for job_id, a in batch.activity.items()])
    return batch.refused


def load_messages(conn: sqlite3.Connection, jobs: Sequence[JobInfo], keep: int | None = None) -> None:
    """Fill the jobs' message lists, oldest first per kind: all of them (``keep=None``) or the newest ``keep``.

    All: one query per kind (and chunk of ids), so that each row carries only what differs between rows; the
    index (job_id, kind, seq) delivers them in order. This runs for every message shown, so the loop stays bare.
    The newest N: one ``ORDER BY seq DESC LIMIT N`` per job and kind, which the same index answers by reading
    exactly those rows, however long the job's log is."""
    if keep is not None:
        if keep > 0:
            for job in jobs:
                for kind_text, kind in _KINDS.items():
                    newest = conn.execute(_NEWEST, (job.id, kind_text, keep)).fetchall()
                    newest.reverse()
                    job.messages(kind).extend([JobMessage(kind, text, ts) for text, ts in newest])
        return
    by_id = {job.id: job for job in jobs}
    ids = list(by_id)
    for i in range(0, len(ids), CHUNK):
        chunk = ids[i:i + CHUNK]
        query = (f"SELECT job_id, text, ts FROM messages WHERE kind = ? AND job_id IN ({','.join('?' * len(chunk))}) "  # noqa: S608
                 "ORDER BY job_id, seq")
        for kind_text, kind in _KINDS.items():
            for job_id, rows in groupby(conn.execute(query, (kind_text, *chunk)), key=itemgetter(0)):
                by_id[job_id].messages(kind).extend([JobMessage(kind, text, ts) for _, text, ts in rows])
