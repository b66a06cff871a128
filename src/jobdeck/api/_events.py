"""``GET /events``: live changes as Server-Sent Events, from the app's one multiplexer
(:class:`~jobdeck.api._sse.Multiplexer`), resumable with ``Last-Event-ID``.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from ._deck import Deck
from ._openapi import AUTH_ERRORS, Routes, param
from ._sse import EventStreamResponse

__all__ = ["build_events_routes"]


def build_events_routes(deck: Deck) -> Routes:
    """``GET /events``, bound to ``deck``."""
    routes = Routes()
    authenticate = deck.auth.authenticate

    @routes.get("/events", summary="Live changes as Server-Sent Events",
                params=(param("lastEventId", "resume after this event id (or the Last-Event-ID header)"),),
                responses={200: {"content": {"text/event-stream": {}}, "description": "event stream"},
                           **AUTH_ERRORS})
    async def events(request: Request) -> Response:
        await authenticate(request)
        resume = request.headers.get("last-event-id") or request.query_params.get("lastEventId")
        client, first = await deck.mux.subscribe(resume)
        return EventStreamResponse(deck.mux, client, first)

    return routes
