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
abort grace period, and reaps stale jobs of any process; this module holds the rules of a job's life.
Threads cannot be killed: a handler that ignores abort is failed in the store after the grace period and its
later writes are refused, but the thread itself runs on until it returns.

A store that is away for a while does not end a job (see "When the store is away" in the docs): the
controller goes on without it inside the store's ``stale_after``, the job's outcome is recorded once the store
is back (retried for ``store_retry`` seconds), and a start gives up after ``start_timeout`` seconds (the API
answers 503) instead of waiting for the store's own timeouts.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import os
import threading
import time
import weakref
from collections.abc import Callable, Mapping
from contextlib import nullcontext
from typing import Any, ParamSpec, TypeVar

from ..core.checks import EXTERNAL_OWNER, new_owner_token
from ..core.errors import (
    AbortError,
    EnqueueError,
    ExecutorError,
    InvalidArgumentError,
    JobdeckError,
    JobNotFoundError,
    StoreError,
    UnknownJobTypeError,
)
from ..core.jobtype import Handler, JobType
from ..core.jsoncodec import safe_text
from ..core.model import JobInfo, JobStatus
from ..executors.base import Executor
from ..executors.local import LocalExecutor
from ..stores.base import Store
from .controller import PipelineController
from .defaults import get_default_store
from .supervision import RunningJob, Supervisor, persist, persist_async
from .tracing import carrier_context, start_job_trace

__all__ = ["JobRunner", "JobType"]

logger = logging.getLogger("jobdeck.runner")

P = ParamSpec("P")
T = TypeVar("T")

def _handler(spec: JobType) -> Handler:
    if spec.handler is None:
        raise JobdeckError(f"job type {spec.name!r} is external: its jobs run elsewhere, not in this runner")
    return spec.handler


def _any_handler(ctl: PipelineController, **params: Any) -> None:
    """Stands in for an external type's handler while ``register`` checks the options."""


class _Creation:
    """One job creation that :meth:`JobRunner._create_bounded` runs in a thread of its own, and whether its caller
    stopped waiting for it (the job it creates too late must not run)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.done = threading.Event()
        self.job: JobInfo | None = None
        self.error: BaseException | None = None
        self.abandoned = False


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
    ) -> None:
        """``start_timeout``: how long :meth:`start` waits for the store to create a job before it raises
        StoreError (None: as long as the store's own timeouts let it); a job the store creates after that is
        failed at once and never runs."""
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
        self._types: dict[str, JobType] = {}
        self._lock = threading.Lock()
        self._closing = False
        # start() and run_job() calls between the closing check and registering their job; shutdown() waits
        # for them.
        self._starting = 0
        self._started = threading.Condition(self._lock)
        self._supervision = Supervisor(self)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: threading.Thread | None = None
        self.executor: Executor = LocalExecutor()
        self.set_executor(executor if executor is not None else self.executor)
        _live.add(self)

    def _after_fork(self) -> None:
        """In a forked child: fresh locks (a thread of the parent may have held one at the instant of the fork),
        nothing in flight, and no event loop (its thread stayed in the parent)."""
        self._lock = threading.Lock()
        self._started = threading.Condition(self._lock)
        self._starting = 0
        self._loop = self._loop_thread = None

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

    def register(
        self,
        job_type: str,
        handler: Handler | None = None,
        *,
        title: str | None = None,
        description: str = "",
        max_concurrent: int = 1,
        timeout: float | None = None,
        params: Mapping[str, Any] | None = None,
        capture_logs: bool = False,
        requeue_on_worker_lost: int = 0,
    ) -> Any:
        """Register ``handler(controller, **params)`` (sync or async) for ``job_type``; usable as a decorator.

        ``capture_logs``: ``logging`` records emitted while the handler runs (on its thread, or in its tasks)
        become the job's messages (see :mod:`jobdeck.runtime.logcapture`).

        ``requeue_on_worker_lost=N``: when the task engine's worker running a job of this type dies (its
        heartbeats stop for the store's ``stale_after``), the stale reaper puts the job back in the queue, same
        id, ``attempt`` one higher, up to N times, instead of failing it; another worker then runs it from the
        start. Only for handlers that may run again (Celery's ``acks_late`` with ``reject_on_worker_lost``,
        procrastinate's retry of stalled jobs). The default 0 never re-runs a job. A job the local executor runs
        dies with its server process and is never re-run, whatever this says."""
        if not isinstance(job_type, str) or not job_type.strip():
            raise InvalidArgumentError(f"job_type must be a non-empty string, got {job_type!r}")
        if isinstance(max_concurrent, bool) or not isinstance(max_concurrent, int) or max_concurrent < 1:
            raise InvalidArgumentError(f"max_concurrent must be a positive integer, got {max_concurrent!r}")
        if timeout is not None and timeout <= 0:
            raise InvalidArgumentError(f"timeout must be positive seconds, got {timeout!r}")
        if isinstance(requeue_on_worker_lost, bool) or not isinstance(requeue_on_worker_lost, int) \
                or requeue_on_worker_lost < 0:
            raise InvalidArgumentError("requeue_on_worker_lost must be how many times a job may go back to the queue "
                                       f"(an integer, 0 for never), got {requeue_on_worker_lost!r}")

        def add(fn: Handler) -> Handler:
            if not callable(fn):
                raise InvalidArgumentError(f"handler for {job_type!r} must be callable")
            self._types[job_type] = JobType(job_type, fn, title or job_type, description, max_concurrent,
                                            timeout, dict(params or {}), capture_logs=bool(capture_logs),
                                            requeue_on_worker_lost=requeue_on_worker_lost)
            return fn

        return add if handler is None else add(handler)

    job = register

    def register_external(
        self,
        job_type: str,
        *,
        title: str | None = None,
        description: str = "",
        max_concurrent: int = 1,
        params: Mapping[str, Any] | None = None,
    ) -> None:
        """Register a type whose jobs run elsewhere: ``start`` creates the job and runs nothing; the process
        that does the work reports over the HTTP API (``jobdeck.client.RemoteController``, or plain requests to
        ``/single/{id}/report``). A reporter silent for the store's ``stale_after`` is failed as stale."""
        self.register(job_type, _any_handler, title=title, description=description, max_concurrent=max_concurrent,
                      params=params)
        spec = self._types[job_type]
        self._types[job_type] = JobType(spec.name, None, spec.title, spec.description, spec.max_concurrent, None,
                                        spec.params)

    @property
    def types(self) -> list[JobType]:
        return list(self._types.values())

    def get_type(self, job_type: str) -> JobType:
        found = self._types.get(job_type)
        if found is None:
            raise UnknownJobTypeError(job_type, list(self._types))
        return found

    # ------------------------------------------------------------------ running

    def start(self, job_type: str, author: str, params: Any = None, *, rerun_of: str | None = None) -> JobInfo:
        """Create the job and have its handler run: in the background here, or queued for the executor's workers.

        Raises UnknownJobTypeError, JobConflictError (``max_concurrent`` reached, checked atomically in the
        store so that it holds across processes; queued jobs count), InvalidParamsError (a ValueError) naming
        the parameter that does not fit -- before anything is created -- and EnqueueError when the task engine
        did not take the job (which is then failed, not left queued). ``rerun_of`` records the job this one
        re-runs.
        """
        spec = self.get_type(job_type)
        spec.check_params(params)
        if spec.external:  # runs elsewhere: nothing to run, supervise or wait for here
            return self._create_bounded(lambda: self.store.create_job(
                job_type, author, params if params is not None else {}, max_active=spec.max_concurrent,
                owner=EXTERNAL_OWNER, rerun_of=rerun_of))
        executor = self.executor
        local = executor.runs_in_process
        with self._lock:
            if self._closing:
                raise JobdeckError("the runner is shutting down and starts no new jobs")
            self._starting += 1  # until the job is registered, shutdown() waits for this call

        def create() -> JobInfo:
            return self.store.create_job(job_type, author, params if params is not None else {},
                                         max_active=spec.max_concurrent, owner=self.owner if local else None,
                                         queued=not local, rerun_of=rerun_of)

        running = None
        try:
            # An engine sharing the store's database writes the job and its queue entry in one transaction
            # (observed once it has committed: a rolled-back job is counted nowhere).
            together = None
            if not local:
                with self.store.observations_held():
                    together = executor.create_and_submit(create, spec)
            job = together if together is not None else self._create_bounded(create)
            if local:
                running = RunningJob(job.id, spec, time.monotonic(), trace=start_job_trace(job))
        finally:
            with self._lock:
                if running is not None:
                    self._supervision.add(running)
                self._starting -= 1
                self._started.notify_all()
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

    def _create_bounded(self, create: Callable[[], JobInfo]) -> JobInfo:
        """``create()``, given up after ``start_timeout`` with a StoreError (the API answers 503) when the store
        does not answer: a frozen server or a stalled pool would otherwise hold the request for as long as the
        store's own timeouts, ten seconds and more. The creation runs on in its thread; a job it makes after the
        caller gave up is failed at once, so that nothing runs that nobody was told about."""
        timeout = self.start_timeout
        if timeout is None or not self.store.blocking:
            return create()
        creation = _Creation()
        context = contextvars.copy_context()  # the caller's trace context goes with the creation

        def run() -> None:
            try:
                job = context.run(create)
            except BaseException as exc:
                with creation.lock:
                    creation.error = exc
                    creation.done.set()
                return
            with creation.lock:
                creation.job, late = job, creation.abandoned
                creation.done.set()
            if late:
                try:
                    self.store.fail_job(job.id, f"Job not started: the store created it after the start had given "
                                                f"up waiting ({timeout:g}s, start_timeout) and answered an error")
                except JobdeckError:
                    logger.exception("could not fail job %s, created after its start gave up; the stale reaper "
                                     "will", job.id)
                logger.warning("job %s was created after its start gave up waiting for the store; failed", job.id)

        threading.Thread(target=run, name="jobdeck-start", daemon=True).start()
        if not creation.done.wait(timeout):
            with creation.lock:
                creation.abandoned = not creation.done.is_set()
            if creation.abandoned:
                raise StoreError(f"the store did not create the job within {timeout:g}s (start_timeout); nothing "
                                 "was started, try again when the store answers")
        if creation.job is None:  # set with done when there was no error
            raise creation.error or JobdeckError("job creation ended without a job")
        return creation.job

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
                                                       trace=start_job_trace(job, trace_parent), attempt=job.attempt))
        self._supervision.ensure_started()
        if spec.is_async:
            future = asyncio.run_coroutine_threadsafe(self._run_async(running, kwargs), self._ensure_loop())
            if wait:
                future.result()
        elif wait:
            self._run_sync(running, kwargs)
        else:
            threading.Thread(target=self._run_sync, args=(running, kwargs),
                             name=f"jobdeck-{job.job_type}-{job.id[:8]}", daemon=True).start()

    def run_job(self, job_id: str, trace: Mapping[str, str] | None = None) -> JobInfo | None:
        """The worker side of every task engine: claim the queued job ``job_id`` and run its handler here.
        ``trace``: the carrier the task brought (:func:`jobdeck.runtime.tracing.trace_carrier`), whose context becomes
        the parent of the job's span.

        Returns the job as it ended (its newest message of each kind), or None when there was nothing to run: the job is
        no longer queued (aborted while it waited, claimed by another delivery of the same task, failed as lost)
        or no longer exists, or this runner is shutting down (the job then stays queued for another worker).
        A job whose type this worker does not know, or whose params no longer fit, is failed with a message
        saying so. The handler runs in the calling thread; this runner's supervisor heartbeats it meanwhile.
        """
        with self._lock:
            if self._closing:
                return None
            self._starting += 1  # in flight like a start(): shutdown() waits until the job is registered
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
                                                     attempt=job.attempt))
        finally:
            with self._lock:
                self._starting -= 1
                self._started.notify_all()
        if job is None:
            logger.info("job %s is no longer queued; dropped", job_id)
            return None
        if problem is not None:
            self.store.fail_job(job_id, f"worker {self.owner} cannot run it: {problem}")
        else:
            self.execute(job, wait=True)
        return self._ended(job_id)

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

    def _run_sync(self, running: RunningJob, kwargs: dict[str, Any]) -> None:
        ctl = PipelineController(running.job_id, self.store, known=True, contact=running.contact)
        ctl.trace = running.trace
        try:
            with running.trace.use() if running.trace else nullcontext(), \
                    ctl.capture_logs() if running.job_type.capture_logs else nullcontext():
                outcome: Any = _handler(running.job_type)(ctl, **kwargs)
        except BaseException as exc:  # the job must end terminal whatever the handler raised
            ctl.publish_operations()  # the tree as the job left it, before its outcome
            self._log_error(running, exc)
            self._persist(self._what(running, exc), self._record, running, exc, None)
        else:
            ctl.publish_operations()
            self._persist(self._what(running, None), self._record, running, None, outcome)
        finally:
            self._finish(running)

    async def _run_async(self, running: RunningJob, kwargs: dict[str, Any]) -> None:
        # Every async job shares the runner's one event loop: whatever may wait on the store (the outcome, with
        # its retries while the store is away) runs in a worker thread, so that it never holds the others up.
        ctl = PipelineController(running.job_id, self.store, known=True, contact=running.contact)
        ctl.trace = running.trace
        try:
            with running.trace.use() if running.trace else nullcontext(), \
                    ctl.capture_logs() if running.job_type.capture_logs else nullcontext():
                outcome: Any = await _handler(running.job_type)(ctl, **kwargs)
        except BaseException as exc:
            await asyncio.to_thread(ctl.publish_operations)  # the tree as the job left it, before its outcome
            self._log_error(running, exc)
            await persist_async(self._what(running, exc), self.store_retry, self._record, running, exc, None)
        else:
            await asyncio.to_thread(ctl.publish_operations)
            await persist_async(self._what(running, None), self.store_retry, self._record, running, None, outcome)
        finally:
            await asyncio.to_thread(self._finish, running)

    def _persist(self, what: str, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        return persist(what, self.store_retry, fn, *args, **kwargs)

    def _superseded(self, running: RunningJob) -> bool:
        """Whether the job went back to the queue while this run was cut off from the store (its type allows
        ``requeue_on_worker_lost``): another attempt owns it now, and this run's outcome is not its outcome.
        Raises StoreError when the store cannot tell (the outcome's retries ask again)."""
        if not running.job_type.requeue_on_worker_lost:
            return False
        job = self._head(running.job_id)
        if job is None or job.attempt == running.attempt:
            return False
        logger.warning("job %s: attempt %d ended, but the job was re-queued meanwhile (now attempt %d); its outcome "
                       "is dropped", running.job_id, running.attempt, job.attempt)
        return True

    @staticmethod
    def _what(running: RunningJob, exc: BaseException | None) -> str:
        return f"recording the {'end' if exc is not None else 'result'} of job {running.job_id}"

    def _log_error(self, running: RunningJob, exc: BaseException) -> None:
        if not isinstance(exc, AbortError):
            logger.error("job %s (%s) failed", running.job_id, running.job_type.name, exc_info=exc)

    def _record(self, running: RunningJob, exc: BaseException | None, result: Any) -> None:
        """One attempt at recording the job's outcome: ``exc`` the handler raised, else its ``result``. Retried
        whole while the store is away, so that each attempt asks again whether another attempt owns the job."""
        if self._superseded(running):
            return
        if isinstance(exc, AbortError):
            self.store.mark_aborted(running.job_id)
        elif exc is not None:
            self.store.fail_job(running.job_id, safe_text(f"{type(exc).__name__}: {exc}"))
        else:
            try:
                self.store.complete_job(running.job_id, result)
            except InvalidArgumentError as problem:  # a result that is not JSON jobdeck can store
                self.store.fail_job(running.job_id, f"handler returned a result that cannot be stored: {problem}")

    def _finish(self, running: RunningJob) -> None:
        try:
            # A status from the cache is enough: a terminal one is final, and failing a job that is in fact
            # terminal changes nothing.
            status = self._persist(f"checking job {running.job_id}", self.store.get_status, running.job_id, 1.0)
            if status.is_active and not self._superseded(running):  # e.g. the store refused the outcome write
                self._persist(f"failing job {running.job_id}", self.store.fail_job, running.job_id,
                              "handler ended but its outcome was not recorded")
        except JobNotFoundError:
            pass  # removed meanwhile (cleanup, retention): nothing left to finish
        except Exception:
            logger.exception("could not check the final state of job %s", running.job_id)
        finally:
            if running.trace is not None:
                try:
                    running.trace.end(self._final(running) if running.trace.recording else None)
                except Exception:  # tracing never stands in the way of finishing
                    logger.exception("could not end the trace of job %s", running.job_id)
            self._supervision.discard(running.job_id)
            running.done.set()

    def _final(self, running: RunningJob) -> JobInfo | None:
        """The job as it ended, with the newest message of each kind (the span's status needs the last error)."""
        try:
            return self.store.require_job(running.job_id, messages=1)
        except JobNotFoundError:
            return None

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

    def _ensure_loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None or self._loop_thread is None or not self._loop_thread.is_alive():
                loop = asyncio.new_event_loop()
                thread = threading.Thread(target=loop.run_forever, name="jobdeck-async", daemon=True)
                thread.start()
                self._loop, self._loop_thread = loop, thread
            return self._loop

    # ------------------------------------------------------------------ supervision

    def start_supervisor(self) -> None:
        """Start heartbeats and the stale-job reaper now (``start`` does it on demand)."""
        self._supervision.ensure_started()

    def tick(self) -> None:
        """One round of supervision: heartbeats, timeouts, abort grace (:mod:`jobdeck.runtime.supervision`)."""
        self._supervision.tick()

    def reap_stale(self) -> list[str]:
        """Fail the stale jobs of any process, each exactly once (the store's atomic step decides), except that
        a job whose task-engine worker died goes back to the queue if its type's ``requeue_on_worker_lost``
        allows another attempt: the engine is then handed the job again. Returns the ids of both kinds."""
        executor = self.executor
        requeue = {} if executor.runs_in_process else {
            spec.name: spec.requeue_on_worker_lost for spec in self._types.values() if spec.requeue_on_worker_lost}
        reaped = self.store.reap_stale(alive_owner=self.owner, requeue=requeue)
        for job_id in reaped:
            job = self._head(job_id) if requeue else None
            if job is None or job.status.is_terminal:
                logger.warning("failed stale job %s", job_id)
            elif job.status is JobStatus.QUEUED:
                self._resubmit(job)
        return reaped

    def _head(self, job_id: str) -> JobInfo | None:
        """The job without its messages, or None if it is gone."""
        try:
            return self.store.require_job(job_id, messages=False)
        except JobNotFoundError:
            return None

    def _resubmit(self, job: JobInfo) -> None:
        """Hand a job re-queued after its worker died to the engine again; fail it if the engine refuses."""
        executor = self.executor
        try:
            executor.resubmit(job, self.get_type(job.job_type))
        except Exception as exc:
            reason = f"{type(exc).__name__}: {exc}" if not isinstance(exc, ExecutorError) else str(exc)
            if self.store.fail_lost(job.id, f"Job could not be re-queued on {executor.name}: {reason}"):
                logger.error("job %s could not be re-queued on %s: %s", job.id, executor.name, reason)
            return
        logger.warning("re-queued job %s (attempt %d) after its worker died", job.id, job.attempt)

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
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            if self._loop_thread is not None:
                self._loop_thread.join(timeout=5)
            if not self._loop.is_running():
                self._loop.close()
        try:
            self.executor.shutdown(grace)
        except Exception:
            logger.exception("the %s executor did not shut down cleanly", self.executor.name)
        self.store.flush()
        return forced


_live: weakref.WeakSet[JobRunner] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for runner in list(_live):
        runner._after_fork()


os.register_at_fork(after_in_child=_after_fork_in_child)
