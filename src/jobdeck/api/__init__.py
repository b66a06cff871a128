"""The web layer: the JSON API, live events (SSE), authentication and the dashboard's pages.

``create_app(...)`` builds a FastAPI application. An ``auth`` function refuses a request by raising
``ApiError(status, message)`` (answered as ``{"error": message}``) and may return a :class:`Principal` carrying a
role; ``Notifier`` sends the webhooks of ``--notify``. These names are the web layer's public API; its modules
(``_app``, ``_routes``, ...) are internal and may change between releases.
"""

from __future__ import annotations

from ._app import create_app
from ._errors import ApiError
from ._notify import Notifier
from ._roles import ADMIN, VIEWER, Principal

__all__ = ["ADMIN", "VIEWER", "ApiError", "Notifier", "Principal", "create_app"]
