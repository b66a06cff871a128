"""Pure ASGI middleware (no ``BaseHTTPMiddleware``: it costs a task per request and breaks streaming).

- :class:`AccessLogMiddleware`: one log line per request with the query string left out (it may carry the
  token), and the last-resort handler: an unexpected exception is logged here and answered with a generic 500.
- :class:`RequestGuardMiddleware`: caps request bodies (413) and URLs (414) and refuses cross-site writes: a
  mutating request whose ``Origin`` is another site (403), or an API write whose body is not JSON in UTF-8 (415),
  so an HTML form on another site cannot abort jobs. Which site is "this one" behind a reverse proxy:
  :mod:`jobdeck.api._proxy`.
- :class:`ResponseHeadersMiddleware`: what every answer says about itself: ``X-Content-Type-Options: nosniff``,
  ``Cache-Control: no-store`` on the API and static files (job data and the dashboard's code are never cached
  by a shared proxy), and the dashboard page's frame protections on HTML served from ``/static``.
"""

from __future__ import annotations

import logging
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..core.jsoncodec import dumps
from ._errors import ApiError
from ._proxy import SiteCheck
from ._throttle import PEER_SCOPE_KEY

__all__ = ["MAX_URL", "AccessLogMiddleware", "RequestGuardMiddleware", "ResponseHeadersMiddleware", "route_path"]

access_logger = logging.getLogger("jobdeck.access")
error_logger = logging.getLogger("jobdeck.api")

_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Longer URLs (path plus query) are answered 414. ``jobdeck serve`` lets the HTTP parser read well beyond this,
# so that an over-long URL gets this clear answer rather than the parser's generic 400.
MAX_URL = 16 * 1024
_GUARD_HEADERS = frozenset({b"origin", b"host", b"content-type", b"content-length", b"transfer-encoding",
                            b"sec-fetch-site", b"x-forwarded-host", b"x-forwarded-proto", b"forwarded"})


def route_path(scope: Scope) -> str:
    """The path inside this app (without the mount point when mounted under another app)."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and path.startswith(root):
        path = path[len(root):] or "/"
    return path


async def _send_json(send: Send, status: int, message: str) -> None:
    body = dumps({"error": message})
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


class AccessLogMiddleware:
    """Log ``client "METHOD /path" status duration`` (never the query string) and catch what nothing else did."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 0

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        except Exception:
            # The traceback goes to the server log only; the client learns nothing about the internals.
            error_logger.exception("unhandled error in %s %s", scope["method"], scope["path"])
            if status == 0:
                status = 500
                await _send_json(send, 500, "internal server error; the server log has the details")
        finally:
            if access_logger.isEnabledFor(logging.INFO):
                client = scope.get("client")
                who = f"{client[0]}:{client[1]}" if client else "-"
                access_logger.info('%s "%s %s" %d %.1fms', who, scope["method"], scope["path"], status,
                                   (time.perf_counter() - started) * 1000)


class RequestGuardMiddleware:
    """Cap request bodies at ``max_body`` bytes and refuse cross-site writes (see the module docstring).

    ``json_prefix``: writes under this path must send JSON bodies (the login form lives outside it).
    ``site``: trusted proxies and origins (default: none, the ``Host`` header and the connection's scheme).
    """

    def __init__(self, app: ASGIApp, *, max_body: int, json_prefix: str, site: SiteCheck | None = None) -> None:
        self.app = app
        self.max_body = max_body
        self.json_prefix = json_prefix
        self.site = site or SiteCheck()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # The connection's own address, before a trusted proxy's X-Forwarded-For replaces it: the token
        # throttle counts wrong tokens against both (see _throttle.py).
        scope.setdefault(PEER_SCOPE_KEY, scope.get("client"))
        if len(scope.get("raw_path") or scope["path"]) + len(scope.get("query_string", b"")) > MAX_URL:
            await _send_json(send, 414, f"URL too long: the limit is {MAX_URL} bytes of path and query")
            return
        if scope["method"] in _SAFE_METHODS:
            await self.app(scope, receive, send)
            return
        headers = {k: v for k, v in scope["headers"] if k in _GUARD_HEADERS}
        refusal = self._refusal(scope, headers)
        if refusal is not None:
            status, message = refusal
            await _send_json(send, status, message)
            return
        limit = self.max_body
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise ApiError(413, f"request body too large: the limit is {limit} bytes")
            return message

        await self.app(scope, limited_receive, send)

    def _refusal(self, scope: Scope, headers: dict[bytes, bytes]) -> tuple[int, str] | None:
        if headers.get(b"sec-fetch-site") == b"cross-site":
            return 403, "cross-site request refused"
        origin = headers.get(b"origin")
        if origin is not None and not self.site.allows(origin.decode("latin-1"), scope, headers):
            return 403, (f"cross-site request refused: Origin {origin.decode('latin-1')!r} does not match this "
                         "server (behind a reverse proxy: see --forwarded-allow-ips and --trusted-origin)")
        length_text = headers.get(b"content-length")
        length = 0
        if length_text is not None:
            try:
                length = int(length_text)
            except ValueError:
                return 400, "malformed Content-Length header"
            if length > self.max_body:
                return 413, f"request body too large: {length} bytes, the limit is {self.max_body} bytes"
        has_body = length > 0 or b"transfer-encoding" in headers
        if has_body and route_path(scope).startswith(self.json_prefix):
            kind, _, options = headers.get(b"content-type", b"").partition(b";")
            kind = kind.strip().lower()
            if kind != b"application/json":
                shown = kind.decode("latin-1") or "none"
                return 415, f"request body must be JSON (Content-Type: application/json), got {shown}"
            charset = _charset(options)
            if charset not in (None, "utf-8", "utf8"):
                return 415, f"request body must be JSON in UTF-8, got charset={charset}"
        return None


def _charset(options: bytes) -> str | None:
    """The ``charset`` parameter of a Content-Type header's parameters, lower-cased (None when absent)."""
    for option in options.split(b";"):
        name, _, value = option.partition(b"=")
        if name.strip().lower() == b"charset":
            return value.strip().strip(b'"').decode("latin-1").lower()
    return None


# The dashboard page's protections (see _pages.py), for its HTML wherever it is served from.
_FRAME_HEADERS = ((b"x-frame-options", b"DENY"), (b"content-security-policy", b"frame-ancestors 'none'"),
                  (b"referrer-policy", b"no-referrer"))


class ResponseHeadersMiddleware:
    """Adds what every answer should say about itself (see the module docstring); headers a response already
    set (the event stream's own ``Cache-Control``, say) are left alone."""

    def __init__(self, app: ASGIApp, *, prefixes: tuple[str, ...]) -> None:
        self.app = app
        self.prefixes = prefixes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        no_store = route_path(scope).startswith(self.prefixes)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                present = {name.lower() for name, _ in headers}
                extra = [(b"x-content-type-options", b"nosniff")]
                if no_store:
                    extra.append((b"cache-control", b"no-store"))
                content_type = next((v for k, v in headers if k.lower() == b"content-type"), b"")
                if content_type.startswith(b"text/html"):
                    extra += _FRAME_HEADERS
                headers += [(name, value) for name, value in extra if name not in present]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)
