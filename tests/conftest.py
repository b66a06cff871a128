"""Shared test infrastructure: real services, deadlines instead of sleeps.

- ``wait_for(predicate, timeout)``: poll a condition until it holds or the deadline passes.
- ``require(reason)``: skip locally when a service or browser is missing, fail under JOBDECK_REQUIRE_ALL=1 (CI).
- ``redis_url``: REDIS_URL when set, else a private redis-server on a free loopback port for the session.
- ``postgres_url``: a fresh database for this session on DATABASE_URL's server (else 127.0.0.1:5432, user
  postgres), created with a unique name and dropped at the end, so that concurrent sessions never meet.
- ``fresh_database(admin_url)``: a uniquely named database, dropped afterwards; ``procrastinate_dsn``: the
  session's database with procrastinate's schema.
- ``free_port()``: a free TCP port on 127.0.0.1.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import pytest

# Started as a background job of a shell without job control, this process and every program it starts would
# ignore SIGINT (an ignored signal stays ignored across exec): the tests of Ctrl-C in the CLI need it delivered.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

T = TypeVar("T")

REQUIRE_ALL = os.environ.get("JOBDECK_REQUIRE_ALL") == "1"


def require(reason: str) -> None:
    """A needed service is missing: skip with the reason, or fail in CI where everything must run."""
    if REQUIRE_ALL:
        pytest.fail(f"JOBDECK_REQUIRE_ALL=1 but {reason}")
    pytest.skip(reason)


def wait_for(predicate: Callable[[], T], timeout: float = 10.0, interval: float = 0.02, what: str = "condition") -> T:
    """Return the first truthy value of ``predicate()``; fail the test if none comes before ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _redis_answers(url: str) -> bool:
    try:
        import redis
    except ImportError:
        return False
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=1)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except redis.RedisError:
        return False


@pytest.fixture(scope="session")
def redis_server() -> Iterator[str | None]:
    """The base URL of a real Redis for this session, or None when there is none."""
    url = os.environ.get("REDIS_URL")
    if url:
        yield url if _redis_answers(url) else None
        return
    binary = shutil.which("redis-server")
    if binary is None:
        yield None
        return
    port = free_port()
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    try:
        deadline = time.monotonic() + 10
        while not _redis_answers(url) and time.monotonic() < deadline:
            time.sleep(0.05)
        yield url if _redis_answers(url) else None
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture
def redis_url(redis_server: str | None) -> str:
    """A Redis URL, skipping (or failing under JOBDECK_REQUIRE_ALL) when no server can be had."""
    if redis_server is None:
        require("no Redis server: set REDIS_URL or install redis-server")
    assert redis_server is not None
    return redis_server


PG_DEFAULT = "postgresql://postgres@127.0.0.1:5432/postgres"


def _pg_admin(url: str) -> Any:
    """An autocommit connection to the server's maintenance database, or None when nothing answers."""
    try:
        import psycopg
    except ImportError:
        return None
    try:
        return psycopg.connect(url, autocommit=True, connect_timeout=3)
    except psycopg.Error:
        return None


@contextmanager
def fresh_database(admin_url: str, prefix: str = "jobdeck_test") -> Iterator[str]:
    """A database with a unique name on the server ``admin_url`` reaches, dropped (with its connections) after."""
    from urllib.parse import urlsplit, urlunsplit

    import psycopg

    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        # Tests check behaviour, not durability: commits that do not wait for the disk keep the suite fast on a
        # busy machine (the store's own choices are measured in benchmarks/ on the server's settings).
        admin.execute(f'ALTER DATABASE "{name}" SET synchronous_commit = off')
    try:
        yield urlunsplit(urlsplit(admin_url)._replace(path=f"/{name}"))
    finally:
        try:
            with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        except psycopg.Error:
            pass  # the server went away with the test (a private cluster): nothing is left to drop


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str | None]:
    """The URL of a database created for this session (dropped afterwards), or None when no server answers."""
    base = os.environ.get("DATABASE_URL") or PG_DEFAULT
    admin = _pg_admin(base)
    if admin is None:
        yield None
        return
    admin.close()
    with fresh_database(base) as url:
        yield url


@pytest.fixture
def postgres_url(postgres_server: str | None) -> str:
    """The session's PostgreSQL database URL, skipping (or failing under JOBDECK_REQUIRE_ALL) without a server."""
    if postgres_server is None:
        require("no PostgreSQL server: set DATABASE_URL or run one on 127.0.0.1:5432 (user postgres)")
    assert postgres_server is not None
    return postgres_server


def unique_schema() -> str:
    return f"t_{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="session")
def pg_cluster_server() -> Iterator[Any]:
    """A private PostgreSQL cluster (tests.pg_cluster.Cluster) for this session, started; None without initdb."""
    from tests.pg_cluster import Cluster, pg_bin

    binaries = pg_bin()
    if binaries is None:
        yield None
        return
    cluster = Cluster(binaries)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.remove()


@pytest.fixture
def pg_cluster(pg_cluster_server: Any) -> Any:
    """The session's private PostgreSQL cluster, started (a test that stopped it must start it again)."""
    if pg_cluster_server is None:
        require("no PostgreSQL server binaries (initdb): install Debian's postgresql package")
    return pg_cluster_server


@pytest.fixture(scope="session")
def postgres_admin_url(postgres_server: str | None) -> str:
    """The server's maintenance URL (DATABASE_URL or the default), for tests that need a database of their own."""
    if postgres_server is None:
        require("no PostgreSQL server: set DATABASE_URL or run one on 127.0.0.1:5432 (user postgres)")
    return os.environ.get("DATABASE_URL") or PG_DEFAULT


@pytest.fixture(scope="session")
def procrastinate_dsn(postgres_server: str | None) -> str:
    """The session's PostgreSQL database with procrastinate's schema (its tables sit beside the stores')."""
    if postgres_server is None:
        require("no PostgreSQL server: set DATABASE_URL or run one on 127.0.0.1:5432 (user postgres)")
    try:
        import procrastinate  # noqa: F401
    except ImportError:
        require("procrastinate is not installed: pip install -e '.[test]'")
    assert postgres_server is not None
    apply_procrastinate_schema(postgres_server)
    return postgres_server


def apply_procrastinate_schema(dsn: str) -> None:
    import psycopg
    from procrastinate.schema import SchemaManager

    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(SchemaManager.get_schema())  # type: ignore[arg-type]
