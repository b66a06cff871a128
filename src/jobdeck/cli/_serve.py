"""``jobdeck serve``: the API and dashboard under uvicorn.

    jobdeck serve --demo                      # demo jobs, SQLite store, a fresh token printed as a login URL
    jobdeck serve --app myproject.jobs:runner --store redis://localhost:6379/0 --token "$TOKEN"

``--app module:attr`` names either a :class:`~jobdeck.JobRunner` (it brings its own store) or a callable
``(store) -> JobRunner`` that registers the job types on a runner for the store ``serve`` opened.

``--executor URL`` (``JOBDECK_EXECUTOR``) chooses where jobs run: ``local://`` (here, the default) or a task
engine (``celery+redis://host:6379/1``, ...), in which case this server only enqueues and ``jobdeck worker``
processes run the jobs.

Shutdown (Ctrl+C, SIGTERM): open event streams end at once, running jobs are asked to abort and given
``JOBDECK_SHUTDOWN_GRACE`` seconds (10) before they are marked failed, so that no job is left ``running``.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import logging
import os
import secrets
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..core.credentials import split_named
from ..core.errors import ExecutorError, StoreError
from ..core.urls import redact_url
from ..core.usage import check_prices
from ..runtime.runner import JobRunner
from ..stores import MemoryStore, Store, open_store
from ._banner import print_banner
from ._lang import t
from .settings import Settings, is_loopback

if TYPE_CHECKING:
    from ..api import Multiplexer

__all__ = ["Fatal", "add_job_type_options", "add_log_level_option", "build_runner", "configure_logging", "register",
           "run", "settings_from"]


class _Fatal(Exception):
    """One line for the operator, then a non-zero exit."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


Fatal = _Fatal  # public for the commands that build a runner the same way (``jobdeck worker``)


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "serve",
        help="run the HTTP API and dashboard",
        description="Run the jobdeck HTTP API, live events and dashboard under uvicorn. Options fall back to "
                    "JOBDECK_* environment variables (JOBDECK_STORE, JOBDECK_TOKEN, JOBDECK_HOST, JOBDECK_PORT, "
                    "JOBDECK_STALE_AFTER, JOBDECK_PREFIX, JOBDECK_SHUTDOWN_GRACE, JOBDECK_FORWARDED_ALLOW_IPS, "
                    "JOBDECK_TRUSTED_ORIGINS, JOBDECK_VIEWER_TOKENS, JOBDECK_METRICS_TOKEN, JOBDECK_METRICS_PUBLIC, "
                    "JOBDECK_NOTIFY, JOBDECK_NOTIFY_SECRET, JOBDECK_NOTIFY_COMPLETED, "
                    "JOBDECK_NOTIFY_ALLOW_PRIVATE, JOBDECK_PUBLIC_URL, "
                    "JOBDECK_MAX_PAST_JOBS, JOBDECK_MAX_PAST_AGE, JOBDECK_MAX_MESSAGES, JOBDECK_EXECUTOR, "
                    "JOBDECK_EXTERNAL_TYPES; lists separated by commas or spaces; JOBDECK_REPORT_SECRET signs "
                    "report tokens).",
    )
    parser.add_argument("--host", help="interface to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port to listen on (default 8000)")
    parser.add_argument("--store", metavar="URL",
                        help="memory://, sqlite:///path/jobs.db or redis://host:6379/0 "
                             "(default: sqlite file under $XDG_DATA_HOME/jobdeck)")
    add_job_type_options(parser)
    parser.add_argument("--external-type", action="append", metavar="NAME", dest="external_types",
                        help="a job type that runs elsewhere and reports over HTTP (started like any other; the "
                             "start answer carries its report token); repeatable")
    parser.add_argument("--executor", metavar="URL",
                        help="where jobs run: local:// (here, default), celery+redis://host:6379/1, "
                             "celery+amqp://user:pass@host:5672//, procrastinate+postgresql://host/db; with a task "
                             "engine this server only enqueues and `jobdeck worker` runs the jobs")
    auth = parser.add_mutually_exclusive_group()
    auth.add_argument("--token", action="append", metavar="[NAME=]SECRET",
                      help="an admin access token (default: $JOBDECK_TOKEN, else a random one printed at start); "
                           "NAME=SECRET names its holder, who is then recorded as the author of what they start "
                           "and as who aborted what they abort; repeatable (one unnamed token at most)")
    auth.add_argument("--no-auth", action="store_true", default=None,
                      help="no authentication at all (allowed on a loopback host only)")
    parser.add_argument("--viewer-token", action="append", metavar="[NAME=]SECRET", dest="viewer_tokens",
                        help="a read-only token (role viewer: no start or abort), NAME=SECRET to name its holder; "
                             "repeatable")
    parser.add_argument("--no-demo-jobs", action="store_true",
                        help="with --demo, do not start the first-run demo jobs (one running, one completing, one "
                             "failing) that an empty store otherwise gets")
    parser.add_argument("--tokens-file", metavar="PATH",
                        help="named tokens, one a line: NAME=SECRET (admin) or NAME=SECRET viewer")
    metrics = parser.add_mutually_exclusive_group()
    metrics.add_argument("--metrics-token", metavar="TOKEN",
                         help="serve GET /metrics (Prometheus) to this bearer token (needs jobdeck[metrics])")
    metrics.add_argument("--metrics-public", action="store_true", default=None,
                         help="serve GET /metrics without a token, to loopback clients only")
    parser.add_argument("--notify", action="append", metavar="URL",
                        help="POST a JSON summary here when a job fails, is aborted or is reaped (repeatable; "
                             "slack+https://... for a Slack incoming webhook)")
    parser.add_argument("--notify-secret", metavar="SECRET",
                        help="sign notifications: X-Jobdeck-Signature = sha256 HMAC of '<timestamp>.<body>'")
    parser.add_argument("--notify-completed", action="append", metavar="TYPE",
                        help="also notify when a job of this type completes ('*': every type); repeatable")
    parser.add_argument("--notify-allow-private", action="store_true", default=None,
                        help="let --notify URLs reach this machine (localhost, 127.0.0.1, ::1) and link-local, "
                             "unspecified or multicast addresses (169.254.169.254 is the cloud metadata service); "
                             "refused by default, also when a host name resolves to one")
    parser.add_argument("--public-url", metavar="URL",
                        help="this server's address as users reach it, for links in notifications")
    parser.add_argument("--max-past-jobs", type=int, metavar="N",
                        help="keep at most N finished jobs, evicting the oldest (default 1000)")
    parser.add_argument("--max-past-age", type=float, metavar="SECONDS",
                        help="evict finished jobs older than this (default: no age limit)")
    parser.add_argument("--max-messages", type=int, metavar="N",
                        help="keep the newest N messages of each kind per job (default 1000)")
    parser.add_argument("--prefix", help="where the JSON API lives (default /api/admin/jobs)")
    parser.add_argument("--forwarded-allow-ips", metavar="IPS",
                        help="reverse proxies (comma-separated addresses or networks, * for any) whose "
                             "X-Forwarded-For/-Proto/-Host headers are believed (default 127.0.0.1)")
    parser.add_argument("--trusted-origin", action="append", metavar="URL", dest="trusted_origins",
                        help="an origin (https://admin.example.com) allowed to write although it is not this "
                             "server's own; repeatable")
    parser.add_argument("--no-migrate", action="store_true",
                        help="refuse an out-of-date database schema instead of upgrading it (PostgreSQL; see "
                             "'jobdeck db upgrade')")
    add_log_level_option(parser, "server")
    parser.set_defaults(func=run)


def add_job_type_options(parser: argparse.ArgumentParser) -> None:
    """``--app``, ``--demo``, ``--demo-speed`` and ``--stale-after``: what ``serve`` and ``worker`` both take, as
    the server and its workers load the same job types (:func:`build_runner`)."""
    parser.add_argument("--app", metavar="MODULE:ATTR",
                        help="your job types: a JobRunner, or a callable (store) -> JobRunner")
    parser.add_argument("--demo", action="store_true", default=None, help="register the demo job types")
    parser.add_argument("--demo-speed", type=float, metavar="FACTOR",
                        help="run demo jobs this many times faster (default 1)")
    parser.add_argument("--no-demo-schedule", action="store_false", dest="demo_schedule", default=None,
                        help="with --demo: leave out the demo's schedule (a Cleanup every 10 minutes)")
    parser.add_argument("--stale-after", type=float, metavar="SECONDS",
                        help="fail active jobs silent for this long (default 60)")
    parser.add_argument("--prices", metavar="FILE",
                        help='a JSON price table, {"model": {"input": dollars, "output": dollars}} per million '
                             "tokens, that ctl.usage() computes costs from (docs/spend.md)")


def add_log_level_option(parser: argparse.ArgumentParser, who: str) -> None:
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"],
                        help=f"{who} log level (default info)")


def settings_from(environ: dict[str, str], **arguments: Any) -> Settings:
    """:meth:`Settings.from_env` for a command: a value that breaks a rule is Fatal (one line, exit 2)."""
    try:
        return Settings.from_env(environ, **arguments)
    except ValueError as exc:
        raise _Fatal(str(exc), 2) from None


def run(args: argparse.Namespace) -> int:
    """Entry point of ``jobdeck serve``; returns the exit code."""
    try:
        _serve(args)
    except _Fatal as exc:
        print(f"jobdeck serve: {exc}", file=sys.stderr)
        return exc.code
    return 0


def _split_tokens(values: list[str] | None) -> tuple[str | None, tuple[str, ...] | None]:
    """``--token`` values: the one unnamed token, and the named ``NAME=SECRET`` ones."""
    plain = [v for v in values or () if split_named(v)[0] is None]
    named = tuple(v for v in values or () if split_named(v)[0] is not None)
    if len(plain) > 1:
        raise _Fatal("give at most one unnamed --token; name the others (--token NAME=SECRET)", 2)
    return (plain[0] if plain else None), (named or None)


def _settings(args: argparse.Namespace) -> Settings:
    env = dict(os.environ)
    if args.no_auth:
        env.pop("JOBDECK_TOKEN", None)  # an explicit --no-auth beats a token left in the environment
    plain, named = _split_tokens(args.token)
    return settings_from(env, host=args.host, port=args.port, store=args.store, token=plain,
                         tokens=named, tokens_file=getattr(args, "tokens_file", None),
                         no_auth=args.no_auth, app=args.app, demo=args.demo, demo_speed=args.demo_speed,
                         demo_schedule=args.demo_schedule,
                         stale_after=args.stale_after, prefix=args.prefix, prices=args.prices,
                         forwarded_allow_ips=args.forwarded_allow_ips,
                         trusted_origins=_listed(args.trusted_origins),
                         viewer_tokens=_listed(args.viewer_tokens), metrics_token=args.metrics_token,
                         metrics_public=args.metrics_public, max_past_jobs=args.max_past_jobs,
                         max_past_age=args.max_past_age, max_messages=args.max_messages,
                         notify=_listed(args.notify), notify_secret=args.notify_secret,
                         notify_completed=_listed(args.notify_completed),
                         notify_allow_private=getattr(args, "notify_allow_private", None),
                         public_url=args.public_url,
                         executor=getattr(args, "executor", None),
                         external_types=_listed(getattr(args, "external_types", None)))


def _listed(values: list[str] | None) -> tuple[str, ...] | None:
    return tuple(values) if values else None


def _notifier(settings: Settings, store: Store) -> Any:
    if not settings.notify:
        return None
    from ..api import Notifier

    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    return Notifier(store, settings.notify, secret=settings.notify_secret, completed=settings.notify_completed,
                    public_url=settings.public_url or f"http://{host}:{settings.port}",
                    allow_private=settings.notify_allow_private)


def _open_store(settings: Settings, migrate: bool = True) -> tuple[Store, str]:
    url = settings.store_url
    limits = {"stale_after": settings.stale_after, "max_past_jobs": settings.max_past_jobs,
              "max_past_age": settings.max_past_age, "max_messages": settings.max_messages}
    if settings.store is None:  # the default file: make its folder, fall back only if SQLite is missing
        try:
            import sqlite3  # noqa: F401
        except ImportError:
            print(t("cli.serve.no_sqlite"), file=sys.stderr)
            return MemoryStore(**limits), "memory://"
        path = Path(url.removeprefix("sqlite:///"))
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise _Fatal(f"cannot create {path.parent} for the default store: {exc.strerror}; pass --store") from None
    try:
        return open_store(url, migrate=migrate, **limits), url
    except ImportError as exc:
        if settings.store is not None:
            raise _Fatal(f"cannot open store {redact_url(url)!r}: {exc}") from None
        print(t("cli.serve.sqlite_failed", error=exc), file=sys.stderr)
        return MemoryStore(**limits), "memory://"
    except StoreError as exc:
        raise _Fatal(str(exc)) from None
    except Exception as exc:  # a backend's own failure: still one line, never a traceback
        raise _Fatal(f"cannot open store {redact_url(url)!r}: {type(exc).__name__}: {exc}") from None


def _load_app(spec: str) -> Any:
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise _Fatal(f"--app must look like module:attr (e.g. myproject.jobs:runner), got {spec!r}", 2)
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())  # like uvicorn: modules next to where the command runs
    try:
        target: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise _Fatal(f"cannot import {module_name!r} for --app: {exc}") from None
    except Exception as exc:
        raise _Fatal(f"importing {module_name!r} for --app failed: {type(exc).__name__}: {exc}") from None
    for part in attr.split("."):
        if not hasattr(target, part):
            raise _Fatal(f"module {module_name!r} has no attribute {attr!r} (from --app {spec})")
        target = getattr(target, part)
    return target


def _runner(settings: Settings, migrate: bool = True) -> tuple[JobRunner, str]:
    """The runner and a description of its store."""
    target = _load_app(settings.app) if settings.app else None
    if isinstance(target, JobRunner):
        if settings.store is not None:
            print(t("cli.serve.own_store", app=settings.app), file=sys.stderr)
        return target, f"{type(target.store).__name__} from {settings.app}"
    store, url = _open_store(settings, migrate)
    if target is None:
        return JobRunner(store), url
    if not callable(target):
        raise _Fatal(f"--app {settings.app} is neither a JobRunner nor a callable (store) -> JobRunner")
    try:
        runner = target(store)
    except Exception as exc:
        raise _Fatal(f"--app {settings.app}(store) failed: {type(exc).__name__}: {exc}") from None
    if not isinstance(runner, JobRunner):
        raise _Fatal(f"--app {settings.app}(store) returned {type(runner).__name__}, not a JobRunner")
    return runner, url


def build_runner(settings: Settings, migrate: bool = True) -> tuple[JobRunner, str]:
    """The runner ``serve`` and ``worker`` use: from ``--app`` (or a bare one), with the demo types if asked for,
    on the executor ``--executor`` names; and a description of its store. Fatal with one line otherwise."""
    runner, store_text = _runner(settings, migrate=migrate)
    if settings.prices:
        runner.prices = {**(runner.prices or {}), **_load_prices(settings.prices)}
    if settings.demo:
        from .demo import register_demo

        register_demo(runner, speed=settings.demo_speed, schedule=settings.demo_schedule)
    for name in settings.external_types:
        try:
            runner.register_external(name)
        except ValueError as exc:
            raise _Fatal(f"--external-type: {exc}", 2) from None
    if settings.executor:
        try:
            runner.set_executor(settings.executor)
        except ExecutorError as exc:
            raise _Fatal(str(exc)) from None
        except Exception as exc:  # an engine's own failure while building its app: still one line
            raise _Fatal(f"cannot use executor {settings.executor!r}: {type(exc).__name__}: {exc}") from None
    return runner, store_text


def _load_prices(path: str) -> dict[str, dict[str, float]]:
    """The price table of ``--prices FILE``; Fatal (one line, exit 2) for a file that cannot be one."""
    try:
        with open(path, encoding="utf-8") as file:
            return check_prices(json.load(file))
    except OSError as exc:
        raise _Fatal(f"--prices: cannot read {path}: {exc.strerror or exc}", 2) from None
    except ValueError as exc:  # not JSON, or not a price table (InvalidArgumentError is a ValueError)
        raise _Fatal(f"--prices: {path} is not a price table: {exc}", 2) from None


def configure_logging(level: str) -> None:
    """Log lines on stderr at ``level`` (``--log-level``)."""
    logging.basicConfig(level=level.upper(), format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
                        stream=sys.stderr)


def _serve(args: argparse.Namespace) -> None:
    settings = _settings(args)
    if settings.no_auth and not is_loopback(settings.host):
        raise _Fatal(f"--no-auth is only allowed on a loopback host (127.0.0.1, ::1, localhost), not "
                     f"{settings.host!r}; use a token instead", 2)
    runner, store_text = build_runner(settings, migrate=not args.no_migrate)
    try:
        admins, viewers = settings.credentials()
    except ValueError as exc:
        raise _Fatal(str(exc), 2) from None
    generated = not settings.no_auth and not admins
    if generated:
        admins["admin"] = secrets.token_urlsafe(24)
    token = None if settings.no_auth else admins.get("admin", "")

    import uvicorn

    from ..api import MAX_URL, create_app

    try:
        app = create_app(runner=runner, token=admins or None, viewer_tokens=viewers,
                         metrics_token=settings.metrics_token, metrics_public=settings.metrics_public,
                         notifier=_notifier(settings, runner.store),
                         prefix=settings.prefix, ping_interval=settings.ping_interval,
                         shutdown_grace=settings.shutdown_grace, forwarded_allow_ips=settings.forwarded_allow_ips,
                         trusted_origins=settings.trusted_origins, report_secret=settings.report_secret)
    except ValueError as exc:
        raise _Fatal(str(exc), 2) from None
    except ImportError as exc:  # an extra that is not installed (jobdeck[metrics])
        raise _Fatal(str(exc)) from None
    if settings.no_auth:
        # Without a token, a web page could reach this server through DNS rebinding; only loopback names pass.
        from starlette.middleware.trustedhost import TrustedHostMiddleware

        app.add_middleware(TrustedHostMiddleware, allowed_hosts=["127.0.0.1", "localhost", "::1", "[::1]"])
    configure_logging(args.log_level)
    print_banner(settings, redact_url(store_text), runner, token, generated=generated)
    runner.start_supervisor()
    if settings.demo and not getattr(args, "no_demo_jobs", False):
        from .demo import start_first_run_jobs

        started = start_first_run_jobs(runner)
        if started:
            print("  " + t("cli.banner.demo_jobs", count=len(started)), flush=True)
    # proxy_headers off: the app reads them itself (behind its cross-site check, which must see the proxy).
    config = uvicorn.Config(app, host=settings.host, port=settings.port, access_log=False, log_config=None,
                            log_level=args.log_level, timeout_graceful_shutdown=5, lifespan="on",
                            server_header=False, proxy_headers=False,
                            # Read URLs well past the app's own limit, so that one too long gets its 414.
                            h11_max_incomplete_event_size=16 * MAX_URL)
    server = _make_server(config, app.state.deck.mux, runner.store)
    server.run()


def _make_server(config: Any, mux: Multiplexer, store: Store) -> Any:
    """uvicorn's Server, ending open event streams on the exit signal (uvicorn would wait for them) and closing
    the store after the app's shutdown (which shuts the runner down)."""
    import uvicorn

    class Server(uvicorn.Server):
        loop: asyncio.AbstractEventLoop | None = None

        async def startup(self, sockets: Any = None) -> None:
            self.loop = asyncio.get_running_loop()
            await super().startup(sockets)

        def handle_exit(self, sig: int, frame: Any) -> None:
            super().handle_exit(sig, frame)
            if self.loop is not None and not self.loop.is_closed():
                self.loop.call_soon_threadsafe(mux.close)

        async def shutdown(self, sockets: Any = None) -> None:
            await super().shutdown(sockets)
            await asyncio.to_thread(store.close)

    return Server(config)

