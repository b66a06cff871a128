"""Peers on the same Redis in the same run: how a job reports progress with RQ, Celery and SAQ.

- RQ: ``job.meta["progress"] = x; job.save_meta()``
- Celery: ``task.update_state(state="PROGRESS", meta=...)`` on the Redis result backend (no worker: called
  the way a running task calls it)
- SAQ: ``await job.update(progress=x)``

Each is timed per call against jobdeck's ``controller.progress(v)`` on a RedisStore on the same server.
Install them with ``pip install -r benchmarks/requirements-peers.txt``; a missing one is a skipped row. Every key
created is deleted afterwards.
"""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid
from collections.abc import Callable
from typing import Any

from .stores import delete_redis_keys, target, unavailable
from .table import Row, ratio, skipped, us
from .timing import per_call, redis_unavailable, redis_url

SECTION = "peers"


def _median_per_call(step: Callable[[float], Any], n: int, repeats: int = 3) -> float:
    return per_call(step, n, repeats)


def rq_progress(url: str, n: int) -> float:
    import redis
    from rq.job import Job

    conn = redis.Redis.from_url(url)
    job = Job.create("builtins.print", connection=conn, id=f"jobdeck-bench-{uuid.uuid4().hex}")
    job.save()
    try:

        def step(value: float) -> None:
            job.meta["progress"] = value
            job.save_meta()

        return _median_per_call(step, n)
    finally:
        job.delete()
        conn.close()


def celery_progress(url: str, n: int) -> float:
    from celery import Celery

    app = Celery("jobdeck-bench", broker="memory://", backend=url)

    @app.task(bind=True)
    def long_job(self: Any) -> None:  # never run: update_state is called as the running task would
        return None

    task_id = f"jobdeck-bench-{uuid.uuid4().hex}"
    try:

        def step(value: float) -> None:
            long_job.update_state(task_id=task_id, state="PROGRESS", meta={"progress": value})

        return _median_per_call(step, n)
    finally:
        app.backend.forget(task_id)
        app.close()


def saq_progress(url: str, n: int) -> float:
    from saq import Job, Queue

    name = f"jobdeck-bench-{uuid.uuid4().hex[:8]}"

    async def main() -> float:
        queue = Queue.from_url(url, name=name)
        await queue.connect()
        try:
            job = Job(function="noop", queue=queue)
            await queue.enqueue(job)
            samples = []
            for _ in range(3):
                start = time.perf_counter()
                for i in range(n):
                    await job.update(progress=i / n)
                samples.append((time.perf_counter() - start) / n)
            return statistics.median(samples)
        finally:
            await queue.disconnect()

    try:
        return asyncio.run(main())
    finally:
        delete_redis_keys(url, f"saq:{name}")
        delete_redis_keys(url, f"saq:job:{name}")


def jobdeck_progress(n: int) -> float:
    from jobdeck import PipelineController

    with target("redis") as tgt:
        store = tgt.open()
        try:
            job = store.create_job("bench-peers", "bench")
            ctl = PipelineController(job.id, store)
            result = per_call(ctl.progress, n, 3)
            ctl.complete()
            return result
        finally:
            store.close()


PEERS: dict[str, tuple[str, Callable[[str, int], float]]] = {
    "rq": ("RQ job.meta[...] = x; job.save_meta()", rq_progress),
    "celery": ("Celery update_state(PROGRESS, meta) on the Redis backend", celery_progress),
    "saq": ("SAQ await job.update(progress=x)", saq_progress),
}


def run(quick: bool) -> list[Row]:
    url = redis_url()
    why = redis_unavailable(url)
    if why:
        return [skipped(SECTION, f"{label}", why) for label, _ in PEERS.values()]
    n = 500 if quick else 2_000
    why_store = unavailable("redis")
    ours = jobdeck_progress(n * 20) if why_store is None else None
    rows = []
    if ours is None:
        rows.append(skipped(SECTION, "jobdeck controller.progress(v) on Redis", why_store or ""))
    for module, (label, measure) in PEERS.items():
        try:
            __import__(module)
        except ImportError:
            rows.append(skipped(SECTION, label, f"{module} not installed (pip install -r "
                                                "benchmarks/requirements-peers.txt)"))
            continue
        theirs = measure(url, n)
        rows.append(Row(SECTION, f"progress update: {label}",
                        jobdeck=us(ours) if ours is not None else "n/a", baseline=us(theirs),
                        ratio=ratio(ours, theirs) if ours is not None else "",
                        target="(context)", values={"peer_s": theirs, "jobdeck_s": ours}))
    return rows
