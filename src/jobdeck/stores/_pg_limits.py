"""The PostgreSQL store's shared limits (issue 24): tables ``{prefix}limit_slots`` (one row per holder or waiter,
with its lease's expiry) and ``{prefix}limit_rates`` (each rate limit's next start time). An acquire takes a
transaction-scoped advisory lock on the limit's name, so that counting the holders and adding one cannot
interleave across connections; a rate's reservation is one upsert.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import psycopg

from ..core.limits import LimitUse
from ._limits import WAIT_LEASE
from ._pg_schema import Names

__all__ = ["PgLimits"]

_TEMPLATES = {
    "lock": "SELECT pg_advisory_xact_lock(%s)",
    "expire": "DELETE FROM {limit_slots} WHERE name = %s AND expires < %s",
    "held": "SELECT count(*) FROM {limit_slots} WHERE name = %s AND NOT waiting AND holder <> %s",
    "put": "INSERT INTO {limit_slots} (name, holder, waiting, capacity, job_id, expires) "
           "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (name, holder) DO UPDATE SET waiting = EXCLUDED.waiting, "
           "capacity = EXCLUDED.capacity, job_id = EXCLUDED.job_id, expires = EXCLUDED.expires",
    "renew": "UPDATE {limit_slots} SET expires = %s WHERE name = %s AND holder = %s AND NOT waiting RETURNING 1",
    "release": "DELETE FROM {limit_slots} WHERE name = %s AND holder = %s",
    "reserve": "INSERT INTO {limit_rates} AS r (name, tat, interval) VALUES (%(name)s, %(now)s + %(i)s, %(i)s) "
               "ON CONFLICT (name) DO UPDATE SET tat = GREATEST(r.tat, %(now)s) + %(i)s, interval = %(i)s "
               "RETURNING r.tat - %(i)s",
    "slots": "SELECT name, max(capacity), count(*) FILTER (WHERE NOT waiting), count(*) FILTER (WHERE waiting) "
             "FROM {limit_slots} WHERE expires >= %s GROUP BY name",
    "rates": "SELECT name, interval FROM {limit_rates}",
}


class PgLimits:
    """:class:`~jobdeck.stores._limits.LimitSteps` on a store's pooled transactions (``run``)."""

    def __init__(self, run: Callable[..., Any], names: Names) -> None:
        self._run = run
        self._names = names
        self._q = {key: names.render(template) for key, template in _TEMPLATES.items()}

    def _lock_key(self, name: str) -> int:
        digest = hashlib.sha256(f"jobdeck-limit:{self._names.schema}.{self._names.prefix}:{name}".encode()).digest()
        return int.from_bytes(digest[:8], "big", signed=True)

    def acquire(self, name: str, holder: str, capacity: int, *, job_id: str, now: float, expires: float
                ) -> tuple[bool, int]:
        q = self._q

        def body(conn: psycopg.Connection[Any]) -> tuple[bool, int]:
            conn.execute(q["lock"], (self._lock_key(name),))
            conn.execute(q["expire"], (name, now))
            row = conn.execute(q["held"], (name, holder)).fetchone()
            held = int(row[0]) if row else 0
            taken = held < capacity
            conn.execute(q["put"], (name, holder, not taken, capacity, job_id,
                                    expires if taken else now + WAIT_LEASE))
            return taken, held + (1 if taken else 0)

        result: tuple[bool, int] = self._run(body)
        return result

    def renew(self, name: str, holder: str, expires: float) -> bool:
        return bool(self._run(lambda conn: conn.execute(self._q["renew"], (expires, name, holder)).fetchall()))

    def release(self, name: str, holder: str) -> None:
        self._run(lambda conn: conn.execute(self._q["release"], (name, holder)))

    def reserve(self, name: str, interval: float, now: float) -> float:
        row = self._run(lambda conn: conn.execute(self._q["reserve"], {"name": name, "now": now, "i": interval})
                        .fetchone())
        return float(row[0])

    def uses(self, now: float) -> list[LimitUse]:
        def body(conn: psycopg.Connection[Any]) -> tuple[list[Any], list[Any]]:
            return (conn.execute(self._q["slots"], (now,)).fetchall(), conn.execute(self._q["rates"]).fetchall())

        slot_rows, rate_rows = self._run(body, read_only=True)
        slots = {r[0]: (int(r[1]), int(r[2]), int(r[3])) for r in slot_rows}
        rates = {r[0]: float(r[1]) for r in rate_rows}
        return [LimitUse(n, slots[n][0] if n in slots else None, slots[n][1] if n in slots else 0,
                         slots[n][2] if n in slots else 0, rates.get(n)) for n in sorted(set(slots) | set(rates))]
