"""External jobs end to end: a real server, a separate reporting process, an abort arriving mid-report, a
server restarted mid-job on a SQLite store, and a report token refused everywhere but its own job's report
endpoints."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.conftest import wait_for
from tests.refclient.conftest import ROOT, RefServer, ref_server

pytestmark = pytest.mark.slow


def start_external(server: RefServer) -> tuple[str, str]:
    response = server.api("POST", "/start", json={"jobType": "Remote", "params": {"size": 3}})
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["status"] == "running" and body["reportToken"].startswith("jdr1_")
    return body["id"], body["reportToken"]


def reporter(server: RefServer, job_id: str, token: str, mode: str, work: Path) -> subprocess.Popen[bytes]:
    with (work / "reporter.log").open("wb") as log:
        return subprocess.Popen([sys.executable, "-m", "tests.refclient.reporter", server.url, job_id, token, mode,
                                 str(work)], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)


def finished(proc: subprocess.Popen[bytes], work: Path) -> None:
    assert proc.wait(timeout=60) == 0, (work / "reporter.log").read_text()


def test_server_restarted_mid_job_loses_no_reported_message(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 'jobs.db'}"
    server = ref_server(tmp_path, "--external-type", "Remote", store=store)
    with server:
        job_id, token = start_external(server)
        proc = reporter(server, job_id, token, "restart", tmp_path)
        wait_for((tmp_path / "p1").exists, timeout=30, what="the first half of the messages")
        server.stop()  # the reporter keeps working while the server is away
    (tmp_path / "p2").touch()
    wait_for((tmp_path / "p3").exists, timeout=30, what="the second half, buffered")
    assert proc.poll() is None  # job code is not crashed by the outage: it waits to deliver
    with server:  # the same port, token and SQLite file
        finished(proc, tmp_path)
        job = server.wait_status(job_id, "completed", "failed")
    assert job["status"] == "completed" and job["result"] == {"messages": 100}
    assert [m["message"] for m in job["infoMessages"]] == [f"m{n}" for n in range(100)]
    assert job["progress"] == 1.0
    log = (tmp_path / "reporter.log").read_text()
    assert "cannot report to the server" in log and "reaching the server again" in log


def test_abort_arrives_mid_report(tmp_path: Path) -> None:
    with ref_server(tmp_path, "--external-type", "Remote") as server:
        job_id, token = start_external(server)
        proc = reporter(server, job_id, token, "until_abort", tmp_path)
        wait_for(lambda: len(server.job(job_id)["infoMessages"]) >= 20, timeout=30, what="reports to arrive")
        abort = server.api("POST", f"/single/{job_id}/abort", json={"reason": "operator says stop"})
        assert abort.status_code == 202 and abort.json()["status"] == "aborting"
        finished(proc, tmp_path)
        job = server.wait_status(job_id, "aborted")
        reason, steps = (tmp_path / "seen").read_text().split("|")
        assert reason == "operator says stop"
        # Every step the job code reported before it saw the abort is stored, in order.
        assert [m["message"] for m in job["infoMessages"]] == [f"step {n}" for n in range(int(steps))]
        assert job["warningMessages"][-1]["message"] == "Job aborted"
        # Batched: far fewer requests than calls, and at most about ten a second.
        requests = int((tmp_path / "exited").read_text())
        assert requests < int(steps)
        late = httpx.post(f"{server.url}/api/admin/jobs/single/{job_id}/report", json={"progress": 0.5},
                          headers={"Authorization": f"Bearer {token}"})
        assert late.status_code == 409 and late.json()["status"] == "aborted"


def test_a_report_token_opens_only_its_own_jobs_report_endpoints(tmp_path: Path) -> None:
    with ref_server(tmp_path, "--external-type", "Remote", "--external-type", "Other") as server:
        job_id, token = start_external(server)
        other = server.api("POST", "/start", json={"jobType": "Other"}).json()
        bearer = {"Authorization": f"Bearer {token}"}
        api = f"{server.url}/api/admin/jobs"
        own = {f"/single/{job_id}/{tail}" for tail in ("report", "complete", "fail", "aborted")}
        schema = server.api("GET", "/openapi.json").json()
        tried = 0

        def refused(answer: httpx.Response) -> bool:
            # A right admin request after each refusal clears the address's wrong-token backoff, so that every
            # refusal below is a 403 for the token itself, never a 429 for the attempts before it.
            assert server.api("GET", "/stats").status_code == 200
            return answer.status_code == 403

        for path, operations in schema["paths"].items():
            concrete = path.replace("{job_id}", job_id).removeprefix("/api/admin/jobs")
            for method in operations:
                if concrete in own:
                    continue
                answer = httpx.request(method.upper(), f"{api}{concrete}", headers=bearer, json={}, timeout=10)
                assert refused(answer), (method, path, answer.status_code, answer.text)
                tried += 1
                if "{job_id}" in path:  # and never for another job, on any endpoint (its report ones too)
                    answer = httpx.request(method.upper(), f"{server.url}{path.replace('{job_id}', other['id'])}",
                                           headers=bearer, json={}, timeout=10)
                    assert refused(answer), (method, path, answer.text)
        assert tried >= 10  # list, past, start, progress, messages, abort, abort-all, types, stats, events
        for page in ("/", "/static/app.js", "/api/admin/jobs/openapi.json"):
            answer = httpx.get(f"{server.url}{page}", headers=bearer)
            assert refused(answer) or answer.status_code == 401, page
        for tail in ("report", "fail"):
            assert refused(httpx.post(f"{api}/single/{other['id']}/{tail}", headers=bearer, json={}))
        # Its own report endpoints take it, until the job ends.
        ok = httpx.post(f"{api}/single/{job_id}/report", headers=bearer, json={"progress": 0.25})
        assert ok.status_code == 200 and ok.json() == {"status": "running", "abortRequested": False,
                                                       "abortReason": None}
        done = httpx.post(f"{api}/single/{job_id}/complete", headers=bearer, json={"result": [1, 2]})
        assert done.status_code == 200 and done.json()["status"] == "completed"
        assert httpx.post(f"{api}/single/{job_id}/report", headers=bearer, json={}).status_code == 409
        assert server.job(job_id)["result"] == [1, 2]
        assert (other["status"], server.job(other["id"])["status"]) == ("running", "running")
