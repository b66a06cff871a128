"""The OpenAPI models of what a job spends (issue 24): its ``usage`` in every job, each operation's share, the
``budget`` of a start and the ``usage`` of a report. Kept apart from ``_schemas`` so that the concern has one home."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["BudgetRequest", "ModelUsage", "Usage", "report_usage_field"]


class ModelUsage(BaseModel):
    """One model's use (or one operation's share): ``cost`` null when some of it had no price."""

    inputTokens: int
    outputTokens: int
    cost: float | None


class Usage(BaseModel):
    """What the job spent: totals, one entry per model (at most 16, more folded into ``other``) and at most 16
    named counters. ``cost`` is null when a model had no price (``knownCost`` then says how much is known)."""

    inputTokens: int
    outputTokens: int
    cost: float | None
    currency: str = Field(description="the currency of every cost (USD)")
    byModel: dict[str, ModelUsage]
    counters: dict[str, float]
    knownCost: float | None = Field(None, description="only when cost is null: the sum of the known costs")


class BudgetRequest(BaseModel):
    """A start's own budget, within its type's ``max_budget``: a cost (dollars), tokens (input plus output), or
    both. Past it the job's abort is requested (``abortedBy: "budget"``)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    cost: float | None = Field(None, gt=0, le=1e12, description="dollars")
    tokens: int | None = Field(None, gt=0, le=2**53, description="input plus output tokens")


def report_usage_field() -> Any:
    """The ``usage`` field of a report: the job's totals as the reporter counts them."""
    return Field(None, description="what the job spent so far, as GET /single/{id}/progress shows it (byModel: "
                                   "{model: {inputTokens, outputTokens, cost?}}, counters: {name: number}); a "
                                   "model's cost left out or null is priced from the server's price table when it "
                                   "has one. Totals, not increments: sending it again changes nothing",
                 json_schema_extra={"type": "object"})
