"""Section ``api``: what the web layer costs per request, measured in-process (no sockets, no HTTP parser).

The jobdeck app (token auth, every middleware, ``ui=False``) on a memory store holding the HTTP scenario's 100
summary jobs, active and past, is called as an ASGI application in a loop; beside it, in the same process and
alternating with it, a bare Starlette app answers the same paths with the bytes jobdeck returned, kept ready
(jobdeck serves a list from its answer cache too, so neither serialises per request). Without the socket and
uvicorn's parser, the routing, parameter handling, authentication and middleware are most of what is measured: the
part of a request that a change to how routes are declared can make slower.

Rows: jobdeck's requests/s against the bare app's. Target: >= 20% of it (the bare app skips authentication, the
request guard, the answer cache's lookup and the access log, which jobdeck must do; today 30-50%); a per-request
cost added to the framework path (a dependency resolution per parameter, a second parse of the query) shows as a
drop of the ratio.

A/B of two source trees on the same machine, rounds alternating so that both see the same load::

    python -m benchmarks.api_overhead --baseline-src /tmp/before/src    # this tree against that one

prints each path's best and median requests/s for both and their ratio (target: the best within 5%).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from .servers import PREFIX, SUMMARY_TYPE
from .table import Row, skipped

SECTION = "api"
TOKEN = "bench-token-api"
ROOT = Path(__file__).resolve().parent.parent
PATHS = {
    "GET /active (100 jobs, messages=last:3)": f"{PREFIX}/active?jobType={SUMMARY_TYPE}&messages=last:3",
    "GET /past (100 jobs, messages=last:3)": f"{PREFIX}/past?jobType={SUMMARY_TYPE}&messages=last:3",
    "GET /past (a page: 20 jobs, statuses, startFrom, limit)": (
        f"{PREFIX}/past?jobType={SUMMARY_TYPE}&statuses=completed&statuses=failed"
        "&startFrom=2000-01-01T00:00:00.000Z&messages=none&limit=20"),
    "GET /active (no job of the type)": f"{PREFIX}/active?jobType=nothing&messages=none",
}

Asgi = Any


def _scope(path: str, token: str | None) -> dict[str, Any]:
    route, _, query = path.partition("?")
    headers = [(b"host", b"127.0.0.1:8000"), (b"user-agent", b"bench"), (b"accept", b"*/*")]
    if token:
        headers.append((b"authorization", f"Bearer {token}".encode()))
    return {"type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"}, "http_version": "1.1",
            "method": "GET", "scheme": "http", "path": route, "raw_path": route.encode(),
            "query_string": query.encode(), "root_path": "", "headers": headers,
            "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8000), "state": {}}


async def _call(app: Asgi, scope: dict[str, Any]) -> tuple[int, bytes]:
    """One request through the app; its status and body."""
    status = 0
    body: list[bytes] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            body.append(message.get("body", b""))

    await app(dict(scope, headers=list(scope["headers"]), state={}), receive, send)
    return status, b"".join(body)


async def _rate(app: Asgi, scope: dict[str, Any], seconds: float) -> float:
    """Requests/s of back-to-back requests for about ``seconds``."""
    count = 0
    started = time.perf_counter()
    deadline = started + seconds
    while True:
        for _ in range(20):
            status, _ = await _call(app, scope)
            if status != 200:
                raise RuntimeError(f"{scope['path']} answered {status}")
        count += 20
        now = time.perf_counter()
        if now >= deadline:
            return count / (now - started)


def _jobdeck_app() -> Asgi:
    from jobdeck import open_store
    from jobdeck.api import create_app

    from .servers import fill_http_scenario

    store = open_store("memory://")
    fill_http_scenario(store, 100, 0)
    return create_app(store=store, token=TOKEN, ui=False)


def _ceiling_app(payloads: dict[str, bytes]) -> Asgi:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    async def serve(request: Request) -> Response:
        key = request.url.path + ("?" + request.url.query if request.url.query else "")
        return Response(payloads[key], media_type="application/json")

    return Starlette(routes=[Route(PREFIX + "/{rest:path}", serve)])


async def _measure(seconds: float, repeats: int, ceiling: bool) -> dict[str, dict[str, list[float]]]:
    app = _jobdeck_app()
    payloads = {}
    for path in PATHS.values():
        status, body = await _call(app, _scope(path, TOKEN))
        if status != 200:
            raise RuntimeError(f"GET {path} answered {status}: {body[:200]!r}")
        payloads[path] = body
    bare = _ceiling_app(payloads) if ceiling else None
    out: dict[str, dict[str, list[float]]] = {name: {"jobdeck": [], "ceiling": []} for name in PATHS}
    for name, path in PATHS.items():
        await _rate(app, _scope(path, TOKEN), seconds / 4)  # warm: the answer cache, the routes' first use
        for _ in range(repeats):
            out[name]["jobdeck"].append(await _rate(app, _scope(path, TOKEN), seconds))
            if bare is not None:
                out[name]["ceiling"].append(await _rate(bare, _scope(path, None), seconds))
    return out


def run(quick: bool) -> list[Row]:
    try:
        import jobdeck.api  # noqa: F401
    except ImportError as exc:
        return [skipped(SECTION, name, f"the HTTP API is not available ({exc})") for name in PATHS]
    seconds, repeats = (0.3, 3) if quick else (1.0, 5)  # --quick: the whole suite under two minutes
    figures = asyncio.run(_measure(seconds, repeats, ceiling=True))
    rows = []
    for name, found in figures.items():
        mine, bare = statistics.median(found["jobdeck"]), statistics.median(found["ceiling"])
        share = mine / bare if bare else 0.0
        rows.append(Row(SECTION, f"in-process: {name}", f"{mine:,.0f} req/s", f"{bare:,.0f} req/s bare Starlette",
                        f"{share:.0%}", ">= 20% of bare", share >= 0.2,
                        note="fails if a request costs more than 5x a bare route's (routing, parameters, auth, "
                             "middleware)",
                        values={"jobdeck_rps": found["jobdeck"], "ceiling_rps": found["ceiling"]}))
    return rows


# ---------------------------------------------------------------------- A/B of two source trees


def _worker(seconds: float, repeats: int) -> None:
    figures = asyncio.run(_measure(seconds, repeats, ceiling=False))
    import jobdeck

    print(json.dumps({"source": str(Path(jobdeck.__file__).parent),
                      "rps": {name: found["jobdeck"] for name, found in figures.items()}}))


def _run_tree(src: str | None, seconds: float, repeats: int) -> dict[str, Any]:
    env = dict(os.environ)
    if src is not None:
        env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    out = subprocess.run([sys.executable, "-m", "benchmarks.api_overhead", "--worker", "--seconds", str(seconds),
                          "--repeats", str(repeats)], cwd=ROOT, env=env, capture_output=True, text=True, check=True,
                         timeout=600).stdout
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


def compare(baseline_src: str, rounds: int, seconds: float, repeats: int) -> int:
    """Alternate rounds of the baseline tree and this one; print medians and ratios; 1 if a path is > 5% slower."""
    before: dict[str, list[float]] = {name: [] for name in PATHS}
    after: dict[str, list[float]] = {name: [] for name in PATHS}
    sources = set()
    for n in range(rounds):
        order = [(baseline_src, before), (None, after)]
        for src, into in order if n % 2 == 0 else order[::-1]:
            result = _run_tree(src, seconds, repeats)
            sources.add(result["source"])
            for name, values in result["rps"].items():
                into[name].extend(values)
    if len(sources) != 2:
        raise SystemExit(f"both runs imported the same jobdeck ({sources}): is --baseline-src a src/ directory?")
    # The machine is shared: other processes only ever slow a window down, so each tree's best window is its
    # undisturbed rate; the medians are printed beside it.
    worst = 1.0
    print(f"{'path':58} {'before best':>11} {'after best':>11} {'ratio':>6}   {'medians (before, after)':>24}")
    for name in PATHS:
        b, a = max(before[name]), max(after[name])
        worst = min(worst, a / b)
        mb, ma = statistics.median(before[name]), statistics.median(after[name])
        print(f"{name:58} {b:>7,.0f} r/s {a:>7,.0f} r/s {a / b:>6.3f}   {mb:>9,.0f} {ma:>9,.0f} ({ma / mb:.3f})")
    print(f"({rounds} alternating rounds x {repeats} windows of {seconds:g} s per tree; target: best after >= 0.95 x "
          "best before)")
    return 0 if worst >= 0.95 else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.api_overhead", description=__doc__.splitlines()[0])
    parser.add_argument("--baseline-src", help="the src/ directory of the tree to compare against")
    parser.add_argument("--rounds", type=int, default=4, help="alternating rounds per tree (default 4)")
    parser.add_argument("--seconds", type=float, default=1.0, help="length of one measuring window")
    parser.add_argument("--repeats", type=int, default=3, help="windows per path and round")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        _worker(args.seconds, args.repeats)
        return 0
    if args.baseline_src:
        return compare(args.baseline_src, args.rounds, args.seconds, args.repeats)
    for row in run(quick=False):
        print(row.operation, row.jobdeck, row.baseline, row.ratio, row.verdict)
    return 0


if __name__ == "__main__":
    sys.exit(main())
