"""``GET /spend``: what each job type spent today and this month (issue 24), for the dashboard's type cards;
``GET /spend/total``: what every job a search's filters match spent together, for the total under All jobs;
``GET /spend/daily``: one type's known cost and jobs per day (UTC) over the last days, for its card's history.

A job's spending counts on the day (UTC) it ended, and now while it runs; known costs only (a model without a
price adds its tokens, not a cost). The answer reads the heads of the active jobs and of the past jobs that ended
this month: at most the store's retention (``max_past_jobs``, 1,000 by default), once per request.

Routes are closures over one :class:`~jobdeck.api._deck.Deck`.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel, Field, RootModel
from starlette.requests import Request
from starlette.responses import Response

from ..core.usage import CURRENCY
from ..stores.base import Store
from ._deck import Deck
from ._errors import ApiError
from ._finding import _STATUS, MAX_QUERY, Q_PATTERN
from ._finding import _statuses as parse_statuses
from ._openapi import AUTH_ERRORS, Routes, param
from ._query import IntParam
from ._schemas import NO_NUL
from ._serialize import json_response, refuse_nul

__all__ = ["build_spend_routes", "spend_by_day", "spend_by_type"]

_DAYS = IntParam("days", "how many days, today included (default 14)", 1, 92, 14)


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


class DaySpend(BaseModel):
    """One day (UTC) of a type's history: the jobs that ended that day (or run now, today) and their known cost."""

    day: str = Field(description="the day, YYYY-MM-DD (UTC)")
    cost: float
    jobs: int = Field(description="jobs that ended that day (today: and the active ones)")
    withUsage: int = Field(description="of them, jobs that recorded use")


class DailySpend(BaseModel):
    """A type's cost per day, oldest first, every day of the range (zero where nothing ended)."""

    jobType: str
    currency: str
    days: list[DaySpend]


def spend_by_day(store: Store, job_type: str, days: int, now: float | None = None) -> dict[str, Any]:
    """Known cost and jobs per UTC day for the last ``days`` days (today included), oldest first. Reads the heads
    of the type's active jobs and of its past jobs that ended in the range (bounded by retention)."""
    at = datetime.fromtimestamp(now if now is not None else time.time(), UTC)
    today = at.replace(hour=0, minute=0, second=0, microsecond=0)
    first = today - timedelta(days=days - 1)
    buckets = [[0.0, 0, 0] for _ in range(days)]
    jobs = [*store.get_active_jobs(job_type, messages=False),
            *store.get_past_jobs(job_type, start_from=first.timestamp(), messages=False)]
    for job in jobs:
        ended = job.end_time if job.end_time is not None else at.timestamp()
        index = int((ended - first.timestamp()) // 86400)
        if not 0 <= index < days:
            continue
        bucket = buckets[index]
        bucket[1] += 1
        if job.usage is not None:
            bucket[0] += job.usage.known_cost
            bucket[2] += 1
    return {"jobType": job_type, "currency": CURRENCY,
            "days": [{"day": (first + timedelta(days=i)).date().isoformat(), "cost": round(b[0], 6),
                      "jobs": int(b[1]), "withUsage": int(b[2])} for i, b in enumerate(buckets)]}


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
                params=(param("q", "search words, as GET /search takes them",
                              {"type": "string", "maxLength": MAX_QUERY, "pattern": Q_PATTERN}),
                        param("jobType", "only jobs of this type", {"type": "string", "pattern": NO_NUL}),
                        param("scheduleId", "only jobs this schedule started", {"type": "string", "pattern": NO_NUL}),
                        param("signature", "only failed jobs with this signature",
                              {"type": "string", "pattern": NO_NUL}),
                        param("status", "only jobs with this status (repeatable or comma-separated)", {
                            "type": "array", "items": {"type": "string", "pattern": f"^{_STATUS}(,{_STATUS})*$"}})))
    async def spend_total(request: Request) -> Response:
        await deck.auth.authenticate(request)
        query = request.query_params
        text = refuse_nul("q", query.get("q"))
        if text is not None and len(text) > MAX_QUERY:
            raise ApiError(400, f"q is longer than {MAX_QUERY} characters")
        statuses = parse_statuses(query.getlist("status"))
        try:
            total = await deck.call(store.spend_total, text, statuses=statuses,
                                    job_type=refuse_nul("jobType", query.get("jobType")) or None,
                                    schedule_id=refuse_nul("scheduleId", query.get("scheduleId")) or None,
                                    signature=refuse_nul("signature", query.get("signature")) or None)
        except ValueError as exc:
            raise ApiError(400, str(exc)) from None
        return json_response(total.to_dict())

    @routes.get("/spend/daily", responses={200: {"model": DailySpend}, **AUTH_ERRORS},
                summary="One type's known cost and jobs per day (UTC), oldest first",
                params=(param("jobType", "the job type", {"type": "string", "pattern": NO_NUL, "minLength": 1},
                              required=True), _DAYS.spec))
    async def spend_daily(request: Request) -> Response:
        await deck.auth.authenticate(request)
        job_type = refuse_nul("jobType", request.query_params.get("jobType"))
        if not job_type:
            raise ApiError(400, "jobType is required: the type whose cost per day to show")
        days = _DAYS.read(request) or 14
        try:
            return json_response(await deck.call(spend_by_day, store, job_type, days))
        except ValueError as exc:
            raise ApiError(400, str(exc)) from None

    return routes
