"""The web layer: the JSON API, live events (SSE), authentication and the dashboard's pages.

``create_app(...)`` builds a FastAPI application. An ``auth`` function refuses a request by raising
``ApiError(status, message)`` (answered as ``{"error": message}``) and may return a :class:`Principal` carrying a
role; ``Notifier`` sends the webhooks of ``--notify``. ``Multiplexer`` (the live-event fan-out a server drains at
shutdown) and ``MAX_URL`` (the longest request line it accepts) are what a host that runs the app itself needs, as
``jobdeck serve`` does. These names are the web layer's public API; its modules
(``_app``, ``_routes``, ...) are internal and may change between releases.
"""

from __future__ import annotations

from ._app import create_app
from ._errors import ApiError
from ._middleware import MAX_URL
from ._notify import Notifier
from ._roles import ADMIN, VIEWER, Principal
from ._sse import Multiplexer

__all__ = ["ADMIN", "MAX_URL", "VIEWER", "ApiError", "Multiplexer", "Notifier", "Principal", "create_app"]
