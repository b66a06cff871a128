"""``create_app``: the HTTP API, live events and dashboard as one FastAPI application.

    from jobdeck import JobRunner, open_store
    from jobdeck.api import create_app

    runner = JobRunner(open_store("sqlite:///jobs.db"))
    app = create_app(runner=runner, token="s3cret")          # uvicorn module:app

Mounted inside an existing application it works the same (``parent.mount("/jobs", create_app(...))``): nothing
depends on the lifespan having run, the event reader starts with the first ``/events`` client.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response
from starlette.staticfiles import StaticFiles

from ..core.diagnosis import rules_of
from ..core.errors import InvalidArgumentError
from ..core.net import DEFAULT_PREFIX
from ..core.version import __version__
from ..runtime.defaults import get_default_store
from ..runtime.runner import JobRunner
from ..stores.base import Store
from ._auth import Authenticator, AuthFunc
from ._deck import Deck
from ._errors import install_error_handlers
from ._job_pages import build_job_pages_router
from ._middleware import AccessLogMiddleware, RequestGuardMiddleware, ResponseHeadersMiddleware
from ._notify import Notifier
from ._openapi import document, starlette_routes
from ._pages import STATIC_DIR, StaticGate, build_pages_router, healthz_router
from ._proxy import SiteCheck
from ._report_token import ReportTokens
from ._roles import CanAbort, CanStart, Permissions
from ._routes import api_endpoints
from ._serialize import json_response
from ._sse import Multiplexer
from ._workers import CockpitCollector

__all__ = ["DEFAULT_MAX_BODY", "create_app"]

DEFAULT_MAX_BODY = 1024 * 1024


def create_app(
    store: Store | None = None,
    runner: JobRunner | None = None,
    *,
    auth: AuthFunc | None = None,
    token: str | Mapping[str, str] | None = None,
    viewer_tokens: tuple[str, ...] | list[str] | Mapping[str, str] = (),
    can_start: CanStart | None = None,
    can_abort: CanAbort | None = None,
    metrics_token: str | None = None,
    metrics_public: bool = False,
    notifier: Notifier | None = None,
    prefix: str = DEFAULT_PREFIX,
    ui: bool = True,
    ping_interval: float = 15.0,
    max_body: int = DEFAULT_MAX_BODY,
    shutdown_grace: float | None = None,
    forwarded_allow_ips: str | list[str] | None = None,
    trusted_origins: list[str] | tuple[str, ...] = (),
    report_secret: str | bytes | None = None,
) -> FastAPI:
    """Build the app. All its state lives on it (``app.state.deck``), so several apps can share a process.

    - ``store``: where jobs live (default: the runner's store, else the process-wide default store).
    - ``runner``: runs the registered job types; without one, ``/start`` answers 404 and ``/types`` is empty.
    - ``auth``: ``(request) -> principal | None``, sync or async; ``token``: a shared bearer token. Neither
      means no authentication, which only suits an app mounted behind the host's own protection.
    - ``viewer_tokens``: read-only bearer tokens (role viewer); ``token`` is the admin's. Either may be a mapping
      ``{name: secret}``: a named token's holder is recorded by name as the author of what they start and the
      ``abortedBy`` of what they abort.
    - ``can_start(principal, job_type)``, ``can_abort(principal, job)``: who may start and abort (default: the
      admin role only; see :mod:`jobdeck.api._roles`).
    - ``metrics_token``: serve ``GET /metrics`` (Prometheus, ``jobdeck[metrics]``) to this bearer token;
      ``metrics_public``: serve it to loopback clients without one. Neither: no ``/metrics``.
    - ``notifier``: a :class:`~jobdeck.api._notify.Notifier` (webhooks on failed, aborted, reaped jobs); the app
      starts it and stops it at shutdown.
    - ``prefix``: where the JSON API lives; ``ui``: serve the dashboard at ``/``.
    - ``ping_interval``: seconds between keep-alive comments on ``/events``.
    - ``max_body``: request bodies above this many bytes are refused with 413.
    - ``shutdown_grace``: when set, the app's shutdown also shuts the runner down (``runner.shutdown``).
    - ``forwarded_allow_ips``: reverse proxies (addresses, networks or ``*``) whose ``X-Forwarded-For``,
      ``-Proto`` and ``-Host`` headers are believed; run the server without its own proxy-header handling
      (``uvicorn --no-proxy-headers``), the app does it. ``trusted_origins``: origins whose writes are accepted
      although they are not this server's own (see :mod:`jobdeck.api._proxy`).
    - ``report_secret``: signs the report tokens of external jobs (default: derived from ``token``); servers
      sharing a store must share it (see :mod:`jobdeck.api._report_token`).
    """
    if store is None:
        store = runner.store if runner is not None else get_default_store()
    elif runner is not None and runner.store is not store:
        raise InvalidArgumentError("runner works on a different store than store=; pass one of them")
    if not isinstance(prefix, str) or not prefix.startswith("/") or prefix.endswith("/"):
        raise InvalidArgumentError(f"prefix must start with '/' and not end with one, got {prefix!r}")
    if isinstance(max_body, bool) or not isinstance(max_body, int) or max_body < 0:
        raise InvalidArgumentError(f"max_body must be a number of bytes, got {max_body!r}")
    site = SiteCheck(forwarded_allow_ips, trusted_origins)
    deck = Deck(
        store=store,
        runner=runner,
        auth=Authenticator(auth, token, viewer_tokens),
        prefix=prefix,
        mux=Multiplexer(store, ping_interval=ping_interval),
        max_body=max_body,
        inline=not store.blocking,
        shutdown_grace=shutdown_grace,
        permissions=Permissions(can_start, can_abort),
        reports=ReportTokens(report_secret, token if token is None or isinstance(token, str)
                             else "\n".join(sorted(token.values()))),
    )
    if metrics_token is not None or metrics_public:
        from ._metrics import JobMetrics

        deck.metrics = JobMetrics(store, deck.mux, token=metrics_token, public=metrics_public)
        store.add_observer(deck.metrics.observe)
        deck.metrics.registry.register(CockpitCollector(store, runner, deck.metrics.store_failed))  # issue 22
        store.add_schedule_observer(deck.metrics.counters.observe_schedule)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        deck.mux.close()  # open streams end now instead of holding the server's shutdown up
        if deck.metrics is not None:
            store.remove_observer(deck.metrics.observe)
            store.remove_schedule_observer(deck.metrics.counters.observe_schedule)
        if deck.shutdown_grace is not None and deck.runner is not None:
            await run_in_threadpool(deck.runner.shutdown, deck.shutdown_grace)
        if notifier is not None:
            # After the runner's shutdown: the jobs it fails for not stopping in time are notified too.
            await run_in_threadpool(notifier.close)

    options: dict[str, Any] = {}
    if "telemetry" in inspect.signature(FastAPI).parameters:
        # Spans and metrics per request cost more than serving a job list does; the host app can wrap us in
        # its own instrumentation if it wants it.
        options["telemetry"] = {"tracing": False, "metrics": False, "logs": False, "operation_spans": False}
    app = FastAPI(
        title="jobdeck",
        version=__version__,
        description="Run, watch and stop long-running admin jobs.",
        lifespan=lifespan,
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
        **options,
    )
    app.state.deck = deck
    install_error_handlers(app)
    # The JSON endpoints, each declared once (see _openapi.Routes): served as plain Starlette routes, since the
    # handlers take the bare request (FastAPI's per-request dependency resolution would cost more than serving a
    # cached job list does), and described by the OpenAPI document generated from the same table.
    endpoints = api_endpoints(deck)
    app.router.routes.extend(starlette_routes(prefix, endpoints))

    def openapi_document() -> dict[str, Any]:
        if app.openapi_schema is None:
            info = {"title": app.title, "description": app.description, "version": app.version}
            app.openapi_schema = document(prefix, endpoints, info)
        return app.openapi_schema

    app.openapi = openapi_document  # type: ignore[method-assign]  # FastAPI's documented way to replace it
    app.include_router(healthz_router(deck))
    if deck.metrics is not None:
        job_metrics = deck.metrics

        @app.get("/metrics", include_in_schema=False)
        async def metrics(request: Request) -> Response:
            job_metrics.check_access(request)
            return await deck.call(job_metrics.render, request.headers.get("accept"))

    @app.get(f"{prefix}/openapi.json", include_in_schema=False)
    async def openapi(request: Request) -> Response:
        await deck.auth.authenticate(request)
        return json_response(app.openapi())  # built once, then kept

    if ui:
        app.include_router(build_pages_router(deck))
        app.include_router(build_job_pages_router(deck))
        app.mount("/static", StaticGate(StaticFiles(directory=STATIC_DIR, check_dir=False), deck.auth),
                  name="static")
    if site.forwarded_allow_ips:
        # Inside the guard: the guard still sees the proxy's address (to decide whether to believe its
        # X-Forwarded-Host), the routes and the access log see the browser's address and scheme.
        from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=site.forwarded_allow_ips)
    app.add_middleware(ResponseHeadersMiddleware, prefixes=(f"{prefix}/", "/static/"))
    if notifier is not None:
        # The job's dashboard page when there is a dashboard (the routers included above are not flattened into
        # app.routes, so this is decided from ``ui``, not by looking for the page's route).
        notifier.job_path = "/jobs/{id}" if ui else prefix + "/single/{id}/progress"
        if runner is not None:
            notifier.stall_rules = rules_of(runner.types)  # job.stalled (issue 22) by the types' stall_after
        notifier.start()
    app.add_middleware(RequestGuardMiddleware, max_body=max_body, json_prefix=prefix, site=site)
    app.add_middleware(AccessLogMiddleware)
    return app
