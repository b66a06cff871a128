"""Roles: admin and viewer tokens, roles carried by the host's principals, the can_start/can_abort hooks, and
who asked for an abort (abortedBy) -- in process, and against a real ``jobdeck serve --viewer-token``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request

from jobdeck import JobRunner
from jobdeck.api import create_app
from jobdeck.api._roles import Principal
from jobdeck.core.model import JobInfo, JobStatus
from tests.api.conftest import AUTH, PREFIX, TOKEN
from tests.conftest import wait_for
from tests.serve_process import API, ServeProcess, clean_env, demo_args

pytestmark = pytest.mark.anyio

VIEWER = "viewer-token-5e2a91"
SEEN = {"Authorization": f"Bearer {VIEWER}"}
JOB = "00000000-0000-0000-0000-000000000000"
# Every endpoint that changes something, with a body it would accept from an admin.
WRITES: list[tuple[str, str, dict[str, Any]]] = [
    ("POST", "/start", {"jobType": "Quick"}),
    ("POST", f"/single/{JOB}/abort", {"reason": "x"}),
    ("POST", "/abort-all", {"reason": "x"}),
    ("POST", f"/single/{JOB}/rerun", {}),
    ("POST", f"/single/{JOB}/resume", {}),
]
READS = ["/active", "/past", "/types", "/stats", "/me", f"/single/{JOB}/progress"]


@pytest.fixture
async def roles_client(runner: JobRunner) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(runner=runner, token=TOKEN, viewer_tokens=[VIEWER, "second-viewer"])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://testserver") as c:
        yield c


@pytest.mark.parametrize(("method", "path", "body"), WRITES)
async def test_viewer_is_refused_every_write_naming_the_role(
        roles_client: httpx.AsyncClient, runner: JobRunner, method: str, path: str, body: dict[str, Any]) -> None:
    waiting = runner.start("Waits", "admin")
    path = path.replace(JOB, waiting.id)
    refused = await roles_client.request(method, PREFIX + path, json=body, headers=SEEN)
    assert refused.status_code == 403
    answer = refused.json()
    assert answer["requiredRole"] == "admin"
    assert "needs the admin role" in answer["error"] and "role viewer" in answer["error"]
    assert runner.store.require_job(waiting.id).status is JobStatus.RUNNING  # nothing was done
    assert len(runner.store.get_active_jobs()) == 1


@pytest.mark.parametrize("path", READS)
async def test_viewer_reads_everything(roles_client: httpx.AsyncClient, runner: JobRunner, path: str) -> None:
    job = runner.start("Quick", "admin")
    runner.wait(job.id, 5)
    response = await roles_client.get(PREFIX + path.replace(JOB, job.id), headers=SEEN)
    assert response.status_code == 200, response.text
    second = await roles_client.get(PREFIX + "/stats", headers={"Authorization": "Bearer second-viewer"})
    assert second.status_code == 200


async def test_me_tells_the_role_and_what_to_offer(roles_client: httpx.AsyncClient) -> None:
    viewer = (await roles_client.get(f"{PREFIX}/me", headers=SEEN)).json()
    assert viewer == {"name": "viewer", "role": "viewer", "canStart": [], "canAbort": False}
    admin = (await roles_client.get(f"{PREFIX}/me", headers=AUTH)).json()
    assert admin["role"] == "admin" and admin["canAbort"] is True
    assert set(admin["canStart"]) == {"Quick", "Waits", "Boom", "Slots"}


async def test_admin_abort_records_who_asked(roles_client: httpx.AsyncClient, runner: JobRunner) -> None:
    job = runner.start("Waits", "someone")
    answer = await roles_client.post(f"{PREFIX}/single/{job.id}/abort", json={"reason": "done"}, headers=AUTH)
    assert answer.status_code == 202
    wait_for(lambda: runner.store.require_job(job.id).status is JobStatus.ABORTED, what="the abort")
    shown = (await roles_client.get(f"{PREFIX}/single/{job.id}/progress", headers=SEEN)).json()
    assert shown["abortedBy"] == "admin" and shown["abortReason"] == "done"


async def test_viewer_login_cookie_works_for_reads_only(roles_client: httpx.AsyncClient) -> None:
    login = await roles_client.post("/login", data={"token": VIEWER})
    assert login.status_code == 303 and f"jobdeck_token={VIEWER}" in login.headers["set-cookie"]
    roles_client.cookies.set("jobdeck_token", VIEWER)
    assert (await roles_client.get("/")).status_code == 200
    assert (await roles_client.get(f"{PREFIX}/me")).json()["role"] == "viewer"
    refused = await roles_client.post(f"{PREFIX}/start", json={"jobType": "Quick"})
    assert refused.status_code == 403


def host_app(runner: JobRunner, **hooks: Any) -> FastAPI:
    people = {"a": {"email": "alice@example.com", "role": "admin"},
              "v": {"email": "vera@example.com", "role": "viewer"},
              "o": {"email": "olga@example.com"},  # no role: an admin, as before roles existed
              "x": {"email": "mallory@example.com", "role": "superuser"}}

    def auth(request: Request) -> Any:
        return people.get(request.headers.get("x-user", ""))

    return create_app(runner=runner, auth=auth, **hooks)


async def test_host_principals_carry_roles(runner: JobRunner) -> None:
    app = host_app(runner)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://t") as c:
        started = await c.post(f"{PREFIX}/start", json={"jobType": "Waits"}, headers={"x-user": "a"})
        assert started.status_code == 201 and started.json()["author"] == "alice@example.com"
        job_id = started.json()["id"]
        refused = await c.post(f"{PREFIX}/single/{job_id}/abort", json={}, headers={"x-user": "v"})
        assert refused.status_code == 403 and refused.json()["requiredRole"] == "admin"
        assert "vera@example.com" in refused.json()["error"]
        aborted = await c.post(f"{PREFIX}/single/{job_id}/abort", json={}, headers={"x-user": "o"})
        assert aborted.status_code == 202
        assert runner.store.require_job(job_id).aborted_by == "olga@example.com"
        unknown = await c.get(f"{PREFIX}/stats", headers={"x-user": "x"})
        assert unknown.status_code == 403 and "unknown role 'superuser'" in unknown.json()["error"]


async def test_hooks_decide_per_request(runner: JobRunner) -> None:
    asked: list[tuple[str, str]] = []

    def can_start(principal: Principal, job_type: str) -> bool:
        asked.append((principal.name, job_type))
        return principal.is_admin or job_type == "Quick"  # viewers may run the harmless one

    def can_abort(principal: Principal, job: JobInfo) -> bool:
        return principal.is_admin or job.author == principal.name  # and stop their own jobs

    app = host_app(runner, can_start=can_start, can_abort=can_abort)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://t") as c:
        vera = {"x-user": "v"}
        assert (await c.post(f"{PREFIX}/start", json={"jobType": "Quick"}, headers=vera)).status_code == 201
        refused = await c.post(f"{PREFIX}/start", json={"jobType": "Waits"}, headers=vera)
        assert refused.status_code == 403 and "can_start refused" in refused.json()["error"]
        assert ("vera@example.com", "Waits") in asked
        others = runner.start("Waits", "alice@example.com")
        refused = await c.post(f"{PREFIX}/single/{others.id}/abort", json={}, headers=vera)
        assert refused.status_code == 403 and "can_abort refused" in refused.json()["error"]
        me = (await c.get(f"{PREFIX}/me", headers=vera)).json()
        assert me["canStart"] == ["Quick"] and me["canAbort"] is True
        own = runner.start("Slots", "vera@example.com")
        assert (await c.post(f"{PREFIX}/single/{own.id}/abort", json={}, headers=vera)).status_code == 202
        assert runner.store.require_job(own.id).aborted_by == "vera@example.com"
        # abort-all stays an admin's emergency tool, and even then only reaches what can_abort allows
        assert (await c.post(f"{PREFIX}/abort-all", json={}, headers=vera)).status_code == 403
        alice = await c.post(f"{PREFIX}/abort-all", json={}, headers={"x-user": "a"})
        ids = set(alice.json()["abortRequestedJobIds"])
        assert others.id in ids and ids <= {others.id, own.id}  # own: if it is still aborting


@pytest.mark.slow
def test_viewer_token_refused_on_every_write_of_a_real_server(tmp_path: Path) -> None:
    """``jobdeck serve --viewer-token V --viewer-token V2``; then viewers from the environment instead."""
    args = demo_args(f"sqlite:///{tmp_path / 'jobs.db'}", 1, "--viewer-token", VIEWER, "--viewer-token", "v2-123")
    with ServeProcess(tmp_path, args, token=TOKEN) as server:
        job = server.api("POST", "/start", json={"jobType": "DataImport"}).json()
        for token in (VIEWER, "v2-123"):
            headers = {"Authorization": f"Bearer {token}"}
            for method, path, body in WRITES:
                target = path.replace(JOB, job["id"])
                refused = httpx.request(method, f"{server.url}{API}{target}", json=body, headers=headers,
                                        timeout=10)
                assert refused.status_code == 403, (target, refused.text)
                assert refused.json()["requiredRole"] == "admin"
            assert httpx.get(f"{server.url}{API}/active", headers=headers, timeout=10).status_code == 200
        assert "viewer tokens: 2 (read-only)" in server.output()
        assert server.api("GET", f"/single/{job['id']}/progress").json()["status"] == "running"
        aborted = server.api("POST", f"/single/{job['id']}/abort", json={"reason": "test"})
        assert aborted.status_code == 202
        assert server.api("GET", f"/single/{job['id']}/progress").json()["abortedBy"] == "admin"
    env = clean_env(JOBDECK_VIEWER_TOKENS="env-viewer-1, env-viewer-2")
    with ServeProcess(tmp_path, args[:-4], token=TOKEN, env=env) as server:
        headers = {"Authorization": "Bearer env-viewer-2"}
        refused = httpx.post(f"{server.url}{API}/start", json={"jobType": "DataImport"}, headers=headers, timeout=10)
        assert refused.status_code == 403 and refused.json()["requiredRole"] == "admin"
        assert "viewer tokens: 2 (read-only)" in server.output()
