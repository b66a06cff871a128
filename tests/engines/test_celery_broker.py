"""Celery's broker or the store going away (guarantees 7 and 8), with private redis-servers these tests stop and
start: the API keeps answering (no 500s; 503 naming the store while it is away), an enqueue fails fast with a
clear 503 and leaves nothing queued, and every job reaches a terminal state once the broker is back -- also a
queued job whose message the restart lost."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import wait_for

from .conftest import STALE_AFTER, Deployment, RedisBroker, started_in

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def fragile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Deployment, RedisBroker]]:
    tmp = tmp_path_factory.mktemp("fragile")
    broker = RedisBroker(tmp)
    broker.start()
    deployment = Deployment(tmp, f"sqlite:///{tmp / 'jobs.db'}", f"celery+{broker.url}", " ready.")
    try:
        deployment.add_server()
        deployment.start_workers(2)
        yield deployment, broker
    finally:
        deployment.close()
        broker.stop()


def test_8_enqueue_with_the_broker_down_is_a_clear_503_and_leaves_nothing_queued(
        fragile: tuple[Deployment, RedisBroker]) -> None:
    deck, broker = fragile
    broker.stop()
    try:
        asked = time.monotonic()
        answer = deck.start("Parallel", seconds=0.1)
        took = time.monotonic() - asked
        assert answer.status_code == 503, answer.text
        assert took < 8, f"the 503 took {took:.1f}s"
        error = answer.json()["error"]
        assert "could not be queued" in error and "marked failed" in error
        assert "Traceback" not in answer.text
        assert deck.active() == []  # the job was failed, not left queued
        past = deck.server.api("GET", "/past?messages=all").json()
        assert past[0]["status"] == "failed" and "could not be queued on celery" in past[0]["errorMessages"][-1][
            "message"]
        for path in ("/active", "/past", "/stats", "/types"):  # reads do not depend on the broker
            assert deck.server.api("GET", path).status_code == 200
    finally:
        broker.start()
    job = wait_for(lambda: (a := deck.start("Parallel", seconds=0.1)).status_code == 201 and a.json(),
                   timeout=30, interval=0.5, what="an enqueue to succeed again")
    deck.wait_status(job["id"], "completed", timeout=60)  # the workers reconnected on their own


def test_7_jobs_in_flight_all_end_terminal_after_the_broker_returns(fragile: tuple[Deployment, RedisBroker]) -> None:
    deck, broker = fragile
    deck.start_workers(2)
    running = [deck.start_ok("Parallel", seconds=10.0) for _ in range(2)]
    for job in running:
        deck.wait_status(job["id"], "running", timeout=30)
    waiting = deck.start_ok("Parallel", seconds=0.5)  # both workers busy: its message waits in the broker
    assert deck.job(waiting["id"])["status"] == "queued"
    broker.stop()  # without persistence: the waiting message is gone for good
    for _ in range(5):
        assert deck.server.api("GET", "/active").status_code == 200
    time.sleep(2)  # the outage itself lasts a few seconds: a duration, not a wait for a condition
    broker.start()
    for job in running:  # they ran on, writing to the store, which never went away
        assert deck.wait_status(job["id"], "completed", timeout=30)["result"] is not None
    lost = deck.wait_status(waiting["id"], "failed", "completed", timeout=float(STALE_AFTER) * 6)
    assert lost["status"] == "failed", lost  # no worker held it (no prefetching), so the restart lost it
    assert "Job lost while queued: the Celery broker holds no message for it" in lost["errorMessages"][-1]["message"]
    assert len(lost["errorMessages"]) == 1 and started_in(lost) is None
    assert deck.active() == []
    job = wait_for(lambda: (a := deck.start("Parallel", seconds=0.1)).status_code == 201 and a.json(),
                   timeout=30, interval=0.5, what="an enqueue to succeed again")
    deck.wait_status(job["id"], "completed", timeout=60)


@pytest.fixture
def fragile_store(tmp_path: Path, redis_broker: RedisBroker) -> Iterator[tuple[Deployment, RedisBroker]]:
    # A Redis of its own for the store, which this test stops and starts; it keeps its data across the restart.
    store_server = RedisBroker(tmp_path, persistent=True)
    store_server.start()
    deployment = Deployment(tmp_path, f"{store_server.url}?prefix=jobdeck-fragile", f"celery+{redis_broker.url}",
                            " ready.")
    try:
        deployment.add_server()
        deployment.start_workers(2)
        yield deployment, store_server
    finally:
        deployment.close()
        store_server.stop()


def test_7_the_store_going_away_gives_clear_503s_and_every_job_ends_terminal(
        fragile_store: tuple[Deployment, RedisBroker]) -> None:
    deck, store_server = fragile_store
    # Long enough to be running through the outage, short enough to end within the wait below: an outage shorter
    # than stale_after no longer ends a running job (docs/operating.md#when-the-store-is-away), so the job now ends
    # by completing rather than by failing on the outage.
    running = deck.start_ok("Parallel", seconds=8.0)
    deck.wait_status(running["id"], "running", timeout=30)
    store_server.stop()
    answers = [deck.server.api("GET", path) for path in ("/active", "/past", "/stats")]
    answers.append(deck.start("Parallel", seconds=0.1))
    assert {a.status_code for a in answers} == {503}, [a.text for a in answers]
    assert all("Redis store" in a.json()["error"] and "Traceback" not in a.text for a in answers)
    time.sleep(2)  # the outage itself lasts a few seconds: a duration, not a wait for a condition
    store_server.start()
    # The handler met the outage: its job ends terminal once the store is back (completed when the outage stayed
    # within stale_after, else failed by the stale reaper with that reason).
    ended = deck.wait_status(running["id"], "failed", "completed", "aborted", timeout=float(STALE_AFTER) * 8)
    assert ended["endTime"] is not None
    job = wait_for(lambda: (a := deck.start("Parallel", seconds=0.1)).status_code == 201 and a.json(),
                   timeout=30, interval=0.5, what="a start to succeed again")
    assert deck.wait_status(job["id"], "completed", timeout=60)["owner"] is not None
    assert deck.server.api("GET", "/active").status_code == 200
