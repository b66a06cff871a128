"""PostgreSQL going away under procrastinate (guarantees 7 and 8), on a cluster of this session's own that the
module stops and starts (the machine's shared server is never stopped). The store (a SQLite file) stays up: only
the queue goes away. The API keeps answering, an enqueue fails fast with a clear 503 and leaves nothing queued,
running jobs go on, and every job reaches a terminal state once PostgreSQL is back."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import apply_procrastinate_schema, fresh_database, require, wait_for
from tests.pg_cluster import PASSWORD

from .conftest import Deployment, started_in
from .test_procrastinate import READY

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def fragile(pg_cluster_server: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Deployment, Any]]:
    if pg_cluster_server is None:
        require("no PostgreSQL server binaries (initdb): install Debian's postgresql package")
    tmp = tmp_path_factory.mktemp("fragile-pg")
    with fresh_database(pg_cluster_server.url(), prefix="jobdeck_outage") as url:
        apply_procrastinate_schema(url)
        deployment = Deployment(tmp, f"sqlite:///{tmp / 'jobs.db'}", f"procrastinate+{url}", READY)
        try:
            deployment.add_server()
            deployment.start_workers(2)
            yield deployment, pg_cluster_server
        finally:
            deployment.close()


def test_8_enqueue_with_postgres_down_is_a_quick_503_and_leaves_nothing_queued(
        fragile: tuple[Deployment, Any]) -> None:
    deck, postgres = fragile
    postgres.stop()
    try:
        asked = time.monotonic()
        answer = deck.start("Parallel", seconds=0.1)
        took = time.monotonic() - asked
        assert answer.status_code == 503, answer.text
        assert took < 8, f"the 503 took {took:.1f}s"
        error = answer.json()["error"]
        assert "could not be queued" in error and "PostgreSQL" in error and "marked failed" in error, error
        assert "Traceback" not in answer.text
        assert PASSWORD not in answer.text  # the cluster's password is in the executor URL, never in an answer
        assert deck.active() == []  # the job was failed, not left queued
        past = deck.server.api("GET", "/past?messages=all").json()
        assert past[0]["status"] == "failed"
        assert "could not be queued on procrastinate" in past[0]["errorMessages"][-1]["message"]
        for path in ("/active", "/past", "/stats", "/types"):  # reads do not depend on the queue
            assert deck.server.api("GET", path).status_code == 200
    finally:
        postgres.start()
    job = deck.start_ok("Parallel", seconds=0.1)  # the server's pool reconnects at once
    deck.wait_status(job["id"], "completed", timeout=30)  # and so do the workers


def test_7_postgres_away_for_seconds_no_500_storm_and_every_job_ends(fragile: tuple[Deployment, Any]) -> None:
    deck, postgres = fragile
    deck.start_workers(2)
    running = [deck.start_ok("Parallel", seconds=60.0) for _ in range(2)]
    for job in running:
        deck.wait_status(job["id"], "running", timeout=30)
    waiting = deck.start_ok("Parallel", seconds=0.5)  # both workers busy: its entry waits in the queue
    assert deck.job(waiting["id"])["status"] == "queued"
    postgres.stop()
    try:
        before = deck.job(running[0]["id"])["progress"]
        codes = []
        for _ in range(3):  # each start waits out the 3 s pool timeout: about ten seconds without PostgreSQL
            codes.append(deck.server.api("GET", "/active").status_code)
            answer = deck.start("Parallel", seconds=0.1)
            codes.append(answer.status_code)
            assert answer.status_code == 503 and "PostgreSQL" in answer.json()["error"], answer.text
        assert set(codes) == {200, 503}, codes  # no 500 among them
        during = deck.job(running[0]["id"])  # the running jobs report to the store, which stayed up: they went on
        assert during["status"] == "running" and during["progress"] > before, (before, during["progress"])
    finally:
        postgres.start()
    for job in running:  # ended from the API, which needs no queue for a running job
        deck.server.api("POST", f"/single/{job['id']}/abort", json={"reason": "outage over"})
        assert deck.wait_status(job["id"], "completed", "failed", "aborted", timeout=30)["status"] == "aborted"
    done = deck.wait_status(waiting["id"], "completed", "failed", "aborted", timeout=30)
    assert done["status"] == "completed" and started_in(done) is not None  # its entry survived: PostgreSQL is durable
    # The server's connection pool reconnects by itself, on its own back-off (a second, then longer): until it
    # has, a start is refused with a clear 503 and nothing is created; then it is accepted.
    def accepted() -> dict[str, Any] | None:
        answer = deck.start("Parallel", seconds=0.1)
        if answer.status_code == 201:
            started: dict[str, Any] = answer.json()
            return started
        assert answer.status_code == 503 and "PostgreSQL" in answer.json()["error"], answer.text
        return None

    job = wait_for(accepted, timeout=60, what="a start accepted once PostgreSQL is back")
    deck.wait_status(job["id"], "completed", timeout=30)
    assert deck.active() == []
    assert all(w.proc.poll() is None for w in deck.workers)  # the workers waited for PostgreSQL, none gave up
    wait_for(lambda: deck.server.api("GET", "/stats").json()["active"] == 0, timeout=10, what="nothing active")
