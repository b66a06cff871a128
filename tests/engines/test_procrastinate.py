"""The nine guarantees of queued execution on procrastinate, with real processes: one ``jobdeck serve`` (two for the
cross-server 409), two ``jobdeck worker`` processes running one job each, PostgreSQL as the queue (a database of
this session's own) and a SQLite file as the shared store. Guarantees 7 and 8 (PostgreSQL going away) are in
``test_procrastinate_outage.py``. Besides jobdeck's view, each test checks procrastinate's own row for the job."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from jobdeck.core.model import parse_time
from tests.api.sse_client import SSEReader
from tests.conftest import wait_for

from .conftest import GRACE, STALE_AFTER, Deployment, owner_pid, started_in

pytestmark = pytest.mark.slow

READY = "Starting worker on queues jobdeck"
ABORT_GRACE = 5.0  # tests.engines.jobs


def entry(dsn: str, job_id: str) -> dict[str, Any]:
    """procrastinate's row for the job: status, lock, queueing lock."""
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        rows = conn.execute("SELECT status::text, lock, queueing_lock FROM procrastinate_jobs "
                            "WHERE args->>'job_id' = %s ORDER BY id", (job_id,)).fetchall()
    assert len(rows) == 1, f"job {job_id} has {len(rows)} procrastinate entries"
    return dict(zip(("status", "lock", "queueing_lock"), rows[0], strict=True))


def wait_entry(dsn: str, job_id: str, *statuses: str, timeout: float = 15) -> dict[str, Any]:
    return wait_for(lambda: (e := entry(dsn, job_id))["status"] in statuses and e, timeout=timeout, interval=0.05,
                    what=f"the procrastinate entry of {job_id} to be {' or '.join(statuses)}")


@pytest.fixture(scope="module")
def procrastinate(procrastinate_dsn: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    tmp = tmp_path_factory.mktemp("procrastinate")
    deployment = Deployment(tmp, f"sqlite:///{tmp / 'jobs.db'}", f"procrastinate+{procrastinate_dsn}", READY)
    try:
        deployment.add_server()
        deployment.start_workers(2)
        yield deployment
    finally:
        deployment.close()


@pytest.fixture
def deck(procrastinate: Deployment) -> Iterator[Deployment]:
    procrastinate.start_workers(2)
    yield procrastinate
    procrastinate.abort_all_and_settle()


def worker_pids(deck: Deployment) -> set[int]:
    return {w.pid for w in deck.workers if w.proc.poll() is None}


def abort(deck: Deployment, job_id: str, reason: str = "test") -> None:
    answer = deck.server.api("POST", f"/single/{job_id}/abort", json={"reason": reason})
    assert answer.status_code == 202, answer.text


def test_1_a_started_job_runs_in_a_worker_and_reports_live(deck: Deployment, procrastinate_dsn: str) -> None:
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
    assert wait_entry(procrastinate_dsn, job["id"], "succeeded")["queueing_lock"] == f"jobdeck:{job['id']}"


def test_2_max_concurrent_one_gives_one_job_and_one_409_across_two_servers(deck: Deployment,
                                                                           procrastinate_dsn: str) -> None:
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
    assert entry(procrastinate_dsn, winner["id"])["lock"] == "jobdeck:Long"  # procrastinate's lock guards it too


def test_2b_procrastinate_s_lock_holds_a_second_single_job_even_past_the_store(deck: Deployment,
                                                                               procrastinate_dsn: str) -> None:
    from jobdeck import open_store
    from jobdeck.executors.procrastinate import ProcrastinateExecutor
    from tests.engines.jobs import build

    first = deck.start_ok("Long", seconds=60.0)
    deck.wait_status(first["id"], "running")
    # A second Long job straight into the store (no max_concurrent check) and into the queue: a bug that slipped
    # past the first guard. One worker is idle, yet procrastinate does not hand it the job while the first runs.
    store = open_store(deck.store)
    runner = build(store)
    runner.set_executor(ProcrastinateExecutor.from_url(f"procrastinate+{procrastinate_dsn}"))
    try:
        intruder = store.create_job("Long", "test", {"seconds": 0.1}, queued=True)
        runner.executor.submit(intruder, runner.get_type("Long"))
        assert entry(procrastinate_dsn, intruder.id)["lock"] == "jobdeck:Long"
        time.sleep(1.5)  # deliberate: an idle worker fetches within milliseconds; give it ample time to (wrongly) do so
        assert store.require_job(intruder.id).status.value == "queued"
        assert entry(procrastinate_dsn, intruder.id)["status"] == "todo"
        abort(deck, first["id"])
        assert deck.wait_status(intruder.id, "completed", timeout=15)["status"] == "completed"
    finally:
        runner.shutdown(0.1)
        store.close()


def test_3_abort_of_a_running_job_lands_within_a_second_of_its_next_check(deck: Deployment,
                                                                          procrastinate_dsn: str) -> None:
    job = deck.start_ok("Parallel", seconds=60.0)
    deck.wait_status(job["id"], "running")
    abort(deck, job["id"], "enough")
    ended = deck.wait_status(job["id"], "aborted", timeout=10)
    requested, end = parse_time(ended["abortRequestedTime"]), parse_time(ended["endTime"])
    assert requested is not None and end is not None and 0 <= end - requested < 1.0  # the handler checks every 50 ms
    assert wait_entry(procrastinate_dsn, job["id"], "succeeded", "aborted")["status"] == "succeeded"


def test_3b_procrastinate_s_abort_is_used_only_once_the_abort_grace_expired(deck: Deployment,
                                                                            procrastinate_dsn: str) -> None:
    job = deck.start_ok("Stubborn", seconds=60.0)
    worker = owner_pid(deck.wait_status(job["id"], "running"))
    abort(deck, job["id"])
    asked = time.monotonic()
    wait_for(lambda: time.monotonic() - asked > ABORT_GRACE - 1, timeout=ABORT_GRACE, what="most of the grace")
    assert deck.job(job["id"])["status"] == "aborting"
    assert entry(procrastinate_dsn, job["id"])["status"] == "doing"  # not escalated while the grace runs
    failed = deck.wait_status(job["id"], "failed", timeout=10)
    assert f"did not stop within {ABORT_GRACE:g}s of the abort request" in failed["errorMessages"][-1]["message"]
    wait_entry(procrastinate_dsn, job["id"], "aborted", timeout=10)  # the task was aborted through procrastinate
    # which freed that worker's slot although the abandoned handler still runs: two new jobs run at once, one on it
    both = [deck.start_ok("Parallel", seconds=60.0) for _ in range(2)]
    owners = {owner_pid(deck.wait_status(j["id"], "running", timeout=10)) for j in both}
    assert worker in owners and len(owners) == 2


def test_4_abort_of_a_queued_job_cancels_it_in_procrastinate_and_it_never_runs(deck: Deployment,
                                                                               procrastinate_dsn: str) -> None:
    busy = [deck.start_ok("Parallel", seconds=60.0) for _ in range(2)]
    for job in busy:
        deck.wait_status(job["id"], "running")
    waiting = deck.start_ok("Parallel", seconds=1.0)
    assert deck.job(waiting["id"])["status"] == "queued"
    assert entry(procrastinate_dsn, waiting["id"])["status"] == "todo"
    abort(deck, waiting["id"], "not needed")
    assert deck.job(waiting["id"])["status"] == "aborted"  # at once, not when a worker gets to it
    assert entry(procrastinate_dsn, waiting["id"])["status"] == "cancelled"  # procrastinate's own cancel
    for job in busy:
        abort(deck, job["id"])
        deck.wait_status(job["id"], "aborted")
    probe = deck.start_ok("Parallel", seconds=0.1)
    deck.wait_status(probe["id"], "completed")
    final = deck.job(waiting["id"])
    assert final["status"] == "aborted" and started_in(final) is None and final["owner"] is None


def test_4b_a_worker_that_still_receives_an_aborted_job_drops_it(deck: Deployment, procrastinate_dsn: str) -> None:
    from jobdeck import open_store

    busy = [deck.start_ok("Parallel", seconds=60.0) for _ in range(2)]
    for job in busy:
        deck.wait_status(job["id"], "running")
    waiting = deck.start_ok("Parallel", seconds=1.0)
    store = open_store(deck.store)
    try:  # aborted in the store only, as if procrastinate's cancel had been lost: the entry stays in the queue
        assert store.request_abort(waiting["id"], "behind the engine's back")
    finally:
        store.close()
    assert entry(procrastinate_dsn, waiting["id"])["status"] == "todo"
    for job in busy:
        abort(deck, job["id"])
    assert wait_entry(procrastinate_dsn, waiting["id"], "succeeded", "failed", "aborted")["status"] == "succeeded"
    final = deck.job(waiting["id"])  # received, found no longer queued, dropped
    assert final["status"] == "aborted" and started_in(final) is None and final["owner"] is None


def test_5_sigkill_of_a_worker_fails_its_job_once_naming_it_and_the_other_runs_on(deck: Deployment,
                                                                                  procrastinate_dsn: str) -> None:
    doomed = deck.start_ok("Long", seconds=60.0)
    doomed = deck.wait_status(doomed["id"], "running")
    survivor = deck.start_ok("Parallel", seconds=60.0)
    survivor = deck.wait_status(survivor["id"], "running")
    victim = next(w for w in deck.workers if w.pid == owner_pid(doomed))
    victim.signal(signal.SIGKILL)
    victim.proc.wait(timeout=10)
    killed_at = time.time()
    failed = deck.wait_status(doomed["id"], "failed", timeout=float(STALE_AFTER) * 4)
    assert time.time() - killed_at < float(STALE_AFTER) * 3
    errors = [m["message"] for m in failed["errorMessages"]]
    assert len(errors) == 1 and doomed["owner"] in errors[0] and "stale" in errors[0], errors
    other = deck.job(survivor["id"])
    assert other["status"] == "running" and other["progress"] > survivor["progress"]
    abort(deck, survivor["id"])
    deck.wait_status(survivor["id"], "aborted")
    assert deck.active() == []  # nothing left running or queued
    # procrastinate's entry is closed as failed, never retried, and the type's lock is released: the surviving
    # worker runs the next Long job
    assert wait_entry(procrastinate_dsn, doomed["id"], "failed", timeout=float(STALE_AFTER) * 4)
    after = deck.start_ok("Long", seconds=0.1)
    deck.wait_status(after["id"], "completed", timeout=10)
    assert len(deck.job(doomed["id"])["errorMessages"]) == 1  # still exactly once
    assert entry(procrastinate_dsn, doomed["id"])["status"] == "failed"


def test_5b_a_job_whose_type_allows_it_goes_back_to_the_queue_when_its_worker_dies(deck: Deployment,
                                                                                   procrastinate_dsn: str,
                                                                                   tmp_path: Path) -> None:
    import psycopg

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
    # The dead run's entry was closed (releasing the type's lock, or the new entry could not have run), and the
    # job's new entry ran to its end: two entries, neither left behind.
    with psycopg.connect(procrastinate_dsn, autocommit=True) as conn:
        rows = conn.execute("SELECT status::text FROM procrastinate_jobs WHERE args->>'job_id' = %s ORDER BY id",
                            (job["id"],)).fetchall()
    assert [r[0] for r in rows] == ["failed", "succeeded"]
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
        if worker.pid in jobs:  # the workers exit, also the one with a stuck handler
            assert worker.proc.wait(timeout=float(GRACE) + 10) is not None


def test_9_a_long_job_never_waits_behind_another_workers_long_job(deck: Deployment, procrastinate_dsn: str) -> None:
    first = deck.start_ok("Parallel", seconds=60.0)
    a = owner_pid(deck.wait_status(first["id"], "running"))
    second = deck.start_ok("Parallel", seconds=60.0)
    b = owner_pid(deck.wait_status(second["id"], "running", timeout=10))  # the idle worker takes it at once
    assert a != b
    third = deck.start_ok("Parallel", seconds=60.0)  # both busy: it waits, fetched by no worker
    time.sleep(1.0)  # deliberate: give a prefetching worker the time to grab it (it must not)
    assert deck.job(third["id"])["status"] == "queued" and entry(procrastinate_dsn, third["id"])["status"] == "todo"
    abort(deck, second["id"])
    started = deck.wait_status(third["id"], "running", timeout=10)
    assert owner_pid(started) == b  # the worker that came free runs it, not the one still busy


def test_handler_exception_fails_the_job_with_its_message(deck: Deployment, procrastinate_dsn: str) -> None:
    job = deck.start_ok("Boom")
    failed = deck.wait_status(job["id"], "failed")
    assert failed["errorMessages"][-1]["message"] == "RuntimeError: exploded on purpose"
    assert owner_pid(failed) in worker_pids(deck)
    assert wait_entry(procrastinate_dsn, job["id"], "succeeded")  # the task itself ran to its end




def test_the_readme_s_two_demo_commands_work_on_an_empty_database(postgres_admin_url: str,
                                                                   tmp_path: Path) -> None:
    import subprocess
    import sys

    from tests.conftest import fresh_database
    from tests.serve_process import ServeProcess, clean_env

    with fresh_database(postgres_admin_url, prefix="jobdeck_demo") as url:  # no procrastinate schema yet
        store, executor = f"sqlite:///{tmp_path / 'jobs.db'}", f"procrastinate+{url}"
        log = tmp_path / "demo-worker.log"
        with ServeProcess(tmp_path, ["--demo", "--no-demo-jobs", "--no-demo-schedule", "--demo-speed", "20",
                                     "--host", "127.0.0.1", "--store", store, "--executor", executor],
                          token="demo", env=clean_env()) as server, \
                log.open("wb") as out:
            worker = subprocess.Popen([sys.executable, "-m", "jobdeck.cli", "worker", "--demo", "--no-demo-schedule",
                                       "--demo-speed", "20", "--store", store, "--executor", executor], stdout=out,
                                      stderr=subprocess.STDOUT, env=clean_env())
            try:
                wait_for(lambda: READY in log.read_text(errors="replace") or worker.poll() is not None,
                         timeout=60, what="the demo worker")
                answer = server.api("POST", "/start", json={"jobType": "Cleanup"})
                assert answer.status_code == 201, answer.text
                job_id = answer.json()["id"]
                done = wait_for(lambda: (j := server.api("GET", f"/single/{job_id}/progress").json())["status"]
                                in ("completed", "failed") and j, timeout=60, what="the demo job to end")
                assert done["status"] == "completed", done["errorMessages"]
                assert done["owner"].split(":")[1] == str(worker.pid)
            finally:
                worker.terminate()
                worker.wait(timeout=30)
