"""Shared provider limits as plain data and arithmetic (issue 24): the name of a limit, what ``GET /limits`` shows of
one, and the pacing of a rate limit.

``with ctl.limit("openai", concurrency=8):`` holds one of eight slots shared by every job in every process on the
store; a slot is a lease the holder renews, so that a holder that dies frees it within the store's
``stale_after``. ``ctl.limit("openai", rate=500, per=60)`` paces calls: each call reserves the next start time of
the limit (its "theoretical arrival time", the virtual scheduling of the generic cell rate algorithm), so that
starts are ``per / rate`` seconds apart across every process, and waits until then.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from .errors import InvalidArgumentError

__all__ = ["LimitUse", "check_capacity", "check_limit_name", "check_rate", "rate_start"]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}$")


def check_limit_name(name: object) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise InvalidArgumentError(f"a limit's name is 1 to 100 letters, digits and _ . : - (starting with a letter "
                                   f"or digit), got {name!r}", "name")
    return name


def check_capacity(concurrency: object) -> int:
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or not 1 <= concurrency <= 100_000:
        raise InvalidArgumentError(f"concurrency must be a whole number from 1 to 100000, got {concurrency!r}",
                                   "concurrency")
    return concurrency


def check_rate(rate: object, per: object) -> float:
    """The interval between two starts, ``per / rate`` seconds."""
    for name, value in (("rate", rate), ("per", per)):
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < math.inf:
            raise InvalidArgumentError(f"{name} must be a positive number, got {value!r}", name)
    return float(per) / float(rate)  # type: ignore[arg-type]


def rate_start(tat: float | None, now: float, interval: float) -> tuple[float, float]:
    """When the next call of a rate limit may start, and the limit's next ``tat``: at ``now`` if the limit is idle
    (its ``tat`` passed), else at its ``tat``; either way the next one ``interval`` later."""
    start = now if tat is None or tat < now else tat
    return start, start + interval


@dataclass(frozen=True, slots=True)
class LimitUse:
    """One limit as ``GET /limits`` shows it: its ``capacity`` (the concurrency its holders asked for; None for a
    rate limit alone), the slots ``in_use``, the holders ``waiting``, and the ``interval`` between the starts of
    its rate (None without one)."""

    name: str
    capacity: int | None = None
    in_use: int = 0
    waiting: int = 0
    interval: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "concurrency": self.capacity, "inUse": self.in_use, "waiting": self.waiting,
                "ratePerMinute": round(60.0 / self.interval, 6) if self.interval else None}
