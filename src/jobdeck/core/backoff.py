"""Exponential backoff: the one home of the arithmetic every retry loop in jobdeck uses.

Each loop that retries against something away (the store, a webhook receiver, the server a remote job reports to,
the PostgreSQL listener, the event reader) keeps a :class:`Backoff` and asks it how long to pause::

    backoff = Backoff(first=0.05, maximum=2.0)
    while not stop.is_set():
        try:
            write()
        except StoreError:
            if backoff.failures == 0:
                logger.warning("...")        # one line when an outage starts, not one per attempt
            stop.wait(backoff.next())
        else:
            backoff.reset()

:func:`delay` is the same arithmetic without state, for a retry whose attempt number is stored elsewhere.

Why not a library: tenacity and stamina wrap a call in a retry decorator. jobdeck's loops wait on their own stop
events (so that a shutdown does not sit out a pause), keep failing across many calls (a background writer), and log
once per outage; what they share is only the schedule of pauses, which is this module.
"""

from __future__ import annotations

import random
from collections.abc import Callable

__all__ = ["Backoff", "delay"]


def delay(attempt: int, first: float, maximum: float, *, factor: float = 2.0, jitter: bool = False,
          rng: Callable[[], float] = random.random) -> float:
    """The pause after failed attempt number ``attempt`` (1 for the first): ``first * factor**(attempt-1)``,
    capped at ``maximum``. With ``jitter`` the pause is drawn uniformly from ``[0, that]`` ("full jitter"), so that
    many clients failing together do not retry together."""
    if attempt < 1:
        raise ValueError(f"attempt counts from 1, got {attempt}")
    # Cap the exponent before raising: a long outage must not overflow a float.
    exponent = min(attempt - 1, 1024)
    try:
        pause = min(maximum, first * factor ** exponent)
    except OverflowError:
        pause = maximum
    return pause * rng() if jitter else pause


class Backoff:
    """The pauses of one retry loop: ``first``, then ``factor`` times longer after each further failure, at most
    ``maximum``; :meth:`reset` after a success starts again from ``first``. Not thread-safe: one per loop."""

    __slots__ = ("factor", "failures", "first", "jitter", "maximum", "rng")

    def __init__(self, first: float, maximum: float, *, factor: float = 2.0, jitter: bool = False,
                 rng: Callable[[], float] = random.random) -> None:
        if first <= 0 or maximum < first or factor < 1:
            raise ValueError(f"backoff needs 0 < first <= maximum and factor >= 1, got {first}, {maximum}, {factor}")
        self.first, self.maximum, self.factor, self.jitter, self.rng = first, maximum, factor, jitter, rng
        self.failures = 0  # failures since the last success

    def next(self) -> float:
        """Count one more failure and return the pause before the next attempt."""
        self.failures += 1
        return delay(self.failures, self.first, self.maximum, factor=self.factor, jitter=self.jitter, rng=self.rng)

    def reset(self) -> None:
        """A success: the next failure pauses ``first`` again."""
        self.failures = 0

    @property
    def failing(self) -> bool:
        """Whether the last attempt failed (an outage is under way)."""
        return self.failures > 0
