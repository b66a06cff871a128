"""How a job type retries a failed run: :class:`Retry`, given to ``JobRunner.register(..., retry=...)``.

    @runner.job("Condense", retry=Retry(attempts=5, backoff=30, max_backoff=900))
    def condense(ctl, question_ids=()):
        ...

``attempts`` counts every run, the first included (1: no retry, the default of a type registered without one).
The pause before run *n+1* is ``backoff * 2**(n-1)`` seconds, capped at ``max_backoff``; with ``jitter`` it is
drawn uniformly from zero to that ("full jitter", so that jobs failing together do not retry together). Only
exceptions matching ``on`` are retried; an abort, a timeout, stale reaping and shutdown never are. A handler that
knows when to come back raises :class:`~jobdeck.RetryLater` instead.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .backoff import delay
from .errors import AbortError, InvalidArgumentError

__all__ = ["Retry"]


def _seconds(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        raise InvalidArgumentError(f"Retry {name} must be seconds >= 0, got {value!r}", name)
    return float(value)


@dataclass(frozen=True)
class Retry:
    """A job type's retry policy (see the module). Checked when made: InvalidArgumentError names the field."""

    attempts: int = 1
    backoff: float = 30.0
    max_backoff: float = 900.0
    jitter: bool = True
    on: tuple[type[BaseException], ...] = (Exception,)

    def __post_init__(self) -> None:
        if isinstance(self.attempts, bool) or not isinstance(self.attempts, int) or self.attempts < 1:
            raise InvalidArgumentError(f"Retry attempts counts every run, the first included: a whole number >= 1, "
                                       f"got {self.attempts!r}", "attempts")
        backoff, maximum = _seconds("backoff", self.backoff), _seconds("max_backoff", self.max_backoff)
        if maximum < backoff:
            raise InvalidArgumentError(f"Retry max_backoff ({maximum:g}) must be at least backoff ({backoff:g})",
                                       "max_backoff")
        on = self.on
        classes = (on,) if isinstance(on, type) else tuple(on) if isinstance(on, tuple | list) else None
        if not classes or not all(isinstance(c, type) and issubclass(c, BaseException) for c in classes):
            raise InvalidArgumentError(f"Retry on must be an exception class or a tuple of them, got {on!r}", "on")
        object.__setattr__(self, "backoff", backoff)
        object.__setattr__(self, "max_backoff", maximum)
        object.__setattr__(self, "jitter", bool(self.jitter))
        object.__setattr__(self, "on", classes)

    def delay(self, attempt: int, rng: Callable[[], float] = random.random) -> float:
        """Seconds to wait after failed run number ``attempt`` (1 for the first) before the next one."""
        if self.backoff == 0:
            return 0.0
        return delay(attempt, self.backoff, self.max_backoff, jitter=self.jitter, rng=rng)

    def retries(self, error: BaseException) -> bool:
        """Whether ``error`` is one this policy retries (an abort never is)."""
        return isinstance(error, self.on) and not isinstance(error, AbortError)
