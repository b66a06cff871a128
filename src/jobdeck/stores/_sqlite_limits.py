"""The SQLite store's shared limits (issue 24): tables ``limit_slots`` (one row per holder or waiter, with its
lease's expiry) and ``limit_rates`` (each rate limit's next start time). Each step is one ``BEGIN IMMEDIATE``
transaction, which every process on the file takes in turn: counting the holders and adding one cannot interleave.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from contextlib import AbstractContextManager

from ..core.limits import LimitUse, rate_start
from ._limits import WAIT_LEASE

__all__ = ["SqliteLimits"]

Transaction = Callable[..., AbstractContextManager[sqlite3.Connection]]


class SqliteLimits:
    """:class:`~jobdeck.stores._limits.LimitSteps` on a store's transactions (``tx(write=True)``)."""

    def __init__(self, tx: Transaction) -> None:
        self._tx = tx

    def acquire(self, name: str, holder: str, capacity: int, *, job_id: str, now: float, expires: float
                ) -> tuple[bool, int]:
        with self._tx() as conn:
            conn.execute("DELETE FROM limit_slots WHERE name = ? AND expires < ?", (name, now))
            (held,) = conn.execute("SELECT COUNT(*) FROM limit_slots WHERE name = ? AND waiting = 0 AND holder != ?",
                                   (name, holder)).fetchone()
            taken = held < capacity
            conn.execute("INSERT OR REPLACE INTO limit_slots (name, holder, waiting, capacity, job_id, expires) "
                         "VALUES (?, ?, ?, ?, ?, ?)",
                         (name, holder, 0 if taken else 1, capacity, job_id, expires if taken else now + WAIT_LEASE))
            return taken, int(held) + (1 if taken else 0)

    def renew(self, name: str, holder: str, expires: float) -> bool:
        with self._tx() as conn:
            return conn.execute("UPDATE limit_slots SET expires = ? WHERE name = ? AND holder = ? AND waiting = 0",
                                (expires, name, holder)).rowcount == 1

    def release(self, name: str, holder: str) -> None:
        with self._tx() as conn:
            conn.execute("DELETE FROM limit_slots WHERE name = ? AND holder = ?", (name, holder))

    def reserve(self, name: str, interval: float, now: float) -> float:
        with self._tx() as conn:
            row = conn.execute("SELECT tat FROM limit_rates WHERE name = ?", (name,)).fetchone()
            start, tat = rate_start(row[0] if row else None, now, interval)
            conn.execute("INSERT OR REPLACE INTO limit_rates (name, tat, interval) VALUES (?, ?, ?)",
                         (name, tat, interval))
            return start

    def uses(self, now: float) -> list[LimitUse]:
        with self._tx(write=False) as conn:
            slots = {name: (cap, held, waiting) for name, cap, held, waiting in conn.execute(
                "SELECT name, MAX(capacity), SUM(waiting = 0), SUM(waiting = 1) FROM limit_slots "
                "WHERE expires >= ? GROUP BY name", (now,))}
            rates = dict(conn.execute("SELECT name, interval FROM limit_rates").fetchall())
        return [LimitUse(n, slots[n][0] if n in slots else None, int(slots[n][1]) if n in slots else 0,
                         int(slots[n][2]) if n in slots else 0, rates.get(n))
                for n in sorted(set(slots) | set(rates))]
