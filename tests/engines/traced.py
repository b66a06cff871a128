"""The engine tests' job types (``tests.engines.jobs``) in an application that configures OpenTelemetry's SDK, as
``tests.engines.traced:build``: each process appends the spans it ends, one JSON object a line, to
``$JOBDECK_TEST_SPANS_DIR/spans-<pid>.jsonl`` (the SDK's console exporter writing to a file), so that a test can
read what every server and worker process traced."""

from __future__ import annotations

import os
from pathlib import Path

from jobdeck import JobRunner, Store

from .jobs import build as build_jobs


def _configure_tracing(directory: Path) -> None:
    from opentelemetry import trace
    from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
    from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SimpleSpanProcessor

    out = (directory / f"spans-{os.getpid()}.jsonl").open("a", buffering=1)

    def one_line(span: ReadableSpan) -> str:
        return span.to_json(indent=None) + "\n"

    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter(out=out, formatter=one_line)))
    trace.set_tracer_provider(provider)


def build(store: Store) -> JobRunner:
    directory = os.environ.get("JOBDECK_TEST_SPANS_DIR")
    if directory:
        _configure_tracing(Path(directory))
    return build_jobs(store)
