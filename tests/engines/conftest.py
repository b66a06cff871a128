"""Real deployments for the engine tests: a private broker, one or two ``jobdeck serve``, two ``jobdeck worker``.

- ``RedisBroker``: a redis-server this test session owns (never the machine's shared one), which a test may stop
  and start again on the same port (the broker going away).
- ``Deployment``: the server(s) and workers of one engine on one store, with helpers to start jobs, read them, and
  wait for states. Workers run with one job at a time, so "busy" and "idle" are exact.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import free_port, require, wait_for
from tests.serve_process import ServeProcess, clean_env

ROOT = Path(__file__).resolve().parents[2]
APP = "tests.engines.jobs:build"
TOKEN = "engines-test-token"
STALE_AFTER = "3"
GRACE = "2"


class RedisBroker:
    """A private redis-server on a fixed port: ``stop()`` and ``start()`` again simulate the broker going away."""

    def __init__(self, workdir: Path, persistent: bool = False) -> None:
        self.persistent = persistent  # an append-only file in workdir: a restart keeps the data
        binary = shutil.which("redis-server")
        if binary is None:
            require("no redis-server binary for a private broker")
        self.binary = binary or ""
        self.port = free_port()
        self.workdir = workdir
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def answers(self) -> bool:
        import redis

        client = redis.Redis(host="127.0.0.1", port=self.port, socket_connect_timeout=0.5)
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False
        finally:
            client.close()

    def start(self) -> None:
        self.proc = subprocess.Popen([self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                      "--appendonly", "yes" if self.persistent else "no", "--appendfsync", "always",
                                      "--dir", str(self.workdir)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(self.answers, timeout=10, what="the private broker to answer")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
        self.proc = None


@pytest.fixture(scope="session")
def redis_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisBroker]:
    broker = RedisBroker(tmp_path_factory.mktemp("broker"))
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


class Worker:
    """``jobdeck worker`` in a subprocess, its output in a log file."""

    def __init__(self, log_dir: Path, store: str, executor: str, name: str, extra: list[str]) -> None:
        self.log = log_dir / f"{name}-{time.monotonic_ns()}.log"
        self.command = [sys.executable, "-m", "jobdeck.cli", "worker", "--app", APP, "--store", store,
                        "--executor", executor, "--concurrency", "1", "--grace", GRACE, "--stale-after",
                        STALE_AFTER, *extra]
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(self.command, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT,
                                         env=clean_env())

    @property
    def pid(self) -> int:
        return self.proc.pid

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_ready(self, marker: str, timeout: float = 60) -> None:
        def ready() -> bool:
            if self.proc.poll() is not None:
                pytest.fail(f"jobdeck worker exited with {self.proc.returncode}:\n{self.output()[-3000:]}")
            return marker in self.output()

        wait_for(ready, timeout=timeout, interval=0.1, what=f"worker {self.pid} to be ready")

    def signal(self, sig: int) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)

    def stop(self) -> int:
        self.signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(timeout=5)


class Deployment:
    """One engine: servers and workers on one store. ``start_workers()`` brings the worker count back to two."""

    def __init__(self, log_dir: Path, store: str, executor: str, ready_marker: str,
                 worker_args: list[str] | None = None) -> None:
        self.log_dir = log_dir
        self.store = store
        self.executor = executor
        self.ready_marker = ready_marker
        self.worker_args = worker_args or []
        self.servers: list[ServeProcess] = []
        self.workers: list[Worker] = []

    def add_server(self) -> ServeProcess:
        server = ServeProcess(self.log_dir, ["--app", APP, "--host", "127.0.0.1", "--store", self.store,
                                             "--executor", self.executor, "--stale-after", STALE_AFTER],
                              token=TOKEN, env=clean_env(), cwd=ROOT, name=f"server{len(self.servers)}")
        server.start(timeout=60)
        self.servers.append(server)
        return server

    @property
    def server(self) -> ServeProcess:
        return self.servers[0]

    def add_worker(self) -> Worker:
        worker = Worker(self.log_dir, self.store, self.executor, f"worker{len(self.workers)}", self.worker_args)
        self.workers.append(worker)
        return worker

    def start_workers(self, count: int = 2) -> list[Worker]:
        alive = [w for w in self.workers if w.proc.poll() is None]
        fresh = [self.add_worker() for _ in range(count - len(alive))]
        for worker in fresh:
            worker.wait_ready(self.ready_marker)
        return [w for w in self.workers if w.proc.poll() is None]

    # ------------------------------------------------------------------ jobs over HTTP

    def start(self, job_type: str, server: ServeProcess | None = None, **params: Any) -> httpx.Response:
        return (server or self.server).api("POST", "/start", json={"jobType": job_type, "params": params})

    def start_ok(self, job_type: str, **params: Any) -> dict[str, Any]:
        response = self.start(job_type, **params)
        assert response.status_code == 201, response.text
        job: dict[str, Any] = response.json()
        return job

    def job(self, job_id: str) -> dict[str, Any]:
        response = self.server.api("GET", f"/single/{job_id}/progress")
        assert response.status_code == 200, response.text
        data: dict[str, Any] = response.json()
        return data

    def wait_status(self, job_id: str, *statuses: str, timeout: float = 20) -> dict[str, Any]:
        return wait_for(lambda: (j := self.job(job_id))["status"] in statuses and j, timeout=timeout,
                        interval=0.05, what=f"job {job_id} to be {' or '.join(statuses)}")

    def active(self) -> list[dict[str, Any]]:
        response = self.server.api("GET", "/active?messages=none")
        assert response.status_code == 200, response.text
        jobs: list[dict[str, Any]] = response.json()
        return jobs

    def abort_all_and_settle(self) -> None:
        """Between tests: nothing active, so the next test starts from idle workers."""
        self.server.api("POST", "/abort-all", json={"reason": "test teardown"})
        wait_for(lambda: not self.active(), timeout=30, interval=0.1, what="every job to end")

    def close(self) -> None:
        for worker in self.workers:
            worker.stop()
        for server in self.servers:
            server.stop()


def started_in(job: dict[str, Any]) -> int | None:
    """The pid the handler reported (``handler started in pid N``), or None if it never ran."""
    for message in job["infoMessages"]:
        if message["message"].startswith("handler started in pid "):
            return int(message["message"].rsplit(" ", 1)[1])
    return None


def owner_pid(job: dict[str, Any]) -> int | None:
    owner = job.get("owner")
    return int(owner.split(":")[-2]) if owner else None

