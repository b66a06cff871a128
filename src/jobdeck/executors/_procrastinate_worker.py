"""The worker side of the procrastinate executor: jobdeck's task, and procrastinate's worker run for jobdeck.

The task ``jobdeck.run_job(job_id)`` runs :meth:`JobRunner.run_job` in a thread of its own (handlers block, and
procrastinate's default thread pool is small), so procrastinate's ``concurrency`` is the number of jobs a worker
runs at once and procrastinate fetches a job only when a slot is free: nothing is prefetched.

``run_worker`` adds what a jobdeck worker needs around procrastinate's worker:

- SIGTERM/SIGINT drains: procrastinate stops fetching, the jobs this worker runs are asked to abort
  (``runner.shutdown(grace)``, which fails whatever is still active after ``grace``), and the tasks of handlers
  that ignored it are then cancelled, so the process exits within about ``grace`` seconds with no job active;
- a database that goes away is waited out (:class:`PatientConnector`), and should procrastinate's worker stop
  anyway it is started again once PostgreSQL answers; running jobs are not touched meanwhile;
- every half second, the task of a job that jobdeck has ended while its handler still runs (abort grace or
  timeout expired) is aborted through procrastinate (the escalation), and every ``stale_after / 4`` seconds
  entries of dead workers whose job jobdeck has ended are closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import threading
import time
from typing import TYPE_CHECKING, Any

from procrastinate import JobContext, RetryStrategy

from ..core.errors import JobNotFoundError
from ..core.model import JobStatus

if TYPE_CHECKING:
    from procrastinate.tasks import Task

    from .procrastinate import ProcrastinateExecutor

__all__ = ["Requeue", "Running", "escalate_abandoned", "register_task", "run_worker"]

logger = logging.getLogger("jobdeck.executors.procrastinate")

ESCALATE_AFTER = 1.0  # seconds a job must have been ended by jobdeck before its still-running task is aborted


class Requeue(Exception):
    """A draining worker received a job it may no longer claim: procrastinate puts it back in the queue."""


class Running:
    """The jobs this worker process runs: job id -> the asyncio task procrastinate runs it in."""

    def __init__(self) -> None:
        self.tasks: dict[str, asyncio.Task[Any]] = {}
        self.escalated: set[str] = set()
        self.shutting_down = False


def register_task(executor: ProcrastinateExecutor) -> tuple[Task[Any, Any, Any], Running]:
    """Register ``jobdeck.run_job`` on the executor's app (server and workers share the definition); returns
    the task and the record of the jobs this process runs through it."""
    from .procrastinate import TASK_NAME

    running = Running()

    async def run_job(context: JobContext, job_id: str, trace: dict[str, str] | None = None) -> None:
        await _run_job(executor, running, context, job_id, trace)

    task = executor.app.task(name=TASK_NAME, pass_context=True, queue=executor.queue,
                             retry=RetryStrategy(max_attempts=1000, wait=1, retry_exceptions={Requeue}))(run_job)
    return task, running


async def _run_job(executor: ProcrastinateExecutor, running: Running, context: JobContext, job_id: str,
                   trace: dict[str, str] | None = None) -> None:
    runner = executor.runner
    loop = asyncio.get_running_loop()
    finished: asyncio.Future[Any] = loop.create_future()

    def settle(outcome: Any, error: BaseException | None) -> None:
        if finished.done():  # the task was cancelled meanwhile
            return
        if error is not None:
            finished.set_exception(error)
        else:
            finished.set_result(outcome)

    def work() -> None:
        try:
            # The store holds the outcome: nothing reads the ended job back (None whether or not it ran; a draining
            # worker asks the store below whether the job is still queued).
            outcome = runner.run_job(job_id, trace, outcome=False)
        except BaseException as exc:  # reported to the task; run_job has already ended the job
            loop.call_soon_threadsafe(settle, None, exc)
        else:
            loop.call_soon_threadsafe(settle, outcome, None)

    task = asyncio.current_task()
    if task is not None:
        running.tasks[job_id] = task
    try:
        threading.Thread(target=work, name=f"jobdeck-procrastinate-{job_id[:8]}", daemon=True).start()
        try:
            outcome = await finished
        except asyncio.CancelledError:
            why = context.abort_reason()
            await asyncio.to_thread(runner.store.fail_job, job_id,
                                    f"Job's procrastinate task was aborted ({why.value if why else 'cancelled'}) "
                                    "while its handler still ran; the handler was abandoned")
            raise
    finally:
        running.tasks.pop(job_id, None)
        running.escalated.discard(job_id)
    if outcome is None and running.shutting_down:
        job = await asyncio.to_thread(runner.store.get_job, job_id)
        if job is not None and job.status is JobStatus.QUEUED:
            raise Requeue(f"job {job_id} arrived while this worker drains; back to the queue")


def run_worker(executor: ProcrastinateExecutor, *, concurrency: int, grace: float) -> int:
    """Run procrastinate's worker for the executor's runner until SIGTERM/SIGINT; returns the exit code."""
    try:
        executor.ensure_schema()
    finally:
        executor.shutdown()  # the worker opens its own asynchronous pool
    return asyncio.run(_main(executor, concurrency, grace))


async def _main(executor: ProcrastinateExecutor, concurrency: int, grace: float) -> int:
    from ._procrastinate_connector import PatientConnector

    runner, app = executor.runner, executor.app
    running = executor.running
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    connector = app.connector if isinstance(app.connector, PatientConnector) else None
    stale_after = runner.store.stale_after
    options: dict[str, Any] = {
        "name": f"jobdeck@{socket.gethostname()}:{os.getpid()}",
        "queues": [executor.queue],
        "concurrency": concurrency,
        "install_signal_handlers": False,  # SIGTERM drains jobdeck's way (below)
        "shutdown_graceful_timeout": None,  # the drain bounds itself by ``grace``
        "update_heartbeat_interval": max(0.2, min(10.0, stale_after / 6)),
        "stalled_worker_timeout": stale_after,
        "abort_job_polling_interval": 1.0,
        "fetch_job_polling_interval": 2.0,
    }
    async with app.open_async():
        executor.loop = loop
        if connector is not None:
            connector.patient = True
        runner.start_supervisor(concurrency=concurrency, worker=True)
        chores = asyncio.create_task(_chores(executor, running, stale_after))
        try:
            while True:
                worker = asyncio.create_task(app.run_worker_async(**options))
                stopping = asyncio.create_task(stop.wait())
                await asyncio.wait({worker, stopping}, return_when=asyncio.FIRST_COMPLETED)
                if stop.is_set():
                    break
                stopping.cancel()
                error = worker.exception()
                logger.warning("procrastinate's worker stopped (%s); starting it again",
                               f"{type(error).__name__}: {error}" if error else "no error")
                await asyncio.sleep(1.0)
            logger.warning("stopping: jobs running here are asked to abort (grace %gs)", grace)
            running.shutting_down = True
            if connector is not None:  # from now on, a database that is away is an error, not a wait
                connector.patient = False
            worker.cancel()  # procrastinate stops fetching and waits for the tasks it runs
            forced = await asyncio.to_thread(runner.shutdown, grace, "worker shutting down")
            for task in list(running.tasks.values()):
                task.cancel()  # handlers that ignored the abort: jobdeck failed their jobs, free the slots
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(worker, timeout=max(5.0, grace))
        finally:
            chores.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await chores
            executor.loop = None
    return 1 if forced else 0


async def _chores(executor: ProcrastinateExecutor, running: Running, stale_after: float) -> None:
    """Escalate aborts jobdeck gave up on; close the entries of dead workers once their jobs have ended."""
    next_close = 0.0
    while True:
        await asyncio.sleep(0.5)
        try:
            await escalate_abandoned(executor, running)
            if time.monotonic() >= next_close:
                next_close = time.monotonic() + max(1.0, stale_after / 4)
                for job_id in await asyncio.to_thread(executor.close_stalled, stale_after):
                    logger.warning("closed the procrastinate entry of job %s: its worker died", job_id)
        except Exception as exc:  # PostgreSQL or the store unreachable: the next round retries
            logger.warning("procrastinate worker chores failed (%s: %s); retrying", type(exc).__name__, exc)


async def escalate_abandoned(executor: ProcrastinateExecutor, running: Running) -> None:
    """One round of the escalation: abort through procrastinate the task of each job this worker runs that jobdeck
    ended at least ``ESCALATE_AFTER`` seconds ago while its handler still runs. Reads each job's head only: this
    runs every half second, and a job's message log can be thousands of entries long."""
    store = executor.runner.store
    for job_id in list(running.tasks):
        if job_id in running.escalated:
            continue
        try:
            job = await asyncio.to_thread(store.require_job, job_id, messages=False)
        except JobNotFoundError:
            continue
        if not job.status.is_terminal or job.end_time is None or time.time() - job.end_time < ESCALATE_AFTER:
            continue
        running.escalated.add(job_id)
        logger.warning("job %s ended but its handler still runs: aborting its procrastinate task", job_id)
        await asyncio.to_thread(executor.escalate, job_id)
