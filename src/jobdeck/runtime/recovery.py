"""The rules of a job's recovery that the runner applies: which jobs can be resumed, and how a resumed job takes
over what the old one kept (:meth:`JobRunner.resume <jobdeck.JobRunner.resume>`). The retry of a failed run is
recorded by :mod:`~jobdeck.runtime.execution` and started again by :mod:`~jobdeck.runtime.supervision`."""

from __future__ import annotations

import logging
from collections.abc import Callable

from ..core.errors import JobConflictError, JobdeckError
from ..core.model import JobInfo, JobStatus
from ..stores.base import Store

__all__ = ["RESUMABLE", "check_resumable", "taking_over"]

logger = logging.getLogger("jobdeck.runner")

#: What a job must have ended as to be resumed: a completed job has nothing left to do (re-run it instead).
RESUMABLE = frozenset({JobStatus.FAILED, JobStatus.ABORTED})


def check_resumable(job: JobInfo, max_concurrent: int) -> None:
    """JobConflictError (409) unless ``job`` ended failed or aborted, saying what it is and what to do instead."""
    if job.status in RESUMABLE:
        return
    what = "is still active: abort it first" if job.is_active else f"{job.status.value}: re-run it instead"
    raise JobConflictError(job.job_type, max_concurrent, [job.id] if job.is_active else [],
                           message=f"job {job.id} {what}; only a failed or aborted job can be resumed")


def taking_over(store: Store, resumed_from: str | None) -> Callable[[JobInfo], JobInfo]:
    """What to do with a job right after it was created, before anything can run it: with ``resumed_from``, give
    it that job's saved values (:meth:`Store.copy_saved <jobdeck.Store.copy_saved>`), or fail it and raise when
    that cannot be done (a resumed job must not run without what it resumes)."""

    def take_over(job: JobInfo) -> JobInfo:
        if resumed_from is None:
            return job
        try:
            store.copy_saved(resumed_from, job.id)
        except BaseException:
            try:
                store.fail_job(job.id, f"could not take over the saved values of job {resumed_from}")
            except JobdeckError:
                logger.exception("could not fail job %s after its saved values were not copied", job.id)
            raise
        return job

    return take_over
