"""Resuming a failed or aborted job over HTTP (issue 21): ``POST /single/{id}/resume`` answers as a start does, the
refusals (unknown, active, completed, not allowed), the note when there is nothing to take over, and the 409 of a
start, re-run or resume whose type's slot is held by a job waiting to retry. In process, on a memory store.

Jobs are put into the states these tests need through the store itself (a failed job with saved values, a job
waiting for its next attempt with ``Store.schedule_retry``), so that what is tested is the API's answer."""

from __future__ import annotations

import time

import httpx
import pytest

from jobdeck import JobRunner
from jobdeck.api import create_app
from jobdeck.api._roles import Principal
from jobdeck.core.model import JobInfo, JobStatus, format_time
from jobdeck.stores import Store
from tests.api.conftest import AUTH, PREFIX, TOKEN
from tests.conftest import wait_for

pytestmark = pytest.mark.anyio

NOTE = "nothing was saved or done: the new job starts from the beginning"
UNKNOWN = "00000000-0000-4000-8000-000000000000"


def failed_job(store: Store, job_type: str = "Quick", params: dict[str, object] | None = None,
               saved: dict[str, object] | None = None) -> JobInfo:
    """A job of ``job_type`` that ran elsewhere, saved ``saved`` and failed."""
    job = store.create_job(job_type, "alice", params if params is not None else {"n": 7}, owner="elsewhere:1:ab")
    for key, value in (saved or {}).items():
        assert store.save_value(job.id, key, value)
    assert store.fail_job(job.id, "RateLimitError: 429 Too Many Requests")
    return job


def waiting_job(store: Store, job_type: str, due_in: float = 600.0, attempts: int = 5) -> JobInfo:
    """A job of ``job_type`` whose first attempt failed, waiting in the queue for its second."""
    job = store.create_job(job_type, "alice", {}, owner="elsewhere:1:ab", max_attempts=attempts)
    assert store.schedule_retry(job.id, time.time() + due_in, attempt=1,
                                message="attempt 1 of 5 failed: RateLimitError: 429; retrying in 600 s")
    return store.require_job(job.id)


async def resume(client: httpx.AsyncClient, job_id: str, **body: object) -> httpx.Response:
    return await client.post(f"{PREFIX}/single/{job_id}/resume", json=body, headers=AUTH)


# --------------------------------------------------------------------------- needs JobRunner.resume (r-runtime)

async def test_resume_starts_a_new_job_that_takes_over_what_the_old_one_saved(
        client: httpx.AsyncClient, runner: JobRunner) -> None:
    store = runner.store
    old = failed_job(store, saved={"q1": {"pros": ["cheap"]}, "jobdeck.done:question-q1": True})
    answer = await resume(client, old.id, author="bob")
    assert answer.status_code == 201, answer.text
    new = answer.json()
    assert (new["jobType"], new["params"], new["author"]) == ("Quick", {"n": 7}, "bob")
    assert new["id"] != old.id and new["rerunOf"] == old.id and new["resumedFrom"] == old.id
    assert "note" not in new and "reportToken" not in new and "savedKeys" not in new  # the job JSON, as /start
    assert store.saved_values(new["id"])["q1"] == {"pros": ["cheap"]}
    runner.wait(new["id"], timeout=10)
    again = (await client.get(f"{PREFIX}/single/{new['id']}/progress", headers=AUTH)).json()
    assert again["resumedFrom"] == old.id and again["savedKeys"] == ["q1"]
    kept = store.require_job(old.id)  # the old job stays as it was
    assert kept.status is JobStatus.FAILED and kept.error_messages[-1].message.startswith("RateLimitError")


async def test_resume_defaults_the_author_to_the_signed_in_principal(client: httpx.AsyncClient,
                                                                     runner: JobRunner) -> None:
    old = failed_job(runner.store, saved={"q1": 1})
    answer = await client.post(f"{PREFIX}/single/{old.id}/resume", headers=AUTH)  # no body at all
    assert answer.status_code == 201, answer.text
    assert answer.json()["author"] == "admin"


async def test_a_job_that_saved_nothing_and_did_nothing_is_resumed_with_a_note(client: httpx.AsyncClient,
                                                                              runner: JobRunner) -> None:
    old = failed_job(runner.store)
    answer = await resume(client, old.id)
    assert answer.status_code == 201, answer.text
    assert answer.json()["note"] == NOTE and answer.json()["resumedFrom"] == old.id
    runner.wait(answer.json()["id"], timeout=10)  # Quick runs one job at a time
    # An aborted job is resumed too; done operations alone count as something to take over.
    aborted = runner.store.create_job("Quick", "alice", {}, owner="elsewhere:1:ab")
    assert runner.store.save_value(aborted.id, "jobdeck.done:loading", True)
    assert runner.store.request_abort(aborted.id, "stop") and runner.store.mark_aborted(aborted.id)
    answer = await resume(client, aborted.id)
    assert answer.status_code == 201, answer.text
    assert "note" not in answer.json()


async def test_resuming_an_external_job_hands_out_the_new_jobs_report_token(runner: JobRunner) -> None:
    runner.register_external("Remote")
    app = create_app(runner=runner, token=TOKEN)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://testserver") as client:
        first = (await client.post(f"{PREFIX}/start", json={"jobType": "Remote"}, headers=AUTH)).json()
        token = {"Authorization": f"Bearer {first['reportToken']}"}
        assert (await client.post(f"{PREFIX}/single/{first['id']}/fail", json={}, headers=token)).status_code == 200
        answer = await resume(client, first["id"])
        assert answer.status_code == 201, answer.text
        new = answer.json()
        assert new["reportToken"].startswith("jdr1_") and new["reportToken"] != first["reportToken"]
        done = await client.post(f"{PREFIX}/single/{new['id']}/complete", json={"result": 1},
                                 headers={"Authorization": f"Bearer {new['reportToken']}"})
        assert done.status_code == 200


async def test_a_resume_whose_slot_is_held_by_a_job_waiting_to_retry_says_when_it_retries(
        client: httpx.AsyncClient, runner: JobRunner) -> None:
    old = failed_job(runner.store, "Waits", params={}, saved={"q1": 1})
    holder = waiting_job(runner.store, "Waits")
    answer = await resume(client, old.id)
    assert answer.status_code == 409
    assert f"job {holder.id} (attempt 2 of 5) is waiting to retry at {format_time(holder.retry_at)}" in \
        answer.json()["error"]
    assert answer.json()["activeJobIds"] == [holder.id]


# --------------------------------------------------------------------------- the API's own answers

async def test_resume_refuses_what_cannot_be_resumed(client: httpx.AsyncClient, runner: JobRunner) -> None:
    store = runner.store
    missing = await resume(client, UNKNOWN)
    assert missing.status_code == 404 and UNKNOWN in missing.json()["error"]
    malformed = await resume(client, "adf5a86c")  # prefixes are resolved by the clients (/lookup), as elsewhere
    assert malformed.status_code == 400 and "job ids are UUIDs" in malformed.json()["error"]
    running = runner.start("Waits", "alice")
    busy = await resume(client, running.id)
    assert busy.status_code == 409 and busy.json()["status"] == "running"
    assert busy.json()["error"] == (f"job {running.id} is running, still active: only a failed or aborted job can be "
                                    "resumed; wait for it to end, or abort it first")
    waiting = waiting_job(store, "Slots")
    assert (await resume(client, waiting.id)).json()["status"] == "queued"
    quick = runner.start("Quick", "alice")
    assert runner.wait(quick.id, timeout=10).status is JobStatus.COMPLETED
    completed = await resume(client, quick.id)
    assert completed.status_code == 409 and completed.json()["status"] == "completed"
    assert "nothing to resume; re-run it" in completed.json()["error"]
    assert (await client.post(f"{PREFIX}/single/{quick.id}/resume")).status_code == 401
    refused = await client.post(f"{PREFIX}/single/{quick.id}/resume", json={"author": "x", "params": {}},
                                headers=AUTH)
    assert refused.status_code == 400 and "params" in refused.json()["error"]  # a resume keeps the params
    # Nothing was created by any of these.
    assert {job.id for job in store.search_jobs(limit=100)} == {running.id, waiting.id, quick.id}


async def test_resume_needs_the_permission_to_start_the_jobs_type(runner: JobRunner) -> None:
    viewer = "viewer-token-77ac"

    def can_start(principal: Principal, job_type: str) -> bool:
        return principal.is_admin and job_type != "Boom"

    app = create_app(runner=runner, token=TOKEN, viewer_tokens=[viewer], can_start=can_start)
    boom = failed_job(runner.store, "Boom", params={}, saved={"q1": 1})
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://testserver") as client:
        hooked = await resume(client, boom.id)
        assert hooked.status_code == 403 and "can_start refused it" in hooked.json()["error"]
        as_viewer = await client.post(f"{PREFIX}/single/{boom.id}/resume", json={},
                                      headers={"Authorization": f"Bearer {viewer}"})
        assert as_viewer.status_code == 403
    assert [job.id for job in runner.store.search_jobs(limit=100)] == [boom.id]  # nothing was started


async def test_a_start_or_rerun_whose_slot_is_held_by_a_job_waiting_to_retry_says_when_it_retries(
        client: httpx.AsyncClient, runner: JobRunner) -> None:
    store = runner.store
    earlier = failed_job(store, "Waits", params={})
    holder = waiting_job(store, "Waits", due_in=41)
    expected = (f"job type 'Waits' already has 1 active job(s): job {holder.id} (attempt 2 of 5) is waiting to retry "
                f"at {format_time(holder.retry_at)}; a job waiting to retry keeps its slot: wait for it to finish or "
                "abort it first")
    start = await client.post(f"{PREFIX}/start", json={"jobType": "Waits"}, headers=AUTH)
    assert start.status_code == 409
    assert start.json() == {"error": expected, "activeJobIds": [holder.id]}
    assert "Retry-After" not in start.headers  # it may hold the slot long after its retry is due
    rerun = await client.post(f"{PREFIX}/single/{earlier.id}/rerun", headers=AUTH)
    assert rerun.status_code == 409 and rerun.json()["error"] == expected
    # A job running in the other slot of a two-slot type is named by the count; the waiting one by its time.
    running = runner.start("Slots", "alice")
    slot_holder = waiting_job(store, "Slots", due_in=90)
    two = await client.post(f"{PREFIX}/start", json={"jobType": "Slots"}, headers=AUTH)
    assert two.status_code == 409 and set(two.json()["activeJobIds"]) == {running.id, slot_holder.id}
    assert f"job {slot_holder.id} (attempt 2 of 5) is waiting to retry at " in two.json()["error"]
    assert running.id not in two.json()["error"].split(":", 1)[1]
    # Aborted while it waits, it ends at once and frees the slot.
    aborted = await client.post(f"{PREFIX}/single/{holder.id}/abort", json={"reason": "no more"}, headers=AUTH)
    assert aborted.status_code == 202 and aborted.json()["status"] == "aborted"
    started = await client.post(f"{PREFIX}/start", json={"jobType": "Waits"}, headers=AUTH)
    assert started.status_code == 201, started.text


async def test_a_start_refused_for_a_running_job_keeps_its_answer(client: httpx.AsyncClient,
                                                                  runner: JobRunner) -> None:
    running = runner.start("Waits", "alice")
    busy = await client.post(f"{PREFIX}/start", json={"jobType": "Waits"}, headers=AUTH)
    assert busy.status_code == 409 and "waiting to retry" not in busy.json()["error"]
    assert busy.json() == {"error": f"job type 'Waits' already has 1 active job(s) (active: {running.id}); wait "
                                    "for it to finish or abort it first", "activeJobIds": [running.id]}


# --------------------------------------------------------------------------- the new fields

async def test_a_job_waiting_to_retry_shows_its_attempt_and_when_it_retries(client: httpx.AsyncClient,
                                                                            runner: JobRunner) -> None:
    holder = waiting_job(runner.store, "Waits", due_in=41)
    assert holder.retry_at is not None
    for answer in ((await client.get(f"{PREFIX}/active", headers=AUTH)).json()[0],
                   (await client.get(f"{PREFIX}/single/{holder.id}/progress", headers=AUTH)).json(),
                   (await client.get(f"{PREFIX}/search", headers=AUTH)).json()["jobs"][0]):
        assert answer["id"] == holder.id and answer["status"] == "queued"
        assert (answer["attempt"], answer["maxAttempts"]) == (2, 5)
        assert answer["retryAt"] == format_time(holder.retry_at) and answer["resumedFrom"] is None
        assert [m["message"][:21] for m in answer["warningMessages"]] in ([], ["attempt 1 of 5 failed"])
    listed = (await client.get(f"{PREFIX}/active?messages=last:1", headers=AUTH)).json()[0]
    assert listed["warningMessages"][0]["message"].startswith("attempt 1 of 5 failed")  # the retry's warning
    everything = await client.post(f"{PREFIX}/abort-all", json={}, headers=AUTH)
    assert everything.json()["abortRequestedJobIds"] == [holder.id]
    ended = (await client.get(f"{PREFIX}/single/{holder.id}/progress", headers=AUTH)).json()
    assert ended["status"] == "aborted"  # at once: a waiting job has no run to stop


async def test_saved_keys_are_in_the_single_view_only(client: httpx.AsyncClient, runner: JobRunner) -> None:
    store = runner.store
    cursor = store.read_events(None).cursor
    job = store.create_job("Quick", "alice", {}, owner="elsewhere:1:ab")
    for key in ("b", "a", "jobdeck.done:loading"):
        assert store.save_value(job.id, key, {"big": "x" * 100})
    single = (await client.get(f"{PREFIX}/single/{job.id}/progress?messages=none", headers=AUTH)).json()
    assert single["savedKeys"] == ["a", "b"]  # sorted, jobdeck's own left out, no values
    assert "x" * 100 not in str(single)
    assert single == {**single, "id": job.id, "status": "running"}
    listed = [(await client.get(f"{PREFIX}/active", headers=AUTH)).json()[0],
              (await client.get(f"{PREFIX}/search", headers=AUTH)).json()["jobs"][0]]
    store.complete_job(job.id)
    listed += [(await client.get(f"{PREFIX}/past", headers=AUTH)).json()[0],
               (await client.get(f"{PREFIX}/past/summary", headers=AUTH)).json()[0]["recent"][0]]
    for answer in listed:
        assert answer["id"] == job.id and "savedKeys" not in answer
    events = store.read_events(cursor, limit=1000).events
    assert events and not any("savedKeys" in event.data for event in events)
    other = store.create_job("Quick", "alice", {}, owner="elsewhere:1:ab")
    assert (await client.get(f"{PREFIX}/single/{other.id}/progress", headers=AUTH)).json()["savedKeys"] == []


async def test_a_new_saved_key_shows_although_the_jobs_bytes_are_cached(client: httpx.AsyncClient,
                                                                       runner: JobRunner) -> None:
    store = runner.store
    job = store.create_job("Quick", "alice", {}, owner="elsewhere:1:ab")
    url = f"{PREFIX}/single/{job.id}/progress"
    assert (await client.get(url, headers=AUTH)).json()["savedKeys"] == []
    assert store.save_value(job.id, "q1", 1)  # no event, nothing in the job's signature changes
    store.create_job("Slots", "alice", {}, owner="elsewhere:1:ab")  # the store changes: the answer is rebuilt
    assert (await client.get(url, headers=AUTH)).json()["savedKeys"] == ["q1"]


async def test_the_document_describes_resume_and_the_new_fields(client: httpx.AsyncClient) -> None:
    schema = (await client.get(f"{PREFIX}/openapi.json", headers=AUTH)).json()
    components = schema["components"]["schemas"]

    def answer(path: str, method: str, code: str) -> dict[str, object]:
        ref = schema["paths"][PREFIX + path][method]["responses"][code]["content"]["application/json"]["schema"]
        found: dict[str, object] = components[ref["$ref"].rsplit("/", 1)[1]]
        return found

    job = components["Job"]["properties"]
    assert {"attempt", "maxAttempts", "retryAt", "resumedFrom"} <= set(job) and "savedKeys" not in job
    single = answer("/single/{job_id}/progress", "get", "200")
    assert "savedKeys" in single["properties"] and "savedKeys" in single["required"]  # type: ignore[operator]
    resumed = answer("/single/{job_id}/resume", "post", "201")
    assert {"reportToken", "note", "resumedFrom"} <= set(resumed["properties"])  # type: ignore[arg-type]
    operation = schema["paths"][f"{PREFIX}/single/{{job_id}}/resume"]["post"]
    assert {"201", "400", "401", "403", "404", "409", "413", "415", "429", "503"} <= set(operation["responses"])
    body = operation["requestBody"]["content"]["application/json"]["schema"]
    assert set(body["properties"]) == {"author"} and body["additionalProperties"] is False


async def test_a_resumed_job_names_the_job_it_resumed(client: httpx.AsyncClient, runner: JobRunner) -> None:
    old = failed_job(runner.store, saved={"q1": 1})
    new = runner.store.create_job("Quick", "bob", {"n": 7}, owner="elsewhere:1:ab", rerun_of=old.id,
                                  resumed_from=old.id)
    shown = (await client.get(f"{PREFIX}/single/{new.id}/progress", headers=AUTH)).json()
    assert (shown["rerunOf"], shown["resumedFrom"], shown["attempt"], shown["maxAttempts"]) == (old.id, old.id, 1, 1)
    assert shown["retryAt"] is None


# --------------------------------------------------------------------------- through the runtime, end to end

async def test_a_real_failed_attempt_holds_the_slot_and_a_resume_skips_what_was_saved(
        client: httpx.AsyncClient, runner: JobRunner) -> None:
    from jobdeck import PipelineController, Retry

    calls: list[int] = []
    failing = [True]

    def condense(ctl: PipelineController) -> int:
        for question in range(4):
            if ctl.saved(f"q{question}") is not None:
                continue
            calls.append(question)
            if question == 2 and failing[0]:
                raise RuntimeError("429 Too Many Requests")
            ctl.save(f"q{question}", question * 10)
        return len(calls)

    runner.register("Condense", condense, retry=Retry(attempts=3, backoff=600, jitter=False))
    first = (await client.post(f"{PREFIX}/start", json={"jobType": "Condense"}, headers=AUTH)).json()
    wait_for(lambda: runner.store.require_job(first["id"]).retry_at is not None, what="the retry to be scheduled")
    single = (await client.get(f"{PREFIX}/single/{first['id']}/progress", headers=AUTH)).json()
    assert (single["status"], single["attempt"], single["maxAttempts"]) == ("queued", 2, 3)
    assert single["savedKeys"] == ["q0", "q1"] and single["retryAt"] is not None
    refused = await client.post(f"{PREFIX}/start", json={"jobType": "Condense"}, headers=AUTH)
    assert refused.status_code == 409
    assert f"job {first['id']} (attempt 2 of 3) is waiting to retry at {single['retryAt']}" in refused.json()["error"]
    aborted = await client.post(f"{PREFIX}/single/{first['id']}/abort", json={}, headers=AUTH)
    assert aborted.json()["status"] == "aborted"
    failing[0] = False
    answer = await resume(client, first["id"])
    assert answer.status_code == 201, answer.text
    new = runner.wait(answer.json()["id"], timeout=10)
    assert new.status is JobStatus.COMPLETED and new.resumed_from == first["id"]
    assert calls == [0, 1, 2, 2, 3]  # the resumed run did questions 2 and 3 only
    shown = (await client.get(f"{PREFIX}/single/{new.id}/progress", headers=AUTH)).json()
    assert shown["savedKeys"] == ["q0", "q1", "q2", "q3"]
