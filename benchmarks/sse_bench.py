"""Target 6: ``/events`` with 1,000 and 5,000 concurrent clients (``--quick``: 1,000) while a job changes progress 10
times a second.

The jobdeck server (memory store, a runner, token auth) and a minimal Starlette SSE endpoint pushing the same
frames run one after the other under the same uvicorn options; the load is one process of raw asyncio socket
clients (:mod:`benchmarks.sse_client`). Client and server share the machine's cores, as they would on a small
host. Reported: whether every client got every event (no ``reset``), the p99 delay from store change to
receipt against the baseline's (<= 1.25x, issue 26), and server CPU per delivered event against the baseline's.

What would make the rows fail: a client that misses an event or is reset (a queue that overflows, a frame built per
client), and any per-client work jobdeck adds on the way from the store to the socket (encoding per client, a
middleware that buffers or copies each chunk, a lock or a thread hop per client) -- the baseline does none of it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

from .http_bench import ROOT, api_unavailable, server
from .table import Row, ms, ratio, skipped, us

SECTION = "sse"
TOKEN = "bench-token-sse"


def _load(port: int, pid: int, clients: int, count: int, rate: float, token: str | None) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "benchmarks.sse_client", "--port", str(port), "--server-pid", str(pid),
           "--clients", str(clients), "--count", str(count), "--rate", str(rate)]
    if token:
        cmd += ["--token", token]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=count / rate + 180, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"SSE client failed: {done.stderr[-800:]}")
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def run(quick: bool) -> list[Row]:
    why = api_unavailable()
    if why:
        return [skipped(SECTION, "GET /events, 1,000 clients", why)]
    rows: list[Row] = []
    for clients in (1000,) if quick else (1000, 5000):
        rows += _measure(clients, 10.0, 30 if quick else 200)
    return rows


def _measure(clients: int, rate: float, count: int) -> list[Row]:
    with server("ceiling-sse") as (port, pid):
        base = _load(port, pid, clients, count, rate, None)
    with server("jobdeck-sse", "--token", TOKEN) as (port, pid):
        ours = _load(port, pid, clients, count, rate, TOKEN)
    label = f"GET /events, {clients:,} clients, {rate:g} changes/s for {count / rate:g} s"
    every = (ours["complete_clients"] == clients and ours["resets"] == 0 and ours["error_count"] == 0
             and ours["unfinished"] == 0)
    rows = [
        Row(SECTION, f"{label}: every client got every event",
            f"{ours['complete_clients']:,}/{clients:,} complete", f"{base['complete_clients']:,}/{clients:,}",
            "", "all, no reset", every,
            note=(f"events per client {ours['min_events']}-{ours['max_events']} of {count}, "
                  f"resets {ours['resets']}, errors {ours['error_count']} {ours['errors'][:1]}, "
                  f"unfinished {ours['unfinished']}, connect errors {ours['connect_errors']}"),
            values={"jobdeck": ours, "baseline": base}),
    ]
    if ours["delivered"] and base["delivered"]:
        rows.append(Row(SECTION, f"{label}: delay store change -> receipt (p99)", ms(ours["p99"]),
                        f"{ms(base['p99'])} Starlette SSE", ratio(ours["p99"], base["p99"]), "<= 1.25x",
                        ours["p99"] <= 1.25 * base["p99"],
                        note=f"p50 {ms(ours['p50'])} vs {ms(base['p50'])}, max {ms(ours['max'])} vs {ms(base['max'])}"))
        mine = ours["server_cpu_s"] / ours["delivered"]
        theirs = base["server_cpu_s"] / base["delivered"]
        rows.append(Row(SECTION, f"{label}: server CPU per delivered event", us(mine),
                        f"{us(theirs)} Starlette SSE", ratio(mine, theirs), "(context)",
                        note=f"server CPU {ours['server_cpu_s']:.1f} s vs {base['server_cpu_s']:.1f} s over "
                             f"{ours['delivered']:,} / {base['delivered']:,} deliveries"))
    return rows
