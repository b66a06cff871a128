"""The runner when the store fails under it, and when shutdown races a start: outcomes are retried until the
store is back, supervision logs an outage once (and its end once), a reaped job's reason tells an unreachable
store from a dead process, and a job being started while the runner shuts down is not left active."""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from jobdeck import JobdeckError, JobInfo, JobRunner, JobStatus, MemoryStore, PipelineController
from jobdeck.stores.sqlite import SQLiteStore
from tests.conftest import wait_for


@pytest.fixture
def locked_store(tmp_path: Path) -> Iterator[tuple[SQLiteStore, sqlite3.Connection]]:
    """A SQLite store (failing fast when the file is locked) and a second connection to lock it with."""
    path = tmp_path / "jobs.db"
    store = SQLiteStore(path, busy_timeout=0.02)
    locker = sqlite3.connect(path, isolation_level=None, timeout=5)
    yield store, locker
    if locker.in_transaction:
        locker.execute("ROLLBACK")
    locker.close()
    store.close()


@pytest.mark.slow
def test_a_failure_during_an_outage_is_recorded_once_the_store_is_back(
        locked_store: tuple[SQLiteStore, sqlite3.Connection], caplog: pytest.LogCaptureFixture) -> None:
    store, locker = locked_store
    caplog.set_level(logging.WARNING, logger="jobdeck.runner")
    go = threading.Event()

    def fails_later(ctl: PipelineController) -> None:
        go.wait(10)
        raise RuntimeError("the work itself failed")

    runner = JobRunner(store, heartbeat_interval=0.05, store_retry=30)
    runner.register("FailsLater", fails_later)
    try:
        job = runner.start("FailsLater", "me")
        locker.execute("BEGIN EXCLUSIVE")  # the outage: every write fails ("database is locked")
        go.set()
        wait_for(lambda: any("recording the end of job" in r.getMessage() for r in caplog.records), timeout=10,
                 what="the outcome write to fail and be retried")
        wait_for(lambda: any("job supervision failed" in r.getMessage() for r in caplog.records), timeout=10,
                 what="supervision to meet the outage")
        time.sleep(0.5)  # not a wait for a condition: the outage must span many rounds of supervision
        locker.execute("ROLLBACK")  # the store is back
        ended = runner.wait(job.id, timeout=30)
    finally:
        runner.shutdown(grace=5)
    assert ended.status is JobStatus.FAILED
    assert [m.message for m in ended.error_messages] == ["RuntimeError: the work itself failed"]
    messages = [r.getMessage() for r in caplog.records]
    assert sum("job supervision failed" in m for m in messages) == 1, messages
    assert sum("job supervision works again" in m for m in messages) == 1, messages
    assert sum("failed, retrying for up to 30s" in m for m in messages) == 1, messages
    assert not [r for r in caplog.records if r.exc_info and "supervision" in r.getMessage()]


def test_a_reaped_job_of_a_live_process_blames_the_store_not_the_process() -> None:
    store = MemoryStore(stale_after=1)
    mine = store.create_job("T", "me", owner="host:1:aaaaaa")
    theirs = store.create_job("T", "me", owner="host:2:bbbbbb")
    later = time.time() + 60
    reaped = store.reap_stale(now=later, alive_owner="host:1:aaaaaa")
    assert sorted(reaped) == sorted([mine.id, theirs.id])
    own = store.require_job(mine.id).error_messages[-1].message
    other = store.require_job(theirs.id).error_messages[-1].message
    assert "is alive" in own and "store was unreachable" in own and "died" not in own
    assert "died, hung or cannot reach the store" in other


class SlowToCreate(MemoryStore):
    """A memory store whose job creation waits until released: a start() caught between its checks."""

    def __init__(self) -> None:
        super().__init__()
        self.entered = threading.Event()
        self.release = threading.Event()

    def _insert(self, job: JobInfo, max_active: int | None) -> None:
        self.entered.set()
        self.release.wait(10)
        super()._insert(job, max_active)


def test_shutdown_during_a_start_leaves_nothing_active() -> None:
    store = SlowToCreate()

    def waits(ctl: PipelineController) -> None:
        while True:
            ctl.check_abort()
            time.sleep(0.01)

    runner = JobRunner(store, abort_grace=5)
    runner.register("Waits", waits)
    started: list[JobInfo] = []
    starter = threading.Thread(target=lambda: started.append(runner.start("Waits", "me")))
    starter.start()
    assert store.entered.wait(10)  # start() is past its closing check, creating the job
    stopper = threading.Thread(target=runner.shutdown, kwargs={"grace": 5})
    stopper.start()
    wait_for(lambda: runner._closing, what="shutdown to begin")
    store.release.set()
    starter.join(10)
    stopper.join(15)
    assert not stopper.is_alive() and len(started) == 1
    assert store.get_active_jobs() == []
    assert store.require_job(started[0].id).status in (JobStatus.ABORTED, JobStatus.FAILED)
    with pytest.raises(JobdeckError, match="shutting down"):
        runner.start("Waits", "me")
