"""The nine guarantees of queued execution on Celery, with real processes: one ``jobdeck serve`` (two for the
cross-server 409), two ``jobdeck worker`` processes running one job each, a private Redis as the broker and a
SQLite file as the shared store. Stale window 3 s, drain grace 2 s, so that the whole file stays short."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from jobdeck.core.model import parse_time
from tests.api.sse_client import SSEReader

from .conftest import GRACE, STALE_AFTER, Deployment, RedisBroker, owner_pid, started_in

pytestmark = pytest.mark.slow

READY = " ready."


@pytest.fixture(scope="module")
def celery(redis_broker: RedisBroker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    tmp = tmp_path_factory.mktemp("celery")
    deployment = Deployment(tmp, f"sqlite:///{tmp / 'jobs.db'}", f"celery+{redis_broker.url}", READY)
    try:
        deployment.add_server()
        deployment.start_workers(2)
        yield deployment
    finally:
        deployment.close()


@pytest.fixture
def deck(celery: Deployment) -> Iterator[Deployment]:
    celery.start_workers(2)
    yield celery
    celery.abort_all_and_settle()


def worker_pids(deck: Deployment) -> set[int]:
    return {w.pid for w in deck.workers if w.proc.poll() is None}


def test_1_a_started_job_runs_in_a_worker_and_reports_live(deck: Deployment) -> None:
    server_pid = deck.server.proc.pid if deck.server.proc else None
    with SSEReader(f"{deck.server.url}/api/admin/jobs/events", headers=deck.server.auth, timeout=20) as sse:
        job = deck.start_ok("Parallel", seconds=1.0)
        assert job["status"] == "queued" and job["owner"] is None and job["queuedTime"] is not None
        seen: set[str] = set()
        while "completed" not in seen:  # each read is bounded by the reader's timeout
            frame = sse.next_frame()
            if not isinstance(frame.data, dict) or frame.data.get("jobId") != job["id"]:
                continue
            seen.add(frame.event)
            if frame.event == "status":
                seen.add(frame.data["data"]["status"])
        assert {"progress", "message", "running"} <= seen, seen
    done = deck.wait_status(job["id"], "completed")
    pid = owner_pid(done)
    assert pid in worker_pids(deck) and pid != server_pid
    assert started_in(done) == pid and done["result"] == {"pid": pid}
    assert [m["message"] for m in done["infoMessages"]][-1] == "handler done"


def test_2_max_concurrent_one_gives_one_job_and_one_409_across_two_servers(deck: Deployment) -> None:
    second = deck.servers[1] if len(deck.servers) > 1 else deck.add_server()
    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(lambda s: deck.start("Long", server=s, seconds=30.0), [deck.server, second]))
    codes = sorted(a.status_code for a in answers)
    assert codes == [201, 409], [a.text for a in answers]
    winner = next(a.json() for a in answers if a.status_code == 201)
    loser = next(a.json() for a in answers if a.status_code == 409)
    assert loser["activeJobIds"] == [winner["id"]]
    with ThreadPoolExecutor(2) as pool:  # the same on one server
        again = list(pool.map(lambda _: deck.start("Long", seconds=30.0), range(2)))
    assert [a.status_code for a in again] == [409, 409]


def test_3_abort_of_a_running_job_lands_within_a_second_of_its_next_check(deck: Deployment) -> None:
    job = deck.start_ok("Parallel", seconds=60.0)
    deck.wait_status(job["id"], "running")
    answer = deck.server.api("POST", f"/single/{job['id']}/abort", json={"reason": "enough"})
    assert answer.status_code == 202, answer.text
    ended = deck.wait_status(job["id"], "aborted", timeout=10)
    requested, end = parse_time(ended["abortRequestedTime"]), parse_time(ended["endTime"])
    assert requested is not None and end is not None and 0 <= end - requested < 1.0  # the handler checks every 50 ms
    assert ended["abortReason"] == "enough"


def test_4_abort_of_a_queued_job_ends_it_and_its_handler_never_runs(deck: Deployment) -> None:
    busy = [deck.start_ok("Parallel", seconds=60.0) for _ in range(2)]
    for job in busy:
        deck.wait_status(job["id"], "running")
    waiting = deck.start_ok("Parallel", seconds=1.0)
    assert deck.job(waiting["id"])["status"] == "queued"
    answer = deck.server.api("POST", f"/single/{waiting['id']}/abort", json={"reason": "not needed"})
    assert answer.status_code == 202, answer.text
    assert deck.job(waiting["id"])["status"] == "aborted"  # at once, not when a worker gets to it
    for job in busy:  # free both workers: the revoked (or dropped) task must not run the handler
        deck.server.api("POST", f"/single/{job['id']}/abort")
        deck.wait_status(job["id"], "aborted")
    probe = deck.start_ok("Parallel", seconds=0.1)  # runs after the aborted one's message was dealt with
    deck.wait_status(probe["id"], "completed")
    final = deck.job(waiting["id"])
    assert final["status"] == "aborted" and started_in(final) is None and final["owner"] is None


def test_5_sigkill_of_a_worker_fails_its_job_once_naming_it_and_the_other_runs_on(deck: Deployment) -> None:
    jobs = [deck.start_ok("Parallel", seconds=60.0) for _ in range(2)]
    running = [deck.wait_status(j["id"], "running") for j in jobs]
    by_pid = {owner_pid(j): j for j in running}
    victim = next(w for w in deck.workers if w.pid in by_pid)
    doomed, survivor = by_pid[victim.pid], next(j for p, j in by_pid.items() if p != victim.pid)
    victim.signal(signal.SIGKILL)
    victim.proc.wait(timeout=10)
    killed_at = time.time()
    failed = deck.wait_status(doomed["id"], "failed", timeout=float(STALE_AFTER) * 4)
    assert time.time() - killed_at < float(STALE_AFTER) * 3
    errors = [m["message"] for m in failed["errorMessages"]]
    assert len(errors) == 1 and doomed["owner"] in errors[0] and "stale" in errors[0], errors
    other = deck.job(survivor["id"])
    assert other["status"] == "running" and other["progress"] > survivor["progress"]
    deck.server.api("POST", f"/single/{survivor['id']}/abort")
    deck.wait_status(survivor["id"], "aborted")
    assert deck.active() == []  # nothing left running or queued
    assert len(deck.job(doomed["id"])["errorMessages"]) == 1  # still exactly once


def test_5b_a_job_whose_type_allows_it_goes_back_to_the_queue_when_its_worker_dies(deck: Deployment,
                                                                                   tmp_path: Path) -> None:
    job = deck.start_ok("Retried", marker=str(tmp_path / "first-run"))
    running = deck.wait_status(job["id"], "running")
    victim = next(w for w in deck.workers if w.pid == owner_pid(running))
    victim.signal(signal.SIGKILL)
    victim.proc.wait(timeout=10)
    done = deck.wait_status(job["id"], "completed", timeout=float(STALE_AFTER) * 6)
    assert done["id"] == job["id"] and done["attempt"] == 2 and done["errorMessages"] == []
    assert owner_pid(done) in worker_pids(deck) and owner_pid(done) != victim.pid  # the other worker ran it
    requeued = [m["message"] for m in done["warningMessages"] if "re-queued" in m["message"]]
    assert len(requeued) == 1 and running["owner"] in requeued[0], requeued  # exactly once, naming the dead one
    starts = [m["message"] for m in done["infoMessages"] if m["message"].startswith("handler started in pid ")]
    assert starts == [f"handler started in pid {victim.pid}", f"handler started in pid {owner_pid(done)}"]
    assert deck.active() == []


def test_6_sigterm_drains_a_worker_within_the_grace_period(deck: Deployment) -> None:
    polite = deck.start_ok("Parallel", seconds=60.0)
    stubborn = deck.start_ok("Stubborn", seconds=60.0)
    jobs = {owner_pid(deck.wait_status(j["id"], "running")): j for j in (polite, stubborn)}
    for worker in list(deck.workers):
        if worker.pid in jobs:
            worker.signal(signal.SIGTERM)
    sent = time.monotonic()
    ended_polite = deck.wait_status(polite["id"], "aborted", timeout=10)
    ended_stubborn = deck.wait_status(stubborn["id"], "failed", timeout=float(GRACE) + 10)
    assert time.monotonic() - sent < float(GRACE) + 5
    assert "worker shutting down" in ended_polite["abortReason"]
    assert f"did not stop within {GRACE}s (worker shutting down)" in ended_stubborn["errorMessages"][-1]["message"]
    for worker in deck.workers:
        if worker.pid in jobs:
            assert worker.proc.wait(timeout=15) is not None  # the workers exit, also the one with a stuck handler


def test_9_a_long_job_never_waits_behind_another_workers_long_job(deck: Deployment) -> None:
    first = deck.start_ok("Parallel", seconds=60.0)
    a = owner_pid(deck.wait_status(first["id"], "running"))
    second = deck.start_ok("Parallel", seconds=60.0)
    b = owner_pid(deck.wait_status(second["id"], "running", timeout=10))  # the idle worker takes it at once
    assert a != b
    third = deck.start_ok("Parallel", seconds=60.0)  # both busy: it waits, held by no worker
    time.sleep(1.0)  # a window in which a prefetching worker would grab it (it must not)
    assert deck.job(third["id"])["status"] == "queued"
    deck.server.api("POST", f"/single/{second['id']}/abort")
    started = deck.wait_status(third["id"], "running", timeout=10)
    assert owner_pid(started) == b  # the worker that came free runs it, not the one still busy


def test_handler_exception_fails_the_job_with_its_message(deck: Deployment) -> None:
    job = deck.start_ok("Boom")
    failed = deck.wait_status(job["id"], "failed")
    assert failed["errorMessages"][-1]["message"] == "RuntimeError: exploded on purpose"
    assert owner_pid(failed) in worker_pids(deck)


def test_memory_store_with_a_remote_executor_is_refused_in_one_line(redis_broker: RedisBroker,
                                                                    tmp_path: Path) -> None:
    import subprocess
    import sys

    from tests.serve_process import clean_env

    from .conftest import ROOT

    for command in (["serve", "--app", "tests.engines.jobs:build"], ["worker", "--demo"]):
        out = subprocess.run([sys.executable, "-m", "jobdeck.cli", *command, "--store", "memory://", "--executor",
                              f"celery+{redis_broker.url}"], check=False, capture_output=True, text=True,
                             cwd=ROOT, env=clean_env(), timeout=60)
        assert out.returncode != 0
        lines = out.stderr.strip().splitlines()
        assert len(lines) == 1 and "cannot see a memory store" in lines[0], out.stderr
