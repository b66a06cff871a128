"""A real ``jobdeck serve`` with the job types of :mod:`tests.refclient.jobs`, shared by a test module."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import wait_for
from tests.serve_process import ServeProcess

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "refclient-test-token-93b1"
APP = "tests.refclient.jobs:build"


class RefServer(ServeProcess):
    """A server running the test job types, with helpers for starting and following jobs."""

    def start_job(self, job_type: str, **params: Any) -> dict[str, Any]:
        response = self.api("POST", "/start", json={"jobType": job_type, "params": params})
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        return body

    def job(self, job_id: str) -> dict[str, Any]:
        response = self.api("GET", f"/single/{job_id}/progress")
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def wait_status(self, job_id: str, *statuses: str, timeout: float = 20) -> dict[str, Any]:
        return wait_for(lambda: (job := self.job(job_id))["status"] in statuses and job, timeout=timeout,
                        what=f"job {job_id} to be {' or '.join(statuses)}")


def ref_server(log_dir: Path, *extra: str, store: str = "memory://", token: str | None = TOKEN) -> RefServer:
    """Not started yet: ``with ref_server(...) as server:``."""
    return RefServer(log_dir, ["--host", "127.0.0.1", "--store", store, "--app", APP, *extra], token=token, cwd=ROOT)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RefServer]:
    with ref_server(tmp_path_factory.mktemp("refserver")) as running:
        yield running


@pytest.fixture
def release(tmp_path: Path) -> Path:
    """A file whose creation lets a ``Holds`` job finish its abort."""
    return tmp_path / f"release-{uuid.uuid4().hex}"
