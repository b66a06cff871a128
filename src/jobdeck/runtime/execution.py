"""One run of a job's handler in this process, and the recording of how it ended.

    execution = Execution(running, kwargs, store, store_retry=120.0, release=supervisor.discard)
    execution.run()                                    # a sync handler, in the calling thread
    loop.submit(execution.run_async())                 # an async handler, on the runner's event loop

Sync and async handlers share ONE body (:meth:`Execution._body`): the controller, the trace and log capture
around the call, then the operation tree, the outcome (retried while the store is away) and the final check that
the job ended terminal (or, for a run its type's :class:`~jobdeck.Retry` retries, waits ``queued`` for its next
attempt). The body is a coroutine that reaches blocking work only through a bridge: for an async
handler the bridge runs that work in worker threads (every async job shares one event loop, which must never wait
for one job's store); for a sync handler it runs it in place, so that the coroutine never suspends and
:meth:`Execution.run` drives it to its end with a single ``send``.
"""

from __future__ import annotations

import asyncio
import logging
import random
import threading
import time
from collections.abc import Callable, Coroutine
from concurrent.futures import Future
from contextlib import ExitStack
from typing import Any, ParamSpec, TypeVar

from ..core.errors import AbortError, InvalidArgumentError, JobdeckError, JobNotFoundError, RetryLater
from ..core.jobtype import Handler
from ..core.jsoncodec import safe_text
from ..core.model import JobInfo, JobStatus
from ..core.usage import Prices
from ..stores.base import Store
from .controller import PipelineController
from .forking import renew_after_fork
from .spend import job_budget
from .supervision import RunningJob, persist, persist_async

__all__ = ["EventLoopThread", "Execution", "job_head"]

logger = logging.getLogger("jobdeck.runner")

P = ParamSpec("P")
T = TypeVar("T")

# The clock and the dice of the retry schedule: module names, so that a test can hold them still.
_clock: Callable[[], float] = time.time
_random: Callable[[], float] = random.random
# A retried run's warning quotes this much of its error, first line only: the job's failure keeps the whole text.
MAX_ERROR_QUOTE = 500


def describe(error: BaseException) -> str:
    """The error as a retried run's warning names it: ``RateLimitError: 429 Too Many Requests`` (the first line of
    its text), or a RetryLater's reason."""
    if isinstance(error, RetryLater):
        return safe_text(error.reason.splitlines()[0] if error.reason else "RetryLater")[:MAX_ERROR_QUOTE]
    lines = str(error).splitlines()
    text = f"{type(error).__name__}: {lines[0]}" if lines and lines[0] else type(error).__name__
    return safe_text(text)[:MAX_ERROR_QUOTE]


def in_words(seconds: float) -> str:
    """``58 s``, ``0.4 s``: a delay rounded as a warning says it."""
    return f"{seconds:.0f} s" if seconds >= 1 else f"{seconds:.1f} s"


def job_head(store: Store, job_id: str) -> JobInfo | None:
    """The job without its messages, or None if it is gone."""
    try:
        return store.require_job(job_id, messages=False)
    except JobNotFoundError:
        return None


class _InPlace:
    """The bridge of a sync handler's run: each step runs in the calling thread (the job's own)."""

    def __init__(self, patience: float) -> None:
        self.patience = patience

    async def call(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        return fn(*args, **kwargs)

    async def persist(self, what: str, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        return persist(what, self.patience, fn, *args, **kwargs)


class _OffLoop(_InPlace):
    """The bridge of an async handler's run: each step that may wait on the store runs in a worker thread."""

    async def call(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        return await asyncio.to_thread(fn, *args, **kwargs)

    async def persist(self, what: str, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        return await persist_async(what, self.patience, fn, *args, **kwargs)


class Execution:
    """One run of the handler of ``running`` with ``kwargs`` (its checked params). Whatever the handler does, the
    job ends terminal: its result, the abort it obeyed, the error it raised, or failed when none of those could be
    recorded. ``release(job_id)`` is called last (the supervisor stops watching the run)."""

    def __init__(self, running: RunningJob, kwargs: dict[str, Any], store: Store, *, store_retry: float,
                 release: Callable[[str], None], retry_at: Callable[[float], None] | None = None,
                 prices: Prices | None = None) -> None:
        """``retry_at(at)`` is told the time of the next attempt when this run's failure is retried (the
        supervisor wakes for it)."""
        self.running, self.kwargs, self.store = running, kwargs, store
        self.store_retry = store_retry
        self.release = release
        self.prices = prices
        self.retry_at = retry_at

    def run(self) -> None:
        """Run a sync handler to its end in the calling thread."""
        body = self._body(_InPlace(self.store_retry))
        try:
            body.send(None)
        except StopIteration:
            return
        body.close()  # unreachable: nothing on the in-place bridge suspends
        raise JobdeckError(f"the run of job {self.running.job_id} suspended outside an event loop")

    async def run_async(self) -> None:
        """Run an async handler to its end (on the runner's event loop)."""
        await self._body(_OffLoop(self.store_retry))

    async def _body(self, bridge: _InPlace) -> None:
        running = self.running
        ctl = PipelineController(running.job_id, self.store, known=True, contact=running.contact,
                                 progress=running.progress)
        ctl.trace = running.trace
        budget = job_budget(self.store, running.job_id, running.job_type)
        if budget is not None or self.prices is not None:
            ctl.attach_spending(self.prices, budget)
        try:
            with ExitStack() as scope:
                if running.trace is not None:
                    scope.enter_context(running.trace.use())
                if running.job_type.capture_logs:
                    scope.enter_context(ctl.capture_logs())
                outcome: Any = self._handler()(ctl, **self.kwargs)
                if running.job_type.is_async:
                    outcome = await outcome
        except BaseException as exc:  # the job must end terminal whatever the handler raised
            await bridge.call(ctl.publish_operations)  # the tree as the job left it, before its outcome
            if not isinstance(exc, AbortError | RetryLater):  # a RetryLater is logged as its retry
                logger.error("job %s (%s) failed", running.job_id, running.job_type.name, exc_info=exc)
            await bridge.persist(self._what(exc), self._record, exc, None)
        else:
            await bridge.call(ctl.publish_operations)
            await bridge.persist(self._what(None), self._record, None, outcome)
        finally:
            await bridge.call(self._finish)

    def _handler(self) -> Handler:
        handler = self.running.job_type.handler
        if handler is None:  # a worker asked to run a job of an external type: the job fails saying so
            raise JobdeckError(f"job type {self.running.job_type.name!r} is external: its jobs run elsewhere, not "
                               "in this runner")
        return handler

    def _what(self, exc: BaseException | None) -> str:
        return f"recording the {'end' if exc is not None else 'result'} of job {self.running.job_id}"

    def superseded(self) -> bool:
        """Whether the job went back to the queue while this run was cut off from the store (its type allows
        ``requeue_on_worker_lost``): another attempt owns it now, and this run's outcome is not its outcome.
        Raises StoreError when the store cannot tell (the outcome's retries ask again)."""
        running = self.running
        if not running.job_type.requeue_on_worker_lost:
            return False
        job = job_head(self.store, running.job_id)
        if job is None or job.attempt == running.attempt:
            return False
        logger.warning("job %s: attempt %d ended, but the job was re-queued meanwhile (now attempt %d); its outcome "
                       "is dropped", running.job_id, running.attempt, job.attempt)
        return True

    def _record(self, exc: BaseException | None, result: Any) -> None:
        """One attempt at recording the job's outcome: ``exc`` the handler raised, else its ``result``. Retried
        whole while the store is away, so that each attempt asks again whether another attempt owns the job."""
        if self.superseded():
            return
        job_id = self.running.job_id
        if isinstance(exc, AbortError):
            self.store.mark_aborted(job_id)
        elif exc is not None:
            if not self._retried(exc):
                text = exc.reason if isinstance(exc, RetryLater) else f"{type(exc).__name__}: {exc}"
                self.store.fail_job(job_id, safe_text(text or "RetryLater"))
        else:
            try:
                self.store.complete_job(job_id, result)
            except InvalidArgumentError as problem:  # a result that is not JSON jobdeck can store
                self.store.fail_job(job_id, f"handler returned a result that cannot be stored: {problem}")

    def _retried(self, error: BaseException) -> bool:
        """Put the job back in the queue for its next attempt if its type retries ``error`` (a RetryLater always
        counts) and this was not its last attempt: True when the job needs nothing more from this run (it waits
        queued, or an abort that came meanwhile ended it). A job asked to abort (an abort, its timeout, a
        shutdown) or ended from outside (the stale reaper) is never retried: False, and it fails as before."""
        running = self.running
        policy = running.job_type.retry
        later = isinstance(error, RetryLater)
        if not later and (policy is None or not policy.retries(error)):
            return False
        job = job_head(self.store, running.job_id)
        if job is None:
            return True  # removed meanwhile: nothing to retry or fail
        # The job's own max_attempts (set when it was created) rules, not the type as registered now.
        if job.attempt != running.attempt:
            return True  # another attempt owns the job now: this run's failure is not its outcome
        if job.status is not JobStatus.RUNNING or job.attempt >= job.max_attempts:
            return False
        if isinstance(error, RetryLater):
            pause = error.seconds
        elif policy is not None:
            pause = policy.delay(job.attempt, _random)
        else:  # unreachable: only a RetryLater gets here without a policy
            return False
        at = _clock() + pause
        message = (f"attempt {job.attempt} of {job.max_attempts} failed: {describe(error)}; "
                   f"retrying in {in_words(pause)}")
        if self.store.schedule_retry(job.id, at, attempt=job.attempt, message=message):
            logger.warning("job %s: %s", job.id, message)
            if self.retry_at is not None:
                self.retry_at(at)
        return True

    def _finish(self) -> None:
        running, store = self.running, self.store
        try:
            # A status from the cache is enough: a terminal one is final, and failing a job that is in fact
            # terminal changes nothing.
            status = persist(f"checking job {running.job_id}", self.store_retry, store.get_status, running.job_id, 1.0)
            if status.is_active and self._still_this_run() and not self.superseded():
                # e.g. the store refused the outcome write
                persist(f"failing job {running.job_id}", self.store_retry, store.fail_job, running.job_id,
                        "handler ended but its outcome was not recorded")
        except JobNotFoundError:
            pass  # removed meanwhile (cleanup, retention): nothing left to finish
        except Exception:
            logger.exception("could not check the final state of job %s", running.job_id)
        finally:
            if running.trace is not None:
                try:
                    running.trace.end(self._final() if running.trace.recording else None)
                except Exception:  # tracing never stands in the way of finishing
                    logger.exception("could not end the trace of job %s", running.job_id)
            self.release(running.job_id)
            running.done.set()

    def _still_this_run(self) -> bool:
        """Whether the job is still in this run's hands: running (or aborting) as this attempt. A job waiting for
        its next attempt, or already claimed for it by another process, is not."""
        job = persist(f"checking job {self.running.job_id}", self.store_retry, job_head, self.store,
                      self.running.job_id)
        return job is not None and job.status in (JobStatus.RUNNING, JobStatus.ABORTING) \
            and job.attempt == self.running.attempt

    def _final(self) -> JobInfo | None:
        """The job as it ended, with the newest message of each kind (the span's status needs the last error)."""
        try:
            return self.store.require_job(self.running.job_id, messages=1)
        except JobNotFoundError:
            return None


class EventLoopThread:
    """The one event loop a runner's async handlers share, in a daemon thread started on first use (again in a
    forked child, where the parent's thread does not exist)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        renew_after_fork(self)

    def _after_fork(self) -> None:
        self._lock = threading.Lock()
        self._loop = self._thread = None

    def submit(self, coro: Coroutine[Any, Any, T]) -> Future[T]:
        """Run ``coro`` on the loop; its future for a thread that waits for the end."""
        with self._lock:
            if self._loop is None or self._thread is None or not self._thread.is_alive():
                loop = asyncio.new_event_loop()
                thread = threading.Thread(target=loop.run_forever, name="jobdeck-async", daemon=True)
                thread.start()
                self._loop, self._thread = loop, thread
            loop = self._loop
        return asyncio.run_coroutine_threadsafe(coro, loop)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the loop and close it once its thread has ended (within ``timeout``)."""
        loop, thread = self._loop, self._thread
        if loop is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        if thread is not None:
            thread.join(timeout=timeout)
        if not loop.is_running():
            loop.close()
