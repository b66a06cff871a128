"""The supervision loop fires schedules on its own, in real time (runtime/supervision.py + runtime/scheduling.py):
no call from the test starts anything; the loop wakes for the next occurrence rather than at its next heartbeat."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest

from jobdeck import JobRunner, MemoryStore, PipelineController
from jobdeck.core.model import JobInfo
from jobdeck.core.schedule import ScheduleSpec
from tests.conftest import wait_for


@pytest.fixture
def runner() -> Iterator[JobRunner]:
    # A heartbeat interval far longer than the test: only waking for the occurrence can start the jobs in time.
    made = JobRunner(MemoryStore(stale_after=600), heartbeat_interval=60)

    def tick(ctl: PipelineController) -> str:
        return "ticked"

    made.register("Tick", tick, max_concurrent=10)
    yield made
    made.shutdown(grace=2)


def scheduled(runner: JobRunner) -> list[JobInfo]:
    jobs = runner.store.get_past_jobs(messages=False) + runner.store.get_active_jobs(messages=False)
    return sorted((j for j in jobs if j.schedule_id == "tick"), key=lambda j: j.run_at or 0)


def test_a_code_schedule_fires_every_second_on_its_own_soon_after_each_due_time(runner: JobRunner) -> None:
    runner.schedule("tick", "Tick", every=1)
    runner.start_supervisor()
    jobs = wait_for(lambda: (found := [j for j in scheduled(runner) if j.status.value == "completed"])
                    and len(found) >= 3 and found, timeout=10, what="three scheduled jobs completed")
    runs = [j.run_at or 0 for j in jobs[:3]]
    assert [b - a for a, b in itertools.pairwise(runs)] == [1.0, 1.0]  # one per second, none twice
    # Created soon after each due time (the queued time is the creation): the loop woke for it, where its next
    # heartbeat round would have come up to 60 s later. (The bound leaves room for a loaded machine.)
    lags = [(j.queued_time or 0) - (j.run_at or 0) for j in jobs[:3]]
    assert all(0 <= lag < 2.0 for lag in lags), lags
    assert all(j.result == "ticked" and j.author == "schedule:tick" for j in jobs[:3])


def test_an_admin_schedule_wakes_the_loop_at_once(runner: JobRunner) -> None:
    runner.start_supervisor()
    runner.scheduler.create(ScheduleSpec.build("tick", "Tick", every=1), "alice")
    runner.wake()
    wait_for(lambda: scheduled(runner), timeout=3, what="the admin schedule's first job")
    runner.scheduler.edit("tick", "alice", paused=True)
    paused_at = len(scheduled(runner))
    runner.scheduler.edit("tick", "alice", paused=False)
    runner.wake()
    wait_for(lambda: len(scheduled(runner)) > paused_at, timeout=3, what="a job after resuming")
