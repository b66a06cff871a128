"""``GET /past`` paging on every store: ``limit`` + ``before`` + ``X-Jobdeck-Next``, filters and message views
pushed into the store, the unlimited answer streamed, and bad cursors answered 400."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from jobdeck.api import _past as past_module
from jobdeck.api import create_app
from jobdeck.core.model import PastCursor
from jobdeck.stores import Store
from tests.stores.conftest import BACKENDS, Backend, _backend
from tests.stores.test_behaviour_history import fill

from .conftest import AUTH, PREFIX, TOKEN

pytestmark = pytest.mark.anyio


@pytest.fixture(params=BACKENDS)
def history_backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    yield from _backend(request.param, request, tmp_path)


@pytest.fixture
def history(history_backend: Backend) -> Store:
    return history_backend.open()


@pytest.fixture
async def http(history: Store) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(history, token=TOKEN)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://testserver") as c:
        yield c


async def walk(http: httpx.AsyncClient, params: dict[str, Any]) -> list[list[dict[str, Any]]]:
    pages = []
    query = dict(params)
    for _ in range(100):
        response = await http.get(f"{PREFIX}/past", params=query, headers=AUTH)
        assert response.status_code == 200, response.text
        pages.append(response.json())
        following = response.headers.get("X-Jobdeck-Next")
        if following is None:
            assert len(pages[-1]) < params["limit"]
            return pages
        assert len(pages[-1]) == params["limit"]
        query["before"] = following
    raise AssertionError("paging did not end")


async def test_pages_walk_the_history_with_the_next_header(http: httpx.AsyncClient, history: Store) -> None:
    ids = fill(history, 11)
    pages = await walk(http, {"limit": 4, "messages": "none"})
    assert [len(p) for p in pages] == [4, 4, 3]
    assert [j["id"] for p in pages for j in p] == ids[::-1]
    assert all(j["infoMessages"] == [] for p in pages for j in p)
    exact = await walk(http, {"limit": 11, "messages": "none"})
    assert [len(p) for p in exact] == [11, 0]  # a full last page: one more (empty) request tells the end


async def test_filters_and_message_views_in_pages(http: httpx.AsyncClient, history: Store) -> None:
    fill(history, 12, messages=3)
    pages = await walk(http, {"limit": 2, "jobType": "A", "statuses": "completed,failed", "messages": "last:1"})
    jobs = [j for p in pages for j in p]
    expected = history.get_past_jobs("A", ["completed", "failed"], messages=False)
    assert [j["id"] for j in jobs] == [j.id for j in expected] and jobs
    for job in jobs:
        assert job["jobType"] == "A" and job["status"] in ("completed", "failed")
        assert [m["message"] for m in job["infoMessages"]] == [f"info {job['params']['i']}.2"]


async def test_unlimited_answer_is_streamed_in_chunks_with_every_message(
        http: httpx.AsyncClient, history: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    ids = fill(history, 10, messages=2)
    small = await http.get(f"{PREFIX}/past", headers=AUTH)  # one chunk: answered whole
    assert "content-length" in small.headers
    monkeypatch.setattr(past_module, "STREAM_CHUNK_ALL", 3)
    response = await http.get(f"{PREFIX}/past?jobType=A", headers=AUTH)
    assert response.status_code == 200 and "content-length" not in response.headers  # chunked: streamed
    assert response.headers["content-type"] == "application/json"
    assert "X-Jobdeck-Cursor" in response.headers
    jobs = response.json()
    assert [j["id"] for j in jobs] == ids[-2::-2]  # type A: the even ones
    assert all(len(j["infoMessages"]) == 2 for j in jobs)
    streamed_all = (await http.get(f"{PREFIX}/past", headers=AUTH)).json()
    assert [j["id"] for j in streamed_all] == ids[::-1]
    assert streamed_all == small.json()
    monkeypatch.setattr(past_module, "STREAM_CHUNK_ALL", 5)  # exactly two full chunks, then an empty read
    assert [j["id"] for j in (await http.get(f"{PREFIX}/past", headers=AUTH)).json()] == ids[::-1]


@pytest.mark.parametrize("bad", ["yesterday", "1.5_not-a-uuid", "inf_3f2a4f0e-0c5b-4c1e-9a57-1f1b1f0f0f0f", "",
                                 "x" * 200])
async def test_bad_cursor_is_a_clear_400(http: httpx.AsyncClient, history: Store, bad: str) -> None:
    fill(history, 2)
    response = await http.get(f"{PREFIX}/past", params={"before": bad, "limit": "1"}, headers=AUTH)
    assert response.status_code == 400
    assert "before" in response.json()["error"] and "cursor" in response.json()["error"]


async def test_a_cursor_of_a_job_that_went_still_pages(http: httpx.AsyncClient, history: Store) -> None:
    ids = fill(history, 5)
    gone = PastCursor.of(history.get_past_jobs(messages=False)[1])
    history.cleanup_past_jobs("B")  # removes the job the cursor names (ids[3] is of type B)
    response = await http.get(f"{PREFIX}/past", params={"before": str(gone), "limit": "10"}, headers=AUTH)
    assert [j["id"] for j in response.json()] == [ids[2], ids[0]]


async def test_summary_answers_counts_and_the_newest_runs_per_type(http: httpx.AsyncClient, history: Store) -> None:
    ids = fill(history, 10, messages=2)
    response = await http.get(f"{PREFIX}/past/summary", params={"runs": 2}, headers=AUTH)
    assert response.status_code == 200, response.text
    body = response.json()
    assert [s["jobType"] for s in body] == ["A", "B"]
    a = body[0]
    assert a["counts"] == {"completed": 2, "failed": 1, "aborted": 2} and a["total"] == 5
    assert [j["id"] for j in a["recent"]] == [ids[8], ids[6]]
    assert all(j["infoMessages"] == [] and j["status"] in ("completed", "failed", "aborted") for j in a["recent"])
    default = (await http.get(f"{PREFIX}/past/summary", headers=AUTH)).json()
    assert [len(s["recent"]) for s in default] == [5, 5]  # the default (20) is more than there are
    for bad in ("-1", "201", "x"):
        answer = await http.get(f"{PREFIX}/past/summary", params={"runs": bad}, headers=AUTH)
        assert answer.status_code == 400 and "runs" in answer.json()["error"], answer.text
    assert (await http.get(f"{PREFIX}/past/summary")).status_code == 401
