"""Several real ``jobdeck serve`` processes on one store: what docs/scaling.md promises for more than one process.

Each test starts its servers as subprocesses on free loopback ports and talks to them over HTTP; a store object
in the test process watches the shared store directly to count events.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from jobdeck.core.model import JobStatus
from jobdeck.stores.redis import RedisStore
from jobdeck.stores.sqlite import SQLiteStore
from tests.conftest import wait_for
from tests.serve_process import API, ServeProcess, clean_env, demo_args

TOKEN = "multiprocess-test-token"
STALE_AFTER = 3
SPEED = 5  # demo jobs five times faster: Cleanup takes 0.8 s, LONG_JOB about 40 s
LONG_JOB = {"jobType": "ArgumentCondensation", "params": {"questions": 50}}

pytestmark = pytest.mark.slow


class Server(ServeProcess):
    """One ``jobdeck serve --demo`` process, launched at once; ``start_servers`` waits for it."""

    def __init__(self, store_url: str, name: str, log_dir: Path) -> None:
        super().__init__(log_dir, demo_args(store_url, SPEED, "--stale-after", str(STALE_AFTER),
                                            "--log-level", "warning"),
                         token=TOKEN, name=name, env=clean_env(PYTHONUNBUFFERED="1"))
        self.launch()
        self.http = httpx.Client(base_url=self.url, timeout=10, headers=self.auth)

    def get(self, path: str) -> Any:
        response = self.http.get(API + path)
        assert response.status_code == 200, (response.status_code, response.text)
        return response.json()

    def post(self, path: str, body: dict[str, Any]) -> httpx.Response:
        return self.http.post(API + path, json=body)

    def job(self, job_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self.get(f"/single/{job_id}/progress")
        return result

    def close(self) -> None:
        self.kill()
        self.http.close()


@pytest.fixture
def start_servers(tmp_path: Path) -> Iterator[Callable[..., list[Server]]]:
    servers: list[Server] = []

    def start(store_url: str, *names: str) -> list[Server]:
        new = [Server(store_url, name, tmp_path) for name in names]  # started together, waited for together
        servers.extend(new)
        for server in new:
            server.wait_ready(timeout=30)
        return new

    yield start
    for server in servers:
        server.close()


def status_events(store: RedisStore | SQLiteStore, cursor: str | None, job_id: str) -> list[str]:
    statuses = []
    while True:
        batch = store.read_events(cursor)
        assert not batch.reset
        if not batch.events:
            return statuses
        statuses += [e.data["status"] for e in batch.events if e.job_id == job_id and e.type.value == "status"]
        cursor = batch.cursor


def test_two_servers_share_jobs_and_abort(start_servers: Callable[..., list[Server]], redis_url: str,
                                          redis_prefix: str) -> None:
    sep = "&" if "?" in redis_url else "?"
    a, b = start_servers(f"{redis_url}{sep}prefix={redis_prefix}", "A", "B")
    watcher = RedisStore(redis_url, prefix=redis_prefix)
    cursor = watcher.read_events().cursor
    watcher.close()
    response = a.post("/start", {**LONG_JOB, "author": "tester"})
    assert response.status_code == 201, response.text
    job_id = response.json()["id"]
    # B sees the job A runs, with its progress, and B's start of the same type hits max_concurrent=1.
    seen = wait_for(lambda: (j := b.job(job_id))["progress"] > 0 and j, timeout=20, what="progress on B")
    assert seen["status"] == "running" and seen["author"] == "tester"
    conflict = b.post("/start", LONG_JOB)
    assert conflict.status_code == 409, conflict.text
    # Abort through B: A's handler notices it (check_abort on A) and the job ends aborted.
    abort = b.post(f"/single/{job_id}/abort", {"reason": "stopped from B"})
    assert abort.status_code == 202, abort.text
    final = wait_for(lambda: (j := a.job(job_id))["status"] == "aborted" and j, timeout=20,
                     what="the job on A to end aborted")
    assert [m["message"] for m in final["warningMessages"]][-2:] == ["Abort requested by admin: stopped from B",
                                                                      "Job aborted"]
    assert a.get("/active") == [] and b.get("/active") == []
    assert job_id in [j["id"] for j in b.get("/past?statuses=aborted")]
    # Event ids are the store's: a client that watched A can resume on B from the same id and miss nothing.
    assert replayed_statuses(b, cursor, job_id) == ["running", "aborting", "aborted"]
    for server in (a, b):
        assert "Traceback" not in server.output()


def replayed_statuses(server: Server, last_event_id: str | None, job_id: str) -> list[str]:
    """Statuses of ``job_id`` in the server's /events stream, resumed after ``last_event_id``."""
    statuses: list[str] = []
    kind = ""
    with server.http.stream("GET", f"{API}/events", params={"lastEventId": last_event_id}) as response:
        assert response.status_code == 200
        for line in response.iter_lines():
            if line.startswith("event: "):
                kind = line.removeprefix("event: ")
            elif line.startswith("data: ") and kind in ("created", "status"):
                event = json.loads(line.removeprefix("data: "))
                if event["jobId"] == job_id:
                    statuses.append(event["data"]["status"])
                if statuses[-1:] == ["aborted"]:
                    break
    return statuses


def test_survivor_fails_the_job_of_a_killed_server_exactly_once(
        start_servers: Callable[..., list[Server]], redis_url: str, redis_prefix: str) -> None:
    sep = "&" if "?" in redis_url else "?"
    a, b, c = start_servers(f"{redis_url}{sep}prefix={redis_prefix}", "A", "B", "C")
    watcher = RedisStore(redis_url, prefix=redis_prefix)
    try:
        response = a.post("/start", LONG_JOB)
        assert response.status_code == 201, response.text
        job_id = response.json()["id"]
        wait_for(lambda: b.job(job_id)["progress"] > 0, timeout=20, what="the job to make progress")
        cursor = watcher.read_events().cursor
        owner = b.job(job_id)["owner"]
        a.kill()  # no goodbye: its jobs stay "running" in Redis until a survivor reaps them
        # B and C both reap: stale after 3 s, each reaper looks every 0.75 s.
        failed = wait_for(lambda: (j := c.job(job_id))["status"] == "failed" and j, timeout=STALE_AFTER + 15,
                          what="a survivor to fail the dead server's job")
        errors = [m["message"] for m in failed["errorMessages"]]
        assert len(errors) == 1 and "Job went stale" in errors[0] and owner in errors[0], errors
        assert status_events(watcher, cursor, job_id) == ["failed"]  # exactly one transition, by one reaper
        assert watcher.get_status(job_id) is JobStatus.FAILED
        assert b.post("/start", LONG_JOB).status_code == 201  # the slot is free again
        for server in (b, c):
            assert "Traceback" not in server.output()
    finally:
        watcher.close()


def test_sqlite_server_restart_fails_the_orphan_and_keeps_history(
        start_servers: Callable[..., list[Server]], tmp_path: Path) -> None:
    path = tmp_path / "jobs.db"
    url = f"sqlite:///{path}"
    (first,) = start_servers(url, "first")
    quick = first.post("/start", {"jobType": "Cleanup", "params": {"days": 7}})
    assert quick.status_code == 201, quick.text
    quick_id = quick.json()["id"]
    wait_for(lambda: first.job(quick_id)["status"] == "completed", timeout=20, what="the quick job to complete")
    response = first.post("/start", LONG_JOB)
    assert response.status_code == 201, response.text
    job_id = response.json()["id"]
    wait_for(lambda: first.job(job_id)["progress"] > 0, timeout=20, what="the long job to make progress")
    first.kill()
    (second,) = start_servers(url, "second")
    failed = wait_for(lambda: (j := second.job(job_id))["status"] == "failed" and j, timeout=STALE_AFTER + 15,
                      what="the restarted server to fail the orphaned job")
    assert len(failed["errorMessages"]) == 1 and "Job went stale" in failed["errorMessages"][0]["message"]
    assert failed["infoMessages"], "the messages written before the kill are kept"
    past = {j["id"]: j["status"] for j in second.get("/past")}
    assert past[job_id] == "failed"
    assert past[quick_id] == "completed"  # history survives the restart
    assert second.job(quick_id)["result"] == {"removed": 17}
    assert "Traceback" not in second.output()
    store = SQLiteStore(path)
    try:
        assert store.require_job(job_id).status is JobStatus.FAILED
    finally:
        store.close()
