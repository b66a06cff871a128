"""POST /bulk on every store: the count a dry run shows is the count the bulk job acts on; abort, re-run (within
max_concurrent), resume and delete (finished jobs only); the permission hooks per job; the bulk job's record."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from jobdeck import JobRunner
from jobdeck.api import create_app
from jobdeck.core.model import JobInfo, JobStatus
from jobdeck.runtime.bulk import BULK_TYPE, BulkPlan, run_bulk
from jobdeck.stores import Store
from tests.api.conftest import AUTH, PREFIX, TOKEN, register_test_types, store_of
from tests.conftest import wait_for

pytestmark = pytest.mark.anyio

STORES = ["memory", "sqlite", "redis", pytest.param("postgres", marks=pytest.mark.postgres)]
VIEWER = "bulk-viewer-61d0"


@pytest.fixture(params=STORES)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    yield from store_of(request.param, request, tmp_path)


@pytest.fixture
def runner(store: Store) -> Iterator[JobRunner]:
    r = JobRunner(store, abort_grace=2)
    register_test_types(r)
    yield r
    for job in store.get_active_jobs(messages=False):
        r.abort(job.id)
    # Bulk jobs run in threads of their own: they end (seeing the abort) before the store closes.
    wait_for(lambda: not any(j.job_type == BULK_TYPE for j in store.get_active_jobs(messages=False)))
    r.shutdown(grace=5)


@pytest.fixture
async def client(runner: JobRunner) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(runner=runner, token=TOKEN, viewer_tokens=[VIEWER])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://testserver") as c:
        yield c
    app.state.deck.mux.close()


def _failed(store: Store, job_type: str, n: int, message: str = "ValueError: row 3") -> list[str]:
    ids = []
    for _ in range(n):
        job = store.create_job(job_type, "ada")
        store.fail_job(job.id, message)
        ids.append(job.id)
    return ids


async def _bulk(client: httpx.AsyncClient, status: int = 202, headers: dict[str, str] = AUTH,
                **body: Any) -> dict[str, Any]:
    answer = await client.post(f"{PREFIX}/bulk", json=body, headers=headers)
    assert answer.status_code == status, answer.text
    data: dict[str, Any] = answer.json()
    return data


def _ended(store: Store, job_id: str, timeout: float = 15) -> JobInfo:
    return wait_for(lambda: (j := store.require_job(job_id)) and not j.is_active and j, timeout=timeout,
                    what=f"bulk job {job_id} to end")


async def test_rerun_by_filter_acts_on_the_count_the_dry_run_showed(client: httpx.AsyncClient, store: Store) -> None:
    failed = _failed(store, "Quick", 5)
    other = _failed(store, "Quick", 2, "KeyError: 'x'")
    done = store.create_job("Quick", "ada")
    store.complete_job(done.id)
    wanted = {"status": ["failed"], "jobType": "Quick", "signature": "ValueError: row <n>"}
    dry = await _bulk(client, 200, action="rerun", filter=wanted, dryRun=True)
    assert dry["count"] == 5 and sorted(dry["ids"]) == sorted(failed) and dry["leftOut"] == 0
    assert len(store.get_active_jobs(messages=False)) == 0  # a dry run starts nothing
    started = await _bulk(client, action="rerun", filter=wanted)
    assert started["count"] == dry["count"]
    bulk = _ended(store, started["jobId"])
    assert bulk.status is JobStatus.COMPLETED and bulk.job_type == BULK_TYPE and bulk.author == "admin"
    assert bulk.result == {"action": "rerun", "count": 5, "acted": 5, "notActed": 0, "leftOut": 0}
    assert bulk.params == {"filter": wanted, "action": "rerun", "count": 5, "leftOut": 0}
    reruns = [j for j in store.search_jobs(None, limit=100) if j.rerun_of is not None]
    assert sorted(j.rerun_of or "" for j in reruns) == sorted(failed)  # each once, none of the others
    assert not set(other) & {j.rerun_of for j in reruns}


async def test_rerun_waits_for_max_concurrent_and_is_abortable(client: httpx.AsyncClient, store: Store,
                                                              runner: JobRunner) -> None:
    failed = _failed(store, "Slots", 4)  # Slots: two at a time, each runs until aborted
    started = await _bulk(client, action="rerun", ids=failed)
    assert started["count"] == 4

    def running() -> list[JobInfo]:
        return [j for j in store.get_active_jobs(messages=False) if j.job_type == "Slots"]

    first = wait_for(lambda: len(running()) == 2 and running())
    wait_for(lambda: "waiting for a free slot" in " ".join(
        m.message for m in store.require_job(started["jobId"]).info_messages))
    assert store.require_job(started["jobId"]).is_active
    for job in first:
        runner.abort(job.id)
    wait_for(lambda: len([j for j in store.search_jobs(None, limit=100) if j.rerun_of]) == 4)
    ended = _ended(store, started["jobId"])
    assert ended.status is JobStatus.COMPLETED and ended.result["acted"] == 4
    # A second bulk re-run waits for a slot and is stopped on request between jobs.
    again = await _bulk(client, action="rerun", ids=failed[:3])
    wait_for(lambda: "waiting for a free slot" in " ".join(
        m.message for m in store.require_job(again["jobId"]).info_messages))
    runner.abort(again["jobId"])
    stopped = _ended(store, again["jobId"])
    assert stopped.status is JobStatus.ABORTED
    assert any("stopped on request after 0 of 3" in m.message for m in stopped.warning_messages)
    assert not any("not re-run" in m.message for m in stopped.warning_messages)  # the abort is no job's failure
    assert len([j for j in store.search_jobs(None, limit=100) if j.rerun_of]) == 4  # none started twice


async def test_abort_by_filter_and_a_job_that_ended_meanwhile_is_no_error(client: httpx.AsyncClient, store: Store,
                                                                         runner: JobRunner) -> None:
    jobs = [runner.start("Slots", "ada") for _ in range(2)]
    dry = await _bulk(client, 200, action="abort", filter={"jobType": "Slots"}, dryRun=True)
    assert dry["count"] == 2
    started = await _bulk(client, action="abort", filter={"jobType": "Slots"})
    assert _ended(store, started["jobId"]).result["acted"] == 2
    for job in jobs:
        ended = _ended(store, job.id)
        assert ended.status is JobStatus.ABORTED and ended.aborted_by == "admin"
    # A target that ended between the plan and the action: the bulk job completes, saying so.
    done = store.create_job("Quick", "ada")
    store.complete_job(done.id)
    bulk = store.create_job(BULK_TYPE, "admin", {"action": "abort"}, owner=runner.owner)
    run_bulk(store, runner, bulk.id, BulkPlan("abort", [done.id]), "admin")
    record = store.require_job(bulk.id)
    assert record.status is JobStatus.COMPLETED and record.result["notActed"] == 1
    assert any("ended before its abort" in m.message for m in record.info_messages)


async def test_delete_refuses_active_jobs(client: httpx.AsyncClient, store: Store, runner: JobRunner) -> None:
    failed = _failed(store, "Quick", 3)
    active = runner.start("Slots", "ada")
    dry = await _bulk(client, 200, action="delete", filter={}, dryRun=True)
    assert dry["count"] == 3 and dry["leftOut"] == 1
    assert dry["leftOutSample"] == [{"id": active.id, "why": "still running: only a finished job can be deleted"}]
    started = await _bulk(client, action="delete", filter={})
    record = _ended(store, started["jobId"])
    assert record.result["acted"] == 3
    assert all(store.get_job(i) is None for i in failed) and store.require_job(active.id).is_active
    assert any(active.id in m.message and "left out" in m.message for m in record.warning_messages)


async def test_resume_acts_on_failed_jobs_only(client: httpx.AsyncClient, store: Store) -> None:
    failed = _failed(store, "Quick", 2)
    done = store.create_job("Quick", "ada")
    store.complete_job(done.id)
    dry = await _bulk(client, 200, action="resume", ids=[*failed, done.id], dryRun=True)
    assert dry["count"] == 2 and dry["leftOutSample"][0]["id"] == done.id
    started = await _bulk(client, action="resume", ids=[*failed, done.id])
    assert _ended(store, started["jobId"]).result["acted"] == 2
    resumed = [j for j in store.search_jobs(None, limit=100) if j.resumed_from]
    assert sorted(j.resumed_from or "" for j in resumed) == sorted(failed)


async def test_permission_hooks_apply_per_job(runner: JobRunner, store: Store) -> None:
    app = create_app(runner=runner, token=TOKEN, viewer_tokens=[VIEWER],
                     can_abort=lambda principal, job: job.params == {"mine": True})
    viewer = {"Authorization": f"Bearer {VIEWER}"}
    mine = store.create_job("Waits", "ada", {"mine": True})
    theirs = store.create_job("Waits", "bob", {"mine": False})
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://testserver") as client:
        dry = await _bulk(client, 200, viewer, action="abort", ids=[mine.id, theirs.id], dryRun=True)
        assert dry["ids"] == [mine.id] and dry["leftOutSample"][0]["id"] == theirs.id
        assert "not allowed for viewer" in dry["leftOutSample"][0]["why"]
        started = await _bulk(client, headers=viewer, action="abort", ids=[mine.id, theirs.id])
        assert _ended(store, started["jobId"]).author == "viewer"
        assert store.require_job(mine.id).status is JobStatus.ABORTING
        assert store.require_job(theirs.id).status is JobStatus.RUNNING
        refused = await _bulk(client, 403, viewer, action="delete", ids=[mine.id])  # no hook: admin only
        assert "admin" in refused["error"]
    app.state.deck.mux.close()
    for job in (mine, theirs):
        store.mark_aborted(job.id)


@pytest.mark.parametrize("body", [{"action": "rerun"}, {"action": "rerun", "ids": [], "filter": {}},
                                  {"action": "explode", "ids": []}, {"action": "abort", "ids": ["nope"]},
                                  {"action": "abort", "filter": {"status": ["sleepy"]}},
                                  {"action": "abort", "filter": {"q": "a\u0000b"}}])
async def test_bad_requests_are_400(client: httpx.AsyncClient, body: dict[str, Any]) -> None:
    await _bulk(client, 400, **body)


async def test_viewer_without_hooks_is_refused(client: httpx.AsyncClient) -> None:
    answer = await _bulk(client, 403, {"Authorization": f"Bearer {VIEWER}"}, action="rerun", filter={})
    assert "admin" in answer["error"]
