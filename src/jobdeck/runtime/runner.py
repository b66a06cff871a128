"""JobRunner: registered job types, really executed, always brought to a terminal state.

    runner = JobRunner(store)

    @runner.job("ArgumentCondensation", title="Condense arguments", timeout=3600)
    def condense(ctl, question_ids=()):
        ...
        return {"condensed": 12}          # -> completed, result kept

    job = runner.start("ArgumentCondensation", author="admin@example.com", params={"question_ids": [1, 2]})

Where handlers run is the executor's business (:mod:`jobdeck.executors`): by default each job runs in its own
thread of this process (:class:`~jobdeck.executors.LocalExecutor`); with a task engine's executor the job is
created ``queued`` and a worker of the engine runs it through :meth:`JobRunner.run_job`.
While handlers run, a supervisor thread (:mod:`jobdeck.runtime.supervision`) heartbeats them, enforces timeouts and the
abort grace period, and reaps stale jobs of any process.

This module is the facade and holds the rules of a job's life (start, abort, rerun, wait, shutdown, reaping); the
parts live next to it: the job types in :mod:`~jobdeck.runtime.registry`, one run of a handler and the recording of
its outcome in :mod:`~jobdeck.runtime.execution`, a start bounded by ``start_timeout`` in
:mod:`~jobdeck.runtime.creation`. Executors and the supervisor see the runner through the protocols they declare
(:class:`jobdeck.executors.base.Host`, :class:`jobdeck.runtime.supervision.Supervised`), so that none imports it.
Threads cannot be killed: a handler that ignores abort is failed in the store after the grace period and its
later writes are refused, but the thread itself runs on until it returns.

A store that is away for a while does not end a job (see "When the store is away" in the docs): the
controller goes on without it inside the store's ``stale_after``, the job's outcome is recorded once the store
is back (retried for ``store_retry`` seconds), and a start gives up after ``start_timeout`` seconds (the API
answers 503) instead of waiting for the store's own timeouts.
"""

# Long: the facade is one class, every public method with the docstring its users read (starting, running on a
# worker, aborting, re-running and resuming, retries, supervision, shutdown); the parts it rules over live in the
# modules named above.

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Mapping
from datetime import timedelta
from typing import Any, Unpack

from ..core.budget import Budget
from ..core.checks import EXTERNAL_OWNER, TimeLike, new_owner_token
from ..core.errors import (
    EnqueueError,
    ExecutorError,
    InvalidArgumentError,
    JobdeckError,
    JobNotFoundError,
    UnknownJobTypeError,
)
from ..core.jobtype import Handler, JobType
from ..core.model import JobInfo, JobStatus
from ..core.schedule import DEFAULT_MISFIRE_GRACE, ScheduleSpec
from ..core.usage import Prices, check_prices
from ..executors.base import Executor
from ..executors.local import LocalExecutor
from ..stores.base import Store
from . import recovery
from .creation import create_bounded
from .defaults import get_default_store
from .execution import EventLoopThread, Execution, job_head
from .forking import renew_after_fork
from .registry import ExternalTypeOptions, JobTypeOptions, JobTypes
from .scheduling import Scheduler
from .spend import budgeted
from .supervision import RunningJob, Supervisor
from .tracing import carrier_context, start_job_trace
from .workers import WorkerBeacon

__all__ = ["JobRunner", "JobType"]

logger = logging.getLogger("jobdeck.runner")


class JobRunner:
    """Runs registered handlers for jobs in ``store`` and guarantees each job ends terminal."""

    def __init__(
        self,
        store: Store | None = None,
        *,
        abort_grace: float = 30.0,
        heartbeat_interval: float | None = None,
        reap: bool = True,
        store_retry: float = 120.0,
        executor: Executor | str | None = None,
        start_timeout: float | None = 5.0,
        prices: Prices | None = None,
    ) -> None:
        """``start_timeout``: how long :meth:`start` waits for the store to create a job before it raises
        StoreError (None: as long as the store's own timeouts let it); a job the store creates after that is
        failed at once and never runs. ``prices``: ``{model: {"input": dollars, "output": dollars}}`` per million
        tokens, what ``ctl.usage()`` computes a cost from when it is given none (docs/spend.md)."""
        self.prices = check_prices(prices) if prices is not None else None
        if start_timeout is not None and (isinstance(start_timeout, bool) or not isinstance(start_timeout, int | float)
                                          or start_timeout <= 0):
            raise InvalidArgumentError(f"start_timeout must be positive seconds or None, got {start_timeout!r}")
        self.start_timeout = start_timeout
        self.store = store if store is not None else get_default_store()
        self.abort_grace = abort_grace
        # Several beats fit into one stale window, so a busy machine missing one is not taken for dead.
        self.heartbeat_interval = heartbeat_interval or min(10.0, max(0.05, self.store.stale_after / 6))
        self.reap = reap
        # How long recording a job's outcome is retried while the store is unreachable.
        self.store_retry = store_retry
        self._owner, self._owner_pid = new_owner_token(), os.getpid()
        self._types = JobTypes()
        self._lock = threading.Lock()
        self._closing = False
        # start() and run_job() calls between the closing check and registering their job; shutdown() waits
        # for them.
        self._starting = 0
        self._started = threading.Condition(self._lock)
        self._worker: WorkerBeacon | None = None  # set when a worker starts (start_supervisor(concurrency=...))
        self._supervision = Supervisor(self)
        #: The schedules (``runner.schedule`` defines code ones; the API's admin operations go through it).
        self.scheduler = Scheduler(self)
        self._loop = EventLoopThread()  # the one event loop of the async handlers, started on first use
        self.executor: Executor = LocalExecutor()
        self.set_executor(executor if executor is not None else self.executor)
        renew_after_fork(self)

    def _after_fork(self) -> None:
        """In a forked child: fresh locks (a thread of the parent may have held one at the instant of the fork)
        and nothing in flight (the event loop renews itself: its thread stayed in the parent)."""
        self._lock = threading.Lock()
        self._started = threading.Condition(self._lock)
        self._starting = 0

    def set_executor(self, executor: Executor | str) -> None:
        """Choose where handlers run: an :class:`~jobdeck.executors.Executor` or its URL (``local://``,
        ``celery+redis://...``). Refused (ExecutorError) for a task engine when the store is not shared with
        other processes (a memory store), since its workers could not see the jobs."""
        if isinstance(executor, str):
            from ..executors import open_executor

            executor = open_executor(executor)
        if not isinstance(executor, Executor):
            raise ExecutorError(f"executor must be an Executor or an executor URL, got {type(executor).__name__}")
        if not executor.runs_in_process and not self.store.shared:
            raise ExecutorError(f"the {executor.name} executor runs jobs in other processes, which cannot see a "
                                f"{self.store.scheme} store; use a shared store (sqlite:///path/jobs.db on one "
                                "machine, redis://host:6379/0 across machines)")
        executor.attach(self)
        self.executor = executor

    @property
    def owner(self) -> str:
        """``host:pid:token`` of this process, as jobs it runs record it (a forked worker process gets its own)."""
        if os.getpid() != self._owner_pid:
            self._owner, self._owner_pid = new_owner_token(), os.getpid()
        return self._owner

    # ------------------------------------------------------------------ registry

    def register(self, job_type: str, handler: Handler | None = None, **options: Unpack[JobTypeOptions]) -> Any:
        """Register ``handler(controller, **params)`` (sync or async) for ``job_type``; usable as a decorator.

        ``capture_logs``: ``logging`` records emitted while the handler runs (on its thread, or in its tasks)
        become the job's messages (see :mod:`jobdeck.runtime.logcapture`).

        ``requeue_on_worker_lost=N``: when the task engine's worker running a job of this type dies (its
        heartbeats stop for the store's ``stale_after``), the stale reaper puts the job back in the queue, same
        id, ``attempt`` one higher, up to N times, instead of failing it; another worker then runs it from the
        start. Only for handlers that may run again (Celery's ``acks_late`` with ``reject_on_worker_lost``,
        procrastinate's retry of stalled jobs). The default 0 never re-runs a job. A job the local executor runs
        dies with its server process and is never re-run, whatever this says.

        ``retry=Retry(attempts=5, backoff=30, max_backoff=900, jitter=True, on=(Exception,))``
        (:class:`jobdeck.Retry`): a run that raises an exception matching ``on`` (or
        :class:`~jobdeck.RetryLater`) while attempts are left puts the same job back in the queue for its next
        attempt, with one warning naming the attempt and the error; the next attempt starts in exactly one process
        once it is due (here, or on an engine's worker), sees what earlier attempts saved and finished
        (:meth:`PipelineController.save`, :meth:`~PipelineController.is_done`), and its progress starts from theirs.
        An abort, a timeout, stale reaping and shutdown never retry. None (the default): one attempt.

        ``stall_after`` (seconds, default 600, None: never): a running job that neither changes its progress nor
        sends a message for that long while its process heartbeats is diagnosed ``stalled`` (one log line here,
        one ``job.stalled`` webhook, the ``jobdeck_jobs_stalled`` gauge); it is not failed.

        The other options (their defaults and checks are :meth:`jobdeck.runtime.registry.JobTypes.register`'s):
        ``title`` (the type's name) and ``description``, each a string or one per language
        (``title={"en": "Import", "fi": "Tuonti"}``: the dashboard and the API's ``/types`` answer in the viewer's
        language, English when it has no entry; see :func:`jobdeck.add_catalog` for a catalog instead),
        ``max_concurrent=1``, ``timeout`` (seconds, None for none),
        ``params`` (parameter names to defaults)."""
        return self._types.register(job_type, handler, **options)

    job = register

    def register_external(self, job_type: str, **options: Unpack[ExternalTypeOptions]) -> None:
        """Register a type whose jobs run elsewhere: ``start`` creates the job and runs nothing; the process
        that does the work reports over the HTTP API (``jobdeck.client.RemoteController``, or plain requests to
        ``/single/{id}/report``). A reporter silent for the store's ``stale_after`` is failed as stale."""
        self._types.register_external(job_type, **options)

    @property
    def types(self) -> list[JobType]:
        """Every registered type, in the order they were first registered."""
        return self._types.all()

    def get_type(self, job_type: str) -> JobType:
        """The registered type ``job_type``; UnknownJobTypeError (naming the known ones) if there is none."""
        return self._types.get(job_type)

    # ------------------------------------------------------------------ running

    def schedule(self, schedule_id: str, job_type: str, *, cron: str | None = None,
                 every: float | timedelta | None = None, timezone: str = "UTC", params: Any = None,
                 overlap: str = "skip", misfire_grace: float | timedelta = DEFAULT_MISFIRE_GRACE) -> None:
        """Start a job of ``job_type`` on a schedule, in whichever process of the store runs the type, once per
        occurrence however many do (docs/schedules.md)::

            runner.schedule("nightly-condense", "ArgumentCondensation", cron="0 3 * * *",
                            timezone="Europe/Helsinki", params={"question_ids": [1]})
            runner.schedule("import", "Import", every=timedelta(minutes=15), overlap="queue")

        ``cron`` (five fields, evaluated on ``timezone``'s wall clock) or ``every`` (seconds or a timedelta);
        ``overlap``: ``skip`` an occurrence while a job of the schedule runs or the type is at ``max_concurrent``,
        or ``queue`` it (at most one waits); occurrences missed by less than ``misfire_grace`` (an hour) start once,
        older ones are counted as missed. Checked now (InvalidArgumentError, InvalidParamsError naming the field,
        UnknownJobTypeError: register the type first); written into the store when the supervisor starts
        (:meth:`start_supervisor`; ``jobdeck serve`` and ``jobdeck worker`` start it), a changed definition updating
        the stored one and a code schedule no longer defined being disabled."""
        self.scheduler.define(ScheduleSpec.build(schedule_id, job_type, cron=cron, every=every, timezone=timezone,
                                                 params=params, overlap=overlap, misfire_grace=misfire_grace))

    def type_names(self) -> frozenset[str]:
        """The types whose schedules this runner fires: every type whose handler it has."""
        return self._types.runnable()

    def fire_schedules(self, now: float | None = None) -> float | None:
        """Start the due occurrences of the schedules of this runner's types now (the supervisor does it on its
        own); returns the earliest next occurrence."""
        return self.scheduler.fire(now)

    def wake(self) -> None:
        """Have the supervisor look at the schedules and due jobs now (after a schedule was added, changed or run
        now), starting it if it was not running yet, as a start does."""
        self._supervision.ensure_started()
        self._supervision.wake()

    def start(self, job_type: str, author: str, params: Any = None, *, rerun_of: str | None = None,
              run_at: TimeLike | None = None, budget: Budget | None = None) -> JobInfo:
        """Create the job and have its handler run: in the background here, or queued for the executor's workers.

        Raises UnknownJobTypeError, JobConflictError (``max_concurrent`` reached, checked atomically in the
        store so that it holds across processes; queued jobs count), InvalidParamsError (a ValueError) naming
        the parameter that does not fit -- before anything is created -- and EnqueueError when the task engine
        did not take the job (which is then failed, not left queued). ``rerun_of`` records the job this one
        re-runs. ``budget``: this job's :class:`~jobdeck.Budget` instead of its type's, within the type's
        ``max_budget`` (InvalidArgumentError beyond it).

        ``run_at`` (a datetime, ISO text or POSIX seconds): a one-off start later. The job is created ``queued``
        with ``runAt`` now (it holds a slot of ``max_concurrent`` while it waits) and started when due by whichever
        process runs the type, exactly once (as a due retry is); aborting it before then ends it ``aborted``.
        """
        if run_at is not None:
            return self._start_later(job_type, author, params, run_at, budget)
        return self._start(job_type, author, params, rerun_of=rerun_of, budget=budget)

    def _start_later(self, job_type: str, author: str, params: Any, run_at: TimeLike,
                     budget: Budget | None = None) -> JobInfo:
        spec = self.get_type(job_type)
        if spec.external:
            raise InvalidArgumentError(f"{job_type} is an external type (its jobs run elsewhere): it cannot be "
                                       "started later (run_at)", "run_at")
        spec.check_params(params)
        keep_budget = budgeted(self.store, spec.start_budget(budget), lambda job: job)
        job = create_bounded(self.store, self.start_timeout, lambda: keep_budget(self.store.create_job(
            job_type, author, params if params is not None else {}, max_active=spec.max_concurrent,
            max_attempts=spec.max_attempts, run_at=run_at)))
        if job.retry_at is not None:
            self._supervision.wake_at(job.retry_at)
        self._supervision.ensure_started()
        return job

    def _start(self, job_type: str, author: str, params: Any = None, *, rerun_of: str | None = None,
               resumed_from: str | None = None, budget: Budget | None = None) -> JobInfo:
        """:meth:`start`; ``resumed_from``: the job whose saved values the new one takes over before it can run."""
        spec = self.get_type(job_type)
        spec.check_params(params)
        taking_over = budgeted(self.store, spec.start_budget(budget), recovery.taking_over(self.store, resumed_from))
        if spec.external:  # runs elsewhere: nothing to run, supervise or wait for here
            return create_bounded(self.store, self.start_timeout, lambda: taking_over(self.store.create_job(
                job_type, author, params if params is not None else {}, max_active=spec.max_concurrent,
                owner=EXTERNAL_OWNER, rerun_of=rerun_of, resumed_from=resumed_from)))
        executor = self.executor
        local = executor.runs_in_process
        if not self._begin():
            raise JobdeckError("the runner is shutting down and starts no new jobs")

        def create() -> JobInfo:
            return taking_over(self.store.create_job(
                job_type, author, params if params is not None else {}, max_active=spec.max_concurrent,
                owner=self.owner if local else None, queued=not local, rerun_of=rerun_of,
                max_attempts=spec.max_attempts, resumed_from=resumed_from))

        running = None
        try:
            # An engine sharing the store's database writes the job and its queue entry in one transaction
            # (observed once it has committed: a rolled-back job is counted nowhere).
            together = None
            if not local:
                with self.store.observations_held():
                    together = executor.create_and_submit(create, spec)
            job = together if together is not None else create_bounded(self.store, self.start_timeout, create)
            if local:
                running = RunningJob(job.id, spec, time.monotonic(), trace=start_job_trace(job))
        finally:
            if running is not None:
                self._supervision.add(running)
            self._end()
        if local:
            executor.submit(job, spec)
            return job
        self._supervision.ensure_started()  # the reaper watches queued jobs for the engine losing them
        if together is not None:
            return together
        try:
            executor.submit(job, spec)
        except Exception as exc:
            reason = f"{type(exc).__name__}: {exc}" if not isinstance(exc, ExecutorError) else str(exc)
            try:
                self.store.fail_job(job.id, f"Job could not be queued on {executor.name}: {reason}")
            except JobdeckError:
                logger.exception("could not fail job %s after its enqueue failed", job.id)
            raise EnqueueError(job.id, reason) from exc
        return job

    def _begin(self) -> bool:
        """A start (or claim) is in flight until :meth:`_end`: shutdown() waits for it, so that the job it
        registers is asked to stop like the others. False when the runner is shutting down already."""
        with self._lock:
            if self._closing:
                return False
            self._starting += 1
            return True

    def _end(self) -> None:
        with self._lock:
            self._starting -= 1
            self._started.notify_all()

    def execute(self, job: JobInfo, *, wait: bool, trace_parent: Any = None) -> None:
        """Run the handler of ``job``, already ``running`` and owned by this runner: in a thread of its own
        (``wait=False``, the local executor) or in the calling thread until it ends (``wait=True``, a worker).
        The job ends terminal whatever the handler does. ``trace_parent``: the trace context of the job's span
        (the current one if None)."""
        spec = self.get_type(job.job_type)
        kwargs = spec.check_params(job.params)
        running = self._supervision.get(job.id)  # registered by start() already for a local job
        if running is None:
            running = self._supervision.add(RunningJob(job.id, spec, time.monotonic(),
                                                       trace=start_job_trace(job, trace_parent), attempt=job.attempt,
                                                       progress=job.progress))
        self._supervision.ensure_started()
        execution = Execution(running, kwargs, self.store, store_retry=self.store_retry,
                              release=self._supervision.discard, retry_at=self._supervision.wake_at,
                              prices=self.prices)
        if spec.is_async:
            future = self._loop.submit(execution.run_async())
            if wait:
                future.result()
        elif wait:
            execution.run()
        else:
            threading.Thread(target=execution.run, name=f"jobdeck-{job.job_type}-{job.id[:8]}", daemon=True).start()

    def run_job(self, job_id: str, trace: Mapping[str, str] | None = None, *,
                outcome: bool = True) -> JobInfo | None:
        """The worker side of every task engine: claim the queued job ``job_id`` and run its handler here.
        ``trace``: the carrier the task brought (:func:`jobdeck.runtime.tracing.trace_carrier`), whose context becomes
        the parent of the job's span.

        Returns the job as it ended (its newest message of each kind), or None when there was nothing to run: the job is
        no longer queued (aborted while it waited, claimed by another delivery of the same task, failed as lost)
        or no longer exists, or this runner is shutting down (the job then stays queued for another worker).
        ``outcome=False``: return None without reading the ended job back -- for a caller that drops the result
        (the Celery task), it saves a store read per job.
        A job whose type this worker does not know, or whose params no longer fit, is failed with a message
        saying so. The handler runs in the calling thread; this runner's supervisor heartbeats it meanwhile.
        """
        if not self._begin():
            return None
        problem: Exception | None = None
        try:
            job = self.store.claim_job(job_id, self.owner)
            if job is not None:
                try:
                    spec = self.get_type(job.job_type)
                    spec.check_params(job.params)
                except (UnknownJobTypeError, ValueError) as exc:
                    problem = exc
                else:
                    # Registered before shutdown() may look: it then asks this job to stop like the others.
                    self._supervision.add(RunningJob(job.id, spec, time.monotonic(),
                                                     trace=start_job_trace(job, carrier_context(trace)),
                                                     attempt=job.attempt, progress=job.progress))
        finally:
            self._end()
        if job is None:
            logger.info("job %s is no longer queued; dropped", job_id)
            return None
        if problem is not None:
            self.store.fail_job(job_id, f"worker {self.owner} cannot run it: {problem}")
        else:
            self.execute(job, wait=True)
        return self._ended(job_id) if outcome else None

    def _ended(self, job_id: str) -> JobInfo | None:
        try:
            # With the newest message of each kind (the error that ended it), not the whole log: every engine's
            # task only needs the outcome, and a long log would be read for nothing at the end of every job.
            return self.store.require_job(job_id, messages=1)
        except JobNotFoundError:
            return None

    def abort(self, job_id: str, reason: str | None = None, *, by: str | None = None) -> bool:
        """:meth:`Store.request_abort <jobdeck.Store.request_abort>`, plus the engine's own cancel when the job
        was still queued (it is ``aborted`` at once and never starts)."""
        before = self.store.require_job(job_id, messages=False) if not self.executor.runs_in_process else None
        done = self.store.request_abort(job_id, reason, by=by)
        if done and before is not None and before.status is JobStatus.QUEUED:
            self.executor.cancel(job_id)
        return done

    def rerun(self, job_id: str, author: str, params: Mapping[str, Any] | None = None) -> JobInfo:
        """Start a new job of ``job_id``'s type with its params, ``params`` replacing some of them.

        The new job's ``rerun_of`` is ``job_id``. Raises JobNotFoundError, and whatever :meth:`start` raises.
        """
        original = self.store.require_job(job_id, messages=False)
        merged = dict(original.params) if isinstance(original.params, dict) else {}
        merged.update(params or {})
        return self.start(original.job_type, author, merged, rerun_of=original.id)

    def resume(self, job_id: str, author: str) -> JobInfo:
        """Start a new job of the failed or aborted job ``job_id``'s type with its params, which takes over what
        that job saved and the operations it finished (:meth:`PipelineController.saved`,
        :meth:`~PipelineController.is_done`) before it can run: its ``rerun_of`` and ``resumed_from`` are
        ``job_id``, and the old job stays as it was. A job that saved nothing resumes as a plain re-run.

        Raises JobNotFoundError for an unknown id, JobConflictError while the job is still active (or when it
        completed: there is nothing to resume), and whatever :meth:`start` raises."""
        original = self.store.require_job(job_id, messages=False)
        known = original.job_type in self._types.names()
        recovery.check_resumable(original, self.get_type(original.job_type).max_concurrent if known else 1)
        params = dict(original.params) if isinstance(original.params, dict) else {}
        return self._start(original.job_type, author, params, rerun_of=original.id, resumed_from=original.id)

    def wait(self, job_id: str, timeout: float | None = None) -> JobInfo:
        """Block until this runner's handler for ``job_id`` has ended (or ``timeout``); returns the job."""
        running = self._supervision.get(job_id)
        if running is not None:
            running.done.wait(timeout)
        return self.store.require_job(job_id)

    @property
    def closing(self) -> bool:
        """True once :meth:`shutdown` began: the runner starts and claims no new job."""
        return self._closing

    @property
    def running_ids(self) -> list[str]:
        return [item.job_id for item in self._supervision.jobs()]

    # ------------------------------------------------------------------ supervision

    def start_supervisor(self, *, concurrency: int | None = None, worker: bool = False) -> None:
        """Start heartbeats and the stale-job reaper now (``start`` does it on demand). ``worker``: this process
        serves the executor's queue, ``concurrency`` jobs at once (it appears in the worker registry as such)."""
        if worker:
            self._worker = WorkerBeacon(self.executor.name, concurrency)
        self._supervision.ensure_started()

    @property
    def beacon(self) -> WorkerBeacon | None:
        """How this process appears in the worker registry: as a worker once one started here, as the local
        executor's process while handlers run here; None for a runner that only queues jobs for an engine."""
        if self._worker is None and self.executor.runs_in_process:
            self._worker = WorkerBeacon(self.executor.name, None)
        return self._worker

    def tick(self) -> None:
        """One round of supervision: heartbeats, timeouts, abort grace (:mod:`jobdeck.runtime.supervision`)."""
        self._supervision.tick()

    def reap_stale(self) -> list[str]:
        """Fail the stale jobs of any process, each exactly once (the store's atomic step decides), except that
        a job whose task-engine worker died goes back to the queue if its type's ``requeue_on_worker_lost``
        allows another attempt: the engine is then handed the job again. Returns the ids of both kinds."""
        executor = self.executor
        requeue = {} if executor.runs_in_process else self._types.requeueable()
        reaped = self.store.reap_stale(alive_owner=self.owner, requeue=requeue)
        for job_id in reaped:
            job = job_head(self.store, job_id) if requeue else None
            if job is None or job.status.is_terminal:
                logger.warning("failed stale job %s", job_id)
            elif job.status is JobStatus.QUEUED:
                self._resubmit(job)
        return reaped

    def _resubmit(self, job: JobInfo, *, retry: bool = False) -> None:
        """Hand a job re-queued after its worker died (``retry``: whose next attempt is due) to the engine again;
        fail it if the engine refuses."""
        executor = self.executor
        try:
            executor.resubmit(job, self.get_type(job.job_type))
        except Exception as exc:
            reason = f"{type(exc).__name__}: {exc}" if not isinstance(exc, ExecutorError) else str(exc)
            if self.store.fail_lost(job.id, f"Job could not be re-queued on {executor.name}: {reason}"):
                logger.error("job %s could not be re-queued on %s: %s", job.id, executor.name, reason)
            return
        if not retry:
            logger.warning("re-queued job %s (attempt %d) after its worker died", job.id, job.attempt)

    def retry_types(self) -> frozenset[str]:
        """The types whose due retries this runner starts: every type whose handler it has."""
        return self._types.runnable()

    def start_retry(self, job: JobInfo) -> bool:
        """Start the next attempt of ``job``, a ``queued`` job whose ``retry_at`` is due, if this process wins it
        (the store's atomic step: of several processes that found it due, one does). The local executor claims it
        and runs its handler here; a task engine's executor clears its ``retry_at`` and hands it to the engine,
        whose worker claims and runs it (the job is failed if the engine refuses it). True if this process started
        it."""
        if self._closing or job.retry_at is None:
            return False
        spec = self.get_type(job.job_type)
        if self.executor.runs_in_process:
            if not self._begin():
                return False
            try:
                claimed = self.store.claim_job(job.id, self.owner)
                if claimed is not None:
                    self._supervision.add(RunningJob(claimed.id, spec, time.monotonic(),
                                                     trace=start_job_trace(claimed), attempt=claimed.attempt,
                                                     progress=claimed.progress))
            finally:
                self._end()
            if claimed is None:
                return False
            logger.info("job %s: attempt %d of %d starts", claimed.id, claimed.attempt, claimed.max_attempts)
            self.execute(claimed, wait=False)
            return True
        if not self.store.claim_retry_dispatch(job.id, job.retry_at):
            return False
        logger.info("job %s: attempt %d of %d handed to %s", job.id, job.attempt, job.max_attempts, self.executor.name)
        self._resubmit(job, retry=True)
        return True

    def retry_due(self, now: float | None = None) -> list[str]:
        """Start the due retries of this runner's types now (the supervisor does it on its own, waking for the
        earliest due time); the ids of those this process started."""
        return self._supervision.retries(now)

    def reap_lost(self, now: float | None = None) -> list[str]:
        """Fail the queued jobs the executor's engine says it lost (asked only about jobs queued longer than
        ``stale_after``); each exactly once. Returns their ids."""
        return self._supervision.reap_lost(now)

    def shutdown(self, grace: float = 10.0, reason: str = "server shutting down") -> list[str]:
        """Ask every job this process runs to abort, wait up to ``grace`` seconds, fail what is still active.

        Returns the ids of the jobs that had to be failed. No job of this runner is left active afterwards.
        Queued jobs are not touched: they wait for the engine's workers, which do not depend on this process.
        """
        with self._lock:
            self._closing = True
            # A start() past its closing check creates its job now: wait for it to be registered, so that it
            # is asked to stop like the others.
            self._started.wait_for(lambda: self._starting == 0, timeout=grace)
            running = self._supervision.jobs()
        for item in running:
            try:
                self.store.request_abort(item.job_id, reason)
            except JobdeckError:
                logger.exception("could not request abort of job %s", item.job_id)
        deadline = time.monotonic() + grace
        for item in running:
            item.done.wait(max(0.0, deadline - time.monotonic()))
        forced = []
        for item in running:
            try:
                job = self.store.get_job(item.job_id)
                if job is not None and job.is_active:
                    self.store.fail_job(item.job_id, f"Job did not stop within {grace:g}s ({reason})")
                    forced.append(item.job_id)
            except JobdeckError as exc:  # the store is unreachable: the stale reaper will end the job
                logger.error("could not fail job %s at shutdown: %s", item.job_id, exc)
        self._supervision.stop(timeout=5)
        self._loop.stop(timeout=5)
        try:
            self.executor.shutdown(grace)
        except Exception:
            logger.exception("the %s executor did not shut down cleanly", self.executor.name)
        self.store.flush()
        return forced

