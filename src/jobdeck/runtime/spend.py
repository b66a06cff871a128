"""What one run of a job spends, and its budget: the state behind ``ctl.usage(...)``.

The controller owns one :class:`Spending` per run. Each recorded call adds to the job's total and to the share of
the operation that is current (and of its current sub-operation); the total travels to the store with the
operation tree (one coalesced write, like a progress value: see :mod:`jobdeck.core.usage`), so that ``usage()`` in
a hot loop costs about what ``progress()`` costs. The budget is checked here, in memory, on every call: the first
call past 80% gets one warning, the first past 100% has the controller request the job's abort (``abortedBy``
``"budget"``), and the handler stops at its next ``check_abort()``.

An external job's reported totals (``POST /single/{id}/report``) are checked against the same budget by
:func:`check_reported`: the report that passes 80% writes the warning, the one that passes 100% requests the abort
with the same reason; a report sent twice (the same totals) passes nothing again, so each happens once.

A retried or resumed run starts from what the job had spent before it (read from the store once, at its first
recorded use), so that an attempt never publishes less than the job spent.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from ..core.budget import Budget
from ..core.errors import JobdeckError
from ..core.jobtype import JobType
from ..core.model import JobInfo
from ..core.usage import ModelUsage, Prices, Usage
from ..stores.base import Store

__all__ = ["BUDGET_KEY", "BUDGET_STOPPER", "MAX_SHARES", "Recorded", "Spending", "budgeted", "check_reported",
           "job_budget"]

logger = logging.getLogger("jobdeck")

#: The saved value (``jobdeck.`` keys are jobdeck's own) that holds a budget given to one start.
BUDGET_KEY = "jobdeck.budget"
#: Who asks for a job's abort when its budget is spent (its ``abortedBy``): the dashboard shows it as a budget stop.
BUDGET_STOPPER = "budget"
#: Operations (and sub-operation paths) whose share one run keeps; use under any further path counts only in
#: the total (the tree shows at most 200 operations anyway).
MAX_SHARES = 500


class Recorded(NamedTuple):
    """What one recorded call changed: the new total, and a warning or an abort reason newly due (else None).
    A named tuple: one is built per ``usage()`` call, and a frozen dataclass's __init__ costs several times more."""

    total: Usage
    warning: str | None = None
    stop: str | None = None


class Spending:
    """One run's use: the total, each operation's share, the price table and the budget. Not thread-safe: the
    controller calls it under its lock."""

    def __init__(self, prices: Prices | None = None, budget: Budget | None = None,
                 earlier: Callable[[], Usage | None] | None = None) -> None:
        """``earlier()`` reads what the job spent before this run (called once, at the first recorded use)."""
        self.prices = prices
        self.budget = budget
        self.total = Usage()
        self.shares: dict[str, list[Any]] = {}  # path -> [input tokens, output tokens, known cost, cost unknown]
        self._earlier = earlier
        self._warned = False
        self._stopped = False
        self.recorded = False  # whether any use was recorded (until then the job's usage stays null)

    def record(self, model: str, input_tokens: int, output_tokens: int, cost: float | None, *,
               counters: Mapping[str, object], paths: tuple[str, ...]) -> Recorded:
        """Add one call's use (cost from the price table when None). InvalidArgumentError for a bad argument or
        a 17th counter, before anything is added."""
        if self._earlier is not None:
            earlier, self._earlier = self._earlier(), None
            if earlier is not None:
                self.total = earlier
        if cost is None and self.prices and isinstance(model, str):
            price = self.prices.get(model)  # cost_of(), inlined: the hot path of ctl.usage()
            if price is not None:
                cost = (input_tokens * price.get("input", 0.0) + output_tokens * price.get("output", 0.0)) / 1e6
        total = self.total.plus_known(model, input_tokens, output_tokens, cost, counters)  # type: ignore[arg-type]
        if total is None:  # a first model or counter, or a value to check: the checked path
            total = self.total.add(model, input_tokens, output_tokens, cost, counters)
        self.total = total
        self.recorded = True
        known = 0.0 if cost is None else float(cost)
        for path in paths:
            share = self.shares.get(path)
            if share is None:
                if len(self.shares) >= MAX_SHARES:
                    continue
                share = self.shares[path] = [0, 0, 0.0, False]
            share[0] += input_tokens
            share[1] += output_tokens
            share[2] += known
            share[3] = share[3] or cost is None
        budget = self.budget
        if budget is None or self._stopped:
            return Recorded(total)
        stop = budget.exceeded(total)
        if stop is not None:
            self._stopped = self._warned = True
            return Recorded(total, None, stop)
        if not self._warned:
            warning = budget.warning(total)
            if warning is not None:
                self._warned = True
                return Recorded(total, warning)
        return Recorded(total)

    def share_views(self) -> dict[str, ModelUsage]:
        """Each operation's share as the tree shows it."""
        return {path: ModelUsage(s[0], s[1], None if s[3] else s[2]) for path, s in self.shares.items()}


def budgeted(store: Store, budget: Budget | None, then: Callable[[JobInfo], JobInfo]) -> Callable[[JobInfo], JobInfo]:
    """What to do with a job right after it was created: ``then(job)``, and keep the budget its start asked for
    (a saved value of jobdeck's own, so that the process that runs it, wherever it is, finds it there)."""
    if budget is None:
        return then

    def keep(job: JobInfo) -> JobInfo:
        job = then(job)
        store.save_value(job.id, BUDGET_KEY, budget.to_dict())
        return job

    return keep


def job_budget(store: Store, job_id: str, job_type: JobType) -> Budget | None:
    """The budget of one job: the one its start asked for (only a type with ``max_budget`` takes one), else its
    type's. Unreadable (the store away): the type's, with one log line; the run goes on."""
    if job_type.max_budget is None:
        return job_type.budget
    try:
        given = store.saved_values(job_id).get(BUDGET_KEY)
        return Budget.from_dict(given) if given is not None else job_type.budget
    except (JobdeckError, ValueError):
        logger.warning("job %s: its own budget could not be read; its type's applies", job_id, exc_info=True)
        return job_type.budget


def check_reported(store: Store, job: JobInfo, job_type: JobType, before: Usage | None, after: Usage) -> bool:
    """Check an external job's reported totals (``after``; ``before`` what the job had until this report) against
    its budget, as :class:`Spending` checks a controller's: past 100% request its abort (``abortedBy``
    ``"budget"``), else past 80% write the warning, each only when this report is the one that passed it.
    Whether an abort was requested."""
    if job.status.is_terminal:
        return False
    budget = job_budget(store, job.id, job_type)
    if budget is None:
        return False
    before = before if before is not None else Usage()
    stop = budget.exceeded(after)
    if stop is not None:
        if budget.exceeded(before) is not None and job.abort_reason is not None:
            return False  # passed by an earlier report, whose abort request stands
        logger.warning("job %s: %s; its abort is requested", job.id, stop)
        return store.request_abort(job.id, stop, by=BUDGET_STOPPER)
    warning = budget.warning(after)
    if warning is not None and budget.warning(before) is None:
        store.add_warning_message(job.id, warning)
    return False
