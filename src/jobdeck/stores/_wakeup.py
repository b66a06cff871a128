"""How ``wait_events`` callers of one process learn that events were written: a generation number under a
condition, bumped by the store object after each of its own writes (and by a listener that hears of other
processes' writes). A waiter notes the generation, reads, and waits only if the generation did not move meanwhile,
so a write between its read and its wait is never missed. After ``fork()`` a child gets a fresh condition: the
parent's lock may have been held at that instant.
"""

from __future__ import annotations

import threading

from ._flusher import renew_after_fork

__all__ = ["Wakeup"]


class Wakeup:
    """``generation`` to note before a read; ``wait(generation, timeout)`` after it; ``notify()`` after a write."""

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._generation = 0
        renew_after_fork(self)

    @property
    def generation(self) -> int:
        with self._cond:
            return self._generation

    def notify(self) -> None:
        with self._cond:
            self._generation += 1
            self._cond.notify_all()

    def wait(self, generation: int, timeout: float) -> None:
        """Wait up to ``timeout`` seconds unless the generation moved on since ``generation`` was read."""
        with self._cond:
            if self._generation == generation:
                self._cond.wait(timeout)

    def _forked(self) -> None:
        self._cond = threading.Condition(threading.Lock())
