"""The triage pages: ``/jobs`` (every job, searchable), ``/jobs/{id}`` (one job), ``/timeline`` (runs over time),
``/workers`` (the processes that run jobs and the queues), ``/schedules`` and ``/failures`` (failed jobs grouped by
cause), same auth as ``/``; a signed-out visitor goes to the sign-in form at ``/``.

``/jobs/{prefix}`` with a unique id prefix of at least 6 characters redirects to the full id, so that the
8-character ids the dashboard and the command line show can be pasted into the address bar.
"""

from __future__ import annotations

import html
import uuid

from fastapi import APIRouter, Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from ..core.errors import AmbiguousJobIdError, InvalidArgumentError, JobNotFoundError
from ._deck import Deck
from ._errors import ApiError
from ._pages import _PAGE_HEADERS, NAV, _root, render_page

__all__ = ["build_job_pages_router"]

_NAV_PATHS = {path for path, _ in NAV}


def build_job_pages_router(deck: Deck) -> APIRouter:
    router = APIRouter(include_in_schema=False)
    auth = deck.auth
    store = deck.store

    def page(request: Request, name: str, status: int = 200) -> Response:
        current = name.removesuffix(".html")
        return render_page(request, deck, name, current if current in _NAV_PATHS else None, status)

    async def signed_in(request: Request) -> Response | None:
        try:
            await auth.authenticate(request)
        except ApiError:
            # The sign-in form lives at "/"; after signing in the admin lands on the dashboard.
            response = RedirectResponse(_root(request) + "/", status_code=303)
            response.headers.update(_PAGE_HEADERS)
            return response
        return None

    @router.get("/jobs")
    async def all_jobs(request: Request) -> Response:
        return await signed_in(request) or page(request, "jobs.html")

    @router.get("/workers")  # issue 22
    async def workers(request: Request) -> Response:
        return await signed_in(request) or page(request, "workers.html")

    @router.get("/schedules")
    async def schedules(request: Request) -> Response:
        return await signed_in(request) or page(request, "schedules.html")

    @router.get("/timeline")
    async def timeline(request: Request) -> Response:
        return await signed_in(request) or page(request, "timeline.html")

    @router.get("/failures")
    async def failures(request: Request) -> Response:
        return await signed_in(request) or page(request, "failures.html")

    @router.get("/jobs/{job_id}")
    async def one_job(request: Request) -> Response:
        refused = await signed_in(request)
        if refused is not None:
            return refused
        raw = request.path_params["job_id"]
        try:
            full = str(uuid.UUID(raw))
        except ValueError:
            full = None
        if full is not None:
            try:
                await deck.call(store.require_job, full, messages=False)
            except JobNotFoundError:
                return page(request, "job.html", 404)  # the page says so, with links onwards
            return page(request, "job.html")
        try:
            resolved = await deck.call(store.resolve_id, raw)
        except AmbiguousJobIdError as exc:
            return _message(request, 400, f"The id prefix {exc.prefix} matches several jobs",
                            [f'<li><a href="{_root(request)}/jobs/{c}"><code>{c}</code></a></li>'
                             for c in exc.candidates])
        except (InvalidArgumentError, JobNotFoundError) as exc:
            return _message(request, 404, "No such job", [f"<li>{html.escape(str(exc))}</li>"])
        response = RedirectResponse(f"{_root(request)}/jobs/{resolved}", status_code=302)
        response.headers.update(_PAGE_HEADERS)
        return response

    return router


def _message(request: Request, status: int, title: str, items: list[str]) -> Response:
    root = html.escape(_root(request))
    body = (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>jobdeck · {html.escape(title)}'
            f'</title><meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<link rel="stylesheet" href="{root}/static/app.css"></head><body><main class="page">'
            f'<h1>{html.escape(title)}</h1><ul>{"".join(items)}</ul>'
            f'<p><a href="{root}/jobs">All jobs</a> · <a href="{root}/">Dashboard</a></p></main></body></html>')
    return HTMLResponse(body, status_code=status, headers=_PAGE_HEADERS)
