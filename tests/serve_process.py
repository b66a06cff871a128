"""A real ``jobdeck serve`` subprocess for tests: started as an operator starts it, reached over HTTP.

One place for what every test that needs a running server shares: the command line, an environment without
the developer's own JOBDECK_* settings, output captured to a log file that a failing start shows, a wait for
/healthz with a deadline, and a stop that escalates to SIGKILL. The CLI, client, API, dashboard and multi-process
tests add only what is particular to them.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import httpx
import pytest

from tests.conftest import free_port

SERVE = [sys.executable, "-m", "jobdeck.cli", "serve"]
API = "/api/admin/jobs"


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without JOBDECK_* variables (a developer's own must not leak in), plus ``extra``; the CLI
    speaks English whatever the developer's locale (``JOBDECK_LANG`` comes before ``LANG``), unless ``extra``
    says otherwise."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("JOBDECK_")}
    env["JOBDECK_LANG"] = "en"
    env.update(extra)
    return env


def demo_args(store: str, speed: float | str, *extra: str, schedule: bool = False) -> list[str]:
    """Arguments for a demo server on loopback with ``store``, demo jobs ``speed`` times faster than real time,
    without the first-run demo jobs (each test arranges its own), and without the demo's schedule unless
    ``schedule`` (its Cleanup every 10 minutes would take a slot, and show in the lists, of whichever test runs
    then)."""
    return ["--demo", "--host", "127.0.0.1", "--store", store, "--demo-speed", str(speed), "--no-demo-jobs",
            *([] if schedule else ["--no-demo-schedule"]), *extra]


class ServeProcess:
    """``jobdeck serve --port PORT [--token TOKEN] ARGS`` on a given or free loopback port.

    ``start()`` launches it and waits until it answers; ``stop()`` and ``start()`` again restart it on the same
    port, each run with a log file of its own. As a context manager it is started and stopped around the block.
    """

    def __init__(self, log_dir: Path, args: Sequence[str] = (), *, token: str | None = None,
                 port: int | None = None, env: dict[str, str] | None = None, cwd: Path | None = None,
                 name: str = "server", stop_timeout: float = 15) -> None:
        self.log_dir = log_dir
        self.args = list(args)
        self.token = token
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.environ = env if env is not None else clean_env()
        self.cwd = cwd
        self.name = name
        self.stop_timeout = stop_timeout
        self.proc: subprocess.Popen[bytes] | None = None
        self.log: Path | None = None

    @property
    def command(self) -> list[str]:
        token = ["--token", self.token] if self.token else []
        return [*SERVE, "--port", str(self.port), *token, *self.args]

    @property
    def auth(self) -> dict[str, str]:
        """The Authorization header for this server's token (none without one)."""
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def answers(self) -> bool:
        """Whether /healthz answers 200 right now."""
        try:
            return httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    def launch(self) -> Self:
        """Start the process without waiting for it: several servers can then start side by side."""
        self.log = self.log_dir / f"{self.name}-{self.port}-{time.monotonic_ns()}.log"
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(self.command, stdout=out, stderr=subprocess.STDOUT, env=self.environ,
                                         cwd=self.cwd)
        return self

    def wait_ready(self, timeout: float = 30) -> Self:
        """Wait until /healthz answers; fail the test with the log tail if the process exits or time runs out."""
        assert self.proc is not None, "launch() first"
        deadline = time.monotonic() + timeout
        while not self.answers():
            if self.proc.poll() is not None:
                pytest.fail(f"jobdeck serve exited with {self.proc.returncode}:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                pytest.fail(f"jobdeck serve did not answer /healthz within {timeout:g}s:\n{self.log_tail()}")
            time.sleep(0.05)
        return self

    def start(self, timeout: float = 30) -> Self:
        """Launch and wait until ready; a server that does not come up is stopped before the test fails."""
        self.launch()
        try:
            return self.wait_ready(timeout)
        except BaseException:
            self.stop()
            raise

    def stop(self, sig: int = signal.SIGTERM) -> int | None:
        """Send ``sig`` (if still running) and wait; SIGKILL after ``stop_timeout``. The exit code, if started."""
        proc = self.proc
        if proc is None:
            return None
        if proc.poll() is None:
            proc.send_signal(sig)
        try:
            return proc.wait(timeout=self.stop_timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            return proc.wait(timeout=5)

    def kill(self) -> int | None:
        """SIGKILL: no goodbye, as when a machine dies; the exit code, if started."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        return self.proc.wait(timeout=10)

    def output(self) -> str:
        """Everything the current (or last) run wrote."""
        return self.log.read_text(errors="replace") if self.log else ""

    def log_tail(self, chars: int = 3000) -> str:
        return self.output()[-chars:]

    def api(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One authenticated request to ``/api/admin/jobs{path}``."""
        return httpx.request(method, f"{self.url}{API}{path}", headers=self.auth, timeout=10, **kwargs)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
