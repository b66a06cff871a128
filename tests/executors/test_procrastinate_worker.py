"""The procrastinate worker's chores read what they need: a job's head, not its message log (issue 19, item 19).

Both chores run for as long as a worker does (the escalation every half second, the closing of dead workers'
entries every ``stale_after / 4``) and only look at a job's status and times. The store below is a SQLite store
noting what each read of a job asked for: ``keep`` None is every message, 0 none.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from jobdeck import JobRunner
from jobdeck.core.model import JobInfo
from jobdeck.executors._procrastinate_worker import ESCALATE_AFTER, escalate_abandoned
from jobdeck.executors.procrastinate import ProcrastinateExecutor
from jobdeck.stores.sqlite import SQLiteStore
from tests.conftest import free_port

MESSAGES = 3000


class ReadNotingStore(SQLiteStore):
    """A SQLite store noting the ``keep`` of every read of one job (None: all its messages)."""

    def __init__(self, path: Path, **limits: Any) -> None:
        super().__init__(path, **limits)
        self.keeps: list[int | None] = []

    def _read(self, job_id: str, keep: int | None) -> JobInfo | None:
        self.keeps.append(keep)
        return super()._read(job_id, keep)


def _long_log_job(store: ReadNotingStore, job_type: str) -> JobInfo:
    job = store.create_job(job_type, "tester")  # running, as a worker's job is
    for n in range(MESSAGES):
        store.add_info_message(job.id, f"row {n} imported")
    assert len(store.require_job(job.id).info_messages) == MESSAGES
    store.keeps.clear()
    return job


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ReadNotingStore]:
    store = ReadNotingStore(tmp_path / "jobs.db", max_messages=MESSAGES)
    yield store
    store.close()


def test_the_escalation_round_reads_heads_only(store: ReadNotingStore) -> None:
    # Never connects: the round only reads the store for a job that is still running or ended a moment ago.
    executor = ProcrastinateExecutor.from_url(f"procrastinate+postgresql://127.0.0.1:{free_port()}/nowhere")
    runner = JobRunner(store, executor=executor, reap=False)
    running_job = _long_log_job(store, "import")
    just_ended = _long_log_job(store, "import")
    store.complete_job(just_ended.id)
    store.keeps.clear()

    async def one_round() -> None:
        handler = asyncio.create_task(asyncio.sleep(60))  # stands in for procrastinate's task of each job
        executor.running.tasks.update({running_job.id: handler, just_ended.id: handler})
        try:
            await escalate_abandoned(executor, executor.running)
        finally:
            handler.cancel()
            executor.running.tasks.clear()

    asked = time.time()
    asyncio.run(one_round())
    assert time.time() - asked < ESCALATE_AFTER  # so the job that ended was not escalated (no database here)
    assert len(store.keeps) == 2 and store.keeps == [0, 0], store.keeps
    assert executor.running.escalated == set()
    runner.shutdown(0.1)


def test_closing_dead_workers_entries_reads_heads_only(store: ReadNotingStore, procrastinate_dsn: str,
                                                        tmp_path: Path) -> None:
    import psycopg

    executor = ProcrastinateExecutor.from_url(f"procrastinate+{procrastinate_dsn}?queue=heads-{tmp_path.name}")
    runner = JobRunner(store, executor=executor, reap=False)
    runner.register("import", lambda ctl: None, max_concurrent=5)
    try:
        job = runner.start("import", "tester")
        assert store.claim_job(job.id, "host:1:dead") is not None  # running on a worker that then died
        for n in range(MESSAGES):
            store.add_info_message(job.id, f"row {n} imported")
        with psycopg.connect(procrastinate_dsn, autocommit=True) as conn:
            conn.execute("UPDATE procrastinate_jobs SET status = 'doing', worker_id = NULL "
                         "WHERE args->>'job_id' = %s", (job.id,))
        store.keeps.clear()
        # jobdeck still counts the job as running (its own reaper judges it): the entry stays, and only the
        # job's head was read to find that out
        assert executor.close_stalled(1.0) == []
        assert store.keeps == [0], store.keeps
    finally:
        runner.shutdown(0.1)
