"""The worker registry and the diagnoses on real Celery and procrastinate workers (issue 22): workers appearing
(live, idle then busy with their job) and going (a clean stop removes the record; a killed worker is shown gone),
the queue figures, and each queued diagnosis from its real cause -- no worker at all, the one worker's slot busy,
the worker killed -- and ``stalled`` from a handler that stops reporting while its worker heartbeats, cleared when
it reports again. One ``jobdeck serve`` (which runs no job itself) per engine, a SQLite file as the store."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import wait_for

from .conftest import STALE_AFTER, Deployment, RedisBroker, Worker

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def celery(redis_broker: RedisBroker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    tmp = tmp_path_factory.mktemp("celery-cockpit")
    broker = RedisBroker(tmp)  # a broker of its own: other modules' idle workers must not take these tasks
    broker.start()
    deployment = Deployment(tmp, f"sqlite:///{tmp / 'jobs.db'}", f"celery+{broker.url}", " ready.")
    try:
        deployment.add_server()
        yield deployment
    finally:
        deployment.close()
        broker.stop()


@pytest.fixture(scope="module")
def procrastinate(procrastinate_dsn: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    tmp = tmp_path_factory.mktemp("procrastinate-cockpit")
    # A queue of its own: other modules' idle workers on the session's database must not take these jobs.
    deployment = Deployment(tmp, f"sqlite:///{tmp / 'jobs.db'}", f"procrastinate+{procrastinate_dsn}?queue=cockpit",
                            "Starting worker on queues cockpit")
    try:
        deployment.add_server()
        yield deployment
    finally:
        deployment.close()


@pytest.fixture(params=["celery", "procrastinate"])
def deck(request: pytest.FixtureRequest) -> Iterator[Deployment]:
    deployment: Deployment = request.getfixturevalue(request.param)
    yield deployment
    deployment.start_workers(1)  # something to end what is queued
    deployment.abort_all_and_settle()
    for worker in deployment.workers:
        worker.stop()


def page(deck: Deployment) -> dict[str, Any]:
    response = deck.server.api("GET", "/workers")
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data


def diagnosis(deck: Deployment, job_id: str) -> dict[str, str]:
    found: dict[str, str] = deck.job(job_id)["diagnosis"]
    return found


def wait_code(deck: Deployment, job_id: str, code: str, timeout: float = 30) -> dict[str, str]:
    return wait_for(lambda: (d := diagnosis(deck, job_id))["code"] == code and d, timeout=timeout, interval=0.1,
                    what=f"job {job_id} to be diagnosed {code}")


def record(deck: Deployment, worker: Worker) -> dict[str, Any] | None:
    return next((w for w in page(deck)["workers"] if w["pid"] == worker.pid), None)


def test_workers_queues_and_diagnoses_from_their_real_causes(deck: Deployment) -> None:
    engine = deck.executor.split("+", 1)[0]
    # No worker at all: the job waits, and the page says why; the server (it runs no job) is not a worker.
    first = deck.start_ok("Parallel", seconds=60)
    assert first["status"] == "queued"
    assert wait_code(deck, first["id"], "no_worker")["text"] == "no live worker runs Parallel"
    assert [w for w in page(deck)["workers"] if w["live"]] == []
    queues = {q["jobType"]: q for q in page(deck)["queues"]}
    assert queues["Parallel"]["queued"] == 1 and queues["Parallel"]["liveWorkers"] == 0
    assert queues["Parallel"]["oldestWait"] > 0

    # A worker appears: live, its types and its one slot; it claims the job and shows it.
    (worker,) = deck.start_workers(1)
    mine = wait_for(lambda: record(deck, worker), what="the worker's record")
    assert mine["live"] and mine["executor"] == engine and mine["concurrency"] == 1
    assert {"Parallel", "Quiet", "Long"} <= set(mine["jobTypes"])
    deck.wait_status(first["id"], "running")
    busy = wait_for(lambda: (r := record(deck, worker)) and r["busy"] and r, what="the worker to show its job")
    assert [j["id"] for j in busy["jobs"]] == [first["id"]]
    assert diagnosis(deck, first["id"])["code"] == "ok"

    # Its one slot is held: the next job of the type waits for it, and the sentence names the holder.
    second = deck.start_ok("Parallel", seconds=60)
    held = wait_code(deck, second["id"], "slot_busy")
    assert held["text"].startswith("waiting for a slot: the live worker that runs Parallel is busy (1 of 1 slots), "
                                   f"held by job {first['id'][:8]}, running ")
    assert {q["jobType"]: q for q in page(deck)["queues"]}["Parallel"]["queued"] == 1
    deck.abort_all_and_settle()

    # A handler that stops reporting while its worker heartbeats is stalled (logged once), and clears when it moves.
    quiet = deck.start_ok("Quiet", quiet=4.0, then=60)
    stalled = wait_code(deck, quiet["id"], "stalled")
    assert stalled["text"].endswith("; its process is alive")
    wait_code(deck, quiet["id"], "ok")
    assert worker.output().count(f"job {quiet['id']} (Quiet) stalled: no progress and no message") == 1
    assert deck.job(quiet["id"])["status"] == "running"  # a slow step is not a dead one
    deck.abort_all_and_settle()

    # The worker is killed: it is shown gone after stale_after, and the next job says no live worker runs it.
    worker.signal(signal.SIGKILL)
    worker.proc.wait(timeout=10)
    gone = wait_for(lambda: (r := record(deck, worker)) and not r["live"] and r, timeout=20,
                    what="the killed worker to be shown gone")
    assert gone["heartbeatAge"] > float(STALE_AFTER)
    orphan = deck.start_ok("Parallel", seconds=60)
    text = wait_code(deck, orphan["id"], "no_worker")["text"]
    assert text.startswith(f"no live worker runs Parallel (the last one, {gone['host']}:{worker.pid}, went silent ")

    # A worker that stops cleanly takes its record with it.
    (fresh,) = deck.start_workers(1)
    wait_for(lambda: record(deck, fresh), what="the new worker's record")
    deck.abort_all_and_settle()
    assert fresh.stop() == 0
    wait_for(lambda: record(deck, fresh) is None, timeout=10, what="the stopped worker's record to go")
