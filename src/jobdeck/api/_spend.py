"""``GET /spend``: what each job type spent today and this month (issue 24), for the dashboard's type cards;
``GET /spend/total``: what every job a search's filters match spent together, for the total under All jobs.

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
from ._errors import ApiError
from ._finding import MAX_QUERY, _statuses
from ._openapi import AUTH_ERRORS, Routes, param
from ._schemas import NO_NUL
from ._serialize import json_response, refuse_nul

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


class SpendTotalAnswer(BaseModel):
    """What every matching job (active and past, not one page) spent together."""

    jobs: int = Field(description="jobs that match the filters")
    withUsage: int = Field(description="of them, jobs that recorded use")
    cost: float = Field(description="their known costs added up")
    unknown: int = Field(description="jobs whose cost is partly unknown (the total is then a lower bound)")
    inputTokens: int
    outputTokens: int
    currency: str


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

    @routes.get("/spend/total", responses={200: {"model": SpendTotalAnswer}, **AUTH_ERRORS},
                summary="What every job matching a search's filters spent together (known costs)",
                params=(param("q", "search words, as GET /search", {"type": "string", "maxLength": MAX_QUERY,
                                                                     "pattern": NO_NUL}),
                        param("jobType", "only jobs of this type", {"type": "string", "pattern": NO_NUL}),
                        param("scheduleId", "only jobs this schedule started", {"type": "string", "pattern": NO_NUL}),
                        param("signature", "only failed jobs with this signature",
                              {"type": "string", "pattern": NO_NUL}),
                        param("status", "only jobs with this status (repeatable or comma-separated)",
                              {"type": "array", "items": {"type": "string", "pattern": NO_NUL}})))
    async def spend_total(request: Request) -> Response:
        await deck.auth.authenticate(request)
        query = request.query_params
        text = refuse_nul("q", query.get("q"))
        if text is not None and len(text) > MAX_QUERY:
            raise ApiError(400, f"q is longer than {MAX_QUERY} characters")
        statuses = _statuses(query.getlist("status"))
        try:
            total = await deck.call(store.spend_total, text, statuses=statuses,
                                    job_type=refuse_nul("jobType", query.get("jobType")) or None,
                                    schedule_id=refuse_nul("scheduleId", query.get("scheduleId")) or None,
                                    signature=refuse_nul("signature", query.get("signature")) or None)
        except ValueError as exc:
            raise ApiError(400, str(exc)) from None
        return json_response(total.to_dict())

    return routes
