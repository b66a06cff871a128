"""A job's budget: how much it may spend (a cost, tokens, or both) before jobdeck asks it to stop.

``register(..., budget=Budget(cost=5.00), max_budget=Budget(cost=50.00))`` gives every job of a type a budget, and a
start may ask for another one within ``max_budget`` (``runner.start(..., budget=...)``, ``budget`` in
``POST /start``). Pure arithmetic: the controller asks :meth:`Budget.exceeded` after each recorded use and, once it
answers, requests the job's abort with that reason; :meth:`Budget.warning` answers once 80% is passed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .errors import InvalidArgumentError
from .usage import Usage, format_cost

__all__ = ["WARN_AT", "Budget"]

#: The share of a budget past which the job gets one warning message.
WARN_AT = 0.8


@dataclass(frozen=True, slots=True)
class Budget:
    """At most ``cost`` (in the price table's currency, dollars) and/or ``tokens`` (input plus output)."""

    cost: float | None = None
    tokens: int | None = None

    def __post_init__(self) -> None:
        cost, tokens = self.cost, self.tokens
        if cost is None and tokens is None:
            raise InvalidArgumentError("a budget needs a cost, a number of tokens or both", "budget")
        if cost is not None and (isinstance(cost, bool) or not isinstance(cost, int | float)
                                 or not 0 < cost < math.inf):
            raise InvalidArgumentError(f"a budget's cost must be a positive number, got {cost!r}", "budget")
        if tokens is not None and (isinstance(tokens, bool) or not isinstance(tokens, int) or tokens <= 0):
            raise InvalidArgumentError(f"a budget's tokens must be a positive whole number, got {tokens!r}",
                                       "budget")
        if cost is not None:
            object.__setattr__(self, "cost", float(cost))

    def to_dict(self) -> dict[str, Any]:
        return {"cost": self.cost, "tokens": self.tokens}

    @classmethod
    def from_dict(cls, data: object) -> Budget:
        if not isinstance(data, Mapping) or set(data) - {"cost", "tokens"}:
            raise InvalidArgumentError(f'a budget is {{"cost": dollars, "tokens": count}} (either or both), got '
                                       f"{data!r}"[:300], "budget")
        return cls(data.get("cost"), data.get("tokens"))

    def check_within(self, limit: Budget | None) -> Budget:
        """This budget, or InvalidArgumentError if it asks for more than ``limit`` (a type's ``max_budget``) allows,
        or leaves unbounded what the limit bounds."""
        if limit is None:
            return self
        for name, mine, most in (("cost", self.cost, limit.cost), ("tokens", self.tokens, limit.tokens)):
            if most is not None and (mine is None or mine > most):
                shown = format_cost(most) if name == "cost" else f"{most:,} tokens"
                raise InvalidArgumentError(f"budget {name} {mine!r} is beyond this type's max_budget of {shown}: ask "
                                           "for less, or raise the type's max_budget", "budget")
        return self

    def fraction(self, usage: Usage) -> float:
        """The largest share of the budget used (1.0 = all of it); known costs only."""
        used = 0.0
        if self.cost is not None:
            used = usage.known_cost / self.cost
        if self.tokens is not None:
            used = max(used, usage.tokens / self.tokens)
        return used

    def exceeded(self, usage: Usage) -> str | None:
        """The abort reason once ``usage`` passed the budget (``budget exceeded: $5.02 spent of $5.00``), else
        None. Only known costs count: a model without a price is bounded by ``tokens``."""
        if self.cost is not None and usage.known_cost > self.cost:
            return f"budget exceeded: {format_cost(usage.known_cost)} spent of {format_cost(self.cost)}"
        if self.tokens is not None and usage.tokens > self.tokens:
            return f"budget exceeded: {usage.tokens:,} tokens used of {self.tokens:,}"
        return None

    def warning(self, usage: Usage) -> str | None:
        """The warning message once :data:`WARN_AT` of the budget is used, else None."""
        if self.fraction(usage) < WARN_AT:
            return None
        parts = []
        if self.cost is not None:
            parts.append(f"{format_cost(usage.known_cost)} spent of {format_cost(self.cost)}")
        if self.tokens is not None:
            parts.append(f"{usage.tokens:,} tokens used of {self.tokens:,}")
        return f"budget {int(WARN_AT * 100)}% used: {', '.join(parts)}"
