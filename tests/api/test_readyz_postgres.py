"""``/readyz`` on a PostgreSQL store: a round trip through the store's own pool and transactions, so that it says
"unavailable" while the store cannot serve a step, and "ready" again once it can."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import anyio
import httpx
import psycopg
import pytest

from jobdeck.api import create_app
from jobdeck.stores.postgres import PostgresStore
from tests.api.conftest import TOKEN

pytestmark = [pytest.mark.postgres, pytest.mark.anyio]


@pytest.fixture
def role(postgres_url: str) -> Iterator[str]:
    """A role that owns a schema of its own; the test takes its right to log in away and gives it back."""
    name = f"jobdeck_ready_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute(f'CREATE ROLE "{name}" LOGIN')
        admin.execute(f'CREATE SCHEMA "{name}" AUTHORIZATION "{name}"')
    try:
        yield name
    finally:
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            admin.execute(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{name}'")
            admin.execute(f'DROP SCHEMA "{name}" CASCADE')
            admin.execute(f'DROP ROLE "{name}"')


def _may_log_in(postgres_url: str, role: str, allowed: bool) -> None:
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute(f'ALTER ROLE "{role}" {"LOGIN" if allowed else "NOLOGIN"}')
        if not allowed:  # and its sessions are gone: the pool has nothing left that works
            admin.execute(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{role}'")


async def test_readyz_fails_while_the_store_cannot_serve_and_recovers(postgres_url: str, role: str) -> None:
    as_role = postgres_url.replace("://postgres@", f"://{role}@", 1)
    assert as_role != postgres_url, "DATABASE_URL must name the user postgres for this test"
    store = PostgresStore(as_role, schema=role, connect_timeout=1)
    app = create_app(store=store, token=TOKEN)
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://testserver") as client:
            assert (await client.get("/readyz")).json() == {"status": "ready"}
            _may_log_in(postgres_url, role, False)
            down = await client.get("/readyz")
            assert down.status_code == 503, down.text
            assert down.json()["status"] == "unavailable"
            assert (await client.get("/healthz")).status_code == 200
            _may_log_in(postgres_url, role, True)
            deadline = time.monotonic() + 30
            while (up := await client.get("/readyz")).status_code != 200:
                assert time.monotonic() < deadline, f"/readyz still says {up.text} 30 s after the store came back"
                await anyio.sleep(0.1)
            assert up.json() == {"status": "ready"}
    finally:
        store.close()
