"""The report endpoints in process: store rules (clamped, capped, terminal final), validation, staleness,
abort grace, and where a report token is honoured."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from jobdeck import JobRunner, MemoryStore
from jobdeck.api import create_app

TOKEN = "report-api-test-token-77"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}
API = "/api/admin/jobs"

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def runner() -> Iterator[JobRunner]:
    with MemoryStore(max_messages=5, stale_after=60) as store:
        r = JobRunner(store, abort_grace=0.2)
        r.register_external("Remote", params={"size": 1}, max_concurrent=5)
        r.register("Local", lambda ctl: None)
        yield r
        r.shutdown(grace=2)


@pytest.fixture
async def client(runner: JobRunner) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(runner=runner, token=TOKEN)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://testserver") as c:
        yield c


async def start(client: httpx.AsyncClient) -> tuple[str, dict[str, str]]:
    response = await client.post(f"{API}/start", json={"jobType": "Remote"}, headers=ADMIN)
    assert response.status_code == 201, response.text
    return response.json()["id"], {"Authorization": f"Bearer {response.json()['reportToken']}"}


async def test_external_types_are_listed_and_only_they_get_a_token(client: httpx.AsyncClient) -> None:
    types = {t["jobType"]: t for t in (await client.get(f"{API}/types", headers=ADMIN)).json()}
    assert types["Remote"]["external"] is True and types["Local"]["external"] is False
    local = await client.post(f"{API}/start", json={"jobType": "Local"}, headers=ADMIN)
    assert local.status_code == 201 and "reportToken" not in local.json()


async def test_reports_follow_the_stores_rules(client: httpx.AsyncClient, runner: JobRunner) -> None:
    job_id, auth = await start(client)
    url = f"{API}/single/{job_id}"
    answer = await client.post(f"{url}/report", headers=auth, json={
        "progress": 7, "currentOperation": {"id": "load", "index": 1, "total": 2},
        "messages": [{"type": "info", "message": f"i{n}"} for n in range(8)] + [{"type": "error", "message": "e"}]})
    assert answer.status_code == 200
    assert answer.json() == {"status": "running", "abortRequested": False, "abortReason": None}
    job = runner.store.require_job(job_id)
    assert job.progress == 1.0  # clamped
    assert job.current_operation is not None and job.current_operation.id == "load"
    assert [m.message for m in job.info_messages] == ["i3", "i4", "i5", "i6", "i7"]  # capped at max_messages
    assert [m.message for m in job.error_messages] == ["e"]
    before = runner.store.require_job(job_id).heartbeat_time
    assert (await client.post(f"{url}/report", headers=auth)).status_code == 200  # a heartbeat
    assert (runner.store.require_job(job_id).heartbeat_time or 0) >= (before or 0)
    fail = await client.post(f"{url}/fail", headers=auth, json={"message": "disk full"})
    assert fail.status_code == 200 and fail.json()["status"] == "failed"
    for tail, body in (("report", {"progress": 0.1}), ("report", {}), ("complete", {}), ("aborted", {}),
                       ("fail", {})):
        late = await client.post(f"{url}/{tail}", headers=auth, json=body)
        assert (late.status_code, late.json()["status"]) == (409, "failed"), tail
        assert "already ended" in late.json()["error"]
    assert runner.store.require_job(job_id).error_messages[-1].message == "disk full"


@pytest.mark.parametrize("body", [
    {"progress": "half"}, {"progress": True}, {"messages": [{"type": "debug", "message": "x"}]},
    {"messages": [{"type": "info"}]}, {"nonsense": 1}, {"currentOperation": {"id": "x", "index": 0, "total": 1}},
    {"messages": [{"type": "info", "message": "x"}] * 1001},
])
async def test_a_malformed_report_is_a_400_naming_the_field(client: httpx.AsyncClient, body: object) -> None:
    job_id, auth = await start(client)
    answer = await client.post(f"{API}/single/{job_id}/report", headers=auth, json=body)
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]


async def test_unknown_and_malformed_ids(client: httpx.AsyncClient) -> None:
    assert (await client.post(f"{API}/single/{uuid.uuid4()}/report", headers=ADMIN)).status_code == 404
    assert (await client.post(f"{API}/single/nope/report", headers=ADMIN)).status_code == 400
    assert (await client.post(f"{API}/single/{uuid.uuid4()}/report")).status_code == 401


async def test_an_abort_reaches_the_reporter_and_a_reporter_that_ignores_it_is_failed(
        client: httpx.AsyncClient, runner: JobRunner) -> None:
    job_id, auth = await start(client)
    await client.post(f"{API}/single/{job_id}/abort", headers=ADMIN, json={"reason": "enough"})
    answer = (await client.post(f"{API}/single/{job_id}/report", headers=auth, json={"progress": 0.5})).json()
    assert answer == {"status": "aborting", "abortRequested": True, "abortReason": "enough"}
    time.sleep(0.25)  # past the runner's abort grace (0.2 s): the job's own clock, not a synchronisation
    answer = (await client.post(f"{API}/single/{job_id}/report", headers=auth, json={})).json()
    assert answer["status"] == "failed"
    assert "did not stop within 0.2s" in runner.store.require_job(job_id).error_messages[-1].message
    other, auth2 = await start(client)
    await client.post(f"{API}/single/{other}/abort", headers=ADMIN)
    stopped = await client.post(f"{API}/single/{other}/aborted", headers=auth2)
    assert stopped.json() == {"status": "aborted", "abortRequested": True, "abortReason": None}


async def test_a_silent_reporter_is_failed_as_stale_with_a_reason_that_says_so(
        client: httpx.AsyncClient, runner: JobRunner) -> None:
    job_id, _ = await start(client)
    assert runner.store.reap_stale(now=time.time() + 30) == []
    assert runner.store.reap_stale(now=time.time() + 120) == [job_id]
    reason = runner.store.require_job(job_id).error_messages[-1].message
    assert "external reporter sent no report or heartbeat" in reason and "stale_after=60s" in reason


async def test_report_tokens_are_per_job_and_per_secret(runner: JobRunner) -> None:
    job_id = runner.start("Remote", "me").id
    apps = [create_app(runner=runner, token=TOKEN), create_app(runner=runner, token=TOKEN),
            create_app(runner=runner, token=TOKEN, report_secret="another secret, 32 characters.."),
            create_app(runner=runner, token="another-admin-token")]
    tokens = [app.state.deck.reports.issue(job_id) for app in apps]
    assert tokens[0] == tokens[1]  # two servers with one token (or one secret) accept each other's tokens
    assert len(set(tokens)) == 3
    assert TOKEN not in tokens[0] and tokens[0] != apps[0].state.deck.reports.issue(str(uuid.uuid4()))
    with pytest.raises(ValueError, match="at least 16"):
        create_app(runner=runner, token=TOKEN, report_secret="short")


async def test_a_viewer_may_not_report(runner: JobRunner) -> None:
    app = create_app(runner=runner, token=TOKEN, viewer_tokens=["viewer-token-for-reports"])
    job_id = runner.start("Remote", "me").id
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://testserver") as client:
        viewer = {"Authorization": "Bearer viewer-token-for-reports"}
        assert (await client.get(f"{API}/single/{job_id}/progress", headers=viewer)).status_code == 200
        refused = await client.post(f"{API}/single/{job_id}/report", headers=viewer, json={"progress": 0.5})
        assert refused.status_code == 403 and refused.json()["requiredRole"] == "admin"
        assert (await client.post(f"{API}/single/{job_id}/report", headers=ADMIN, json={})).status_code == 200
    assert runner.store.require_job(job_id).progress == 0.0


async def test_a_reported_operation_tree_is_kept_and_a_bad_or_huge_one_refused(client: httpx.AsyncClient,
                                                                                runner: JobRunner) -> None:
    job_id, auth = await start(client)
    url = f"{API}/single/{job_id}"
    tree = [{"id": "load", "progress": 1, "state": "done"},
            {"id": "rows", "progress": 0.25, "state": "started", "weight": 3,
             "children": [{"id": "part-1", "progress": 0.5, "state": "started"}, {"more": 9, "done": 0}]}]
    answer = await client.post(f"{url}/report", headers=auth, json={"progress": 0.4, "operations": tree})
    assert answer.status_code == 200, answer.text
    shown = (await client.get(f"{url}/progress", headers=ADMIN)).json()
    assert shown["operations"] == [{"id": "load", "progress": 1.0, "state": "done"},
                                   {"id": "rows", "progress": 0.25, "state": "started", "weight": 3.0,
                                    "children": [{"id": "part-1", "progress": 0.5, "state": "started"},
                                                 {"more": 9, "done": 0}]}]
    refused = [
        [{"id": "x", "progress": 2, "state": "done"}],
        [{"id": "x", "progress": 0.5, "state": "sleeping"}],
        [{"id": "", "progress": 0.5}],
        [{"more": -1}],
        [{"id": f"op{i}", "progress": 0.0} for i in range(601)],
        [{"id": "a", "progress": 0, "children": [{"id": "b", "progress": 0, "children": [{"id": "c", "progress": 0,
          "children": [{"id": "d", "progress": 0, "children": [{"id": "e", "progress": 0, "children": [
              {"id": "f", "progress": 0, "children": [{"id": "g", "progress": 0, "children": [
                  {"id": "h", "progress": 0}]}]}]}]}]}]}]}],
    ]
    for bad in refused:
        response = await client.post(f"{url}/report", headers=auth,
                                     json={"operations": bad, "messages": [{"type": "info", "message": "m"}]})
        assert response.status_code == 400, (bad, response.text)
        assert response.json()["error"]
    # Nothing of a refused report was stored: the tree and the messages are as before.
    job = runner.store.require_job(job_id, operations=True)
    assert job.operations is not None and job.operations.to_list() == shown["operations"]
    assert job.info_messages == []
