"""Peers on the same Redis in the same run: how a job reports progress with RQ, Celery and SAQ.

- RQ: ``job.meta["progress"] = x; job.save_meta()``
- Celery: ``task.update_state(state="PROGRESS", meta=...)`` on the Redis result backend (no worker: called
  the way a running task calls it)
- SAQ: ``await job.update(progress=x)``

Like with like: each peer writes Redis on every call, jobdeck queues the value and writes the newest one per
coalescing window. So each peer gets two rows beside jobdeck on a RedisStore on the same server:

- what reaches Redis: writes per second while the job updates as fast as it can (a peer: one per call; jobdeck:
  counted from its change log), with the freshness of the stored value (a peer's value is there when its call
  returns; jobdeck's age as a reader in another process sees it, p99, target <= 100 ms: fails when jobdeck's
  writes lag);
- the cost in the job's loop per update (context, no target: jobdeck's call queues, a peer's call writes).

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


def jobdeck_progress(n: int, quick: bool) -> tuple[float, float, float]:
    """jobdeck on Redis: seconds per ``progress()`` call in the job's loop, progress writes reaching Redis per
    second under a tight loop, and the p99 age of the stored value seen from another process."""
    from jobdeck import PipelineController

    from .store_bench import _staleness
    from .timing import percentile

    with target("redis") as tgt:
        store = tgt.open()
        try:
            job = store.create_job("bench-peers", "bench")
            ctl = PipelineController(job.id, store)
            result = per_call(ctl.progress, n, 3)
            ctl.complete()
            _, samples, landed = _staleness(tgt, store, 1.5 if quick else 4.0)
            return result, landed, percentile(samples, 99) if samples else float("inf")
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
    found = jobdeck_progress(n * 20, quick) if why_store is None else None
    ours = found[0] if found is not None else None
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
        if found is not None:
            _, landed, fresh = found
            rows.append(Row(SECTION, f"progress writes reaching Redis per second, tight loop: jobdeck vs {label}",
                            f"{landed:,.0f}/s, fresh {fresh * 1e3:.0f} ms p99", f"{1 / theirs:,.0f}/s, fresh "
                            f"{theirs * 1e3:.2f} ms", ratio(landed, 1 / theirs), "jobdeck fresh <= 100 ms",
                            fresh <= 0.1, note="jobdeck writes the newest value once per window, the peer every "
                            "value; fails when jobdeck's stored value is older than 100 ms at p99",
                            values={"jobdeck_writes_per_s": landed, "jobdeck_fresh_p99_s": fresh,
                                    "peer_writes_per_s": 1 / theirs}))
        rows.append(Row(SECTION, f"cost in the job's loop per update (jobdeck queues, the peer writes): {label}",
                        jobdeck=us(ours) if ours is not None else "n/a", baseline=us(theirs),
                        ratio=ratio(ours, theirs) if ours is not None else "",
                        target="(context)", note="context, no target: not a store write on jobdeck's side",
                        values={"peer_s": theirs, "jobdeck_s": ours}))
    return rows
