"""Fixtures for the CLI tests: one real demo server for the session, and ways to run ``jobdeck`` against it.

Every run checks what must hold for any command: no traceback, and the token never printed.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from typing import IO

import pytest

from jobdeck import Client
from jobdeck.cli import main
from tests.cli.server import ServerProcess, running_server
from tests.conftest import wait_for

# Demo job types at speed 10: Cleanup ends in ~0.4 s, DataImport(rows=10, fail_at=0.1) fails in ~0.3 s,
# ArgumentCondensation(questions=50) runs for ~20 s (long enough to abort).
QUICK = ["Cleanup", "--param", "days=3"]
FAILING = ["DataImport", "--param", "rows=10", "--param", "fail_at=0.1"]
LONG = ["ArgumentCondensation", "--param", "questions=50"]

CLI = [sys.executable, "-m", "jobdeck.cli"]


def check_output(text: str, token: str) -> None:
    assert "Traceback" not in text
    assert token not in text, "the token was printed"


def run_cli(*args: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run ``python -m jobdeck.cli ARGS`` to the end and capture its output."""
    return subprocess.run([*CLI, *args], env=env, capture_output=True, text=True, timeout=timeout, check=False)


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with running_server(tmp_path_factory.mktemp("cli-server")) as proc:
        yield proc


@pytest.fixture
def client(server: ServerProcess) -> Iterator[Client]:
    """A client for setting up and checking; afterwards no job of the test is left running."""
    with Client(server.url, token=server.token) as c:
        yield c
        if c.active(messages=0):
            c.abort_all("test teardown")
            wait_for(lambda: not c.active(messages=0), timeout=15, what="active jobs to end")


Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def cli(server: ServerProcess, client: Client) -> Run:
    """``cli("list", "--json")``: run against the session server (JOBDECK_URL/JOBDECK_TOKEN set)."""

    def run(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        result = run_cli(*args, env=env if env is not None else server.env(), timeout=timeout)
        check_output(result.stdout + result.stderr, server.token)
        return result

    return run


class Background:
    """A ``jobdeck`` process whose output lines are collected as they come."""

    def __init__(self, args: list[str], env: dict[str, str], token: str) -> None:
        self.token = token
        self.lines: list[str] = []
        self.proc = subprocess.Popen([*CLI, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True)
        self.stderr_lines: list[str] = []
        self._readers = [threading.Thread(target=self._read, args=(stream, sink), daemon=True)
                         for stream, sink in ((self.proc.stdout, self.lines), (self.proc.stderr, self.stderr_lines))]
        for reader in self._readers:
            reader.start()

    @staticmethod
    def _read(stream: IO[str], sink: list[str]) -> None:
        for line in stream:
            sink.append(line.rstrip("\n"))

    @property
    def stderr(self) -> str:
        return "\n".join(self.stderr_lines)

    def wait_line(self, predicate: Callable[[str], bool], what: str, timeout: float = 30) -> str:
        def found() -> str | None:
            exited = self.proc.poll() is not None and not self._readers[0].is_alive()
            line = next((line for line in self.lines if predicate(line)), None)
            if line is None and exited:
                pytest.fail(f"jobdeck exited ({self.proc.returncode}) before {what}: {self.lines} {self.stderr}")
            return line

        return wait_for(found, timeout=timeout, what=what)

    def finish(self, timeout: float = 60) -> int:
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            pytest.fail(f"jobdeck did not exit within {timeout}s; output so far: {self.lines}")
        self._close_pipes()
        check_output("\n".join(self.lines) + self.stderr, self.token)
        return self.proc.returncode

    def _close_pipes(self) -> None:
        for reader in self._readers:
            reader.join(timeout=5)
        for pipe in (self.proc.stdout, self.proc.stderr):
            if pipe is not None:
                pipe.close()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._close_pipes()


@pytest.fixture
def background(server: ServerProcess, client: Client) -> Iterator[Callable[..., Background]]:
    """Start ``jobdeck ARGS`` in the background; killed at teardown if still running."""
    started: list[Background] = []

    def start(*args: str) -> Background:
        proc = Background(list(args), server.env(), server.token)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.kill()


@pytest.fixture
def run_main(server: ServerProcess, client: Client, monkeypatch: pytest.MonkeyPatch,
             capsys: pytest.CaptureFixture[str]) -> Run:
    """``main(args)`` in this process (the same code as the command, without interpreter start-up), with
    exactly ``env``'s JOBDECK_* variables (default: the session server's); returns a CompletedProcess."""

    def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        env = env if env is not None else server.env()
        for name in ("JOBDECK_URL", "JOBDECK_TOKEN", "JOBDECK_AUTHOR", "JOBDECK_PREFIX", "JOBDECK_LANG"):
            if name in env:
                monkeypatch.setenv(name, env[name])
            else:
                monkeypatch.delenv(name, raising=False)
        try:
            code = main(list(args))
        except SystemExit as exc:  # argparse usage errors
            code = int(exc.code or 0)
        out, err = capsys.readouterr()
        check_output(out + err, server.token)
        if env.get("JOBDECK_TOKEN"):
            check_output(out + err, env["JOBDECK_TOKEN"])
        return subprocess.CompletedProcess(list(args), code, out, err)

    return run
