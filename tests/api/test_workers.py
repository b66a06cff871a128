"""GET /workers, the diagnoses in the API's answers, the cockpit metrics and the job.stalled webhook (issue 22), on
a real runner (local executor: this process is the worker) with real handler threads."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from jobdeck import JobRunner, MemoryStore, PipelineController
from jobdeck.api import create_app
from jobdeck.api._notify import Notifier
from jobdeck.core.diagnosis import TypeRules
from jobdeck.core.workers import WorkerInfo
from tests.api.conftest import AUTH, PREFIX, TOKEN
from tests.api.test_metrics import METRICS_TOKEN, SCRAPE, samples, value
from tests.conftest import wait_for
from tests.webhook_receiver import WebhookReceiver

pytestmark = pytest.mark.anyio


@pytest.fixture
def quiet_runner() -> Iterator[tuple[JobRunner, threading.Event]]:
    """A runner with ``Sleepy``: silent (no progress, no message) until ``move`` is set, then it reports and waits
    for an abort; stall_after 0.3 s. The heartbeat keeps going (interval 0.05 s)."""
    move = threading.Event()
    with MemoryStore(stale_after=3) as store:
        runner = JobRunner(store, abort_grace=30, heartbeat_interval=0.05)

        def sleepy(ctl: PipelineController) -> None:
            move.wait(20)
            ctl.progress(0.5)
            while True:
                ctl.check_abort()
                time.sleep(0.01)

        runner.register("Sleepy", sleepy, stall_after=0.3, max_concurrent=3)
        runner.register("Other", sleepy, stall_after=None)
        yield runner, move
        move.set()
        runner.shutdown(grace=5)


async def _get(client: httpx.AsyncClient, path: str) -> httpx.Response:
    response = await client.get(f"{PREFIX}{path}", headers=AUTH)
    assert response.status_code == 200, response.text
    return response


async def test_the_runner_is_a_worker_with_its_job_and_the_queues(quiet_runner: tuple[JobRunner, threading.Event]
                                                                  ) -> None:
    runner, _ = quiet_runner
    app = create_app(runner=runner, token=TOKEN)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://testserver") as client:
        assert (await client.get(f"{PREFIX}/workers")).status_code == 401
        job = runner.start("Sleepy", "alice")
        page = wait_for(lambda: runner.store.get_workers() and runner.store.get_workers()[0].jobs,
                        what="the worker's record with its job")
        assert page[0].id == job.id
        data = (await _get(client, "/workers")).json()
        (me,) = data["workers"]
        assert me["id"] == runner.owner and me["executor"] == "local" and me["concurrency"] is None
        assert me["live"] is True and me["busy"] is True and 0 <= me["heartbeatAge"] < 3
        assert me["jobTypes"] == ["Other", "Sleepy"] and [j["id"] for j in me["jobs"]] == [job.id]
        assert {q["jobType"]: q for q in data["queues"]}["Sleepy"] == {
            "jobType": "Sleepy", "queued": 0, "oldestWait": None, "liveWorkers": 1}
        assert data["staleAfter"] == 3


async def test_a_silent_job_is_stalled_then_ok_again_in_every_view(quiet_runner: tuple[JobRunner, threading.Event],
                                                                    caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="jobdeck.runner")
    runner, move = quiet_runner
    app = create_app(runner=runner, token=TOKEN)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://testserver") as client:
        job = runner.start("Sleepy", "alice")
        first = (await _get(client, "/active")).json()[0]["diagnosis"]
        assert first["code"] == "ok"

        async def code(path: str) -> str:
            data = (await _get(client, path)).json()
            row = data[0] if isinstance(data, list) else data["jobs"][0] if "jobs" in data else data
            return str(row["diagnosis"]["code"])

        deadline = time.monotonic() + 10
        while await code("/active") != "stalled":  # answers are cached for at most a second
            assert time.monotonic() < deadline, "never diagnosed stalled"
            time.sleep(0.05)
        single = (await _get(client, f"/single/{job.id}/progress")).json()["diagnosis"]
        assert single["code"] == "stalled" and single["text"].endswith("; its process is alive")
        assert await code(f"/search?q={job.id[:8]}") == "stalled"
        move.set()  # it reports progress: the diagnosis clears
        deadline = time.monotonic() + 10
        while await code(f"/single/{job.id}/progress") != "ok":
            assert time.monotonic() < deadline, "the stall never cleared"
            time.sleep(0.05)
        def logged() -> list[str]:
            return [r.getMessage().split(": ", 1)[0] for r in caplog.records if job.id in r.getMessage()]

        wait_for(lambda: len(logged()) >= 2, what="the supervisor's line for the job moving again")
        assert logged() == [f"job {job.id} (Sleepy) stalled", f"job {job.id} (Sleepy) moves again"]  # once each
        finished = runner.store.create_job("Other", "bob")
        runner.store.complete_job(finished.id)
        rows = (await _get(client, f"/search?q={finished.id[:8]}")).json()["jobs"]
        assert "diagnosis" not in rows[0]  # a finished job has none


async def test_abort_pending_names_who_asked(quiet_runner: tuple[JobRunner, threading.Event]) -> None:
    runner, _ = quiet_runner
    job = runner.store.create_job("Other", "alice", owner="elsewhere:1:abc")  # nobody runs it: it stays aborting
    runner.store.request_abort(job.id, "enough", by="admin@example.org")
    app = create_app(runner=runner, token=TOKEN)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://testserver") as client:
        found = (await _get(client, f"/single/{job.id}/progress")).json()["diagnosis"]
    assert found["code"] == "abort_pending"
    assert found["text"].startswith("abort requested 0 s ago by admin@example.org; failed in 30 s")


async def test_cockpit_metrics(quiet_runner: tuple[JobRunner, threading.Event]) -> None:
    runner, _ = quiet_runner
    store = runner.store
    store.beat_worker(WorkerInfo("far:1:abc", "far", 1, "celery", ("Remote",), 2, time.time()))
    store.create_job("Remote", "alice", queued=True)
    job = runner.start("Sleepy", "alice")
    app = create_app(runner=runner, token=TOKEN, metrics_token=METRICS_TOKEN)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://testserver") as client:
        wait_for(lambda: store.get_job(job.id) and time.time() - store.require_job(job.id).last_activity_time > 0.4,
                 what="the job to stall")
        found = samples((await client.get("/metrics", headers=SCRAPE)).text)
    assert value(found, "jobdeck_workers", executor="local") == 1
    assert value(found, "jobdeck_workers", executor="celery") == 1
    assert value(found, "jobdeck_jobs_stalled", job_type="Sleepy") == 1
    assert value(found, "jobdeck_queue_oldest_wait_seconds", job_type="Remote") > 0.3
    assert value(found, "jobdeck_queue_oldest_wait_seconds", job_type="Sleepy") == 0


def test_job_stalled_is_sent_once_per_stall(quiet_runner: tuple[JobRunner, threading.Event]) -> None:
    runner, _ = quiet_runner
    job = runner.start("Sleepy", "alice")
    with WebhookReceiver() as receiver:
        notifier = Notifier(runner.store, [f"{receiver.url}/hook"], allow_private=True, backoff=0.05)
        notifier.stall_rules = {"Sleepy": TypeRules(stall_after=0.3)}
        notifier.start()
        try:
            wait_for(lambda: receiver.at("/hook"), what="the job.stalled webhook")
            assert notifier.sweep_stalled() == []  # the same stall: claimed already
        finally:
            notifier.close()
    (hook,) = receiver.at("/hook")
    assert hook.json["event"] == "job.stalled" and hook.json["id"] == job.id


async def test_a_job_whose_process_went_silent_is_heartbeat_late_before_it_is_reaped(
        quiet_runner: tuple[JobRunner, threading.Event]) -> None:
    runner, _ = quiet_runner
    # A running job of a process that never heartbeats again (as if killed): stale_after is 3 s, late after 1.5 s.
    job = runner.store.create_job("Other", "alice", owner="elsewhere:1:abc")
    app = create_app(runner=runner, token=TOKEN)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://testserver") as client:
        async def diagnosis() -> dict[str, str] | None:
            found: dict[str, str] | None = (await _get(client, f"/single/{job.id}/progress")).json().get("diagnosis")
            return found

        first = await diagnosis()
        assert first is not None and first["code"] == "ok" and first["text"].startswith("working: last report ")
        deadline = time.monotonic() + 10
        while (late := await diagnosis()) is not None and late["code"] != "heartbeat_late":
            assert time.monotonic() < deadline, "never diagnosed heartbeat_late"
            time.sleep(0.05)
        assert late is not None and late["text"].endswith("ago; failed as stale when it reaches 3 s")
        runner.start_supervisor()  # its reaper fails the job once stale: a finished job has no diagnosis
        wait_for(lambda: runner.store.require_job(job.id).status.is_terminal, what="the reaper to fail the job")
        assert (await diagnosis()) is None
