"""The reference system's own client against a real ``jobdeck serve``: the calls it makes, answered as it expects.

Each test starts its jobs on one shared server (memory store) and leaves no job active behind it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.conftest import wait_for
from tests.refclient.conftest import RefServer


@pytest.fixture(autouse=True)
def nothing_left_active(server: RefServer, release: Path) -> Iterator[None]:
    yield
    release.touch()
    server.api("POST", "/abort-all", json={"reason": "test teardown"})
    wait_for(lambda: server.api("GET", "/active").json() == [], timeout=20, what="no active job left")


@pytest.mark.slow
def test_abort_is_idempotent(server: RefServer) -> None:
    job_id = server.start_job("Waits")["id"]
    first = server.api("POST", f"/single/{job_id}/abort", json={"reason": "stale view"})
    assert first.status_code == 202
    assert first.json() == {"message": f"Abort requested for job {job_id}", "jobId": job_id, "status": "aborting"}
    server.wait_status(job_id, "aborted")
    # The reference UI aborts from a view up to 2 s old: the job has ended since. Same 202, with its status.
    again = server.api("POST", f"/single/{job_id}/abort")
    assert again.status_code == 202
    assert again.json()["status"] == "aborted" and "already ended" in again.json()["message"]
    done = server.start_job("Quick")["id"]
    server.wait_status(done, "completed")
    late = server.api("POST", f"/single/{done}/abort", json={"reason": "too late"})
    assert (late.status_code, late.json()["status"]) == (202, "completed")
    assert server.job(done)["abortReason"] is None  # nothing changed on the finished job
    assert server.api("POST", f"/single/{uuid.uuid4()}/abort").status_code == 404
    assert server.api("POST", "/single/not-a-uuid/abort").status_code == 400


def test_abort_all_answers_in_the_reference_shape(server: RefServer, release: Path) -> None:
    stopping = server.start_job("Holds", release=str(release))["id"]
    assert server.api("POST", f"/single/{stopping}/abort").status_code == 202
    running = [server.start_job("Waits")["id"] for _ in range(2)]
    answer = server.api("POST", "/abort-all")
    assert answer.status_code == 202
    body = answer.json()
    # Numbers, as the reference answers; every active job counts, the one already stopping too.
    assert (body["targetedJobs"], body["abortRequestedFor"]) == (3, 3)
    assert sorted(body["targetedJobIds"]) == sorted([stopping, *running])
    assert sorted(body["abortRequestedJobIds"]) == sorted([stopping, *running])
    for job_id in running:
        assert server.wait_status(job_id, "aborted")["abortReason"] == "Admin-initiated emergency cleanup"
    release.touch()
    assert server.wait_status(stopping, "aborted")["abortReason"] is None  # its first request had no reason
    with_reason = server.api("POST", "/abort-all", json={"reason": "maintenance"}).json()
    assert (with_reason["targetedJobs"], with_reason["abortRequestedFor"]) == (0, 0)


def test_start_from_overlaps_the_clients_clock_gap(server: RefServer) -> None:
    job_id = server.start_job("Quick")["id"]
    ended = datetime.fromisoformat(server.wait_status(job_id, "completed")["endTime"])
    # The reference client reads its clock after the answers arrived: up to a few seconds after the job ended.
    for gap in (0.5, 2, 4.5):
        since = (ended + timedelta(seconds=gap)).isoformat().replace("+00:00", "Z")
        ids = [job["id"] for job in server.api("GET", "/past", params={"startFrom": since}).json()]
        assert job_id in ids, f"a job that ended {gap}s before startFrom must still be returned"
    far = (ended + timedelta(seconds=30)).astimezone(UTC).isoformat()
    assert job_id not in [job["id"] for job in server.api("GET", "/past", params={"startFrom": far}).json()]


def test_query_arrays_in_the_reference_clients_form(server: RefServer) -> None:
    completed = server.start_job("Quick")["id"]
    failed = server.start_job("Boom")["id"]
    aborted = server.start_job("Waits")["id"]
    server.api("POST", f"/single/{aborted}/abort")
    for job_id, status in ((completed, "completed"), (failed, "failed"), (aborted, "aborted")):
        server.wait_status(job_id, status)

    def past(query: str) -> set[str]:
        response = server.api("GET", f"/past?{query}")
        assert response.status_code == 200, response.text
        return {job["id"] for job in response.json()} & {completed, failed, aborted}

    assert past("statuses[0]=failed&statuses[1]=aborted") == {failed, aborted}
    assert past("statuses%5B0%5D=completed") == {completed}  # as a browser encodes the brackets
    assert past("statuses[]=aborted") == {aborted}
    assert past("jobType[0]=Boom") == {failed}
    assert past("jobType[0]=Boom&jobType[1]=Quick") == {failed, completed}
    assert past("jobType=Quick&statuses[0]=failed") == set()
    assert server.api("GET", "/past?statuses[0]=running").status_code == 400
    assert server.api("GET", "/past?statuses[x]=failed").status_code == 400
    waiting = server.start_job("Waits")["id"]
    active = server.api("GET", "/active?jobType[0]=Waits").json()
    assert [job["id"] for job in active] == [waiting]
    assert server.api("GET", "/active?jobType[0]=Quick").json() == []


def test_starting_while_the_previous_job_stops_says_so(server: RefServer, release: Path) -> None:
    first = server.start_job("Holds", release=str(release))["id"]
    busy = server.api("POST", "/start", json={"jobType": "Holds"})
    assert busy.status_code == 409 and "Retry-After" not in busy.headers  # still running: no telling when
    server.api("POST", f"/single/{first}/abort")
    server.wait_status(first, "aborting")
    stopping = server.api("POST", "/start", json={"jobType": "Holds"})
    assert stopping.status_code == 409
    assert stopping.headers["Retry-After"] == "2"
    assert "previous job" in stopping.json()["error"] and "stopping" in stopping.json()["error"]
    assert stopping.json()["activeJobIds"] == [first]
    release.touch()
    server.wait_status(first, "aborted")
    assert server.api("POST", "/start", json={"jobType": "Holds", "params": {"release": str(release)}}
                      ).status_code == 201


def test_job_code_survives_mistaken_progress_calls(server: RefServer) -> None:
    job_id = server.start_job("Typos")["id"]
    job = server.wait_status(job_id, "completed", "failed")
    assert (job["status"], job["result"]) == ("completed", "survived")
    warnings = [m["message"] for m in job["warningMessages"]]
    assert len(warnings) == 3, warnings  # the repeated typo once; each other problem once
    assert "'lod'" in warnings[0] and "known: load, work" in warnings[0]
    assert "'part' under 'load'" in warnings[1]
    assert "'x' under 'work'" in warnings[2]
    assert [m["message"] for m in job["infoMessages"]] == ["carried on"]
    assert server.api("POST", "/start", json={"jobType": "Typos", "params": {"nope": 1}}).status_code == 400
