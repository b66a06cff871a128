"""``jobdeck workers`` and the diagnosis in ``jobdeck show``, against the session's real demo server (local
executor: the server process is the one worker)."""

from __future__ import annotations

import json
from typing import Any

from jobdeck import Client
from tests.cli.conftest import LONG, Run
from tests.conftest import wait_for


def test_workers_lists_the_server_as_a_live_local_worker_with_its_job(run_main: Run, client: Client) -> None:
    job = client.start(LONG[0], {"questions": 50})

    def busy() -> dict[str, Any] | None:  # the record is rewritten each heartbeat round: wait for one with the job
        page: dict[str, Any] = json.loads(run_main("workers", "--json").stdout)
        return page if any(j["id"] == job.id for w in page["workers"] for j in w["jobs"]) else None

    page = wait_for(busy, what="the worker's record with the job")
    (worker,) = [w for w in page["workers"] if w["live"]]
    assert worker["executor"] == "local" and worker["busy"] is True
    assert job.id in [j["id"] for j in worker["jobs"]]
    assert LONG[0] in worker["jobTypes"]
    text = run_main("workers").stdout
    assert worker["id"] in text and "busy" in text and "local" in text and "LIVE WORKERS" in text
    shown = run_main("show", job.id).stdout
    assert "diagnosis" in shown and "ok: working: last report" in shown
    assert json.loads(run_main("show", job.id, "--json").stdout)["diagnosis"]["code"] == "ok"
    client.abort(job.id)
