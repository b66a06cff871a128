"""The JSON API under the prefix (``/api/admin/jobs`` by default); docs/api.md lists every endpoint.

One router per concern, each built per app over one :class:`~jobdeck.api._deck.Deck`:

- :mod:`jobdeck.api._reading`: ``/active``, ``/past``, ``/past/summary``, ``/single/{id}/progress`` and ``/messages``;
- :mod:`jobdeck.api._control`: ``/start``, ``/single/{id}/abort``, ``/abort-all``;
- :mod:`jobdeck.api._finding`: ``/search``, ``/lookup``, ``/single/{id}/rerun``, ``/messages.jsonl``;
- :mod:`jobdeck.api._report`: the report endpoints of external jobs;
- :mod:`jobdeck.api._meta`: ``/types``, ``/me``, ``/stats``, and ``/events`` (Server-Sent Events).

What they share: the OpenAPI description of parameters and answers (:mod:`jobdeck.api._openapi`) and the reading
of query values and bodies (:mod:`jobdeck.api._query`).
"""

from __future__ import annotations

from fastapi import APIRouter

from ._control import build_control_router
from ._deck import Deck
from ._finding import build_finding_router
from ._meta import build_events_router, build_meta_router
from ._reading import build_reading_router
from ._report import build_report_router

__all__ = ["build_api_routers"]


def build_api_routers(deck: Deck) -> list[APIRouter]:
    """Every JSON endpoint, bound to ``deck``, one router per concern."""
    return [build_reading_router(deck), build_control_router(deck), build_meta_router(deck),
            build_events_router(deck), build_finding_router(deck), build_report_router(deck)]
