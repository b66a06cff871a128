"""``with ctl.limit("openai", concurrency=8, rate=500, per=60):`` -- a provider's limits shared by every job in every
process on the store (issue 24).

- **Concurrency**: the block holds one of ``concurrency`` slots of the limit. A slot is a lease of the store's
  ``stale_after`` seconds that a thread of this process renews while the block runs, so that a holder that dies
  (a killed process) frees its slot within ``stale_after``; the block's end gives it back at once.
- **Rate**: each entry reserves the limit's next start time in the store (calls start ``per / rate`` seconds
  apart across every process) and waits until then.

Waiting is abortable and visible: the wait checks for an abort at every poll (an abort while waiting raises
:class:`~jobdeck.AbortError` at once, and the place in the queue is given back), and the job's current operation
says what it waits for (``waiting for an openai slot: 8 of 8 in use``) until the wait is over. A store that cannot
keep shared limits (one without these steps) raises ``NotImplementedError``.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from types import TracebackType
from typing import Protocol

from ..core.limits import check_capacity, check_limit_name, check_rate
from ..stores.base import Store

__all__ = ["MAX_POLL", "MIN_POLL", "SharedLimit", "Waiter"]

logger = logging.getLogger("jobdeck")

# A refused holder asks again after MIN_POLL, doubling up to MAX_POLL: a slot freed is taken within MAX_POLL
# (plus one round trip), and a thousand waiters cost a store at most a few thousand small transactions a second.
MIN_POLL = 0.02
MAX_POLL = 0.25


class Waiter(Protocol):
    """What a limit needs of the job's controller."""

    job_id: str
    store: Store

    def check_abort(self) -> None: ...

    def show_waiting(self, text: str | None) -> None:
        """Make the job's current operation say ``text`` (None: what it said before the wait)."""


class SharedLimit:
    """The context manager :meth:`PipelineController.limit <jobdeck.PipelineController.limit>` returns (see the
    module). Not reentrant: each ``with`` takes its own slot."""

    def __init__(self, ctl: Waiter, name: str, concurrency: int | None = None, rate: float | None = None,
                 per: float = 60.0) -> None:
        self.name = check_limit_name(name)
        if concurrency is None and rate is None:
            raise TypeError("ctl.limit() needs concurrency=N, rate=N (per=seconds), or both")
        self.concurrency = check_capacity(concurrency) if concurrency is not None else None
        self.interval = check_rate(rate, per) if rate is not None else None
        self._ctl = ctl
        self._holder = f"{ctl.job_id}:{uuid.uuid4().hex[:12]}"
        self._renewer: threading.Thread | None = None
        self._stop = threading.Event()
        self._held = False

    def __enter__(self) -> SharedLimit:
        try:
            if self.concurrency is not None:
                self._take_slot(self.concurrency)
            if self.interval is not None:
                self._pace(self.interval)
        except BaseException:
            self._give_back()
            raise
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._give_back()

    def _take_slot(self, capacity: int) -> None:
        ctl, store = self._ctl, self._ctl.store
        poll, shown = MIN_POLL, False
        try:
            while True:
                taken, used = store.acquire_slot(self.name, self._holder, capacity, job_id=ctl.job_id)
                if taken:
                    self._held = True
                    break
                if not shown:
                    ctl.show_waiting(f"waiting for {_article(self.name)} {self.name} slot: {used} of {capacity} "
                                     "in use")
                    shown = True
                self._sleep(poll)
                poll = min(MAX_POLL, poll * 2)
        finally:
            if shown:
                ctl.show_waiting(None)
        self._renewer = threading.Thread(target=self._renew, name=f"jobdeck-limit-{self.name}", daemon=True)
        self._renewer.start()

    def _pace(self, interval: float) -> None:
        start = self._ctl.store.reserve_rate(self.name, interval)
        if start - time.time() > MAX_POLL:
            self._ctl.show_waiting(f"waiting for {self.name}'s rate limit")
            try:
                self._sleep_until(start)
            finally:
                self._ctl.show_waiting(None)
        else:
            self._sleep_until(start)

    def _sleep(self, seconds: float) -> None:
        self._sleep_until(time.time() + seconds)

    def _sleep_until(self, at: float) -> None:
        """Wait until ``at`` (``time.time()``), checking for an abort at least every MAX_POLL seconds."""
        while True:
            self._ctl.check_abort()
            left = at - time.time()
            if left <= 0:
                return
            time.sleep(min(left, MAX_POLL))

    def _renew(self) -> None:
        store = self._ctl.store
        every = max(0.05, store.stale_after / 4)
        while not self._stop.wait(every):
            try:
                if not store.renew_slot(self.name, self._holder):
                    logger.warning("job %s: its %s slot expired before it was renewed (the store was away longer "
                                   "than stale_after?); the block goes on", self._ctl.job_id, self.name)
                    return
            except Exception:
                logger.warning("job %s: could not renew its %s slot", self._ctl.job_id, self.name, exc_info=True)

    def _give_back(self) -> None:
        self._stop.set()
        if self._renewer is not None:
            self._renewer.join(timeout=5)
            self._renewer = None
        if self.concurrency is None:
            return
        try:
            self._ctl.store.release_slot(self.name, self._holder)  # the slot, or the place among the waiters
        except Exception:
            logger.warning("job %s: could not give its %s slot back; it frees itself within stale_after",
                           self._ctl.job_id, self.name, exc_info=True)
        self._held = False


def _article(name: str) -> str:
    return "an" if name[:1].lower() in "aeiou" else "a"
