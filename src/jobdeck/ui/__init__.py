"""The dashboard: static HTML, CSS and JavaScript with no build step and nothing fetched from elsewhere.

``static/index.html`` is the live monitoring page (``app.css`` and the ES modules ``app.js``, ``state.js``,
``stream.js``, ``views.js``, ``panels.js``, ``params.js``, ``api.js``, ``format.js``, ``dom.js``) and
``static/login.html`` the standalone sign-in page. ``static/jobs.html`` (``alljobs.js``) is the All jobs table and
``static/job.html`` (``jobpage.js``) one job's page; both follow ``/events`` through ``follow.js``. The web layer
serves the pages and ``/static/*`` from :func:`static_dir`.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["static_dir"]


def static_dir() -> Path:
    """The folder holding ``index.html``, ``login.html`` and the page's scripts and styles."""
    return Path(__file__).resolve().parent / "static"
