"""Store fixtures: one ``backend`` per store kind, so that the behaviour suite is written once.

``backend.open(**limits)`` opens a store object on the test's own location (a temp SQLite file, a Redis prefix
or a PostgreSQL schema unique to the test); calling it twice gives two objects sharing that location, as two
processes would.
``backend.shared`` says whether two objects see each other (not so for the memory store). Every store opened is
closed, and every Redis key under the test's prefix (every table in the test's schema) deleted, in teardown.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from jobdeck.stores import MemoryStore, Store
from jobdeck.stores.postgres import PostgresStore
from jobdeck.stores.redis import RedisStore
from jobdeck.stores.sqlite import SQLiteStore
from tests.conftest import unique_schema

BACKENDS = ["memory", "sqlite", "redis", pytest.param("postgres", marks=pytest.mark.postgres)]


class Backend:
    def __init__(self, name: str, location: str) -> None:
        self.name = name
        self.location = location
        self.shared = name != "memory"
        self.opened: list[Store] = []

    def open(self, **limits: Any) -> Store:
        store: Store
        if self.name == "memory":
            store = MemoryStore(**limits)
        elif self.name == "sqlite":
            store = SQLiteStore(self.location, **limits)
        elif self.name == "postgres":
            url, schema = self.location.rsplit("#", 1)
            store = PostgresStore(url, schema=schema, **limits)
        else:
            url, prefix = self.location.rsplit("#", 1)
            store = RedisStore(url, prefix=prefix, **limits)
        self.opened.append(store)
        return store

    def close(self) -> None:
        for store in self.opened:
            store.close()
        if self.name == "redis":
            url, prefix = self.location.rsplit("#", 1)
            cleaner = RedisStore(url, prefix=prefix)
            cleaner.delete_all()
            cleaner.close()
        if self.name == "postgres":
            drop_schema(*self.location.rsplit("#", 1))

    def __repr__(self) -> str:
        return f"<Backend {self.name}>"


def drop_schema(url: str, schema: str) -> None:
    """Drop a test's PostgreSQL schema with everything in it."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def unique_prefix() -> str:
    return f"jobdeck-test-{uuid.uuid4().hex[:10]}"


def _backend(name: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    if name == "redis":
        url = request.getfixturevalue("redis_url")
        location = f"{url}#{unique_prefix()}"
    elif name == "postgres":
        location = f"{request.getfixturevalue('postgres_url')}#{unique_schema()}"
    elif name == "sqlite":
        location = str(tmp_path / "jobs.db")
    else:
        location = ""
    b = Backend(name, location)
    try:
        yield b
    finally:
        b.close()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    yield from _backend(request.param, request, tmp_path)


@pytest.fixture(params=["sqlite", "redis", pytest.param("postgres", marks=pytest.mark.postgres)])
def shared_backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    """Only the backends where two store objects (two processes) share one location."""
    yield from _backend(request.param, request, tmp_path)


@pytest.fixture
def store(backend: Backend) -> Store:
    return backend.open()


@pytest.fixture
def schema(postgres_url: str) -> Iterator[str]:
    """A PostgreSQL schema unique to the test; dropped with everything in it afterwards."""
    name = unique_schema()
    yield name
    drop_schema(postgres_url, name)


@pytest.fixture
def redis_prefix(redis_url: str) -> Iterator[str]:
    """A prefix unique to the test; its keys are deleted afterwards."""
    prefix = unique_prefix()
    yield prefix
    cleaner = RedisStore(redis_url, prefix=prefix)
    cleaner.delete_all()
    cleaner.close()
