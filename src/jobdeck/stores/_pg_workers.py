"""The PostgreSQL store's worker registry (issue 22): table ``{prefix}workers (id, last_seen, data)``, one row per
process that runs jobs."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import psycopg

from ._pg_schema import Names

__all__ = ["PgWorkers"]


@functools.lru_cache(maxsize=64)
def _statements(names: Names) -> tuple[bytes, bytes, bytes, bytes]:
    """The registry's statements for one schema and prefix, rendered once (a store makes a PgWorkers per call)."""
    return (names.render("INSERT INTO {workers} (id, last_seen, data) VALUES (%s, %s, %s) "
                         "ON CONFLICT (id) DO UPDATE SET last_seen = EXCLUDED.last_seen, data = EXCLUDED.data"),
            names.render("DELETE FROM {workers} WHERE last_seen < %s"),
            names.render("DELETE FROM {workers} WHERE id = %s"),
            names.render("SELECT data FROM {workers} WHERE last_seen >= %s"))


class PgWorkers:
    """:class:`~jobdeck.stores._workers.WorkerSteps` on a store's pooled transactions (``run``) and one-statement
    reads (``one``)."""

    def __init__(self, run: Callable[..., Any], one: Callable[[bytes, Any], list[tuple[Any, ...]]],
                 names: Names) -> None:
        self._run, self._one = run, one
        self._put, self._prune, self._drop, self._read = _statements(names)

    def put(self, worker_id: str, last_seen: float, text: str, drop_before: float) -> None:
        def body(conn: psycopg.Connection[Any]) -> None:
            conn.execute(self._put, (worker_id, last_seen, text))
            conn.execute(self._prune, (drop_before,))

        self._run(body)

    def drop(self, worker_id: str) -> None:
        self._run(lambda conn: conn.execute(self._drop, (worker_id,)))

    def read(self, since: float) -> list[str]:
        return [r[0] for r in self._one(self._read, (since,))]
