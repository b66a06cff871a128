"""The arithmetic of what a job spends (core/usage.py) and of its budget (core/budget.py): no I/O."""

from __future__ import annotations

import pytest

from jobdeck import Budget
from jobdeck.core.errors import InvalidArgumentError
from jobdeck.core.operations import OperationNode, OperationTree
from jobdeck.core.usage import MAX_COUNTERS, MAX_MODELS, OTHER_MODEL, ModelUsage, Usage, check_prices, cost_of

PRICES = check_prices({"gpt-4o-mini": {"input": 0.15, "output": 0.60}, "emb": {"input": 0.02}})


def test_price_table_arithmetic_per_million_tokens() -> None:
    assert cost_of(PRICES, "gpt-4o-mini", 812, 143) == pytest.approx((812 * 0.15 + 143 * 0.60) / 1e6)
    assert cost_of(PRICES, "gpt-4o-mini", 1_000_000, 1_000_000) == pytest.approx(0.75)
    assert cost_of(PRICES, "emb", 2_000_000, 0) == pytest.approx(0.04)
    assert cost_of(PRICES, "unknown-model", 10, 10) is None
    assert cost_of(None, "gpt-4o-mini", 10, 10) is None


@pytest.mark.parametrize("bad", [[], {"m": 1}, {"m": {"input": -1}}, {"m": {"inputs": 1}}, {"m": {}},
                                 {"m": {"input": float("inf")}}, {"": {"input": 1}}])
def test_bad_price_tables_are_refused(bad: object) -> None:
    with pytest.raises(InvalidArgumentError):
        check_prices(bad)


def test_an_unknown_price_leaves_the_cost_unknown_not_zero() -> None:
    usage = Usage().add("gpt-4o-mini", 1_000_000, 0, 0.15).add("mystery", 10, 5, None)
    assert usage.cost is None and usage.known_cost == pytest.approx(0.15)
    assert usage.tokens == 1_000_015
    data = usage.to_dict()
    assert data["cost"] is None and data["knownCost"] == pytest.approx(0.15)
    assert data["byModel"]["mystery"] == {"inputTokens": 10, "outputTokens": 5, "cost": None}
    assert data["byModel"]["gpt-4o-mini"]["cost"] == pytest.approx(0.15)
    priced = Usage().add("gpt-4o-mini", 10, 0, 0.5).to_dict()
    assert priced["cost"] == 0.5 and "knownCost" not in priced


def test_totals_add_up_and_round_trip() -> None:
    usage = Usage()
    for _ in range(3):
        usage = usage.add("a", 100, 10, 0.01, {"requests": 1, "seconds": 0.5})
    assert (usage.input_tokens, usage.output_tokens) == (300, 30)
    assert usage.cost == pytest.approx(0.03)
    assert usage.counters == {"requests": 3, "seconds": 1.5}
    assert Usage.from_stored(usage.to_json()) == usage
    assert Usage.from_dict(usage.to_dict()).to_dict() == usage.to_dict()
    assert Usage.from_stored("not json") is None and Usage.from_stored(None) is None


def test_counters_are_bounded_at_sixteen_with_a_clear_error() -> None:
    usage = Usage().add("m", counters={f"c{i}": 1 for i in range(MAX_COUNTERS)})
    assert len(usage.counters) == MAX_COUNTERS
    assert usage.add("m", counters={"c0": 5}).counters["c0"] == 6  # an existing counter still adds
    with pytest.raises(InvalidArgumentError, match="at most 16 counters"):
        usage.add("m", 1, 1, counters={"one_more": 1})
    for bad in ({"bad name": 1}, {"n": -1}, {"n": float("nan")}, {"n": True}):
        with pytest.raises(InvalidArgumentError):
            Usage().add("m", counters=bad)


@pytest.mark.parametrize("args", [("", 1, 1), ("m", -1, 0), ("m", 1.5, 0), ("m", 0, True), ("m", 1, 1, -0.1),
                                  ("m", 1, 1, float("inf"))])
def test_bad_values_are_refused(args: tuple[object, ...]) -> None:
    with pytest.raises(InvalidArgumentError):
        Usage().add(*args)  # type: ignore[arg-type]


def test_models_beyond_the_bound_are_folded_into_other() -> None:
    usage = Usage()
    for i in range(MAX_MODELS + 5):
        usage = usage.add(f"model-{i}", 1, 0, 0.001)
    assert len(usage.by_model) == MAX_MODELS
    assert usage.by_model[OTHER_MODEL].input_tokens == 6
    assert usage.input_tokens == MAX_MODELS + 5


def test_from_dict_checks_what_a_reporter_sends() -> None:
    for bad in ([], {"byModel": []}, {"byModel": {"m": {"inputTokens": -1}}},
                {"counters": {f"c{i}": 1 for i in range(17)}}, {"byModel": {"m": {"cost": "1"}}}):
        with pytest.raises(InvalidArgumentError):
            Usage.from_dict(bad)
    # The totals are the parts' sums, whatever a reporter states.
    assert Usage.from_dict({"inputTokens": 999, "byModel": {"m": {"inputTokens": 5}}}).input_tokens == 5


def test_operation_shares_ride_in_the_tree_json() -> None:
    tree = OperationTree((OperationNode("load", 1.0, "done"),
                          OperationNode("rows", 0.5, "started", children=(OperationNode("p1", 0.5, "started"),))))
    total = Usage().add("m", 30, 3, 0.3)
    shared = tree.with_usage(total, {"rows": ModelUsage(20, 2, 0.2), "rows/p1": ModelUsage(5, 1, None)})
    assert shared.usage is total
    data = shared.to_list()
    assert "usage" not in data[0]
    assert data[1]["usage"] == {"inputTokens": 20, "outputTokens": 2, "cost": 0.2}
    assert data[1]["children"][0]["usage"]["cost"] is None
    back = OperationTree.from_list(data)
    assert back.to_list() == data
    with pytest.raises(InvalidArgumentError, match="usage of operation 'x'"):
        OperationTree.from_list([{"id": "x", "progress": 0, "usage": {"inputTokens": "a"}}])


def test_budget_arithmetic() -> None:
    budget = Budget(cost=5.00)
    assert budget.exceeded(Usage().add("m", 1, 1, 5.00)) is None
    assert budget.exceeded(Usage().add("m", 1, 1, 5.02)) == "budget exceeded: $5.02 spent of $5.00"
    assert budget.warning(Usage().add("m", 1, 1, 3.99)) is None
    assert budget.warning(Usage().add("m", 1, 1, 4.01)) == "budget 80% used: $4.01 spent of $5.00"
    tokens = Budget(tokens=1000)
    assert tokens.exceeded(Usage().add("m", 900, 101, None)) == "budget exceeded: 1,001 tokens used of 1,000"
    # Unknown costs do not count towards a cost budget (a token budget bounds them).
    assert budget.exceeded(Usage().add("m", 10**9, 0, None)) is None


def test_budget_checks_and_max_budget() -> None:
    for bad in ({}, {"cost": 0}, {"cost": -1}, {"tokens": 1.5}, {"cost": float("inf")}, {"cost": "5"}):
        with pytest.raises(InvalidArgumentError):
            Budget.from_dict(bad)
    with pytest.raises(InvalidArgumentError):
        Budget.from_dict({"cost": 1, "dollars": 2})
    top = Budget(cost=50.0, tokens=10_000)
    assert Budget(cost=10, tokens=100).check_within(top) == Budget(cost=10.0, tokens=100)
    with pytest.raises(InvalidArgumentError, match=r"beyond this type's max_budget of \$50.00"):
        Budget(cost=60, tokens=100).check_within(top)
    with pytest.raises(InvalidArgumentError, match="max_budget"):
        Budget(cost=10).check_within(top)  # leaves the tokens unbounded
    assert Budget.from_dict({"cost": 5}).to_dict() == {"cost": 5.0, "tokens": None}
