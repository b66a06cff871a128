"""A real ``jobdeck serve --demo`` on a free loopback port, for client and CLI tests.

The server runs as a subprocess exactly as an operator starts it; tests talk to it over HTTP. Its output goes
to a log file that a failing start shows, and teardown terminates it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port

TOKEN = "cli-test-token-5e1d9c"  # the tests check it never shows up in any output


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without JOBDECK_* variables (a developer's own must not leak in), plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("JOBDECK_")}
    env.update(extra)
    return env


@dataclass
class ServerProcess:
    url: str
    token: str
    port: int
    proc: subprocess.Popen[bytes]
    log: Path

    def log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]

    def env(self, **extra: str) -> dict[str, str]:
        """What a CLI subprocess needs to reach this server."""
        return clean_env(JOBDECK_URL=self.url, JOBDECK_TOKEN=self.token, **extra)


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
    except httpx.TransportError:
        return False


@contextmanager
def running_server(log_dir: Path, token: str = TOKEN, store: str = "memory://",
                   extra: Sequence[str] = (), port: int | None = None) -> Iterator[ServerProcess]:
    """Start ``jobdeck serve --demo`` and wait (with a deadline) until /healthz answers; stop it afterwards."""
    port = port or free_port()
    log = log_dir / f"server-{port}-{time.monotonic_ns()}.log"
    cmd = [sys.executable, "-m", "jobdeck.cli", "serve", "--demo", "--host", "127.0.0.1", "--port", str(port),
           "--token", token, "--store", store, "--demo-speed", "10", *extra]
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=clean_env())
    server = ServerProcess(f"http://127.0.0.1:{port}", token, port, proc, log)
    try:
        deadline = time.monotonic() + 30
        while not _healthy(server.url):
            if proc.poll() is not None:
                pytest.fail(f"jobdeck serve exited with {proc.returncode}:\n{server.log_tail()}")
            if time.monotonic() > deadline:
                pytest.fail(f"jobdeck serve did not answer /healthz within 30s:\n{server.log_tail()}")
            time.sleep(0.05)
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
