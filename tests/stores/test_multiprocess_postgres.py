"""Several real ``jobdeck serve`` processes on one PostgreSQL database: start on A, watch and abort on B; a
SIGKILLed server's job failed as stale exactly once by the survivors; a restart keeps past jobs. The servers and
helpers are those of the Redis and SQLite multi-process tests (test_multiprocess.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from jobdeck.core.model import JobStatus
from jobdeck.stores._pg_schema import LATEST_VERSION
from jobdeck.stores.postgres import PostgresStore
from tests.conftest import unique_schema, wait_for

from .conftest import drop_schema
from .test_multiprocess import LONG_JOB, STALE_AFTER, Server, replayed_statuses, start_servers, status_events

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

__all__ = ["start_servers"]  # the fixture, shared with test_multiprocess.py


@pytest.fixture
def pg_store_url(postgres_url: str) -> Iterator[str]:
    """A store URL with a schema of the test's own. Tests ask for it before ``start_servers``: fixtures are torn
    down in reverse order, so the schema is dropped after the servers stopped (``DROP SCHEMA ... CASCADE`` beside a
    live server's transactions can deadlock: it did, in CI)."""
    schema = unique_schema()
    yield f"{postgres_url}?schema={schema}"
    drop_schema(postgres_url, schema)


def test_two_servers_share_jobs_and_abort(pg_store_url: str, start_servers: Callable[..., list[Server]]) -> None:
    a, b = start_servers(pg_store_url, "A", "B")
    watcher = PostgresStore(pg_store_url)
    cursor = watcher.read_events().cursor
    watcher.close()
    response = a.post("/start", {**LONG_JOB, "author": "tester"})
    assert response.status_code == 201, response.text
    job_id = response.json()["id"]
    seen = wait_for(lambda: (j := b.job(job_id))["progress"] > 0 and j, timeout=20, what="progress on B")
    assert seen["status"] == "running" and seen["author"] == "tester"
    assert b.post("/start", LONG_JOB).status_code == 409  # max_concurrent=1 holds across servers
    abort = b.post(f"/single/{job_id}/abort", {"reason": "stopped from B"})
    assert abort.status_code == 202, abort.text
    final = wait_for(lambda: (j := a.job(job_id))["status"] == "aborted" and j, timeout=20,
                     what="the job on A to end aborted")
    assert [m["message"] for m in final["warningMessages"]][-2:] == ["Abort requested by admin: stopped from B",
                                                                        "Job aborted"]
    assert a.get("/active") == [] and b.get("/active") == []
    assert replayed_statuses(b, cursor, job_id) == ["running", "aborting", "aborted"]
    for server in (a, b):
        assert "Traceback" not in server.output()
        assert "schema: version" in server.output()


def test_survivors_fail_the_job_of_a_killed_server_exactly_once(pg_store_url: str,
                                                                start_servers: Callable[..., list[Server]]) -> None:
    a, b, c = start_servers(pg_store_url, "A", "B", "C")
    watcher = PostgresStore(pg_store_url)
    try:
        response = a.post("/start", LONG_JOB)
        assert response.status_code == 201, response.text
        job_id = response.json()["id"]
        wait_for(lambda: b.job(job_id)["progress"] > 0, timeout=20, what="the job to make progress")
        cursor = watcher.read_events().cursor
        owner = b.job(job_id)["owner"]
        a.kill()
        failed = wait_for(lambda: (j := c.job(job_id))["status"] == "failed" and j, timeout=STALE_AFTER + 15,
                          what="a survivor to fail the dead server's job")
        errors = [m["message"] for m in failed["errorMessages"]]
        assert len(errors) == 1 and "Job went stale" in errors[0] and owner in errors[0], errors
        assert status_events(watcher, cursor, job_id) == ["failed"]  # type: ignore[arg-type]
        assert watcher.get_status(job_id) is JobStatus.FAILED
        assert b.post("/start", LONG_JOB).status_code == 201  # the slot is free again
    finally:
        watcher.close()


def test_a_restart_fails_the_orphan_and_keeps_history(pg_store_url: str,
                                                      start_servers: Callable[..., list[Server]]) -> None:
    (first,) = start_servers(pg_store_url, "first")
    quick = first.post("/start", {"jobType": "Cleanup", "params": {"days": 7}})
    assert quick.status_code == 201, quick.text
    quick_id = quick.json()["id"]
    wait_for(lambda: first.job(quick_id)["status"] == "completed", timeout=20, what="the quick job to complete")
    job_id = first.post("/start", LONG_JOB).json()["id"]
    wait_for(lambda: first.job(job_id)["progress"] > 0, timeout=20, what="the long job to make progress")
    first.kill()
    (second,) = start_servers(pg_store_url, "second")
    failed = wait_for(lambda: (j := second.job(job_id))["status"] == "failed" and j, timeout=STALE_AFTER + 15,
                      what="the restarted server to fail the orphaned job")
    assert len(failed["errorMessages"]) == 1 and failed["infoMessages"]
    past = {j["id"]: j["status"] for j in second.get("/past")}
    assert past == {job_id: "failed", quick_id: "completed"}
    assert second.job(quick_id)["result"] == {"removed": 17}
    assert f"schema: version {LATEST_VERSION} (up to date)" in second.output()
