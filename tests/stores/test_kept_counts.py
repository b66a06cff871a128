"""The job counts SQLite and PostgreSQL keep per (type, status) -- what ``stats()``, ``past_summary()`` and the
``max_past_jobs`` check read instead of counting the history (issue 26) -- equal a full count of the job rows
after every way a job row is written: creates (queued and claimed, and not), ends (completed, failed, aborted),
evictions (by ``max_past_jobs``), deletes by id, bulk deletes per type, retries (back to the queue and run again)
and re-runs, by several threads on one store object and by forked processes on the objects they inherited, all
at once. An old database gains the counts when it is upgraded."""

from __future__ import annotations

import multiprocessing
import os
import random
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from jobdeck.core.model import JobStatus
from jobdeck.stores import Store

from .conftest import Backend, _backend

TYPES = ("Import", "Export", "Rebuild")
MAX_PAST = 12


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def sql_backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    yield from _backend(request.param, request, tmp_path)


def counted(backend: Backend) -> tuple[dict[str, int], dict[str, dict[JobStatus, int]]]:
    """Jobs per status, and past jobs per type and status, counted row by row from the jobs table itself."""
    if backend.name == "sqlite":
        with sqlite3.connect(backend.location) as conn:
            rows = conn.execute("SELECT job_type, status, end_time IS NOT NULL, COUNT(*) FROM jobs "
                                "GROUP BY 1, 2, 3").fetchall()
    else:
        import psycopg

        url, schema = backend.location.rsplit("#", 1)
        with psycopg.connect(url) as pg:
            rows = pg.execute(f'SELECT job_type, status, end_time IS NOT NULL, count(*) FROM "{schema}".jobdeck_jobs '
                              "GROUP BY 1, 2, 3").fetchall()
    stats = {s.value: 0 for s in JobStatus}
    past: dict[str, dict[JobStatus, int]] = {}
    for job_type, status, is_past, n in rows:
        stats[status] += n
        if is_past:
            past.setdefault(job_type, {})[JobStatus(status)] = n
    return stats, past


def assert_kept_counts_exact(backend: Backend, store: Store) -> None:
    stats, past = counted(backend)
    assert store.stats() == stats
    assert store._past_counts() == past
    assert {s.job_type: s.total for s in store.past_summary(runs=0)} == {
        t: sum(per.values()) for t, per in past.items()}


def churn(store: Store, seed: int, rounds: int) -> None:
    """Every way of writing a job row, in a random mix."""
    rng = random.Random(seed)
    mine: list[str] = []
    for i in range(rounds):
        job_type = rng.choice(TYPES)
        move = rng.random()
        if move < 0.15:  # queued, then claimed by a worker
            job = store.create_job(job_type, f"w{seed}", {"i": i}, queued=True)
            store.claim_job(job.id, f"owner-{seed}")
        elif move < 0.25:  # a retry: back to the queue, claimed again, then run to its end
            job = store.create_job(job_type, f"w{seed}", {"i": i}, max_attempts=3)
            store.schedule_retry(job.id, time.time() + 3600, attempt=1, message="attempt 1 failed; retrying")
            store.claim_job(job.id, f"owner-{seed}")
        elif move < 0.35 and mine:  # a re-run of an earlier job (which may have gone meanwhile)
            job = store.create_job(job_type, f"w{seed}", {"i": i}, rerun_of=rng.choice(mine))
        else:
            job = store.create_job(job_type, f"w{seed}", {"i": i})
        store.add_info_message(job.id, f"step {i}")
        end = rng.random()
        if end < 0.5:
            store.complete_job(job.id, {"i": i})
        elif end < 0.7:
            store.fail_job(job.id, f"ValueError: row {i}")
        elif end < 0.85:
            store.request_abort(job.id, "stop", by="tester")
            store.mark_aborted(job.id)
        # else: left active (running or queued)
        mine.append(job.id)
        if rng.random() < 0.1:
            store.delete_jobs(rng.sample(mine, min(3, len(mine))))
        if rng.random() < 0.03:
            store.cleanup_past_jobs(rng.choice(TYPES))


def _child(store: Store, seed: int, rounds: int) -> None:
    try:
        churn(store, seed, rounds)
        store.flush()
    except BaseException:
        os._exit(1)
    os._exit(0)


def test_kept_counts_equal_a_full_count_after_concurrent_writers_of_every_kind(sql_backend: Backend) -> None:
    store = sql_backend.open(max_past_jobs=MAX_PAST)
    churn(store, 0, 10)  # something to inherit
    assert_kept_counts_exact(sql_backend, store)
    forks = multiprocessing.get_context("fork")
    children = [forks.Process(target=_child, args=(store, 100 + n, 40)) for n in range(2)]
    for child in children:
        child.start()
    errors: list[BaseException] = []

    def thread(seed: int) -> None:
        try:
            churn(store, seed, 40)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=thread, args=(n,)) for n in range(1, 4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    for child in children:
        child.join(timeout=120)
    assert not errors, errors
    assert [c.exitcode for c in children] == [0, 0]
    store.flush()
    assert_kept_counts_exact(sql_backend, store)
    stats, past = counted(sql_backend)
    assert sum(sum(per.values()) for per in past.values()) <= MAX_PAST  # evictions happened, counted right
    assert stats["running"] > 0 and stats["completed"] > 0
    store.cleanup_past_jobs()
    assert_kept_counts_exact(sql_backend, store)
    assert store._past_counts() == {}


def test_an_end_does_not_read_the_history(sql_backend: Backend) -> None:
    """The max_past_jobs check reads the kept count: ends at a full history evict exactly down to the bound."""
    store = sql_backend.open(max_past_jobs=5)
    for _ in range(9):
        store.complete_job(store.create_job("Import", "me").id)
    assert [s.total for s in store.past_summary(runs=0)] == [5]
    assert_kept_counts_exact(sql_backend, store)


def _old_sqlite_file(path: Path, version: int, jobs: list[tuple[Any, ...]]) -> None:
    from jobdeck.stores._sqlite_schema import STEPS

    conn = sqlite3.connect(path, isolation_level=None)
    for step in STEPS[:version]:
        for statement in step:
            conn.execute(statement)
    conn.executemany("INSERT INTO jobs (id, job_type, author, status, start_time, end_time, last_activity, signature) "
                     "VALUES (?, ?, 'me', ?, 1, ?, 1, CASE WHEN ?3 = 'failed' THEN 'KeyError' END)", jobs)
    conn.execute(f"PRAGMA user_version = {version:d}")
    conn.close()


def test_an_old_sqlite_file_gains_its_counts_on_upgrade(tmp_path: Path) -> None:
    from jobdeck.stores._sqlite_schema import STEPS
    from jobdeck.stores.sqlite import SQLiteStore

    path = tmp_path / "old.db"
    jobs = [(f"0f0f0f0f-0000-4000-8000-{n:012d}", TYPES[n % 2], "completed" if n % 3 else "failed", 2.0 + n)
            for n in range(7)] + [("0f0f0f0f-0000-4000-8000-999999999999", "Import", "running", None)]
    counts_step = next(i for i, step in enumerate(STEPS) if "job_counts" in step[0])
    _old_sqlite_file(path, counts_step, jobs)  # before the counts, the text index and the failure rows
    store = SQLiteStore(path, max_past_jobs=6)
    try:
        assert store.stats()["completed"] == 4 and store.stats()["failed"] == 3 and store.stats()["running"] == 1
        store.complete_job("0f0f0f0f-0000-4000-8000-999999999999")  # an end after the upgrade evicts by the count
        past = store._past_counts()
        assert sum(sum(per.values()) for per in past.values()) == 6
        assert_kept_counts_exact(Backend("sqlite", str(path)), store)
        kept_failure_rows_equal_a_full_count(str(path))
        assert [g.count for g in store.failure_groups()] == [2]  # of 3: the oldest was evicted
    finally:
        store.close()


@pytest.mark.postgres
def test_an_old_postgres_schema_gains_its_counts_on_upgrade(postgres_url: str) -> None:
    import psycopg

    from jobdeck.stores import _pg_counts
    from jobdeck.stores._pg_schema import STEPS, Names
    from jobdeck.stores.postgres import PostgresStore
    from tests.conftest import unique_schema

    from .conftest import drop_schema

    schema = unique_schema()
    version = STEPS.index(_pg_counts.SCHEMA_STEP)  # the schema just before the counts (not merely the newest step)
    names = Names(schema, "jobdeck_")
    try:
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            conn.execute(names.render("CREATE SCHEMA {schema}"))
            conn.execute(names.render("CREATE TABLE {schema_version} (version integer NOT NULL, "
                                      "upgraded_at timestamptz NOT NULL DEFAULT now())"))
            for step in STEPS[:version]:
                for statement in step:
                    conn.execute(names.render(statement))
            conn.execute(names.render("INSERT INTO {schema_version} (version) VALUES (%s)"), (version,))
            for n in range(7):
                job_id = f"0f0f0f0f-0000-4000-8000-{n:012d}"
                conn.execute(names.render("INSERT INTO {jobs} (id, job_type, author, status, start_time, end_time) "
                                          "VALUES (%s, %s, 'me', %s, 1, %s)"),
                             (job_id, TYPES[n % 2], "completed" if n % 3 else "failed", 2.0 + n))
                conn.execute(names.render("INSERT INTO {hot} (id, last_activity) VALUES (%s, 1)"), (job_id,))
        store = PostgresStore(postgres_url, schema=schema, max_past_jobs=6)
        try:
            assert store.migrated_from == version
            assert store.stats()["completed"] == 4 and store.stats()["failed"] == 3
            store.complete_job(store.create_job("Import", "me").id)
            assert sum(sum(per.values()) for per in store._past_counts().values()) == 6
            assert_kept_counts_exact(Backend("postgres", f"{postgres_url}#{schema}"), store)
        finally:
            store.close()
    finally:
        drop_schema(postgres_url, schema)


def kept_failure_rows_equal_a_full_count(path: str) -> None:
    with sqlite3.connect(path) as conn:
        kept = conn.execute("SELECT signature, job_type, n, first_end, last_end FROM failure_counts WHERE n > 0 "
                            "ORDER BY 1, 2").fetchall()
        counted = conn.execute("SELECT signature, job_type, COUNT(*), MIN(end_time), MAX(end_time) FROM jobs "
                               "WHERE status = 'failed' AND signature IS NOT NULL AND end_time IS NOT NULL "
                               "GROUP BY 1, 2 ORDER BY 1, 2").fetchall()
    assert kept == counted


def test_sqlite_failure_groups_kept_equal_a_full_count(tmp_path: Path) -> None:
    """The failure groups' rows SQLite keeps (_sqlite_failures) after every kind of write, by threads at once;
    GET /failures without a window reads them, with a window it counts, and both agree."""
    backend = Backend("sqlite", str(tmp_path / "jobs.db"))
    store = backend.open(max_past_jobs=MAX_PAST)
    try:
        threads = [threading.Thread(target=churn, args=(store, n, 60)) for n in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        for n in range(6):  # several signatures and types, some evicted as the rest end
            job = store.create_job(TYPES[n % 3], "me")
            store.fail_job(job.id, ("KeyError: 'x'", "OSError: disk full")[n % 2])
        kept_failure_rows_equal_a_full_count(backend.location)
        whole = store.failure_groups()
        windowed = store.failure_groups(since=0.0)
        assert [(g.signature, g.count, g.first_seen, g.last_seen, g.job_types, g.job_ids) for g in whole] == [
            (g.signature, g.count, g.first_seen, g.last_seen, g.job_types, g.job_ids) for g in windowed]
        assert whole
        store.cleanup_past_jobs()
        kept_failure_rows_equal_a_full_count(backend.location)
        assert store.failure_groups() == []
    finally:
        backend.close()
