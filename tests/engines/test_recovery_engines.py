"""Retries on real Celery and procrastinate workers (issue 21): a failed run waits queued for its next attempt, the
next attempt runs on a worker (never in the server), each attempt leaves its warning, and the last attempt reads
what the first saved. One ``jobdeck serve`` and two ``jobdeck worker`` per engine, a SQLite file as the store
(tests/engines/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import wait_for

from .conftest import Deployment, RedisBroker

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def celery(redis_broker: RedisBroker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    tmp = tmp_path_factory.mktemp("celery-recovery")
    deployment = Deployment(tmp, f"sqlite:///{tmp / 'jobs.db'}", f"celery+{redis_broker.url}", " ready.")
    try:
        deployment.add_server()
        deployment.start_workers(2)
        yield deployment
    finally:
        deployment.close()


@pytest.fixture(scope="module")
def procrastinate(procrastinate_dsn: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    tmp = tmp_path_factory.mktemp("procrastinate-recovery")
    deployment = Deployment(tmp, f"sqlite:///{tmp / 'jobs.db'}", f"procrastinate+{procrastinate_dsn}",
                            "Starting worker on queues jobdeck")
    try:
        deployment.add_server()
        deployment.start_workers(2)
        yield deployment
    finally:
        deployment.close()


@pytest.fixture(params=["celery", "procrastinate"])
def deck(request: pytest.FixtureRequest) -> Iterator[Deployment]:
    deployment: Deployment = request.getfixturevalue(request.param)
    deployment.start_workers(2)
    yield deployment
    deployment.abort_all_and_settle()


def runs_in(job: dict[str, Any]) -> list[int]:
    """The pid of each run of the handler, in order."""
    return [int(m["message"].rsplit(" ", 1)[1]) for m in job["infoMessages"]
            if m["message"].startswith("handler started in pid ")]


def test_a_failed_run_is_retried_on_a_worker_with_what_it_saved(deck: Deployment) -> None:
    job = deck.start_ok("Flaky", failures=2)
    done = deck.wait_status(job["id"], "completed", "failed", timeout=60)
    assert done["status"] == "completed" and done["attempt"] == 3 and done["maxAttempts"] == 3, done
    workers = {w.pid for w in deck.workers}
    pids = runs_in(done)
    assert len(pids) == 3 and set(pids) <= workers, (pids, workers)  # every attempt on a worker, not the server
    assert done["result"]["attempt"] == 3 and done["result"]["fetched_by"] == pids[0]
    failed = [m["message"] for m in done["warningMessages"] if m["message"].startswith("attempt ")]
    assert failed == [f"attempt {n} of 3 failed: ConnectionError: provider dropped the connection on attempt {n}; "
                      "retrying in " + ("0.3 s" if n == 1 else "0.6 s") for n in (1, 2)]


def test_retry_later_waits_queued_and_the_last_attempts_failure_fails_the_job(deck: Deployment) -> None:
    job = deck.start_ok("Flaky", failures=5, later=1.5)
    waiting = wait_for(lambda: (j := deck.job(job["id"]))["status"] == "queued" and j.get("retryAt") and j,
                       timeout=30, what="the job to wait for its next attempt")
    assert waiting["attempt"] == 2 and waiting["owner"] is None
    assert job["id"] in [j["id"] for j in deck.active()]  # waiting is active
    done = deck.wait_status(job["id"], "failed", timeout=60)
    assert done["attempt"] == 3 and done["retryAt"] is None
    assert done["errorMessages"][-1]["message"] == "provider asked to come back in 1.5 s"
    assert len(runs_in(done)) == 3 and set(runs_in(done)) <= {w.pid for w in deck.workers}


def test_aborting_a_job_waiting_on_an_engine_ends_it_at_once(deck: Deployment) -> None:
    job = deck.start_ok("Flaky", failures=5, later=600.0)
    wait_for(lambda: deck.job(job["id"])["status"] == "queued" and deck.job(job["id"]).get("retryAt"), timeout=30,
             what="the job to wait for its next attempt")
    response = deck.server.api("POST", f"/single/{job['id']}/abort", json={"reason": "not today"})
    assert response.status_code == 202, response.text
    ended = deck.job(job["id"])
    assert ended["status"] == "aborted" and len(runs_in(ended)) == 1
