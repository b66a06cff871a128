"""Failed jobs grouped by cause: ``GET /failures``.

A group is every failed job with one signature (:mod:`jobdeck.core.signature`, written when the job failed);
the store counts the groups (:meth:`~jobdeck.stores.base.Store.failure_groups`). Routes are closures over one
:class:`~jobdeck.api._deck.Deck`, like the others of :mod:`jobdeck.api._routes`.
"""

from __future__ import annotations

from pydantic import BaseModel, Field
from starlette.requests import Request
from starlette.responses import Response

from ._deck import Deck
from ._openapi import AUTH_ERRORS, TIME, Routes, error, param
from ._query import IntParam
from ._serialize import json_response, parse_time_param, refuse_nul

__all__ = ["FailureGroupAnswer", "build_failures_routes"]

_LIMIT = IntParam("limit", "at most this many groups, newest first (default 50)", 1, 500, 50)
_IDS = IntParam("ids", "at most this many job ids per group, newest first (default 20)", 0, 100, 20)


class FailureGroupAnswer(BaseModel):
    """Failed jobs with one cause."""

    signature: str = Field(description="the error's exception type and message with numbers, ids, quoted values "
                                       "and paths normalised away (pass it as signature to /search and /bulk)")
    message: str | None = Field(description="the newest job's error message, as an example")
    count: int = Field(description="failed jobs with this signature (as far as retention keeps them)")
    firstSeen: str = Field(description="when the oldest of them ended")
    lastSeen: str = Field(description="when the newest of them ended")
    jobTypes: list[str] = Field(description="their job types, sorted")
    jobIds: list[str] = Field(description="the newest of their ids, newest first (ids= of them)")


def build_failures_routes(deck: Deck) -> Routes:
    """``/failures``, bound to ``deck``."""
    routes = Routes()
    store = deck.store

    @routes.get("/failures", responses={200: {"model": list[FailureGroupAnswer]}, **AUTH_ERRORS,
                                        400: error("a malformed since, jobType, limit or ids")},
                params=(param("since", "only jobs that failed after this time (ISO 8601)", TIME),
                        param("jobType", "only jobs of this type", {"type": "string"}),
                        _LIMIT.spec, _IDS.spec),
                summary="Failed jobs grouped by the cause of their error, newest group first")
    async def failures(request: Request) -> Response:
        await deck.auth.authenticate(request)
        query = request.query_params
        since = parse_time_param("since", query.get("since"))
        job_type = refuse_nul("jobType", query.get("jobType")) or None
        limit = _LIMIT.read(request) or 50
        ids = _IDS.read(request)
        groups = await deck.call(store.failure_groups, since, job_type, limit=limit, ids=20 if ids is None else ids)
        return json_response([group.to_dict() for group in groups])

    return routes
