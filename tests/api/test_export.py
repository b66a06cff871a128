"""GET /search?format=csv on every store: every matching job, spreadsheet-safe (quoting, line breaks, no formula
injection from a job's fields), streamed in pages."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from jobdeck import JobRunner
from jobdeck.api import create_app
from jobdeck.api._export import COLUMNS, safe_cell
from jobdeck.core.model import format_time
from jobdeck.stores import Store
from tests.api.conftest import AUTH, PREFIX, TOKEN, register_test_types, store_of

pytestmark = pytest.mark.anyio

STORES = ["memory", "sqlite", "redis", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(params=STORES)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    yield from store_of(request.param, request, tmp_path)


@pytest.fixture
def runner(store: Store) -> Iterator[JobRunner]:
    r = JobRunner(store, abort_grace=2)
    register_test_types(r)
    yield r
    r.shutdown(grace=5)


@pytest.fixture
async def client(runner: JobRunner) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(runner=runner, token=TOKEN)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://testserver") as c:
        yield c
    app.state.deck.mux.close()


async def _csv(client: httpx.AsyncClient, **params: object) -> list[dict[str, str]]:
    answer = await client.get(f"{PREFIX}/search", params={"format": "csv", **params}, headers=AUTH)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/csv")
    assert "attachment" in answer.headers["content-disposition"]
    assert answer.content.startswith(b"\xef\xbb\xbf")
    text = answer.content.decode("utf-8-sig")
    assert text.endswith("\r\n")
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert tuple(rows[0]) == COLUMNS
    return [dict(zip(COLUMNS, row, strict=True)) for row in rows[1:]]


@pytest.mark.parametrize(("value", "shown"), [("=1+2", "'=1+2"), ("+SUM(A1)", "'+SUM(A1)"), ("-2", "'-2"),
                                              ("@cmd", "'@cmd"), ("\tx", "'\tx"), ("\rx", "'\rx"), ("a=b", "a=b"),
                                              ("", "")])
def test_a_cell_starting_like_a_formula_is_text(value: str, shown: str) -> None:
    assert safe_cell(value) == shown


async def test_columns_times_duration_error_and_params(client: httpx.AsyncClient, store: Store) -> None:
    done = store.create_job("Import", "ada", {"rows": 3, "note": "a, \"quoted\"\nsecond line"})
    store.complete_job(done.id)
    failed = store.create_job("Import", "bob", None)
    store.fail_job(failed.id, "ValueError: row 7 is bad\nTraceback ...")
    running = store.create_job("Waits", "cy")
    rows = await _csv(client)
    by_id = {row["id"]: row for row in rows}
    assert [row["id"] for row in rows] == [running.id, failed.id, done.id]  # active first, then newest ended
    job = store.require_job(done.id, messages=False)
    assert job.end_time is not None
    assert by_id[done.id] == {
        "id": done.id, "jobType": "Import", "status": "completed", "author": "ada",
        "startTime": format_time(job.start_time), "endTime": format_time(job.end_time),
        "durationSeconds": f"{job.end_time - job.start_time:.3f}", "attempt": "1", "error": "",
        "params": json.dumps({"rows": 3, "note": "a, \"quoted\"\nsecond line"}, separators=(",", ":"))}
    assert json.loads(by_id[done.id]["params"])["note"] == "a, \"quoted\"\nsecond line"  # quoting round-trips
    assert by_id[failed.id]["error"] == "ValueError: row 7 is bad"  # the first line only
    assert by_id[running.id]["endTime"] == "" and by_id[running.id]["durationSeconds"] == ""


async def test_no_formula_reaches_the_spreadsheet_from_a_jobs_fields(client: httpx.AsyncClient, store: Store) -> None:
    evil = store.create_job("Import", "=HYPERLINK(\"http://x\")", None)
    store.fail_job(evil.id, "@SUM(1+1)")
    row = (await _csv(client))[0]
    assert row["author"] == "'=HYPERLINK(\"http://x\")" and row["error"] == "'@SUM(1+1)"
    for cell in row.values():
        assert not cell.startswith(("=", "+", "-", "@", "\t", "\r"))


async def test_the_filter_applies_and_every_page_is_streamed(client: httpx.AsyncClient, store: Store) -> None:
    ids = []
    for n in range(230):  # more than one page of 200
        job = store.create_job("Import" if n % 2 else "Export", "admin", {"n": n})
        store.complete_job(job.id)
        ids.append(job.id)
    rows = await _csv(client, status="completed")
    assert len(rows) == 230 and len({row["id"] for row in rows}) == 230
    exports = await _csv(client, jobType="Export")
    assert {row["id"] for row in exports} == set(ids[0::2])


async def test_bad_format_or_filter_is_a_400(client: httpx.AsyncClient) -> None:
    assert (await client.get(f"{PREFIX}/search?format=xml", headers=AUTH)).status_code == 400
    assert (await client.get(f"{PREFIX}/search?format=csv&status=nope", headers=AUTH)).status_code == 400
    assert (await client.get(f"{PREFIX}/search?format=csv")).status_code == 401


async def test_csv_of_one_failure_group(client: httpx.AsyncClient, store: Store) -> None:
    keys = []
    for n in range(3):
        job = store.create_job("Import", "ada")
        store.fail_job(job.id, f"KeyError: 'k{n}'")
        keys.append(job.id)
    other = store.create_job("Import", "ada")
    store.fail_job(other.id, "ValueError: 7")
    rows = await _csv(client, signature="KeyError: '<str>'")
    assert [row["id"] for row in rows] == list(reversed(keys))
    page = (await client.get(f"{PREFIX}/search", params={"signature": "ValueError: <n>"}, headers=AUTH)).json()
    assert [job["id"] for job in page["jobs"]] == [other.id]
