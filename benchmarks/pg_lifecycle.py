"""Full job lifecycles on PostgreSQL with 1, 2, 4 and 8 worker processes (part of section ``postgres``).

A lifecycle: create a queued job -> claim it -> 50 progress updates -> 20 messages -> complete. Each worker
process runs lifecycles back to back for a fixed window on one shared store (one schema); the figure is
lifecycles per second over all workers, and the database's CPU per lifecycle: the user+system CPU time that the
PostgreSQL backends serving this run's connections spent (from ``/proc/<pid>/stat``; the server's own
background processes, the WAL writer among them, are not counted), divided by the lifecycles.

Beside it, the same lifecycle written by hand with one psycopg connection per worker (the floor): an INSERT,
an UPDATE claiming it, 50 UPDATEs of the progress and 20 INSERTs of a message (autocommit, without waiting for
the WAL flush, as the store's progress and messages), an UPDATE completing it (durable): no event log, no
coalescing, no batching. jobdeck coalesces the 50 progress values and batches the 20 messages, so it may be
above the floor; the target is about the curve: lifecycles/s keep rising from 1 to 4 workers (they did not
while every writer queued on the event counter's row lock).
"""

from __future__ import annotations

import multiprocessing as mp
import os
import time
import uuid
from typing import Any

PROGRESS = 50
MESSAGES = 20


def _ctx() -> Any:
    return mp.get_context("spawn")


def jobdeck_worker(url: str, schema: str, seconds: float, conn: Any) -> None:
    from jobdeck.stores.postgres import PostgresStore

    store = PostgresStore(url, schema=schema, max_past_jobs=1_000_000)
    try:
        job = store.create_job("warm", "bench")  # the pool's connections open before the window
        store.complete_job(job.id)
        conn.send("ready")
        conn.recv()
        count = 0
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            job = store.create_job("life", "bench", queued=True)
            store.claim_job(job.id, f"worker-{os.getpid()}")
            for i in range(PROGRESS):
                store.update_progress(job.id, i / PROGRESS)
            for i in range(MESSAGES):
                store.add_info_message(job.id, f"step {i} of the lifecycle")
            store.complete_job(job.id)
            count += 1
        conn.send(count)
        conn.recv()  # stay connected until the parent read the backends' CPU
    finally:
        store.close()


def raw_worker(url: str, schema: str, seconds: float, conn: Any) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as db:
        db.execute(f"SET search_path = {schema}")
        conn.send("ready")
        conn.recv()
        count = 0
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            job_id = str(uuid.uuid4())
            now = time.time()
            db.execute("INSERT INTO jobs (id, status, progress, created) VALUES (%s, 'queued', 0, %s)", (job_id, now))
            db.execute("UPDATE jobs SET status = 'running', owner = %s WHERE id = %s AND status = 'queued'",
                       (f"worker-{os.getpid()}", job_id))
            db.execute("SET synchronous_commit = off")
            for i in range(PROGRESS):
                db.execute("UPDATE jobs SET progress = %s, last_activity = %s WHERE id = %s",
                           (i / PROGRESS, time.time(), job_id))
            for i in range(MESSAGES):
                db.execute("INSERT INTO messages (job_id, text, ts) VALUES (%s, %s, %s)",
                           (job_id, f"step {i} of the lifecycle", time.time()))
            db.execute("SET synchronous_commit = on")
            db.execute("UPDATE jobs SET status = 'completed', progress = 1, ended = %s WHERE id = %s",
                       (time.time(), job_id))
            count += 1
        conn.send(count)
        conn.recv()


def _backends_cpu(url: str) -> dict[int, float]:
    """CPU seconds (user + system) so far of each backend connected to this run's database."""
    import psycopg

    ticks = os.sysconf("SC_CLK_TCK")
    with psycopg.connect(url, autocommit=True) as db:
        pids = [r[0] for r in db.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                                         "AND pid <> pg_backend_pid()")]
    cpu = {}
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue  # not on this machine, or gone
        cpu[pid] = (int(fields[11]) + int(fields[12])) / ticks
    return cpu


def measure(url: str, kind: str, workers: int, seconds: float) -> dict[str, float]:
    """Lifecycles per second over ``workers`` processes, and the database CPU seconds per lifecycle."""
    schema = f"bench_life_{kind}_{uuid.uuid4().hex[:6]}"
    if kind == "raw":
        import psycopg

        with psycopg.connect(url, autocommit=True) as db:
            db.execute(f"CREATE SCHEMA {schema}")
            db.execute(f"CREATE TABLE {schema}.jobs (id text PRIMARY KEY, status text NOT NULL, owner text, "
                       "progress float8, created float8, last_activity float8, ended float8)")
            db.execute(f"CREATE TABLE {schema}.messages (seq bigserial PRIMARY KEY, job_id text NOT NULL, "
                       "text text NOT NULL, ts float8 NOT NULL)")
    else:
        from jobdeck.stores.postgres import PostgresStore

        PostgresStore(url, schema=schema).close()  # the schema, made once before the workers start
    target = raw_worker if kind == "raw" else jobdeck_worker
    pipes, procs = [], []
    for _ in range(workers):
        parent, child = _ctx().Pipe()
        proc = _ctx().Process(target=target, args=(url, schema, seconds, child), daemon=True)
        proc.start()
        pipes.append(parent)
        procs.append(proc)
    try:
        for parent in pipes:
            if not parent.poll(60) or parent.recv() != "ready":
                raise RuntimeError("a lifecycle worker did not start")
        before = _backends_cpu(url)
        started = time.perf_counter()
        for parent in pipes:
            parent.send("go")
        counts = [parent.recv() if parent.poll(seconds + 60) else 0 for parent in pipes]
        elapsed = time.perf_counter() - started
        after = _backends_cpu(url)
        for parent in pipes:
            parent.send("stop")
    finally:
        for proc in procs:
            proc.join(10)
            if proc.is_alive():
                proc.kill()
    total = sum(counts)
    cpu = sum(after[pid] - before.get(pid, 0.0) for pid in after)
    return {"per_s": total / elapsed, "lifecycles": total, "cpu_per_lifecycle_s": cpu / total if total else 0.0,
            "workers": workers}
