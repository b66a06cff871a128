"""A registered job type: its handler, limits and parameters (what ``JobRunner.register`` records), and its words
in the viewer's language (the host's translations of its title, description and parameter labels)."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .budget import Budget
from .errors import InvalidArgumentError
from .i18n import catalog
from .params import TypeParams
from .retry import Retry

__all__ = ["DEFAULT_STALL_AFTER", "Handler", "JobType"]

#: A running job silent this long (no progress change, no message) while its process heartbeats is ``stalled``.
DEFAULT_STALL_AFTER = 600.0

Handler = Callable[..., Any]


@dataclass(frozen=True)
class JobType:
    """A registered job type. ``params`` maps parameter names to defaults; ``schema`` describes every parameter
    (type, range, choices, help) as JSON Schema, built from the handler's signature (see :mod:`jobdeck.core.params`).
    ``requeue_on_worker_lost``: how many times a job of this type goes back to the queue when the task engine's
    worker running it dies (0: it is failed, never re-run). ``retry``: how a failed run is retried (None: never).
    ``stall_after``: seconds without a progress change or a message, while heartbeats go on, after which a running
    job is diagnosed ``stalled`` (None: never).

    ``title`` and ``description`` are the default (English) words; ``titles`` and ``descriptions`` their
    translations by language code, as given to ``register(title={"en": ..., "fi": ...})``. :meth:`title_in`,
    :meth:`description_in` and :meth:`schema_in` speak a language: the translation given at registration, else
    the host's catalog (``types.<type>.title``, ``types.<type>.description``, ``types.<type>.params.<param>``;
    :func:`jobdeck.add_catalog`), else the default."""

    name: str
    handler: Handler | None  # None: an external type, run elsewhere and reported over HTTP
    title: str
    description: str = ""
    max_concurrent: int = 1
    timeout: float | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    spec: TypeParams | None = field(default=None, repr=False, compare=False)
    capture_logs: bool = False
    requeue_on_worker_lost: int = 0
    retry: Retry | None = None
    stall_after: float | None = DEFAULT_STALL_AFTER
    budget: Budget | None = None  # what one job may spend (issue 24); None: no budget
    max_budget: Budget | None = None  # the most a start may ask for; None: starts take the type's budget
    titles: Mapping[str, str] = field(default_factory=dict)  # the title by language code ("fi": "Tuonti")
    descriptions: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.spec is None:
            object.__setattr__(self, "spec", TypeParams(self.name, self.handler or _any_params, self.params))

    @property
    def external(self) -> bool:
        """Its jobs run elsewhere and report over the HTTP API: no handler here."""
        return self.handler is None

    @property
    def max_attempts(self) -> int:
        """How many runs a job of this type gets (its ``retry``'s attempts; 1 without one)."""
        return self.retry.attempts if self.retry is not None else 1

    @property
    def is_async(self) -> bool:
        return inspect.iscoroutinefunction(self.handler)

    @property
    def schema(self) -> dict[str, Any]:
        """The params as JSON Schema."""
        assert self.spec is not None  # set in __post_init__
        return self.spec.schema

    def title_in(self, lang: str) -> str:
        """The title in ``lang`` (see the class docstring for where it comes from)."""
        return self._words(lang, "title", self.titles, self.title)

    def description_in(self, lang: str) -> str:
        """The description in ``lang``."""
        return self._words(lang, "description", self.descriptions, self.description)

    def _words(self, lang: str, what: str, given: Mapping[str, str], default: str) -> str:
        if lang in given:
            return given[lang]
        # The catalog of ``lang`` holds the host's English words too: a language the host did not translate
        # into gets its English catalog entry, which is meant to override the registered default.
        found = catalog(lang).get(f"types.{self.name}.{what}")
        return found if isinstance(found, str) else default

    def schema_in(self, lang: str) -> dict[str, Any]:
        """:attr:`schema` with each parameter's label (its property's ``title``) and help (``description``) from
        the host's catalog for ``lang`` (``types.<type>.params.<param>`` and ``...<param>.description``), where
        it has them. The schema itself is not changed."""
        schema = self.schema
        properties = schema.get("properties")
        if not isinstance(properties, dict):
            return schema
        words = catalog(lang)
        prefix = f"types.{self.name}.params."
        changed: dict[str, Any] = {}
        for name, prop in properties.items():
            label, help_text = words.get(prefix + name), words.get(f"{prefix}{name}.description")
            if isinstance(prop, dict) and (isinstance(label, str) or isinstance(help_text, str)):
                changed[name] = {**prop, **({"title": label} if isinstance(label, str) else {}),
                                 **({"description": help_text} if isinstance(help_text, str) else {})}
        return {**schema, "properties": {**properties, **changed}} if changed else schema

    def start_budget(self, given: object) -> Budget | None:
        """The budget one start asks for (a :class:`Budget` or its JSON), checked against ``max_budget``; None
        when it asks for none (the type's ``budget`` applies). InvalidArgumentError beyond ``max_budget``, or
        for a type without one."""
        if given is None:
            return None
        budget = given if isinstance(given, Budget) else Budget.from_dict(given)
        if self.max_budget is None:
            raise InvalidArgumentError(f"job type {self.name!r} takes no budget per start: register it with "
                                       "max_budget=Budget(...) to allow one", "budget")
        return budget.check_within(self.max_budget)

    def check_params(self, params: Any) -> dict[str, Any]:
        """Params as checked keyword arguments for the handler; InvalidParamsError (a ValueError) names the field."""
        assert self.spec is not None
        return self.spec.validate(params)


def _any_params(ctl: Any, **params: Any) -> None:
    """The signature of an external type: any params (the process that runs the job checks them)."""
