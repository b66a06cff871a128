"""The servers under load, each run in its own process: ``python -m benchmarks.servers MODE --port P ...``.

- ``jobdeck-http``: the jobdeck app (token auth) on a store filled with the HTTP scenario's jobs.
- ``ceiling-http``: a minimal Starlette app answering each path with the JSON it is given, serialised with
  orjson on every request: the ceiling for serving the same bytes under the same uvicorn.
- ``jobdeck-sse``: the jobdeck app with a runner whose ``bench-ticker`` job changes progress ``rate`` times a
  second; each value is the time it was set, so clients can tell the delay from store change to receipt.
- ``ceiling-sse``: a minimal Starlette SSE endpoint pushing the same frames from one emitter task through one
  queue per client.

Both kinds run under ``uvicorn.run`` with the same options, access log off (it would cost the same in both).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import threading
import time
from collections.abc import AsyncIterator
from typing import Any

SPAN = 1000.0  # progress = (time - t0) / SPAN, as in store_bench
PREFIX = "/api/admin/jobs"
SUMMARY_TYPE = "bench-summary"
FULL_TYPE = "bench-full"


# ---------------------------------------------------------------------- scenario data


def fill_http_scenario(store: Any, summary_jobs: int, full_jobs: int) -> None:
    """``summary_jobs`` active and past jobs of ~2 KB each (params + a few messages), and ``full_jobs`` active
    and past jobs carrying 1,000 info, warning and error messages each."""
    items = [f"item-{i:05d}" for i in range(100)]  # ~1.2 KB of params: a realistic selection of ids
    for finished in (False, True):
        for n in range(summary_jobs):
            job = store.create_job(SUMMARY_TYPE, "admin@example.com", {"items": items, "batch": n})
            store.update_progress(job.id, 0.42)
            for m in range(5):
                store.add_info_message(job.id, f"processed batch {m} of job {n}: 20 items, 0 skipped")
            if finished:
                store.complete_job(job.id, {"processed": 100})
        for n in range(full_jobs):
            job = store.create_job(FULL_TYPE, "admin@example.com", {"batch": n})
            for kind in ("info", "warning", "error"):
                for m in range(1000):
                    store.add_message(job.id, kind, f"{kind} {m}: question {m * 7 % 1000} handled in {m % 97} ms")
            if finished:
                store.complete_job(job.id, {"processed": 1000})
    store.flush()


HTTP_PATHS = {
    "GET /active (100 jobs, messages=last:3)": f"{PREFIX}/active?jobType={SUMMARY_TYPE}&messages=last:3",
    "GET /past (100 jobs, messages=last:3)": f"{PREFIX}/past?jobType={SUMMARY_TYPE}&messages=last:3",
    "GET /active (10 jobs x 3x1000 messages, full)": f"{PREFIX}/active?jobType={FULL_TYPE}&messages=all",
    "GET /past (10 jobs x 3x1000 messages, full)": f"{PREFIX}/past?jobType={FULL_TYPE}&messages=all",
}


# ---------------------------------------------------------------------- apps


def jobdeck_http_app(store_url: str, token: str, summary_jobs: int, full_jobs: int, churn: float) -> Any:
    from jobdeck import open_store
    from jobdeck.api import create_app

    store = open_store(store_url)
    fill_http_scenario(store, summary_jobs, full_jobs)
    if churn > 0:
        threading.Thread(target=_churn, args=(store, churn), daemon=True).start()
    return create_app(store=store, token=token, ui=False)


def _churn(store: Any, rate: float) -> None:
    """Every active summary job changes progress ``rate`` times a second, one job at a time and spread evenly,
    so that the store changes about every millisecond: an answer is rarely reused as it was."""
    ids = [job.id for job in store.get_active_jobs(SUMMARY_TYPE, messages=False)]
    gap = 1 / (rate * max(1, len(ids)))
    tick = 0
    next_at = time.monotonic()
    while True:
        tick += 1
        for job_id in ids:
            store.update_progress(job_id, (tick % 1000) / 1000)
            next_at += gap
            delay = next_at - time.monotonic()
            if delay > 0:
                time.sleep(delay)


def ticker(ctl: Any, count: int = 100, rate: float = 10.0, t0: float = 0.0) -> dict[str, int]:
    """``count`` progress changes, ``rate`` a second, each value encoding when it was set."""
    start = time.monotonic()
    for i in range(count):
        delay = start + i / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        ctl.progress((time.time() - t0) / SPAN)
    return {"changes": count}


def jobdeck_sse_app(store_url: str, token: str) -> Any:
    from jobdeck import JobRunner, open_store
    from jobdeck.api import create_app

    store = open_store(store_url)
    runner = JobRunner(store)
    runner.register("bench-ticker", ticker, title="Benchmark ticker", params={"count": 100, "rate": 10.0, "t0": 0.0})
    return create_app(store=store, runner=runner, token=token, ui=False)


def ceiling_http_app(payload_file: str) -> Any:
    import orjson
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    with open(payload_file) as fh:
        payloads: dict[str, Any] = json.load(fh)  # path with query -> the JSON jobdeck answered

    async def serve(request: Request) -> Response:
        key = request.url.path + ("?" + request.url.query if request.url.query else "")
        return Response(orjson.dumps(payloads[key]), media_type="application/json")

    async def health(request: Request) -> Response:
        return Response(b'{"status":"ok"}', media_type="application/json")

    return Starlette(routes=[Route("/healthz", health), Route(PREFIX + "/{rest:path}", serve)])


def ceiling_sse_app() -> Any:
    """The push ceiling: one emitter, one asyncio.Queue per client, a StreamingResponse each."""
    import orjson
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response, StreamingResponse
    from starlette.routing import Route

    clients: set[asyncio.Queue[bytes]] = set()
    job_id = "00000000-0000-4000-8000-000000000000"
    seq = 0

    def frame(kind: str, data: dict[str, Any]) -> bytes:
        nonlocal seq
        seq += 1
        body = orjson.dumps({"id": str(seq), "type": kind, "jobId": job_id, "data": data})
        return b"id: %d\nevent: %s\ndata: %s\n\n" % (seq, kind.encode(), body)

    def publish(chunk: bytes) -> None:
        for queue in clients:
            queue.put_nowait(chunk)

    async def emit(count: int, rate: float, t0: float) -> None:
        from jobdeck.core.model import format_time

        start = time.monotonic()
        for i in range(count):
            delay = start + i / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            now = time.time()
            publish(frame("progress", {"progress": (now - t0) / SPAN, "lastActivityTime": format_time(now),
                                       "currentOperation": None}))
        publish(frame("status", {"id": job_id, "status": "completed"}))

    async def events(request: Request) -> Response:
        queue: asyncio.Queue[bytes] = asyncio.Queue()
        clients.add(queue)

        async def stream() -> AsyncIterator[bytes]:
            try:
                yield b"retry: 1000\n\n" + b"event: hello\ndata: %s\n\n" % orjson.dumps({"cursor": str(seq)})
                while True:
                    yield await queue.get()
            finally:
                clients.discard(queue)

        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    tasks: set[asyncio.Task[None]] = set()

    async def start(request: Request) -> Response:
        body = await request.json()
        params = body.get("params", {})
        task = asyncio.create_task(emit(params["count"], params["rate"], params["t0"]))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        return JSONResponse({"id": job_id}, status_code=201)

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    return Starlette(routes=[Route(PREFIX + "/events", events), Route(PREFIX + "/start", start, methods=["POST"]),
                             Route("/healthz", health)])


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.servers")
    parser.add_argument("mode", choices=["jobdeck-http", "ceiling-http", "jobdeck-sse", "ceiling-sse"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--token", default="bench-token")
    parser.add_argument("--store", default="memory://")
    parser.add_argument("--summary-jobs", type=int, default=100)
    parser.add_argument("--full-jobs", type=int, default=10)
    parser.add_argument("--payloads", help="ceiling-http: JSON file of path -> payload")
    parser.add_argument("--churn", type=float, default=0.0, help="jobdeck-http: progress changes/s of every job")
    args = parser.parse_args()
    if args.mode == "jobdeck-http":
        app = jobdeck_http_app(args.store, args.token, args.summary_jobs, args.full_jobs, args.churn)
    elif args.mode == "ceiling-http":
        app = ceiling_http_app(args.payloads)
    elif args.mode == "jobdeck-sse":
        app = jobdeck_sse_app(args.store, args.token)
    else:
        app = ceiling_sse_app()
    import uvicorn

    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False, backlog=4096)


if __name__ == "__main__":
    main()
