"""The PostgreSQL store's steps for the operator's many-job views (issue 22): failure groups
(:mod:`._sql_failures`) and deleting past jobs by id, as a mixin so that the store's module stays the size of its
other steps."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

import psycopg

from ..core.events import EventType
from . import _sql_failures
from ._failures import FailureGroup, FailureQuery
from ._pg_rows import log_events

if TYPE_CHECKING:
    from .postgres import PostgresStore

__all__ = ["PgBulkSteps"]

# Each job's last error message (for a group's example), in one statement.
_ERRORS = ("SELECT DISTINCT ON (job_id) job_id, text FROM {messages} WHERE job_id = ANY(%s) AND kind = 'error' "
           "ORDER BY job_id, seq DESC")
_DELETE = "DELETE FROM {jobs} WHERE end_time IS NOT NULL AND id = ANY(%s) RETURNING id"


class PgBulkSteps:
    """``_failure_groups`` in one read-only transaction (the groups and their ids in one snapshot), and
    ``_delete_jobs`` in one write transaction."""

    def _failure_groups(self, query: FailureQuery) -> list[FailureGroup]:
        store = cast("PostgresStore", self)
        rows, ids = (store._q.names.render(_sql_failures.postgres(t))
                     for t in (_sql_failures.ROWS, _sql_failures.IDS_LATERAL))
        last = store._q.names.render(_ERRORS)

        def body(conn: psycopg.Connection[Any]) -> list[FailureGroup]:
            def errors(job_ids: list[str]) -> dict[str, str]:
                return {r[0]: r[1] for r in conn.execute(last, (job_ids,))}

            newest = _sql_failures.lateral(conn.execute, ids)
            return _sql_failures.failure_groups(conn.execute, rows, query, newest, errors)

        found: list[FailureGroup] = store._run(body, read_only=True)
        return found

    def _delete_jobs(self, job_ids: list[str]) -> list[str]:
        store = cast("PostgresStore", self)
        statement = store._q.names.render(_DELETE)

        def body(conn: psycopg.Connection[Any]) -> list[str]:
            gone = [r[0] for r in conn.execute(statement, (job_ids,))]
            if gone:
                conn.execute(store._q.delete_messages, (gone,))
            log_events(conn, store._q, [(g, EventType.REMOVED.value, "{}") for g in gone])
            return gone

        gone: list[str] = store._run(body)
        if gone:
            store._events_written()
            store._fold_counts()
        return gone
