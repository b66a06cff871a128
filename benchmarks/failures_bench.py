"""Section ``failures``: failure groups over a large failed history, and a bulk re-run under a live server.

Groups: each store holds 10,000 failed jobs (``--quick``: 2,000) in 50 signatures; one ``failure_groups()`` call
(what ``GET /failures`` asks of the store, 50 groups with their 20 newest ids and one message each) is timed beside
one page of ``get_past_jobs(limit=50)`` (what ``GET /past`` asks, the same page size), both with their JSON
serialised. Target: at most 100 ms per call on memory, SQLite and PostgreSQL (they group in the store: one pass or
one ``GROUP BY``); Redis reads four fields of every past job (no index on the signature) and has a looser 2 s
bound. A store that read every job with its messages, or a query per job, would fail the bound.

Bulk: 1,000 failed jobs (``--quick``: 200) of a type that may run 50 at a time are re-run by one ``POST /bulk`` on
a real uvicorn server over a SQLite store. Rows: the time from the request to every re-run started (target: under
60 s -- about 20 ms per job; a bulk job that waited seconds per slot, or started jobs one request at a time, fails
it), the p99 latency of ``GET /stats`` meanwhile beside the same requests on the idle server (target: within 10x
the idle p99 plus 50 ms: the bulk job must not hold the store or the event loop), and that no job was started twice
(target: exactly one re-run per failed job).
"""

from __future__ import annotations

import contextlib
import os
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

from .table import Row, ms, ratio, skipped
from .timing import percentile, redis_unavailable, redis_url

SECTION = "failures"
TOKEN = "bench-token-failures"
GROUPS = 50
_PG_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def run(quick: bool) -> list[Row]:
    rows: list[Row] = []
    jobs = 2_000 if quick else 10_000
    for kind in ("memory", "sqlite", "redis", "postgres"):
        with _store(kind, jobs) as store:
            if isinstance(store, str):
                rows.append(skipped(SECTION, f"/failures over {jobs} failed jobs ({kind})", store))
                continue
            rows.append(_groups_row(kind, store, jobs, quick))
    rows += _bulk_rows(200 if quick else 1_000)
    return rows


@contextlib.contextmanager
def _store(kind: str, jobs: int) -> Iterator[Any]:
    """A store of ``kind`` holding ``jobs`` failed jobs in :data:`GROUPS` signatures (or why there is none)."""
    limits: dict[str, Any] = {"max_past_jobs": jobs + 100}
    store: Any
    with contextlib.ExitStack() as stack:
        if kind == "memory":
            from jobdeck import MemoryStore

            store = MemoryStore(**limits)
        elif kind == "sqlite":
            from jobdeck.stores.sqlite import SQLiteStore

            tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="jobdeck-bench-"))
            store = SQLiteStore(f"{tmp}/failures.db", **limits)
        elif kind == "redis":
            why = redis_unavailable(redis_url())
            if why:
                yield why
                return
            from jobdeck.stores.redis import RedisStore

            from .stores import delete_redis_keys

            prefix = f"jobdeck-bench-{uuid.uuid4().hex[:8]}"
            stack.callback(delete_redis_keys, redis_url(), prefix)  # after the store closes (callbacks run LIFO)
            store = RedisStore(redis_url(), prefix=prefix, **limits)
        else:
            try:
                import psycopg

                url = os.environ.get("DATABASE_URL") or _PG_URL
                psycopg.connect(url, connect_timeout=3).close()
            except Exception as exc:  # no driver, no server
                yield f"no PostgreSQL ({' '.join(str(exc).split())[:100]})"
                return
            from jobdeck.stores.postgres import PostgresStore

            schema = f"bench_failures_{uuid.uuid4().hex[:8]}"
            stack.callback(_drop_schema, url, schema)
            store = PostgresStore(url, schema=schema, **limits)
        stack.callback(store.close)
        for n in range(jobs):
            job = store.create_job(f"Import{n % 5}", "bench")
            store.fail_job(job.id, f"Error{n % GROUPS}: row {n} of batch {n * 7} failed at /data/in/{n}.csv")
        store.flush()
        yield store


def _drop_schema(url: str, schema: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def _timed(fn: Any, repeats: int) -> float:
    fn()  # warm: connections, caches, prepared statements
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def _groups_row(kind: str, store: Any, jobs: int, quick: bool) -> Row:
    from jobdeck.core.jsoncodec import dumps

    def groups() -> None:
        found = store.failure_groups(limit=GROUPS)
        if len(found) != GROUPS or sum(g.count for g in found) != jobs:
            raise AssertionError(f"expected {GROUPS} groups of {jobs} jobs, got {len(found)}")
        dumps([g.to_dict() for g in found])

    def past() -> None:
        dumps([j.to_dict(messages=0) for j in store.get_past_jobs(limit=GROUPS, messages=False)])

    repeats = 5 if quick else 15
    took, page = _timed(groups, repeats), _timed(past, repeats)
    bound = 2.0 if kind == "redis" else 0.1
    return Row(SECTION, f"/failures: {jobs} failed jobs in {GROUPS} groups ({kind})", ms(took),
               f"/past page: {ms(page)}", ratio(took, page), f"<= {ms(bound)}", took <= bound,
               note=("fails if grouping reads every job with its messages, or a query per job"
                     if kind != "redis" else "reads four fields of every past job (no signature index on "
                                             "Redis); fails if it read whole heads or messages"),
               values={"groups_s": took, "past_s": page, "jobs": jobs})


def _bulk_rows(count: int) -> list[Row]:
    import httpx

    from jobdeck import JobRunner
    from jobdeck.api import create_app
    from jobdeck.stores.sqlite import SQLiteStore

    from .servers import PREFIX

    with tempfile.TemporaryDirectory(prefix="jobdeck-bench-") as tmp:
        store = SQLiteStore(f"{tmp}/bulk.db", max_past_jobs=count * 3)
        runner = JobRunner(store)
        runner.register("Quick", lambda ctl: None, max_concurrent=50)
        failed = []
        for _ in range(count):
            job = store.create_job("Quick", "bench")
            store.fail_job(job.id, "TimeoutError: host 10.0.0.7 did not answer")
            failed.append(job.id)
        app = create_app(runner=runner, token=TOKEN)
        with _serving(app) as url, httpx.Client(base_url=url, headers={"Authorization": f"Bearer {TOKEN}"}) as client:
            idle = _latencies(client, f"{PREFIX}/stats", 2.0)
            stop = threading.Event()
            busy: list[float] = []
            prober = threading.Thread(target=lambda: busy.extend(_latencies(client, f"{PREFIX}/stats", 120.0, stop)))
            prober.start()
            t0 = time.perf_counter()
            answer = client.post(f"{PREFIX}/bulk", json={"action": "rerun", "ids": failed[:1000]} if count <= 1000
                                 else {"action": "rerun", "filter": {"status": ["failed"]}}).json()
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                bulk = store.require_job(answer["jobId"], messages=False)
                if not bulk.is_active:
                    break
                time.sleep(0.02)
            started = time.perf_counter() - t0
            stop.set()
            prober.join()
        reruns = [j.rerun_of for j in store.search_jobs(None, job_type="Quick", limit=count * 3) if j.rerun_of]
        runner.shutdown(grace=10)
        store.close()
    once = len(reruns) == len(set(reruns)) == count and set(reruns) == set(failed)
    idle99, busy99 = percentile(idle, 99), percentile(busy or [float("inf")], 99)
    return [
        Row(SECTION, f"bulk re-run of {count} failed jobs: all started", ms(started), "", "", "<= 60000.0 ms",
            started <= 60 and bulk.status.value == "completed",
            note="fails if the bulk job waits long per slot or stops short of every job",
            values={"seconds": started, "count": count}),
        Row(SECTION, "GET /stats p99 during the bulk re-run", ms(busy99), f"idle: {ms(idle99)}",
            ratio(busy99, idle99), "<= 10x idle + 50 ms", busy99 <= 10 * idle99 + 0.05,
            note="fails if the bulk job holds the store's lock or the event loop between jobs",
            values={"busy_p99_s": busy99, "idle_p99_s": idle99}),
        Row(SECTION, "no job started twice", f"{len(reruns)} re-runs", f"{count} failed", "", "exactly one each",
            once, note="fails if a job is re-run twice or skipped", values={"reruns": len(reruns)}),
    ]


def _latencies(client: Any, path: str, seconds: float, stop: threading.Event | None = None) -> list[float]:
    out = []
    until = time.monotonic() + seconds
    while time.monotonic() < until and not (stop is not None and stop.is_set()):
        t = time.perf_counter()
        client.get(path).raise_for_status()
        out.append(time.perf_counter() - t)
        time.sleep(0.005)
    return out


@contextlib.contextmanager
def _serving(app: Any) -> Iterator[str]:
    """``app`` under uvicorn on a free loopback port in a thread."""
    import socket

    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
