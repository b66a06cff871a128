"""What every job a search matches spent together (issue 24): the total under All jobs' cost column.

The filters are a search's (:class:`~jobdeck.stores._search.SearchQuery`: words, type, statuses, schedule,
signature), without its page: the total covers every matching job, active and past, not the page on screen.
The SQL stores add it up in one statement over the job heads (``json_extract`` / ``jsonb``), so a total costs one
pass over the matching rows and no job is decoded; the others (memory, Redis) page through their search with
:func:`generic_spend_total`, reading heads only. Costs are the known part (``knownCost`` when some is unknown),
and ``unknown`` counts the jobs whose cost is partly unknown, so that the total can say "at least".
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..core.model import PastCursor
from ..core.usage import CURRENCY
from ._search import SearchQuery

if TYPE_CHECKING:
    from .base import Store

__all__ = ["SpendTotal", "generic_spend_total"]

_PAGE = 500


@dataclass(frozen=True)
class SpendTotal:
    """The jobs a search matches and what they spent together (known costs, in ``currency``)."""

    jobs: int = 0
    with_usage: int = 0
    cost: float = 0.0
    unknown: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    currency: str = CURRENCY

    @classmethod
    def of_row(cls, row: tuple[Any, ...]) -> SpendTotal:
        """From ``(jobs, with_usage, cost, unknown, input, output)`` as the SQL stores add them up (NULL sums
        when nothing matched)."""
        jobs, used, cost, unknown, input_tokens, output_tokens = row
        return cls(int(jobs or 0), int(used or 0), round(float(cost or 0.0), 9), int(unknown or 0),
                   int(input_tokens or 0), int(output_tokens or 0))

    def to_dict(self) -> dict[str, Any]:
        return {"jobs": self.jobs, "withUsage": self.with_usage, "cost": round(self.cost, 6),
                "unknown": self.unknown, "inputTokens": self.input_tokens, "outputTokens": self.output_tokens,
                "currency": self.currency}


def generic_spend_total(store: Store, query: SearchQuery) -> SpendTotal:
    """Add up the heads the store's search returns, page after page (any store)."""
    jobs = used = unknown = input_tokens = output_tokens = 0
    cost = 0.0
    page = dataclasses.replace(query, limit=_PAGE, before=None)
    while True:
        found = store._search(page)  # the store's own search step (this package's)
        for job in found:
            jobs += 1
            usage = job.usage
            if usage is None:
                continue
            used += 1
            cost += usage.known_cost
            unknown += usage.cost_unknown
            input_tokens += usage.input_tokens
            output_tokens += usage.output_tokens
        past = [job for job in found if job.end_time is not None]
        if len(past) < _PAGE:
            break
        page = dataclasses.replace(page, before=PastCursor.of(past[-1]))
    return SpendTotal(jobs, used, round(cost, 9), unknown, input_tokens, output_tokens)
