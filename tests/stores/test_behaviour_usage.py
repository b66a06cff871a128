"""What a job spends, on every backend (issue 24): ``ctl.usage()`` rolled up per operation and per job, prices and
unknown prices, the counters' bound, the JSON of lists and the single view, and budgets that stop a job."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from jobdeck import Budget, JobRunner
from jobdeck.core.errors import AbortError, InvalidArgumentError
from jobdeck.core.model import JobStatus
from jobdeck.runtime.controller import PipelineController
from jobdeck.stores import Store
from tests.conftest import wait_for

PRICES = {"gpt-4o-mini": {"input": 0.15, "output": 0.60}}


@pytest.fixture
def runner(store: Store) -> Iterator[JobRunner]:
    runner = JobRunner(store, abort_grace=1, prices=PRICES)
    yield runner
    runner.shutdown(grace=2)


def test_use_rolls_up_per_operation_and_per_job(store: Store, runner: JobRunner) -> None:
    def condense(ctl: PipelineController) -> None:
        ctl.initialize_pipeline(["load", ("questions", 3)])
        ctl.usage("gpt-4o-mini", input_tokens=1000, output_tokens=100, requests=1)
        ctl.next_operation()
        ctl.define_sub_operations("questions", ["q1", "q2"])
        for _ in range(3):
            ctl.usage("gpt-4o-mini", input_tokens=2_000_000, output_tokens=1_000_000, requests=1)
        ctl.update_sub_operation("questions", "q1", 1.0)
        ctl.usage("embedder", input_tokens=50, output_tokens=0, images=2)

    runner.register("Condense", condense)
    job = runner.wait(runner.start("Condense", "me").id, timeout=10)
    assert job.status is JobStatus.COMPLETED
    single = store.require_job(job.id, operations=True).to_dict()
    usage = single["usage"]
    assert usage["inputTokens"] == 1000 + 6_000_000 + 50 and usage["outputTokens"] == 100 + 3_000_000
    assert usage["cost"] is None  # the embedder has no price: unknown, not zero
    assert usage["knownCost"] == pytest.approx((1000 * 0.15 + 100 * 0.6) / 1e6 + 3 * (0.30 + 0.60))
    assert usage["byModel"]["embedder"] == {"inputTokens": 50, "outputTokens": 0, "cost": None}
    assert usage["counters"] == {"requests": 4, "images": 2}
    assert usage["currency"] == "USD"
    load, questions = single["operations"]
    assert load["usage"] == {"inputTokens": 1000, "outputTokens": 100, "cost": pytest.approx(0.00021)}
    assert questions["usage"]["inputTokens"] == 6_000_050 and questions["usage"]["cost"] is None
    q1, q2 = questions["children"]
    assert q1["usage"]["inputTokens"] == 6_000_000 and q1["usage"]["cost"] == pytest.approx(2.7)
    assert q2["usage"]["inputTokens"] == 50
    # Lists carry the totals too (not the shares).
    listed = next(j for j in store.get_past_jobs() if j.id == job.id).to_dict()
    assert listed["usage"] == usage and "operations" not in listed


def test_use_without_a_pipeline_and_while_active(store: Store, runner: JobRunner) -> None:
    gate = threading.Event()

    def work(ctl: PipelineController) -> None:
        ctl.usage("gpt-4o-mini", input_tokens=1_000_000, output_tokens=0)
        ctl.progress(0.5)
        gate.wait(10)

    runner.register("Work", work)
    job_id = runner.start("Work", "me").id
    try:
        active = wait_for(lambda: [j for j in store.get_active_jobs(messages=False)
                                   if j.id == job_id and j.usage is not None], what="usage in /active")
        assert active[0].to_dict()["usage"]["cost"] == pytest.approx(0.15)
    finally:
        gate.set()
    assert runner.wait(job_id, timeout=10).usage is not None


def test_counter_bound_and_bad_values_raise_and_add_nothing(store: Store, runner: JobRunner) -> None:
    errors: list[str] = []

    def work(ctl: PipelineController) -> None:
        ctl.usage("m", 1, 1, **{f"c{i}": 1 for i in range(16)})
        for bad in (lambda: ctl.usage("m", 1, 1, one_more=1), lambda: ctl.usage("m", -5, 0),
                    lambda: ctl.usage("", 1, 1)):
            try:
                bad()
            except InvalidArgumentError as exc:
                errors.append(str(exc))

    runner.register("Work", work)
    job = runner.wait(runner.start("Work", "me").id, timeout=10)
    assert job.status is JobStatus.COMPLETED and len(errors) == 3
    assert "at most 16 counters" in errors[0]
    stored = store.require_job(job.id)
    assert stored.usage is not None and stored.usage.input_tokens == 1 and len(stored.usage.counters) == 16


def test_budget_stop_reason_status_and_the_eighty_percent_warning(store: Store, runner: JobRunner) -> None:
    calls: list[int] = []

    def spend(ctl: PipelineController) -> None:
        for i, cost in enumerate([1.0, 1.0, 1.0, 1.01, 1.01, 1.0, 1.0]):  # $4.01 after 4 calls, $5.02 after 5
            ctl.check_abort()
            calls.append(i)
            ctl.usage("gpt-4o-mini", cost=cost)

    runner.register("Spend", spend, budget=Budget(cost=5.00))
    job = runner.wait(runner.start("Spend", "me").id, timeout=10)
    assert job.status is JobStatus.ABORTED
    assert calls == [0, 1, 2, 3, 4]  # stopped at the check after the call that passed the budget
    assert job.abort_reason == "budget exceeded: $5.02 spent of $5.00"
    assert job.aborted_by == "budget"
    assert job.to_dict()["abortedBy"] == "budget"
    warnings = [m.message for m in store.require_job(job.id).warning_messages]
    assert [w for w in warnings if "budget" in w] == [
        "budget 80% used: $4.01 spent of $5.00", "Abort requested by budget: budget exceeded: $5.02 spent of $5.00"]
    assert store.require_job(job.id).usage.known_cost == pytest.approx(5.02)  # type: ignore[union-attr]


def test_a_token_budget_and_a_job_within_it(store: Store, runner: JobRunner) -> None:
    def spend(ctl: PipelineController, n: int = 3) -> None:
        for _ in range(n):
            ctl.check_abort()
            ctl.usage("unpriced", input_tokens=300, output_tokens=0)

    runner.register("Spend", spend, budget=Budget(tokens=1000), params={"n": 3})
    fine = runner.wait(runner.start("Spend", "me", {"n": 3}).id, timeout=10)
    assert fine.status is JobStatus.COMPLETED
    assert [m.message for m in store.require_job(fine.id).warning_messages] == [
        "budget 80% used: 900 tokens used of 1,000"]
    over = runner.wait(runner.start("Spend", "me", {"n": 10}).id, timeout=10)
    assert over.status is JobStatus.ABORTED
    assert over.abort_reason == "budget exceeded: 1,200 tokens used of 1,000"


def test_per_start_budget_within_max_budget(store: Store, runner: JobRunner) -> None:
    def spend(ctl: PipelineController) -> None:
        for _ in range(50):
            ctl.check_abort()
            ctl.usage("gpt-4o-mini", cost=1.0)

    runner.register("Spend", spend, budget=Budget(cost=5.0), max_budget=Budget(cost=20.0))
    runner.register("Fixed", spend, budget=Budget(cost=5.0))
    with pytest.raises(InvalidArgumentError, match=r"max_budget of \$20.00"):
        runner.start("Spend", "me", budget=Budget(cost=25.0))
    with pytest.raises(InvalidArgumentError, match="takes no budget per start"):
        runner.start("Fixed", "me", budget=Budget(cost=2.0))
    assert store.get_active_jobs() == []  # refused before anything was created
    small = runner.wait(runner.start("Spend", "me", budget=Budget(cost=2.0)).id, timeout=10)
    assert small.abort_reason == "budget exceeded: $3.00 spent of $2.00"
    default = runner.wait(runner.start("Spend", "me").id, timeout=10)
    assert default.abort_reason == "budget exceeded: $6.00 spent of $5.00"
    with pytest.raises(InvalidArgumentError, match="max_budget"):
        runner.register("Bad", spend, budget=Budget(cost=30.0), max_budget=Budget(cost=20.0))


def test_an_aborted_handler_sees_the_budget_reason(store: Store, runner: JobRunner) -> None:
    seen: list[str | None] = []

    def spend(ctl: PipelineController) -> None:
        ctl.usage("gpt-4o-mini", cost=2.0)
        try:
            ctl.check_abort()
        except AbortError as exc:
            seen.append(exc.reason)
            raise

    runner.register("Spend", spend, budget=Budget(cost=1.0))
    job = runner.wait(runner.start("Spend", "me").id, timeout=10)
    assert job.status is JobStatus.ABORTED and seen == ["budget exceeded: $2.00 spent of $1.00"]


def test_a_job_that_records_nothing_has_no_usage(store: Store, runner: JobRunner) -> None:
    def quiet(ctl: PipelineController) -> None:
        ctl.initialize_pipeline(["a", "b"])
        ctl.next_operation()
        ctl.next_operation()

    runner.register("Quiet", quiet, budget=Budget(cost=1.0))  # a price table and a budget, and still nothing
    job = runner.wait(runner.start("Quiet", "me").id, timeout=10)
    stored = store.require_job(job.id, operations=True)
    assert stored.usage is None and stored.to_dict()["usage"] is None
    assert stored.operations is not None and all("usage" not in n for n in stored.operations.to_list())
