"""The PostgreSQL store (section ``postgres``): progress cost, cross-process visibility, messages per second,
``/active`` and ``/past`` against the orjson ceiling, table size after many progress writes, and procrastinate's
own status update beside it.

Every run uses a database created for it (on ``DATABASE_URL``'s server, else 127.0.0.1:5432 as postgres) and
dropped afterwards. Baselines come from the same run on the same server:

- one raw psycopg ``UPDATE`` + ``COMMIT`` round trip on a one-row table: what an uncoalesced progress write costs
  at least (target: ``progress()`` amortised at most 1/25 of it); shown with the server's durable commits and
  with ``synchronous_commit = off`` (what the store uses for progress) for context;
- visibility: a reader process blocked in ``wait_events`` sees each progress value a writer process sets
  (target: p99 <= 100 ms, coalescing window included);
- size: ``pg_total_relation_size`` of the hot table and of the jobs table after 25%, 50%, 75% and 100% of N
  uncoalesced progress writes on one job (target: the last no bigger than the first plus a constant: HOT
  updates reuse their page).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

from .table import Row, skipped, us
from .timing import per_call, percentile

SECTION = "postgres"
DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
ROOT = Path(__file__).resolve().parent.parent


def _unavailable() -> str | None:
    try:
        import psycopg
    except ImportError:
        return "psycopg not installed (pip install 'jobdeck[postgres]')"
    try:
        psycopg.connect(os.environ.get("DATABASE_URL") or DEFAULT_URL, connect_timeout=3).close()
    except psycopg.Error as exc:
        return f"no PostgreSQL server ({' '.join(str(exc).split())[:120]})"
    return None


@contextlib.contextmanager
def database() -> Iterator[str]:
    """A fresh database on the server for this run; dropped afterwards."""
    from urllib.parse import urlsplit, urlunsplit

    import psycopg

    base = os.environ.get("DATABASE_URL") or DEFAULT_URL
    name = f"jobdeck_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(base, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield urlunsplit(urlsplit(base)._replace(path=f"/{name}"))
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def run(quick: bool) -> list[Row]:
    why = _unavailable()
    if why:
        return [skipped(SECTION, "PostgreSQL store", why)]
    rows: list[Row] = []
    with database() as url:
        for part in (_progress_rows, _visibility_row, _messages_row, _size_row, _procrastinate_row,
                     _lifecycle_rows):
            try:
                rows.extend(part(url, quick))
            except Exception as exc:  # one broken part must not hide the others' figures
                rows.append(Row(SECTION, part.__name__.strip("_").replace("_", " "), passed=False,
                                note=f"error: {type(exc).__name__}: {exc}"))
        if quick:  # its servers fill a store with 30,000 messages first: ~25 s of the quick suite's two minutes
            rows.append(skipped(SECTION, "postgres: GET /active, /past", "full run only (--quick --only postgres "
                                "leaves it out too; python -m benchmarks --only postgres runs it)"))
        else:
            rows.extend(_http_rows(url, quick))
    return rows


def _raw_update_commit(url: str, n: int, synchronous: bool) -> float:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS bench_floor (id int PRIMARY KEY, v float8)")
        conn.execute("INSERT INTO bench_floor VALUES (1, 0) ON CONFLICT DO NOTHING")
        if not synchronous:
            conn.execute("SET synchronous_commit = off")

        def once(v: float) -> None:
            conn.execute("BEGIN")
            conn.execute("UPDATE bench_floor SET v = %s WHERE id = 1", (v,))
            conn.execute("COMMIT")

        return per_call(once, n, repeats=3)


def _progress_rows(url: str, quick: bool) -> list[Row]:
    from jobdeck import PipelineController
    from jobdeck.stores.postgres import PROGRESS_INTERVAL, PostgresStore

    floor = _raw_update_commit(url, 100 if quick else 300, synchronous=True)
    floor_async = _raw_update_commit(url, 300 if quick else 1_000, synchronous=False)
    store = PostgresStore(url, schema="bench_progress")
    try:
        job = store.create_job("bench-progress", "bench")
        ctl = PipelineController(job.id, store)
        cost = per_call(ctl.progress, 20_000 if quick else 100_000)
        store.flush()
        ctl.complete()
    finally:
        store.close()
    from .floors import lock_dict_floor

    lock = lock_dict_floor(20_000)
    ratio = cost / lock
    return [
        Row(SECTION, "floor: raw psycopg UPDATE+COMMIT round trip (server's durable commit)", baseline=us(floor),
            values={"floor_s": floor}),
        Row(SECTION, "floor: same with synchronous_commit=off (as the store's progress writes)",
            baseline=us(floor_async), values={"floor_async_s": floor_async}),
        Row(SECTION, f"progress() in the job's loop (queued; coalesced writes every {PROGRESS_INTERVAL * 1000:.0f} ms "
                     "by the buffer's thread)", us(cost), f"{us(lock)} lock+dict", f"{ratio:.2f}x", "<= 10x",
            ratio <= 10, note=f"fails when a call waits for the store; a write per call would cost {us(floor_async)}",
            values={"progress_s": cost, "lock_s": lock}),
    ]


READER = """
import sys, time, json
from jobdeck.stores.postgres import PostgresStore
store = PostgresStore(sys.argv[1], schema="bench_visibility")
cursor = store.read_events().cursor
print("ready", flush=True)
seen = []
deadline = time.monotonic() + float(sys.argv[2])
while time.monotonic() < deadline:
    batch = store.wait_events(cursor, timeout=0.5)
    now = time.time()
    cursor = batch.cursor
    for e in batch.events:
        if e.type.value == "progress":
            seen.append((e.data["progress"], now))
        elif e.type.value == "status" and e.data["status"] != "running":
            deadline = 0
print(json.dumps(seen), flush=True)
store.close()
"""


def _visibility_row(url: str, quick: bool) -> list[Row]:
    import json

    from jobdeck.stores.postgres import PROGRESS_INTERVAL, PostgresStore

    count, gap = (150, 0.01) if quick else (600, 0.01)
    writer = PostgresStore(url, schema="bench_visibility")
    reader = subprocess.Popen([sys.executable, "-c", READER, url, str(count * gap + 30)], cwd=ROOT,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert reader.stdout is not None
        if reader.stdout.readline().strip() != "ready":
            raise RuntimeError("the reader process did not start")
        job = writer.create_job("bench-visibility", "bench")
        sent = []
        for i in range(1, count + 1):
            value = i / count
            sent.append((value, time.time()))
            writer.update_progress(job.id, value)
            time.sleep(gap)
        writer.complete_job(job.id)
        seen = json.loads(reader.stdout.readline())
    finally:
        writer.close()
        reader.wait(timeout=60)
    # A value counts as visible when the reader saw it or a newer one (coalescing skips values on purpose).
    delays = []
    j = 0
    for value, at in sent:
        while j < len(seen) and seen[j][0] < value:
            j += 1
        if j < len(seen):
            delays.append(seen[j][1] - at)
    p50, p99 = percentile(delays, 50), percentile(delays, 99)
    return [Row(SECTION, "progress seen by another process (wait_events, NOTIFY)", f"p99 {p99 * 1000:.0f} ms",
                f"p50 {p50 * 1000:.0f} ms", "", "p99 <= 100 ms", p99 <= 0.1 and len(delays) == len(sent),
                note=f"{count} values, one per {gap * 1000:.0f} ms, coalesced to one write per "
                     f"{PROGRESS_INTERVAL * 1000:.0f} ms",
                values={"p50_s": p50, "p99_s": p99, "values": len(sent), "visible": len(delays)})]


def _messages_row(url: str, quick: bool) -> list[Row]:
    from jobdeck.stores.postgres import PostgresStore

    n = 20_000 if quick else 100_000
    store = PostgresStore(url, schema="bench_messages")
    try:
        job = store.create_job("bench-messages", "bench")
        start = time.perf_counter()
        for i in range(n):
            store.add_info_message(job.id, f"message {i}")
        store.flush()
        rate = n / (time.perf_counter() - start)
        store.complete_job(job.id)
    finally:
        store.close()
    return [Row(SECTION, "messages written per second (one job, batched)", f"{rate:,.0f}/s",
                note=f"{n:,} messages, cap 1,000 per kind kept", values={"messages_per_s": rate})]


def _size_row(url: str, quick: bool) -> list[Row]:
    import psycopg

    from jobdeck.stores.postgres import PostgresStore

    n = 10_000 if quick else 100_000
    store = PostgresStore(url, schema="bench_size", progress_interval=0)
    sizes: list[tuple[int, int]] = []
    try:
        job = store.create_job("bench-size", "bench")
        with psycopg.connect(url, autocommit=True) as conn:
            for quarter in range(4):
                for i in range(n // 4):
                    store.update_progress(job.id, (quarter * n // 4 + i) / n)
                conn.execute("SELECT pg_stat_clear_snapshot()")
                (hot, jobs), = conn.execute(
                    "SELECT pg_total_relation_size('bench_size.jobdeck_hot'), "
                    "pg_total_relation_size('bench_size.jobdeck_jobs')").fetchall()
                sizes.append((hot, jobs))
            updated, hot_updated = conn.execute(
                "SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables WHERE schemaname = 'bench_size' "
                "AND relname = 'jobdeck_hot'").fetchone() or (0, 0)
        store.complete_job(job.id)
    finally:
        store.close()
    first, last = sizes[0][0] + sizes[0][1], sizes[-1][0] + sizes[-1][1]
    growth = last - first
    return [Row(SECTION, f"hot+jobs tables and indexes after {n:,} progress writes on one job",
                f"{last / 1024:,.0f} KB", f"{first / 1024:,.0f} KB after {n // 4:,}", f"+{growth / 1024:,.0f} KB",
                "no growth beyond a constant (<= 64 KB)", growth <= 64 * 1024,
                note=f"{hot_updated:,} of {updated:,} updates HOT",
                values={"sizes": sizes, "updated": updated, "hot_updated": hot_updated})]


def _procrastinate_row(url: str, quick: bool) -> list[Row]:
    """procrastinate's own status change (a job finished) on the same server, beside jobdeck's."""
    try:
        import procrastinate  # noqa: F401
        from procrastinate.schema import SchemaManager
    except ImportError as exc:
        return [skipped(SECTION, "procrastinate: finish one job (its own SQL function)", f"not installed ({exc})")]
    import psycopg

    from jobdeck.stores.postgres import PostgresStore

    n = 200 if quick else 1_000
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA bench_procrastinate")
        conn.execute("SET search_path = bench_procrastinate")
        conn.execute(SchemaManager.get_schema())
        (finish,) = conn.execute("SELECT proname FROM pg_proc WHERE proname LIKE 'procrastinate_finish_job%%' "
                                 "ORDER BY proname DESC LIMIT 1").fetchone() or ("",)
        ids = [r[0] for r in conn.execute(
            "INSERT INTO procrastinate_jobs (queue_name, task_name, args, status) "
            "SELECT 'default', 'bench', '{}', 'doing' FROM generate_series(1, %s) RETURNING id", (n,))]
        call = f"SELECT {finish}(%s, 'succeeded', false)"
        start = time.perf_counter()
        for job_id in ids:
            conn.execute(call, (job_id,))
        theirs = (time.perf_counter() - start) / n
    store = PostgresStore(url, schema="bench_finish")
    try:
        jobs = [store.create_job("bench-finish", "bench") for _ in range(n)]
        start = time.perf_counter()
        for job in jobs:
            store.complete_job(job.id)
        ours = (time.perf_counter() - start) / n
    finally:
        store.close()
    return [Row(SECTION, "complete one job (status change, durable commit)", us(ours),
                f"{us(theirs)} {finish}", f"{ours / theirs:.1f}x", note="context, no target; "
                "jobdeck's also writes the job's status event, hot row and retention",
                values={"jobdeck_s": ours, "procrastinate_s": theirs})]


def _lifecycle_rows(url: str, quick: bool) -> list[Row]:
    """create -> claim -> 50 progress -> 20 messages -> complete with 1, 2, 4, 8 worker processes (benchmarks.
    pg_lifecycle), jobdeck and the hand-written floor measured back to back at each count."""
    from .pg_lifecycle import measure

    counts, seconds = ((1, 4), 1.0) if quick else ((1, 2, 4, 8), 3.0)
    ours: dict[int, dict[str, float]] = {}
    rows = []
    for workers in counts:
        ours[workers] = mine = measure(url, "jobdeck", workers, seconds)
        raw = measure(url, "raw", workers, seconds)
        rows.append(Row(SECTION, f"lifecycles/s (create, claim, 50 progress, 20 messages, complete), {workers} "
                                 "worker process(es)", f"{mine['per_s']:,.0f}/s",
                        f"{raw['per_s']:,.0f}/s hand-written psycopg", f"{mine['per_s'] / raw['per_s']:.2f}x",
                        note=f"database CPU per lifecycle {mine['cpu_per_lifecycle_s'] * 1e3:.2f} ms vs "
                             f"{raw['cpu_per_lifecycle_s'] * 1e3:.2f} ms (the backends of this run, /proc)",
                        values={"jobdeck": mine, "raw": raw}))
    one, four = ours[1]["per_s"], ours[4]["per_s"]
    two = ours[2]["per_s"] if 2 in ours else None  # --quick measures 1 and 4 only
    rising = (two is None or two > one) and four >= 1.2 * one
    shown = " / ".join(f"{ours[n]['per_s']:,.0f}" for n in sorted(ours) if n <= 4)
    rows.append(Row(SECTION, "lifecycles/s keep rising from 1 to 4 workers", f"{shown}/s", "", f"{four / one:.2f}x",
                    "2 > 1 and 4 >= 1.2x 1", rising,
                    note="fails when writers queue on one lock (the event counter's row did: one commit at a time) "
                         "or the store's per-lifecycle work saturates the 2 cores with one worker",
                    values={"per_s": {n: ours[n]["per_s"] for n in ours}}))
    return rows


def _http_rows(url: str, quick: bool) -> list[Row]:
    from . import http_bench

    why = http_bench.api_unavailable()
    if why is None and not _has_wrk():
        why = "wrk not installed (apt-get install -y wrk)"
    if why:
        return [skipped(SECTION, "postgres: GET /active, /past", why)]
    try:
        found = http_bench.run_target(f"{url}?schema=bench_http", "postgres", quick)
    except Exception as exc:
        return [Row(SECTION, "postgres: GET /active, /past", passed=False, note=f"error: {type(exc).__name__}: {exc}")]
    for row in found:
        row.section = SECTION
    return found


def _has_wrk() -> bool:
    import shutil

    return shutil.which("wrk") is not None

