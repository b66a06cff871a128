"""``GET /spend``: what each job type spent today and this month (issue 24), for the dashboard's type cards.

A job's spending counts on the day (UTC) it ended, and now while it runs; known costs only (a model without a
price adds its tokens, not a cost). The answer reads the heads of the active jobs and of the past jobs that ended
this month: at most the store's retention (``max_past_jobs``, 1,000 by default), once per request.

Routes are closures over one :class:`~jobdeck.api._deck.Deck`.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, Field, RootModel
from starlette.requests import Request
from starlette.responses import Response

from ..core.usage import CURRENCY
from ..stores.base import Store
from ._deck import Deck
from ._openapi import AUTH_ERRORS, Routes
from ._serialize import json_response

__all__ = ["build_spend_routes", "spend_by_type"]


class TypeSpend(BaseModel):
    """One job type's known spending."""

    jobType: str
    today: float = Field(description="jobs that ended today (UTC), and the active ones")
    month: float = Field(description="jobs that ended this month (UTC), and the active ones")
    jobs: int = Field(description="jobs this month that recorded use")
    currency: str


class SpendList(RootModel[list[TypeSpend]]):
    """Every type with a job that recorded use this month, by name."""


def spend_by_type(store: Store, now: float | None = None) -> list[dict[str, Any]]:
    """Known costs per type: today's and this month's (see the module)."""
    at = datetime.fromtimestamp(now if now is not None else time.time(), UTC)
    day = at.replace(hour=0, minute=0, second=0, microsecond=0).timestamp()
    month = at.replace(day=1, hour=0, minute=0, second=0, microsecond=0).timestamp()
    totals: dict[str, list[float]] = {}
    jobs = [*store.get_active_jobs(messages=False), *store.get_past_jobs(start_from=month, messages=False)]
    for job in jobs:
        usage = job.usage
        if usage is None:
            continue
        entry = totals.setdefault(job.job_type, [0.0, 0.0, 0])
        ended = job.end_time
        entry[1] += usage.known_cost
        entry[2] += 1
        if ended is None or ended >= day:
            entry[0] += usage.known_cost
    return [{"jobType": name, "today": round(t[0], 6), "month": round(t[1], 6), "jobs": int(t[2]),
             "currency": CURRENCY} for name, t in sorted(totals.items())]


def build_spend_routes(deck: Deck) -> Routes:
    """The spending endpoint, bound to ``deck``."""
    routes = Routes("spend")
    store = deck.store

    @routes.get("/spend", responses={200: {"model": SpendList}, **AUTH_ERRORS},
                summary="What each job type spent today and this month (known costs)")
    async def spend(request: Request) -> Response:
        await deck.auth.authenticate(request)
        return json_response(await deck.call(spend_by_type, store))

    return routes
