"""The web layer: the JSON API, live events (SSE), authentication and the dashboard's pages.

``create_app(...)`` builds a FastAPI application; see :mod:`jobdeck.api.app`. An ``auth`` function refuses a
request by raising ``ApiError(status, message)`` (answered as ``{"error": message}``).
"""

from __future__ import annotations

from .app import create_app
from .errors import ApiError

__all__ = ["ApiError", "create_app"]
