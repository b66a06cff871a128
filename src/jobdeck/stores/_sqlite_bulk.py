"""The SQLite store's steps for the operator's many-job views (issue 22): failure groups (:mod:`._sql_failures`)
and deleting past jobs by id, as a mixin so that the store's module stays the size of its other steps."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from ..core.events import EventType
from . import _sql_failures, _sqlite_failures
from ._failures import FailureGroup, FailureQuery

if TYPE_CHECKING:
    from .sqlite import SQLiteStore

__all__ = ["SQLiteBulkSteps"]

_ROWS, _IDS = (t.format(jobs="jobs") for t in (_sql_failures.ROWS, _sql_failures.IDS))


class SQLiteBulkSteps:
    """``_failure_groups`` on a reader's snapshot, ``_delete_jobs`` in one write transaction."""

    def _failure_groups(self, query: FailureQuery) -> list[FailureGroup]:
        store = cast("SQLiteStore", self)
        with store._readers.snapshot() as conn:
            def errors(ids: list[str]) -> dict[str, str]:
                marks = ",".join("?" * len(ids))
                rows = conn.execute(f"SELECT job_id, text FROM messages WHERE kind = 'error' AND job_id IN ({marks}) "  # noqa: S608
                                    "ORDER BY seq", ids)
                return dict(rows.fetchall())  # the last one of each job wins

            newest = _sql_failures.per_group(conn.execute, _IDS)
            # Without a window, the kept rows (_sqlite_failures): a row per group, not every failed job.
            rows = _ROWS if query.since is not None else _sqlite_failures.ROWS
            return _sql_failures.failure_groups(conn.execute, rows, query, newest, errors)

    def _delete_jobs(self, job_ids: list[str]) -> list[str]:
        store = cast("SQLiteStore", self)
        marks = ",".join("?" * len(job_ids))
        with store._tx() as conn:
            gone = [r[0] for r in conn.execute(
                f"SELECT id FROM jobs WHERE end_time IS NOT NULL AND id IN ({marks})", job_ids)]  # noqa: S608 - marks
            pairs = [(g,) for g in gone]
            conn.executemany("DELETE FROM messages WHERE job_id = ?", pairs)
            conn.executemany("DELETE FROM saved WHERE job_id = ?", pairs)
            conn.executemany("DELETE FROM jobs WHERE id = ?", pairs)
            for job_id in gone:
                store._event(conn, EventType.REMOVED, job_id, {})
        if gone:
            store._events_written()
        return gone
