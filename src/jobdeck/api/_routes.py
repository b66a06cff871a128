"""The JSON API under the prefix (``/api/admin/jobs`` by default); docs/api.md lists every endpoint.

One table of routes per concern, each built per app over one :class:`~jobdeck.api._deck.Deck`:

- :mod:`jobdeck.api._reading`: ``/active``, ``/past``, ``/past/summary``, ``/single/{id}/progress`` and ``/messages``;
- :mod:`jobdeck.api._control`: ``/start``, ``/single/{id}/abort``, ``/abort-all``;
- :mod:`jobdeck.api._finding`: ``/search``, ``/lookup``, ``/single/{id}/rerun`` and ``/resume``,
  ``/messages.jsonl``;
- :mod:`jobdeck.api._report`: the report endpoints of external jobs;
- :mod:`jobdeck.api._meta`: ``/types``, ``/me``, ``/stats``;
- :mod:`jobdeck.api._events`: ``/events`` (Server-Sent Events);
- :mod:`jobdeck.api._schedules`: ``/schedules`` and ``/schedules/{id}`` (``/trigger``: run now);
- :mod:`jobdeck.api._workers`: ``/workers`` (the worker registry and the queues);
- :mod:`jobdeck.api._failures`: ``/failures`` (failed jobs grouped by cause);
- :mod:`jobdeck.api._bulk`: ``/bulk`` (one action for many jobs, as a bulk job);
- :mod:`jobdeck.api._limits`: ``/limits`` (the shared provider limits);
- :mod:`jobdeck.api._spend`: ``/spend`` (what each type spent today and this month).

Each endpoint is declared once, with its parameters, body and answers (:class:`~jobdeck.api._openapi.Routes`);
the app serves the rows as plain Starlette routes and generates its OpenAPI document from the same rows
(:func:`~jobdeck.api._openapi.document`). Request readers shared by the routes are in :mod:`jobdeck.api._query`.
"""

from __future__ import annotations

from ._bulk import build_bulk_routes
from ._control import build_control_routes
from ._deck import Deck
from ._events import build_events_routes
from ._failures import build_failures_routes
from ._finding import build_finding_routes
from ._limits import build_limits_routes
from ._meta import build_meta_routes
from ._openapi import Endpoint
from ._reading import build_reading_routes
from ._report import build_report_routes
from ._schedules import build_schedule_routes
from ._spend import build_spend_routes
from ._workers import build_workers_routes

__all__ = ["api_endpoints"]


def api_endpoints(deck: Deck) -> list[Endpoint]:
    """Every JSON endpoint, bound to ``deck``, in the order the OpenAPI document lists them."""
    tables = [build_reading_routes(deck), build_control_routes(deck), build_meta_routes(deck),
              build_events_routes(deck), build_finding_routes(deck), build_report_routes(deck),
              build_schedule_routes(deck), build_workers_routes(deck), build_failures_routes(deck),
              build_bulk_routes(deck), build_limits_routes(deck), build_spend_routes(deck)]
    return [endpoint for table in tables for endpoint in table.endpoints]
