"""A fresh procrastinate server under a burst of first starts (issue 19, item 1), with real processes: ``jobdeck serve
--executor procrastinate+postgresql://...`` on an empty database, 16 ``POST /start`` sent together the moment it
answers, then a ``jobdeck worker``. The executor's first-time setup (pool, schema) runs once under a lock, and
procrastinate's schema is applied under a transaction lock that cannot outlive its call.

``scripts/repro_procrastinate_burst.py --bursts 100`` runs the same burst a hundred times and states hangs/total.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.conftest import fresh_database, wait_for
from tests.executors.test_procrastinate import schema_lock_sessions
from tests.serve_process import ServeProcess

from .conftest import APP, ROOT, STALE_AFTER, TOKEN, Worker
from .test_procrastinate import READY

pytestmark = pytest.mark.slow

STARTS = 16
ANSWER_WITHIN = 30.0  # seconds; the setup's own bounds are well inside it (a hang waited for ever)


@pytest.fixture
def fresh_server(postgres_admin_url: str, tmp_path: Path) -> Iterator[tuple[ServeProcess, str]]:
    """A server that has never used its database (no procrastinate schema yet), answering /healthz."""
    with fresh_database(postgres_admin_url, prefix="jobdeck_burst") as url:
        server = ServeProcess(tmp_path, ["--app", APP, "--host", "127.0.0.1", "--store",
                                         f"sqlite:///{tmp_path / 'jobs.db'}", "--executor", f"procrastinate+{url}",
                                         "--stale-after", STALE_AFTER], token=TOKEN, cwd=ROOT)
        server.start(timeout=60)
        try:
            yield server, url
        finally:
            server.stop()


def burst(server: ServeProcess) -> list[httpx.Response | str]:
    """``STARTS`` POST /start released together; each answer, or ``"hang"`` if none came within ANSWER_WITHIN."""
    gate = threading.Barrier(STARTS)

    def start(_: int) -> httpx.Response | str:
        gate.wait()
        try:
            return httpx.post(f"{server.url}/api/admin/jobs/start", json={"jobType": "Short"}, headers=server.auth,
                              timeout=ANSWER_WITHIN)
        except httpx.TimeoutException:
            return "hang"

    with ThreadPoolExecutor(STARTS) as pool:
        return list(pool.map(start, range(STARTS)))


def entries(dsn: str, job_ids: list[str]) -> set[str]:
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        rows = conn.execute("SELECT args->>'job_id' FROM procrastinate_jobs WHERE args->>'job_id' = ANY(%s)",
                            (job_ids,)).fetchall()
    return {row[0] for row in rows}


@pytest.mark.parametrize("round_", range(3))
def test_parallel_first_starts_on_a_fresh_server_are_all_queued_within_seconds(
        fresh_server: tuple[ServeProcess, str], round_: int) -> None:
    server, dsn = fresh_server
    asked = time.monotonic()
    answers = burst(server)
    took = time.monotonic() - asked
    hung = [a for a in answers if isinstance(a, str)]
    assert hung == [], f"{len(hung)} of {STARTS} starts had no answer after {ANSWER_WITHIN:g}s"
    codes = [a.status_code for a in answers if isinstance(a, httpx.Response)]
    assert codes == [201] * STARTS, [a.text for a in answers if isinstance(a, httpx.Response)]  # PostgreSQL is up
    assert took < ANSWER_WITHIN
    job_ids = [a.json()["id"] for a in answers if isinstance(a, httpx.Response)]
    assert entries(dsn, job_ids) == set(job_ids)  # each job has its procrastinate entry
    assert schema_lock_sessions(dsn) == (0, 0)


def test_after_the_setup_no_session_holds_the_schema_lock_and_a_worker_starts(
        fresh_server: tuple[ServeProcess, str], tmp_path: Path) -> None:
    server, dsn = fresh_server
    answers = burst(server)
    assert all(isinstance(a, httpx.Response) and a.status_code == 201 for a in answers)
    assert schema_lock_sessions(dsn) == (0, 0)  # neither held by an idle pooled connection nor awaited
    worker = Worker(tmp_path, f"sqlite:///{tmp_path / 'jobs.db'}", f"procrastinate+{dsn}", "late-worker", [])
    try:
        worker.wait_ready(READY, timeout=60)  # its own setup found the schema and nothing in its way
        job_ids = [a.json()["id"] for a in answers if isinstance(a, httpx.Response)]

        def all_done() -> bool:  # and it runs the jobs of the burst
            jobs = server.api("GET", "/past?messages=none").json()
            return {j["id"] for j in jobs if j["status"] == "completed"} >= set(job_ids)

        wait_for(all_done, timeout=60, interval=0.2, what="the worker to run the burst's jobs")
    finally:
        worker.stop()
