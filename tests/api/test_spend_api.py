"""What a job spends over HTTP (issue 24): ``usage`` in lists and the single view, a start's ``budget`` within its
type's ``max_budget``, ``usage`` in a report (priced by the server), and RemoteController.usage() against a real
server on every store."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from jobdeck import Budget, JobRunner, PipelineController
from jobdeck.api import create_app
from jobdeck.client import RemoteController
from jobdeck.stores import Store
from tests.api.conftest import AUTH, PREFIX, TOKEN, live_server, store_of
from tests.conftest import wait_for

pytestmark = pytest.mark.anyio
PRICES = {"gpt-4o-mini": {"input": 0.15, "output": 0.60}}


def spender(ctl: PipelineController, calls: int = 2) -> None:
    ctl.initialize_pipeline(["summaries"])
    for _ in range(calls):
        ctl.check_abort()
        ctl.usage("gpt-4o-mini", input_tokens=1_000_000, output_tokens=1_000_000, requests=1)


@pytest.fixture
def priced(runner: JobRunner) -> JobRunner:
    runner.prices = PRICES
    runner.register("Spend", spender, params={"calls": 2}, budget=Budget(cost=10.0), max_budget=Budget(cost=20.0))
    return runner


async def test_usage_in_the_single_view_and_the_lists(client: httpx.AsyncClient, priced: JobRunner) -> None:
    started = await client.post(f"{PREFIX}/start", json={"jobType": "Spend"}, headers=AUTH)
    assert started.status_code == 201 and started.json()["usage"] is None
    job_id = started.json()["id"]
    priced.wait(job_id, timeout=10)
    single = (await client.get(f"{PREFIX}/single/{job_id}/progress", headers=AUTH)).json()
    assert single["usage"]["cost"] == pytest.approx(1.5)
    assert single["usage"]["counters"] == {"requests": 2}
    assert single["operations"][0]["usage"]["cost"] == pytest.approx(1.5)
    past = (await client.get(f"{PREFIX}/past", headers=AUTH)).json()
    assert next(j for j in past if j["id"] == job_id)["usage"] == single["usage"]


async def test_a_start_budget_within_max_budget(client: httpx.AsyncClient, priced: JobRunner) -> None:
    over = await client.post(f"{PREFIX}/start", json={"jobType": "Spend", "budget": {"cost": 25}}, headers=AUTH)
    assert over.status_code == 400 and "max_budget" in over.json()["error"]
    for bad in ({"cost": -1}, {"cost": "5"}, {"dollars": 5}, {}, []):
        answer = await client.post(f"{PREFIX}/start", json={"jobType": "Spend", "budget": bad}, headers=AUTH)
        assert answer.status_code == 400, (bad, answer.text)
    none = await client.post(f"{PREFIX}/start", json={"jobType": "Quick", "budget": {"cost": 1}}, headers=AUTH)
    assert none.status_code == 400 and "takes no budget per start" in none.json()["error"]
    small = await client.post(f"{PREFIX}/start", json={"jobType": "Spend", "params": {"calls": 5},
                                                       "budget": {"cost": 2}}, headers=AUTH)
    assert small.status_code == 201
    job = priced.wait(small.json()["id"], timeout=10)
    assert job.status.value == "aborted" and job.aborted_by == "budget"
    assert job.abort_reason == "budget exceeded: $2.25 spent of $2.00"


async def test_usage_over_the_report_api(client: httpx.AsyncClient, priced: JobRunner) -> None:
    priced.register_external("Remote")
    job_id = (await client.post(f"{PREFIX}/start", json={"jobType": "Remote"}, headers=AUTH)).json()["id"]
    tree = [{"id": "load", "progress": 0.5, "state": "started"}]
    assert (await client.post(f"{PREFIX}/single/{job_id}/report", json={"operations": tree},
                              headers=AUTH)).status_code == 200
    usage = {"byModel": {"gpt-4o-mini": {"inputTokens": 2_000_000, "outputTokens": 0},
                         "mystery": {"inputTokens": 5, "outputTokens": 5, "cost": None},
                         "own": {"inputTokens": 1, "outputTokens": 1, "cost": 0.5}},
             "counters": {"requests": 3}}
    for _ in range(2):  # totals, not increments: sending them again changes nothing
        answer = await client.post(f"{PREFIX}/single/{job_id}/report", json={"usage": usage}, headers=AUTH)
        assert answer.status_code == 200, answer.text
    job = (await client.get(f"{PREFIX}/single/{job_id}/progress", headers=AUTH)).json()
    assert job["usage"]["byModel"]["gpt-4o-mini"]["cost"] == pytest.approx(0.30)  # priced by the server
    assert job["usage"]["cost"] is None and job["usage"]["knownCost"] == pytest.approx(0.80)
    assert job["usage"]["inputTokens"] == 2_000_006 and job["usage"]["counters"] == {"requests": 3}
    assert job["operations"] == tree  # a report with usage alone keeps the tree
    for bad in ({"usage": []}, {"usage": {"byModel": {"m": {"inputTokens": -1}}}},
                {"usage": {"counters": {f"c{i}": 1 for i in range(17)}}}, {"usage": {"byModel": {"": {}}}}):
        answer = await client.post(f"{PREFIX}/single/{job_id}/report", json=bad, headers=AUTH)
        assert answer.status_code == 400, (bad, answer.text)


@pytest.fixture(params=["memory", "sqlite", "redis", pytest.param("postgres", marks=pytest.mark.postgres)])
def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "memory":
        from jobdeck import MemoryStore

        with MemoryStore() as store:
            yield store
        return
    yield from store_of(request.param, request, tmp_path)


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
def test_remote_controller_usage_reaches_the_store(any_store: Store, anyio_backend: str) -> None:
    runner = JobRunner(any_store, prices=PRICES)
    runner.register_external("Remote")
    try:
        with live_server(create_app(runner=runner, token=TOKEN)) as url:
            job = runner.start("Remote", "me")
            with RemoteController(job.id, url, TOKEN, max_rate=50) as ctl:
                ctl.initialize_pipeline(["a", "b"])
                ctl.usage("gpt-4o-mini", input_tokens=1_000_000, output_tokens=0, requests=1)
                ctl.next_operation()
                ctl.usage("gpt-4o-mini", input_tokens=0, output_tokens=1_000_000, requests=1)
            done = wait_for(lambda: (j := any_store.require_job(job.id, operations=True)).status.is_terminal and j,
                            what="the remote job's end")
            assert done.usage is not None and done.usage.cost == pytest.approx(0.75)
            assert done.usage.counters == {"requests": 2}
            assert done.operations is not None
            shares = [n.to_dict().get("usage") for n in done.operations.nodes]
            assert [s["inputTokens"] for s in shares] == [1_000_000, 0]  # type: ignore[index]
    finally:
        runner.shutdown(grace=2)


async def test_limits_endpoint_shows_use_and_waiters(client: httpx.AsyncClient, runner: JobRunner) -> None:
    assert (await client.get(f"{PREFIX}/limits", headers=AUTH)).json() == []
    store = runner.store
    store.acquire_slot("openai", "a", 1)
    store.acquire_slot("openai", "b", 1)
    store.reserve_rate("embed", 0.5)
    answer = await client.get(f"{PREFIX}/limits", headers=AUTH)
    assert answer.status_code == 200
    assert answer.json() == [
        {"name": "embed", "concurrency": None, "inUse": 0, "waiting": 0, "ratePerMinute": 120.0},
        {"name": "openai", "concurrency": 1, "inUse": 1, "waiting": 1, "ratePerMinute": None}]
    assert (await client.get(f"{PREFIX}/limits")).status_code == 401


async def test_spend_per_type_today_and_this_month(client: httpx.AsyncClient, priced: JobRunner) -> None:
    import time

    from jobdeck.api._spend import spend_by_type

    for calls in (1, 2):
        job_id = (await client.post(f"{PREFIX}/start", json={"jobType": "Spend", "params": {"calls": calls}},
                                    headers=AUTH)).json()["id"]
        priced.wait(job_id, timeout=10)
    answer = await client.get(f"{PREFIX}/spend", headers=AUTH)
    assert answer.status_code == 200
    [spend] = answer.json()
    assert spend["jobType"] == "Spend" and spend["jobs"] == 2 and spend["currency"] == "USD"
    assert spend["today"] == pytest.approx(2.25) and spend["month"] == pytest.approx(2.25)  # 3 calls of $0.75
    assert spend_by_type(priced.store, time.time() + 40 * 86400) == []  # ended in an earlier month
    assert (await client.get(f"{PREFIX}/spend")).status_code == 401


def test_webhook_bodies_carry_the_final_usage() -> None:
    from jobdeck import JobInfo
    from jobdeck.api._webhook import job_summary
    from jobdeck.core.usage import Usage

    job = JobInfo(id="8f0c5c0e-4f9b-4a53-9a57-2f7f6f2b9a41", job_type="Condense", author="me",
                  usage=Usage().add("gpt-4o-mini", 10, 5, 0.25, {"requests": 1}))
    body = job_summary(job, "failed", "http://x/jobs/1")
    assert body["usage"]["cost"] == 0.25 and body["usage"]["counters"] == {"requests": 1}
    assert job_summary(JobInfo(id=job.id, job_type="C", author="me"), "failed", "l")["usage"] is None


def mixed(ctl: PipelineController, calls: int = 1, model: str = "gpt-4o-mini") -> None:
    ctl.initialize_pipeline(["calls"])
    for _ in range(calls):
        ctl.usage(model, input_tokens=1_000_000, output_tokens=1_000_000)


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
def test_spend_total_covers_every_job_the_filters_match(any_store: Store, anyio_backend: str,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from jobdeck.stores import _spend_total

    monkeypatch.setattr(_spend_total, "_PAGE", 2)  # the paging fallback (memory, Redis) crosses pages
    runner = JobRunner(any_store, prices=PRICES)
    runner.register("Mixed", mixed)
    runner.register("Other", mixed)
    try:
        for job_type, author, params in (("Mixed", "alice", {"calls": 1}), ("Mixed", "bob", {"calls": 2}),
                                         ("Mixed", "bob", {"calls": 1, "model": "mystery"}),
                                         ("Mixed", "carol", {"calls": 0}), ("Other", "alice", {"calls": 4})):
            runner.wait(runner.start(job_type, author, params).id, timeout=10)  # one at a time: max_active 1
        with live_server(create_app(runner=runner, token=TOKEN)) as url, \
                httpx.Client(base_url=url + PREFIX, headers={"Authorization": f"Bearer {TOKEN}"}) as http:
            def total(**params: str) -> dict[str, object]:
                answer = http.get("/spend/total", params=params)
                assert answer.status_code == 200, answer.text
                return answer.json()  # type: ignore[no-any-return]

            every = total()
            assert every == {"jobs": 5, "withUsage": 4, "cost": pytest.approx(0.75 * 7), "unknown": 1,
                             "inputTokens": 8_000_000, "outputTokens": 8_000_000, "currency": "USD"}
            mixed_only = total(jobType="Mixed")
            assert (mixed_only["jobs"], mixed_only["cost"], mixed_only["unknown"]) == (4, pytest.approx(2.25), 1)
            alice = total(q="alice")
            assert (alice["jobs"], alice["cost"], alice["unknown"]) == (2, pytest.approx(3.75), 0)
            assert total(q="alice", jobType="Mixed")["cost"] == pytest.approx(0.75)
            assert total(status="failed")["jobs"] == 0 and total(status="failed")["cost"] == 0
            assert total(status="completed,aborted")["jobs"] == 5
            assert total(q="nobody-matches-this")["jobs"] == 0
            for bad in ({"status": "bogus"}, {"q": "x" * 1001}, {"q": " ".join(f"w{i}" for i in range(9))}):
                assert http.get("/spend/total", params=bad).status_code == 400, bad
            assert httpx.get(f"{url}{PREFIX}/spend/total").status_code == 401
    finally:
        runner.shutdown(grace=2)


async def test_spend_per_day_for_a_type(client: httpx.AsyncClient, priced: JobRunner) -> None:
    import time

    from jobdeck.api._spend import spend_by_day

    for calls in (1, 2):
        job_id = (await client.post(f"{PREFIX}/start", json={"jobType": "Spend", "params": {"calls": calls}},
                                    headers=AUTH)).json()["id"]
        priced.wait(job_id, timeout=10)
    answer = await client.get(f"{PREFIX}/spend/daily", params={"jobType": "Spend", "days": 3}, headers=AUTH)
    assert answer.status_code == 200, answer.text
    daily = answer.json()
    assert daily["jobType"] == "Spend" and daily["currency"] == "USD" and len(daily["days"]) == 3
    today = time.strftime("%Y-%m-%d", time.gmtime())
    assert daily["days"][-1] == {"day": today, "cost": pytest.approx(2.25), "jobs": 2, "withUsage": 2}
    assert [d["cost"] for d in daily["days"][:-1]] == [0, 0]
    later = spend_by_day(priced.store, "Spend", 3, time.time() + 86400)["days"]  # seen from tomorrow
    assert [d["jobs"] for d in later] == [0, 2, 0]
    assert len((await client.get(f"{PREFIX}/spend/daily?jobType=Spend", headers=AUTH)).json()["days"]) == 14
    for bad in ("", "?jobType=", "?jobType=Spend&days=0", "?jobType=Spend&days=93", "?jobType=Spend&days=x"):
        assert (await client.get(f"{PREFIX}/spend/daily{bad}", headers=AUTH)).status_code == 400, bad
    assert (await client.get(f"{PREFIX}/spend/daily?jobType=Spend")).status_code == 401


async def test_reported_use_is_checked_against_the_budget(client: httpx.AsyncClient, priced: JobRunner) -> None:
    priced.register_external("Metered", budget=Budget(cost=1.0))
    job_id = (await client.post(f"{PREFIX}/start", json={"jobType": "Metered"}, headers=AUTH)).json()["id"]

    async def report(cost: float) -> dict[str, object]:
        usage = {"byModel": {"own": {"inputTokens": 10, "outputTokens": 10, "cost": cost}}}
        answer = await client.post(f"{PREFIX}/single/{job_id}/report", json={"usage": usage}, headers=AUTH)
        assert answer.status_code == 200, answer.text
        return answer.json()  # type: ignore[no-any-return]

    def warnings() -> list[str]:
        return [m.message for m in priced.store.require_job(job_id).warning_messages]

    assert (await report(0.5))["abortRequested"] is False and warnings() == []
    for _ in range(2):  # the same totals twice: one warning
        assert (await report(0.85))["abortRequested"] is False
    assert warnings() == ["budget 80% used: $0.85 spent of $1.00"]
    stopped = await report(1.2)
    assert stopped == {"status": "aborting", "abortRequested": True,
                       "abortReason": "budget exceeded: $1.20 spent of $1.00"}
    assert (await report(1.3))["abortReason"] == "budget exceeded: $1.20 spent of $1.00"  # the first stands
    assert warnings() == ["budget 80% used: $0.85 spent of $1.00",   # once each
                          "Abort requested by budget: budget exceeded: $1.20 spent of $1.00"]
    ended = await client.post(f"{PREFIX}/single/{job_id}/aborted", headers=AUTH)
    assert ended.json()["status"] == "aborted"
    job = priced.store.require_job(job_id)
    assert job.aborted_by == "budget" and job.abort_reason == "budget exceeded: $1.20 spent of $1.00"


async def test_reported_use_past_a_start_budget_jumps_the_warning(client: httpx.AsyncClient,
                                                                  priced: JobRunner) -> None:
    priced.register_external("Metered2", budget=Budget(cost=1.0), max_budget=Budget(cost=5.0))
    started = await client.post(f"{PREFIX}/start", json={"jobType": "Metered2", "budget": {"cost": 3}}, headers=AUTH)
    job_id = started.json()["id"]
    usage = {"byModel": {"gpt-4o-mini": {"inputTokens": 10_000_000, "outputTokens": 3_000_000}}}  # $3.30, priced
    answer = (await client.post(f"{PREFIX}/single/{job_id}/report", json={"usage": usage}, headers=AUTH)).json()
    assert answer["abortReason"] == "budget exceeded: $3.30 spent of $3.00"   # the start's budget, not the type's
    said = [m.message for m in priced.store.require_job(job_id).warning_messages]
    assert not any(m.startswith("budget 80%") for m in said)                # past 100% at once: no 80% warning
