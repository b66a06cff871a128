"""The PostgreSQL store's saved values (issue 21): table ``{prefix}saved (job_id, key, value)``, one row per value
(JSON text), and ``{prefix}saved_size (job_id, bytes)``, their total per job, which each save keeps; both removed
with their job by the foreign key (``ON DELETE CASCADE``).

A save is a durable transaction of its own (never buffered) that locks the job's row as a state change does, so
that saves of one job are checked against the bound one after another and none lands after the job ended.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import psycopg

from ..core.errors import JobNotFoundError
from ._pg_rows import Statements
from ._saved import Saving, text_bytes

__all__ = ["PgSaved"]


class PgSaved:
    """:class:`~jobdeck.stores._saved.SavedSteps` on a store's pooled transactions (``run``) and one-statement
    reads (``one``)."""

    def __init__(self, run: Callable[..., Any], one: Callable[[bytes, Any], list[tuple[Any, ...]]], q: Statements,
                 not_found: Callable[[str], JobNotFoundError]) -> None:
        self._run, self._one, self._q, self._not_found = run, one, q, not_found

    def save(self, job_id: str, texts: Mapping[str, str], limit: int) -> tuple[Saving, int]:
        q = self._q
        keys, values = list(texts), list(texts.values())

        def body(conn: psycopg.Connection[Any]) -> tuple[Saving, int]:
            row = conn.execute(q.saved_lock, (job_id,)).fetchone()
            if row is None:
                raise self._not_found(job_id)
            if row[0]:
                return Saving.FINISHED, 0
            (kept,) = conn.execute(q.saved_kept, {"job": job_id, "keys": keys}).fetchone() or (0,)
            total = int(kept) + sum(text_bytes(v) for v in values)
            if total > limit:
                return Saving.FULL, total
            conn.execute(q.saved_put, (job_id, keys, values))
            conn.execute(q.saved_size_put, (job_id, total))
            return Saving.SAVED, total

        outcome: tuple[Saving, int] = self._run(body)  # durable: a save is kept once it returns
        return outcome

    def values(self, job_id: str) -> dict[str, str] | None:
        rows = self._one(self._q.saved_read, (job_id,))
        return {k: v for k, v in rows if k is not None} if rows else None

    def keys(self, job_id: str) -> list[str] | None:
        rows = self._one(self._q.saved_keys, (job_id,))
        return [r[0] for r in rows if r[0] is not None] if rows else None
