"""Hostile or odd requests get a clear 4xx and one short log line: malformed Origin and Host headers, wrong
tokens in a row, over-long URLs, foreign charsets; and what answers say about themselves (caching, sniffing,
framing), readiness including the store, a read-only SQLite file refused at start, job ids typed as UUIDs."""

from __future__ import annotations

import logging
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from jobdeck import MemoryStore, StoreError
from jobdeck.api import create_app
from jobdeck.api._middleware import MAX_URL
from jobdeck.stores.sqlite import SQLiteStore
from tests.api.conftest import AUTH, PREFIX, TOKEN
from tests.serve_process import ServeProcess

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("headers", [
    {"Origin": "http://[::1"},
    {"Origin": "http://a:99999999"},
    {"Origin": "http://127.0.0.1:8000", "Host": "[::1"},
    {"Origin": "http://x", "Host": "a:99999999"},
])
async def test_malformed_origin_or_host_is_a_403_without_a_traceback(
        client: httpx.AsyncClient, headers: dict[str, str], caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    response = await client.post(f"{PREFIX}/abort-all", json={}, headers=headers)  # no token at all
    assert response.status_code == 403 and "cross-site request refused" in response.json()["error"]
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]


@pytest.mark.parametrize("path", ["/", f"{PREFIX}/active", "/healthz", "/static/app.js"])
async def test_a_malformed_host_on_reads_is_no_500(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path, headers={**AUTH, "Host": "[::1"})
    assert response.status_code < 500


async def test_api_answers_are_never_cached_nor_sniffed(client: httpx.AsyncClient) -> None:
    missing = f"{PREFIX}/single/00000000-0000-0000-0000-000000000000/progress"
    for path in (f"{PREFIX}/active", f"{PREFIX}/stats", missing):
        response = await client.get(path, headers=AUTH)
        assert response.headers["cache-control"] == "no-store", path
        assert response.headers["x-content-type-options"] == "nosniff", path
    refused = await client.get(f"{PREFIX}/active")
    assert refused.status_code == 401 and refused.headers["cache-control"] == "no-store"


async def test_static_files_and_their_html_carry_the_page_protections(client: httpx.AsyncClient) -> None:
    script = await client.get("/static/app.js", headers=AUTH)
    assert script.status_code == 200
    assert script.headers["cache-control"] == "no-store" and script.headers["x-content-type-options"] == "nosniff"
    page = await client.get("/static/index.html", headers=AUTH)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    root = await client.get("/", headers=AUTH)
    for name in ("x-frame-options", "content-security-policy", "x-content-type-options", "cache-control"):
        assert page.headers[name] == root.headers[name], name


async def test_wrong_tokens_in_a_row_are_slowed_down(app: FastAPI, client: httpx.AsyncClient) -> None:
    throttle = app.state.deck.auth.throttle
    now = [1000.0]
    throttle._clock = lambda: now[0]  # the window passes when the test says so, however loaded the machine
    wrong = {"Authorization": "Bearer guess"}
    for _ in range(throttle.free):
        assert (await client.get(f"{PREFIX}/active", headers=wrong)).status_code == 403
    locked = await client.get(f"{PREFIX}/active", headers=wrong)
    assert locked.status_code == 429 and int(locked.headers["retry-after"]) >= 1
    assert "too many" in locked.json()["error"]
    login = await client.post("/login", data={"token": "guess"})
    assert login.status_code == 429
    # The right token is checked and let through all the while (issue 19, item 5) ...
    assert (await client.get(f"{PREFIX}/active", headers=AUTH)).status_code == 200
    for _ in range(throttle.limit - throttle.free - 2):
        assert (await client.get(f"{PREFIX}/active", headers=wrong)).status_code == 429
    # ... until the address has spent its budget of wrong tokens: then nothing from it is checked.
    refused = await client.get(f"{PREFIX}/active", headers=AUTH)
    assert refused.status_code == 429 and "no credential from it is checked" in refused.json()["error"]
    now[0] += throttle.window
    assert (await client.get(f"{PREFIX}/active", headers=AUTH)).status_code == 200
    assert throttle.failures("127.0.0.1") == 0


async def test_a_foreign_charset_is_refused(client: httpx.AsyncClient) -> None:
    body = '{"jobType": "Quick", "author": "Zoë"}'.encode("latin-1")
    response = await client.post(f"{PREFIX}/start", content=body,
                                 headers={**AUTH, "Content-Type": "application/json; charset=latin-1"})
    assert response.status_code == 415 and "UTF-8" in response.json()["error"]
    fine = await client.post(f"{PREFIX}/start", content='{"jobType": "Quick"}',
                             headers={**AUTH, "Content-Type": "application/json; charset=UTF-8"})
    assert fine.status_code == 201


async def test_an_over_long_url_is_a_414(client: httpx.AsyncClient) -> None:
    response = await client.get(f"{PREFIX}/active?jobType={'x' * MAX_URL}", headers=AUTH)
    assert response.status_code == 414 and "URL too long" in response.json()["error"]


async def test_job_ids_are_uuids_in_the_schema(client: httpx.AsyncClient) -> None:
    schema = (await client.get(f"{PREFIX}/openapi.json", headers=AUTH)).json()
    for path, operations in schema["paths"].items():
        for operation in operations.values():
            for parameter in operation.get("parameters", []):
                if parameter["name"] == "job_id":
                    assert parameter["schema"] == {"type": "string", "format": "uuid"}, path


class Unreachable(MemoryStore):
    """A store whose backend went away (every read fails the way a dead server makes it fail)."""

    down = False

    def _read_events(self, after: str | None, limit: int) -> object:  # type: ignore[override]
        if self.down:
            raise StoreError("store unreachable: connection refused")
        return super()._read_events(after, limit)


async def test_readyz_includes_the_store(make_client: object) -> None:
    store = Unreachable()
    app = create_app(store=store, token=TOKEN)
    async with make_client(app) as c:  # type: ignore[operator]
        ready = await c.get("/readyz")
        assert ready.status_code == 200 and ready.json() == {"status": "ready"}
        store.down = True
        assert (await c.get("/healthz")).status_code == 200  # alive...
        unready = await c.get("/readyz")  # ...but not ready, and no credentials needed to know it
        assert unready.status_code == 503 and "unreachable" in unready.json()["store"]


@pytest.fixture
def immutable(tmp_path: Path) -> Iterator[Path]:
    """A SQLite store file that nobody may write, not even root (the immutable attribute)."""
    path = tmp_path / "jobs.db"
    SQLiteStore(path).close()
    if subprocess.run(["chattr", "+i", str(path)], capture_output=True, check=False).returncode != 0:
        pytest.skip("chattr +i is not available here")
    try:
        yield path
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)


def test_a_read_only_sqlite_file_is_refused_at_start(immutable: Path) -> None:
    with pytest.raises(StoreError, match="is read-only: jobdeck must write to it"):
        SQLiteStore(immutable)


@pytest.mark.slow
def test_a_real_server_answers_414_for_an_over_long_url(tmp_path: Path) -> None:
    with ServeProcess(tmp_path, ["--store", "memory://"], token=TOKEN) as server:
        response = httpx.get(f"{server.url}{PREFIX}/active", params={"jobType": "x" * (2 * MAX_URL)},
                             headers=AUTH, timeout=10)
        assert response.status_code == 414
