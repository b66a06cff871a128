"""The procrastinate executor in this process, against a real PostgreSQL: URLs, queue entries, cancel, lost jobs,
an unreachable database. The worker processes are in ``tests/engines/test_procrastinate*.py``."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, wait
from pathlib import Path
from typing import TypeVar

import pytest

from jobdeck import JobRunner
from jobdeck.core.errors import EnqueueError, ExecutorError
from jobdeck.core.model import JobInfo, JobStatus
from jobdeck.executors import open_executor
from jobdeck.executors.procrastinate import ProcrastinateExecutor, parse_url, redact
from jobdeck.stores.sqlite import SQLiteStore
from tests.conftest import free_port, fresh_database

T = TypeVar("T")


def test_url_parsing_keeps_connection_options_and_takes_the_queue() -> None:
    dsn, options = parse_url("procrastinate+postgresql://u:pw@db.example:5433/app?sslmode=require&queue=heavy")
    assert dsn == "postgresql://u:pw@db.example:5433/app?sslmode=require"
    assert options == {"queue": "heavy"}
    assert parse_url("procrastinate+postgres://h/app")[0] == "postgresql://h/app"


@pytest.mark.parametrize("url", ["procrastinate+postgresql://host:5432", "celery+redis://h/0", "nonsense"])
def test_bad_urls_are_one_clear_executor_error(url: str) -> None:
    with pytest.raises(ExecutorError, match="procrastinate"):
        parse_url(url)


def test_passwords_never_reach_messages() -> None:
    assert redact("postgresql://user:secret@h:5432/db") == "postgresql://user:***@h:5432/db"
    executor = ProcrastinateExecutor.from_url("procrastinate+postgresql://user:secret@127.0.0.1:1/db")
    assert "secret" not in repr(executor)


def test_open_executor_builds_it_without_connecting() -> None:
    executor = open_executor(f"procrastinate+postgresql://127.0.0.1:{free_port()}/nowhere?queue=q1")
    assert isinstance(executor, ProcrastinateExecutor) and executor.queue == "q1"


@pytest.mark.slow  # the pool keeps trying for its 3 s timeout
def test_enqueue_to_an_unreachable_database_fails_the_job_quickly(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "jobs.db")
    port = free_port()  # nothing listens there
    runner = JobRunner(store, executor=f"procrastinate+postgresql://postgres@127.0.0.1:{port}/jobs")
    runner.register("noop", lambda ctl: None)
    asked = time.monotonic()
    with pytest.raises(EnqueueError, match="PostgreSQL") as caught:
        runner.start("noop", "tester")
    assert time.monotonic() - asked < 6
    job = store.require_job(caught.value.job_id)
    assert job.status is JobStatus.FAILED
    assert "could not be queued on procrastinate" in job.error_messages[0].message
    runner.shutdown(0.1)
    store.close()


@pytest.fixture
def runner(procrastinate_dsn: str, tmp_path: Path) -> Iterator[JobRunner]:
    store = SQLiteStore(tmp_path / "jobs.db", stale_after=1)
    # A queue of this test's own: entries of other tests (and their workers) never mix with these.
    queue = f"unit-{tmp_path.name}"
    executor = ProcrastinateExecutor.from_url(f"procrastinate+{procrastinate_dsn}?queue={queue}")
    runner = JobRunner(store, executor=executor, reap=False)
    runner.register("one", lambda ctl: None, max_concurrent=1)
    runner.register("many", lambda ctl: None, max_concurrent=5)
    yield runner
    runner.shutdown(0.1)
    store.close()


def _entry(dsn: str, job_id: str) -> tuple[str, str | None, str | None, str]:
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute("SELECT status::text, lock, queueing_lock, queue_name FROM procrastinate_jobs "
                           "WHERE args->>'job_id' = %s", (job_id,)).fetchone()
    assert row is not None, f"no entry for {job_id}"
    return row  # type: ignore[return-value]


def test_a_started_job_is_queued_with_one_entry_and_the_type_lock_when_single(runner: JobRunner,
                                                                              procrastinate_dsn: str) -> None:
    executor = runner.executor
    assert isinstance(executor, ProcrastinateExecutor)
    one = runner.start("one", "tester")
    many = runner.start("many", "tester")
    assert one.status is JobStatus.QUEUED and one.owner is None
    assert _entry(procrastinate_dsn, one.id) == ("todo", "jobdeck:one", f"jobdeck:{one.id}", executor.queue)
    assert _entry(procrastinate_dsn, many.id) == ("todo", None, f"jobdeck:{many.id}", executor.queue)
    # the same job can never sit in the queue twice
    with pytest.raises(ExecutorError):
        executor.submit(one, runner.get_type("one"))


def test_aborting_a_queued_job_cancels_its_entry(runner: JobRunner, procrastinate_dsn: str) -> None:
    job = runner.start("many", "tester")
    assert runner.abort(job.id, "changed my mind")
    assert runner.store.require_job(job.id).status is JobStatus.ABORTED
    assert _entry(procrastinate_dsn, job.id)[0] == "cancelled"
    runner.executor.cancel(job.id)  # again, or for a job without an entry: nothing happens, nothing raises
    runner.executor.cancel("00000000-0000-0000-0000-000000000000")


def test_lost_names_queued_jobs_without_a_live_entry(runner: JobRunner, procrastinate_dsn: str) -> None:
    kept = runner.start("many", "tester")
    gone = runner.start("many", "tester")
    import psycopg

    with psycopg.connect(procrastinate_dsn, autocommit=True) as conn:
        conn.execute("DELETE FROM procrastinate_jobs WHERE args->>'job_id' = %s", (gone.id,))
    lost = runner.executor.lost([kept, gone])
    assert list(lost) == [gone.id] and "gone" in lost[gone.id]
    time.sleep(1.1)  # queued longer than stale_after (1 s): the reaper asks the engine about them
    assert runner.reap_lost() == [gone.id]
    failed = runner.store.require_job(gone.id)
    assert failed.status is JobStatus.FAILED and "procrastinate entry" in failed.error_messages[0].message
    assert runner.store.require_job(kept.id).status is JobStatus.QUEUED


@pytest.mark.slow
def test_ensure_schema_applies_it_once(postgres_admin_url: str) -> None:
    with fresh_database(postgres_admin_url, prefix="jobdeck_schema") as url:
        first, second = (ProcrastinateExecutor.from_url(f"procrastinate+{url}") for _ in range(2))
        try:
            assert first.ensure_schema() is True
            assert second.ensure_schema() is False
        finally:
            first.shutdown()
            second.shutdown()


def test_your_own_procrastinate_app_carries_jobdeck_s_task(procrastinate_dsn: str, tmp_path: Path) -> None:
    import procrastinate

    app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=procrastinate_dsn))

    @app.task(name="theirs.existing_task")
    def existing_task() -> None: ...

    store = SQLiteStore(tmp_path / "jobs.db")
    runner = JobRunner(store, executor=ProcrastinateExecutor(app, queue=f"own-{tmp_path.name}"), reap=False)
    runner.register("own", lambda ctl: None)
    try:
        assert {"theirs.existing_task", "jobdeck.run_job"} <= set(app.tasks)
        job = runner.start("own", "tester")
        assert _entry(procrastinate_dsn, job.id)[0] == "todo"
        assert "procrastinate App" in repr(runner.executor)
    finally:
        runner.shutdown(0.1)
        store.close()


def test_with_a_postgres_store_on_the_same_database_a_job_and_its_entry_commit_together(
        procrastinate_dsn: str, tmp_path: Path) -> None:
    import psycopg

    from jobdeck.core.errors import JobConflictError
    from jobdeck.stores.postgres import PostgresStore
    from tests.conftest import unique_schema

    queue = f"tx-{tmp_path.name}"[:60]
    store = PostgresStore(procrastinate_dsn, schema=unique_schema())
    executor = ProcrastinateExecutor.from_url(f"procrastinate+{procrastinate_dsn}?queue={queue}")
    runner = JobRunner(store, executor=executor, reap=False)
    runner.register("one", lambda ctl: None, max_concurrent=1)

    def entries() -> int:
        with psycopg.connect(procrastinate_dsn, autocommit=True) as conn:
            row = conn.execute("SELECT count(*) FROM procrastinate_jobs WHERE queue_name = %s", (queue,)).fetchone()
        return int(row[0]) if row else 0

    try:
        job = runner.start("one", "tester")
        assert store.require_job(job.id).status is JobStatus.QUEUED and entries() == 1
        with pytest.raises(JobConflictError):  # the type is full: no job, and no entry either
            runner.start("one", "tester")
        assert entries() == 1
        runner.abort(job.id, "make room")
        # PostgreSQL itself refuses the entry (a trigger on this test's queue): the job's row goes with it
        with psycopg.connect(procrastinate_dsn, autocommit=True) as conn:
            conn.execute(f"""
                CREATE FUNCTION refuse_{queue.replace('-', '_')}() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN RAISE EXCEPTION 'refused by the test'; END $$;
                CREATE TRIGGER refuse_{queue.replace('-', '_')} BEFORE INSERT ON procrastinate_jobs FOR EACH ROW
                WHEN (NEW.queue_name = '{queue}') EXECUTE FUNCTION refuse_{queue.replace('-', '_')}();""")
        try:
            with pytest.raises(ExecutorError, match="procrastinate cannot"):
                runner.start("one", "tester")
        finally:
            with psycopg.connect(procrastinate_dsn, autocommit=True) as conn:
                conn.execute(f"DROP TRIGGER refuse_{queue.replace('-', '_')} ON procrastinate_jobs; "
                             f"DROP FUNCTION refuse_{queue.replace('-', '_')}()")
        assert [j.id for j in store.get_active_jobs(messages=False)] == []
        assert [j.id for j in store.get_past_jobs(messages=False)] == [job.id]  # only the aborted one: no failed job
        assert entries() == 1
    finally:
        runner.shutdown(0.1)
        store.close()


def test_a_queued_job_whose_worker_died_before_claiming_it_gets_a_new_entry(runner: JobRunner,
                                                                            procrastinate_dsn: str) -> None:
    import psycopg

    executor = runner.executor
    assert isinstance(executor, ProcrastinateExecutor)
    job = runner.start("one", "tester")
    with psycopg.connect(procrastinate_dsn, autocommit=True) as conn:  # fetched by a worker that is gone
        conn.execute("UPDATE procrastinate_jobs SET status = 'doing', worker_id = NULL WHERE args->>'job_id' = %s",
                     (job.id,))
    assert executor.close_stalled(1.0) == [job.id]
    with psycopg.connect(procrastinate_dsn, autocommit=True) as conn:
        rows = conn.execute("SELECT status::text, lock FROM procrastinate_jobs WHERE args->>'job_id' = %s "
                            "ORDER BY id", (job.id,)).fetchall()
    assert rows == [("failed", "jobdeck:one"), ("todo", "jobdeck:one")]  # the dead fetch closed, a new entry
    assert runner.store.require_job(job.id).status is JobStatus.QUEUED
    assert executor.close_stalled(1.0) == []


def test_resubmitting_a_job_that_already_has_a_waiting_entry_is_not_an_error(runner: JobRunner,
                                                                             procrastinate_dsn: str) -> None:
    import psycopg

    executor = runner.executor
    job = runner.start("one", "tester")  # as if close_stalled had given the re-queued job its entry first
    executor.resubmit(job, runner.get_type("one"))
    with psycopg.connect(procrastinate_dsn, autocommit=True) as conn:
        rows = conn.execute("SELECT status::text FROM procrastinate_jobs WHERE args->>'job_id' = %s",
                            (job.id,)).fetchall()
    assert rows == [("todo",)]


# ---------------------------------------------------------------------- first-time setup (issue 19, item 1)

SCHEMA_LOCK_SESSIONS = """
SELECT count(*) FILTER (WHERE l.granted), count(*) FILTER (WHERE NOT l.granted)
  FROM pg_locks l JOIN pg_database d ON d.oid = l.database
 WHERE l.locktype = 'advisory' AND l.objsubid = 1 AND d.datname = current_database()
   AND l.objid::text::bigint = (hashtext('jobdeck.procrastinate.schema')::bigint & 4294967295)
"""


def schema_lock_sessions(dsn: str) -> tuple[int, int]:
    """Sessions that hold, and that wait for, jobdeck's procrastinate schema lock in the database of ``dsn``."""
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute(SCHEMA_LOCK_SESSIONS).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def _entries(dsn: str, job_ids: list[str]) -> set[str]:
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        rows = conn.execute("SELECT args->>'job_id' FROM procrastinate_jobs WHERE args->>'job_id' = ANY(%s)",
                            (job_ids,)).fetchall()
    return {row[0] for row in rows}


def _parallel(count: int, call: Callable[[], T], timeout: float) -> list[T | BaseException]:
    """``call()`` from ``count`` threads released together; each outcome (value or exception) within ``timeout``
    seconds of the release, or the test fails naming how many had not returned."""
    gate = threading.Barrier(count)

    def one() -> T:
        gate.wait()
        return call()

    pool = ThreadPoolExecutor(count)
    try:
        futures = [pool.submit(one) for _ in range(count)]
        pending = wait(futures, timeout=timeout).not_done
        assert not pending, f"{len(pending)} of {count} calls had not returned after {timeout:g}s"
        return [f.exception() or f.result() for f in futures]
    finally:
        pool.shutdown(wait=False)


@pytest.mark.slow
def test_parallel_first_starts_set_up_once_and_leave_no_schema_lock(postgres_admin_url: str, tmp_path: Path,
                                                                    caplog: pytest.LogCaptureFixture) -> None:
    with fresh_database(postgres_admin_url, prefix="jobdeck_setup") as url:  # no procrastinate schema yet
        store = SQLiteStore(tmp_path / "jobs.db")
        runner = JobRunner(store, executor=f"procrastinate+{url}", reap=False)
        runner.register("many", lambda ctl: None, max_concurrent=100)
        try:
            with caplog.at_level(logging.WARNING, logger="jobdeck.executors.procrastinate"):
                outcomes = _parallel(16, lambda: runner.start("many", "tester"), timeout=30)
            errors = [o for o in outcomes if isinstance(o, BaseException)]
            assert errors == []
            jobs = [o for o in outcomes if isinstance(o, JobInfo)]
            assert all(job.status is JobStatus.QUEUED for job in jobs)
            assert _entries(url, [job.id for job in jobs]) == {job.id for job in jobs}
            applied = [r for r in caplog.records if "applied procrastinate's schema" in r.getMessage()]
            assert len(applied) == 1
            assert schema_lock_sessions(url) == (0, 0)
        finally:
            runner.shutdown(0.1)
            store.close()


@pytest.mark.slow
def test_executors_setting_up_together_apply_the_schema_once(postgres_admin_url: str) -> None:
    with fresh_database(postgres_admin_url, prefix="jobdeck_setup") as url:
        executors = [ProcrastinateExecutor.from_url(f"procrastinate+{url}") for _ in range(4)]
        calls = iter(executors)
        lock = threading.Lock()

        def ensure() -> bool:
            with lock:
                executor = next(calls)
            return executor.ensure_schema()

        try:
            # as separate processes would (a server and workers starting together): each its own pool
            outcomes = _parallel(4, ensure, timeout=30)
            assert sorted(outcomes, key=str) == [False, False, False, True]
            assert schema_lock_sessions(url) == (0, 0)
        finally:
            for executor in executors:
                executor.shutdown()


@pytest.mark.slow
def test_a_schema_lock_held_elsewhere_is_a_quick_clear_503_and_the_next_start_works(
        postgres_admin_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import psycopg

    from jobdeck.executors import procrastinate as module

    monkeypatch.setattr(module, "SCHEMA_LOCK_TIMEOUT", 2.0)
    with fresh_database(postgres_admin_url, prefix="jobdeck_setup") as url:
        store = SQLiteStore(tmp_path / "jobs.db")
        runner = JobRunner(store, executor=f"procrastinate+{url}", reap=False)
        runner.register("many", lambda ctl: None, max_concurrent=100)
        # Another session holds the lock and does not let go (as an idle pooled connection of an older jobdeck
        # did): the setup must give up within its bound, not wait for ever.
        holder = psycopg.connect(url, autocommit=True)
        try:
            holder.execute("SELECT pg_advisory_lock(hashtext('jobdeck.procrastinate.schema'))")
            asked = time.monotonic()
            outcomes = _parallel(8, lambda: runner.start("many", "tester"), timeout=30)
            # One setup waited its 2 s and the others shared its outcome: eight setups one after the other would
            # have taken 16 s or more.
            assert time.monotonic() - asked < 8
            assert all(isinstance(o, EnqueueError) and "schema lock" in str(o) for o in outcomes), outcomes
            assert store.get_active_jobs(messages=False) == []  # failed, never left queued
        finally:
            holder.close()
        job = runner.start("many", "tester")  # the lock is free: the next start sets up and is queued
        try:
            assert _entries(url, [job.id]) == {job.id}
            assert schema_lock_sessions(url) == (0, 0)
        finally:
            runner.shutdown(0.1)
            store.close()
