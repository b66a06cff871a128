"""The Celery executor (``pip install 'jobdeck[celery]'``): jobs queued on a Celery broker, run by Celery workers.

    app = Celery("proj", broker="redis://127.0.0.1:6379/1")          # your own app, any broker Celery supports
    runner = JobRunner(open_store("redis://127.0.0.1:6379/0"), executor=CeleryExecutor(app))

    jobdeck serve --app proj.jobs:runner                  # enqueues only
    jobdeck worker --app proj.jobs:runner --concurrency 4   # runs Celery's worker with jobdeck's settings

jobdeck registers one task on the app, ``jobdeck.run_job(job_id, trace=None)``, sent with the job id as its task id
and JSON as its serializer (never pickle); ``trace`` carries the starting request's trace context (W3C
``traceparent``) with tracing on. The task calls :meth:`JobRunner.run_job <jobdeck.JobRunner.run_job>`, which
claims the job or drops it, runs the handler with a PipelineController on the shared store, heartbeats from the
worker and ends the job terminal whatever happens (an exception, ``SoftTimeLimitExceeded``, a worker shutdown).

Long jobs must not wait behind each other: the task is ``acks_late`` and ``jobdeck worker`` runs Celery's worker
with ``prefetch_multiplier=1`` and fair scheduling, so a busy worker holds no job it cannot start; an idle
worker takes the next one at once. A worker killed mid-job has its message redelivered (at once on AMQP, after
the visibility timeout on Redis): the redelivery finds the job no longer queued and is dropped. The stale reaper
judges the job: it fails it, naming the dead worker, unless its type was registered with
``requeue_on_worker_lost=N``; then it puts the job back in the queue (at most N times, ``attempt`` counts them)
and sends a new message for it, and of that message and the dead worker's redelivered one, whichever comes
second finds the job no longer queued and is dropped. So a job runs again only when its type says so
(docs/executors.md, "When a worker dies").

On a Redis broker, ``lost()`` looks into kombu's private layout of the queue (:mod:`._celery_redis` says what it
relies on; the ``celery`` extra pins kombu below its next major version).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from celery import Celery
from celery.exceptions import Reject
from celery.signals import worker_ready, worker_shutting_down

from ..core.errors import ExecutorError, StoreError
from ..core.model import JobInfo
from ..core.urls import TEXT, redact_url, split_options
from ..runtime.tracing import trace_carrier
from .base import Executor

if TYPE_CHECKING:
    from ..core.jobtype import JobType

__all__ = ["TASK_NAME", "CeleryExecutor"]

logger = logging.getLogger("jobdeck.executors.celery")

TASK_NAME = "jobdeck.run_job"
# An enqueue against a broker that is down fails within a few seconds (a clear 503), not after Celery's
# default of retrying for a long while.
PUBLISH_RETRY = {"max_retries": 2, "interval_start": 0.2, "interval_step": 0.5, "interval_max": 1.0}
# A worker that cannot reach the store to claim a job retries it this often before leaving it to the reaper.
CLAIM_RETRIES = 30


class CeleryExecutor(Executor):
    """Queue jobs as tasks of a Celery app. ``CeleryExecutor(app, queue=None)``; ``queue`` routes jobdeck's task
    to a queue of its own (workers must consume it: ``jobdeck worker`` does)."""

    name: ClassVar[str] = "celery"
    runs_in_process: ClassVar[bool] = False

    def __init__(self, app: Celery, *, queue: str | None = None) -> None:
        if not isinstance(app, Celery):
            raise ExecutorError(f"CeleryExecutor needs a celery.Celery app, got {type(app).__name__}")
        self.app = app
        self.queue = queue
        self._task: Any = None
        self.missing_before: set[str] = set()  # lost(): jobs without a broker message at the previous check

    @classmethod
    def from_url(cls, url: str, **options: Any) -> CeleryExecutor:
        """``celery+redis://host:6379/1``, ``celery+amqp://user:pass@host:5672//`` (any ``celery+<broker URL>``);
        ``?queue=name`` (or the ``queue`` keyword) routes jobdeck's task to a queue of its own. The app is
        configured for long jobs: JSON only, late acks, one message prefetched per worker thread, a short connect
        timeout."""
        url, found = split_options(url, {"queue": TEXT}, label="Celery executor", error=ExecutorError)
        if "queue" in found:
            options.setdefault("queue", found["queue"])
        scheme, sep, rest = url.partition("://")
        engine, plus, transport = scheme.partition("+")
        if engine.lower() != "celery" or not plus or not transport or not sep:
            raise ExecutorError(f"not a Celery executor URL: {redact_url(url)!r}; use celery+redis://host:6379/1 or "
                                "celery+amqp://user:pass@host:5672//")
        app = Celery("jobdeck", broker=f"{transport}://{rest}", set_as_current=False)
        app.conf.update(
            task_serializer="json", accept_content=["json"], result_serializer="json",
            task_ignore_result=True, task_acks_late=True, worker_prefetch_multiplier=1,
            broker_connection_timeout=2.0, broker_connection_retry_on_startup=True,
            worker_hijack_root_logger=False, worker_redirect_stdouts=False,
            broker_transport_options={"socket_connect_timeout": 2, "socket_timeout": 5},
        )
        return cls(app, **options)

    def __repr__(self) -> str:
        return f"<CeleryExecutor broker={self.app.conf.broker_url and redact_url(str(self.app.conf.broker_url))}>"

    # ------------------------------------------------------------------ the task

    def attach(self, runner: Any) -> None:
        super().attach(runner)
        executor = self

        # acks_late: the message stays with the broker until the job has ended, so a worker prefetches no job it
        # cannot start. No result backend: the store holds the outcome.
        # shared=False: the task belongs to this app only (Celery would otherwise add it to every app created).
        @self.app.task(name=TASK_NAME, bind=True, acks_late=True, ignore_result=True, serializer="json", shared=False,
                       max_retries=CLAIM_RETRIES)  # type: ignore[untyped-decorator]
        def run_job(task: Any, job_id: str, trace: dict[str, str] | None = None) -> None:
            executor._run(task, job_id, trace)

        self._task = run_job

    def _run(self, task: Any, job_id: str, trace: dict[str, str] | None = None) -> None:
        runner = self.runner
        if runner.closing:
            # A draining worker: give the message back so that another worker runs the job.
            raise Reject("worker shutting down", requeue=True)
        try:
            # The store holds the outcome and the task has no result backend: nothing reads the job back.
            runner.run_job(job_id, trace, outcome=False)
        except StoreError as exc:
            # The store is unreachable: the job is still queued (or running with no heartbeat, then the reaper
            # fails it once the store is back). Try again a little later; a redelivery that finds the job no
            # longer queued drops it.
            logger.warning("job %s: store unreachable (%s); retrying", job_id, exc)
            raise task.retry(exc=exc, countdown=min(5.0, 0.5 * 2 ** task.request.retries)) from exc

    # ------------------------------------------------------------------ server side

    def submit(self, job: JobInfo, job_type: JobType) -> None:
        options: dict[str, Any] = {"task_id": job.id, "serializer": "json", "retry": True,
                                   "retry_policy": PUBLISH_RETRY}
        if self.queue:
            options["queue"] = self.queue
        # The trace context travels as an argument: it is redelivered and retried with the message.
        carrier = trace_carrier()
        self._task.apply_async((job.id,), {"trace": carrier} if carrier else None, **options)

    def cancel(self, job_id: str) -> None:
        # Workers discard a revoked task when it arrives; a worker that takes it anyway cannot claim the job.
        try:
            self.app.control.revoke(job_id)
        except Exception as exc:
            logger.warning("could not revoke the Celery task of job %s: %s", job_id, exc)

    def lost(self, jobs: Sequence[JobInfo]) -> dict[str, str]:
        """On a Redis broker: the jobs whose message is neither waiting in the queue nor delivered to a worker
        (unacked), twice in a row. Other brokers cannot be looked into without consuming: ``{}``."""
        from ._celery_redis import missing_from_redis_broker

        return missing_from_redis_broker(self, jobs)

    def shutdown(self, grace: float = 10.0) -> None:
        self.app.close()

    # ------------------------------------------------------------------ worker side

    def run_worker(self, *, concurrency: int | None = None, grace: float = 30.0, loglevel: str = "INFO") -> int:
        """Celery's worker in this process, with a thread per job (``concurrency`` threads, default 4), one
        message prefetched per thread and fair scheduling. SIGTERM drains: running jobs are asked to abort and
        end terminal within ``grace`` seconds; the process then exits even if a handler ignored the abort."""
        runner = self.runner
        runner.start_supervisor(concurrency=concurrency or 4, worker=True)

        def draining(**_: Any) -> None:
            threading.Thread(target=self._drain, args=(grace,), name="jobdeck-drain", daemon=True).start()

        def ready(**_: Any) -> None:
            # On stdout whatever the log level: operators and scripts wait for this line.
            print(f"jobdeck worker {runner.owner} ready", flush=True)

        worker_shutting_down.connect(draining, weak=False)
        worker_ready.connect(ready, weak=False)
        options: dict[str, Any] = {"pool_cls": "threads", "concurrency": concurrency or 4,
                                   "prefetch_multiplier": 1, "optimization": "fair", "loglevel": loglevel,
                                   "without_gossip": True, "without_mingle": True,
                                   "hostname": f"jobdeck-{os.getpid()}@{socket.gethostname()}"}
        if self.queue:
            options["queues"] = [self.queue]
        self.app.conf.worker_prefetch_multiplier = 1
        self.app.conf.task_acks_late = True
        worker = self.app.Worker(**options)
        worker.start()
        return int(worker.exitcode or 0)

    def _drain(self, grace: float) -> None:
        """Runs when the worker is told to stop: every job it runs is asked to abort and ends terminal within
        ``grace``; a handler that ignores the abort is abandoned (the job is already failed in the store)."""
        runner = self.runner
        forced = runner.shutdown(grace, reason="worker shutting down")
        if forced:
            # Celery's warm shutdown would wait for these threads forever; their jobs are already failed.
            time.sleep(1.0)
            logger.warning("handlers of %d job(s) ignored the abort; exiting without them", len(forced))
            os._exit(1)

