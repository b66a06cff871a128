"""NUL (U+0000) over the API: the same answer on every store -- a 400 naming the field for what a request sends,
the character replaced in what a job says, the job's outcome kept -- and a real PostgreSQL-backed server that a mix
of such requests and job errors leaves healthy (issue 19, items 7 and 8)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from jobdeck import JobRunner, JobStatus
from jobdeck.api import create_app
from tests.api.conftest import AUTH, PREFIX, TOKEN
from tests.api.text_jobs import register
from tests.conftest import unique_schema
from tests.serve_process import ServeProcess, clean_env
from tests.stores.conftest import BACKENDS, Backend, _backend, drop_schema

ROOT = Path(__file__).resolve().parents[2]
REPLACED = "\ufffd"


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    yield from _backend(request.param, request, tmp_path)


@pytest.fixture
def runner(backend: Backend) -> Iterator[JobRunner]:
    r = JobRunner(backend.open(), abort_grace=5)
    register(r)
    yield r
    r.shutdown(grace=5)


@pytest.fixture
async def client(runner: JobRunner) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(runner=runner, token=TOKEN)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://testserver") as c:
        yield c


REFUSED = [
    pytest.param("GET", "/search", {"params": {"q": "a\x00b"}}, "q", id="search q"),
    pytest.param("GET", "/search", {"params": {"q": "x", "jobType": "a\x00b"}}, "jobType", id="search jobType"),
    pytest.param("GET", "/active", {"params": {"jobType": "a\x00b"}}, "jobType", id="active jobType"),
    pytest.param("GET", "/past", {"params": {"jobType": "a\x00b"}}, "jobType", id="past jobType"),
    pytest.param("POST", "/start", {"json": {"jobType": "Plain", "author": "a\x00b"}}, "author", id="start author"),
    pytest.param("POST", "/start", {"json": {"jobType": "Remote", "params": {"k": ["a\x00b"]}}}, "params.k[0]",
                 id="start params"),
]


@pytest.mark.anyio
@pytest.mark.parametrize(("method", "path", "request_args", "named"), REFUSED)
async def test_nul_in_what_a_request_sends_is_a_400_naming_it(client: httpx.AsyncClient, runner: JobRunner,
                                                              method: str, path: str, request_args: dict[str, Any],
                                                              named: str) -> None:
    response = await client.request(method, f"{PREFIX}{path}", headers=AUTH, **request_args)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error.startswith(named) and "NUL" in error
    assert runner.store.get_active_jobs() == [] and runner.store.get_past_jobs() == []  # nothing was created
    started = await client.post(f"{PREFIX}/start", json={"jobType": "Plain"}, headers=AUTH)
    assert started.status_code == 201, started.text  # and the server goes on serving


@pytest.mark.anyio
async def test_nul_in_what_a_job_says_is_replaced_and_its_outcome_kept(client: httpx.AsyncClient,
                                                                       runner: JobRunner) -> None:
    started = await client.post(f"{PREFIX}/start", json={"jobType": "Nul"}, headers=AUTH)
    assert started.status_code == 201, started.text
    job = runner.wait(started.json()["id"], timeout=30)
    assert job.status is JobStatus.FAILED  # its own outcome: not "outcome was not recorded" after retries
    assert [m.message for m in job.error_messages] == [f"RuntimeError: x{REPLACED}y"]
    assert [m.message for m in job.info_messages] == [f"row {REPLACED} read"]

    remote = await client.post(f"{PREFIX}/start", json={"jobType": "Remote"}, headers=AUTH)
    assert remote.status_code == 201, remote.text
    job_id, token = remote.json()["id"], remote.json()["reportToken"]
    reporter = {"Authorization": f"Bearer {token}"}
    report = await client.post(f"{PREFIX}/single/{job_id}/report", headers=reporter,
                               json={"messages": [{"type": "warning", "message": "a\x00b"}]})
    assert report.status_code == 200, report.text
    failed = await client.post(f"{PREFIX}/single/{job_id}/fail", headers=reporter, json={"message": "gone\x00"})
    assert failed.status_code == 200, failed.text
    shown = await client.get(f"{PREFIX}/single/{job_id}/progress", headers=AUTH)
    body = shown.json()
    assert body["status"] == "failed"
    assert [m["message"] for m in body["warningMessages"]] == [f"a{REPLACED}b"]
    assert [m["message"] for m in body["errorMessages"]] == [f"gone{REPLACED}"]


# ---------------------------------------------------------------------- a real server on PostgreSQL


def _nul_round(http: httpx.Client) -> list[str]:
    """The red team's mixed sequence once: refused requests and a failing job with NUL, plain starts between.
    Returns the ids of the jobs it started."""
    ids = []
    for method, path, args in (
            ("GET", "/search", {"params": {"q": "a\x00b"}}),
            ("POST", "/start", {"json": {"jobType": "Plain"}}),
            ("GET", "/active", {"params": {"jobType": "a\x00b"}}),
            ("POST", "/start", {"json": {"jobType": "Plain", "author": "a\x00b"}}),
            ("POST", "/start", {"json": {"jobType": "Nul"}}),
            ("POST", "/start", {"json": {"jobType": "Plain"}})):
        response = http.request(method, path, **args)
        if method == "POST" and "author" not in args["json"]:
            assert response.status_code == 201, response.text
            ids.append(response.json()["id"])
        else:
            assert response.status_code == 400, response.text
    return ids


def _wait_ended(http: httpx.Client, ids: list[str], timeout: float = 90) -> dict[str, dict[str, Any]]:
    ended: dict[str, dict[str, Any]] = {}
    deadline = time.monotonic() + timeout
    while len(ended) < len(ids):
        for job_id in ids:
            if job_id not in ended:
                body = http.get(f"/single/{job_id}/progress").json()
                if body["status"] in ("completed", "failed", "aborted"):
                    ended[job_id] = body
        if len(ended) < len(ids):
            assert time.monotonic() < deadline, f"{len(ids) - len(ended)} jobs still active after {timeout:g}s"
            time.sleep(0.1)
    return ended


@pytest.mark.slow
@pytest.mark.postgres
def test_the_nul_sequence_20_times_leaves_a_postgresql_server_healthy(postgres_url: str, tmp_path: Path) -> None:
    """Before the fix: 47 of the next 200 healthy jobs failed with ``prepared statement "_pg3_9" does not exist``,
    jobs were left running, and /readyz said ready throughout."""
    schema = unique_schema()
    store = f"{postgres_url}{'&' if '?' in postgres_url else '?'}schema={schema}"
    args = ["--app", "tests.api.text_jobs:build", "--host", "127.0.0.1", "--store", store, "--log-level", "warning"]
    try:
        with ServeProcess(tmp_path, args, token=TOKEN, env=clean_env(), cwd=ROOT, name="nul") as server, \
                httpx.Client(base_url=f"{server.url}{PREFIX}", headers=AUTH, timeout=30) as http:
            mixed = [job_id for _ in range(20) for job_id in _nul_round(http)]
            healthy = []
            for _ in range(200):
                response = http.post("/start", json={"jobType": "Plain"})
                assert response.status_code == 201, response.text
                healthy.append(response.json()["id"])
            ended = _wait_ended(http, mixed + healthy)
            statuses = [ended[job_id]["status"] for job_id in healthy]
            assert statuses.count("completed") == 200, f"{statuses.count('failed')} of 200 healthy jobs failed"
            nul_jobs = [body for body in ended.values() if body["jobType"] == "Nul"]
            assert len(nul_jobs) == 20
            assert all(body["status"] == "failed" and body["errorMessages"][-1]["message"] == f"RuntimeError: "
                       f"x{REPLACED}y" for body in nul_jobs)
            assert all(ended[job_id]["status"] == "completed" for job_id in mixed if ended[job_id]["jobType"] ==
                       "Plain")
            assert httpx.get(f"{server.url}/readyz", timeout=10).status_code == 200
        output = server.output()
        assert "prepared statement" not in output and "INERROR" not in output, server.log_tail()
    finally:
        drop_schema(postgres_url, schema)
