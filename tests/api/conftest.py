"""Fixtures for the API tests: a memory store and runner with quick job types, an in-process HTTP client,
and a real uvicorn on a free loopback port for what only a real server shows (streaming)."""

from __future__ import annotations

import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from jobdeck import JobRunner, MemoryStore, PipelineController
from jobdeck.api import create_app
from jobdeck.stores import Store
from tests.conftest import free_port, unique_schema

TOKEN = "api-test-token-8c41f0"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
PREFIX = "/api/admin/jobs"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def register_test_types(runner: JobRunner) -> None:
    """Quick (completes), Waits (runs until aborted), Boom (fails), Slots (two may run at once)."""

    def quick(ctl: PipelineController, n: int = 2) -> dict[str, int]:
        ctl.info("quick start")
        ctl.warning("quick warning")
        ctl.progress(0.5)
        return {"n": n}

    def waits(ctl: PipelineController, step: float = 0.01) -> None:
        ctl.info("waiting for abort")
        while True:
            ctl.check_abort()
            time.sleep(step)

    def boom(ctl: PipelineController) -> None:
        raise RuntimeError("exploded on purpose")

    runner.register("Quick", quick, title="Quick job", description="completes", params={"n": 2})
    runner.register("Waits", waits, title="Waits", timeout=60)
    runner.register("Boom", boom, title="Boom")
    runner.register("Slots", waits, title="Slots", max_concurrent=2)


def store_of(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A store of ``kind`` (memory, sqlite, redis, postgres) on a location of the test's own, removed after it
    (for a fixture parametrised over the stores: ``yield from store_of(request.param, request, tmp_path)``)."""
    from tests.stores.conftest import Backend, unique_prefix

    if kind == "redis":
        location = f"{request.getfixturevalue('redis_url')}#{unique_prefix()}"
    elif kind == "postgres":
        location = f"{request.getfixturevalue('postgres_url')}#{unique_schema()}"
    else:
        location = str(tmp_path / "jobs.db")
    backend = Backend(kind, location)
    try:
        yield backend.open()
    finally:
        backend.close()


@pytest.fixture
def store() -> Iterator[MemoryStore]:
    with MemoryStore() as s:
        yield s


@pytest.fixture
def runner(store: MemoryStore) -> Iterator[JobRunner]:
    r = JobRunner(store, abort_grace=5)
    register_test_types(r)
    yield r
    r.shutdown(grace=5)


@pytest.fixture
def app(runner: JobRunner) -> FastAPI:
    return create_app(runner=runner, token=TOKEN)


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://testserver") as c:
        yield c


@pytest.fixture
def make_client() -> Iterator[Callable[[FastAPI], httpx.AsyncClient]]:
    """In-process clients for apps built inside a test; closed at teardown by the caller's ``async with``."""

    def make(app: FastAPI, **kwargs: Any) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://testserver", **kwargs)

    yield make


@contextmanager
def live_server(app: Any, **options: Any) -> Iterator[str]:
    """The app under a real uvicorn in a thread on a free loopback port; stopped (with a deadline) afterwards.
    ``options`` go to ``uvicorn.Config``."""
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False,
                            lifespan="on", timeout_graceful_shutdown=2, **options)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            pytest.fail("uvicorn did not start within 10s")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        if thread.is_alive():
            pytest.fail("uvicorn did not stop within 10s")
