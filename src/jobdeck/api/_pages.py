"""The dashboard's pages: ``/`` (dashboard or login), token login and logout, ``/static``,
``/healthz``, ``/readyz``.

Every page has the same header (name, navigation, live indicator, sign-out): its HTML file holds the mark
``<!-- jobdeck:header -->`` and :func:`render_page` puts :func:`header_html` there, with ``aria-current`` on the
page's own link. The navigation is :data:`NAV`, so a new page is its html and js, its route (answering with
``render_page``) and one line in ``NAV``.

``GET /?token=T`` sets the cookie and redirects to ``/`` so that the token leaves the address bar (and the
browser history); a wrong token redirects to ``/?error=1``, where the login page shows the problem.
"""

from __future__ import annotations

import html
import re
from pathlib import Path
from urllib.parse import parse_qs

import anyio
import orjson
from fastapi import APIRouter, Request
from starlette.requests import HTTPConnection
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from ..core.i18n import DEFAULT_LOCALE, available_locales, translate
from ..core.jsoncodec import safe_text
from ._auth import Authenticator, clear_token_cookie, set_token_cookie
from ._deck import Deck
from ._errors import ApiError, error_response
from ._locale import localize_page, request_locale
from ._serialize import json_response

__all__ = ["NAV", "STATIC_DIR", "StaticGate", "build_pages_router", "header_html", "render_page"]

STATIC_DIR = Path(__file__).resolve().parent.parent / "ui" / "static"

_PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "frame-ancestors 'none'",
}
_PREFIX_META = re.compile(r'(<meta\s+name="jobdeck-api-prefix"\s+content=")[^"]*(")')
_BASE = re.compile(r'(<base\s+href=")[^"]*(")')

# The header's navigation, in order: (the page's path under the server's root, its link text). One line a page.
# The link text is a catalog key (see jobdeck/locales).
NAV: list[tuple[str, str]] = [
    ("", "nav.dashboard"),
    ("jobs", "nav.jobs"),
    ("timeline", "nav.timeline"),
    ("workers", "nav.workers"),
    ("schedules", "nav.schedules"),
    ("failures", "nav.failures"),
]
HEADER_MARK = "<!-- jobdeck:header -->"


def header_html(current: str | None, lang: str = DEFAULT_LOCALE) -> str:
    """The shared header in ``lang``; ``current`` is the NAV path of the page showing it (its link gets
    ``aria-current``).

    The live indicator starts as "Connecting…"; the page's script (``follow.js``, ``stream.js``) keeps it true.
    ``header.js`` signs out and remembers the language switcher's choice."""
    def t(key: str) -> str:
        return html.escape(translate(lang, key))

    here = ' aria-current="page"'
    links = "".join(f'<a href="{html.escape(path or "./")}"{here if path == current else ""}>{t(key)}</a>'
                    for path, key in NAV)
    options = "".join(f'<option value="{code}" lang="{code}"{" selected" if code == lang else ""}>'
                      f'{html.escape(name)}</option>' for code, name in available_locales().items())
    return (
        '<header class="topbar">'
        '<div class="brand"><span class="brand-mark" aria-hidden="true"></span>'
        f'<p class="brand-name">jobdeck</p><span class="brand-sub">{t("header.tagline")}</span>'
        f'<nav class="nav" aria-label="{t("header.views")}">{links}</nav></div>'
        '<div class="topbar-actions">'
        '<p id="connection" class="conn" data-state="connecting" role="status" aria-live="polite">'
        f'<span class="conn-dot" aria-hidden="true"></span><span class="conn-text">{t("live.connecting")}</span></p>'
        f'<label class="lang-switch"><span class="visually-hidden">{t("header.language")}</span>'
        f'<select id="language">{options}</select></label>'
        f'<button type="button" id="logout" class="btn btn-ghost">{t("header.sign_out")}</button>'
        '</div></header>'
        '<script type="module" src="static/header.js"></script>')


def render_page(request: Request, deck: Deck, name: str, current: str | None, status: int = 200) -> Response:
    """The static page ``name`` with the API prefix, the base address and the shared header filled in, in the
    viewer's language."""
    text = _read_page(name)
    if text is None:
        raise ApiError(404, f"the dashboard is not installed (no {name} in {STATIC_DIR})")
    root = _root(request)
    lang = request_locale(request)
    text = _PREFIX_META.sub(lambda m: m.group(1) + root + deck.prefix + m.group(2), text, count=1)
    text = _BASE.sub(lambda m: m.group(1) + root + "/" + m.group(2), text, count=1)
    text = text.replace(HEADER_MARK, header_html(current, lang), 1)
    return HTMLResponse(localize_page(text, lang), status_code=status, headers=_PAGE_HEADERS)


# Used only when the dashboard's login.html is missing (a stripped-down install).
_FALLBACK_LOGIN = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>jobdeck · sign in</title></head>
<body><main><h1>jobdeck</h1><form method="post" action="login">
<label>Access token <input type="password" name="token" required autofocus></label>
<button type="submit">Sign in</button></form></main></body></html>
"""


class StaticGate:
    """Serves ``app`` (the static files) only to authenticated requests."""

    def __init__(self, app: ASGIApp, auth: Authenticator) -> None:
        self.app = app
        self.auth = auth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            try:
                await self.auth.authenticate(HTTPConnection(scope))
            except ApiError as exc:
                await error_response(exc.status_code, str(exc.detail))(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _read_page(name: str) -> str | None:
    try:
        return (STATIC_DIR / name).read_text(encoding="utf-8")
    except OSError:
        return None


def _root(request: Request) -> str:
    return str(request.scope.get("root_path", "")).rstrip("/")


async def _form_token(request: Request) -> str | None:
    raw = await request.body()
    kind = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if kind == "application/json":
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise ApiError(400, "malformed JSON body") from None
        token = data.get("token") if isinstance(data, dict) else None
        return token if isinstance(token, str) else None
    values = parse_qs(raw.decode("utf-8", "replace"), max_num_fields=20)
    found = values.get("token")
    return found[0] if found else None


def build_pages_router(deck: Deck) -> APIRouter:
    router = APIRouter(include_in_schema=False)
    auth = deck.auth

    def redirect(request: Request, target: str) -> RedirectResponse:
        response = RedirectResponse(_root(request) + target, status_code=303)
        response.headers.update(_PAGE_HEADERS)
        return response

    def login_page(request: Request, status: int) -> HTMLResponse:
        text = localize_page(_read_page("login.html") or _FALLBACK_LOGIN, request_locale(request))
        return HTMLResponse(text, status_code=status, headers=_PAGE_HEADERS)

    @router.get("/")
    async def dashboard(request: Request) -> Response:
        token = request.query_params.get("token")
        if token is not None:
            if not auth.check_token(request, token):
                return redirect(request, "/?error=1")
            response = redirect(request, "/")
            set_token_cookie(response, token, request.url.scheme == "https")
            return response
        try:
            await auth.authenticate(request)
        except ApiError as exc:
            return login_page(request, exc.status_code)
        return render_page(request, deck, "index.html", "")

    @router.get("/login")
    async def login_page_link(request: Request) -> Response:
        return redirect(request, "/")  # the login form lives at "/" (shown whenever one is not logged in)

    @router.post("/login")
    async def login(request: Request) -> Response:
        token = await _form_token(request)
        if token is None or not auth.check_token(request, token):
            return redirect(request, "/?error=1")
        response = redirect(request, "/")
        set_token_cookie(response, token, request.url.scheme == "https")
        return response

    @router.post("/logout")
    async def logout(request: Request) -> Response:
        response = redirect(request, "/")
        clear_token_cookie(response, request.url.scheme == "https")
        return response

    return router


# How long /readyz waits for the store before calling it unreachable.
READY_TIMEOUT = 2.0


def healthz_router(deck: Deck) -> APIRouter:
    """``/healthz``: the server answers (liveness). ``/readyz``: its store can serve a step now (readiness: a round
    trip through the store's own pool and transactions, :meth:`Store.ping <jobdeck.Store.ping>`), else 503. Both
    are open (no credentials) and say nothing about jobs."""
    router = APIRouter(include_in_schema=False)

    @router.get("/healthz")
    async def healthz() -> Response:
        return json_response({"status": "ok"})

    @router.get("/readyz")
    async def readyz() -> Response:
        try:
            with anyio.fail_after(READY_TIMEOUT):
                await deck.call(deck.store.ping)
        except TimeoutError:
            return json_response({"status": "unavailable", "store": f"no answer within {READY_TIMEOUT:g}s"}, 503)
        except Exception as exc:  # any failure to reach the store means "not ready", never a 500
            return json_response({"status": "unavailable", "store": safe_text(str(exc))[:300]}, 503)
        return json_response({"status": "ready"})

    return router
