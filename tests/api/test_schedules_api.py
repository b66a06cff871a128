"""The schedule endpoints (issue 23) in process: list, create, pause/resume, edit, delete, run now, runAt on /start,
roles, and the 4xx answers of what cannot be a schedule."""

from __future__ import annotations

import time

import httpx
import pytest

from jobdeck import JobRunner
from jobdeck.api import create_app
from tests.api.conftest import AUTH, PREFIX, TOKEN
from tests.conftest import wait_for

pytestmark = pytest.mark.anyio

VIEWER = {"Authorization": "Bearer viewer-token-for-schedules"}


async def test_an_admin_creates_a_cron_schedule_and_every_reader_sees_its_next_five_runs(
        client: httpx.AsyncClient) -> None:
    r = await client.post(f"{PREFIX}/schedules", headers=AUTH, json={
        "id": "nightly", "jobType": "Quick", "cron": "0 3 * * *", "timezone": "Europe/Helsinki", "params": {"n": 4}})
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["source"] == "admin" and body["paused"] is False and body["createdBy"]
    assert len(body["nextRuns"]) == 5
    # 03:00 in Helsinki is 00:00 or 01:00 UTC, depending on the season
    assert all(t.endswith(("T00:00:00.000Z", "T01:00:00.000Z")) for t in body["nextRuns"])
    listed = (await client.get(f"{PREFIX}/schedules", headers=AUTH)).json()
    assert [s["id"] for s in listed] == ["nightly"]
    assert listed[0]["params"] == {"n": 4} and listed[0]["lastRun"] is None and listed[0]["missed"] == 0


async def test_every_is_seconds_in_json(client: httpx.AsyncClient) -> None:
    r = await client.post(f"{PREFIX}/schedules", headers=AUTH, json={"id": "often", "jobType": "Quick", "every": 600})
    assert r.status_code == 201, r.text
    assert r.json()["every"] == 600 and r.json()["cron"] is None
    runs = r.json()["nextRuns"]
    assert all(t.endswith("0:00.000Z") for t in runs)  # every 10 minutes, on the clock's tens


@pytest.mark.parametrize(("body", "words"), [
    ({"id": "x", "jobType": "Quick", "cron": "61 * * * *"}, "invalid cron expression '61 * * * *'"),
    ({"id": "x", "jobType": "Quick", "cron": "* * * *"}, "it has 4 fields"),
    ({"id": "x", "jobType": "Quick", "cron": "0 3 * * *", "timezone": "Mars/Olympus"}, "unknown time zone"),
    ({"id": "x", "jobType": "Quick"}, "exactly one of cron and every"),
    ({"id": "x", "jobType": "Quick", "every": 0.5}, "every"),
    ({"id": "x", "jobType": "Quick", "every": 1e300}, "every"),
    ({"id": "x", "jobType": "Quick", "every": 60, "misfireGrace": -1}, "misfireGrace"),
    ({"id": "x", "jobType": "Quick", "every": 60, "params": {"n": "many"}}, "invalid params for Quick"),
    ({"id": "a/b", "jobType": "Quick", "every": 60}, "id"),
])
async def test_what_cannot_be_a_schedule_is_a_400_naming_the_problem(client: httpx.AsyncClient,
                                                                     body: dict[str, object], words: str) -> None:
    r = await client.post(f"{PREFIX}/schedules", headers=AUTH, json=body)
    assert r.status_code == 400, r.text
    assert words in r.json()["error"]


async def test_an_unknown_type_is_a_404_and_a_taken_id_a_409(client: httpx.AsyncClient) -> None:
    r = await client.post(f"{PREFIX}/schedules", headers=AUTH, json={"id": "x", "jobType": "Nope", "every": 60})
    assert r.status_code == 404
    assert (await client.post(f"{PREFIX}/schedules", headers=AUTH,
                              json={"id": "x", "jobType": "Quick", "every": 60})).status_code == 201
    r = await client.post(f"{PREFIX}/schedules", headers=AUTH, json={"id": "x", "jobType": "Quick", "every": 60})
    assert r.status_code == 409 and "exists already" in r.json()["error"]


async def test_pause_resume_edit_and_delete(client: httpx.AsyncClient) -> None:
    await client.post(f"{PREFIX}/schedules", headers=AUTH, json={"id": "s", "jobType": "Quick", "every": 60})
    r = await client.patch(f"{PREFIX}/schedules/s", headers=AUTH, json={"paused": True})
    assert r.status_code == 200 and r.json()["paused"] is True and r.json()["nextRuns"] == []
    r = await client.patch(f"{PREFIX}/schedules/s", headers=AUTH, json={"paused": False})
    assert r.json()["paused"] is False and len(r.json()["nextRuns"]) == 5
    r = await client.patch(f"{PREFIX}/schedules/s", headers=AUTH, json={"cron": "15 4 * * 1", "params": {"n": 9}})
    assert r.status_code == 200, r.text
    assert r.json()["cron"] == "15 4 * * 1" and r.json()["every"] is None and r.json()["params"] == {"n": 9}
    assert all(t.endswith("T04:15:00.000Z") for t in r.json()["nextRuns"])
    r = await client.patch(f"{PREFIX}/schedules/s", headers=AUTH, json={"timezone": "Nowhere/Land"})
    assert r.status_code == 400 and "unknown time zone" in r.json()["error"]
    assert (await client.delete(f"{PREFIX}/schedules/s", headers=AUTH)).status_code == 200
    assert (await client.get(f"{PREFIX}/schedules/s", headers=AUTH)).status_code == 404
    assert (await client.delete(f"{PREFIX}/schedules/s", headers=AUTH)).status_code == 404
    assert (await client.patch(f"{PREFIX}/schedules/s", headers=AUTH, json={"paused": True})).status_code == 404


async def test_run_now_starts_a_job_that_names_its_schedule_and_becomes_the_last_run(
        client: httpx.AsyncClient, runner: JobRunner) -> None:
    await client.post(f"{PREFIX}/schedules", headers=AUTH, json={"id": "s", "jobType": "Quick", "every": 3600,
                                                                 "params": {"n": 7}})
    r = await client.post(f"{PREFIX}/schedules/s/trigger", headers=AUTH)
    assert r.status_code == 201, r.text
    job = r.json()
    assert job["scheduleId"] == "s" and job["params"] == {"n": 7}
    # Nobody calls the runner: the trigger woke its supervisor, which starts the due job.
    done = wait_for(lambda: (j := runner.store.get_job(job["id"])) is not None and j.status.is_terminal and j,
                    what="the job run now to end")
    assert done.status.value == "completed" and done.result == {"n": 7}
    listed = (await client.get(f"{PREFIX}/schedules/s", headers=AUTH)).json()
    assert listed["lastRun"]["jobId"] == job["id"] and listed["lastRun"]["status"] == "completed"
    assert (await client.post(f"{PREFIX}/schedules/nope/trigger", headers=AUTH)).status_code == 404


async def test_code_schedules_may_be_paused_and_run_now_but_not_edited_or_deleted(
        client: httpx.AsyncClient, runner: JobRunner) -> None:
    runner.schedule("from-code", "Quick", every=3600)
    runner.scheduler.sync()
    r = await client.get(f"{PREFIX}/schedules/from-code", headers=AUTH)
    assert r.json()["source"] == "code"
    assert (await client.patch(f"{PREFIX}/schedules/from-code", headers=AUTH, json={"paused": True})).status_code \
        == 200
    r = await client.patch(f"{PREFIX}/schedules/from-code", headers=AUTH, json={"every": 60})
    assert r.status_code == 409 and "defined in code" in r.json()["error"]
    r = await client.delete(f"{PREFIX}/schedules/from-code", headers=AUTH)
    assert r.status_code == 409 and "defined in code" in r.json()["error"]
    assert (await client.post(f"{PREFIX}/schedules/from-code/trigger", headers=AUTH)).status_code == 201


async def test_viewers_read_schedules_and_may_not_change_them(runner: JobRunner) -> None:
    app = create_app(runner=runner, token=TOKEN, viewer_tokens=["viewer-token-for-schedules"])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://testserver") as c:
        assert (await c.post(f"{PREFIX}/schedules", headers=AUTH,
                             json={"id": "s", "jobType": "Quick", "every": 60})).status_code == 201
        assert (await c.get(f"{PREFIX}/schedules", headers=VIEWER)).status_code == 200
        for method, path, body in [("POST", "/schedules", {"id": "t", "jobType": "Quick", "every": 60}),
                                   ("PATCH", "/schedules/s", {"paused": True}),
                                   ("DELETE", "/schedules/s", None), ("POST", "/schedules/s/trigger", None)]:
            r = await c.request(method, f"{PREFIX}{path}", headers=VIEWER, json=body)
            assert r.status_code == 403, (method, path, r.text)
            assert r.json()["requiredRole"] == "admin"
        assert (await c.get(f"{PREFIX}/schedules", headers={})).status_code == 401


async def test_start_with_run_at_waits_queued_and_an_abort_before_then_ends_it_aborted(
        client: httpx.AsyncClient, runner: JobRunner) -> None:
    later = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3600))
    r = await client.post(f"{PREFIX}/start", headers=AUTH, json={"jobType": "Quick", "runAt": later})
    assert r.status_code == 201, r.text
    job = r.json()
    assert job["status"] == "queued" and job["runAt"] == later.replace("Z", ".000Z")
    assert runner.retry_due() == []  # not due yet
    r = await client.post(f"{PREFIX}/single/{job['id']}/abort", headers=AUTH, json={})
    assert r.status_code == 202 and r.json()["status"] == "aborted"
    r = await client.post(f"{PREFIX}/start", headers=AUTH, json={"jobType": "Quick", "runAt": "tomorrow"})
    assert r.status_code == 400 and "run_at" in r.json()["error"]


async def test_start_with_a_due_run_at_runs_it(client: httpx.AsyncClient, runner: JobRunner) -> None:
    soon = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 1))
    r = await client.post(f"{PREFIX}/start", headers=AUTH, json={"jobType": "Quick", "runAt": soon})
    job = r.json()
    assert job["status"] == "queued"
    # The start woke the supervisor for it: it runs without anyone calling the runner.
    done = wait_for(lambda: (j := runner.store.get_job(job["id"])) is not None and j.status.is_terminal and j,
                    what="the due job to end")
    assert done.status.value == "completed" and done.run_at is not None


async def test_search_filters_by_schedule_id(client: httpx.AsyncClient, runner: JobRunner) -> None:
    await client.post(f"{PREFIX}/schedules", headers=AUTH, json={"id": "s", "jobType": "Quick", "every": 3600})
    job = (await client.post(f"{PREFIX}/schedules/s/trigger", headers=AUTH)).json()
    await client.post(f"{PREFIX}/start", headers=AUTH, json={"jobType": "Quick"})
    page = (await client.get(f"{PREFIX}/search", headers=AUTH, params={"scheduleId": "s"})).json()
    assert [j["id"] for j in page["jobs"]] == [job["id"]] and page["jobs"][0]["scheduleId"] == "s"
    page = (await client.get(f"{PREFIX}/search", headers=AUTH, params={"scheduleId": "other"})).json()
    assert page["jobs"] == []


async def test_a_start_refused_for_a_slot_held_by_a_later_start_says_when_that_one_starts(
        client: httpx.AsyncClient) -> None:
    later = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3600))
    held = (await client.post(f"{PREFIX}/start", headers=AUTH, json={"jobType": "Waits", "runAt": later})).json()
    r = await client.post(f"{PREFIX}/start", headers=AUTH, json={"jobType": "Waits"})
    assert r.status_code == 409
    assert f"job {held['id']} is waiting to start at {later.replace('Z', '.000Z')} (runAt)" in r.json()["error"]


async def test_the_list_shows_each_last_runs_status_now(client: httpx.AsyncClient, runner: JobRunner) -> None:
    for schedule_id, job_type in (("a", "Quick"), ("b", "Boom"), ("c", "Waits")):
        await client.post(f"{PREFIX}/schedules", headers=AUTH,
                          json={"id": schedule_id, "jobType": job_type, "every": 3600})
    jobs = {s: (await client.post(f"{PREFIX}/schedules/{s}/trigger", headers=AUTH)).json()["id"] for s in "abc"}
    expected = {"a": "completed", "b": "failed", "c": "running"}
    wait_for(lambda: all((j := runner.store.get_job(jobs[s])) is not None and j.status.value == status
                         for s, status in expected.items()), what="the three jobs' statuses")
    listed = {s["id"]: s["lastRun"] for s in (await client.get(f"{PREFIX}/schedules", headers=AUTH)).json()}
    assert {s: (r["jobId"], r["status"]) for s, r in listed.items()} == {s: (jobs[s], expected[s]) for s in "abc"}
    runner.abort(jobs["c"])
