"""Who hears of a store's lifecycle changes: the observers a store object calls after each job it creates,
claims for a worker, re-queues or brings to a terminal status (metrics count there).

Each transition is seen by exactly one process: the one whose call won the store's atomic step. An observer runs
on the caller's thread after the change is stored; an exception in it is logged and never reaches the job.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from ..core.model import JobInfo, JobStatus

__all__ = ["Observers", "Transition"]

logger = logging.getLogger("jobdeck.store")


@dataclass(frozen=True, slots=True)
class Transition:
    """A lifecycle change this store object made: ``created``, ``claimed`` (``queued -> running``, by a worker),
    ``requeued`` (``running -> queued`` by the stale reaper, whose worker died), ``retried`` (``running -> queued``
    by ``Store.schedule_retry``: the run failed and the job waits for its next attempt), or the move to a terminal
    status (``reaped`` when the stale reaper made it).

    ``job`` is the head right after the change. Observers see only the transitions made through this very
    object, so that each one is seen by exactly one process: the one whose call won the store's atomic step.
    """

    job: JobInfo
    reaped: bool = False
    claimed: bool = False
    retried: bool = False

    @property
    def created(self) -> bool:
        return not self.claimed and not self.reaped and not self.retried and not self.job.status.is_terminal

    @property
    def requeued(self) -> bool:
        return self.reaped and self.job.status is JobStatus.QUEUED


class Observers:
    """The observers of one store object; false while there are none (callers skip building a head then)."""

    def __init__(self) -> None:
        self._fns: tuple[Callable[[Transition], None], ...] = ()
        self._held = threading.local()  # held(): this thread's transitions, until its block ends

    def __bool__(self) -> bool:
        return bool(self._fns)

    def add(self, fn: Callable[[Transition], None]) -> None:
        self._fns = (*self._fns, fn)

    def remove(self, fn: Callable[[Transition], None]) -> None:
        self._fns = tuple(o for o in self._fns if o != fn)

    @contextmanager
    def held(self) -> Iterator[None]:
        """Hold the calls for the changes this thread makes in the block: made when it ends normally, dropped
        when it raises (see ``Store.observations_held``)."""
        held: list[Transition] = []
        outer = getattr(self._held, "calls", None)
        self._held.calls = held
        try:
            yield
        finally:
            self._held.calls = outer
        for transition in held:
            self._dispatch(transition)  # to an enclosing block's hold, if there is one

    def observe(self, job: JobInfo, reaped: bool = False, claimed: bool = False, retried: bool = False) -> None:
        """Tell every observer (now, or when this thread's held block ends) about ``job``'s head."""
        self._dispatch(Transition(job, reaped, claimed, retried))

    def _dispatch(self, transition: Transition) -> None:
        held = getattr(self._held, "calls", None)
        if held is not None:
            held.append(transition)
            return
        self._call(transition)

    def _call(self, transition: Transition) -> None:
        for fn in self._fns:
            try:
                fn(transition)
            except Exception:
                logger.exception("a store observer failed on job %s", transition.job.id)
