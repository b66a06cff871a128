"""Search, id-prefix lookup, re-run, param validation and the messages download, in-process."""

from __future__ import annotations

import json
from typing import Annotated

import httpx
import pytest

from jobdeck import JobRunner, PipelineController
from jobdeck.core.model import JobStatus
from jobdeck.core.params import Param

from .conftest import AUTH, PREFIX

pytestmark = pytest.mark.anyio


async def start(client: httpx.AsyncClient, job_type: str, **params: object) -> dict[str, object]:
    response = await client.post(f"{PREFIX}/start", json={"jobType": job_type, "params": params}, headers=AUTH)
    assert response.status_code == 201, response.text
    data: dict[str, object] = response.json()
    return data


async def test_rerun_starts_the_same_type_with_the_same_params(client: httpx.AsyncClient, runner: JobRunner) -> None:
    first = await start(client, "Quick", n=7)
    runner.wait(str(first["id"]), timeout=10)
    again = await client.post(f"{PREFIX}/single/{first['id']}/rerun", headers=AUTH)
    assert again.status_code == 201, again.text
    job = again.json()
    assert (job["jobType"], job["params"], job["rerunOf"]) == ("Quick", {"n": 7}, first["id"])
    assert job["id"] != first["id"]
    runner.wait(job["id"], timeout=10)
    edited = await client.post(f"{PREFIX}/single/{job['id']}/rerun", json={"params": {"n": 9}}, headers=AUTH)
    assert edited.status_code == 201 and edited.json()["params"] == {"n": 9}
    stored = await client.get(f"{PREFIX}/single/{edited.json()['id']}/progress", headers=AUTH)
    assert stored.json()["rerunOf"] == job["id"]


async def test_rerun_answers_like_start(client: httpx.AsyncClient, runner: JobRunner) -> None:
    missing = await client.post(f"{PREFIX}/single/00000000-0000-4000-8000-000000000000/rerun", headers=AUTH)
    assert missing.status_code == 404
    waiting = await start(client, "Waits")
    busy = await client.post(f"{PREFIX}/single/{waiting['id']}/rerun", headers=AUTH)
    assert busy.status_code == 409 and busy.json()["activeJobIds"] == [waiting["id"]]
    bad = await client.post(f"{PREFIX}/single/{waiting['id']}/rerun", json={"params": {"step": "x"}},
                            headers=AUTH)
    assert bad.status_code == 400 and bad.json()["field"] == "step"
    unauthenticated = await client.post(f"{PREFIX}/single/{waiting['id']}/rerun")
    assert unauthenticated.status_code == 401


async def test_params_are_validated_before_a_job_exists(client: httpx.AsyncClient, runner: JobRunner) -> None:
    def sized(ctl: PipelineController,
              questions: Annotated[int, Param(ge=1, le=50, description="How many questions")] = 6,
              mode: Annotated[str, Param(choices=["fast", "thorough"])] = "fast") -> None:
        return None

    runner.register("Sized", sized)
    for params, field in (({"questions": -5}, "questions"), ({"questions": 51}, "questions"),
                          ({"questions": "many"}, "questions"), ({"mode": "slow"}, "mode"), ({"nope": 1}, "nope")):
        response = await client.post(f"{PREFIX}/start", json={"jobType": "Sized", "params": params}, headers=AUTH)
        assert response.status_code == 400, response.text
        assert response.json()["field"] == field and field in response.json()["error"]
    assert runner.store.search_jobs(job_type="Sized") == []
    types = {t["jobType"]: t for t in (await client.get(f"{PREFIX}/types", headers=AUTH)).json()}
    props = types["Sized"]["paramsSchema"]["properties"]
    assert props["questions"] == {"default": 6, "description": "How many questions", "maximum": 50, "minimum": 1,
                                  "title": "Questions", "type": "integer"}
    assert props["mode"]["enum"] == ["fast", "thorough"]
    ok = await start(client, "Sized", questions=50, mode="thorough")
    assert runner.wait(str(ok["id"]), timeout=10).status is JobStatus.COMPLETED


async def test_lookup_by_prefix(client: httpx.AsyncClient, runner: JobRunner) -> None:
    job = await start(client, "Quick")
    found = await client.get(f"{PREFIX}/lookup", params={"id": str(job["id"])[:6]}, headers=AUTH)
    assert found.status_code == 200 and found.json() == {"id": job["id"]}
    short = await client.get(f"{PREFIX}/lookup", params={"id": "abc"}, headers=AUTH)
    assert short.status_code == 400 and "at least 6" in short.json()["error"]
    other = "0" * 8 if not str(job["id"]).startswith("0" * 8) else "f" * 8
    assert (await client.get(f"{PREFIX}/lookup", params={"id": other}, headers=AUTH)).status_code == 404


async def test_search_pages_and_filters(client: httpx.AsyncClient, runner: JobRunner) -> None:
    ids = []
    for n in range(3):
        job = await start(client, "Quick", n=n + 100)
        runner.wait(str(job["id"]), timeout=10)
        ids.append(job["id"])
    boom = await start(client, "Boom")
    runner.wait(str(boom["id"]), timeout=10)
    page = (await client.get(f"{PREFIX}/search", params={"q": "quick", "limit": 2}, headers=AUTH)).json()
    assert [j["id"] for j in page["jobs"]] == [ids[2], ids[1]] and page["next"]
    rest = (await client.get(f"{PREFIX}/search", params={"q": "quick", "limit": 2, "before": page["next"]},
                             headers=AUTH)).json()
    assert [j["id"] for j in rest["jobs"]] == [ids[0]] and rest["next"] is None
    by_params = (await client.get(f"{PREFIX}/search", params={"q": "101"}, headers=AUTH)).json()
    assert [j["id"] for j in by_params["jobs"]] == [ids[1]]
    failed = (await client.get(f"{PREFIX}/search", params={"status": "failed"}, headers=AUTH)).json()
    assert [j["id"] for j in failed["jobs"]] == [boom["id"]]
    assert failed["jobs"][0]["lastError"] == "RuntimeError: exploded on purpose"
    assert failed["jobs"][0]["errorMessages"] == []
    for bad in ({"status": "sleeping"}, {"before": "yesterday"}, {"limit": "0"},
                {"q": " ".join(f"w{i}" for i in range(30))}):
        response = await client.get(f"{PREFIX}/search", params=bad, headers=AUTH)
        assert response.status_code == 400, (bad, response.text)


async def test_messages_download_is_json_lines(client: httpx.AsyncClient, runner: JobRunner) -> None:
    job = await start(client, "Quick")
    runner.wait(str(job["id"]), timeout=10)
    response = await client.get(f"{PREFIX}/single/{job['id']}/messages.jsonl", headers=AUTH)
    assert response.status_code == 200
    assert response.headers["content-disposition"] == f'attachment; filename="job-{str(job["id"])[:8]}-messages.jsonl"'
    lines = [json.loads(line) for line in response.text.splitlines()]
    assert [(m["type"], m["message"]) for m in lines] == [("info", "quick start"), ("warning", "quick warning")]
