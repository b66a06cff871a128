"""Bulk actions: one action (abort, re-run, resume, delete) for many jobs, run as a jobdeck job of its own.

What a bulk action acts on is decided first, as a :class:`BulkPlan`: the targets (jobs the action applies to and
the asker may act on) and the jobs left out with the reason (still active, already ended, refused by a permission
hook, not found). A dry run shows the plan; a real one creates a job of type :data:`BULK_TYPE` whose params record
the action, the filter and the counts, and :func:`run_bulk` works through the targets in a thread of the process
that planned it: progress after each job, a message for each job it could not act on and why, and a check for an
abort between jobs. A re-run or resume that meets its type's ``max_concurrent`` waits for a free slot (checking for
an abort while it waits) rather than dropping the job; an abort of a job that ended meanwhile is no error; delete
acts on finished jobs only. The bulk job is not a registered type: it runs where it was asked for, whatever
executor the runner hands its jobs to, and it heartbeats as the runner's own jobs do.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from ..core.errors import AbortError, JobConflictError, JobdeckError, JobNotFoundError
from ..core.model import JobInfo, JobStatus
from ..stores.base import Store
from .controller import PipelineController

__all__ = ["ACTIONS", "BULK_TYPE", "MAX_TARGETS", "Action", "Actor", "BulkPlan", "eligible", "plan_bulk",
           "run_bulk", "start_bulk"]

logger = logging.getLogger("jobdeck.bulk")

BULK_TYPE = "jobdeck.bulk"
ACTIONS = ("abort", "rerun", "resume", "delete")
Action = Literal["abort", "rerun", "resume", "delete"]
#: The most jobs one bulk action takes; a filter matching more is refused (narrow it, or run several).
MAX_TARGETS = 10_000
_DELETE_CHUNK = 200
_WAIT_MAX = 1.0  # the longest pause between two tries for a free slot


class Actor(Protocol):
    """What a bulk job needs of the runner (:class:`~jobdeck.runtime.runner.JobRunner` is one)."""

    owner: str

    def abort(self, job_id: str, reason: str | None = None, *, by: str | None = None) -> bool: ...

    def rerun(self, job_id: str, author: str, params: Any = None) -> JobInfo: ...

    def resume(self, job_id: str, author: str) -> JobInfo: ...


@dataclass
class BulkPlan:
    """What a bulk action will act on: ``targets`` (ids, in the order found) and ``left_out`` (id, why)."""

    action: Action
    targets: list[str] = field(default_factory=list)
    left_out: list[tuple[str, str]] = field(default_factory=list)


def eligible(action: Action, job: JobInfo) -> str | None:
    """Why ``action`` does not apply to ``job`` (None: it does)."""
    if job.job_type == BULK_TYPE and action != "delete":
        return "a bulk job is not a target of another bulk action (only delete applies)"
    if action == "abort":
        if job.status.is_terminal:
            return f"already {job.status.value}"
        if job.status is JobStatus.ABORTING:
            return "already aborting"
        return None
    if job.is_active:
        return f"still {job.status.value}: only a finished job can be {_DONE[action]}"
    if action == "resume" and job.status is JobStatus.COMPLETED:
        return "completed: only a failed or aborted job can be resumed"
    return None


_DONE = {"abort": "aborted", "rerun": "re-run", "resume": "resumed", "delete": "deleted"}


def plan_bulk(action: Action, jobs: Iterable[JobInfo], allowed: Callable[[JobInfo], str | None]) -> BulkPlan:
    """The plan for ``jobs`` (heads): each either a target or left out, with the action's own rule first
    (:func:`eligible`), then ``allowed`` (the asker's permission for that job: None, or why not)."""
    plan = BulkPlan(action)
    for job in jobs:
        why = eligible(action, job) or allowed(job)
        if why is None:
            plan.targets.append(job.id)
        else:
            plan.left_out.append((job.id, why))
    return plan


def start_bulk(store: Store, actor: Actor | None, plan: BulkPlan, by: str, record: dict[str, Any]) -> JobInfo:
    """Create the bulk job (author ``by``; params: ``record`` plus the counts) and start working through ``plan`` in
    a thread of this process; returns the job at once."""
    params = {**record, "action": plan.action, "count": len(plan.targets), "leftOut": len(plan.left_out)}
    owner = actor.owner if actor is not None else None
    job = store.create_job(BULK_TYPE, by, params, owner=owner)
    thread = threading.Thread(target=run_bulk, args=(store, actor, job.id, plan, by), daemon=True,
                              name=f"jobdeck-bulk-{job.id[:8]}")
    thread.start()
    return job


def run_bulk(store: Store, actor: Actor | None, job_id: str, plan: BulkPlan, by: str) -> None:
    """Work through ``plan`` as the job ``job_id``; ends it completed (result: the counts), aborted or failed."""
    try:
        run = _Run(store, actor, job_id, plan, by)
        try:
            run.work()
        except AbortError:
            run.ctl.warning(f"stopped on request after {run.acted} of {len(plan.targets)} jobs")
            store.mark_aborted(job_id)
        except Exception as exc:
            logger.exception("bulk job %s failed", job_id)
            store.fail_job(job_id, f"{type(exc).__name__}: {exc}")
        else:
            store.complete_job(job_id, run.result())
    except Exception:  # the store went away (closed, unreachable): the reaper fails the job once it is stale
        logger.exception("bulk job %s could not record its end", job_id)


class _Run:
    def __init__(self, store: Store, actor: Actor | None, job_id: str, plan: BulkPlan, by: str) -> None:
        self.store, self.actor, self.job_id, self.plan, self.by = store, actor, job_id, plan, by
        self.ctl = PipelineController(job_id, store, known=True)
        self.acted = 0
        self.not_acted = 0
        self.beat_every = max(0.5, min(10.0, store.stale_after / 6))
        self.beaten = time.monotonic()

    def result(self) -> dict[str, Any]:
        return {"action": self.plan.action, "count": len(self.plan.targets), "acted": self.acted,
                "notActed": self.not_acted, "leftOut": len(self.plan.left_out)}

    def beat(self) -> None:
        if time.monotonic() - self.beaten >= self.beat_every:
            self.store.heartbeat(self.job_id, self.actor.owner if self.actor is not None else None)
            self.beaten = time.monotonic()

    def missed(self, job_id: str, why: str) -> None:
        self.not_acted += 1
        self.ctl.warning(f"job {job_id}: not {_DONE[self.plan.action]}: {why}")

    def work(self) -> None:
        plan, ctl = self.plan, self.ctl
        ctl.info(f"{plan.action} of {len(plan.targets)} jobs asked for by {self.by}"
                 + (f"; {len(plan.left_out)} left out" if plan.left_out else ""))
        for job_id, why in plan.left_out:
            ctl.warning(f"job {job_id}: left out: {why}")
        total = len(plan.targets) or 1
        if plan.action == "delete":
            for start in range(0, len(plan.targets), _DELETE_CHUNK):
                ctl.check_abort()
                self.beat()
                chunk = plan.targets[start:start + _DELETE_CHUNK]
                gone = set(self.store.delete_jobs(chunk))
                self.acted += len(gone)
                for job_id in chunk:
                    if job_id not in gone:
                        self.missed(job_id, "no longer there, or active again")
                ctl.progress(min(1.0, (start + len(chunk)) / total))
            return
        for done, job_id in enumerate(plan.targets, 1):
            ctl.check_abort()
            self.beat()
            self.act(job_id)
            ctl.progress(done / total)

    def act(self, job_id: str) -> None:
        action, actor = self.plan.action, self.actor
        try:
            if action == "abort":
                if actor is not None:
                    stopped = actor.abort(job_id, f"bulk abort (job {self.job_id})", by=self.by)
                else:
                    stopped = self.store.request_abort(job_id, f"bulk abort (job {self.job_id})", by=self.by)
                if stopped:
                    self.acted += 1
                else:  # it ended meanwhile: nothing left to abort, and no error
                    self.not_acted += 1
                    self.ctl.info(f"job {job_id}: ended before its abort; nothing to do")
                return
            if actor is None:
                self.missed(job_id, "this server runs no jobs")
                return
            self.start_when_free(job_id)
        except AbortError:
            raise  # this bulk job was asked to stop (an AbortError is a JobdeckError too)
        except JobNotFoundError:
            self.missed(job_id, "no longer there (removed by cleanup or retention)")
        except JobdeckError as exc:
            self.missed(job_id, str(exc))

    def start_when_free(self, job_id: str) -> None:
        """Re-run or resume ``job_id``; while its type's ``max_concurrent`` is reached, wait for a slot."""
        actor = self.actor
        if actor is None:  # act() checked it; for the type checker
            return
        pause, said = 0.02, False
        while True:
            try:
                if self.plan.action == "rerun":
                    actor.rerun(job_id, self.by)
                else:
                    actor.resume(job_id, self.by)
            except JobConflictError as exc:  # the plan kept only finished jobs: this is the type's slots
                if not said:
                    self.ctl.info(f"job {job_id}: waiting for a free slot ({exc})")
                    said = True
                self.ctl.check_abort()
                self.beat()
                time.sleep(pause)
                pause = min(_WAIT_MAX, pause * 2)
                continue
            self.acted += 1
            return
