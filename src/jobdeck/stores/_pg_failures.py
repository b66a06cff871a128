"""The PostgreSQL store's failure groups (:mod:`._sql_failures`), as a mixin so that the store's module stays
the size of its other steps."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from . import _sql_failures
from ._failures import FailureGroup, FailureQuery

if TYPE_CHECKING:
    from .postgres import PostgresStore

__all__ = ["PgFailures"]


class PgFailures:
    """``_failure_groups`` in one read-only transaction: the groups and their ids in one snapshot."""

    def _failure_groups(self, query: FailureQuery) -> list[FailureGroup]:
        store = cast("PostgresStore", self)
        rows, ids = (store._q.names.render(_sql_failures.postgres(t)) for t in (_sql_failures.ROWS, _sql_failures.IDS))
        found: list[FailureGroup] = store._run(
            lambda conn: _sql_failures.failure_groups(conn.execute, rows, ids, query), read_only=True)
        return found
