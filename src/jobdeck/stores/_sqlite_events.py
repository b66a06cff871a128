"""The SQLite store's event log: the ``events`` table, bounded to ``max_events`` rows, whose row ids are the event
ids (``AUTOINCREMENT``, so an id is never reused and ``sqlite_sequence`` holds the newest even when the table is
empty). :func:`log_event` appends inside a writing transaction; :func:`read_events` answers a cursor, with
``reset`` when the cursor is not one of this file's or is older than what the bounded log still holds.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from ..core.events import EventBatch, EventType, JobEvent
from ..core.jsoncodec import dumps_text, loads_event_data

__all__ = ["log_event", "read_events"]


def log_event(conn: sqlite3.Connection, kind: EventType, job_id: str, data: dict[str, Any], max_events: int) -> None:
    cur = conn.execute("INSERT INTO events (job_id, type, data) VALUES (?, ?, ?)", (job_id, kind.value,
                                                                                    dumps_text(data)))
    last = cur.lastrowid or 0
    if last > max_events:
        conn.execute("DELETE FROM events WHERE id <= ?", (last - max_events,))


def read_events(conn: sqlite3.Connection, after: str | None, limit: int) -> EventBatch:
    row = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'events'").fetchone()
    newest = int(row[0]) if row else 0
    if after is None:
        return EventBatch([], str(newest))
    try:
        cursor = int(after)
    except ValueError:
        return EventBatch([], str(newest), reset=True)
    (oldest,) = conn.execute("SELECT MIN(id) FROM events").fetchone()
    if oldest is None:
        oldest = newest + 1
    if cursor > newest or cursor < oldest - 1:
        # A cursor from another file (or a recreated one), or older than the bounded log.
        return EventBatch([], str(newest), reset=True)
    rows = conn.execute("SELECT id, type, job_id, data FROM events WHERE id > ? ORDER BY id LIMIT ?",
                        (cursor, limit)).fetchall()
    if not rows:
        return EventBatch([], after)
    events = [JobEvent(str(i), EventType(t), j, loads_event_data(d)) for i, t, j, d in rows]
    return EventBatch(events, events[-1].id)
