"""The supervision loop wakes for a retry scheduled while it is starting an earlier one (found by the recovery
benchmark: 5 of 40 retries started at the next heartbeat round, 8-10 s after their due time, instead of within a
few milliseconds)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from jobdeck import JobRunner, JobStatus, MemoryStore, PipelineController, Retry, RetryLater
from tests.conftest import wait_for


@pytest.fixture
def runner() -> Iterator[JobRunner]:
    runner = JobRunner(MemoryStore())  # the default heartbeat interval: 10 s
    runner.register("Flaky", lambda ctl: None, retry=Retry(attempts=2, backoff=1, jitter=False))
    yield runner
    runner.shutdown(grace=5)


def test_a_retry_scheduled_while_an_earlier_one_is_started_is_woken_for(runner: JobRunner) -> None:
    supervisor = runner._supervision
    # A retry fell due just now: the loop is in its round, starting it, having read the store already.
    supervisor.wake_at(time.time() - 0.001)
    # Meanwhile another job's run fails and is scheduled to retry in 0.3 s.
    later = time.time() + 0.3
    supervisor.wake_at(later)
    # The round ends with what it read (no job waiting then).
    supervisor.retries()
    pause = supervisor._pause(time.monotonic() + runner.heartbeat_interval)
    assert pause <= 0.3, f"the loop would sleep {pause:.1f} s, past the retry due in 0.3 s"


def test_retries_scheduled_back_to_back_start_at_their_due_time(runner: JobRunner) -> None:
    """The same through the runner: each job's retry is scheduled as the previous job's retry starts."""
    entered: dict[str, list[float]] = {}

    def handler(ctl: PipelineController) -> None:
        runs = entered.setdefault(ctl.job_id, [])
        runs.append(time.time())
        if len(runs) == 1:
            raise RetryLater(0.1, "again shortly")

    runner.register("Back2Back", handler, retry=Retry(attempts=2))
    late = []
    for _ in range(10):
        job = runner.start("Back2Back", "me")
        wait_for(lambda j=job.id: not runner.store.require_job(j, messages=False).is_active, timeout=30,
                 what="the retried job to end")
        assert runner.store.require_job(job.id).status is JobStatus.COMPLETED
        first, second = entered[job.id]
        late.append(second - first - 0.1)
    # Each retry starts near its due time, not at the next heartbeat round (10 s).
    assert max(late) < 2.0, [round(x, 3) for x in late]
