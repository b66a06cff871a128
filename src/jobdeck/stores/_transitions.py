"""The lifecycle rules: each state change a store makes, as a pure function of the job head and the time.

A :data:`Change` mutates the head it is given and returns the messages to append, or None to refuse (the job is
terminal, or no longer in the state the rule needs). The public methods of :class:`~jobdeck.stores.base.Store`
check their arguments, build a change here and hand it to the backend's atomic step, which loads the head, runs
the change (through ``Store._apply``) and persists what it did. Nothing here does I/O, so every rule is tested
on a bare :class:`~jobdeck.core.model.JobInfo` (tests/stores/test_transitions.py); the staleness policy that
decides *whether* a job is reaped or re-queued is in :mod:`._staleness`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..core.model import JobInfo, JobMessage, JobStatus, MessageType

__all__ = [
    "Change",
    "abort_requested",
    "aborted",
    "beating",
    "claiming",
    "completing",
    "dispatching",
    "failing",
    "failing_lost",
    "requeue",
    "retrying",
]

# A state change: mutates the job head in place and returns the messages to append, or None to refuse
# (the job is terminal, or no longer matches what the caller saw). Runs inside the backend's atomic step.
Change = Callable[[JobInfo, float], list[JobMessage] | None]


def completing(result: Any) -> Change:
    """``completed`` with progress 1 and ``result``; also from ``aborting`` (the work did finish)."""

    def change(job: JobInfo, now: float) -> list[JobMessage] | None:
        if job.status.is_terminal:
            return None
        job.status, job.progress, job.result = JobStatus.COMPLETED, 1.0, result
        job.end_time = job.last_activity_time = now
        return []

    return change


def failing(error_message: str | None) -> Change:
    """``failed``, with ``error_message`` (if any) as an error message."""

    def change(job: JobInfo, now: float) -> list[JobMessage] | None:
        if job.status.is_terminal:
            return None
        job.status, job.end_time, job.last_activity_time = JobStatus.FAILED, now, now
        return [JobMessage(MessageType.ERROR, error_message, now)] if error_message else []

    return change


def abort_requested(reason: str | None, by: str | None, said: str) -> Change:
    """A ``running`` job turns ``aborting`` (its code stops at its next ``check_abort()``); a ``queued`` one ends
    ``aborted`` at once, as it never started. ``said`` is the warning that records the request."""

    def change(job: JobInfo, now: float) -> list[JobMessage] | None:
        requested = JobMessage(MessageType.WARNING, said, now)
        if job.status is JobStatus.QUEUED:
            job.status, job.abort_reason, job.abort_time, job.aborted_by = JobStatus.ABORTED, reason, now, by
            job.retry_at = None  # one waiting for its next attempt gets none
            job.end_time = job.last_activity_time = now
            return [requested, JobMessage(MessageType.WARNING, "Job aborted before it started", now)]
        if job.status is not JobStatus.RUNNING:
            return None
        job.status, job.abort_reason, job.abort_time, job.last_activity_time = (
            JobStatus.ABORTING, reason, now, now)
        job.aborted_by = by
        return [requested]

    return change


def aborted(job: JobInfo, now: float) -> list[JobMessage] | None:
    """``aborted``, with the warning ``Job aborted`` (the job's code saw the request and stopped)."""
    if job.status.is_terminal:
        return None
    job.status, job.end_time, job.last_activity_time = JobStatus.ABORTED, now, now
    return [JobMessage(MessageType.WARNING, "Job aborted", now)]


def beating(owner: str | None) -> Change:
    """A heartbeat of the process running the job (``owner``, when given, becomes the job's owner)."""

    def change(job: JobInfo, now: float) -> list[JobMessage] | None:
        if job.status.is_terminal or job.status is JobStatus.QUEUED:  # a queued job has no process yet
            return None
        job.heartbeat_time = now
        if owner is not None:
            job.owner = owner
        return []

    return change


def claiming(owner: str, claimed: list[JobInfo]) -> Change:
    """``queued -> running`` for the worker ``owner`` (a job waiting for its next attempt no longer waits:
    ``retry_at`` cleared); ``claimed`` receives the head as written (a backend may run the change again after a
    conflict: the last run is the one stored)."""

    def change(job: JobInfo, now: float) -> list[JobMessage] | None:
        if job.status is not JobStatus.QUEUED:
            return None
        job.status, job.owner, job.retry_at = JobStatus.RUNNING, owner, None
        job.start_time = job.heartbeat_time = job.last_activity_time = now
        claimed[:] = [job]
        return []

    return change


def failing_lost(reason: str) -> Change:
    """``failed`` with ``reason``, only while the job is still ``queued`` (its task engine lost it; a worker that
    claimed it meanwhile wins) and not waiting for its next attempt (``retry_at`` set: no engine holds it until it
    is due, by design)."""

    def change(job: JobInfo, now: float) -> list[JobMessage] | None:
        if job.status is not JobStatus.QUEUED or job.retry_at is not None:
            return None
        job.status, job.end_time, job.last_activity_time = JobStatus.FAILED, now, now
        return [JobMessage(MessageType.ERROR, reason, now)]

    return change


def requeue(job: JobInfo, at: float, allowed: int, stale_after: float) -> list[JobMessage]:
    """Put ``job``, whose worker died, back in the queue for its next attempt; the warning names the dead worker."""
    dead, beat = job.owner, at - (job.heartbeat_time or job.start_time)
    job.attempt += 1
    job.status, job.owner, job.heartbeat_time = JobStatus.QUEUED, None, None
    job.queued_time = job.start_time = job.last_activity_time = at
    job.progress, job.current_operation = 0.0, None  # the next run reports its own
    text = (f"Worker {dead} stopped sending heartbeats {beat:.0f}s ago (stale_after={stale_after:g}s) and "
            f"is taken for dead: the job was re-queued as attempt {job.attempt} of at most {allowed + 1} "
            f"(requeue_on_worker_lost={allowed})")
    return [JobMessage(MessageType.WARNING, text, at)]


def retrying(due: float, attempt: int, message: str, retried: list[bool]) -> Change:
    """Run ``attempt`` of a ``running`` job failed: ``queued`` until ``due`` (``retry_at``) as attempt + 1, owner
    and heartbeat cleared, ``queued_time`` now, progress and messages kept, ``message`` added as a warning. An abort
    wins: an ``aborting`` job ends ``aborted``. Refused for another attempt (the compare-and-set token) or any other
    status. ``retried`` holds True after a change that re-queued (emptied by one that did not)."""

    def change(job: JobInfo, now: float) -> list[JobMessage] | None:
        retried.clear()
        if job.attempt != attempt or job.status not in (JobStatus.RUNNING, JobStatus.ABORTING):
            return None
        if job.status is JobStatus.ABORTING:
            job.status, job.end_time, job.last_activity_time = JobStatus.ABORTED, now, now
            return [JobMessage(MessageType.WARNING, "Job aborted", now)]
        job.status, job.retry_at, job.attempt = JobStatus.QUEUED, due, job.attempt + 1
        job.owner = job.heartbeat_time = None
        job.queued_time = job.last_activity_time = now
        retried.append(True)
        return [JobMessage(MessageType.WARNING, message, now)]

    return change


def dispatching(retry_at: float) -> Change:
    """A ``queued`` job whose ``retry_at`` is still ``retry_at`` (compare-and-set): cleared, and waiting for a
    worker from now (``queued_time``), for the one process that hands the due retry to its task engine."""

    def change(job: JobInfo, now: float) -> list[JobMessage] | None:
        if job.status is not JobStatus.QUEUED or job.retry_at is None or job.retry_at != retry_at:
            return None
        job.retry_at, job.queued_time = None, now
        return []

    return change
