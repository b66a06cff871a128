"""Values beyond what JSON readers hold (integers past 64 bits, ...) on every store: refused at the door with a 400
naming the field, a handler's unencodable result fails its job, and values already stored by an older version
degrade on their own instead of turning every listing into a 500."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from jobdeck import InvalidArgumentError, JobRunner, JobStatus, PipelineController, Store
from jobdeck.api import create_app
from tests.api.conftest import AUTH, PREFIX, TOKEN
from tests.stores.conftest import BACKENDS, Backend, _backend

pytestmark = pytest.mark.anyio

BIG = 1237940039285380274899124224


def plant(backend: Backend, store: Store, job_id: str, field: str, value: str) -> None:
    """Write ``value`` (JSON text) into a stored job's params or result behind the store's back, as an older
    version of jobdeck that let integers beyond 64 bits in would have written it."""
    if backend.name == "memory":
        # An older memory store kept the caller's own object, which a handler could change afterwards.
        with store._lock:  # type: ignore[attr-defined]
            setattr(store._jobs[job_id], field, json.loads(value))  # type: ignore[attr-defined]
    elif backend.name == "sqlite":
        with sqlite3.connect(backend.location) as conn:
            conn.execute(f"UPDATE jobs SET {field} = ? WHERE id = ?", (value, job_id))
    elif backend.name == "postgres":
        import psycopg

        url, schema = backend.location.rsplit("#", 1)
        with psycopg.connect(url, autocommit=True) as pg:
            pg.execute(f'UPDATE "{schema}".jobdeck_jobs SET {field} = %s WHERE id = %s', (value, job_id))
    else:
        url, prefix = backend.location.rsplit("#", 1)
        client = redis.Redis.from_url(url)
        client.hset(f"{prefix}:job:{job_id}", field, value)
        client.close()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    yield from _backend(request.param, request, tmp_path)


@pytest.fixture
def runner(backend: Backend) -> Iterator[JobRunner]:
    r = JobRunner(backend.open(), abort_grace=5)

    def huge(ctl: PipelineController) -> dict[str, int]:
        return {"n": 2**70}

    def waits(ctl: PipelineController, questions: Any = None) -> None:
        while True:
            ctl.check_abort()
            time.sleep(0.01)

    r.register("Huge", huge)
    r.register("Waits", waits, max_concurrent=5)
    yield r
    r.shutdown(grace=5)


@pytest.fixture
async def client(runner: JobRunner) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(runner=runner, token=TOKEN)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://testserver") as c:
        yield c


async def test_start_refuses_an_integer_beyond_64_bits_and_creates_nothing(client: httpx.AsyncClient,
                                                                           runner: JobRunner) -> None:
    body = b'{"jobType": "Waits", "params": {"questions": 1237940039285380274899124224}}'
    response = await client.post(f"{PREFIX}/start", content=body,
                                 headers={**AUTH, "Content-Type": "application/json"})
    assert response.status_code == 400, response.text
    assert "params.questions" in response.json()["error"] and "64-bit" in response.json()["error"]
    assert runner.store.get_active_jobs() == [] and runner.store.get_past_jobs() == []


def test_the_store_refuses_it_too(backend: Backend) -> None:
    store = backend.open()
    with pytest.raises(InvalidArgumentError, match=r"params.q\[0\]: integer"):
        store.create_job("T", "me", {"q": [BIG]})
    job = store.create_job("T", "me")
    with pytest.raises(InvalidArgumentError, match=r"result\.n: integer"):
        store.complete_job(job.id, {"n": 2**70})
    assert store.get_status(job.id) is JobStatus.RUNNING  # nothing changed
    assert store.complete_job(job.id, {"n": 2**63})
    assert store.require_job(job.id).result == {"n": 2**63}


async def test_a_handler_result_beyond_64_bits_fails_its_job_clearly(client: httpx.AsyncClient,
                                                                     runner: JobRunner) -> None:
    response = await client.post(f"{PREFIX}/start", json={"jobType": "Huge"}, headers=AUTH)
    assert response.status_code == 201
    job = runner.wait(response.json()["id"], timeout=10)
    assert job.status is JobStatus.FAILED
    assert any("a result that cannot be stored" in m.message and "result.n: integer 1180591620717411303424" in m.message
               for m in job.error_messages), job.error_messages
    listing = await client.get(f"{PREFIX}/past", headers=AUTH)
    assert listing.status_code == 200 and listing.json()[0]["status"] == "failed"


async def test_values_stored_by_an_older_version_degrade_alone(client: httpx.AsyncClient, runner: JobRunner,
                                                               backend: Backend) -> None:
    store = runner.store
    done = store.create_job("Old", "me", {"fine": 1})
    store.complete_job(done.id, {"ok": True})
    plant(backend, store, done.id, "result", f'{{"n": {BIG}, "ok": true}}')
    active = store.create_job("Old", "me")
    plant(backend, store, active.id, "params", f'{{"questions": [{BIG}, 3]}}')
    store.add_info_message(active.id, "still here")

    for query in ("", "?messages=none"):
        past = await client.get(f"{PREFIX}/past{query}", headers=AUTH)
        assert past.status_code == 200, past.text
        assert past.json()[0]["result"] == {"n": str(BIG), "ok": True}  # exact digits, as a string
        current = await client.get(f"{PREFIX}/active{query}", headers=AUTH)
        assert current.status_code == 200, current.text
        assert current.json()[0]["params"] == {"questions": [str(BIG), 3]}
    single = await client.get(f"{PREFIX}/single/{active.id}/progress", headers=AUTH)
    assert single.status_code == 200 and single.json()["infoMessages"][0]["message"] == "still here"
    assert single.json()["params"]["questions"][0] == str(BIG)
    # The job itself still works: it can be aborted and finished like any other.
    abort = await client.post(f"{PREFIX}/single/{active.id}/abort", json={}, headers=AUTH)
    assert abort.status_code == 202
    assert store.mark_aborted(active.id)
    again = await client.get(f"{PREFIX}/past", headers=AUTH)
    assert again.status_code == 200 and {j["id"] for j in again.json()} == {done.id, active.id}
