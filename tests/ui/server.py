"""A real ``jobdeck serve --demo`` subprocess for the dashboard tests, restartable on the same port.

The server runs exactly as an operator starts it; the browser and the test talk to it over HTTP. Its output
goes to a log file that a failing start shows.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import free_port, wait_for

TOKEN = "ui-test-token-8c41f2"
API = "/api/admin/jobs"
# Demo jobs run this many times faster than real time: quick enough for a short suite, slow enough to watch.
DEMO_SPEED = "4"


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
    except httpx.TransportError:
        return False


class UiServer:
    """``jobdeck serve --demo`` on a fixed loopback port; ``stop()`` and ``start()`` again to restart it."""

    def __init__(self, log_dir: Path, store: str = "memory://", token: str = TOKEN,
                 speed: str = DEMO_SPEED) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.store = store
        self.token = token
        self.speed = speed
        self.log_dir = log_dir
        self.proc: subprocess.Popen[bytes] | None = None
        self.log: Path | None = None

    def start(self) -> UiServer:
        self.log = self.log_dir / f"server-{self.port}-{time.monotonic_ns()}.log"
        cmd = [sys.executable, "-m", "jobdeck.cli", "serve", "--demo", "--host", "127.0.0.1",
               "--port", str(self.port), "--token", self.token, "--store", self.store,
               "--demo-speed", self.speed]
        env = {k: v for k, v in os.environ.items() if not k.startswith("JOBDECK_")}
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + 30
        while not _healthy(self.url):
            if self.proc.poll() is not None:
                pytest.fail(f"jobdeck serve exited with {self.proc.returncode}:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                pytest.fail(f"jobdeck serve did not answer /healthz within 30s:\n{self.log_tail()}")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)

    def log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:] if self.log else ""

    # -- the API, for arranging and checking what the page should show

    def api(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.token}"}
        return httpx.request(method, f"{self.url}{API}{path}", headers=headers, timeout=10, **kwargs)

    def job(self, job_id: str) -> dict[str, Any]:
        response = self.api("GET", f"/single/{job_id}/progress?messages=none")
        response.raise_for_status()
        data: dict[str, Any] = response.json()
        return data

    def active(self) -> list[dict[str, Any]]:
        data: list[dict[str, Any]] = self.api("GET", "/active?messages=none").json()
        return data

    def start_job(self, job_type: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"jobType": job_type}
        if params is not None:
            body["params"] = params
        response = self.api("POST", "/start", json=body)
        assert response.status_code == 201, response.text
        data: dict[str, Any] = response.json()
        return data

    def settle(self) -> None:
        """Abort whatever is still active and wait until nothing is, so the next test starts clean."""
        if self.proc is None or not _healthy(self.url):
            return
        if self.active():
            self.api("POST", "/abort-all", json={"reason": "test teardown"})
        wait_for(lambda: not self.active(), timeout=30, what="no active jobs after the test")
