"""A NUL character (U+0000) in text a request gives as input is the same 400 naming the field on every store.

PostgreSQL cannot hold the character in text, so these requests used to be answered 200/201 by the memory,
SQLite and Redis stores and 503 "store unreachable" by PostgreSQL. The rule lives at the API's input parsing
(``jobdeck.api._serialize.refuse_nul``): the store is never asked, and the next request is served as usual.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from jobdeck import JobRunner
from jobdeck.api import create_app
from jobdeck.stores import Store
from tests.api.conftest import AUTH, PREFIX, TOKEN, register_test_types, store_of
from tests.conftest import wait_for

pytestmark = pytest.mark.anyio

STORES = ["memory", "sqlite", "redis", pytest.param("postgres", marks=pytest.mark.postgres)]


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
    app = create_app(runner=runner, token=TOKEN)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://testserver") as c:
        yield c
    app.state.deck.mux.close()  # what the lifespan would do: stop reading the store's events before it closes


QUERIES = [
    ("/search?q=a%00b", "q"),
    ("/search?jobType=a%00b", "jobType"),
    ("/active?jobType=a%00b", "jobType"),
    ("/active?jobType=Quick&jobType=a%00b", "jobType"),
    ("/past?jobType=a%00b", "jobType"),
]
BODIES: list[tuple[dict[str, Any], str]] = [
    ({"jobType": "Quick", "author": "a\u0000b"}, "author"),
    ({"jobType": "a\u0000b"}, "jobType"),
    ({"feature": "a\u0000b"}, "feature"),
]


@pytest.mark.parametrize(("path", "field"), QUERIES)
async def test_a_nul_in_a_query_parameter_is_a_400_naming_it(client: httpx.AsyncClient, path: str,
                                                             field: str) -> None:
    response = await client.get(PREFIX + path, headers=AUTH)
    assert response.status_code == 400, response.text
    assert response.json() == {"error": f"{field} 'a\\x00b' contains a NUL character (U+0000), which no store keeps",
                               "field": field}
    assert (await client.get(PREFIX + path.replace("%00", ""), headers=AUTH)).status_code == 200


@pytest.mark.parametrize(("body", "field"), BODIES)
async def test_a_nul_in_a_start_is_a_400_naming_the_field(client: httpx.AsyncClient, runner: JobRunner,
                                                          body: dict[str, Any], field: str) -> None:
    response = await client.post(f"{PREFIX}/start", json=body, headers=AUTH)
    assert response.status_code == 400, response.text
    assert response.json()["error"].startswith(f"{field}: ") and "NUL character" in response.json()["error"]
    assert runner.store.get_active_jobs() == [] and runner.store.get_past_jobs() == []  # nothing was created
    # The store serves the next request as usual.
    started = await client.post(f"{PREFIX}/start", json={"jobType": "Quick", "author": "ab"}, headers=AUTH)
    assert started.status_code == 201, started.text
    job_id = started.json()["id"]
    wait_for(lambda: runner.store.require_job(job_id).status.is_terminal, what="the job to end")
    rerun = await client.post(f"{PREFIX}/single/{job_id}/rerun", json={"author": "x\u0000"}, headers=AUTH)
    assert rerun.status_code == 400 and rerun.json()["error"].startswith("author: "), rerun.text
