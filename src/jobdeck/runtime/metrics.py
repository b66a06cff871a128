"""Prometheus figures of the jobs one process handles (``pip install 'jobdeck[metrics]'``).

Every jobdeck process counts the lifecycle changes its own store calls make: the server (``GET /metrics``, see
:mod:`jobdeck.api`) and, with a task engine, each worker (``jobdeck worker --metrics-port 9101``, or
:func:`serve_metrics` in a worker you start yourself). Prometheus scrapes them all and sums::

    sum by (job_type) (rate(jobdeck_jobs_started_total[5m]))

A change is made by exactly one store call -- the store's atomic step lets one caller win -- so each job is
counted once across all the processes sharing a store, never twice:

=====================================  ===========================================================================
``jobdeck_jobs_queued_total``          jobs created ``queued`` for a task engine: by the server that took the start
``jobdeck_jobs_started_total``         runs that began: a job created ``running`` (local executor: the server),
                                       or claimed by a worker (``queued -> running``: that worker); a re-queued job
                                       starts again
``jobdeck_job_queue_wait_seconds``     (re-)queueing to ``running`` of each claim: the claiming worker. Jobs that
                                       ended while still queued (aborted, lost) are not observed
``jobdeck_jobs_requeued_total``        jobs put back in the queue because their worker died
                                       (``requeue_on_worker_lost``): the process whose reaper did it
``jobdeck_jobs_finished_total``        moves to a terminal status: whoever made it -- the worker running the job
                                       (completed, failed, aborted), the server aborting a queued job, any process's
                                       stale reaper
``jobdeck_job_duration_seconds``       running to terminal, with the finished count, for jobs that ran
``jobdeck_jobs_reaped_total``          active jobs failed as stale: the process whose reaper did it
``jobdeck_job_retries_total``          failed runs put back in the queue for their next attempt (the type's
                                       ``Retry``, or ``RetryLater``): the process whose run failed
``jobdeck_schedule_runs_total``        a schedule's occurrences by ``outcome``: ``started``, ``skipped`` (overlap),
                                       ``missed`` (older than the misfire grace): the process that fired them
``jobdeck_schedule_last_run_``         when the schedule's newest job was due (POSIX seconds): the process that
``timestamp_seconds``                  started it (take ``max`` over instances)
``jobdeck_llm_tokens_total``           tokens recorded by ``ctl.usage()`` (labels ``model``, ``direction``:
                                       input or output), counted when the job ends: whoever ended it
``jobdeck_job_cost_total``             the job's known cost (label ``currency``), counted when it ends
=====================================  ===========================================================================

What is still active is not ``started - finished``: a job aborted or lost while queued finishes without having
started, and a re-queued job starts more than once. The store-wide ``jobdeck_jobs_active`` gauge, served by every
server, says it directly.
"""

from __future__ import annotations

import logging
import ssl
import threading
from typing import Any

from ..core.errors import InvalidArgumentError
from ..core.schedule_state import ScheduleOutcome
from ..stores.base import Store, Transition

__all__ = ["DURATION_BUCKETS", "QUEUE_WAIT_BUCKETS", "JobCounters", "MetricsServer", "load_prometheus",
           "serve_metrics"]

logger = logging.getLogger("jobdeck.metrics")

# Admin jobs run from seconds to hours.
DURATION_BUCKETS = (1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 7200.0, 21600.0)
# A free worker picks a job up within a second; a job waits long only behind busy workers.
QUEUE_WAIT_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 15.0, 30.0, 60.0, 300.0, 900.0, 3600.0, 14400.0)


def load_prometheus() -> Any:
    """The ``prometheus_client`` module, or ImportError naming the extra to install."""
    try:
        import prometheus_client
    except ImportError:
        raise ImportError("jobdeck's metrics need prometheus_client: pip install 'jobdeck[metrics]'") from None
    return prometheus_client


class JobCounters:
    """The per-process job figures, in ``registry``. :meth:`observe` is a store observer
    (:meth:`Store.add_observer <jobdeck.Store.add_observer>`)."""

    def __init__(self, registry: Any) -> None:
        prom = load_prometheus()
        labels = ("job_type",)
        self.queued = prom.Counter("jobdeck_jobs_queued", "Jobs this process created queued for a task engine",
                                   labels, registry=registry)
        self.started = prom.Counter("jobdeck_jobs_started", "Jobs that began running in this process's store calls "
                                    "(created running, or claimed by this worker)", labels, registry=registry)
        self.queue_wait = prom.Histogram("jobdeck_job_queue_wait_seconds", "Creation to running, of the jobs this "
                                         "worker claimed", labels, buckets=QUEUE_WAIT_BUCKETS, registry=registry)
        self.finished = prom.Counter("jobdeck_jobs_finished", "Jobs this process brought to a terminal status",
                                     ("job_type", "status"), registry=registry)
        self.duration = prom.Histogram("jobdeck_job_duration_seconds", "Running to terminal status, of the jobs "
                                       "this process finished", ("job_type", "status"), buckets=DURATION_BUCKETS,
                                       registry=registry)
        self.reaped = prom.Counter("jobdeck_jobs_reaped", "Active jobs this process failed as stale", labels,
                                   registry=registry)
        self.retries = prom.Counter("jobdeck_job_retries", "Failed runs this process put back in the queue for "
                                    "their next attempt (Retry, RetryLater)", labels, registry=registry)
        self.requeued = prom.Counter("jobdeck_jobs_requeued", "Jobs this process's reaper put back in the queue "
                                     "after their worker died (requeue_on_worker_lost)", labels, registry=registry)
        self.tokens = prom.Counter("jobdeck_llm_tokens", "Tokens the jobs this process finished recorded "
                                   "(ctl.usage), counted when each job ends", ("job_type", "model", "direction"),
                                   registry=registry)
        self.cost = prom.Counter("jobdeck_job_cost", "The known cost of the jobs this process finished, counted when "
                                 "each job ends", ("job_type", "currency"), registry=registry)
        self.schedule_runs = prom.Counter("jobdeck_schedule_runs", "Occurrences of a schedule this process fired, by "
                                          "outcome (started, skipped, missed)", ("schedule", "outcome"),
                                          registry=registry)
        self.schedule_last_run = prom.Gauge("jobdeck_schedule_last_run_timestamp_seconds", "When the newest job "
                                            "this process started for a schedule was due", ("schedule",),
                                            registry=registry)

    def observe_schedule(self, outcome: ScheduleOutcome) -> None:
        """A schedule observer (:meth:`Store.add_schedule_observer <jobdeck.Store.add_schedule_observer>`)."""
        self.schedule_runs.labels(outcome.schedule_id, outcome.outcome).inc(outcome.count)
        if outcome.outcome == "started":
            self.schedule_last_run.labels(outcome.schedule_id).set(outcome.time)

    def observe(self, transition: Transition) -> None:
        job = transition.job
        if transition.claimed:
            self.started.labels(job.job_type).inc()
            if job.queued_time is not None:
                self.queue_wait.labels(job.job_type).observe(max(0.0, job.start_time - job.queued_time))
            return
        if transition.requeued:
            self.requeued.labels(job.job_type).inc()
            return
        if transition.retried:  # back in the queue for its next attempt: neither created nor finished
            self.retries.labels(job.job_type).inc()
            return
        if transition.created:
            (self.queued if job.queued_time is not None else self.started).labels(job.job_type).inc()
            return
        status = job.status.value
        self.finished.labels(job.job_type, status).inc()
        # A job that ended while queued (aborted, lost) never ran: its start time is its queue time and no
        # worker owns it. It has no running time to observe.
        ran = job.queued_time is None or job.owner is not None
        if ran and job.end_time is not None:
            self.duration.labels(job.job_type, status).observe(max(0.0, job.end_time - job.start_time))
        if transition.reaped:
            self.reaped.labels(job.job_type).inc()
        usage = job.usage
        if usage is not None:
            for model, part in usage.by_model.items():
                self.tokens.labels(job.job_type, model, "input").inc(part.input_tokens)
                self.tokens.labels(job.job_type, model, "output").inc(part.output_tokens)
            self.cost.labels(job.job_type, usage.currency).inc(usage.known_cost)


class MetricsServer:
    """The job figures of one store object, served over HTTP by ``prometheus_client``'s own server (see
    :func:`serve_metrics`). ``close()`` stops serving and counting."""

    def __init__(self, store: Store, port: int, addr: str, certfile: str | None = None,
                 keyfile: str | None = None) -> None:
        if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
            raise InvalidArgumentError(f"metrics port must be 0..65535, got {port!r}")
        prom = load_prometheus()
        self.store = store
        self.registry = prom.CollectorRegistry(auto_describe=True)
        self.counters = JobCounters(self.registry)
        try:
            self._httpd, self._thread = prom.start_http_server(port, addr, registry=self.registry,
                                                               certfile=certfile, keyfile=keyfile)
        except OSError as exc:
            raise InvalidArgumentError(f"cannot serve metrics on {addr}:{port}: {exc.strerror or exc}") from None
        store.add_observer(self.counters.observe)
        store.add_schedule_observer(self.counters.observe_schedule)
        self._closed = threading.Event()

    @property
    def port(self) -> int:
        """The port served (the one chosen by the system when asked for 0)."""
        return int(self._httpd.server_port)

    @property
    def url(self) -> str:
        host = str(self._httpd.server_address[0])
        scheme = "https" if isinstance(self._httpd.socket, ssl.SSLSocket) else "http"
        return f"{scheme}://{f'[{host}]' if ':' in host else host}:{self.port}/metrics"

    def close(self) -> None:
        if self._closed.is_set():
            return
        self._closed.set()
        self.store.remove_observer(self.counters.observe)
        self.store.remove_schedule_observer(self.counters.observe_schedule)
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)


def serve_metrics(store: Store, port: int, addr: str = "127.0.0.1", *, certfile: str | None = None,
                  keyfile: str | None = None) -> MetricsServer:
    """Count the jobs ``store`` (this process's store object) creates, claims and ends, and serve the figures
    at ``http://addr:port/metrics`` from a thread. For a task engine's worker you start yourself::

        from celery.signals import worker_init
        worker_init.connect(lambda **_: serve_metrics(runner.store, 9101), weak=False)

    ``jobdeck worker --metrics-port`` does this. Counts are this process's: with a pool of child processes
    (Celery's prefork) the jobs run where this endpoint does not see them; use threads. The endpoint has no
    authentication: it binds loopback by default; ``addr="0.0.0.0"`` (or an interface of a private network)
    exposes it, ``certfile``/``keyfile`` serve it over TLS. ``port=0`` takes a free port (see
    :attr:`MetricsServer.port`).
    """
    return MetricsServer(store, port, addr, certfile, keyfile)
