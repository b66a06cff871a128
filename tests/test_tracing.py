"""OpenTelemetry (jobdeck[otel]): a span per job with child spans per top-level operation and messages as events,
under the trace context of the POST /start request; checked with the SDK's in-memory exporter."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from jobdeck import JobRunner, MemoryStore, PipelineController, SQLiteStore
from jobdeck.api import create_app
from jobdeck.core.model import JobStatus

TOKEN = "tracing-token-1f"
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"


@pytest.fixture(scope="module")
def exporter() -> Iterator[InMemorySpanExporter]:
    """The application's SDK setup (once per process: OpenTelemetry allows one global provider)."""
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    trace.set_tracer_provider(provider)
    yield memory
    memory.shutdown()  # later tests' jobs export nowhere


@pytest.fixture
def spans(exporter: InMemorySpanExporter) -> Iterator[InMemorySpanExporter]:
    exporter.clear()
    yield exporter
    exporter.clear()


@pytest.fixture
def runner() -> Iterator[JobRunner]:
    with MemoryStore() as store:
        r = JobRunner(store)
        yield r
        r.shutdown(grace=5)


def pipeline(ctl: PipelineController, fail: bool = False) -> dict[str, int]:
    ctl.initialize_pipeline(["load", ("process", 3)])
    ctl.info("loading")
    with trace.get_tracer("app").start_as_current_span("read file"):
        ctl.progress(1.0)
    ctl.warning("one row skipped")
    ctl.progress(0.5)
    if fail:
        raise ValueError("row 7 is malformed")
    ctl.progress(1.0)
    return {"rows": 9}


def by_name(found: tuple[ReadableSpan, ...], name: str) -> ReadableSpan:
    (span,) = [s for s in found if s.name == name]
    return span


def test_a_job_is_a_span_with_operations_and_messages(runner: JobRunner, spans: InMemorySpanExporter) -> None:
    runner.register("Import", pipeline)
    job = runner.start("Import", "alice@example.com")
    assert runner.wait(job.id, 10).status is JobStatus.COMPLETED
    found = spans.get_finished_spans()
    root = by_name(found, "job Import")
    assert dict(root.attributes or {}) == {"jobdeck.job.type": "Import", "jobdeck.job.id": job.id,
                                           "jobdeck.job.author": "alice@example.com",
                                           "jobdeck.job.status": "completed"}
    assert root.parent is None
    assert [(e.name, dict(e.attributes or {})) for e in root.events] == [
        ("info", {"message": "loading"}), ("warning", {"message": "one row skipped"})]
    load, process = by_name(found, "operation load"), by_name(found, "operation process")
    for child in (load, process):
        assert child.parent is not None and child.parent.span_id == root.context.span_id
    assert dict(process.attributes or {})["jobdeck.operation.index"] == 2
    own = by_name(found, "read file")  # the handler's own span nests under the job
    assert own.parent is not None and own.parent.span_id == root.context.span_id
    assert root.end_time is not None and root.start_time is not None and root.end_time >= root.start_time


def test_a_failed_job_has_an_error_status(runner: JobRunner, spans: InMemorySpanExporter) -> None:
    runner.register("Import", pipeline)
    job = runner.start("Import", "bob", {"fail": True})
    assert runner.wait(job.id, 10).status is JobStatus.FAILED
    root = by_name(spans.get_finished_spans(), "job Import")
    assert root.status.status_code is StatusCode.ERROR
    assert "row 7 is malformed" in (root.status.description or "")
    assert dict(root.attributes or {})["jobdeck.job.status"] == "failed"


@pytest.mark.anyio
async def test_the_start_request_trace_context_is_the_jobs_parent(runner: JobRunner,
                                                                  spans: InMemorySpanExporter) -> None:
    runner.register("Import", pipeline)
    app = create_app(runner=runner, token=TOKEN)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://t") as client:
        started = await client.post("/api/admin/jobs/start", json={"jobType": "Import"}, headers={
            "Authorization": f"Bearer {TOKEN}", "traceparent": f"00-{TRACE_ID}-{PARENT_ID}-01"})
        assert started.status_code == 201, started.text
        runner.wait(started.json()["id"], 10)
        untraced = await client.post("/api/admin/jobs/start", json={"jobType": "Import"},
                                     headers={"Authorization": f"Bearer {TOKEN}"})
        runner.wait(untraced.json()["id"], 10)
    roots = [s for s in spans.get_finished_spans() if s.name == "job Import"]
    traced = next(s for s in roots if dict(s.attributes or {})["jobdeck.job.id"] == started.json()["id"])
    assert format(traced.context.trace_id, "032x") == TRACE_ID
    assert traced.parent is not None and format(traced.parent.span_id, "016x") == PARENT_ID
    other = next(s for s in roots if dict(s.attributes or {})["jobdeck.job.id"] == untraced.json()["id"])
    assert other.parent is None and format(other.context.trace_id, "032x") != TRACE_ID


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def test_a_trace_carrier_round_trips_and_a_bad_one_is_ignored(spans: InMemorySpanExporter) -> None:
    from jobdeck.runtime.tracing import carrier_context, extract_context, run_in_context, trace_carrier

    traceparent = f"00-{TRACE_ID}-{PARENT_ID}-01"
    carrier = run_in_context(extract_context({"traceparent": traceparent}), trace_carrier)
    assert carrier is not None and carrier["traceparent"] == traceparent
    assert trace.get_current_span(carrier_context(carrier)).get_span_context().trace_id == int(TRACE_ID, 16)
    assert trace_carrier() is None  # no current span: nothing to carry
    # A carrier comes from a task message: whatever it holds, it is ignored, never raised.
    for bad in (None, traceparent, {"traceparent": 5}, {1: traceparent}, {"traceparent": "0" * 10_000}, {}):
        assert carrier_context(bad) is None


def test_a_worker_runs_a_queued_job_under_the_carried_context(spans: InMemorySpanExporter, tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "jobs.db")
    try:
        server, worker = JobRunner(store), JobRunner(store)
        for runner in (server, worker):
            runner.register("Import", pipeline)
        job = store.create_job("Import", "a", queued=True)
        worker.run_job(job.id, {"traceparent": f"00-{TRACE_ID}-{PARENT_ID}-01"})
        root = by_name(spans.get_finished_spans(), "job Import")
        assert root.parent is not None and root.parent.span_id == int(PARENT_ID, 16)
        assert root.context is not None and root.context.trace_id == int(TRACE_ID, 16)
        assert (root.attributes or {})["jobdeck.job.queue_wait"] >= 0
        spans.clear()
        other = store.create_job("Import", "a", queued=True)
        worker.run_job(other.id, {"traceparent": "garbage"})  # a bad carrier: the job runs, as a trace of its own
        assert store.require_job(other.id).status is JobStatus.COMPLETED
        assert by_name(spans.get_finished_spans(), "job Import").parent is None
        worker.shutdown(grace=5)
        server.shutdown(grace=5)
    finally:
        store.close()


def test_a_requeued_jobs_next_attempt_says_which_attempt(spans: InMemorySpanExporter, tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "jobs.db")
    try:
        worker = JobRunner(store)
        worker.register("Import", pipeline)
        job = store.create_job("Import", "a", queued=True)
        assert store.claim_job(job.id, "host:1:dead") is not None  # a worker that then died
        assert store.reap_stale(now=time.time() + store.stale_after * 10, requeue={"Import": 1}) == [job.id]
        worker.run_job(job.id)
        root = by_name(spans.get_finished_spans(), "job Import")
        assert (root.attributes or {})["jobdeck.job.attempt"] == 2
        assert (root.attributes or {})["jobdeck.job.id"] == job.id
        worker.shutdown(grace=5)
    finally:
        store.close()
