"""GET /metrics: its own access rule, the figures after real jobs, and two real server processes on one store
whose counters add up to each job exactly once."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from jobdeck import JobRunner
from jobdeck.api import create_app
from jobdeck.core.model import JobStatus
from tests.api.conftest import AUTH, PREFIX, TOKEN
from tests.conftest import wait_for
from tests.serve_process import ServeProcess, demo_args

pytestmark = pytest.mark.anyio

METRICS_TOKEN = "metrics-token-3b7d"
DASHBOARD = Path(__file__).resolve().parents[2] / "docs" / "grafana-dashboard.json"
SCRAPE = {"Authorization": f"Bearer {METRICS_TOKEN}"}


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a scrape, keyed by name and sorted labels."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def value(found: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    return found.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.fixture
async def metrics_client(runner: JobRunner) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(runner=runner, token=TOKEN, metrics_token=METRICS_TOKEN)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://testserver") as c:
        yield c


async def test_metrics_need_their_own_token(metrics_client: httpx.AsyncClient) -> None:
    assert (await metrics_client.get("/metrics")).status_code == 401
    assert (await metrics_client.get("/metrics", headers=AUTH)).status_code == 403  # the admin token is not it
    assert (await metrics_client.get("/metrics", headers={"Authorization": "Bearer nope"})).json() == {
        "error": "wrong metrics token"}
    ok = await metrics_client.get("/metrics", headers=SCRAPE)
    assert ok.status_code == 200 and ok.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert "# TYPE jobdeck_jobs_started_total counter" in ok.text


async def test_no_metrics_unless_asked_for(client: httpx.AsyncClient) -> None:
    assert (await client.get("/metrics", headers=AUTH)).status_code == 404


async def test_public_metrics_answer_loopback_clients_only(runner: JobRunner) -> None:
    app = create_app(runner=runner, token=TOKEN, metrics_public=True)
    local = httpx.ASGITransport(app, client=("127.0.0.1", 40000))
    remote = httpx.ASGITransport(app, client=("192.0.2.7", 40000))  # a documentation address: never contacted
    async with httpx.AsyncClient(transport=local, base_url="http://t") as c:
        assert (await c.get("/metrics")).status_code == 200
    async with httpx.AsyncClient(transport=remote, base_url="http://t") as c:
        refused = await c.get("/metrics")
        assert refused.status_code == 403 and "loopback" in refused.json()["error"]


async def test_figures_after_real_jobs(metrics_client: httpx.AsyncClient, runner: JobRunner) -> None:
    store = runner.store
    quick = runner.start("Quick", "a")
    boom = runner.start("Boom", "a")
    runner.wait(quick.id, 10)
    runner.wait(boom.id, 10)
    stale = store.create_job("Imported", "elsewhere")  # a job of a process that died
    assert store.reap_stale(now=stale.start_time + store.stale_after * 10) == [stale.id]
    waits = runner.start("Waits", "a")
    found = samples((await metrics_client.get("/metrics", headers=SCRAPE)).text)
    assert value(found, "jobdeck_jobs_started_total", job_type="Quick") == 1
    assert value(found, "jobdeck_jobs_started_total", job_type="Imported") == 1
    assert value(found, "jobdeck_jobs_finished_total", job_type="Quick", status="completed") == 1
    assert value(found, "jobdeck_jobs_finished_total", job_type="Boom", status="failed") == 1
    assert value(found, "jobdeck_jobs_finished_total", job_type="Imported", status="failed") == 1
    assert value(found, "jobdeck_jobs_reaped_total", job_type="Imported") == 1
    assert value(found, "jobdeck_jobs_reaped_total", job_type="Boom") == 0
    assert value(found, "jobdeck_job_duration_seconds_count", job_type="Quick", status="completed") == 1
    assert value(found, "jobdeck_jobs_active", job_type="Waits", status="running") == 1
    assert value(found, "jobdeck_event_stream_clients") == 0

    assert (await metrics_client.post(f"{PREFIX}/single/{waits.id}/abort", json={}, headers=AUTH)).status_code == 202
    assert runner.wait(waits.id, 10).status is JobStatus.ABORTED
    found = samples((await metrics_client.get("/metrics", headers=SCRAPE)).text)
    assert value(found, "jobdeck_jobs_finished_total", job_type="Waits", status="aborted") == 1
    assert value(found, "jobdeck_jobs_active", job_type="Waits", status="running") == 0
    assert value(found, "jobdeck_jobs_started_total", job_type="Waits") == 1


async def test_grafana_dashboard_uses_only_metrics_the_server_exposes(metrics_client: httpx.AsyncClient,
                                                                     runner: JobRunner) -> None:
    runner.wait(runner.start("Quick", "a").id, 10)  # so that labelled series exist
    text = (await metrics_client.get("/metrics", headers=SCRAPE)).text
    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"), "gauge": ("",)}
    scraped = {family.name + suffix for family in text_string_to_metric_families(text)
               for suffix in suffixes.get(family.type, ("",))}
    board = json.loads(DASHBOARD.read_text())
    used = {name for panel in board["panels"] for target in panel["targets"]
            for name in re.findall(r"jobdeck_[a-z_]+", target["expr"])}
    used |= set(re.findall(r"jobdeck_[a-z_]+", json.dumps(board["templating"])))
    assert used and used <= scraped, used - scraped
    for family in ("jobdeck_jobs_active", "jobdeck_jobs_started_total", "jobdeck_jobs_finished_total",
                   "jobdeck_job_duration_seconds_bucket", "jobdeck_jobs_reaped_total",
                   "jobdeck_event_stream_clients", "jobdeck_store_errors_total", "jobdeck_jobs_queued_total",
                   "jobdeck_job_queue_wait_seconds_bucket", "jobdeck_jobs_requeued_total"):
        assert family in used, f"the dashboard shows no {family}"
    assert all(panel["datasource"]["uid"] == "${DS_PROMETHEUS}" for panel in board["panels"])
    ids = [panel["id"] for panel in board["panels"]]
    assert len(ids) == len(set(ids)), "panel ids must be unique for Grafana to import the board"
    cells = [(x, y) for p in board["panels"] for x in range(p["gridPos"]["x"], p["gridPos"]["x"] + p["gridPos"]["w"])
             for y in range(p["gridPos"]["y"], p["gridPos"]["y"] + p["gridPos"]["h"])]
    assert len(cells) == len(set(cells)), "panels overlap"


@pytest.mark.slow
def test_two_processes_on_one_store_count_each_job_once(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 'jobs.db'}"
    args = demo_args(store, 200, "--metrics-token", METRICS_TOKEN)
    servers = [ServeProcess(tmp_path, args, token=TOKEN, name=n).launch() for n in ("a", "b")]
    try:
        for server in servers:
            server.wait_ready()
        started: dict[str, list[str]] = {"a": [], "b": []}
        for server, count in ((servers[0], 3), (servers[1], 2)):
            for _ in range(count):
                job = server.api("POST", "/start", json={"jobType": "Cleanup", "params": {"days": 3}})
                assert job.status_code in (201, 409), job.text
                if job.status_code == 201:
                    started[server.name].append(job.json()["id"])
                wait_for(lambda s=server: not s.api("GET", "/active").json(), timeout=30, what="the job to end")
        scrapes = [samples(httpx.get(f"{s.url}/metrics", headers=SCRAPE, timeout=10).text) for s in servers]
        for server, found in zip(servers, scrapes, strict=True):
            mine = len(started[server.name])
            assert value(found, "jobdeck_jobs_started_total", job_type="Cleanup") == mine
            assert value(found, "jobdeck_jobs_finished_total", job_type="Cleanup", status="completed") == mine
        total = sum(value(f, "jobdeck_jobs_started_total", job_type="Cleanup") for f in scrapes)
        assert total == 5 == len(started["a"]) + len(started["b"])
        # The store-wide gauge: both servers see a job started through one of them.
        long = servers[0].api("POST", "/start", json={"jobType": "ArgumentCondensation",
                                                      "params": {"questions": 30}}).json()
        for server in servers:
            wait_for(lambda s=server: value(samples(httpx.get(f"{s.url}/metrics", headers=SCRAPE, timeout=10).text),
                                            "jobdeck_jobs_active", job_type="ArgumentCondensation",
                                            status="running") == 1, what=f"{server.name} to see the active job")
        servers[1].api("POST", f"/single/{long['id']}/abort", json={})
    finally:
        for server in servers:
            server.stop()
