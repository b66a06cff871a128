"""Cached answers of /active, /past and /single/{id}/progress.

Against real SQLite files and a real Redis, with a second store object on the same file / prefix standing for
another process: a cached answer is reused while nothing changes, follows every change made elsewhere, shows a
change made through the API on the very next request, and its ``X-Jobdeck-Cursor`` never lies after the time
its query ran.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from jobdeck import MemoryStore
from jobdeck.api import create_app
from jobdeck.api._answers import AnswerCache, Build
from jobdeck.api._deck import Deck
from jobdeck.api._past import CURSOR_OVERLAP
from jobdeck.core.model import parse_time
from jobdeck.stores.base import Store
from jobdeck.stores.redis import RedisStore
from jobdeck.stores.sqlite import SQLiteStore
from tests.api.conftest import AUTH, PREFIX, TOKEN

pytestmark = pytest.mark.anyio

StoreFactory = Callable[[], Store]


@pytest.fixture(params=["sqlite", "redis"])
def open_shared(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreFactory]:
    """Opens store objects on one SQLite file or one Redis prefix: each one stands for another process."""
    opened: list[Store] = []
    if request.param == "redis":
        url = request.getfixturevalue("redis_url")
        prefix = f"jobdeck-test-{uuid.uuid4().hex[:10]}"

        def make() -> Store:
            opened.append(RedisStore(url, prefix=prefix))
            return opened[-1]
    else:
        def make() -> Store:
            opened.append(SQLiteStore(tmp_path / "jobs.db"))
            return opened[-1]
    yield make
    for store in opened:
        store.close()
    if request.param == "redis":
        cleaner = RedisStore(url, prefix=prefix)
        cleaner.delete_all()
        cleaner.close()


class Api:
    """An in-process client of an app on ``store``, with that app's Deck at hand."""

    def __init__(self, client: httpx.AsyncClient, deck: Deck) -> None:
        self.client = client
        self.deck = deck

    async def get(self, path: str) -> httpx.Response:
        response = await self.client.get(f"{PREFIX}{path}", headers=AUTH)
        assert response.status_code == 200, response.text
        return response

    async def jobs(self, path: str) -> dict[str, dict[str, Any]]:
        return {job["id"]: job for job in (await self.get(path)).json()}


@pytest.fixture
async def api(open_shared: StoreFactory) -> AsyncIterator[Api]:
    app = create_app(store=open_shared(), token=TOKEN)
    deck: Deck = app.state.deck
    # Nothing here may depend on the maximum age: answers stay valid until the store changes.
    deck.answers.max_age = 3600.0
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://testserver") as client:
        try:
            yield Api(client, deck)
        finally:
            deck.mux.close()  # stops the event reader the list requests started


async def eventually(check: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> Any:
    """``wait_for`` for async checks: the first truthy result of ``await check()`` before the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.02)


async def test_an_unchanged_list_is_built_once_and_follows_changes_made_elsewhere(
        api: Api, open_shared: StoreFactory) -> None:
    other = open_shared()
    job = other.create_job("Report", "someone")
    first = await api.jobs("/active?messages=last:3")
    assert first[job.id]["progress"] == 0.0
    builds = api.deck.answers.builds
    for _ in range(5):
        assert await api.jobs("/active?messages=last:3") == first
    assert api.deck.answers.builds == builds  # served from the cache: no store query
    assert api.deck.answers.hits >= 5

    other.update_progress(job.id, 0.5)
    other.flush()
    await eventually(lambda: _field(api, "/active?messages=last:3", job.id, "progress", 0.5), what="progress")
    other.add_info_message(job.id, "halfway there")
    await eventually(lambda: _has_message(api, "/active?messages=last:3", job.id, "halfway there"),
                     what="a new message")
    other.complete_job(job.id, {"done": True})
    await eventually(lambda: _absent(api, "/active", job.id), what="the job to leave /active")
    past = await eventually(lambda: _field(api, "/past", job.id, "status", "completed"), what="/past")
    assert past["result"] == {"done": True}


async def _field(api: Api, path: str, job_id: str, name: str, value: Any) -> dict[str, Any] | None:
    job = (await api.jobs(path)).get(job_id)
    return job if job is not None and job[name] == value else None


async def _has_message(api: Api, path: str, job_id: str, text: str) -> bool:
    job = (await api.jobs(path)).get(job_id)
    return job is not None and any(m["message"] == text for m in job["infoMessages"])


async def _absent(api: Api, path: str, job_id: str) -> bool:
    return job_id not in await api.jobs(path)


async def test_one_job_answer_follows_changes_made_elsewhere(api: Api, open_shared: StoreFactory) -> None:
    other = open_shared()
    job = other.create_job("Report", "someone")
    path = f"/single/{job.id}/progress?messages=all"
    assert (await api.get(path)).json()["status"] == "running"
    other.add_warning_message(job.id, "disk almost full")

    async def warned() -> bool:
        return [m["message"] for m in (await api.get(path)).json()["warningMessages"]] == ["disk almost full"]

    await eventually(warned, what="the warning")
    missing = await api.client.get(f"{PREFIX}/single/{uuid.uuid4()}/progress", headers=AUTH)
    assert missing.status_code == 404


async def test_an_abort_through_the_api_shows_on_the_next_request(api: Api, open_shared: StoreFactory) -> None:
    other = open_shared()
    jobs = [other.create_job("Report", "someone") for _ in range(6)]
    before = await api.jobs("/active?messages=none")
    assert {before[j.id]["status"] for j in jobs} == {"running"}

    for n, job in enumerate(jobs[:5]):  # several times: the event may outrun the next request now and then
        aborted = await api.client.post(f"{PREFIX}/single/{job.id}/abort", json={"reason": f"stop {n}"},
                                        headers=AUTH)
        assert aborted.status_code == 202
        after = await api.jobs("/active?messages=none")  # no waiting: read-your-writes
        assert after[job.id]["status"] == "aborting" and after[job.id]["abortReason"] == f"stop {n}"
        assert after[jobs[-1].id]["status"] == "running"

    everything = await api.client.post(f"{PREFIX}/abort-all", json={}, headers=AUTH)
    assert everything.status_code == 202
    assert {job["status"] for job in (await api.jobs("/active?messages=none")).values()} == {"aborting"}
    assert (await api.get(f"/single/{jobs[-1].id}/progress")).json()["status"] == "aborting"


async def test_the_past_cursor_is_the_time_of_the_query_that_built_the_answer(
        api: Api, open_shared: StoreFactory) -> None:
    other = open_shared()
    early = other.create_job("Report", "someone")
    other.complete_job(early.id)
    asked = time.time()
    first = await api.get("/past?messages=none")
    answered = time.time()
    cursor = parse_time(first.headers["X-Jobdeck-Cursor"])
    # Millisecond text: allow the rounding of the last digit either way.
    assert asked - CURSOR_OVERLAP - 0.001 <= cursor <= answered - CURSOR_OVERLAP + 0.001
    assert [job["id"] for job in first.json()] == [early.id]

    builds = api.deck.answers.builds
    again = await api.get("/past?messages=none")
    assert api.deck.answers.builds == builds  # the cached answer ...
    assert again.headers["X-Jobdeck-Cursor"] == first.headers["X-Jobdeck-Cursor"]  # ... with its own cursor
    assert parse_time(again.headers["X-Jobdeck-Cursor"]) <= answered - CURSOR_OVERLAP + 0.001

    late = other.create_job("Report", "someone")
    other.fail_job(late.id, "broke")

    async def rebuilt() -> httpx.Response | None:
        response = await api.get("/past?messages=none")
        return response if late.id in {job["id"] for job in response.json()} else None

    newer = await eventually(rebuilt, what="the failed job in /past")
    assert cursor < parse_time(newer.headers["X-Jobdeck-Cursor"]) <= time.time() - CURSOR_OVERLAP + 0.001
    # Passing the first cursor back finds the job that ended after it.
    since = await api.jobs(f"/past?messages=none&startFrom={first.headers['X-Jobdeck-Cursor']}")
    assert late.id in since


async def test_concurrent_requests_share_one_build(api: Api, open_shared: StoreFactory) -> None:
    other = open_shared()
    for n in range(20):
        job = other.create_job("Report", "someone", {"n": n})
        for m in range(50):
            other.add_info_message(job.id, f"message {m}")
    other.flush()  # no buffered write may land (and change the version) while the requests below run
    await api.get("/active?messages=all")  # starts the event reader
    other.create_job("Report", "someone")  # a change: the next requests must rebuild
    await eventually(lambda: _count(api, "/active?messages=all", 21), what="the new job")
    other.create_job("Report", "someone")
    await eventually(lambda: _version_moved(api), what="the change to arrive")
    builds = api.deck.answers.builds
    answers = await asyncio.gather(*(api.get("/active?messages=all") for _ in range(20)))
    assert {len(response.json()) for response in answers} == {22}
    assert len({response.content for response in answers}) == 1
    assert api.deck.answers.builds == builds + 1


async def _count(api: Api, path: str, expected: int) -> bool:
    return len(await api.jobs(path)) == expected


async def _version_moved(api: Api) -> bool:
    # The answer's key holds the request's language: English here (no Accept-Language).
    cached = api.deck.answers.fresh(("active", None, None, "en"), await api.deck.version())
    return cached is None


async def test_a_heartbeat_shows_within_the_maximum_age(api: Api, open_shared: StoreFactory) -> None:
    api.deck.answers.max_age = 0.2
    other = open_shared()
    job = other.create_job("Report", "someone")
    assert (await api.jobs("/active"))[job.id]["owner"] is None
    other.heartbeat(job.id, "host:1:abc")  # emits no event: only the maximum age brings it in
    await eventually(lambda: _field(api, "/active", job.id, "owner", "host:1:abc"), what="the heartbeat")


async def test_on_the_memory_store_a_direct_change_shows_at_once(client: httpx.AsyncClient, app: FastAPI,
                                                                 store: MemoryStore) -> None:
    app.state.deck.answers.max_age = 3600.0
    job = store.create_job("Report", "someone")
    path = f"{PREFIX}/active?messages=last:1"
    first = await client.get(path, headers=AUTH)
    builds = app.state.deck.answers.builds
    assert (await client.get(path, headers=AUTH)).content == first.content
    assert app.state.deck.answers.builds == builds
    store.update_progress(job.id, 0.25)  # the memory store's event cursor is exact: no waiting
    assert (await client.get(path, headers=AUTH)).json()[0]["progress"] == 0.25
    assert app.state.deck.answers.builds == builds + 1


# ---------------------------------------------------------------------- the cache on its own


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def builder(body: bytes, calls: list[int]) -> Build:
    async def build() -> tuple[bytes, dict[str, str] | None]:
        calls.append(1)
        return body, {"X-Test": str(len(calls))}
    return build


async def test_an_answer_is_kept_per_version_and_maximum_age() -> None:
    clock = Clock()
    cache = AnswerCache(max_age=1.0, clock=clock)
    calls: list[int] = []
    first = await cache.get("k", 1, builder(b"[1]", calls))
    assert (first.body, first.headers, len(calls)) == (b"[1]", {"X-Test": "1"}, 1)
    clock.now += 0.9
    assert await cache.get("k", 1, builder(b"[2]", calls)) is first
    assert (await cache.get("k", 2, builder(b"[2]", calls))).body == b"[2]"  # a new version
    assert len(calls) == 2
    clock.now += 1.5
    assert (await cache.get("k", 2, builder(b"[3]", calls))).body == b"[3]"  # too old
    assert (await cache.get("other", 2, builder(b"[4]", calls))).body == b"[4]"  # keys are separate
    assert len(calls) == 4 and len(cache) == 2


async def test_waiters_share_a_build_and_build_themselves_when_it_fails() -> None:
    cache = AnswerCache()
    release = asyncio.Event()
    calls: list[int] = []

    async def slow() -> tuple[bytes, dict[str, str] | None]:
        calls.append(1)
        await release.wait()
        return b"[]", None

    tasks = [asyncio.ensure_future(cache.get("k", 1, slow)) for _ in range(10)]
    await asyncio.sleep(0)
    release.set()
    answers = await asyncio.gather(*tasks)
    assert len(calls) == 1 and all(answer is answers[0] for answer in answers)

    async def broken() -> tuple[bytes, dict[str, str] | None]:
        calls.append(1)
        await asyncio.sleep(0)
        raise RuntimeError("store down")

    results = await asyncio.gather(*(cache.get("k", 2, broken) for _ in range(3)), return_exceptions=True)
    assert all(isinstance(r, RuntimeError) for r in results)
    assert len(calls) == 1 + 3  # each waiter tried (and met the error) itself, none hung
    assert (await cache.get("k", 1, slow)) is answers[0]  # a failed build leaves the last good answer alone


async def test_size_is_bounded_and_a_huge_answer_is_not_kept() -> None:
    cache = AnswerCache(max_bytes=4000)
    calls: list[int] = []
    for n in range(50):
        await cache.get(n, 1, builder(b"x" * 300, calls))
    assert cache.size <= 4000 and 0 < len(cache) < 50
    assert cache.fresh(49, 1) is not None and cache.fresh(0, 1) is None  # the least recently used went
    await cache.get("huge", 1, builder(b"x" * 1001, calls))
    assert cache.fresh("huge", 1) is None and cache.size <= 4000


async def test_answers_past_their_age_do_not_pile_up_under_churn() -> None:
    """One answer per job a client once asked for (``/single/{id}/progress``) must not accumulate up to the byte
    bound as jobs come and go: an answer older than ``max_age`` is never served again, so it is dropped."""
    now = [0.0]
    cache = AnswerCache(max_bytes=1 << 30, max_age=1.0, clock=lambda: now[0])

    def body(text: str) -> Build:
        async def build() -> tuple[bytes, dict[str, str] | None]:
            return text.encode() * 100, None
        return build

    for i in range(1000):  # a new job every 10 ms, each read once
        now[0] = i * 0.01
        await cache.get(("progress", str(i)), 1, body(str(i)))
    assert len(cache) <= 102  # the answers of the last second, not one per job ever read
    assert cache.size == sum(len(str(i)) * 100 for i in range(1000 - len(cache), 1000))
    fresh = await cache.get(("progress", "999"), 1, body("rebuilt"))
    assert fresh.body == b"999" * 100  # what is young enough is still served
