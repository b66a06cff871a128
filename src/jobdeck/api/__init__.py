"""The web layer: the JSON API, live events (SSE), authentication and the dashboard's pages.

``create_app(...)`` builds a FastAPI application; see :mod:`jobdeck.api.app`.
"""

from __future__ import annotations

from .app import create_app

__all__ = ["create_app"]
