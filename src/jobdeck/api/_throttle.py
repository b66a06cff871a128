"""Backoff for wrong credentials, per client address.

A generated token cannot be guessed, but a chosen one might be weak; without a brake a client could try about a
thousand a second. The first ``free`` wrong tokens from an address cost nothing (typos, a stale cookie); each
further one locks the address out for a delay that doubles up to ``cap`` seconds, during which its requests are
answered 429 with ``Retry-After`` without even being compared. A right token clears the address's record.
Bounded: at most ``size`` addresses are remembered (the oldest records go first).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

__all__ = ["Backoff"]


class Backoff:
    """``wait(client)`` -> seconds the client must still wait; ``failed(client)`` / ``succeeded(client)``."""

    def __init__(self, *, free: int = 5, base: float = 0.25, cap: float = 30.0, size: int = 10_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.free = free
        self.base = base
        self.cap = cap
        self.size = size
        self._clock = clock
        self._records: OrderedDict[str, tuple[int, float]] = OrderedDict()  # client -> (failures, blocked until)

    def wait(self, client: str) -> float:
        record = self._records.get(client)
        if record is None:
            return 0.0
        return max(0.0, record[1] - self._clock())

    def failed(self, client: str) -> None:
        failures = self._records.pop(client, (0, 0.0))[0] + 1
        delay = 0.0 if failures <= self.free else min(self.cap, self.base * 2 ** (failures - self.free - 1))
        self._records[client] = (failures, self._clock() + delay)
        while len(self._records) > self.size:
            self._records.popitem(last=False)

    def succeeded(self, client: str) -> None:
        self._records.pop(client, None)
