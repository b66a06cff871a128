"""Retries across real ``jobdeck serve`` processes on SQLite, Redis and PostgreSQL (issue 21): a retry that falls due
while no server runs starts when one comes back, and with two servers on one store each attempt runs in exactly one
of them. The job types are tests/recovery_app.py's; every run of a handler is written to a ledger file."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from jobdeck.core.model import parse_time
from tests.conftest import unique_schema, wait_for
from tests.recovery_app import runs
from tests.serve_process import ServeProcess, clean_env
from tests.stores.conftest import drop_schema, unique_prefix

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "recovery-test-token"


@pytest.fixture(params=["sqlite", "redis", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A shared store of each kind, private to the test."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'jobs.db'}"
    elif request.param == "redis":
        url = request.getfixturevalue("redis_url")
        yield f"{url}{'&' if '?' in url else '?'}prefix={unique_prefix()}"
    else:
        url, schema = request.getfixturevalue("postgres_url"), unique_schema()
        yield f"{url}?schema={schema}"
        drop_schema(url, schema)


def server(tmp_path: Path, store_url: str, name: str) -> ServeProcess:
    return ServeProcess(tmp_path, ["--app", "tests.recovery_app:build", "--host", "127.0.0.1", "--store", store_url,
                                   "--stale-after", "5", "--log-level", "warning"],
                        token=TOKEN, env=clean_env(PYTHONUNBUFFERED="1"), cwd=ROOT, name=name)


def job(deck: ServeProcess, job_id: str) -> dict[str, Any]:
    response = deck.api("GET", f"/single/{job_id}/progress")
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data


def test_a_retry_due_while_no_server_runs_starts_when_one_comes_back(tmp_path: Path, store_url: str) -> None:
    ledger = str(tmp_path / "ledger")
    first = server(tmp_path, store_url, "first").start()
    try:
        response = first.api("POST", "/start", json={"jobType": "Recovering",
                                                     "params": {"ledger": ledger, "failures": 1, "later": 3.0}})
        assert response.status_code == 201, response.text
        job_id = response.json()["id"]
        waiting = wait_for(lambda: (j := job(first, job_id))["status"] == "queued" and j.get("retryAt") and j,
                           timeout=20, what="the job to wait for its second attempt")
    finally:
        first.stop()
    assert waiting["attempt"] == 2 and waiting["maxAttempts"] == 4
    assert waiting["warningMessages"][-1]["message"] == "attempt 1 of 4 failed: come back in 3 s; retrying in 3 s"
    due = parse_time(waiting["retryAt"])
    wait_for(lambda: time.time() > due + 0.5, timeout=10, what="the retry to fall due with no server running")
    assert [r[1] for r in runs(ledger)] == [1]  # nothing ran it while no server was there
    second = server(tmp_path, store_url, "second").start()
    try:
        done = wait_for(lambda: (j := job(second, job_id))["status"] == "completed" and j, timeout=30,
                        what="the second attempt to complete on the restarted server")
    finally:
        second.stop()
    assert done["attempt"] == 2 and done["retryAt"] is None
    assert done["result"]["first"] == 1  # saved by attempt 1, read back by attempt 2
    ledger_runs = runs(ledger)
    assert [r[1] for r in ledger_runs] == [1, 2]
    assert ledger_runs[0][2] != ledger_runs[1][2] and ledger_runs[1][2] == done["result"]["pid"]


def test_two_servers_on_one_store_run_each_attempt_exactly_once(tmp_path: Path, store_url: str) -> None:
    ledger = str(tmp_path / "ledger")
    a, b = server(tmp_path, store_url, "a"), server(tmp_path, store_url, "b")
    for deck in (a, b):
        deck.launch()
    try:
        for deck in (a, b):
            deck.wait_ready()
        body = {"jobType": "Recovering", "params": {"ledger": ledger, "failures": 2}}
        with ThreadPoolExecutor(4) as pool:
            answers = list(pool.map(lambda i: (a, b)[i % 2].api("POST", "/start", json=body), range(8)))
        assert [r.status_code for r in answers] == [201] * 8, [r.text for r in answers]
        ids = [r.json()["id"] for r in answers]
        for job_id in ids:
            done = wait_for(lambda j=job_id: (x := job(b, j))["status"] in ("completed", "failed") and x, timeout=60,
                            what=f"job {job_id} to end")
            assert done["status"] == "completed" and done["attempt"] == 3, done
            failed = [m["message"] for m in done["warningMessages"] if m["message"].startswith("attempt ")]
            assert failed == [f"attempt {n} of 4 failed: ConnectionError: provider dropped the connection on "
                              f"attempt {n}; retrying in 0.2 s" for n in (1, 2)]
    finally:
        for deck in (a, b):
            deck.stop()
    counts = Counter((job_id, attempt) for job_id, attempt, _ in runs(ledger))
    assert counts == {(job_id, n): 1 for job_id in ids for n in (1, 2, 3)}  # every attempt ran, each exactly once
    pids = {pid for _, _, pid in runs(ledger)}
    assert len(pids) >= 1 and all(pid in {a.proc.pid, b.proc.pid} for pid in pids if a.proc and b.proc)
