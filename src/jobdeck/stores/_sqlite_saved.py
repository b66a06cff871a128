"""The SQLite store's saved values (issue 21): table ``saved (job_id, key, value)``, one row per value (JSON text),
and ``saved_size (job_id, bytes)``, their total per job, which each save keeps.

A save is one write transaction of its own (never buffered), which checks the job's status and the bound and
writes in one step. Reads go through the read-only pool, as every read does. The rows go with their job: the
store's eviction and cleanup delete them beside the job's messages.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from typing import Any

from ..core.errors import JobNotFoundError
from ._saved import Saving, text_bytes

__all__ = ["SQLiteSaved"]

Transaction = Callable[[], AbstractContextManager[sqlite3.Connection]]


class SQLiteSaved:
    """:class:`~jobdeck.stores._saved.SavedSteps` on a store's write transaction (``write``) and read snapshots."""

    def __init__(self, write: Transaction, read: Transaction, not_found: Callable[[str], JobNotFoundError]) -> None:
        self._write, self._read, self._not_found = write, read, not_found

    def save(self, job_id: str, texts: Mapping[str, str], limit: int) -> tuple[Saving, int]:
        with self._write() as conn:
            row = conn.execute("SELECT end_time IS NOT NULL FROM jobs WHERE id = ?", (job_id,)).fetchone()
            if row is None:
                raise self._not_found(job_id)
            if row[0]:
                return Saving.FINISHED, 0
            keys = list(texts)
            # The kept total less what the incoming keys replace (their primary key rows): a save reads its own
            # keys, not every value the job saved.
            (kept,) = conn.execute(
                "SELECT COALESCE((SELECT bytes FROM saved_size WHERE job_id = ?), 0) - COALESCE((SELECT "  # noqa: S608
                "SUM(LENGTH(CAST(value AS BLOB))) FROM saved WHERE job_id = ? "
                f"AND key IN ({','.join('?' * len(keys))})), 0)", (job_id, job_id, *keys)).fetchone()
            total = int(kept) + sum(text_bytes(t) for t in texts.values())
            if total > limit:
                return Saving.FULL, total
            conn.executemany("INSERT OR REPLACE INTO saved (job_id, key, value) VALUES (?, ?, ?)",
                             [(job_id, k, t) for k, t in texts.items()])
            conn.execute("INSERT INTO saved_size (job_id, bytes) VALUES (?, ?) "
                         "ON CONFLICT (job_id) DO UPDATE SET bytes = excluded.bytes", (job_id, total))
        return Saving.SAVED, total

    def values(self, job_id: str) -> dict[str, str] | None:
        rows = self._rows(job_id, "key, value")
        return {k: v for k, v in rows} if rows is not None else None

    def keys(self, job_id: str) -> list[str] | None:
        rows = self._rows(job_id, "key")
        return [r[0] for r in rows] if rows is not None else None

    def _rows(self, job_id: str, columns: str) -> list[Any] | None:
        """Rows of ``columns`` of the job's saved values, or None if there is no such job (one snapshot)."""
        with self._read() as conn:
            if conn.execute("SELECT 1 FROM jobs WHERE id = ?", (job_id,)).fetchone() is None:
                return None
            return conn.execute(f"SELECT {columns} FROM saved WHERE job_id = ?", (job_id,)).fetchall()  # noqa: S608
