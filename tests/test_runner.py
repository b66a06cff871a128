"""JobRunner: registered handlers really run, and every job ends in a terminal state."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Iterator

import pytest

from jobdeck import (
    AbortError,
    JobConflictError,
    JobRunner,
    JobStatus,
    MemoryStore,
    PipelineController,
    UnknownJobTypeError,
)

from .conftest import wait_for


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore(stale_after=0.5)


@pytest.fixture
def runner(store: MemoryStore) -> Iterator[JobRunner]:
    runner = JobRunner(store, abort_grace=0.3)
    yield runner
    runner.shutdown(grace=2)


def status(store: MemoryStore, job_id: str) -> JobStatus:
    return store.get_status(job_id)


def test_return_value_completes_the_job_with_its_result(runner: JobRunner, store: MemoryStore) -> None:
    @runner.job("Sum", title="Add numbers")
    def add(ctl: PipelineController, a: int = 1, b: int = 2) -> dict[str, int]:
        ctl.initialize_pipeline(["only"])
        ctl.progress(1.0)
        return {"sum": a + b}

    job = runner.start("Sum", "admin", {"a": 40})
    assert job.params == {"a": 40}
    done = runner.wait(job.id, timeout=10)
    assert done.status is JobStatus.COMPLETED
    assert done.result == {"sum": 42} and done.progress == 1.0
    assert runner.get_type("Sum").title == "Add numbers"


def test_abort_error_ends_aborted(runner: JobRunner, store: MemoryStore) -> None:
    started = threading.Event()

    def handler(ctl: PipelineController) -> None:
        started.set()
        while True:
            ctl.check_abort()
            threading.Event().wait(0.01)

    runner.register("Loop", handler)
    job = runner.start("Loop", "admin")
    assert started.wait(10)
    assert store.request_abort(job.id, "enough")
    assert runner.wait(job.id, timeout=10).status is JobStatus.ABORTED


def test_exception_fails_with_type_and_message_and_logs_traceback(
    runner: JobRunner, store: MemoryStore, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(ctl: PipelineController) -> None:
        raise RuntimeError("model endpoint unreachable")

    runner.register("Broken", broken)
    with caplog.at_level(logging.ERROR, logger="jobdeck.runner"):
        job = runner.wait(runner.start("Broken", "admin").id, timeout=10)
    assert job.status is JobStatus.FAILED
    assert job.error_messages[-1].message == "RuntimeError: model endpoint unreachable"
    assert any(r.exc_info and r.exc_info[0] is RuntimeError for r in caplog.records)


def test_async_handlers_run_on_the_runners_loop(runner: JobRunner) -> None:
    @runner.job("Async")
    async def handler(ctl: PipelineController, n: int = 3) -> int:
        for i in range(n):
            await asyncio.sleep(0)
            ctl.progress((i + 1) / n)
        return n

    job = runner.wait(runner.start("Async", "admin", {"n": 5}).id, timeout=10)
    assert job.status is JobStatus.COMPLETED and job.result == 5


def test_unknown_type_conflict_and_bad_params_are_refused(runner: JobRunner) -> None:
    release = threading.Event()
    runner.register("Once", lambda ctl: release.wait(10), max_concurrent=1)
    with pytest.raises(UnknownJobTypeError, match=r"'Nope'.*Once"):
        runner.start("Nope", "admin")
    with pytest.raises(ValueError, match="params"):
        runner.start("Once", "admin", {"unexpected": 1})
    with pytest.raises(ValueError, match="JSON object"):
        runner.start("Once", "admin", [1, 2])
    first = runner.start("Once", "admin")
    with pytest.raises(JobConflictError, match=first.id):
        runner.start("Once", "admin")
    release.set()
    assert runner.wait(first.id, timeout=10).status is JobStatus.COMPLETED
    second = runner.start("Once", "admin")  # the slot is free again
    assert runner.wait(second.id, timeout=10).status is JobStatus.COMPLETED


def test_max_concurrent_allows_that_many(runner: JobRunner) -> None:
    release = threading.Event()
    runner.register("Pair", lambda ctl: release.wait(10), max_concurrent=2)
    jobs = [runner.start("Pair", "admin"), runner.start("Pair", "admin")]
    with pytest.raises(JobConflictError):
        runner.start("Pair", "admin")
    release.set()
    assert all(runner.wait(j.id, timeout=10).status is JobStatus.COMPLETED for j in jobs)


def test_heartbeats_keep_a_long_silent_step_alive(runner: JobRunner, store: MemoryStore) -> None:
    release = threading.Event()
    runner.register("Silent", lambda ctl: release.wait(20))
    job = runner.start("Silent", "admin")
    beats: set[float] = set()

    def several_beats_past_the_stale_window() -> bool:
        current = store.get_job(job.id)
        assert current is not None and current.status is JobStatus.RUNNING, "a busy job was reaped"
        if current.heartbeat_time is not None:
            beats.add(current.heartbeat_time)
        return current.heartbeat_time is not None and current.heartbeat_time - current.last_activity_time > 1.0

    wait_for(several_beats_past_the_stale_window, timeout=10, what="heartbeats beyond stale_after")
    assert len(beats) >= 3
    release.set()
    assert runner.wait(job.id, timeout=10).status is JobStatus.COMPLETED


def test_stale_jobs_without_a_live_process_are_reaped(runner: JobRunner, store: MemoryStore) -> None:
    orphan = store.create_job("Orphan", "admin")  # nobody runs it, nobody heartbeats it
    runner.start_supervisor()
    wait_for(lambda: status(store, orphan.id) is JobStatus.FAILED, timeout=10, what="the reaper")
    job = store.get_job(orphan.id)
    assert job is not None and "went stale" in job.error_messages[-1].message


def test_timeout_requests_abort_and_a_cooperative_job_ends_aborted(runner: JobRunner, store: MemoryStore) -> None:
    def slow(ctl: PipelineController) -> None:
        while True:
            ctl.check_abort()
            threading.Event().wait(0.01)

    runner.register("Slow", slow, timeout=0.2)
    job = runner.wait(runner.start("Slow", "admin").id, timeout=10)
    assert job.status is JobStatus.ABORTED
    assert "timeout" in job.warning_messages[0].message


def test_a_handler_ignoring_abort_is_failed_after_the_grace_period(runner: JobRunner, store: MemoryStore) -> None:
    release = threading.Event()
    runner.register("Stubborn", lambda ctl: release.wait(20), timeout=0.2)
    job = runner.start("Stubborn", "admin")
    wait_for(lambda: status(store, job.id) is JobStatus.FAILED, timeout=10, what="the grace deadline")
    failed = store.get_job(job.id)
    assert failed is not None and "did not stop within 0.3s" in failed.error_messages[-1].message
    release.set()
    assert runner.wait(job.id, timeout=10).status is JobStatus.FAILED  # its late return changes nothing


def test_a_result_that_is_not_json_fails_the_job(runner: JobRunner) -> None:
    runner.register("Odd", lambda ctl: object())
    job = runner.wait(runner.start("Odd", "admin").id, timeout=10)
    assert job.status is JobStatus.FAILED and "cannot be stored" in job.error_messages[-1].message


def test_shutdown_leaves_no_job_active(store: MemoryStore) -> None:
    runner = JobRunner(store)
    cooperative_started, stubborn_started, release = threading.Event(), threading.Event(), threading.Event()

    def cooperative(ctl: PipelineController) -> None:
        cooperative_started.set()
        while True:
            ctl.check_abort()
            threading.Event().wait(0.01)

    def stubborn(ctl: PipelineController) -> None:
        stubborn_started.set()
        release.wait(20)

    runner.register("Cooperative", cooperative)
    runner.register("Stubborn", stubborn)
    a, b = runner.start("Cooperative", "admin"), runner.start("Stubborn", "admin")
    assert cooperative_started.wait(10) and stubborn_started.wait(10)
    forced = runner.shutdown(grace=0.5)
    assert forced == [b.id]
    assert status(store, a.id) is JobStatus.ABORTED
    assert status(store, b.id) is JobStatus.FAILED
    assert store.get_active_jobs() == []
    release.set()
    with pytest.raises(Exception, match="shutting down"):
        runner.start("Cooperative", "admin")


def test_abort_error_raised_by_job_code_directly_is_an_abort(runner: JobRunner) -> None:
    def quits(ctl: PipelineController) -> None:
        raise AbortError(ctl.job_id, "nothing to do")

    runner.register("Quits", quits)
    assert runner.wait(runner.start("Quits", "admin").id, timeout=10).status is JobStatus.ABORTED
