"""What a backend implements for shared limits (issue 24), and the memory store's in-process version.

Each step is atomic in the backend's own way (a transaction, a Lua script, a lock). A slot is a lease: a row (or
sorted-set member) with an expiry that its holder renews; an expired one no longer counts and is removed by the
next acquire. A holder refused a slot is recorded as waiting, with a short expiry it renews while it waits, so
that ``GET /limits`` shows who waits.
"""

from __future__ import annotations

import threading
from typing import Protocol

from ..core.limits import LimitUse, rate_start

__all__ = ["WAIT_LEASE", "LimitSteps", "MemoryLimits"]

#: How long a waiter counts as waiting without renewing (it renews at every poll).
WAIT_LEASE = 5.0


class LimitSteps(Protocol):
    def acquire(self, name: str, holder: str, capacity: int, *, job_id: str, now: float, expires: float
                ) -> tuple[bool, int]:
        """Take a slot of ``name`` for ``holder`` until ``expires`` if fewer than ``capacity`` unexpired leases are
        held by others (True), else record ``holder`` as waiting (False); and the slots then in use."""

    def renew(self, name: str, holder: str, expires: float) -> bool:
        """Move ``holder``'s lease to ``expires``; False if it has none (it expired and was taken)."""

    def release(self, name: str, holder: str) -> None:
        """Give the slot back (and stop waiting)."""

    def reserve(self, name: str, interval: float, now: float) -> float:
        """The start time of the next call of the rate limit ``name`` (see :func:`~jobdeck.core.limits.rate_start`)."""

    def uses(self, now: float) -> list[LimitUse]:
        """Every limit with a holder, a waiter or a rate, by name."""


class MemoryLimits:
    """Limits shared by the threads of one process (the memory store)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._slots: dict[str, dict[str, tuple[float, bool, int]]] = {}  # name -> holder -> (expires, waiting, cap)
        self._rates: dict[str, tuple[float, float]] = {}  # name -> (tat, interval)

    def _live(self, name: str, now: float) -> dict[str, tuple[float, bool, int]]:
        slots = self._slots.setdefault(name, {})
        for holder in [h for h, (exp, _, _) in slots.items() if exp < now]:
            del slots[holder]
        return slots

    def acquire(self, name: str, holder: str, capacity: int, *, job_id: str, now: float, expires: float
                ) -> tuple[bool, int]:
        with self._lock:
            slots = self._live(name, now)
            held = sum(1 for h, (_, waiting, _) in slots.items() if not waiting and h != holder)
            if held < capacity:
                slots[holder] = (expires, False, capacity)
                return True, held + 1
            slots[holder] = (now + WAIT_LEASE, True, capacity)
            return False, held

    def renew(self, name: str, holder: str, expires: float) -> bool:
        with self._lock:
            slot = self._slots.get(name, {}).get(holder)
            if slot is None or slot[1]:
                return False
            self._slots[name][holder] = (expires, False, slot[2])
            return True

    def release(self, name: str, holder: str) -> None:
        with self._lock:
            slots = self._slots.get(name)
            if slots is not None:
                slots.pop(holder, None)
                if not slots:
                    del self._slots[name]

    def reserve(self, name: str, interval: float, now: float) -> float:
        with self._lock:
            start, tat = rate_start(self._rates.get(name, (None, 0.0))[0], now, interval)
            self._rates[name] = (tat, interval)
            return start

    def uses(self, now: float) -> list[LimitUse]:
        with self._lock:
            names = sorted(set(self._slots) | set(self._rates))
            out = []
            for name in names:
                slots = self._live(name, now) if name in self._slots else {}
                caps = [cap for _, _, cap in slots.values()]
                rate = self._rates.get(name)
                out.append(LimitUse(name, max(caps) if caps else None, sum(not w for _, w, _ in slots.values()),
                                    sum(w for _, w, _ in slots.values()), rate[1] if rate else None))
            return out
