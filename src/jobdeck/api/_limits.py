"""``GET /limits``: the shared provider limits of the store (issue 24) -- each limit's slots in use, its waiters
and its rate -- for anyone signed in (a viewer reads it too).

Routes are closures over one :class:`~jobdeck.api._deck.Deck`.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field, RootModel
from starlette.requests import Request
from starlette.responses import Response

from ..stores.base import Store
from ._deck import Deck
from ._openapi import AUTH_ERRORS, Routes
from ._serialize import json_response

__all__ = ["build_limits_routes"]


class LimitUse(BaseModel):
    """One shared limit (``ctl.limit(name, concurrency=N, rate=R, per=S)``)."""

    name: str
    concurrency: int | None = Field(description="the slots its holders asked for; null for a rate limit alone")
    inUse: int = Field(description="slots held now (unexpired leases)")
    waiting: int = Field(description="holders waiting for a slot")
    ratePerMinute: float | None = Field(description="the pace of its rate limit; null without one")


class LimitList(RootModel[list[LimitUse]]):
    """Every limit with a holder, a waiter or a rate, by name."""


def _limits(store: Store) -> list[dict[str, Any]]:
    try:
        return [use.to_dict() for use in store.limit_uses()]
    except NotImplementedError:  # a store without shared limits has none to show
        return []


def build_limits_routes(deck: Deck) -> Routes:
    """The endpoints of the shared limits, bound to ``deck``."""
    routes = Routes("limits")
    store = deck.store

    @routes.get("/limits", responses={200: {"model": LimitList}, **AUTH_ERRORS},
                summary="Shared provider limits: slots in use, waiters and rates")
    async def limits(request: Request) -> Response:
        await deck.auth.authenticate(request)
        return json_response(await deck.call(_limits, store))

    return routes
