"""Engine cost section (``enginecost``, issue 26 "Engine throughput"): where one short job's time goes through a
Celery worker, on the SQLite, Redis and PostgreSQL stores — a measurement, not a fix.

One job at a time, started by ``runner.start()`` in this process (the server's start path without the HTTP hop)
and run by one ``jobdeck worker`` process (thread pool, concurrency 1) on a private Redis broker. Both sides are
counted (benchmarks/engine_cost_jobs.py): the store's primitives (each one transaction or one script), SQL
statements / Redis packets to the store, and server-side figures (Redis ``INFO commandstats``, PostgreSQL
``pg_stat_database.xact_commit``). Beside them, a raw Celery task's send -> task started on the same broker.

The write target is what a lifecycle needs: create (the client), claim (the worker, so that two workers cannot
run one job) and complete (the worker) — three writes. Anything more per job (a separate heartbeat, a status
write before the claim, an event row written apart from its change) is a cost the figures name.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .executor_bench import _free_port, _ping, _Procs, _wait
from .table import Row, skipped
from .timing import percentile

SECTION = "enginecost"
QUEUE = "jobdeck-enginecost"
NEEDED_WRITES = 3  # create, claim, complete


def run(quick: bool) -> list[Row]:
    try:
        import celery  # noqa: F401
        import redis
    except ImportError as exc:
        return [skipped(SECTION, "(section)", f"{exc} (pip install 'jobdeck[celery]')")]
    binary = shutil.which("redis-server")
    if binary is None:
        return [skipped(SECTION, "(section)", "no redis-server for a private broker")]
    n = 20 if quick else 100
    tmp = Path(tempfile.mkdtemp(prefix="jobdeck-enginecost-"))
    procs = _Procs(tmp)
    env = {k: v for k, v in os.environ.items() if not k.startswith("JOBDECK_")}
    broker_port, store_port = _free_port(), _free_port()
    broker = f"redis://127.0.0.1:{broker_port}/0"
    env.update(JOBDECK_BENCH_BROKER=broker, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    rows: list[Row] = []
    try:
        for port in (broker_port, store_port):  # the store on its own server, so its commandstats are its own
            procs.start(f"redis{port}", [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                         "--appendonly", "no"], env)
            client = redis.Redis(port=port)
            _wait(lambda c=client: _ping(c), 10, "a private redis-server")
        raw_s = _raw_celery(procs, env, broker, n)
        stores: list[tuple[str, Callable[[], Any]]] = [
            ("SQLite", lambda: _nullcontext(f"sqlite:///{tmp / 'jobs.db'}")),
            ("Redis", lambda: _nullcontext(f"redis://127.0.0.1:{store_port}/0")),
        ]
        from .pg_bench import _unavailable as pg_unavailable
        from .pg_bench import database

        why_pg = pg_unavailable()
        if why_pg is None:
            stores.append(("PostgreSQL", database))
        celery_url = f"celery+{broker}?queue={QUEUE}"
        for label, location in stores:
            with location() as url:
                rows += _measure(procs, env, celery_url, label, url, store_port if label == "Redis" else None, n,
                                 raw_s, tmp)
        if why_pg is not None:
            rows.append(skipped(SECTION, "PostgreSQL store", why_pg))
            rows.append(skipped(SECTION, "procrastinate worker", why_pg))
        else:
            rows += _procrastinate(procs, env, tmp, store_port, n)
    finally:
        procs.close()
        shutil.rmtree(tmp, ignore_errors=True)
    return rows


def _procrastinate(procs: _Procs, env: dict[str, str], tmp: Path, store_port: int, n: int) -> list[Row]:
    """The same lifecycle through a procrastinate worker (its queue in a private PostgreSQL database), on the
    SQLite and Redis stores, whose round trips are told apart from the queue's (PostgreSQL statements would not
    be: the queue speaks SQL to the same kind of server)."""
    try:
        import procrastinate  # noqa: F401
        from procrastinate.schema import SchemaManager
    except ImportError as exc:
        return [skipped(SECTION, "procrastinate worker", f"{exc} (pip install 'jobdeck[procrastinate]')")]
    import psycopg

    from .pg_bench import database
    from .procrastinate_bench import _workers_registered

    rows: list[Row] = []
    with database() as dsn:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(SchemaManager.get_schema())  # type: ignore[arg-type]
        for label, url, port in (("SQLite", f"sqlite:///{tmp / 'procrastinate.db'}", None),
                                 ("Redis", f"redis://127.0.0.1:{store_port}/2", store_port)):
            rows += _measure(procs, env, f"procrastinate+{dsn}", label, url, port, n, None, tmp, "procrastinate",
                             lambda d=dsn: _workers_registered(d, 1))
            with psycopg.connect(dsn, autocommit=True) as conn:  # the next store's worker registers afresh
                conn.execute("DELETE FROM procrastinate_workers")
    return rows


class _nullcontext:
    def __init__(self, value: str) -> None:
        self.value = value

    def __enter__(self) -> str:
        return self.value

    def __exit__(self, *exc: object) -> None:
        return None


def _raw_celery(procs: _Procs, env: dict[str, str], broker: str, n: int) -> list[float]:
    """Raw Celery's own per-task time on the same broker: send_task -> the task's first line, one at a time."""
    import redis

    proc, log = procs.start("raw", [
        sys.executable, "-m", "celery", "-A", "benchmarks.executor_jobs:app", "worker", "--pool", "threads", "-c",
        "1", "--prefetch-multiplier", "1", "-O", "fair", "-Q", "raw-bench", "--without-gossip", "--without-mingle",
        "-n", "rawcost@%h", "-l", "INFO"], env)
    procs.ready(log, proc)
    os.environ["JOBDECK_BENCH_BROKER"] = broker
    from .executor_jobs import raw_app

    app = raw_app()
    marks = redis.Redis.from_url(broker)
    times = []
    for i in range(n + 3):
        key = f"bench:cost:{uuid.uuid4().hex}"
        t0 = time.time()
        app.send_task("bench.raw_mark", args=[key], queue="raw-bench")
        started = float(marks.blpop([key], timeout=30)[1])  # type: ignore[index]
        if i >= 3:  # the first few warm connections and imports
            times.append(started - t0)
    marks.close()
    proc.terminate()
    return times


def _worker_counts(folder: Path) -> Counter[str]:
    total: Counter[str] = Counter()
    for path in folder.glob("*.json"):
        total.update(json.loads(path.read_text()))
    return total


def _settled(folder: Path) -> Counter[str]:
    """The worker's counts once they stop moving (its flusher writes every 50 ms)."""
    last: Counter[str] | None = None
    deadline = time.monotonic() + 5
    while True:
        time.sleep(0.15)
        now = _worker_counts(folder)
        if now == last or time.monotonic() > deadline:
            return now
        last = now


def _server_side(label: str, url: str, store_port: int | None) -> dict[str, int]:
    """The Redis store server's own count of commands (everyone's: the benchmark's poller, and every
    ``redis.call`` inside a script). PostgreSQL's ``pg_stat_database`` is not used: a backend reports its
    counters only when idle and at most once a second, and a pooled connection's lag made the deltas
    undercount (1.5 commits per lifecycle where the statements show four)."""
    if label == "Redis" and store_port is not None:
        import redis

        client = redis.Redis(port=store_port)
        stats = client.info("commandstats")
        client.close()
        calls = sum(int(v["calls"]) for k, v in stats.items() if not k.endswith("_info"))
        return {"commands": calls}
    return {}


def _measure(procs: _Procs, env: dict[str, str], executor: str, label: str, url: str, store_port: int | None,
             n: int, raw: list[float] | None, tmp: Path, engine_name: str = "Celery",
             ready: Callable[[], bool] | None = None) -> list[Row]:
    from jobdeck.stores import open_store

    from . import engine_cost_jobs as probe

    folder = tmp / f"counts-{engine_name}-{label}"
    folder.mkdir()
    wenv = dict(env, JOBDECK_COUNTS_DIR=str(folder))
    if store_port is not None:
        wenv["JOBDECK_COUNTS_REDIS_PORT"] = str(store_port)
    deployment = _Procs(tmp)
    probe.install(store_port)
    try:
        runner = probe.build(open_store(url))  # the server's side: create + send_task
        from jobdeck.executors import open_executor

        engine = open_executor(executor)
        submit = engine.submit

        def timed_submit(*args: Any) -> None:  # the broker's share of the start: Celery's apply_async
            t = time.perf_counter()
            try:
                submit(*args)
            finally:
                probe.COUNTS["us:call:submit (send_task / defer)"] += round((time.perf_counter() - t) * 1e6)

        engine.submit = timed_submit  # type: ignore[method-assign]
        runner.set_executor(engine)
        with probe.paused():
            poller = open_store(url)
        proc, log = deployment.start(f"worker-{label}", [
            sys.executable, "-m", "jobdeck.cli", "worker", "--app", "benchmarks.engine_cost_jobs:build", "--store",
            url, "--executor", executor, "--concurrency", "1", "--log-level", "warning"], wenv)
        if ready is None:
            deployment.ready(log, proc)
        else:
            _wait(ready, 60, f"the {engine_name} worker")

        def one() -> tuple[float, float, Any]:
            t0 = time.time()
            job_id = runner.start("Mark", "bench").id
            returned = time.time()
            with probe.paused():
                job = _wait(lambda: (j := poller.get_job(job_id)) is not None and not j.is_active and j, 30,
                            f"job {job_id}")
            return t0, returned, job

        for _ in range(3):
            one()
        time.sleep(0.3)
        client_before, worker_before = probe.COUNTS.copy(), _settled(folder)
        server_before = _server_side(label, url, store_port)
        splits = []
        for _ in range(n):
            t0, returned, job = one()
            result = job.result
            splits.append({"enqueue": returned - t0, "to claim": job.start_time - returned,
                           "claim to handler": result["started"] - job.start_time,
                           "run": result["finished"] - result["started"],
                           "complete": job.end_time - result["finished"], "total": job.end_time - t0,
                           "handler": result["started"] - t0})
        client_after, worker_after = probe.COUNTS.copy(), _settled(folder)
        server_after = _server_side(label, url, store_port)
        runner.shutdown(grace=1)
        runner.store.close()
        with probe.paused():
            poller.close()
    finally:
        probe.uninstall()
        deployment.close()
    client = client_after - client_before
    worker = worker_after - worker_before
    return _rows(label, n, client, worker, {k: server_after[k] - server_before[k] for k in server_after}, splits,
                 raw, engine_name)


def _per(count: float, n: int) -> str:
    return f"{count / n:.2f}"


def _names(counts: Counter[str], prefix: str, names: tuple[str, ...], n: int) -> str:
    parts = [f"{k.split(':', 1)[1]} {v / n:.2f}" for k, v in sorted(counts.items())
             if k.startswith(prefix) and k.split(":", 1)[1] in names and v]
    return ", ".join(parts) or "none"


def _rows(label: str, n: int, client: Counter[str], worker: Counter[str], server: dict[str, int],
          splits: list[dict[str, float]], raw: list[float] | None, engine_name: str = "Celery") -> list[Row]:
    from .engine_cost_jobs import PRIMITIVE_READS, PRIMITIVE_WRITES, PUBLIC

    def writes(c: Counter[str]) -> int:
        return sum(c[f"prim:{k}"] for k in PRIMITIVE_WRITES)

    def reads(c: Counter[str]) -> int:
        return sum(c[f"prim:{k}"] for k in PRIMITIVE_READS)

    total_writes = writes(client) + writes(worker)
    where = f"{engine_name}, 1 worker, {label} store, {n} jobs one at a time"
    kind, tag = label, f"{label} store" + ("" if engine_name == "Celery" else f", {engine_name}")
    rows = [Row(SECTION, f"store writes per lifecycle, both sides ({where})",
                jobdeck=_per(total_writes, n), baseline=f"{NEEDED_WRITES} needed (create, claim, complete)",
                ratio=f"{total_writes / n / NEEDED_WRITES:.2f}x", target=f"<= {NEEDED_WRITES}",
                passed=total_writes / n <= NEEDED_WRITES,
                note="fails when any side writes more than create + claim + complete per job (a heartbeat, a "
                     "status write before the claim, a separate event or progress write); client: "
                     f"{_names(client, 'prim:', PRIMITIVE_WRITES, n)}; worker: "
                     f"{_names(worker, 'prim:', PRIMITIVE_WRITES, n)}",
                values={"client": dict(client), "worker": dict(worker), "n": n})]
    rt_client, rt_worker = _round_trips(kind, client), _round_trips(kind, worker)
    unit = {"SQLite": "commits", "Redis": "packets", "PostgreSQL": "statements"}[kind]
    # What the three writes need as round trips: one transaction each on SQLite (a commit), one script call
    # each on Redis (a packet); on PostgreSQL a transaction is at least BEGIN + one statement + COMMIT, counted
    # as statements through execute (BEGIN/COMMIT of conn.transaction() are not), so one statement per write.
    needed_rt = NEEDED_WRITES
    rows.append(Row(SECTION, f"store round trips ({unit}) per lifecycle, both sides ({tag})",
                    jobdeck=_per(rt_client + rt_worker, n), baseline=f"{needed_rt} for the 3 writes",
                    ratio=f"{(rt_client + rt_worker) / n / needed_rt:.2f}x", target=f"<= {2 * needed_rt} (2x)",
                    passed=(rt_client + rt_worker) / n <= 2 * needed_rt,
                    note=f"client {rt_client / n:.2f}, worker {rt_worker / n:.2f} per job"
                         f"{_redis_kinds(client, worker, n)}"
                         "; reads: client "
                         f"{_names(client, 'prim:', PRIMITIVE_READS, n)}, worker "
                         f"{_names(worker, 'prim:', PRIMITIVE_READS, n)}; fails when reads before and after "
                         "each write (re-reading the job to claim or to complete it) double the trips",
                    values={"client": rt_client, "worker": rt_worker, "n": n}))
    sql, st = ("pgsql:", "rt:pg_statement") if kind == "PostgreSQL" else ("sql:", "rt:statement")
    statements = client[st] + worker[st]
    if kind != "Redis":
        kinds = ", ".join(f"{k[len(sql):]} {v / n:.2f}" for k, v in sorted((client + worker).items(),
                                                                             key=lambda kv: -kv[1])
                          if k.startswith(sql))
        rows.append(Row(SECTION, f"SQL statements per lifecycle, both sides ({tag})",
                        jobdeck=_per(statements, n), target="(context)",
                        note=f"client {client[st] / n:.2f}, worker {worker[st] / n:.2f}; by kind: {kinds}",
                        values={"statements": statements, "n": n,
                                "kinds": {k: v for k, v in (client + worker).items() if k.startswith(sql)}}))
    if server:
        text = ", ".join(f"{k} {v / n:.2f}" for k, v in server.items())
        rows.append(Row(SECTION, f"the store server's own count per lifecycle ({tag})", jobdeck=text,
                        target="(context: everyone's, incl. polling)", values={**server, "n": n}))
    rows.append(Row(SECTION, f"public store calls per lifecycle ({tag})", target="(context)",
                    jobdeck=f"{sum(v for k, v in (client + worker).items() if k.startswith('call:')) / n:.2f}",
                    note=f"client: {_names(client, 'call:', PUBLIC, n)}; worker: {_names(worker, 'call:', PUBLIC, n)}"
                         f"; reads asked by: {_callers(worker, n)}"))
    spent = {f"{side} {k[len('us:call:'):]}": v / n / 1e3 for side, c in (("client", client), ("worker", worker))
             for k, v in sorted(c.items()) if k.startswith("us:call:") and v}
    rows.append(Row(SECTION, f"time inside store calls (and the engine send) per lifecycle, mean "
                             f"({tag})",
                    jobdeck=f"{sum(spent.values()):.2f} ms", target="(context)",
                    note=", ".join(f"{k} {v:.2f} ms" for k, v in spent.items()),
                    values={"ms": spent, "n": n}))
    parts = {k: percentile([s[k] for s in splits], 50) for k in splits[0]}
    raw50 = percentile(raw, 50) if raw else None
    rows.append(Row(SECTION, f"time per job p50, start -> handler ({tag})",
                    jobdeck=f"{parts['handler'] * 1e3:.1f} ms",
                    baseline=f"{raw50 * 1e3:.1f} ms raw send_task" if raw50 else "",
                    ratio=f"{parts['handler'] / raw50:.2f}x" if raw50 else "", target="(context)",
                    note="split p50: " + ", ".join(f"{k} {v * 1e3:.1f} ms" for k, v in parts.items()
                                                   if k not in ("handler",)),
                    values={"split_p50_s": parts, "raw_p50_s": raw50, "n": n}))
    return rows


def _redis_kinds(client: Counter[str], worker: Counter[str], n: int) -> str:
    def kinds(c: Counter[str]) -> str:
        return " ".join(f"{k[6:]} {v / n:.2f}" for k, v in sorted(c.items()) if k.startswith("redis:") and v)

    return f" (client: {kinds(client)}; worker: {kinds(worker)})" if kinds(client + worker) else ""


def _callers(counts: Counter[str], n: int) -> str:
    return ", ".join(f"{k[3:]} {v / n:.2f}" for k, v in sorted(counts.items()) if k.startswith("at:") and v) or "-"


def _round_trips(label: str, counts: Counter[str]) -> int:
    key = {"SQLite": "rt:commit", "Redis": "rt:packet", "PostgreSQL": "rt:pg_statement"}[label]
    return counts[key]
