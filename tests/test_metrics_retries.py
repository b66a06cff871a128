"""A job going back to the queue for its next attempt (``Store.schedule_retry``) is not counted as a new job nor as
a finished one: it is one job, counted as created once and finished once, started once per run."""

from __future__ import annotations

import time

from tests.scrape import value
from tests.test_metrics import Counted, shared

__all__ = ["shared"]  # the fixture, used here by name


def test_a_retried_job_is_counted_once_created_and_once_finished(shared: tuple[Counted, Counted]) -> None:
    server, worker = shared
    job = server.store.create_job("Q", "a", queued=True, max_attempts=2)
    assert worker.store.claim_job(job.id, "host:1:w") is not None
    assert worker.store.schedule_retry(job.id, time.time(), attempt=1, message="attempt 1 of 2 failed")
    assert worker.store.claim_job(job.id, "host:1:w") is not None
    assert worker.store.complete_job(job.id)
    s, w = server.found(), worker.found()
    assert value(s, "jobdeck_jobs_queued_total", job_type="Q") == 1
    assert value(w, "jobdeck_jobs_queued_total", job_type="Q") == 0  # the retry created no job
    assert value(w, "jobdeck_jobs_finished_total", job_type="Q", status="queued") == 0
    assert value(w, "jobdeck_jobs_started_total", job_type="Q") == 2  # one start per run
    assert value(w, "jobdeck_jobs_finished_total", job_type="Q", status="completed") == 1
