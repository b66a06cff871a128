"""The PostgreSQL store's schedules (issue 23): table ``{prefix}schedules (id, rev, data)``, one row per schedule
(JSON text). A change is ``UPDATE ... WHERE id = %s AND rev = %s`` in a durable transaction of its own: the row lock
it takes makes it a compare-and-set across every process on the database (:mod:`._schedules`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg

from ._schedules import Stored

__all__ = ["PgSchedules", "steps"]


class PgSchedules:
    """:class:`~jobdeck.stores._schedules.ScheduleSteps` on a store's pooled transactions (``run``) and statements
    rendered for its schema and prefix (``render``)."""

    def __init__(self, run: Callable[..., Any], render: Callable[[str], bytes]) -> None:
        self._run = run
        self._select_one = render("SELECT rev, data FROM {schedules} WHERE id = %s")
        self._select_all = render("SELECT rev, data FROM {schedules}")
        self._insert = render("INSERT INTO {schedules} (id, rev, data) VALUES (%s, 1, %s) ON CONFLICT (id) DO NOTHING "
                              "RETURNING id")
        self._update = render("UPDATE {schedules} SET rev = rev + 1, data = %s WHERE id = %s AND rev = %s RETURNING id")
        self._delete = render("DELETE FROM {schedules} WHERE id = %s RETURNING id")

    def _rows(self, statement: bytes, args: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        def body(conn: psycopg.Connection[Any]) -> list[tuple[Any, ...]]:
            return conn.execute(statement, args).fetchall()

        rows: list[tuple[Any, ...]] = self._run(body, read_only=True)
        return rows

    def _count(self, statement: bytes, args: tuple[Any, ...]) -> bool:
        """Whether the write touched its row (read from RETURNING: the pool pipelines its statements, where a
        row count is not known until the results are fetched)."""
        def body(conn: psycopg.Connection[Any]) -> int:
            return len(conn.execute(statement, args).fetchall())

        return bool(self._run(body) == 1)

    def read(self, schedule_id: str) -> Stored | None:
        rows = self._rows(self._select_one, (schedule_id,))
        return (int(rows[0][0]), str(rows[0][1])) if rows else None

    def read_all(self) -> list[Stored]:
        return [(int(r), str(d)) for r, d in self._rows(self._select_all, ())]

    def insert(self, schedule_id: str, text: str) -> bool:
        return self._count(self._insert, (schedule_id, text))

    def replace(self, schedule_id: str, rev: int, text: str) -> bool:
        return self._count(self._update, (text, schedule_id, rev))

    def delete(self, schedule_id: str) -> bool:
        return self._count(self._delete, (schedule_id,))


def steps(store: Any) -> PgSchedules:
    """The schedule steps of a :class:`~jobdeck.stores.postgres.PostgresStore` (its ``_schedule_steps``)."""
    found: PgSchedules | None = store.__dict__.get("_pg_schedules")
    if found is None:
        found = store.__dict__["_pg_schedules"] = PgSchedules(store._run, store.names.render)
    return found
