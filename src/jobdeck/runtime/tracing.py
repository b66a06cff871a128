"""OpenTelemetry tracing of jobs (optional: ``pip install 'jobdeck[otel]'``; the application configures the SDK).

With ``opentelemetry-api`` installed, a :class:`~jobdeck.JobRunner` makes each job it runs a span, named
``job <type>``, from its start to its terminal state, with the attributes ``jobdeck.job.type``,
``jobdeck.job.id``, ``jobdeck.job.author`` and, at the end, ``jobdeck.job.status`` (the span's status is ERROR
for a failed job). Each top-level pipeline operation is a child span (``operation <id>``), each
``ctl.info/warning/error`` message a span event. The span's parent is whatever context is current when
``runner.start`` is called: the ``POST /start`` request's trace context (its ``traceparent`` header) when the job
is started over HTTP. Spans the handler makes itself nest under the job's span.

A job queued for a task engine carries that context to the worker: the executor adds the W3C carrier of the
current context (:func:`trace_carrier`, ``{"traceparent": ..., "tracestate": ...}`` as the application's
propagator writes it) to the engine's task as its ``trace`` argument, and the worker's job span is a child of it
(:func:`carrier_context`). A task argument is part of the message (Celery) or of the queue row
(procrastinate), so it survives a redelivery, a retry and a worker restart exactly as the job id does. The job's
span then starts when a worker claims the job and has the attribute ``jobdeck.job.queue_wait`` (seconds queued).
A job the reaper re-queues after its worker died (``requeue_on_worker_lost``) is handed to the engine again by
the reaper, outside any request: its next attempt is a trace of its own, with ``jobdeck.job.attempt`` and the
same ``jobdeck.job.id``.

Without ``opentelemetry-api`` nothing here is imported and nothing is traced; with the API but no SDK configured
the spans are no-ops.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from ..core.model import JobInfo, JobStatus

__all__ = ["JobTrace", "carrier_context", "current_context", "extract_context", "run_in_context", "start_job_trace",
           "trace_carrier"]

T = TypeVar("T")


@functools.cache
def _api() -> Any | None:
    try:
        from opentelemetry import trace
    except ImportError:
        return None
    return trace


def current_context() -> Any | None:
    """The current OpenTelemetry context (None without the API)."""
    try:
        from opentelemetry import context
    except ImportError:
        return None
    return context.get_current()


class JobTrace:
    """The spans of one job. Thread-safe: the handler's thread reports, the runner ends it."""

    def __init__(self, trace: Any, job: JobInfo, parent: Any) -> None:
        self._trace = trace
        self._tracer = trace.get_tracer("jobdeck")
        self._lock = threading.Lock()
        attributes: dict[str, str | float] = {"jobdeck.job.type": job.job_type, "jobdeck.job.id": job.id,
                                              "jobdeck.job.author": job.author}
        if job.queued_time is not None:
            attributes["jobdeck.job.queue_wait"] = max(0.0, job.start_time - job.queued_time)
        if job.attempt > 1:  # a re-run after its worker died: a trace of its own, found by the job id
            attributes["jobdeck.job.attempt"] = job.attempt
        self.span = self._tracer.start_span(f"job {job.job_type}", context=parent,
                                            start_time=int(job.start_time * 1e9), attributes=attributes)
        self._operation: Any = None
        self._ended = False

    @property
    def recording(self) -> bool:
        """False when no SDK records the span (the API alone is installed): ending it then needs no job."""
        return bool(self.span.is_recording())

    def use(self) -> Any:
        """Make the job's span current (for the handler's own spans): ``with trace.use(): ...``."""
        return self._trace.use_span(self.span, end_on_exit=False)

    def operation(self, operation_id: str, index: int, total: int) -> None:
        with self._lock:
            if self._ended:
                return
            if self._operation is not None:
                self._operation.end()
            parent = self._trace.set_span_in_context(self.span)
            self._operation = self._tracer.start_span(
                f"operation {operation_id}", context=parent,
                attributes={"jobdeck.operation.id": operation_id, "jobdeck.operation.index": index,
                            "jobdeck.operation.total": total})

    def message(self, kind: str, text: str) -> None:
        with self._lock:
            if not self._ended:
                self.span.add_event(kind, {"message": text})

    def end(self, job: JobInfo | None) -> None:
        with self._lock:
            if self._ended:
                return
            self._ended = True
            if self._operation is not None:
                self._operation.end()
            if job is not None:
                self.span.set_attribute("jobdeck.job.status", job.status.value)
                if job.status is JobStatus.FAILED:
                    from opentelemetry.trace import Status, StatusCode

                    first = job.error_messages[-1].message if job.error_messages else "failed"
                    self.span.set_status(Status(StatusCode.ERROR, first[:500]))
            end = job.end_time if job is not None and job.end_time is not None else None
            self.span.end(end_time=int(end * 1e9) if end is not None else None)


def start_job_trace(job: JobInfo, parent: Any = None) -> JobTrace | None:
    """A :class:`JobTrace` for ``job`` under ``parent`` (a context; the current one if None), or None without
    the OpenTelemetry API."""
    trace = _api()
    if trace is None:
        return None
    return JobTrace(trace, job, parent if parent is not None else current_context())


def extract_context(headers: Mapping[str, str]) -> Any | None:
    """The trace context a request carries (W3C ``traceparent``), or None without the API or without one."""
    if _api() is None or "traceparent" not in headers:
        return None
    from opentelemetry import propagate

    return propagate.extract(dict(headers.items()))


def trace_carrier() -> dict[str, str] | None:
    """The current trace context as a carrier for a task engine's message (W3C ``traceparent``, and whatever
    else the configured propagator writes), or None without the API or without a current span."""
    if _api() is None:
        return None
    from opentelemetry import propagate

    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier or None


def carrier_context(carrier: object) -> Any | None:
    """The trace context a task's carrier holds (see :func:`trace_carrier`), or None without the API or without a
    usable carrier. A carrier comes from a message: anything but a mapping of strings is ignored, never raised."""
    if _api() is None or not isinstance(carrier, Mapping) or not carrier:
        return None
    if not all(isinstance(k, str) and isinstance(v, str) and len(v) <= 8192 for k, v in carrier.items()):
        return None
    from opentelemetry import propagate

    return propagate.extract(dict(carrier))


def run_in_context(parent: Any | None, fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)`` with ``parent`` as the current trace context (as is when None)."""
    if parent is None:
        return fn(*args)
    from opentelemetry import context

    token = context.attach(parent)
    try:
        return fn(*args)
    finally:
        context.detach(token)
