"""Re-running a job of an external type hands out the new job's report token, as a start does: without it
nobody could report on the new job, and a ``max_concurrent=1`` type would refuse every start until the reaper
failed the re-run."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from fastapi import FastAPI

from jobdeck import Client, ClientError, JobRunner, JobStatus, MemoryStore
from jobdeck.api import create_app
from tests.api.conftest import AUTH, PREFIX, TOKEN, live_server
from tests.conftest import wait_for

pytestmark = pytest.mark.anyio


@pytest.fixture
def runner() -> Iterator[JobRunner]:
    with MemoryStore(stale_after=60) as store:
        r = JobRunner(store, abort_grace=1)
        r.register_external("Remote", params={"size": 1})  # max_concurrent=1
        r.register("Local", lambda ctl: None)
        yield r
        r.shutdown(grace=2)


@pytest.fixture
def app(runner: JobRunner) -> FastAPI:
    return create_app(runner=runner, token=TOKEN)


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://testserver") as c:
        yield c


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_a_rerun_of_an_external_job_carries_the_new_jobs_report_token(client: httpx.AsyncClient,
                                                                           runner: JobRunner) -> None:
    first = (await client.post(f"{PREFIX}/start", json={"jobType": "Remote"}, headers=AUTH)).json()
    failed = await client.post(f"{PREFIX}/single/{first['id']}/fail", json={"message": "disk full"},
                               headers=bearer(first["reportToken"]))
    assert failed.status_code == 200
    rerun = await client.post(f"{PREFIX}/single/{first['id']}/rerun", json={"params": {"size": 2}}, headers=AUTH)
    assert rerun.status_code == 201, rerun.text
    again = rerun.json()
    assert again["rerunOf"] == first["id"] and again["params"] == {"size": 2}
    assert again["reportToken"].startswith("jdr1_")
    assert again["reportToken"] != first["reportToken"]
    # The token is the new job's: it reports and ends that job, and only that one.
    url = f"{PREFIX}/single/{again['id']}"
    report = await client.post(f"{url}/report", json={"progress": 0.5}, headers=bearer(again["reportToken"]))
    assert report.status_code == 200 and report.json()["status"] == "running"
    other = await client.post(f"{PREFIX}/single/{first['id']}/report", headers=bearer(again["reportToken"]))
    assert other.status_code == 403
    done = await client.post(f"{url}/complete", json={"result": 1}, headers=bearer(again["reportToken"]))
    assert done.status_code == 200 and runner.store.require_job(again["id"]).status is JobStatus.COMPLETED
    # The type allows one job at a time: since the re-run could end, the next start is not refused.
    assert (await client.post(f"{PREFIX}/start", json={"jobType": "Remote"}, headers=AUTH)).status_code == 201


async def test_a_rerun_of_a_local_job_has_no_report_token(client: httpx.AsyncClient, runner: JobRunner) -> None:
    first = (await client.post(f"{PREFIX}/start", json={"jobType": "Local"}, headers=AUTH)).json()
    assert "reportToken" not in first
    wait_for(lambda: runner.store.require_job(first["id"]).status.is_terminal, what="the local job to end")
    rerun = await client.post(f"{PREFIX}/single/{first['id']}/rerun", headers=AUTH)
    assert rerun.status_code == 201 and "reportToken" not in rerun.json()


async def test_the_schema_documents_the_token_on_start_and_rerun(client: httpx.AsyncClient) -> None:
    schema = (await client.get(f"{PREFIX}/openapi.json", headers=AUTH)).json()
    for path in (f"{PREFIX}/start", f"{PREFIX}/single/{{job_id}}/rerun"):
        ref = schema["paths"][path]["post"]["responses"]["201"]["content"]["application/json"]["schema"]["$ref"]
        assert "reportToken" in schema["components"]["schemas"][ref.rsplit("/", 1)[1]]["properties"], path


@pytest.mark.slow
def test_the_client_reruns_an_external_job_and_reports_with_the_token(app: FastAPI) -> None:
    with live_server(app) as url, Client(url, token=TOKEN, timeout=10) as client:
        job, token = client.start_external("Remote")
        with Client(url, token=token, timeout=10) as reporter:
            reporter._json("POST", f"/single/{job.id}/aborted")
        again, new_token = client.rerun_external(job.id, params={"size": 3})
        assert again.rerun_of == job.id and new_token != token
        with Client(url, token=new_token, timeout=10) as reporter:
            reporter._json("POST", f"/single/{again.id}/complete", json={"result": "ok"})
        assert client.job(again.id).status is JobStatus.COMPLETED
        local = client.start("Local")
        wait_for(lambda: client.job(local.id).status.is_terminal, what="the local job to end")
        with pytest.raises(ClientError, match="not external"):
            client.rerun_external(local.id)
