"""The SQLite store's schedules (issue 23): table ``schedules (id, rev, data)``, one row per schedule (JSON text).

Every write is one write transaction of its own (never buffered); a change is ``UPDATE ... WHERE id = ? AND rev = ?``,
which SQLite's single writer makes a compare-and-set across every process on the file (:mod:`._schedules`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from contextlib import AbstractContextManager

from ._schedules import Stored

__all__ = ["SQLiteSchedules"]

Transaction = Callable[[], AbstractContextManager[sqlite3.Connection]]


class SQLiteSchedules:
    """:class:`~jobdeck.stores._schedules.ScheduleSteps` on a store's write transaction and read snapshots."""

    def __init__(self, write: Transaction, read: Transaction) -> None:
        self._write, self._read = write, read

    def read(self, schedule_id: str) -> Stored | None:
        with self._read() as conn:
            row = conn.execute("SELECT rev, data FROM schedules WHERE id = ?", (schedule_id,)).fetchone()
        return (int(row[0]), str(row[1])) if row is not None else None

    def read_all(self) -> list[Stored]:
        with self._read() as conn:
            return [(int(r), str(d)) for r, d in conn.execute("SELECT rev, data FROM schedules")]

    def insert(self, schedule_id: str, text: str) -> bool:
        with self._write() as conn:
            cursor = conn.execute("INSERT OR IGNORE INTO schedules (id, rev, data) VALUES (?, 1, ?)",
                                  (schedule_id, text))
            return cursor.rowcount == 1

    def replace(self, schedule_id: str, rev: int, text: str) -> bool:
        with self._write() as conn:
            cursor = conn.execute("UPDATE schedules SET rev = rev + 1, data = ? WHERE id = ? AND rev = ?",
                                  (text, schedule_id, rev))
            return cursor.rowcount == 1

    def delete(self, schedule_id: str) -> bool:
        with self._write() as conn:
            return conn.execute("DELETE FROM schedules WHERE id = ?", (schedule_id,)).rowcount == 1
