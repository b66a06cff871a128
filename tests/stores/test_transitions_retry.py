"""The retry rules of stores/_transitions.py (issue 21) on a bare JobInfo, and the saved-value sizes of
stores/_saved.py: what a change does to a head, without a backend (the behaviour suite runs them on every store)."""

from __future__ import annotations

from jobdeck.core.model import JobStatus
from jobdeck.stores import _transitions as rules
from jobdeck.stores._observers import Transition
from jobdeck.stores._saved import shown, size_text

from .test_transitions import T0, job


def test_a_failed_run_goes_back_to_the_queue_keeping_its_progress() -> None:
    head = job(owner="h:1:a", heartbeat_time=T0, progress=0.7, attempt=1, max_attempts=3)
    retried: list[bool] = []
    added = rules.retrying(T0 + 60, 1, "attempt 1 of 3 failed", retried)(head, T0 + 1)
    assert added is not None and [m.message for m in added] == ["attempt 1 of 3 failed"]
    assert (head.status, head.attempt, head.retry_at, head.progress) == (JobStatus.QUEUED, 2, T0 + 60, 0.7)
    assert (head.owner, head.heartbeat_time, head.queued_time, head.end_time) == (None, None, T0 + 1, None)
    assert retried == [True]
    assert rules.retrying(T0 + 60, 1, "again", retried)(head, T0 + 2) is None and retried == []


def test_an_abort_wins_and_another_attempt_is_refused() -> None:
    aborting = job(JobStatus.ABORTING, attempt=2)
    retried: list[bool] = []
    assert rules.retrying(T0 + 60, 1, "x", retried)(aborting, T0) is None  # not this attempt
    added = rules.retrying(T0 + 60, 2, "x", retried)(aborting, T0)
    assert added is not None and aborting.status is JobStatus.ABORTED and aborting.retry_at is None
    assert retried == []


def test_claiming_dispatching_aborting_and_losing_a_waiting_job() -> None:
    waiting = job(JobStatus.QUEUED, retry_at=T0 + 5, attempt=2)
    assert rules.failing_lost("lost")(waiting, T0) is None  # no engine holds it until it is due
    assert rules.dispatching(T0 + 6)(waiting, T0) is None
    assert rules.dispatching(T0 + 5)(waiting, T0 + 5) == []
    assert waiting.retry_at is None and waiting.queued_time == T0 + 5
    again = job(JobStatus.QUEUED, retry_at=T0 + 5)
    assert rules.claiming("h:2:b", [])(again, T0 + 5) == [] and again.retry_at is None
    aborted = job(JobStatus.QUEUED, retry_at=T0 + 5)
    assert rules.abort_requested("no", "ops", "Abort requested by ops: no")(aborted, T0) is not None
    assert aborted.status is JobStatus.ABORTED and aborted.retry_at is None


def test_a_retried_transition_is_not_a_created_one() -> None:
    moved = Transition(job(JobStatus.QUEUED, attempt=2), retried=True)
    assert not moved.created and not moved.requeued and moved.retried


def test_sizes_are_read_at_a_glance_and_jobdeck_s_own_keys_hidden() -> None:
    assert [size_text(n) for n in (0, 1023, 1024, 300 * 1024, int(1.2 * 1024 ** 2), 1024 ** 2)] == [
        "0 B", "1023 B", "1 KiB", "300 KiB", "1.2 MiB", "1 MiB"]
    assert shown(["b", "jobdeck.done:load", "a"]) == ["a", "b"]
