"""The SQLite store's worker registry (issue 22): table ``workers (id, last_seen, data)``, one row per process."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from contextlib import AbstractContextManager

__all__ = ["SQLiteWorkers"]

Transaction = Callable[[], AbstractContextManager[sqlite3.Connection]]


class SQLiteWorkers:
    """:class:`~jobdeck.stores._workers.WorkerSteps` on a store's write transaction and read snapshots."""

    def __init__(self, write: Transaction, read: Transaction) -> None:
        self._write, self._read = write, read

    def put(self, worker_id: str, last_seen: float, text: str, drop_before: float) -> None:
        with self._write() as conn:
            conn.execute("INSERT OR REPLACE INTO workers (id, last_seen, data) VALUES (?, ?, ?)",
                         (worker_id, last_seen, text))
            conn.execute("DELETE FROM workers WHERE last_seen < ?", (drop_before,))

    def drop(self, worker_id: str) -> None:
        with self._write() as conn:
            conn.execute("DELETE FROM workers WHERE id = ?", (worker_id,))

    def read(self, since: float) -> list[str]:
        with self._read() as conn:
            return [r[0] for r in conn.execute("SELECT data FROM workers WHERE last_seen >= ?", (since,))]
