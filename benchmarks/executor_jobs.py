"""Job types and a raw Celery app for benchmarks/executor_bench.py (loaded by ``jobdeck serve``/``worker`` and by
``celery worker`` in subprocesses). Each handler records the moment it starts, so dispatch latency is measured
from the client's clock to the handler's first line on both sides."""

from __future__ import annotations

import os
import time
from typing import Any

from jobdeck import JobRunner, PipelineController, Store

# The raw workers' queue (a queue of the run's own on a shared RabbitMQ: ``JOBDECK_BENCH_QUEUE``).
RAW_QUEUE = os.environ.get("JOBDECK_BENCH_QUEUE", "raw-bench")


def build(store: Store) -> JobRunner:
    runner = JobRunner(store)

    @runner.job("Mark", max_concurrent=100_000)
    def mark(ctl: PipelineController) -> dict[str, float]:
        return {"started": time.time()}

    @runner.job("Ticker", max_concurrent=10)
    def ticker(ctl: PipelineController, progress: int = 20_000, messages: int = 5_000) -> dict[str, Any]:
        return tick(ctl, progress, messages)

    return runner


def tick(ctl: PipelineController, progress: int, messages: int) -> dict[str, Any]:
    """Per-call cost of ``progress()`` and ``info()`` inside whatever process runs the handler."""
    t = time.perf_counter()
    for i in range(progress):
        ctl.progress(i / progress)
    per_progress = (time.perf_counter() - t) / progress
    t = time.perf_counter()
    for i in range(messages):
        ctl.info(f"step {i}")
    per_message = (time.perf_counter() - t) / messages
    return {"progress_s": per_progress, "message_s": per_message, "pid": os.getpid()}


def raw_app() -> Any:
    """A plain Celery app on the benchmark's broker (``JOBDECK_BENCH_BROKER``): one task that notes when it started
    in a Redis list (on ``JOBDECK_BENCH_MARKS``, by default the broker itself), nothing else."""
    import redis
    from celery import Celery

    broker = os.environ["JOBDECK_BENCH_BROKER"]
    app = Celery("raw", broker=broker, set_as_current=False)
    app.conf.update(task_serializer="json", accept_content=["json"], task_ignore_result=True, task_acks_late=True,
                    worker_prefetch_multiplier=1, worker_hijack_root_logger=False)
    marks = redis.Redis.from_url(os.environ.get("JOBDECK_BENCH_MARKS", broker))

    @app.task(name="bench.raw_mark")
    def raw_mark(key: str) -> None:
        marks.rpush(key, repr(time.time()))

    return app


def web_app() -> Any:
    """Raw Celery as a web application starts it: one POST endpoint that calls ``send_task`` (in the thread pool,
    as jobdeck's ``/start`` does its store and broker work) and answers 201, served by uvicorn like
    ``jobdeck serve``. Beside it, jobdeck's overhead is what jobdeck adds, not the HTTP hop any web app pays."""
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    celery = raw_app()

    async def send(request: Request) -> JSONResponse:
        key = (await request.json())["key"]
        await run_in_threadpool(celery.send_task, "bench.raw_mark", args=[key], queue=RAW_QUEUE)
        return JSONResponse({"key": key}, status_code=201)

    return Starlette(routes=[Route("/send", send, methods=["POST"])])


app = raw_app() if "JOBDECK_BENCH_BROKER" in os.environ else None
