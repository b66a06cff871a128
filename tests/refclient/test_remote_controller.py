"""RemoteController against a real server: batching, the final state, a bounded buffer through an outage, and
job code that never sees a network error."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest

from jobdeck import AbortError
from jobdeck.client import RemoteController
from tests.conftest import free_port
from tests.refclient.conftest import RefServer, ref_server

pytestmark = pytest.mark.slow  # real servers, one restarted


@pytest.fixture(scope="module")
def remote_server(tmp_path_factory: pytest.TempPathFactory) -> RefServer:
    with ref_server(tmp_path_factory.mktemp("remote"), "--external-type", "Remote") as server:
        yield server  # type: ignore[misc]


def start(server: RefServer) -> tuple[str, str]:
    body = server.api("POST", "/start", json={"jobType": "Remote"}).json()
    return body["id"], body["reportToken"]


def test_a_hundred_thousand_progress_calls_are_a_handful_of_requests(remote_server: RefServer) -> None:
    job_id, token = start(remote_server)
    began = time.monotonic()
    with RemoteController(job_id, remote_server.url, token) as ctl:
        ctl.initialize_pipeline(["a", ("b", 3)])
        ctl.define_sub_operations("b", ["x", "y"])
        for n in range(100_000):
            ctl.progress((n % 1000) / 1000)
        ctl.update_operation("nope", 0.5)  # forgiven, and reported as a warning
        ctl.info("done")
    elapsed = time.monotonic() - began
    job = remote_server.job(job_id)
    assert job["status"] == "completed" and job["progress"] == 1.0
    assert [m["message"] for m in job["infoMessages"]] == ["done"]
    assert "'nope'" in job["warningMessages"][0]["message"]
    # At most about ten a second (plus the final call), however often job code called progress().
    assert ctl.requests <= 10 * elapsed + 3, (ctl.requests, elapsed)


def test_an_abort_reaches_check_abort(remote_server: RefServer) -> None:
    job_id, token = start(remote_server)
    seen: list[str | None] = []
    with RemoteController(job_id, remote_server.url, token, heartbeat=0.05) as ctl:
        remote_server.api("POST", f"/single/{job_id}/abort", json={"reason": "stop now"})
        deadline = time.monotonic() + 10
        try:
            while time.monotonic() < deadline:
                ctl.check_abort()
                time.sleep(0.01)
        except AbortError as exc:
            seen.append(exc.reason)
            raise  # leaving the block with it ends the job aborted
    assert seen == ["stop now"]
    assert remote_server.wait_status(job_id, "aborted")["warningMessages"][-1]["message"] == "Job aborted"


def test_an_outage_keeps_the_newest_messages_and_says_how_many_were_dropped(tmp_path: Path) -> None:
    server = ref_server(tmp_path, "--external-type", "Remote", store=f"sqlite:///{tmp_path / 'jobs.db'}")
    with server:
        job_id, token = start(server)
    ctl = RemoteController(job_id, server.url, token, max_buffer=10)
    for n in range(25):
        ctl.info(f"m{n}")  # the server is down: buffered, the oldest dropped beyond ten
    with server:
        ctl.complete()
        assert ctl.close(timeout=30)
        job = server.wait_status(job_id, "completed")
    assert [m["message"] for m in job["infoMessages"]] == [f"m{n}" for n in range(15, 25)]
    assert "15 message(s) were dropped" in job["warningMessages"][0]["message"]


def test_job_code_never_sees_the_network_fail(caplog: pytest.LogCaptureFixture) -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens here
    with caplog.at_level(logging.WARNING, logger="jobdeck.remote"):
        ctl = RemoteController("0b3c5f7e-2a6d-4c1e-9f00-7d1e2b3c4d5e", url, "jdr1_x", final_timeout=0.3)
        with ctl:
            ctl.initialize_pipeline(["a"])
            ctl.progress(0.5)
            ctl.warning("still fine")
            ctl.check_abort()
    assert ctl.close(timeout=0) is False
    assert "cannot report to the server" in caplog.text
    assert "could not deliver the final report" in caplog.text
    assert "jdr1_x" not in caplog.text


def test_the_operation_tree_reaches_the_server(remote_server: RefServer) -> None:
    job_id, token = start(remote_server)
    with RemoteController(job_id, remote_server.url, token) as ctl:
        ctl.initialize_pipeline(["fetch", ("rows", 3)])
        ctl.next_operation()
        ctl.define_sub_operations("rows", ["a", "b"])
        ctl.update_operation("rows/a", 0.5)
    job = remote_server.api("GET", f"/single/{job_id}/progress?messages=none").json()
    assert job["status"] == "completed"
    assert job["operations"] == [
        {"id": "fetch", "progress": 1.0, "state": "done"},
        {"id": "rows", "progress": 0.25, "state": "started", "weight": 3.0, "children": [
            {"id": "a", "progress": 0.5, "state": "started"}, {"id": "b", "progress": 0.0, "state": "pending"}]},
    ]
