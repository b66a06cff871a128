"""A real ``jobdeck serve`` on a private PostgreSQL cluster: a wrong password is one line that never shows the
password, and a database restart while jobs run costs 503s while it is down, then the server reconnects by
itself and every job ends in a terminal state. (The machine's shared server is never stopped.)"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import wait_for
from tests.pg_cluster import Cluster
from tests.serve_process import ServeProcess, clean_env, demo_args

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

TOKEN = "pg-restart-test-token"
WRONG = "Not-The-Password-93jd"


@pytest.mark.parametrize("command", [["serve", "--port", "1", "--store"], ["db", "upgrade", "--store"]])
def test_a_wrong_password_is_one_line_without_the_password(pg_cluster: Cluster, command: list[str]) -> None:
    result = subprocess.run([sys.executable, "-m", "jobdeck.cli", *command, pg_cluster.url(WRONG)],
                            capture_output=True, text=True, timeout=60, env=clean_env(), check=False)
    assert result.returncode != 0
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "password authentication failed" in lines[0] and "wrong user or password" in lines[0]
    assert WRONG not in result.stderr and "postgres:***@127.0.0.1" in lines[0]


def test_database_restart_503_then_reconnect_and_every_job_ends(pg_cluster: Cluster, tmp_path: Path) -> None:
    args = demo_args(pg_cluster.url(), 5, "--stale-after", "3", "--log-level", "warning")
    with ServeProcess(tmp_path, args, token=TOKEN, name="restart") as server:
        assert "schema: version" in server.output()
        started = [server.api("POST", "/start", json=body).json()["id"] for body in (
            {"jobType": "ArgumentCondensation", "params": {"questions": 50}},
            {"jobType": "DataImport", "params": {"rows": 100_000, "fail_at": 1}})]

        def job(job_id: str) -> dict[str, Any]:
            response = server.api("GET", f"/single/{job_id}/progress")
            assert response.status_code == 200, response.text
            body: dict[str, Any] = response.json()
            return body

        for job_id in started:
            wait_for(lambda j=job_id: job(j)["progress"] > 0, timeout=30, what="the jobs to make progress")
        pg_cluster.stop()
        try:
            down = wait_for(lambda: (r := server.api("GET", "/active")).status_code == 503 and r, timeout=30,
                            what="503 while the database is down")
            assert "PostgreSQL" in down.text and "Traceback" not in down.text
        finally:
            pg_cluster.start()
        wait_for(lambda: server.api("GET", "/active").status_code == 200, timeout=30,
                 what="the server to reconnect by itself")
        for job_id in started:
            server.api("POST", f"/single/{job_id}/abort", json={"reason": "after the restart"})
        finals = {j: wait_for(lambda j=j: (s := job(j)["status"]) in ("completed", "failed", "aborted") and s,
                              timeout=60, what="every job to end terminal") for j in started}
        assert set(finals) == set(started)
        # The server works as before: a new job runs to its end.
        new = server.api("POST", "/start", json={"jobType": "Cleanup", "params": {"days": 1}})
        assert new.status_code == 201, new.text
        assert wait_for(lambda: job(new.json()["id"])["status"] == "completed", timeout=30,
                        what="a job started after the restart to complete")
        assert server.running
