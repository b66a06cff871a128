"""Supervision of a runner's jobs: heartbeats, timeouts, the abort grace, stale and lost jobs, store outages.

A :class:`~jobdeck.JobRunner` decides what happens to a job; this module keeps it honest while the handler runs.
One daemon thread per runner process:

- heartbeats every job this process runs, so that a long silent step is not taken for a dead process;
- asks a job past its type's ``timeout`` to abort, and fails one still active ``abort_grace`` after the abort;
- reaps the stale jobs of any process (the store's atomic step makes each reaping happen once), and asks the
  executor's engine which long-queued jobs it lost;
- logs a store outage once when it starts and once when it ends, never once per round.

:func:`persist` is the same patience for the write that records a job's outcome.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ParamSpec, TypeVar

from .errors import StoreError
from .jobtype import JobType
from .model import JobStatus
from .tracing import JobTrace

if TYPE_CHECKING:
    from .runner import JobRunner

__all__ = ["RunningJob", "Supervisor", "persist"]

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


def persist(what: str, patience: float, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """``fn(*args)``, retried while the store is unreachable (StoreError) for up to ``patience`` seconds: an
    outcome must not be lost to an outage that ends. One log line when the trouble starts, one when it ends; the
    StoreError is raised when it does not end in time."""
    deadline = time.monotonic() + patience
    pause, failures = 0.05, 0
    while True:
        try:
            value = fn(*args, **kwargs)
        except StoreError as exc:
            failures += 1
            if time.monotonic() + pause > deadline:
                logger.error("%s: gave up after %d attempts over %gs: %s", what, failures, patience, exc)
                raise
            if failures == 1:
                logger.warning("%s failed, retrying for up to %gs: %s", what, patience, exc)
            time.sleep(pause)
            pause = min(2 * pause, 2.0)
            continue
        if failures:
            logger.warning("%s succeeded after %d failed attempt(s)", what, failures)
        return value


class Supervisor:
    """The jobs a runner runs in this process, and the thread that watches them and the store."""

    def __init__(self, runner: JobRunner) -> None:
        self.runner = runner
        self._jobs: dict[str, RunningJob] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

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
        if self._thread is not None:
            self._thread.join(timeout=timeout)

    def _loop(self) -> None:
        runner = self.runner
        next_reap = 0.0
        failures, since = 0, 0.0
        while not self._stop.wait(runner.heartbeat_interval):
            try:
                self.tick()
                if runner.reap and time.monotonic() >= next_reap:
                    self.reap()
                    next_reap = time.monotonic() + max(runner.heartbeat_interval, runner.store.stale_after / 4)
            except Exception as exc:  # a store hiccup must not kill supervision; the next tick retries
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

    # ------------------------------------------------------------------ one round

    def tick(self) -> None:
        """Heartbeats, timeouts and the abort grace of the jobs running here."""
        runner, store = self.runner, self.runner.store
        now_mono, now = time.monotonic(), time.time()
        for item in self.jobs():
            job_id, spec = item.job_id, item.job_type
            job = store.get_job(job_id)
            if job is None or not job.is_active or job.attempt != item.attempt:
                continue  # ended, or re-queued while this process could not reach the store: not ours any more
            store.heartbeat(job_id, runner.owner)
            if spec.timeout is not None and not item.timed_out and now_mono - item.started > spec.timeout:
                item.timed_out = True
                store.request_abort(job_id, f"timeout: the job ran longer than {spec.timeout:g}s")
            elif job.status is JobStatus.ABORTING and job.abort_time is not None \
                    and now - job.abort_time > runner.abort_grace:
                why = "its timeout" if item.timed_out else "the abort request"
                store.fail_job(job_id, f"Job did not stop within {runner.abort_grace:g}s of {why}; "
                                       "it was marked failed and its handler abandoned")

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
        waiting = [j for j in store.get_active_jobs(messages=False)
                   if j.status is JobStatus.QUEUED and now - (j.queued_time or j.start_time) > store.stale_after]
        if not waiting:
            return []
        failed = []
        for job_id, why in runner.executor.lost(waiting).items():
            if store.fail_lost(job_id, f"Job lost while queued: {why}"):
                logger.warning("failed lost queued job %s: %s", job_id, why)
                failed.append(job_id)
        return failed
