"""The examples in examples/ run as documented."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_question_pipeline_example_runs_the_reference_usage_end_to_end() -> None:
    out = subprocess.run([sys.executable, str(ROOT / "examples" / "question_pipeline.py")],
                         capture_output=True, text=True, timeout=60, check=True)
    lines = out.stdout.splitlines()
    assert any(line.startswith("ArgumentCondensation") and " completed " in line and "'condensed': 5" in line
               for line in lines), out.stdout
    assert any(line.startswith("QuestionInfoGeneration") and " failed " in line for line in lines), out.stdout
    assert any(line.startswith("ArgumentCondensation") and " aborted " in line for line in lines), out.stdout
    assert "INFO    jobdeck: job" in out.stderr  # messages reach logging


def test_reference_auth_example_answers_as_the_reference_does(tmp_path: Path) -> None:
    """401 without a session, 403 {"error": "Forbidden"} for a non-admin, the admin's email as author."""
    import httpx

    from tests.conftest import free_port, wait_for

    port = free_port()
    log = (tmp_path / "uvicorn.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "--app-dir", str(ROOT / "examples"),
                             "reference_auth:app", "--port", str(port)], stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}/api/admin/jobs"
    try:
        def up() -> bool:
            try:
                return httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200
            except httpx.TransportError:
                return proc.poll() is not None
        wait_for(up, timeout=30, what="the example app")
        assert proc.poll() is None, (tmp_path / "uvicorn.log").read_text()
        anonymous = httpx.get(f"{base}/active")
        assert (anonymous.status_code, anonymous.json()) == (401, {"error": "Unauthorized"})
        for path in ("/active", "/stats"):
            user = httpx.get(f"{base}{path}", cookies={"session": "session-of-bob"})
            assert (user.status_code, user.json()) == (403, {"error": "Forbidden"})
        refused = httpx.post(f"{base}/start", json={"jobType": "Greet"}, cookies={"session": "session-of-bob"})
        assert refused.status_code == 403
        started = httpx.post(f"{base}/start", json={"jobType": "Greet", "params": {"name": "Ada"}},
                             cookies={"session": "session-of-ada"})
        assert started.status_code == 201 and started.json()["author"] == "ada@example.com"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()


@pytest.mark.slow
def test_reporting_examples_run_against_a_real_server(tmp_path: Path) -> None:
    """examples/remote_report.py (RemoteController) and .mjs (plain fetch, when Node is installed)."""
    import shutil

    from tests.serve_process import ServeProcess, clean_env

    token = "examples-admin-token-31"
    with ServeProcess(tmp_path, ["--store", "memory://", "--external-type", "Reindex"], token=token) as server:
        env = clean_env(JOBDECK_URL=server.url, JOBDECK_TOKEN=token)
        runs = [[sys.executable, str(ROOT / "examples" / "remote_report.py")]]
        node = shutil.which("node")
        if node is not None:
            runs.append([node, str(ROOT / "examples" / "remote_report.mjs")])
        for command in runs:
            out = subprocess.run(command, capture_output=True, text=True, timeout=60, env=env, check=True)
            job = server.api("GET", f"/single/{out.stdout.strip().splitlines()[-1]}/progress").json()
            assert job["status"] == "completed" and job["progress"] == 1.0, job
            assert job["infoMessages"], job
