"""What schemathesis found in the report endpoint's input once its schema was complete (issue 19, item 11): an
operation's ``state`` that is an object was a 500 (an unhashable value looked up in a set), and a count written
as a whole float (``2.0``, an "integer" to JSON Schema) was refused."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from jobdeck import JobRunner
from tests.api.conftest import AUTH, PREFIX

pytestmark = pytest.mark.anyio


async def external_job(client: httpx.AsyncClient, runner: JobRunner) -> str:
    runner.register_external("Remote")
    started = await client.post(f"{PREFIX}/start", json={"jobType": "Remote"}, headers=AUTH)
    assert started.status_code == 201
    job_id: str = started.json()["id"]
    return job_id


@pytest.mark.parametrize("state", [{}, [], 1])
async def test_a_state_that_is_not_a_string_is_a_400(client: httpx.AsyncClient, runner: JobRunner,
                                                     state: Any) -> None:
    job_id = await external_job(client, runner)
    body = {"operations": [{"id": "load", "progress": 0.5, "state": state}]}
    answer = await client.post(f"{PREFIX}/single/{job_id}/report", json=body, headers=AUTH)
    assert answer.status_code == 400 and "state of operation 'load'" in answer.json()["error"]


async def test_whole_floats_are_counts(client: httpx.AsyncClient, runner: JobRunner) -> None:
    job_id = await external_job(client, runner)
    body = {"currentOperation": {"id": "load", "index": 2.0, "total": 3.0},
            "operations": [{"id": "load", "progress": 0.5, "state": "started"}, {"more": 4.0, "done": 1.0}]}
    answer = await client.post(f"{PREFIX}/single/{job_id}/report", json=body, headers=AUTH)
    assert answer.status_code == 200, answer.text
    job = runner.store.require_job(job_id, operations=True)
    assert job.current_operation is not None and (job.current_operation.index, job.current_operation.total) == (2, 3)
    assert job.operations is not None and job.operations.to_list()[1] == {"more": 4, "done": 1}
    for bad in ({"currentOperation": {"id": "x", "index": 2.5, "total": 3}},
                {"currentOperation": {"id": "x", "index": "2", "total": 3}},
                {"operations": [{"more": 1.5}]}):
        assert (await client.post(f"{PREFIX}/single/{job_id}/report", json=bad, headers=AUTH)).status_code == 400
