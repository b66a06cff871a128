"""The operation tree over HTTP: only the view of one job carries it; lists, searches and events do not."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from jobdeck import MemoryStore, PipelineController
from tests.api.conftest import AUTH, PREFIX

pytestmark = pytest.mark.anyio


def running_job_with_a_tree(store: MemoryStore) -> str:
    job = store.create_job("Quick", "admin")
    ctl = PipelineController(job.id, store)
    ctl.initialize_pipeline(["load", ("process", 2)])
    ctl.define_sub_operations("process", ["a", "b"])
    ctl.next_operation()
    ctl.update_operation("process/a", 0.5)
    ctl.publish_operations()
    return job.id


async def test_single_job_view_carries_the_tree(client: httpx.AsyncClient, store: MemoryStore) -> None:
    job_id = running_job_with_a_tree(store)
    response = await client.get(f"{PREFIX}/single/{job_id}/progress", headers=AUTH)
    assert response.status_code == 200
    assert response.json()["operations"] == [
        {"id": "load", "progress": 1.0, "state": "done"},
        {"id": "process", "progress": 0.25, "state": "started", "weight": 2.0, "children": [
            {"id": "a", "progress": 0.5, "state": "started"},
            {"id": "b", "progress": 0.0, "state": "pending"},
        ]},
    ]
    # The same job in a list (rendered first, so that a cached rendering could leak into the other view)...
    active = await client.get(f"{PREFIX}/active?messages=all", headers=AUTH)
    assert [("operations" in j) for j in active.json()] == [False]
    again = await client.get(f"{PREFIX}/single/{job_id}/progress", headers=AUTH)
    assert again.json()["operations"][1]["children"][0]["progress"] == 0.5
    store.complete_job(job_id)
    past = await client.get(f"{PREFIX}/past?messages=all", headers=AUTH)
    assert [("operations" in j) for j in past.json()] == [False]
    final = await client.get(f"{PREFIX}/single/{job_id}/progress?messages=all", headers=AUTH)
    assert final.json()["status"] == "completed" and final.json()["operations"][0]["id"] == "load"


async def test_a_job_without_a_pipeline_has_no_tree(client: httpx.AsyncClient, store: MemoryStore) -> None:
    job = store.create_job("Quick", "admin")
    store.update_progress(job.id, 0.5)
    response = await client.get(f"{PREFIX}/single/{job.id}/progress", headers=AUTH)
    assert "operations" not in response.json()


async def test_openapi_documents_the_tree(app: FastAPI) -> None:
    schema = app.openapi()
    job = schema["components"]["schemas"]["Job"]["properties"]
    assert "operations" in job
    node = schema["components"]["schemas"]["OperationNode"]["properties"]
    assert set(node) == {"id", "progress", "state", "weight", "children", "usage"}
    assert "more" in schema["components"]["schemas"]["HiddenOperations"]["properties"]
