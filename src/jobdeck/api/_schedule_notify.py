"""Webhooks when a schedule's occurrence is skipped or missed (issue 23), so that "the nightly job did not run" is
an alert, not a discovery.

The notifier's watcher thread reads the schedules every few seconds and compares each one's ``skipped`` and
``missed`` counts with what it saw last: a count that went up is an event (``schedule.skipped``,
``schedule.missed``), whichever process fired the occurrence (a worker without webhooks included). With several
servers on one store, the claim ``notify:schedule:<id>:<event>:<count>`` makes each count value notified by one
process only. Counts from before the notifier started are not notified.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from ..stores.base import Store
from ._webhook import schedule_summary

__all__ = ["CHECK_EVERY", "ScheduleWatch"]

logger = logging.getLogger("jobdeck.notify")

CHECK_EVERY = 5.0  # seconds between reads of the schedules (one read of a small table)


class ScheduleWatch:
    """The counts last seen per schedule; ``push(name, summary)`` sends (the notifier's :meth:`Notifier.push`)."""

    def __init__(self, store: Store, push: Callable[[str, dict[str, Any]], None], *,
                 path: str = "/api/admin/jobs/schedules/{id}", every: float = CHECK_EVERY) -> None:
        self.store = store
        self.push = push
        self.path = path
        self.every = every
        self._seen: dict[str, tuple[int, int]] = {}
        self._based = False  # whether _seen holds the counts as they were at start
        self._next = 0.0

    def baseline(self) -> None:
        """Remember the counts as they are: only what happens from now on is notified."""
        try:
            self._seen = {s.id: (s.skipped, s.missed) for s in self.store.schedules()}
            self._based = True
        except Exception:  # the store is away: the first check takes the baseline instead
            logger.warning("notifications: the schedules could not be read at start", exc_info=True)
        self._next = time.monotonic() + self.every

    def check(self, public_url: str, *, force: bool = False) -> int:
        """Notify the counts that went up since the last check (at most every ``every`` seconds unless ``force``);
        returns how many notifications were pushed."""
        if not force and time.monotonic() < self._next:
            return 0
        self._next = time.monotonic() + self.every
        pushed = 0
        try:
            schedules = self.store.schedules()
        except Exception:
            logger.warning("notifications: reading the schedules failed; retrying", exc_info=True)
            return 0
        based, self._based = self._based, True
        for schedule in schedules:
            # A schedule new since the start counts from zero; without a baseline, the first look is the baseline.
            before = self._seen.get(schedule.id, (0, 0))
            self._seen[schedule.id] = (schedule.skipped, schedule.missed)
            if not based:
                continue
            link = public_url + self.path.format(id=schedule.id)
            for event, now, then in (("skipped", schedule.skipped, before[0]), ("missed", schedule.missed, before[1])):
                if now > then:
                    try:
                        self.push(f"schedule:{schedule.id}:{event}:{now}",
                                  schedule_summary(schedule, event, now - then, link))
                        pushed += 1
                    except Exception:  # this schedule's problem, never the watcher's end
                        logger.warning("notifications: could not notify schedule %s", schedule.id, exc_info=True)
        return pushed
