"""The server of the "history" section: ``python -m benchmarks.history_server --store URL --port P ...``.

It fills its store with a history, then serves the jobdeck app with a runner whose ``history-probe`` job times
``progress()`` + ``info()`` pairs and returns their percentiles as its result.

Filling is a documented fast path: jobs are created and ended through the store's public calls, but their
messages are written in bulk straight into each backend's own layout (one ``executemany`` per job on SQLite, one
``RPUSH`` per kind on Redis, one ``unnest`` insert per kind on PostgreSQL, list extends under the memory store's
lock) -- the same rows and keys
``add_*_message`` writes, minus the per-message events nobody reads here. Writing two million messages one call at a
time would take minutes per store (~80 us a message on SQLite and Redis on the 2-core machine).

The answer cache's maximum age is set to zero, so that every request reads the store: the figures are those of the
store queries, not of cached answers (a repeated identical request would otherwise be served from memory).
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

SMALL_TYPE = "history-small"  # the first 100 jobs: the 100-job streamed answer reads only these
REST_TYPE = "history-rest"
PROBE_TYPE = "history-probe"
SMALL_JOBS = 100
# 2,000 messages a job split over the kinds like a real pipeline log, each kind within the default cap of 1,000.
SHARES = (("info", 0.5), ("warning", 0.35), ("error", 0.15))


def bulk_messages(store: Any, job_id: str, kind: str, texts: list[str]) -> None:
    """Append messages to an active job the fast way (see the module docstring), oldest first."""
    import json

    from jobdeck.core.model import JobMessage, MessageType

    now = time.time()
    if store.scheme == "memory":
        kind_enum = MessageType(kind)
        with store._lock:
            store._jobs[job_id].messages(kind_enum).extend(JobMessage(kind_enum, t, now) for t in texts)
    elif store.scheme == "sqlite":
        with store._tx() as conn:
            conn.executemany("INSERT INTO messages (job_id, kind, text, ts) VALUES (?, ?, ?, ?)",
                             [(job_id, kind, t, now) for t in texts])
    elif store.scheme == "redis":
        store._redis.rpush(store._msgs_key(job_id, MessageType(kind)),
                           *[json.dumps([t, now], separators=(",", ":")) for t in texts])
    elif store.scheme == "postgresql":
        store._run(lambda conn: conn.execute(store._q.insert_messages, (
            [job_id] * len(texts), [kind] * len(texts), texts, [now] * len(texts))))
    else:
        for t in texts:
            store.add_message(job_id, kind, t)


def fill(store: Any, jobs: int, messages: int) -> float:
    """``jobs`` past jobs of ``messages`` messages each; returns the seconds it took."""
    started = time.perf_counter()
    params = {"source": "s3://bucket/questions.jsonl", "model": "gpt-x", "batch": 0}
    for n in range(jobs):
        job = store.create_job(SMALL_TYPE if n < SMALL_JOBS else REST_TYPE, "admin@example.com",
                               {**params, "batch": n})
        for kind, share in SHARES:
            count = round(messages * share)
            if count:
                bulk_messages(store, job.id, kind, [
                    f"{kind} {m}: question {m * 7 % 1000} answered in {m % 97} ms, 312 tokens" for m in range(count)])
        if n % 10 == 9:
            store.fail_job(job.id, "upstream model timed out")
        else:
            store.complete_job(job.id, {"answered": messages})
    store.flush()
    return time.perf_counter() - started


def probe(ctl: Any, seconds: float = 3.0, interval: float = 0.002) -> dict[str, Any]:
    """``progress()`` + ``info()`` every ``interval`` for ``seconds``: the latency of each pair (``p50``,
    ``p99``, ``max``, in seconds), the pairs made (``n``), and how late the job's thread woke from each pause
    (``late50``, ``late99``): the time it waited to run again, for the CPU or the interpreter lock, which
    slows the job's own pace without showing in its calls."""
    samples, late = [], []
    end = time.monotonic() + seconds
    i = 0
    while time.monotonic() < end:
        i += 1
        t0 = time.perf_counter()
        ctl.progress(min(1.0, i / 10_000))
        ctl.info(f"step {i}")
        t1 = time.perf_counter()
        samples.append(t1 - t0)
        time.sleep(interval)
        late.append(max(0.0, time.perf_counter() - t1 - interval))
    samples.sort()
    late.sort()

    def pick(values: list[float], pct: float) -> float:
        return values[min(len(values) - 1, int(pct / 100 * len(values)))]

    return {"n": len(samples), "p50": pick(samples, 50), "p99": pick(samples, 99), "max": samples[-1],
            "late50": pick(late, 50), "late99": pick(late, 99)}


def probe_process(url: str, seconds: float) -> None:
    """``--probe``: a job run by this process (not the server) on the same store, timed like ``probe``; prints
    the percentiles as JSON. Shows what readers cost a job whose process does not also serve the readers."""
    import json

    from jobdeck import PipelineController, open_store

    store = open_store(url, max_past_jobs=100_000, max_messages=2000)
    job = store.create_job(PROBE_TYPE, "bench")
    try:
        result = probe(PipelineController(job.id, store), seconds)
    finally:
        store.complete_job(job.id)
        store.close()
    print(json.dumps(result), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.history_server")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--token", default="bench-token")
    parser.add_argument("--store", default="memory://")
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--probe", type=float, metavar="SECONDS", help="run the probe job here instead of serving")
    args = parser.parse_args()
    if args.probe:
        probe_process(args.store, args.probe)
        return

    import uvicorn

    from jobdeck import JobRunner, open_store
    from jobdeck.api import create_app

    store = open_store(args.store, max_past_jobs=args.jobs + 500, max_messages=2000)
    took = fill(store, args.jobs, args.messages)
    print(f"filled {args.jobs} jobs x {args.messages} messages in {took:.1f} s", file=sys.stderr, flush=True)
    runner = JobRunner(store)
    runner.register(PROBE_TYPE, probe, title="Latency probe", params={"seconds": 3.0, "interval": 0.002})
    app = create_app(store=store, runner=runner, token=args.token)
    app.state.deck.answers.max_age = 0.0
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False, backlog=4096)


if __name__ == "__main__":
    main()
