"""Schedules at run time: code schedules synchronised into the store, admin changes, and the firing of due
occurrences, which the supervision loop of every process that runs jobs does (no extra daemon).

**Exactly once.** Each occurrence goes through three steps, each its own write:

1. *claim* -- a compare-and-set of the schedule's record (:meth:`Store.update_schedule
   <jobdeck.stores.base.Store.update_schedule>`): from the revision it read, a process computes what is due
   (:func:`~jobdeck.core.schedule.catch_up`), advances ``next_fire``, counts the missed occurrences and records the
   occurrence to start as ``pending`` with the id its job will have (a fresh UUID chosen here). Of several processes
   that found the occurrence due, only the one whose write lands claims it; the others re-read and find it no
   longer due. A process that dies before this write has changed nothing: the next process claims the occurrence.
2. *create* -- the job, with that id, ``queued`` and due at once (``run_at``/``retry_at``: the path of due retries,
   so whichever process runs the type starts it, exactly once: :meth:`JobRunner.start_retry
   <jobdeck.JobRunner.start_retry>`), carrying ``scheduleId``; unless the overlap policy skips or queues it.
3. *record* -- a compare-and-set that clears ``pending`` and records the last run (or the skip, or the waiting
   occurrence).

A process killed between 1 and 2 leaves ``pending`` with no job; one killed between 2 and 3 leaves ``pending`` with
its job. Either way the occurrence is neither lost nor doubled: once ``pending`` is older than the store's
``stale_after`` (a live process does steps 1 to 3 within milliseconds), any process *recovers* it: a
compare-and-set takes the pending over (one process wins), then it looks the job up by its recorded id -- found:
only step 3 is left; not found: steps 2 and 3. A process that only stalled (not died) past ``stale_after`` between
steps 1 and 2 and then goes on creates its job with the same id, which every store refuses (the primary key on SQLite
and PostgreSQL, an existence check in the insert's own atomic step on Redis and memory): the occurrence still has
one job, and the stalled process records it.

**Overlap.** ``skip``: an occurrence while a job of the schedule is active, or while the type runs its
``max_concurrent`` jobs, is skipped and counted with the reason. ``queue``: it waits instead (``waiting``, at most one;
a newer occurrence supersedes the waiting one, which is then counted as skipped) and starts once the slot frees.

**Sync.** :meth:`Scheduler.sync` writes the code schedules (``runner.schedule``) into the store on the loop's first
round: new ones are added, changed ones redefined (their history kept), and a code schedule of a type this runner
has, missing from its code, is disabled (history kept) -- only by a runner that defines schedules at all, so that a
process that merely runs the types (a worker) never disables what the server defines.
"""

from __future__ import annotations

import logging
import random
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from typing import Any, Protocol

from ..core.errors import (
    InvalidArgumentError,
    JobConflictError,
    ScheduleConflictError,
    ScheduleNotFoundError,
    StoreError,
    UnknownJobTypeError,
)
from ..core.jobtype import JobType
from ..core.model import JobInfo
from ..core.schedule import ScheduleSpec, catch_up, next_after
from ..core.schedule_state import LastRun, Pending, Schedule, ScheduleOutcome, Skip
from ..stores.base import Store
from .forking import renew_after_fork

__all__ = ["ScheduleHost", "Scheduler"]

logger = logging.getLogger("jobdeck.schedules")


class ScheduleHost(Protocol):
    """What the scheduler needs of the runner (:class:`~jobdeck.JobRunner` is one)."""

    store: Store

    def get_type(self, job_type: str) -> JobType: ...

    def type_names(self) -> frozenset[str]: ...


class Scheduler:
    """The schedules of one runner: the code definitions, the admin operations and the firing of due occurrences.
    ``clock``: where "now" comes from when a caller gives none (tests pass their own times instead)."""

    def __init__(self, host: ScheduleHost, clock: Callable[[], float] = time.time) -> None:
        self.host = host
        self.clock = clock
        self._code: dict[str, ScheduleSpec] = {}
        self._lock = threading.Lock()
        self._defined = 0  # how many times the code definitions changed...
        self._synced = -1  # ...and how many of them the store has (sync retries until it has the newest)
        # The active jobs per type, read once per round of fire() on this thread: a thousand schedules due at once
        # must not read the active list a thousand times. Only a "free" answer is taken from it; "busy" is
        # read again (and the creation checks max_concurrent atomically anyway).
        self._round = threading.local()
        renew_after_fork(self)

    def _after_fork(self) -> None:
        """In a forked child: a fresh lock (a thread of the parent may have held it at the instant of the fork)."""
        self._lock = threading.Lock()

    @property
    def store(self) -> Store:
        return self.host.store

    # ------------------------------------------------------------------ definitions

    def check(self, spec: ScheduleSpec) -> ScheduleSpec:
        """``spec`` if its type is registered here, can be started by a schedule and takes its params; else
        InvalidParamsError naming the field, UnknownJobTypeError or InvalidArgumentError."""
        job_type = self.host.get_type(spec.job_type)
        if job_type.external:
            raise InvalidArgumentError(f"schedule {spec.id!r}: {spec.job_type} is an external type (its jobs run "
                                       "elsewhere and report over HTTP); schedules start types with a handler",
                                       "jobType")
        job_type.check_params(spec.params)
        return spec

    def define(self, spec: ScheduleSpec) -> None:
        """A code schedule (``runner.schedule``): checked now, written into the store by :meth:`sync`."""
        self.check(spec)
        with self._lock:
            self._code[spec.id] = spec
            self._defined += 1

    def code_ids(self) -> frozenset[str]:
        with self._lock:
            return frozenset(self._code)

    def sync(self, now: float | None = None, by: str = "code") -> None:
        """Write the code schedules into the store (see the module docstring)."""
        now = self.clock() if now is None else now
        with self._lock:
            code, generation = dict(self._code), self._defined
        self._write_code(code, now, by)
        with self._lock:
            self._synced = max(self._synced, generation)

    def _write_code(self, code: dict[str, ScheduleSpec], now: float, by: str) -> None:
        for spec in code.values():
            if self.store.add_schedule(Schedule.new(spec, "code", by, now)):
                logger.info("schedule %s added from code", spec.id)
                continue

            def redefine(current: Schedule, spec: ScheduleSpec = spec) -> Schedule | None:
                if current.source != "code":
                    logger.warning("schedule %s is defined in code and by an admin; the admin's is kept", spec.id)
                    return None
                same = replace(spec, anchor=current.spec.anchor) == current.spec
                if same and not current.disabled:
                    return None
                if same:
                    return replace(current, disabled=False, next_fire=next_after(current.spec, now), updated=now)
                return current.redefined(spec, by, now)

            if self.store.update_schedule(spec.id, redefine) is not None:
                logger.info("schedule %s updated from code", spec.id)
        if not code:
            return
        mine = self.host.type_names()
        for schedule in self.store.schedules():
            if schedule.source == "code" and schedule.id not in code and not schedule.disabled \
                    and schedule.spec.job_type in mine:
                def disable(current: Schedule) -> Schedule | None:
                    if current.source != "code" or current.disabled or current.id in code:
                        return None
                    return replace(current, disabled=True, pending=None, waiting=None, updated=now, updated_by=by)

                if self.store.update_schedule(schedule.id, disable) is not None:
                    logger.warning("schedule %s is no longer defined in code: disabled (its history is kept)",
                                   schedule.id)

    # ------------------------------------------------------------------ admin operations

    def create(self, spec: ScheduleSpec, by: str, now: float | None = None) -> Schedule:
        """An admin schedule; InvalidArgumentError when the id is taken."""
        now = self.clock() if now is None else now
        self.check(spec)
        schedule = Schedule.new(spec, "admin", by, now)
        if not self.store.add_schedule(schedule):
            raise ScheduleConflictError(spec.id, f"a schedule {spec.id!r} exists already: choose another id, or "
                                                 "change that one (PATCH)")
        return schedule

    def edit(self, schedule_id: str, by: str, *, paused: bool | None = None, cron: str | None = None,
             every: float | None = None, params: Any = None, timezone: str | None = None,
             now: float | None = None) -> Schedule:
        """Pause or resume (``paused``), or redefine (``cron``/``every``, ``params``, ``timezone``: admin schedules
        only). Resuming starts from the next occurrence after now: what fell in the pause is neither started nor
        counted as missed."""
        now = self.clock() if now is None else now
        current = self.require(schedule_id)
        redefine = cron is not None or every is not None or params is not None or timezone is not None
        spec = current.spec
        if redefine:
            if current.source == "code":
                raise _from_code(schedule_id, "edited")
            spec = ScheduleSpec.build(
                spec.id, spec.job_type,
                cron=cron if cron is not None else (spec.cron if every is None else None),
                every=every if every is not None else (spec.every if cron is None else None),
                timezone=timezone if timezone is not None else spec.timezone,
                params=params if params is not None else spec.params,
                overlap=spec.overlap, misfire_grace=spec.misfire_grace,
                anchor=spec.anchor)
            self.check(spec)

        def change(s: Schedule) -> Schedule | None:
            if redefine:
                s = s.redefined(spec, by, now)
            if paused is not None and paused != s.paused:
                s = replace(s, paused=paused, waiting=None, updated_by=by, updated=now,
                            next_fire=next_after(s.spec, now) if not paused else s.next_fire)
            return s

        updated = self.store.update_schedule(schedule_id, change)
        if updated is None:
            raise ScheduleNotFoundError(schedule_id)
        return updated

    def delete(self, schedule_id: str) -> None:
        current = self.require(schedule_id)
        if current.source == "code" and not current.disabled:
            raise _from_code(schedule_id, "deleted")
        if not self.store.delete_schedule(schedule_id):
            raise ScheduleNotFoundError(schedule_id)

    def require(self, schedule_id: str) -> Schedule:
        found = self.store.get_schedule(schedule_id)
        if found is None:
            raise ScheduleNotFoundError(schedule_id)
        return found

    def trigger(self, schedule_id: str, by: str, now: float | None = None) -> JobInfo:
        """Run now: a job of the schedule, started at once whatever the overlap policy says (the type's
        ``max_concurrent`` still holds: JobConflictError), recorded as the schedule's last run."""
        now = self.clock() if now is None else now
        schedule = self.require(schedule_id)
        spec = self.check(schedule.spec)
        job = self._create(spec, str(uuid.uuid4()), now, f"{by} (run now: schedule {schedule_id})")
        self.store.update_schedule(schedule_id, lambda s: replace(
            s, last_run=LastRun(job.id, job.status.value, now), started=s.started + 1))
        self._observe(ScheduleOutcome(schedule_id, spec.job_type, "started", now, job_id=job.id))
        return job

    def _observe(self, outcome: ScheduleOutcome) -> None:
        self.store.schedule_observed(outcome)

    # ------------------------------------------------------------------ firing

    def fire(self, now: float | None = None) -> float | None:
        """Start what is due of the schedules whose types this runner has (each occurrence once across every
        process, see the module docstring); returns the earliest next occurrence, for the loop to wake then."""
        now = self.clock() if now is None else now
        with self._lock:
            synced = self._synced == self._defined
        if not synced:
            self.sync(now)
        mine = self.host.type_names()
        earliest: float | None = None
        self._round.active = {}
        schedules = self.store.schedules()
        # In an order of this process's own: several processes that find many schedules due at once then each
        # start with different ones, instead of all contending for the same one and moving on together.
        random.shuffle(schedules)
        try:
            for schedule in schedules:
                if schedule.spec.job_type not in mine or not schedule.active:
                    continue
                try:
                    self._fire_one(schedule, now)
                    due = schedule.next_fire
                    if due is not None:
                        due = due if due > now else next_after(schedule.spec, now)
                        earliest = due if earliest is None else min(earliest, due)
                except StoreError:
                    raise  # the store is away: the loop logs the outage once
                except Exception:  # this schedule's trouble (a definition written by hand, say), not the others'
                    logger.exception("schedule %s: firing failed", schedule.id)
        finally:
            self._round.active = None
        return earliest

    def _fire_one(self, schedule: Schedule, now: float) -> None:
        stale = self.store.stale_after
        if schedule.pending is not None:
            if now - schedule.pending.since < stale:
                return  # its claimer is at work (or only slow)
            self._recover(schedule.id, now)
            found = self.store.get_schedule(schedule.id)  # and on with what came due meanwhile
            if found is None or found.pending is not None or not found.active:
                return
            schedule = found
        due = schedule.next_fire is not None and schedule.next_fire <= now
        if not due and schedule.waiting is None:
            return
        missed: list[int] = []
        superseded: list[bool] = []

        def claim(s: Schedule) -> Schedule | None:
            missed.clear()
            superseded.clear()
            if s.pending is not None or not s.active:
                return None
            occurrence: float | None = None
            count = covered = 0
            next_fire = s.next_fire
            if s.next_fire is not None and s.next_fire <= now:
                owed = catch_up(s.spec, s.next_fire, now)
                occurrence, count, next_fire, covered = owed.start, owed.missed, owed.next_fire, owed.coalesced
            waiting = s.waiting
            if occurrence is not None and waiting is not None:
                superseded.append(True)  # at most one waits: the newer occurrence takes its place
                waiting = None
            elif occurrence is None and waiting is not None:
                occurrence, waiting = waiting, None
            if occurrence is None and count == 0 and next_fire == s.next_fire:
                return None
            missed.append(count)
            pending = Pending(occurrence, str(uuid.uuid4()), now) if occurrence is not None else None
            return replace(s, next_fire=next_fire, missed=s.missed + count, coalesced=s.coalesced + covered,
                           pending=pending, waiting=waiting,
                           skipped=s.skipped + (1 if superseded else 0),
                           last_skip=Skip(s.waiting or now, "a newer occurrence came while it waited for the slot "
                                          "(overlap=queue keeps one waiting)") if superseded else s.last_skip)

        claimed = self.store.update_schedule(schedule.id, claim)
        if claimed is None:
            return
        spec = claimed.spec
        if missed and missed[0]:
            logger.warning("schedule %s: %d occurrence(s) missed (older than the misfire grace of %gs)",
                           spec.id, missed[0], spec.misfire_grace)
            self._observe(ScheduleOutcome(spec.id, spec.job_type, "missed", now, count=missed[0],
                                          reason=f"older than misfire_grace ({spec.misfire_grace:g}s)"))
        if superseded:
            self._observe(ScheduleOutcome(spec.id, spec.job_type, "skipped", now,
                                          reason="superseded while waiting for the slot"))
        if claimed.pending is not None:
            self._start_pending(claimed, claimed.pending, now)

    def _recover(self, schedule_id: str, now: float) -> None:
        """Take over a pending occurrence whose claimer did not finish (see the module docstring)."""
        taken: list[Pending] = []

        def take(s: Schedule) -> Schedule | None:
            taken.clear()
            if s.pending is None or now - s.pending.since < self.store.stale_after:
                return None
            taken.append(s.pending)
            return replace(s, pending=replace(s.pending, since=now))

        claimed = self.store.update_schedule(schedule_id, take)
        if claimed is None or not taken:
            return
        logger.warning("schedule %s: recovering the occurrence of %s whose process did not finish starting it",
                       schedule_id, taken[0].occurrence)
        assert claimed.pending is not None
        existing = self.store.get_job(claimed.pending.job_id)
        if existing is not None:
            self._record_started(claimed, claimed.pending, existing, now)
            return
        self._start_pending(claimed, claimed.pending, now)

    def _start_pending(self, schedule: Schedule, pending: Pending, now: float) -> None:
        """Step 2 and 3 for the occurrence this process claimed."""
        spec = schedule.spec
        reason = self._busy(spec)
        job: JobInfo | None = None
        if reason is None:
            try:
                job = self._create(self.check(spec), pending.job_id, pending.occurrence, f"schedule:{spec.id}")
            except (JobConflictError, StoreError) as exc:
                # The store refuses a second job with the occurrence's id: a process that stalled past the
                # recovery finds the recovered job here, and records it instead of starting another.
                job = self.store.get_job(pending.job_id)
                if job is None and isinstance(exc, StoreError):
                    raise
                reason = str(exc) if job is None else None
            except (InvalidArgumentError, UnknownJobTypeError) as exc:  # params no longer fit the type
                reason = f"cannot start: {exc}"
        if job is not None:
            cache: dict[str, list[JobInfo]] | None = getattr(self._round, "active", None)
            if cache is not None and spec.job_type in cache:
                cache[spec.job_type].append(job)
            self._record_started(schedule, pending, job, now)
            return
        assert reason is not None
        queue = spec.overlap == "queue" and not reason.startswith("cannot start")

        def record(s: Schedule) -> Schedule | None:
            if s.pending is None or s.pending.job_id != pending.job_id:
                return None
            if queue:
                return replace(s, pending=None, waiting=pending.occurrence)
            return replace(s, pending=None, skipped=s.skipped + 1, last_skip=Skip(pending.occurrence, reason))

        if self.store.update_schedule(spec.id, record) is not None and not queue:
            logger.warning("schedule %s: occurrence skipped: %s", spec.id, reason)
            self._observe(ScheduleOutcome(spec.id, spec.job_type, "skipped", pending.occurrence, reason=reason))

    def _record_started(self, schedule: Schedule, pending: Pending, job: JobInfo, now: float) -> None:
        def record(s: Schedule) -> Schedule | None:
            if s.pending is None or s.pending.job_id != pending.job_id:
                return None
            return replace(s, pending=None, last_run=LastRun(job.id, job.status.value, pending.occurrence),
                           started=s.started + 1)

        if self.store.update_schedule(schedule.id, record) is not None:
            logger.info("schedule %s: started job %s", schedule.id, job.id)
            self._observe(ScheduleOutcome(schedule.id, schedule.spec.job_type, "started", pending.occurrence,
                                          job_id=job.id))

    def _active(self, job_type: str, fresh: bool) -> list[JobInfo]:
        cache: dict[str, list[JobInfo]] | None = getattr(self._round, "active", None)
        if cache is not None and not fresh and job_type in cache:
            return cache[job_type]
        active = self.store.get_active_jobs(job_type, messages=False)
        if cache is not None:
            cache[job_type] = active
        return active

    def _busy(self, spec: ScheduleSpec) -> str | None:
        """Why an occurrence cannot start now (a job of the schedule, or the type's ``max_concurrent``), or None."""
        job_type = self.host.get_type(spec.job_type)
        active = self._active(spec.job_type, fresh=False)
        if any(j.schedule_id == spec.id for j in active) or len(active) >= job_type.max_concurrent:
            active = self._active(spec.job_type, fresh=True)  # busy by what this round read: read again
        mine = [j.id for j in active if j.schedule_id == spec.id]
        if mine:
            return f"a job of the schedule is still active ({mine[0]})"
        if len(active) >= job_type.max_concurrent:
            return (f"{spec.job_type} runs its maximum of {job_type.max_concurrent} job(s) "
                    f"(max_concurrent): {', '.join(j.id for j in active[:3])}")
        return None

    def _create(self, spec: ScheduleSpec, job_id: str, due: float, author: str) -> JobInfo:
        job_type = self.host.get_type(spec.job_type)
        return self.store.create_job(spec.job_type, author, spec.params, max_active=job_type.max_concurrent,
                                     queued=True, max_attempts=job_type.max_attempts, job_id=job_id,
                                     schedule_id=spec.id, run_at=due)


def _from_code(schedule_id: str, what: str) -> ScheduleConflictError:
    return ScheduleConflictError(schedule_id, f"schedule {schedule_id!r} is defined in code (runner.schedule) and "
                                 f"cannot be {what} here: change it in the code; it can be paused, resumed and run now")
