"""``jobdeck serve`` as an operator runs it: a subprocess on a free loopback port, its output captured."""

from __future__ import annotations

import re
import signal
import subprocess
import textwrap
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from jobdeck import JobStatus
from tests.api.sse_client import SSEReader
from tests.conftest import free_port, wait_for
from tests.serve_process import SERVE, ServeProcess, clean_env

PREFIX = "/api/admin/jobs"
TOKEN = "serve-test-token-71be20"


@contextmanager
def serve(tmp_path: Path, args: Sequence[str], env: dict[str, str] | None = None,
          cwd: Path | None = None) -> Iterator[ServeProcess]:
    """``jobdeck serve ARGS`` (from ``tmp_path``, its data there), killed after the block if still running."""
    server = ServeProcess(tmp_path, args, env=env or clean_env(XDG_DATA_HOME=str(tmp_path)), cwd=cwd or tmp_path,
                          name="serve", stop_timeout=30)
    try:
        yield server.start()
    finally:
        server.kill()


def run_serve(tmp_path: Path, args: Sequence[str],
              env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*SERVE, "--port", str(free_port()), *args],
                          check=False, capture_output=True, text=True, timeout=60, cwd=tmp_path,
                          env=env or clean_env(XDG_DATA_HOME=str(tmp_path)))


def test_abort_then_sigterm_leaves_no_job_running(tmp_path: Path) -> None:
    db = tmp_path / "jobs.db"
    auth = {"Authorization": f"Bearer {TOKEN}"}
    with serve(tmp_path, ["--demo", "--no-demo-jobs", "--store", f"sqlite:///{db}", "--token", TOKEN]) as server:
        api = server.url + PREFIX
        with SSEReader(api + "/events", auth) as sse:
            assert sse.next_frame().event == "hello"
            started = httpx.post(api + "/start", json={"jobType": "QuestionInfoGeneration"}, headers=auth)
            assert started.status_code == 201
            job_id = started.json()["id"]
            sse.frames_until(lambda f: f.data["jobId"] == job_id and f.event == "progress")
            aborted = httpx.post(f"{api}/single/{job_id}/abort", json={"reason": "test"}, headers=auth)
            assert aborted.status_code == 202
            statuses = [f.data["data"]["status"] for f in sse.frames_until(
                lambda f: f.data["jobId"] == job_id and f.event == "status"
                and f.data["data"]["status"] in ("aborted", "failed", "completed"))
                if f.data["jobId"] == job_id and f.event == "status"]
            assert statuses == ["aborting", "aborted"]

            # a long job still running, an open event stream: SIGTERM must finish both promptly
            long = httpx.post(api + "/start", json={"jobType": "ArgumentCondensation"}, headers=auth).json()
            wait_for(lambda: httpx.get(f"{api}/single/{long['id']}/progress", headers=auth).json()["progress"] > 0,
                     timeout=20, what="the demo job to make progress")
            assert server.stop() in (0, -signal.SIGTERM)
            with pytest.raises((EOFError, httpx.HTTPError)):
                for _ in range(100_000):
                    sse.next_frame()
    output = server.output()
    assert "Traceback" not in output
    assert TOKEN not in output  # a token given by the operator is never printed or logged
    assert f'"POST {PREFIX}/single/{job_id}/abort" 202' in output  # our own access log
    from jobdeck.stores.sqlite import SQLiteStore

    with SQLiteStore(db) as store:
        assert store.get_active_jobs() == []
        assert store.require_job(long["id"]).status in (JobStatus.ABORTED, JobStatus.FAILED)
        assert store.require_job(job_id).status is JobStatus.ABORTED


def test_generated_token_is_printed_once_and_never_logged(tmp_path: Path) -> None:
    with serve(tmp_path, ["--demo", "--demo-speed", "20"]) as server:
        banner = wait_for(lambda: re.search(r"/\?token=(\S+)", server.output()), what="the login URL")
        token = banner.group(1)
        with httpx.Client(base_url=server.url) as c:
            login = c.get("/", params={"token": token}, follow_redirects=False)
            assert login.status_code == 303 and login.headers["location"] == "/"
            assert c.get("/").status_code == 200  # the cookie it set lets the browser in
            c.cookies.clear()
            assert c.get(PREFIX + "/stats", params={"token": token}).status_code == 401  # no tokens in API URLs
            assert c.get(PREFIX + "/stats", headers={"Authorization": f"Bearer {token}"}).status_code == 200
            wrong = c.get("/", params={"token": "wrong-" + token[:5]})
            assert wrong.status_code == 303 and wrong.headers["location"] == "/?error=1"
        wait_for(lambda: f'"GET {PREFIX}/stats" 200' in server.output(), what="the access log line")
        server.stop()
    output = server.output()
    # Twice in the banner (the login URL, and JOBDECK_TOKEN=... on its own line), never in a log line.
    assert output.count(token) == 2 and f"\nJOBDECK_TOKEN={token}\n" in output, output
    assert "wrong-" not in output
    default_db = tmp_path / "jobdeck" / "jobs.db"
    assert f"store: sqlite:///{default_db}" in output and default_db.exists()


@pytest.mark.slow
def test_no_auth_on_loopback_with_an_app_module(tmp_path: Path) -> None:
    (tmp_path / "myjobs.py").write_text(textwrap.dedent("""
        from jobdeck import JobRunner

        def make(store):
            runner = JobRunner(store)

            @runner.job("Greeting", title="Say hello", params={"name": "world"})
            def greet(ctl, name):
                return {"greeting": f"hello {name}"}

            return runner
    """))
    with serve(tmp_path, ["--no-auth", "--store", "memory://", "--app", "myjobs:make"]) as server:
        types = httpx.get(server.url + PREFIX + "/types").json()
        assert [t["jobType"] for t in types] == ["Greeting"] and types[0]["params"] == {"name": "world"}
        started = httpx.post(server.url + PREFIX + "/start", json={"jobType": "Greeting", "params": {"name": "x"}})
        assert started.status_code == 201 and started.json()["author"] == "anonymous"
        # without a token, only loopback host names are served (a DNS-rebound page cannot talk to us)
        assert httpx.get(server.url + "/healthz", headers={"Host": "evil.example"}).status_code == 400
        server.stop()
    assert "authentication is OFF" in server.output()


@pytest.mark.parametrize(("args", "env", "message", "code"), [
    (["--store", "bogus://x"], {}, "unknown store URL scheme 'bogus'", 1),
    (["--store", "sqlite:////proc/no/such/dir/jobs.db"], {}, "/proc/no/such/dir", 1),
    (["--store", "redis://127.0.0.1:1/0"], {}, "127.0.0.1:1", 1),
    (["--no-auth", "--host", "0.0.0.0"], {}, "--no-auth is only allowed on a loopback host", 2),
    (["--app", "no_such_module_x:runner"], {}, "cannot import 'no_such_module_x'", 1),
    (["--app", "nocolon"], {}, "--app must look like module:attr", 2),
    ([], {"JOBDECK_STALE_AFTER": "soon"}, "JOBDECK_STALE_AFTER='soon' is not a valid stale_after", 2),
    (["--stale-after", "-1"], {}, "stale_after must be a positive number", 2),
])
def test_bad_configuration_is_one_line(tmp_path: Path, args: list[str], env: dict[str, str], message: str,
                                       code: int) -> None:
    result = run_serve(tmp_path, ["--store", "memory://", *args] if "--store" not in args else args,
                       clean_env(XDG_DATA_HOME=str(tmp_path), **env))
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("jobdeck serve: ") and message in lines[0], result.stderr
