"""Every JSON endpoint in-process: shapes, status codes and the store effects behind them."""

from __future__ import annotations

import time
import uuid

import httpx
import pytest

from jobdeck import JobRunner, JobStatus, MemoryStore
from jobdeck.core.model import parse_time
from tests.api.conftest import AUTH, PREFIX
from tests.conftest import wait_for

pytestmark = pytest.mark.anyio

JOB_KEYS = {"id", "jobType", "author", "status", "progress", "startTime", "endTime", "lastActivityTime",
            "infoMessages", "warningMessages", "errorMessages", "params", "result", "currentOperation", "owner",
            "heartbeatTime", "abortReason", "abortRequestedTime", "rerunOf",
            "abortedBy", "queuedTime", "attempt", "maxAttempts", "retryAt", "resumedFrom", "scheduleId", "runAt",
            "signature", "usage"}


async def start(client: httpx.AsyncClient, job_type: str, **body: object) -> dict[str, object]:
    response = await client.post(f"{PREFIX}/start", json={"jobType": job_type, **body}, headers=AUTH)
    assert response.status_code == 201, response.text
    data: dict[str, object] = response.json()
    return data


def finished(runner: JobRunner, job_id: str) -> JobStatus:
    return runner.wait(job_id, timeout=10).status


async def test_start_returns_the_job_with_the_principal_as_author(client: httpx.AsyncClient,
                                                                  runner: JobRunner) -> None:
    job = await start(client, "Quick", params={"n": 5})
    assert set(job) == JOB_KEYS
    assert job["jobType"] == "Quick" and job["author"] == "admin" and job["params"] == {"n": 5}
    assert job["status"] == "running"
    assert finished(runner, str(job["id"])) is JobStatus.COMPLETED
    assert runner.store.require_job(str(job["id"])).result == {"n": 5}


async def test_start_accepts_the_reference_feature_field_and_an_author(client: httpx.AsyncClient) -> None:
    response = await client.post(f"{PREFIX}/start", json={"feature": "Quick", "author": "ops@example.com"},
                                 headers=AUTH)
    assert response.status_code == 201
    assert response.json()["author"] == "ops@example.com"
    assert response.json()["jobType"] == "Quick"


async def test_start_errors(client: httpx.AsyncClient) -> None:
    unknown = await client.post(f"{PREFIX}/start", json={"jobType": "Nope"}, headers=AUTH)
    assert unknown.status_code == 404
    assert "unknown job type 'Nope'" in unknown.json()["error"] and "Quick" in unknown.json()["knownTypes"]
    bad_params = await client.post(f"{PREFIX}/start", json={"jobType": "Quick", "params": {"zzz": 1}},
                                   headers=AUTH)
    assert bad_params.status_code == 400 and "zzz" in bad_params.json()["error"]
    no_type = await client.post(f"{PREFIX}/start", json={"params": {}}, headers=AUTH)
    assert no_type.status_code == 400 and "jobType" in no_type.json()["error"]
    wrong_type = await client.post(f"{PREFIX}/start", json={"jobType": 3}, headers=AUTH)
    assert wrong_type.status_code == 400 and "jobType" in wrong_type.json()["error"]
    params_list = await client.post(f"{PREFIX}/start", json={"jobType": "Quick", "params": [1]}, headers=AUTH)
    assert params_list.status_code == 400 and "params" in params_list.json()["error"]
    extra = await client.post(f"{PREFIX}/start", json={"jobType": "Quick", "paramz": {}}, headers=AUTH)
    assert extra.status_code == 400 and "paramz" in extra.json()["error"]
    empty = await client.post(f"{PREFIX}/start", headers=AUTH)
    assert empty.status_code == 400 and "body is required" in empty.json()["error"]


async def test_start_conflict_when_max_concurrent_reached(client: httpx.AsyncClient) -> None:
    first = await start(client, "Waits")
    second = await client.post(f"{PREFIX}/start", json={"jobType": "Waits"}, headers=AUTH)
    assert second.status_code == 409
    assert second.json()["activeJobIds"] == [first["id"]]
    assert "already has 1 active job" in second.json()["error"]
    # max_concurrent=2 lets a second one in
    await start(client, "Slots")
    await start(client, "Slots")
    third = await client.post(f"{PREFIX}/start", json={"jobType": "Slots"}, headers=AUTH)
    assert third.status_code == 409


async def test_active_lists_running_jobs_in_the_reference_shape(client: httpx.AsyncClient,
                                                                store: MemoryStore) -> None:
    job = await start(client, "Waits")
    wait_for(lambda: store.require_job(str(job["id"])).info_messages, what="the job's first message")
    response = await client.get(f"{PREFIX}/active", headers=AUTH)
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    jobs = response.json()
    assert [j["id"] for j in jobs] == [job["id"]]
    assert set(jobs[0]) == JOB_KEYS | {"diagnosis"}  # an active job's (issue 22)
    assert jobs[0]["diagnosis"]["code"] == "ok"
    assert jobs[0]["infoMessages"][0]["message"] == "waiting for abort"
    assert (await client.get(f"{PREFIX}/active?jobType=Quick", headers=AUTH)).json() == []
    assert len((await client.get(f"{PREFIX}/active?jobType=Waits", headers=AUTH)).json()) == 1


async def test_messages_view_on_list_endpoints(client: httpx.AsyncClient, store: MemoryStore) -> None:
    job = store.create_job("Manual", "me")
    for i in range(5):
        store.add_info_message(job.id, f"info {i}")
    store.add_error_message(job.id, "bad")
    none = (await client.get(f"{PREFIX}/active?messages=none", headers=AUTH)).json()[0]
    assert none["infoMessages"] == [] and none["errorMessages"] == []
    last = (await client.get(f"{PREFIX}/active?messages=last:2", headers=AUTH)).json()[0]
    assert [m["message"] for m in last["infoMessages"]] == ["info 3", "info 4"]
    assert [m["message"] for m in last["errorMessages"]] == ["bad"]
    full = (await client.get(f"{PREFIX}/active?messages=all", headers=AUTH)).json()[0]
    assert len(full["infoMessages"]) == 5
    bad = await client.get(f"{PREFIX}/active?messages=some", headers=AUTH)
    assert bad.status_code == 400 and "last:N" in bad.json()["error"]
    negative = await client.get(f"{PREFIX}/active?messages=last:-1", headers=AUTH)
    assert negative.status_code == 400


async def test_past_filters_orders_and_gives_a_cursor(client: httpx.AsyncClient, store: MemoryStore) -> None:
    ids = {}
    for name, end in (("a", store.complete_job), ("b", store.fail_job), ("c", store.mark_aborted)):
        job = store.create_job("Manual", "me")
        end(job.id)
        ids[name] = job.id
    response = await client.get(f"{PREFIX}/past", headers=AUTH)
    assert response.status_code == 200
    assert [j["id"] for j in response.json()] == [ids["c"], ids["b"], ids["a"]]  # newest ended first
    cursor = response.headers["X-Jobdeck-Cursor"]
    cursor_time = parse_time(cursor)
    assert cursor_time is not None and cursor_time < time.time()
    only = await client.get(f"{PREFIX}/past?statuses=completed&statuses=failed", headers=AUTH)
    assert {j["id"] for j in only.json()} == {ids["a"], ids["b"]}
    comma = await client.get(f"{PREFIX}/past?statuses=aborted,failed", headers=AUTH)
    assert {j["id"] for j in comma.json()} == {ids["b"], ids["c"]}
    limited = await client.get(f"{PREFIX}/past?limit=1", headers=AUTH)
    assert [j["id"] for j in limited.json()] == [ids["c"]]
    # the cursor overlaps: what ended just now is still returned with it
    again = await client.get(f"{PREFIX}/past", params={"startFrom": cursor}, headers=AUTH)
    assert len(again.json()) == 3
    future = await client.get(f"{PREFIX}/past", params={"startFrom": "2999-01-01T00:00:00Z"}, headers=AUTH)
    assert future.json() == []


async def test_past_rejects_bad_input(client: httpx.AsyncClient) -> None:
    unknown = await client.get(f"{PREFIX}/past?statuses=exploded", headers=AUTH)
    assert unknown.status_code == 400 and "exploded" in unknown.json()["error"]
    active = await client.get(f"{PREFIX}/past?statuses=running", headers=AUTH)
    assert active.status_code == 400 and "'running'" in active.json()["error"]
    bad_time = await client.get(f"{PREFIX}/past?startFrom=yesterday", headers=AUTH)
    assert bad_time.status_code == 400 and "startFrom" in bad_time.json()["error"]
    bad_limit = await client.get(f"{PREFIX}/past?limit=ten", headers=AUTH)
    assert bad_limit.status_code == 400 and "limit" in bad_limit.json()["error"]
    zero = await client.get(f"{PREFIX}/past?limit=0", headers=AUTH)
    assert zero.status_code == 400 and "limit" in zero.json()["error"]


async def test_single_progress(client: httpx.AsyncClient, store: MemoryStore) -> None:
    job = store.create_job("Manual", "me")
    store.add_info_message(job.id, "hello")
    store.update_progress(job.id, 0.25)
    response = await client.get(f"{PREFIX}/single/{job.id}/progress", headers=AUTH)
    assert response.status_code == 200
    body = response.json()
    assert body["progress"] == 0.25 and body["infoMessages"][0]["message"] == "hello"
    upper = await client.get(f"{PREFIX}/single/{job.id.upper()}/progress?messages=none", headers=AUTH)
    assert upper.status_code == 200 and upper.json()["infoMessages"] == []
    missing = await client.get(f"{PREFIX}/single/{uuid.uuid4()}/progress", headers=AUTH)
    assert missing.status_code == 404 and "not found" in missing.json()["error"]
    malformed = await client.get(f"{PREFIX}/single/not-a-uuid/progress", headers=AUTH)
    assert malformed.status_code == 400 and "UUID" in malformed.json()["error"]


async def test_single_messages_pages_merge_kinds_and_never_skip(client: httpx.AsyncClient,
                                                                store: MemoryStore) -> None:
    job = store.create_job("Manual", "me")
    sent = []
    for i in range(25):
        text = f"m{i}"
        (store.add_info_message, store.add_warning_message, store.add_error_message)[i % 3](job.id, text)
        sent.append(text)
    got: list[str] = []
    since: str | None = None
    for _ in range(30):
        params = {"limit": "4", **({"since": since} if since else {})}
        response = await client.get(f"{PREFIX}/single/{job.id}/messages", params=params, headers=AUTH)
        assert response.status_code == 200
        page = response.json()
        got.extend(m["message"] for m in page["messages"])
        since = page["next"]
        if since is None:
            break
    assert got == sent  # merged oldest first, no repeats, none missing (even within one millisecond)
    types = {m["type"] for m in (await client.get(f"{PREFIX}/single/{job.id}/messages",
                                                  headers=AUTH)).json()["messages"]}
    assert types == {"info", "warning", "error"}
    bad = await client.get(f"{PREFIX}/single/{job.id}/messages?since=soon", headers=AUTH)
    assert bad.status_code == 400 and "since" in bad.json()["error"]
    missing = await client.get(f"{PREFIX}/single/{uuid.uuid4()}/messages", headers=AUTH)
    assert missing.status_code == 404


async def test_abort_running_job(client: httpx.AsyncClient, runner: JobRunner) -> None:
    job = await start(client, "Waits")
    response = await client.post(f"{PREFIX}/single/{job['id']}/abort", json={"reason": "testing"}, headers=AUTH)
    assert response.status_code == 202
    assert response.json() == {"message": f"Abort requested for job {job['id']}", "jobId": job["id"],
                               "status": "aborting"}
    assert finished(runner, str(job["id"])) is JobStatus.ABORTED
    ended = runner.store.require_job(str(job["id"]))
    assert ended.abort_reason == "testing"
    again = await client.post(f"{PREFIX}/single/{job['id']}/abort", headers=AUTH)
    assert again.status_code == 202 and again.json()["status"] == "aborted"
    missing = await client.post(f"{PREFIX}/single/{uuid.uuid4()}/abort", headers=AUTH)
    assert missing.status_code == 404
    malformed = await client.post(f"{PREFIX}/single/1234/abort", headers=AUTH)
    assert malformed.status_code == 400
    bad_reason = await client.post(f"{PREFIX}/single/{job['id']}/abort", json={"reason": 5}, headers=AUTH)
    assert bad_reason.status_code == 400 and "reason" in bad_reason.json()["error"]


async def test_abort_all_targets_running_jobs(client: httpx.AsyncClient, runner: JobRunner) -> None:
    a = await start(client, "Slots")
    b = await start(client, "Slots")
    done = runner.store.create_job("Manual", "me")
    runner.store.complete_job(done.id)
    response = await client.post(f"{PREFIX}/abort-all", json={"reason": "emergency"}, headers=AUTH)
    assert response.status_code == 202
    body = response.json()
    assert body["targetedJobs"] == 2 and body["abortRequestedFor"] == 2
    assert set(body["abortRequestedJobIds"]) == {a["id"], b["id"]}
    assert "message" in body
    assert finished(runner, str(a["id"])) is JobStatus.ABORTED
    assert finished(runner, str(b["id"])) is JobStatus.ABORTED
    empty = await client.post(f"{PREFIX}/abort-all", headers=AUTH)
    assert empty.status_code == 202 and empty.json()["targetedJobs"] == 0


async def test_types_and_stats(client: httpx.AsyncClient, runner: JobRunner) -> None:
    job = await start(client, "Waits")
    types = {t["jobType"]: t for t in (await client.get(f"{PREFIX}/types", headers=AUTH)).json()}
    assert set(types) == {"Quick", "Waits", "Boom", "Slots"}
    schema = types["Quick"].pop("paramsSchema")
    assert schema["properties"]["n"] == {"default": 2, "title": "N", "type": "integer"}
    assert types["Quick"] == {"jobType": "Quick", "external": False, "title": "Quick job", "description": "completes",
                              "maxConcurrent": 1, "timeout": None, "stallAfter": 600.0, "params": {"n": 2},
                              "activeJobIds": []}
    assert types["Waits"]["activeJobIds"] == [job["id"]] and types["Waits"]["timeout"] == 60
    boom = await start(client, "Boom")
    assert finished(runner, str(boom["id"])) is JobStatus.FAILED
    stats = (await client.get(f"{PREFIX}/stats", headers=AUTH)).json()
    assert stats == {"queued": 0, "running": 1, "aborting": 0, "completed": 0, "failed": 1, "aborted": 0, "active": 1,
                     "staleAfter": runner.store.stale_after}


async def test_openapi_documents_every_endpoint(client: httpx.AsyncClient) -> None:
    schema = (await client.get(f"{PREFIX}/openapi.json", headers=AUTH)).json()
    paths = set(schema["paths"])
    for path in ("/active", "/past", "/past/summary", "/start", "/single/{job_id}/progress",
                 "/single/{job_id}/messages", "/single/{job_id}/abort", "/abort-all", "/types", "/stats", "/events"):
        assert PREFIX + path in paths, path
    start_op = schema["paths"][f"{PREFIX}/start"]["post"]
    assert "jobType" in start_op["requestBody"]["content"]["application/json"]["schema"]["properties"]
    assert "201" in start_op["responses"] and "409" in start_op["responses"]
    past_headers = schema["paths"][f"{PREFIX}/past"]["get"]["responses"]["200"]["headers"]
    assert "X-Jobdeck-Cursor" in past_headers
    assert (await client.get(f"{PREFIX}/openapi.json")).status_code == 401


async def test_without_runner_types_are_empty_and_start_is_404(make_client: object, store: MemoryStore) -> None:
    from jobdeck.api import create_app

    app = create_app(store=store)
    async with make_client(app) as c:  # type: ignore[operator]
        assert (await c.get(f"{PREFIX}/types")).json() == []
        response = await c.post(f"{PREFIX}/start", json={"jobType": "Quick"})
        assert response.status_code == 404 and "registered types: none" in response.json()["error"]


async def test_two_apps_share_nothing(make_client: object) -> None:
    from jobdeck.api import create_app

    one, two = MemoryStore(), MemoryStore()
    one.create_job("OnlyInOne", "me")
    async with make_client(create_app(store=one)) as a, make_client(create_app(store=two, prefix="/jobs")) as b:  # type: ignore[operator]
        assert len((await a.get(f"{PREFIX}/active")).json()) == 1
        assert (await b.get("/jobs/active")).json() == []
        assert (await b.get(f"{PREFIX}/active")).status_code == 404
