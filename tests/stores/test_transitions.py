"""The lifecycle rules, the staleness policy, the observers and the outage schedule without any backend
(stores/_transitions.py, _staleness.py, _observers.py, _flusher.py's Outage): each on a bare JobInfo or object.

The behaviour suite runs the same rules through every store; these pin the rules themselves, so that a backend
is never needed to see what a change does to a head."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest

from jobdeck.core.model import JobInfo, JobMessage, JobStatus, MessageType
from jobdeck.stores import _transitions as rules
from jobdeck.stores._flusher import RETRY_FIRST, RETRY_LONGEST, Outage
from jobdeck.stores._observers import Observers, Transition
from jobdeck.stores._staleness import STALE_PREFIX, reaping, stale_reason
from jobdeck.stores.base import STALE_PREFIX as BASE_STALE_PREFIX

T0 = 1_000.0


def job(status: JobStatus = JobStatus.RUNNING, **fields: object) -> JobInfo:
    head = JobInfo(id="00000000-0000-4000-8000-000000000001", job_type="Import", author="alice", start_time=T0,
                   last_activity_time=T0, status=status)
    for name, value in fields.items():
        setattr(head, name, value)
    return head


TERMINAL = [JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.ABORTED]
ENDING: list[Callable[[], rules.Change]] = [
    lambda: rules.completing(None), lambda: rules.failing("boom"), lambda: rules.aborted,
    lambda: rules.abort_requested(None, None, "Abort requested: No message provided"), lambda: rules.beating("w"),
]


@pytest.mark.parametrize("status", TERMINAL)
@pytest.mark.parametrize("make", ENDING)
def test_a_finished_job_refuses_every_change(status: JobStatus, make: Callable[[], rules.Change]) -> None:
    head = job(status, end_time=T0)
    assert make()(head, T0 + 1) is None
    assert head.status is status and head.end_time == T0


def test_completing_sets_progress_result_and_times() -> None:
    head = job(JobStatus.ABORTING)  # the work did finish: completed, not aborted
    assert rules.completing({"n": 1})(head, T0 + 5) == []
    assert (head.status, head.progress, head.result) == (JobStatus.COMPLETED, 1.0, {"n": 1})
    assert head.end_time == head.last_activity_time == T0 + 5


def test_failing_adds_the_error_message_only_when_there_is_one() -> None:
    assert rules.failing(None)(job(), T0 + 1) == []
    head = job()
    assert rules.failing("boom")(head, T0 + 2) == [JobMessage(MessageType.ERROR, "boom", T0 + 2)]
    assert head.status is JobStatus.FAILED and head.end_time == T0 + 2


def test_an_abort_request_ends_a_queued_job_and_marks_a_running_one() -> None:
    change = rules.abort_requested("enough", "bob", "Abort requested by bob: enough")
    queued = job(JobStatus.QUEUED)
    added = change(queued, T0 + 1)
    assert [m.message for m in added or []] == ["Abort requested by bob: enough", "Job aborted before it started"]
    assert (queued.status, queued.aborted_by, queued.end_time) == (JobStatus.ABORTED, "bob", T0 + 1)
    running = job()
    assert [m.message for m in change(running, T0 + 2) or []] == ["Abort requested by bob: enough"]
    assert (running.status, running.abort_reason, running.abort_time) == (JobStatus.ABORTING, "enough", T0 + 2)
    assert running.end_time is None
    assert change(running, T0 + 3) is None  # a repeated request changes nothing


def test_a_heartbeat_needs_a_process_and_may_name_it() -> None:
    assert rules.beating("w1")(job(JobStatus.QUEUED), T0 + 1) is None
    head = job()
    assert rules.beating("w1")(head, T0 + 1) == []
    assert (head.heartbeat_time, head.owner, head.last_activity_time) == (T0 + 1, "w1", T0)


def test_claiming_takes_only_a_queued_job_and_reports_the_head_written() -> None:
    claimed: list[JobInfo] = []
    head = job(JobStatus.QUEUED, queued_time=T0)
    assert rules.claiming("host:1:a", claimed)(head, T0 + 3) == []
    assert claimed == [head] and head.status is JobStatus.RUNNING and head.owner == "host:1:a"
    assert head.start_time == head.heartbeat_time == T0 + 3
    assert rules.claiming("host:2:b", claimed)(head, T0 + 4) is None


def test_failing_lost_touches_only_a_queued_job() -> None:
    assert rules.failing_lost("lost")(job(), T0 + 1) is None
    head = job(JobStatus.QUEUED)
    assert rules.failing_lost("lost")(head, T0 + 1) == [JobMessage(MessageType.ERROR, "lost", T0 + 1)]
    assert head.status is JobStatus.FAILED


def test_staleness_tells_a_silent_process_from_a_dead_one() -> None:
    assert stale_reason(job(JobStatus.QUEUED), T0 + 999, 60) is None  # waiting for a worker is normal
    assert stale_reason(job(heartbeat_time=T0 + 900), T0 + 930, 60) is None  # it beats: alive
    never = stale_reason(job(), T0 + 100, 60)
    assert never is not None and never.startswith(STALE_PREFIX) and "no process ever sent a heartbeat" in never
    mine = stale_reason(job(owner="me", heartbeat_time=T0), T0 + 100, 60, alive_owner="me")
    assert mine is not None and "is alive" in mine
    assert STALE_PREFIX == BASE_STALE_PREFIX  # the name the API's notifier imports from the base


def test_the_reaper_requeues_a_dead_workers_job_while_its_type_allows() -> None:
    dead = job(owner="host:9:x", heartbeat_time=T0, queued_time=T0 - 5)
    change = reaping(60.0, None, "host:1:me", {"Import": 1})
    added = change(dead, T0 + 100)
    assert dead.status is JobStatus.QUEUED and dead.attempt == 2 and dead.owner is None
    assert added is not None and "re-queued as attempt 2 of at most 2" in added[0].message
    dead.status, dead.owner, dead.heartbeat_time = JobStatus.RUNNING, "host:9:y", T0 + 100
    added = change(dead, T0 + 200)  # attempt 2 of a type that allows one re-queue: failed now
    assert dead.status is JobStatus.FAILED
    assert added is not None and "not re-queued: this was attempt 2" in added[0].message


def test_the_reaper_rechecks_inside_the_step() -> None:
    head = job(owner="host:9:x", heartbeat_time=T0)
    assert reaping(60.0, None, None, None)(head, T0 + 30) is None  # a heartbeat came first: nothing to do
    assert head.status is JobStatus.RUNNING


def test_held_observations_go_to_the_enclosing_hold() -> None:
    seen: list[Transition] = []
    observers = Observers()
    assert not observers
    observers.add(seen.append)
    with observers.held():
        with observers.held():
            observers.observe(job())
        assert seen == []  # the inner block ended, but the outer one may still roll back
    assert [t.created for t in seen] == [True]
    with pytest.raises(RuntimeError), observers.held():
        observers.observe(job())
        raise RuntimeError("rolled back")
    assert len(seen) == 1  # dropped with the block that raised


def test_an_outage_pauses_on_the_backoff_schedule_and_logs_once(caplog: pytest.LogCaptureFixture) -> None:
    outage = Outage("messages")
    with caplog.at_level(logging.INFO, logger="jobdeck.store"):
        pauses = [outage.failed(OSError("disk full"), "they are") for _ in range(10)]
        assert pauses[:3] == [RETRY_FIRST, 2 * RETRY_FIRST, 4 * RETRY_FIRST]
        assert max(pauses) == pauses[-1] == RETRY_LONGEST
        assert outage.failing and outage.retry_in == RETRY_LONGEST
        outage.succeeded()
        assert not outage.failing and outage.failed(OSError("again"), "they are") == RETRY_FIRST
    assert [r.levelname for r in caplog.records] == ["WARNING", "INFO", "WARNING"]
