"""When an active job counts as stale, and what the reaper does with it: fail it, or re-queue it when its task
engine's worker died and its type allows another attempt. Pure policy (no I/O): ``Store.stale_reason`` and
``Store.reap_stale`` apply it with the store's ``stale_after``, inside the backend's atomic step.
"""

from __future__ import annotations

from collections.abc import Mapping

from ..core.checks import EXTERNAL_OWNER
from ..core.model import JobInfo, JobMessage, JobStatus, MessageType
from ._transitions import Change, requeue

__all__ = ["STALE_PREFIX", "reaping", "stale_reason"]

# The error message of a job the reaper failed starts with this (notifications tell "reaped" from "failed" by it).
STALE_PREFIX = "Job went stale"


def stale_reason(job: JobInfo, now: float, stale_after: float, alive_owner: str | None = None) -> str | None:
    """Why ``job`` counts as stale at ``now``, or None if it does not (see ``Store.stale_reason``)."""
    if not job.is_active or job.status is JobStatus.QUEUED:
        return None
    idle = now - job.last_activity_time
    beat = now - job.heartbeat_time if job.heartbeat_time is not None else None
    if idle <= stale_after or (beat is not None and beat <= stale_after):
        return None
    if beat is None:
        return (f"{STALE_PREFIX}: no progress, message or heartbeat for {idle:.0f}s "
                f"(stale_after={stale_after:g}s) and no process ever sent a heartbeat for it")
    if alive_owner is not None and job.owner == alive_owner:
        return (f"{STALE_PREFIX}: its process {job.owner} is alive but recorded no heartbeat for {beat:.0f}s "
                f"and nothing for {idle:.0f}s (stale_after={stale_after:g}s): the store was "
                "unreachable from it for longer than it retried")
    if job.owner == EXTERNAL_OWNER:
        return (f"{STALE_PREFIX}: its external reporter sent no report or heartbeat for {beat:.0f}s "
                f"(stale_after={stale_after:g}s); the process reporting over HTTP most likely stopped")
    who = f"process {job.owner}" if job.owner else "the process running it"
    return (f"{STALE_PREFIX}: {who} stopped sending heartbeats {beat:.0f}s ago and the job reported "
            f"nothing for {idle:.0f}s (stale_after={stale_after:g}s); that process died, hung or "
            "cannot reach the store")


def reaping(stale_after: float, now: float | None, alive_owner: str | None,
            requeue_limits: Mapping[str, int] | None) -> Change:
    """The reaper's change: re-checks staleness inside the atomic step (a heartbeat or another reaper may have
    come first), then re-queues a worker-claimed job whose worker died while its type allows another attempt,
    and fails it otherwise. ``now`` None: the time of the step."""

    def change(job: JobInfo, at: float) -> list[JobMessage] | None:
        reason = stale_reason(job, now if now is not None else at, stale_after, alive_owner)
        if reason is None:
            return None
        allowed = requeue_limits.get(job.job_type, 0) if requeue_limits else 0
        if allowed and job.status is JobStatus.RUNNING and job.queued_time is not None \
                and job.owner not in (None, alive_owner, EXTERNAL_OWNER):
            if job.attempt <= allowed:
                return requeue(job, at, allowed, stale_after)
            reason += (f"; not re-queued: this was attempt {job.attempt} and its type allows "
                       f"requeue_on_worker_lost={allowed}")
        job.status, job.end_time, job.last_activity_time = JobStatus.FAILED, at, at
        return [JobMessage(MessageType.ERROR, reason, at)]

    return change
