"""What a job spends: tokens, cost and named counters, as plain immutable data with its camelCase JSON.

``ctl.usage(model=..., input_tokens=..., output_tokens=..., cost=None, **counters)`` adds one call's use; this
module does the arithmetic, so that the controller, the report API and the stores agree on it:

- a :class:`Usage` is the job's total (or one operation's share): tokens in and out, the cost, one entry per model
  (``byModel``) and the extra counters (``requests=1``, ``images=2``);
- a cost is given by the caller or computed from a price table (:func:`check_prices`, prices per million tokens);
  a model without a price records its tokens and leaves its cost unknown: ``cost`` is then ``null``, never a zero
  that would read as "free" (the known part stays readable as :attr:`Usage.known_cost`);
- the size is fixed: at most :data:`MAX_MODELS` models (more are folded into ``"other"``) and
  :data:`MAX_COUNTERS` counters (one more is an :class:`InvalidArgumentError`), so that a job's usage costs the
  same in every list of jobs however long it runs.

JSON::

    {"inputTokens": 812, "outputTokens": 143, "cost": 0.000208, "currency": "USD",
     "byModel": {"gpt-4o-mini": {"inputTokens": 812, "outputTokens": 143, "cost": 0.000208}},
     "counters": {"requests": 1}}
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, NamedTuple

import orjson

from .errors import InvalidArgumentError

__all__ = [
    "CURRENCY",
    "MAX_COUNTERS",
    "MAX_MODELS",
    "OTHER_MODEL",
    "ModelUsage",
    "Prices",
    "Usage",
    "check_model",
    "check_prices",
    "cost_of",
    "format_cost",
]

#: Extra named counters one job may keep (``requests``, ``images``...): the JSON of every list stays small.
MAX_COUNTERS = 16
#: Models kept apart in ``byModel``; the use of any further model is added to :data:`OTHER_MODEL`.
MAX_MODELS = 16
OTHER_MODEL = "other"
CURRENCY = "USD"
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
_MAX_MODEL_CHARS = 100
# A price table: model -> {"input": per million tokens, "output": per million tokens}.
Prices = Mapping[str, Mapping[str, float]]


def _tokens(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**53:
        raise InvalidArgumentError(f"{name} must be a whole number of tokens >= 0, got {value!r}", name)
    return value


def _amount(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < math.inf:
        raise InvalidArgumentError(f"{name} must be a finite number >= 0, got {value!r}", name)
    return float(value)


def check_model(model: object) -> str:
    if not isinstance(model, str) or not model.strip() or len(model) > _MAX_MODEL_CHARS or "\x00" in model:
        raise InvalidArgumentError(f"model must be a name of 1 to {_MAX_MODEL_CHARS} characters, got {model!r}",
                                   "model")
    return model


def check_prices(table: object) -> dict[str, dict[str, float]]:
    """A price table checked and copied: ``{model: {"input": per million, "output": per million}}``."""
    if not isinstance(table, Mapping):
        raise InvalidArgumentError(
            f"prices must map a model to {{\"input\": ..., \"output\": ...}}, got {type(table).__name__}", "prices")
    out: dict[str, dict[str, float]] = {}
    for model, price in table.items():
        check_model(model)
        if not isinstance(price, Mapping) or set(price) - {"input", "output"} or not price:
            raise InvalidArgumentError(f"the price of {model!r} must be {{\"input\": dollars per million tokens, "
                                       f"\"output\": ...}}, got {price!r}", "prices")
        out[model] = {k: _amount(price.get(k, 0.0), f"prices[{model!r}][{k!r}]") for k in ("input", "output")}
    return out


def cost_of(prices: Prices | None, model: str, input_tokens: int, output_tokens: int) -> float | None:
    """The cost of one call from the price table, or None when the model has no price."""
    price = prices.get(model) if prices else None
    if price is None:
        return None
    return (input_tokens * price.get("input", 0.0) + output_tokens * price.get("output", 0.0)) / 1e6


def format_cost(cost: float | None) -> str:
    """``$5.02`` (``$0.0042`` below a cent, ``unknown`` for None): how messages and the CLI state a cost."""
    if cost is None:
        return "unknown"
    return f"${cost:,.2f}" if cost >= 0.01 or cost == 0 else f"${cost:.4f}"


_NONE: Mapping[str, Any] = MappingProxyType({})
_tuple_new = tuple.__new__


# Named tuples rather than frozen dataclasses: ``ctl.usage()`` builds one of each per call, and a frozen
# dataclass's __init__ (one object.__setattr__ per field) costs several times what the whole hot path may.
class ModelUsage(NamedTuple):
    """One model's part of a :class:`Usage`; ``cost`` None when some of it had no price."""

    input_tokens: int = 0
    output_tokens: int = 0
    cost: float | None = 0.0

    def plus(self, input_tokens: int, output_tokens: int, cost: float | None) -> ModelUsage:
        both = None if cost is None or self.cost is None else self.cost + cost
        return ModelUsage(self.input_tokens + input_tokens, self.output_tokens + output_tokens, both)

    def to_dict(self) -> dict[str, Any]:
        return {"inputTokens": self.input_tokens, "outputTokens": self.output_tokens, "cost": self.cost}

    @classmethod
    def from_dict(cls, data: object, where: str = "usage") -> ModelUsage:
        if not isinstance(data, Mapping):
            raise InvalidArgumentError(f"{where} must be a JSON object, got {type(data).__name__}", "usage")
        cost = data.get("cost")
        return cls(_tokens(data.get("inputTokens", 0), f"{where}.inputTokens"),
                   _tokens(data.get("outputTokens", 0), f"{where}.outputTokens"),
                   None if cost is None else _amount(cost, f"{where}.cost"))


class Usage(NamedTuple):
    """A job's (or one operation's) use: totals, ``by_model`` and ``counters``. Immutable: :meth:`add` returns a
    new one. ``known_cost`` sums the costs that are known; :attr:`cost` is None when any part is unknown."""

    input_tokens: int = 0
    output_tokens: int = 0
    known_cost: float = 0.0
    cost_unknown: bool = False
    by_model: Mapping[str, ModelUsage] = _NONE
    counters: Mapping[str, float] = _NONE
    currency: str = CURRENCY

    @property
    def cost(self) -> float | None:
        return None if self.cost_unknown else self.known_cost

    @property
    def tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    def add(self, model: str, input_tokens: int = 0, output_tokens: int = 0, cost: float | None = None,
            counters: Mapping[str, object] | None = None) -> Usage:
        """This use plus one call's. Every argument is checked (InvalidArgumentError naming it); more than
        :data:`MAX_COUNTERS` distinct counters is refused rather than silently dropped."""
        check_model(model)
        input_tokens = _tokens(input_tokens, "input_tokens")
        output_tokens = _tokens(output_tokens, "output_tokens")
        if cost is not None:
            cost = _amount(cost, "cost")
        merged = self._counted(counters or {})
        by_model = dict(self.by_model)
        key = model if model in by_model or len(by_model) < MAX_MODELS - 1 or model == OTHER_MODEL else OTHER_MODEL
        by_model[key] = by_model.get(key, ModelUsage()).plus(input_tokens, output_tokens, cost)
        return Usage(self.input_tokens + input_tokens, self.output_tokens + output_tokens,
                     self.known_cost + (cost or 0.0), self.cost_unknown or cost is None, by_model, merged,
                     self.currency)

    def plus_known(self, model: str, input_tokens: int, output_tokens: int, cost: float | None,
                   counters: Mapping[str, int]) -> Usage | None:
        """:meth:`add` for the common call, without its checks: a model and counter names this use has already,
        whole token counts and counter values, a float cost or None. None when the call is not that common one
        (then :meth:`add` checks it): the hot path of ``ctl.usage()``."""
        part = self.by_model.get(model)
        if (part is None or type(input_tokens) is not int or type(output_tokens) is not int
                or not 0 <= input_tokens < 2**53 or not 0 <= output_tokens < 2**53
                or (cost is not None and (type(cost) is not float or not 0.0 <= cost < math.inf))):
            return None
        merged = self.counters
        if counters:
            merged = dict(merged)
            for name, value in counters.items():
                had = merged.get(name)
                if had is None or type(value) is not int or value < 0:
                    return None
                merged[name] = had + value
        by_model = dict(self.by_model)
        # tuple.__new__ skips the named tuples' Python-level __new__ (the values are built and checked here).
        by_model[model] = _tuple_new(ModelUsage, (part.input_tokens + input_tokens, part.output_tokens + output_tokens,
                                                  None if cost is None or part.cost is None else part.cost + cost))
        return _tuple_new(Usage, (self.input_tokens + input_tokens, self.output_tokens + output_tokens,
                                  self.known_cost + (cost or 0.0), self.cost_unknown or cost is None, by_model,
                                  merged, self.currency))

    def with_counters(self, counters: Mapping[str, object]) -> Usage:
        """This use plus counters alone (no model, no tokens)."""
        return Usage(self.input_tokens, self.output_tokens, self.known_cost, self.cost_unknown, self.by_model,
                     self._counted(counters), self.currency)

    def _counted(self, counters: Mapping[str, object]) -> dict[str, float]:
        merged = dict(self.counters)
        for name, value in counters.items():
            if not isinstance(name, str) or not _NAME.match(name):
                raise InvalidArgumentError(f"a counter name is a Python identifier of at most 64 characters, got "
                                           f"{name!r}", "counters")
            amount = _amount(value, name)
            merged[name] = merged.get(name, 0) + (value if isinstance(value, int) else amount)
        if len(merged) > MAX_COUNTERS:
            raise InvalidArgumentError(
                f"a job keeps at most {MAX_COUNTERS} counters; {sorted(set(merged) - set(self.counters))} would make "
                f"{len(merged)}: count fewer kinds of things (or fold them into one)", "counters")
        return merged

    def share(self) -> ModelUsage:
        """The totals alone (what an operation of the tree shows)."""
        return ModelUsage(self.input_tokens, self.output_tokens, self.cost)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form; ``knownCost`` (the part of the cost that is known) only when ``cost`` is null."""
        out = {"inputTokens": self.input_tokens, "outputTokens": self.output_tokens, "cost": self.cost,
               "currency": self.currency, "byModel": {m: u.to_dict() for m, u in self.by_model.items()},
               "counters": dict(self.counters)}
        if self.cost_unknown:
            out["knownCost"] = self.known_cost
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"))

    @classmethod
    def from_stored(cls, text: str | bytes | None) -> Usage | None:
        """What :meth:`to_json` wrote, read back without the checks of :meth:`from_dict` (every list of jobs reads
        it); a value that cannot be read is None, that job's problem and nobody else's. Decoded once per distinct
        text (a small cache: a dashboard reads the same past jobs again and again, and a usage never changes once
        its job ended)."""
        if not text:
            return None
        return _stored(text)

    @classmethod
    def _decode(cls, text: str | bytes) -> Usage | None:
        try:
            d = orjson.loads(text)  # every list of jobs decodes one per job: orjson is a few times json's speed
            models = {m: ModelUsage(int(u["inputTokens"]), int(u["outputTokens"]), u["cost"])
                      for m, u in d["byModel"].items()}
            cost = d["cost"]
            return cls(int(d["inputTokens"]), int(d["outputTokens"]),
                       float(cost if cost is not None else d.get("knownCost", 0.0)), cost is None, models,
                       dict(d["counters"]), str(d.get("currency", CURRENCY)))
        except (ValueError, KeyError, TypeError, AttributeError):  # orjson.JSONDecodeError is a ValueError
            return None

    @classmethod
    def from_dict(cls, data: object, prices: Prices | None = None) -> Usage:
        """The JSON form back, every value checked (external reporters send it): the totals are the sums of
        ``byModel``, so that a report cannot state totals that disagree with their parts. A model's cost that is
        null (or left out) is priced from ``prices`` when it has the model."""
        if not isinstance(data, Mapping):
            raise InvalidArgumentError(f"usage must be a JSON object, got {type(data).__name__}", "usage")
        models = data.get("byModel")
        counters = data.get("counters")
        models = {} if models is None else models
        counters = {} if counters is None else counters
        if not isinstance(models, Mapping) or not isinstance(counters, Mapping):
            raise InvalidArgumentError("usage.byModel and usage.counters must be JSON objects", "usage")
        if len(models) > MAX_MODELS or len(counters) > MAX_COUNTERS:
            raise InvalidArgumentError(f"usage keeps at most {MAX_MODELS} models and {MAX_COUNTERS} counters",
                                       "usage")
        usage = cls()
        for model, part in models.items():
            one = ModelUsage.from_dict(part, f"usage.byModel[{model!r}]")
            cost = one.cost if one.cost is not None or not isinstance(model, str) else cost_of(
                prices, model, one.input_tokens, one.output_tokens)
            usage = usage.add(model, one.input_tokens, one.output_tokens, cost)
        return usage.with_counters(counters) if counters else usage

    @classmethod
    def from_json(cls, text: str | bytes | None) -> Usage | None:
        """The stored form back (None or empty stays None)."""
        return cls.from_dict(json.loads(text)) if text else None


# Usage objects are immutable (named tuples of mappings nobody changes), so copies of jobs may share one.
_stored = functools.lru_cache(maxsize=4096)(Usage._decode)
