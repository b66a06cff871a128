"""Due retries with a task engine's executor, through the executor seam (tests/test_executors.py's in-test queue
engine; real Celery and procrastinate workers are in tests/engines/test_recovery_engines.py): a worker's failed run
waits queued, exactly one of several runners hands the due retry to the engine, the engine is never asked whether
it lost a job waiting for its next attempt, and the retries are counted in the metrics."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from prometheus_client import CollectorRegistry

from jobdeck import JobRunner, JobStatus, PipelineController, Retry, RetryLater
from jobdeck.core.model import JobInfo
from jobdeck.runtime.metrics import JobCounters
from jobdeck.stores.sqlite import SQLiteStore
from tests.test_executors import QueueExecutor


class AskedExecutor(QueueExecutor):
    """The queue engine, remembering which jobs it was asked about as possibly lost."""

    def __init__(self) -> None:
        super().__init__(queue.Queue())
        self.asked: list[str] = []

    def lost(self, jobs: Sequence[JobInfo]) -> dict[str, str]:
        self.asked.extend(j.id for j in jobs)
        return super().lost(jobs)


def flaky(runner: JobRunner) -> JobRunner:
    @runner.job("Flaky", max_concurrent=3, retry=Retry(attempts=3, backoff=0.05, jitter=False))
    def handler(ctl: PipelineController) -> int:
        attempt = ctl.store.require_job(ctl.job_id, messages=False).attempt
        if attempt < 3:
            raise RetryLater(3600, f"busy on attempt {attempt}")  # due only when a test says so
        return attempt

    return runner


def test_exactly_one_runner_hands_a_due_retry_to_the_engine(tmp_path: Path) -> None:
    path = tmp_path / "jobs.db"
    executors = [AskedExecutor() for _ in range(4)]
    runners = [flaky(JobRunner(SQLiteStore(path, stale_after=1.0), executor=e, reap=False)) for e in executors]
    registry = CollectorRegistry()
    counters = JobCounters(registry)
    worker = runners[0]
    worker.store.add_observer(counters.observe)
    try:
        job = runners[1].start("Flaky", "me")
        assert executors[1].jobs.get_nowait() == job.id
        ended = worker.run_job(job.id)  # attempt 1 fails and asks to come back in an hour
        assert ended is not None and ended.status is JobStatus.QUEUED and ended.retry_at is not None
        assert ended.warning_messages[-1].message == "attempt 1 of 3 failed: busy on attempt 1; retrying in 3600 s"
        due = ended.retry_at
        assert all(r.retry_due(now=due - 1) == [] for r in runners)  # not due a second early
        barrier = threading.Barrier(len(runners))

        def pick(runner: JobRunner) -> list[str]:
            barrier.wait(10)
            return runner.retry_due(now=due)

        with ThreadPoolExecutor(len(runners)) as pool:
            picked = list(pool.map(pick, runners))
        assert sorted(len(p) for p in picked) == [0, 0, 0, 1], picked  # one runner dispatched it
        handed = [e.jobs.get_nowait() for e in executors if not e.jobs.empty()]
        assert handed == [job.id]
        dispatched = worker.store.require_job(job.id)
        assert dispatched.status is JobStatus.QUEUED and dispatched.retry_at is None and dispatched.attempt == 2
        second = worker.run_job(job.id)  # attempt 2 waits an hour again, and is never taken for lost meanwhile
        assert second is not None and second.status is JobStatus.QUEUED and second.attempt == 3
        for e in executors:
            e.lost_answer[job.id] = "the broker has no entry for it"
        assert worker.reap_lost(time.time() + 7200) == []  # past stale_after and "lost": not even asked
        assert executors[0].asked == []
        assert worker.store.require_job(job.id).status is JobStatus.QUEUED
        assert registry.get_sample_value("jobdeck_job_retries_total", {"job_type": "Flaky"}) == 2
    finally:
        for runner in runners:
            runner.shutdown(grace=1)
            runner.store.close()
