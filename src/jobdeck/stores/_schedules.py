"""Schedules in a store (issue 23): the storage steps every backend offers, the memory backend's, and the
compare-and-set loop the public methods share.

A backend keeps each schedule as one record: its id, a revision number and its JSON text
(:meth:`Schedule.to_dict <jobdeck.core.schedule_state.Schedule.to_dict>`). Every change is a compare-and-set: the
new text is written only if the revision is still the one the change was computed from (SQL: ``UPDATE ... WHERE
id = ? AND rev = ?``; Redis: a Lua script; memory: under its lock), and the revision goes up by one. Of several
processes that computed a change from the same revision -- e.g. each found the same occurrence due -- exactly one
writes; the others read again and compute from what it wrote (the occurrence is then no longer due). That single
primitive is what the scheduler's exactly-once rests on (:mod:`jobdeck.runtime.scheduling`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Protocol

from ..core.errors import InvalidArgumentError, StoreError
from ..core.jsoncodec import dumps_text, loads_stored
from ..core.schedule_state import Schedule

__all__ = ["MemorySchedules", "ScheduleSteps", "Stored", "add", "decode", "delete", "read", "read_all", "update"]

logger = logging.getLogger("jobdeck.store")

Stored = tuple[int, str]  # (revision, JSON text)

# How many times a change is recomputed when other writers keep winning (each loss means another process wrote
# the same schedule in between, which is rare: a few processes, one write per occurrence).
_ATTEMPTS = 50


class ScheduleSteps(Protocol):
    """A backend's storage of schedules (``Store._schedule_steps()``), each step atomic in the backend's way."""

    def read(self, schedule_id: str) -> Stored | None:
        """The schedule's revision and text, or None."""

    def read_all(self) -> list[Stored]:
        """Every schedule's revision and text (any order)."""

    def insert(self, schedule_id: str, text: str) -> bool:
        """Add the schedule at revision 1; False (nothing written) if the id exists."""

    def replace(self, schedule_id: str, rev: int, text: str) -> bool:
        """Write ``text`` at revision ``rev + 1`` only if the schedule is still at ``rev``; True if written."""

    def delete(self, schedule_id: str) -> bool:
        """Remove the schedule; False if there was none."""


class MemorySchedules:
    """:class:`ScheduleSteps` in a dictionary under a lock: the memory store's, and the reference."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rows: dict[str, Stored] = {}

    def read(self, schedule_id: str) -> Stored | None:
        with self._lock:
            return self._rows.get(schedule_id)

    def read_all(self) -> list[Stored]:
        with self._lock:
            return list(self._rows.values())

    def insert(self, schedule_id: str, text: str) -> bool:
        with self._lock:
            if schedule_id in self._rows:
                return False
            self._rows[schedule_id] = (1, text)
            return True

    def replace(self, schedule_id: str, rev: int, text: str) -> bool:
        with self._lock:
            found = self._rows.get(schedule_id)
            if found is None or found[0] != rev:
                return False
            self._rows[schedule_id] = (rev + 1, text)
            return True

    def delete(self, schedule_id: str) -> bool:
        with self._lock:
            return self._rows.pop(schedule_id, None) is not None


def decode(text: str) -> Schedule:
    data = loads_stored(text)
    if not isinstance(data, dict):
        raise StoreError(f"a stored schedule is not a JSON object: {text[:80]!r}")
    return Schedule.from_dict(data)


def _check_id(schedule_id: object) -> str:
    if not isinstance(schedule_id, str) or not schedule_id or len(schedule_id) > 200 or "\x00" in schedule_id:
        raise InvalidArgumentError(f"a schedule id is a non-empty string of at most 200 characters, got "
                                   f"{schedule_id!r}", "id")
    return schedule_id


def read(steps: ScheduleSteps, schedule_id: str) -> Schedule | None:
    found = steps.read(_check_id(schedule_id))
    return decode(found[1]) if found is not None else None


def read_all(steps: ScheduleSteps) -> list[Schedule]:
    """Every schedule, by id; a record this version cannot read is left out (and logged), not everyone's error."""
    found = []
    for _, text in steps.read_all():
        try:
            found.append(decode(text))
        except (StoreError, InvalidArgumentError, ValueError):
            logger.warning("a stored schedule cannot be read and is left out: %.200s", text)
    return sorted(found, key=lambda s: s.id)


def add(steps: ScheduleSteps, schedule: Schedule) -> bool:
    return steps.insert(schedule.id, dumps_text(schedule.to_dict()))


def update(steps: ScheduleSteps, schedule_id: str,
           change: Callable[[Schedule], Schedule | None]) -> Schedule | None:
    """Compare-and-set: ``change(current)`` is written if nothing else wrote the schedule meanwhile, else computed
    again from what was written. Returns what was written, or None when ``change`` returned None (nothing to do)
    or the schedule does not exist. ``change`` must be a pure function of the schedule it gets: it may run
    several times."""
    _check_id(schedule_id)
    for _ in range(_ATTEMPTS):
        found = steps.read(schedule_id)
        if found is None:
            return None
        rev, text = found
        new = change(decode(text))
        if new is None:
            return None
        if steps.replace(schedule_id, rev, dumps_text(new.to_dict())):
            return new
    raise StoreError(f"schedule {schedule_id!r} kept changing under {_ATTEMPTS} attempts to update it; try again")


def delete(steps: ScheduleSteps, schedule_id: str) -> bool:
    return steps.delete(_check_id(schedule_id))
