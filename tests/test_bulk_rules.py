"""The bulk action's rules (runtime/bulk.py), on bare jobs: which jobs each action applies to, and the plan."""

from __future__ import annotations

import pytest

from jobdeck.core.model import JobInfo, JobStatus
from jobdeck.runtime.bulk import BULK_TYPE, eligible, plan_bulk


def _job(status: JobStatus, job_type: str = "Import", n: int = 1) -> JobInfo:
    return JobInfo(id=f"00000000-0000-4000-8000-00000000000{n}", job_type=job_type, author="a", status=status)


@pytest.mark.parametrize(("action", "status", "why"), [
    ("abort", JobStatus.RUNNING, None), ("abort", JobStatus.QUEUED, None),
    ("abort", JobStatus.ABORTING, "already aborting"), ("abort", JobStatus.FAILED, "already failed"),
    ("rerun", JobStatus.COMPLETED, None), ("rerun", JobStatus.FAILED, None),
    ("rerun", JobStatus.RUNNING, "still running: only a finished job can be re-run"),
    ("resume", JobStatus.FAILED, None), ("resume", JobStatus.ABORTED, None),
    ("resume", JobStatus.COMPLETED, "completed: only a failed or aborted job can be resumed"),
    ("delete", JobStatus.ABORTED, None),
    ("delete", JobStatus.QUEUED, "still queued: only a finished job can be deleted"),
])
def test_which_jobs_an_action_applies_to(action: str, status: JobStatus, why: str | None) -> None:
    assert eligible(action, _job(status)) == why  # type: ignore[arg-type]


def test_a_bulk_job_is_only_ever_deleted() -> None:
    bulk = _job(JobStatus.FAILED, BULK_TYPE)
    assert eligible("rerun", bulk) is not None and eligible("delete", bulk) is None


def test_the_plan_applies_the_rule_then_the_permission() -> None:
    jobs = [_job(JobStatus.FAILED, n=1), _job(JobStatus.RUNNING, n=2), _job(JobStatus.FAILED, "Secret", n=3)]
    plan = plan_bulk("rerun", jobs, lambda job: "not yours" if job.job_type == "Secret" else None)
    assert plan.targets == [jobs[0].id]
    assert plan.left_out == [(jobs[1].id, "still running: only a finished job can be re-run"),
                             (jobs[2].id, "not yours")]
