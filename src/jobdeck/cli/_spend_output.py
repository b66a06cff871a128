"""How the CLI prints what a job spent (``jobdeck show``, ``jobdeck list``): one line of totals, a short cost cell,
and each operation's share."""

from __future__ import annotations

from ..core.usage import ModelUsage, Usage, format_cost
from ._lang import t

__all__ = ["cost_cell", "share_text", "usage_text"]


def cost_cell(usage: Usage | None) -> str:
    """The list's COST cell: ``$1.50``, ``≥$0.80`` when a model had no price, ``-`` when nothing was recorded."""
    if usage is None:
        return "-"
    return format_cost(usage.cost) if not usage.cost_unknown else f"≥{format_cost(usage.known_cost)}"


def usage_text(usage: Usage) -> str:
    """``$1.50 · 2,000,000 in + 1,000 out tokens · gpt-4o-mini $1.50 (2,001,000 tokens) · requests 2``."""
    cost = (format_cost(usage.cost) if not usage.cost_unknown
            else t("cli.usage.cost_unknown", known=format_cost(usage.known_cost)))
    parts = [cost, t("cli.usage.tokens_in_out", input=f"{usage.input_tokens:,}", output=f"{usage.output_tokens:,}")]
    parts += [t("cli.usage.model", model=model, cost=format_cost(part.cost),
                tokens=f"{part.input_tokens + part.output_tokens:,}")
              for model, part in usage.by_model.items()]
    parts += [f"{name} {value:,g}" for name, value in usage.counters.items()]
    return " · ".join(parts)


def share_text(share: ModelUsage) -> str:
    """An operation's share: ``$0.30, 1,200 tokens``."""
    return t("cli.usage.share", cost=format_cost(share.cost), tokens=f"{share.input_tokens + share.output_tokens:,}")
