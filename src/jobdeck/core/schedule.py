"""When a schedule's jobs are due: cron expressions in a named time zone, fixed intervals, and catching up after
downtime. Pure functions of a definition and a time (POSIX seconds): no clock is read here, so that every rule is
tested with the times it talks about.

Cron expressions are parsed by croniter (the library procrastinate's periodic tasks use: kept up to date, strict
about ranges) and evaluated on the *wall clock* of the schedule's zone: croniter walks local times without a zone,
and each local time is then placed on the real time line by :mod:`zoneinfo`. That settles both DST nights the way
cron does, with no special case:

- a local time the clocks skip (02:30 on the night they go forward) is read with the offset before the change
  (PEP 495, ``fold=0``), i.e. one hour later on the new clock: it runs once, at 03:30;
- a local time the clocks show twice (02:30 on the night they go back) is one local time, walked once, and placed at
  its first occurrence (``fold=0``): it runs once.

``every`` schedules are a fixed number of seconds apart, counted from their ``anchor`` (0 unless given: the Unix
epoch, so that ``every=15 min`` fires at :00, :15, :30 and :45 in every process alike): real seconds, so that DST
does not touch them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterError, croniter

from .errors import InvalidArgumentError

__all__ = [
    "DEFAULT_MISFIRE_GRACE",
    "MAX_SCHEDULE_ID_CHARS",
    "MAX_SECONDS",
    "OVERLAPS",
    "CatchUp",
    "Overlap",
    "ScheduleSpec",
    "catch_up",
    "check_cron",
    "check_timezone",
    "next_after",
    "next_runs",
]

Overlap = Literal["skip", "queue"]
OVERLAPS: tuple[Overlap, ...] = ("skip", "queue")
#: Occurrences missed by at most this much (seconds) still start, once; older ones are recorded as missed.
DEFAULT_MISFIRE_GRACE = 3600.0
#: The longest ``every`` and ``misfire_grace`` (ten years): an occurrence beyond the calendar's years cannot be shown.
MAX_SECONDS = 10 * 366 * 86400.0
MAX_SCHEDULE_ID_CHARS = 200
# No zone's offset moves by more than this between two local times (Troll station: 2 h); searching this much
# around a time finds every local time that can land after it.
_SHIFT = timedelta(hours=3)
# How many occurrences catch_up counts one by one (about a millisecond each) before it estimates the rest (a cron
# firing every minute, down for a year).
_COUNT_LIMIT = 2_000


@dataclass(frozen=True, slots=True)
class ScheduleSpec:
    """What a schedule starts and when: ``cron`` (five fields, or ``@daily``-style) in ``timezone``, or ``every``
    seconds counted from ``anchor``. Build one with :meth:`build`, which checks every field."""

    id: str
    job_type: str
    cron: str | None = None
    every: float | None = None
    timezone: str = "UTC"
    params: Any = field(default_factory=dict)
    overlap: Overlap = "skip"
    misfire_grace: float = DEFAULT_MISFIRE_GRACE
    anchor: float = 0.0

    @classmethod
    def build(cls, id: str, job_type: str, *, cron: str | None = None, every: float | timedelta | None = None,
              timezone: str = "UTC", params: Any = None, overlap: str = "skip",
              misfire_grace: float | timedelta = DEFAULT_MISFIRE_GRACE, anchor: float = 0.0) -> ScheduleSpec:
        """A checked definition; InvalidArgumentError naming the field that does not fit."""
        if not isinstance(id, str) or not id.strip() or len(id) > MAX_SCHEDULE_ID_CHARS or "\x00" in id \
                or "/" in id or id != id.strip():
            raise InvalidArgumentError(
                f"a schedule id must be a non-empty string of at most {MAX_SCHEDULE_ID_CHARS} characters without "
                f"'/', NUL or surrounding spaces, got {id!r}", "id")
        if not isinstance(job_type, str) or not job_type.strip():
            raise InvalidArgumentError(f"job_type must be a non-empty string, got {job_type!r}", "job_type")
        if (cron is None) == (every is None):
            raise InvalidArgumentError(f"schedule {id!r}: give exactly one of cron and every", "cron")
        seconds = None
        if every is not None:
            seconds = _seconds(every, "every")
            if not 1 <= seconds <= MAX_SECONDS:
                raise InvalidArgumentError(f"schedule {id!r}: every must be at least 1 second and at most ten "
                                           f"years ({MAX_SECONDS:g} s), got {every!r}", "every")
        if cron is not None:
            cron = check_cron(cron)
        check_timezone(timezone)
        if overlap not in OVERLAPS:
            raise InvalidArgumentError(f"schedule {id!r}: overlap must be 'skip' or 'queue', got {overlap!r}",
                                       "overlap")
        grace = _seconds(misfire_grace, "misfire_grace")
        if not 0 <= grace <= MAX_SECONDS:
            raise InvalidArgumentError(f"schedule {id!r}: misfire_grace must be >= 0 seconds and at most ten years, "
                                       f"got {misfire_grace!r}", "misfire_grace")
        if isinstance(anchor, bool) or not isinstance(anchor, int | float) or not abs(anchor) < 1e11:
            raise InvalidArgumentError(f"anchor must be POSIX seconds, got {anchor!r}", "anchor")
        return cls(id, job_type, cron, seconds, timezone, {} if params is None else params,
                   overlap, grace, float(anchor))


def _seconds(value: object, name: str) -> float:
    if isinstance(value, timedelta):
        value = value.total_seconds()
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidArgumentError(f"{name} must be a number of seconds or a timedelta, got {value!r}", name)
    return float(value)


def check_cron(expression: object) -> str:
    """``expression`` if it is a cron expression of five fields (minute hour day month weekday) or an alias
    (``@hourly``, ``@daily``, ``@weekly``, ``@monthly``, ``@yearly``); InvalidArgumentError saying what is wrong."""
    if not isinstance(expression, str) or not expression.strip():
        raise InvalidArgumentError(f"cron must be a non-empty string, got {expression!r}", "cron")
    text = " ".join(expression.split())
    if not text.startswith("@") and len(text.split()) != 5:
        raise InvalidArgumentError(
            f"invalid cron expression {text!r}: it has {len(text.split())} fields, jobdeck takes five "
            "(minute hour day-of-month month day-of-week), e.g. '0 3 * * *'", "cron")
    try:
        croniter(text, datetime(2000, 1, 1)).get_next(datetime)  # also refuses a date that never comes (Feb 31)
    except (CroniterError, ValueError, KeyError) as exc:
        raise InvalidArgumentError(f"invalid cron expression {text!r}: {exc}", "cron") from None
    return text


def check_timezone(name: object) -> ZoneInfo:
    """The zone named ``name`` (IANA, e.g. ``Europe/Helsinki``); InvalidArgumentError for one that is unknown."""
    if not isinstance(name, str) or not name or "\x00" in name or len(name) > 100:
        raise InvalidArgumentError(f"timezone must be an IANA zone name such as 'Europe/Helsinki', got {name!r}",
                                   "timezone")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise InvalidArgumentError(f"unknown time zone {name!r}: give an IANA zone name such as 'Europe/Helsinki' "
                                   "or 'UTC'", "timezone") from None


def _placed(local: datetime, zone: ZoneInfo) -> float:
    """A wall-clock time of ``zone`` on the real time line (``fold=0``: see the module docstring)."""
    return local.replace(tzinfo=zone, fold=0).timestamp()


def next_after(spec: ScheduleSpec, t: float) -> float:
    """The schedule's first occurrence strictly after ``t`` (POSIX seconds)."""
    if spec.every is not None:
        steps = math.floor((t - spec.anchor) / spec.every) + 1
        due = spec.anchor + steps * spec.every
        return due if due > t else due + spec.every  # float rounding at an exact multiple
    assert spec.cron is not None  # build() gives one of the two
    zone = check_timezone(spec.timezone)
    now = datetime.fromtimestamp(t, UTC).astimezone(zone)
    local = now.replace(tzinfo=None)
    # A local time the clocks skipped lands after the change (see above): when the clocks moved forward within
    # _SHIFT before t, such a time before ``local`` may still be ahead of t, so the walk starts earlier.
    moved = (now - _SHIFT).utcoffset() != now.utcoffset()
    walk = croniter(spec.cron, local - _SHIFT if moved else local)
    best: float | None = None
    while True:
        candidate: datetime = walk.get_next(datetime)
        placed = _placed(candidate, zone)
        exists = datetime.fromtimestamp(placed, zone).replace(tzinfo=None) == candidate
        if best is not None and exists and placed >= best:
            # Local times that exist are placed in order, and a skipped one after this lands after it too.
            return best
        if placed > t and (best is None or placed < best):
            best = placed
            if exists and not moved:
                return best


def next_runs(spec: ScheduleSpec, t: float, n: int = 5) -> list[float]:
    """The next ``n`` occurrences after ``t``, earliest first."""
    runs: list[float] = []
    at = t
    for _ in range(n):
        at = next_after(spec, at)
        runs.append(at)
    return runs


@dataclass(frozen=True, slots=True)
class CatchUp:
    """What is owed at ``now`` for a schedule whose next occurrence was ``next_fire``: ``start`` the occurrence to
    start (the latest one within ``misfire_grace`` of now; None: nothing to start), ``missed`` how many occurrences
    are older than the grace (recorded, never started), ``next_fire`` the first occurrence after now,
    ``coalesced`` how many others within the grace the one start covers (so that every occurrence is accounted
    for: started, coalesced or missed)."""

    start: float | None
    missed: int
    next_fire: float
    coalesced: int = 0


def catch_up(spec: ScheduleSpec, next_fire: float, now: float) -> CatchUp:
    """Occurrences from ``next_fire`` up to ``now``: however many fall within the grace start once (the latest of
    them), the older ones count as missed. Nothing is due yet when ``next_fire > now``."""
    if next_fire > now:
        return CatchUp(None, 0, next_fire)
    horizon = now - spec.misfire_grace  # occurrences before this are too old to start
    latest = next_fire
    missed = within = 0
    if spec.every is not None:
        behind = math.floor((now - next_fire) / spec.every)
        latest = next_fire + behind * spec.every
        # All are too old, or those next_fire + k * every before the horizon are.
        missed = behind + 1 if latest < horizon else max(0, math.ceil((horizon - next_fire) / spec.every))
        within = behind + 1 - missed
    else:
        at, counted = next_fire, 0
        while True:
            if at < horizon:
                missed += 1
            else:
                within += 1
            latest = at
            following = next_after(spec, at)
            if following > now:
                break
            counted += 1
            if counted >= _COUNT_LIMIT and following < horizon:
                # Down for ages on a fine-grained cron: the rest before the horizon are estimated at the pace of
                # those counted, and the walk goes on from the horizon.
                pace = (following - next_fire) / counted
                resume = next_after(spec, horizon - 1e-6)
                missed += max(0, round((resume - following) / pace))
                following = resume
                counted = 0
                if following > now:
                    break
            at = following
    start = latest if latest >= horizon else None
    return CatchUp(start, missed, next_after(spec, now), max(0, within - 1))
