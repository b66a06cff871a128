"""Supervision of a runner's jobs: heartbeats, timeouts, the abort grace, stale and lost jobs, store outages.

A :class:`~jobdeck.JobRunner` decides what happens to a job; this module keeps it honest while the handler runs.
One daemon thread per runner process:

- heartbeats every job this process runs, so that a long silent step is not taken for a dead process;
- asks a job past its type's ``timeout`` to abort, and fails one still active ``abort_grace`` after the abort;
- reaps the stale jobs of any process (the store's atomic step makes each reaping happen once), and asks the
  executor's engine which long-queued jobs it lost (never about a job waiting for its next attempt: no engine holds
  it until it is due);
- starts the due retries of the types the runner runs (the runner's :meth:`~jobdeck.JobRunner.start_retry`: the
  store's atomic step makes each attempt start in one process), waking for the earliest due time it knows of --
  the ones this process scheduled (:meth:`Supervisor.wake_at`) and the ones it read in the store -- not only once
  a heartbeat interval;
- fires the due occurrences of schedules (:mod:`jobdeck.runtime.scheduling`: the store's compare-and-set makes each
  start once across processes), waking for the earliest next one, before the retries (its jobs are due at once);
- logs a store outage once when it starts and once when it ends, never once per round.

A store that was away (a round failed, or its calls took long) is not trusted for reaping at once when it
answers again: the other processes were cut off too, and their jobs look stale until their next heartbeat. The
reaper waits :attr:`Supervisor.grace` (two heartbeat intervals and up to a second) after it regains the store.

:func:`persist` (and :func:`persist_async`, for a handler on the event loop) is the same patience for the write
that records a job's outcome.

After ``fork()`` a child process gets fresh locks and no inherited jobs: the parent's handler threads do not
exist in the child, and whatever lock one of them held at the instant of the fork would never be released.
"""

# Long: one loop with one round; its duties (heartbeats, the worker record, timeouts, stale jobs, due retries and
# schedule occurrences) share the round's state and wake-up time, and each is one short method of it.
from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ParamSpec, Protocol, TypeVar

from ..core.backoff import Backoff
from ..core.errors import JobNotFoundError, StoreError
from ..core.jobtype import JobType
from ..core.model import JobInfo, JobStatus
from ..executors.base import Executor
from ..stores.base import Store
from .controller import StoreContact
from .forking import renew_after_fork
from .tracing import JobTrace
from .workers import WorkerBeacon

__all__ = ["RunningJob", "Supervised", "Supervisor", "persist", "persist_async"]

# Operators configure one logger for everything a runner does.
logger = logging.getLogger("jobdeck.runner")

P = ParamSpec("P")
T = TypeVar("T")


@dataclass(eq=False)
class RunningJob:
    """A job whose handler runs in this process."""

    job_id: str
    job_type: JobType
    started: float
    done: threading.Event = field(default_factory=threading.Event)
    timed_out: bool = False
    trace: JobTrace | None = None
    attempt: int = 1  # which run of the job this is (a job whose worker died may be run again elsewhere)
    progress: float = 0.0  # the job's progress when this run began: a retried run never reports less
    # When the store last answered for this job: the heartbeats and the controller's abort checks.
    contact: StoreContact = field(default_factory=StoreContact)
    stalled: bool = False  # diagnosed stalled (issue 22): logged once, until the job moves again


class _Patience:
    """The retry policy of :func:`persist`: pauses doubling from 50 ms to 2 s (:class:`~jobdeck.core.backoff.Backoff`),
    for up to ``patience`` seconds, with one log line when the trouble starts and one when it ends."""

    def __init__(self, what: str, patience: float) -> None:
        self.what, self.patience = what, patience
        self.deadline = time.monotonic() + patience
        self.backoff = Backoff(first=0.05, maximum=2.0)

    def failed(self, exc: StoreError) -> float | None:
        """The pause before the next attempt, or None to give up (the caller raises ``exc``)."""
        pause = self.backoff.next()
        failures = self.backoff.failures
        if time.monotonic() + pause > self.deadline:
            logger.error("%s: gave up after %d attempts over %gs: %s", self.what, failures, self.patience, exc)
            return None
        if failures == 1:
            logger.warning("%s failed, retrying for up to %gs: %s", self.what, self.patience, exc)
        return pause

    def succeeded(self) -> None:
        if self.backoff.failing:
            logger.warning("%s succeeded after %d failed attempt(s)", self.what, self.backoff.failures)


def persist(what: str, patience: float, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """``fn(*args)``, retried while the store is unreachable (StoreError) for up to ``patience`` seconds: an
    outcome must not be lost to an outage that ends. One log line when the trouble starts, one when it ends; the
    StoreError is raised when it does not end in time."""
    tries = _Patience(what, patience)
    while True:
        try:
            value = fn(*args, **kwargs)
        except StoreError as exc:
            pause = tries.failed(exc)
            if pause is None:
                raise
            time.sleep(pause)
            continue
        tries.succeeded()
        return value


async def persist_async(what: str, patience: float, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """:func:`persist` for a caller on an event loop: each attempt runs in a worker thread and the pauses are
    ``asyncio.sleep``, so that the loop (every other async job's) never waits for this one's store."""
    tries = _Patience(what, patience)
    while True:
        try:
            value = await asyncio.to_thread(fn, *args, **kwargs)
        except StoreError as exc:
            pause = tries.failed(exc)
            if pause is None:
                raise
            await asyncio.sleep(pause)
            continue
        tries.succeeded()
        return value


class Supervised(Protocol):
    """What the supervisor needs from the runner it watches for (:class:`~jobdeck.JobRunner` is one): the store
    and the owner its jobs run under, the supervision settings, the executor (asked about lost queued jobs), and
    the reaping of stale jobs, whose rules (re-queueing included) are the runner's."""

    store: Store
    executor: Executor
    heartbeat_interval: float
    abort_grace: float
    reap: bool

    @property
    def owner(self) -> str: ...

    @property
    def closing(self) -> bool: ...

    def reap_stale(self) -> list[str]: ...

    def retry_types(self) -> frozenset[str]: ...

    def start_retry(self, job: JobInfo) -> bool: ...

    def fire_schedules(self) -> float | None: ...

    @property
    def beacon(self) -> WorkerBeacon | None:
        """How this process appears in the worker registry, or None when it runs no handlers (issue 22)."""


class Supervisor:
    """The jobs a runner runs in this process, and the thread that watches them and the store."""

    def __init__(self, runner: Supervised) -> None:
        self.runner = runner
        self._jobs: dict[str, RunningJob] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._wake = threading.Event()  # set by stop() and by a retry due sooner than the loop would look
        self._next_due: float | None = None  # the earliest retry time known (POSIX seconds)
        self._next_schedule: float | None = None  # the earliest schedule occurrence known (POSIX seconds)
        self._thread: threading.Thread | None = None
        self._broken: set[str] = set()  # jobs whose unexpected tick error was logged already
        # Monotonic time before which the reaper waits: set when the store was away (see the module docstring).
        self._reap_after = 0.0
        renew_after_fork(self)

    @property
    def grace(self) -> float:
        """How long the reaper waits after it regains the store: every other process retries its heartbeats each
        heartbeat interval (the same for every process on the store by default), so two of them and up to a
        second for the call itself give each of them a chance to say it is alive."""
        return 2 * self.runner.heartbeat_interval + min(1.0, self.runner.store.stale_after / 4)

    def _after_fork(self) -> None:
        """In a forked child: fresh locks, no thread, and none of the parent's jobs (their handlers ran in
        threads of the parent, which the child does not have)."""
        self._lock = threading.Lock()
        stopped = self._stop.is_set()
        self._stop = threading.Event()
        self._wake = threading.Event()
        if stopped:
            self._stop.set()
            self._wake.set()
        self._next_due = None
        self._next_schedule = None
        self._thread = None
        self._jobs = {}
        self._broken = set()

    # ------------------------------------------------------------------ the jobs running here

    def add(self, item: RunningJob) -> RunningJob:
        """Watch ``item``; if its job is watched already, the item already there (returned)."""
        with self._lock:
            return self._jobs.setdefault(item.job_id, item)

    def get(self, job_id: str) -> RunningJob | None:
        with self._lock:
            return self._jobs.get(job_id)

    def discard(self, job_id: str) -> None:
        with self._lock:
            self._jobs.pop(job_id, None)
            self._broken.discard(job_id)

    def jobs(self) -> list[RunningJob]:
        with self._lock:
            return list(self._jobs.values())

    # ------------------------------------------------------------------ the thread

    def ensure_started(self) -> None:
        with self._lock:
            # Also when the thread is gone: a forked worker process inherits the object but not the thread.
            if self._thread is None or (not self._thread.is_alive() and not self._stop.is_set()):
                self._thread = threading.Thread(target=self._loop, name="jobdeck-supervisor", daemon=True)
                self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=timeout)

    def wake_at(self, at: float) -> None:
        """A retry is due at ``at`` (POSIX seconds): the loop looks for due retries then, if that is sooner than
        it would anyway."""
        with self._lock:
            # Only a time still to come covers ``at``: one already due may be the round under way, which read the
            # store before this retry existed and then replaces it with what that read showed.
            if self._next_due is not None and time.time() < self._next_due <= at:
                return
            self._next_due = at
        self._wake.set()

    def _pause(self, next_beat: float) -> float:
        """Seconds until the loop's next round: the next heartbeat round, or the earliest retry due before it."""
        pause = max(0.0, next_beat - time.monotonic())
        with self._lock:
            due = [t for t in (self._next_due, self._next_schedule) if t is not None]
        if due:
            pause = min(pause, max(0.0, min(due) - time.time()))
        return pause

    def wake(self) -> None:
        """Run a round now (a schedule was added or changed: its next occurrence may be sooner than the loop
        would look)."""
        self._wake.set()

    def _loop(self) -> None:
        runner = self.runner
        next_reap = 0.0
        failures, since = 0, 0.0
        next_beat = time.monotonic() + runner.heartbeat_interval
        self._wake.set()  # the first round looks for due retries at once: a restarted process owes them first
        self.beat_worker()  # a worker appears in the registry as soon as it starts, not one round later
        while True:
            self._wake.wait(self._pause(next_beat))
            self._wake.clear()
            if self._stop.is_set():
                beacon = runner.beacon
                if beacon is not None:
                    beacon.forget(runner.store, runner.owner)
                return
            began = time.monotonic()
            try:
                if began >= next_beat:
                    next_beat = began + runner.heartbeat_interval
                    self.beat_worker()
                    self.tick()
                    if runner.reap and time.monotonic() >= next_reap and self._steady(began):
                        self.reap()
                        next_reap = time.monotonic() + max(runner.heartbeat_interval, runner.store.stale_after / 4)
                self.schedules()  # before the retries: a job it creates is due at once and starts this round
                self.retries()
            except Exception as exc:  # a store hiccup must not kill supervision; the next tick retries
                self._reap_after = time.monotonic() + self.grace  # counted from the last failed round
                failures += 1
                if failures == 1:  # one line when an outage starts (a traceback only for the unexpected)...
                    since = time.monotonic()
                    logger.warning("job supervision failed, retrying every %gs: %s: %s", runner.heartbeat_interval,
                                   type(exc).__name__, exc, exc_info=not isinstance(exc, StoreError))
                continue
            if failures:  # ...and one when it ends
                logger.warning("job supervision works again after %d failed round(s) in %.1fs", failures,
                               time.monotonic() - since)
                failures = 0

    def _steady(self, began: float) -> bool:
        """Whether the reaper may run now: not within :attr:`grace` of a time the store was away. A round whose
        calls waited long on the store (a frozen server answers late rather than failing) counts as away, and so
        does a probe that does: a round with no job of its own to heartbeat has not asked the store anything yet.
        Only a wait long enough to matter counts (half of ``stale_after``: another process's jobs turn stale only
        after an outage of most of the window), so that a merely busy store never holds the reaper back."""
        store = self.runner.store
        slow = store.stale_after / 2
        if time.monotonic() - began <= slow:
            probe = time.monotonic()
            store.read_events(None)
            if time.monotonic() - probe <= slow:
                return time.monotonic() >= self._reap_after
        self._reap_after = time.monotonic() + self.grace
        return False

    # ------------------------------------------------------------------ one round

    def beat_worker(self) -> None:
        """This process's record in the worker registry, with the jobs it runs now (nothing when it runs none)."""
        runner = self.runner
        beacon = runner.beacon
        if beacon is None:
            return
        running = [(i.job_id, i.job_type.name, i.started) for i in self.jobs()]
        beacon.beat(runner.store, beacon.record(runner.owner, runner.retry_types(), running))

    def tick(self) -> None:
        """Heartbeats, timeouts and the abort grace of the jobs running here, each job on its own: one job's
        failure never skips another's heartbeat. An unexpected error is logged once per job; a StoreError (the
        store away) is raised after the round, so that the loop logs the outage once."""
        now_mono, now = time.monotonic(), time.time()
        away: StoreError | None = None
        for item in self.jobs():
            try:
                self._tick_one(item, now_mono, now)
            except StoreError as exc:
                away = away or exc
            except Exception:
                with self._lock:
                    first = item.job_id not in self._broken
                    self._broken.add(item.job_id)
                if first:
                    logger.exception("supervising job %s failed (its other jobs go on; logged once)", item.job_id)
        if away is not None:
            raise away

    def _tick_one(self, item: RunningJob, now_mono: float, now: float) -> None:
        runner, store = self.runner, self.runner.store
        job_id, spec = item.job_id, item.job_type
        try:
            job = store.require_job(job_id, messages=False)  # the head: this runs for every job every beat
        except JobNotFoundError:
            return
        item.contact.seen()
        if not job.is_active or job.attempt != item.attempt:
            return  # ended, or re-queued while this process could not reach the store: not ours any more
        store.heartbeat(job_id, runner.owner)
        self._watch_stall(item, job, now)
        if spec.timeout is not None and not item.timed_out and now_mono - item.started > spec.timeout:
            item.timed_out = True
            store.request_abort(job_id, f"timeout: the job ran longer than {spec.timeout:g}s")
        elif job.status is JobStatus.ABORTING and job.abort_time is not None \
                and now - job.abort_time > runner.abort_grace:
            why = "its timeout" if item.timed_out else "the abort request"
            store.fail_job(job_id, f"Job did not stop within {runner.abort_grace:g}s of {why}; "
                                   "it was marked failed and its handler abandoned")

    @staticmethod
    def _watch_stall(item: RunningJob, job: JobInfo, now: float) -> None:
        """One log line when a job of this process turns ``stalled`` (no progress change and no message for its
        type's ``stall_after``, while this process heartbeats it), one when it moves again; it is not failed."""
        limit = item.job_type.stall_after
        quiet = now - job.last_activity_time
        stalled = limit is not None and job.status is JobStatus.RUNNING and quiet > limit
        if stalled and not item.stalled:
            logger.warning("job %s (%s) stalled: no progress and no message for %.0fs (stall_after=%gs); its "
                           "process is alive", job.id, job.job_type, quiet, limit)
        elif item.stalled and not stalled and job.status is JobStatus.RUNNING:
            logger.warning("job %s (%s) moves again", job.id, job.job_type)
        item.stalled = stalled

    def reap(self) -> None:
        """Stale jobs of any process, and queued jobs the engine lost."""
        self.runner.reap_stale()
        self.reap_lost()

    def reap_lost(self, now: float | None = None) -> list[str]:
        """Fail the queued jobs the executor's engine says it lost (asked only about jobs queued longer than
        ``stale_after``); each exactly once. Returns their ids."""
        runner, store = self.runner, self.runner.store
        if runner.executor.runs_in_process:
            return []
        now = time.time() if now is None else now
        # A job waiting for its next attempt is with no engine until it is due, by design: not lost.
        waiting = [j for j in store.get_active_jobs(messages=False)
                   if j.status is JobStatus.QUEUED and j.retry_at is None
                   and now - (j.queued_time or j.start_time) > store.stale_after]
        if not waiting:
            return []
        failed = []
        for job_id, why in runner.executor.lost(waiting).items():
            if store.fail_lost(job_id, f"Job lost while queued: {why}"):
                logger.warning("failed lost queued job %s: %s", job_id, why)
                failed.append(job_id)
        return failed


    def schedules(self) -> None:
        """Fire the due schedule occurrences (:mod:`jobdeck.runtime.scheduling`) and remember the earliest next
        one, to wake for it. Nothing while the runner is shutting down."""
        with self._lock:
            self._next_schedule = None  # a round that fails must not leave a past time to wake for at once
        if self.runner.closing:
            return
        upcoming = self.runner.fire_schedules()
        with self._lock:
            self._next_schedule = upcoming

    def retries(self, now: float | None = None) -> list[str]:
        """Start the due retries of the types the runner runs (each through the runner's ``start_retry``, one job's
        trouble never another's) and remember the earliest one still to come, to wake for it. Returns the ids of
        the retries this process started. Nothing while the runner is shutting down."""
        runner = self.runner
        if runner.closing:
            return []
        now = time.time() if now is None else now
        types = runner.retry_types()
        if not types:
            return []
        upcoming: float | None = None
        started = []
        for job in runner.store.get_active_jobs(messages=False):
            if job.status is not JobStatus.QUEUED or job.retry_at is None or job.job_type not in types:
                continue
            if job.retry_at > now:
                upcoming = job.retry_at if upcoming is None else min(upcoming, job.retry_at)
                continue
            try:
                if runner.start_retry(job):
                    started.append(job.id)
            except StoreError:
                raise  # the store is away: the loop logs the outage once and tries again next round
            except Exception:
                logger.exception("could not start the next attempt of job %s", job.id)
        with self._lock:
            # What the store showed replaces what was known, unless this process learnt of a sooner one meanwhile.
            if self._next_due is None or self._next_due <= now or (upcoming is not None and upcoming < self._next_due):
                self._next_due = upcoming
        return started
