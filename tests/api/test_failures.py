"""GET /failures on every store: failed jobs grouped by cause, newest group first, and bad input refused."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from jobdeck import JobRunner
from jobdeck.api import create_app
from jobdeck.core.model import format_time
from jobdeck.stores import Store
from tests.api.conftest import AUTH, PREFIX, TOKEN, register_test_types, store_of

pytestmark = pytest.mark.anyio

STORES = ["memory", "sqlite", "redis", pytest.param("postgres", marks=pytest.mark.postgres)]
VIEWER = "failures-viewer-2b7c"


@pytest.fixture(params=STORES)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    yield from store_of(request.param, request, tmp_path)


@pytest.fixture
def runner(store: Store) -> Iterator[JobRunner]:
    r = JobRunner(store, abort_grace=2)
    register_test_types(r)
    yield r
    r.shutdown(grace=5)


@pytest.fixture
async def client(runner: JobRunner) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(runner=runner, token=TOKEN, viewer_tokens=[VIEWER])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://testserver") as c:
        yield c
    app.state.deck.mux.close()


def _failed(store: Store, job_type: str, message: str) -> str:
    job = store.create_job(job_type, "admin")
    store.fail_job(job.id, message)
    return job.id


async def test_groups_newest_first_with_counts_times_types_and_ids(client: httpx.AsyncClient, store: Store,
                                                                  runner: JobRunner) -> None:
    boom = [_failed(store, "Import", f"KeyError: 'row-{n}'") for n in range(3)]
    ran = runner.start("Boom", "admin")  # a handler that raises: the runner records ``RuntimeError: ...``
    runner.wait(ran.id, timeout=10)
    answer = await client.get(f"{PREFIX}/failures", headers={"Authorization": f"Bearer {VIEWER}"})  # viewers read
    assert answer.status_code == 200, answer.text
    groups = answer.json()
    assert [(g["signature"], g["count"]) for g in groups] == [
        ("RuntimeError: exploded on purpose", 1), ("KeyError: '<str>'", 3)]
    assert groups[0]["jobIds"] == [ran.id] and groups[0]["jobTypes"] == ["Boom"]
    assert groups[0]["message"] == "RuntimeError: exploded on purpose"
    keys = groups[1]
    assert keys["jobIds"] == list(reversed(boom)) and keys["message"] == "KeyError: 'row-2'"
    ends = [store.require_job(i, messages=False).end_time for i in boom]
    assert (keys["firstSeen"], keys["lastSeen"]) == (format_time(ends[0]), format_time(ends[-1]))


async def test_filters_since_job_type_limit_and_ids(client: httpx.AsyncClient, store: Store) -> None:
    first = _failed(store, "Import", "OSError: disk 1 full")
    cut = store.require_job(first, messages=False).end_time
    assert cut is not None
    while time.time() <= cut + 0.003:  # the later ones end after the cut at the API's millisecond precision
        pass
    later = [_failed(store, "Import", f"OSError: disk {n} full") for n in range(2, 5)]
    _failed(store, "Export", "ValueError: bad 7")
    by_type = (await client.get(f"{PREFIX}/failures", params={"jobType": "Import"}, headers=AUTH)).json()
    assert [(g["signature"], g["count"]) for g in by_type] == [("OSError: disk <n> full", 4)]
    since = (await client.get(f"{PREFIX}/failures", params={"jobType": "Import", "since": format_time(cut + 0.001),
                                                             "ids": 2}, headers=AUTH)).json()
    assert since[0]["count"] == 3 and since[0]["jobIds"] == list(reversed(later))[:2]
    one = (await client.get(f"{PREFIX}/failures", params={"limit": 1}, headers=AUTH)).json()
    assert [g["signature"] for g in one] == ["ValueError: bad <n>"]


@pytest.mark.parametrize(("query", "named"), [("since=yesterday", "since"), ("limit=0", "limit"),
                                              ("limit=501", "limit"), ("ids=x", "ids"), ("jobType=a%00b", "jobType")])
async def test_bad_input_is_a_400_naming_it(client: httpx.AsyncClient, query: str, named: str) -> None:
    answer = await client.get(f"{PREFIX}/failures?{query}", headers=AUTH)
    assert answer.status_code == 400 and named in answer.json()["error"]


async def test_needs_a_credential(client: httpx.AsyncClient) -> None:
    assert (await client.get(f"{PREFIX}/failures")).status_code == 401
