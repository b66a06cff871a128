"""Target 5: ``GET /active`` and ``GET /past`` against the orjson Starlette ceiling serving the same bytes.

Two uvicorn processes on loopback: jobdeck (bearer token, the header sent with every request) on a store holding
100 jobs of ~2 KB (summary view ``messages=last:3``) and 10 jobs of 3 x 1,000 messages (full view), and the
ceiling app answering each path with the JSON jobdeck returned, serialised per request with orjson. Load comes
from ``wrk`` (one thread, a few keep-alive connections, a bounded duration), alternating between the two
servers; each figure is the median of the repeats. Target: jobdeck >= 50% of the ceiling's requests/s.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from .servers import HTTP_PATHS
from .stores import STORE_KINDS, target, unavailable
from .table import Row, skipped

SECTION = "http"
TOKEN = "bench-token-http"
ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def api_unavailable() -> str | None:
    try:
        from jobdeck.api import create_app  # noqa: F401
    except ImportError as exc:
        return f"the HTTP API is not available ({exc})"
    return None


@contextlib.contextmanager
def server(mode: str, *args: str, ready_path: str = "/healthz", timeout: float = 180.0) -> Iterator[tuple[int, int]]:
    """Run ``python -m benchmarks.servers MODE`` on a free port; yields (port, pid) once it answers."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "benchmarks.servers", mode, "--port", str(port), *args],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                err = proc.stderr.read().decode(errors="replace")[-800:] if proc.stderr else ""
                raise RuntimeError(f"{mode} server exited: {err}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}{ready_path}", timeout=2):
                    break
            except urllib.error.HTTPError:
                break  # it answered
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{mode} server did not answer within {timeout:.0f}s") from None
                time.sleep(0.1)
        yield port, proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stderr:
            proc.stderr.close()


def fetch(port: int, path: str, token: str | None) -> bytes:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=60) as response:
        if response.status != 200:
            raise RuntimeError(f"GET {path} answered {response.status}")
        body: bytes = response.read()
        return body


def wrk(port: int, path: str, seconds: float, token: str | None, connections: int = 8) -> float:
    """Requests/s from one bounded wrk run; raises if any answer was not 2xx."""
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--timeout", "10s"]
    if token:
        cmd += ["-H", f"Authorization: Bearer {token}"]
    out = subprocess.run([*cmd, f"http://127.0.0.1:{port}{path}"], capture_output=True, text=True,
                         timeout=seconds + 30, check=True).stdout
    if "Non-2xx" in out:
        raise RuntimeError(f"wrk got error answers from {path}: {out}")
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if not match:
        raise RuntimeError(f"could not read wrk output: {out}")
    return float(match.group(1))


def run(quick: bool) -> list[Row]:
    why = api_unavailable() or (None if shutil.which("wrk") else "wrk not installed (apt-get install -y wrk)")
    if why:
        return [skipped(SECTION, name, why) for name in HTTP_PATHS]
    rows = []
    kinds = ("memory",) if quick else STORE_KINDS
    for kind in kinds:
        why = unavailable(kind)
        if why:
            rows.append(skipped(SECTION, f"{kind}: GET /active, /past", why))
            continue
        try:
            rows.extend(_run_store(kind, quick))
        except Exception as exc:
            rows.append(Row(SECTION, f"{kind}: GET /active, /past", passed=False,
                            note=f"error: {type(exc).__name__}: {exc}"))
    return rows


def _run_store(kind: str, quick: bool) -> list[Row]:
    with target(kind) as tgt:
        return run_target(tgt.command_line_url(), kind, quick)


def run_target(store_url: str, kind: str, quick: bool) -> list[Row]:
    """The /active and /past rows for a server on ``store_url`` (rows named after ``kind``)."""
    seconds, repeats = (1.0, 1) if quick else (2.0 if kind == "memory" else 1.0, 3)
    rows = []
    with (tempfile.TemporaryDirectory(prefix="jobdeck-bench-http-") as tmp,
          server("jobdeck-http", "--store", store_url, "--token", TOKEN) as (jd_port, _)):
        payloads = {}
        sizes = {}
        for path in HTTP_PATHS.values():
            body = fetch(jd_port, path, TOKEN)
            payloads[path] = json.loads(body)
            sizes[path] = len(body)
        payload_file = os.path.join(tmp, "payloads.json")
        with open(payload_file, "w") as fh:
            json.dump(payloads, fh)
        with server("ceiling-http", "--payloads", payload_file) as (ceil_port, _):
            for name, path in HTTP_PATHS.items():
                ours, theirs = [], []
                for _ in range(repeats):
                    ours.append(wrk(jd_port, path, seconds, TOKEN))
                    theirs.append(wrk(ceil_port, path, seconds, None))
                mine, ceiling = statistics.median(ours), statistics.median(theirs)
                share = mine / ceiling if ceiling else 0.0
                rows.append(Row(SECTION, f"{kind}: {name}", f"{mine:,.0f} req/s", f"{ceiling:,.0f} req/s orjson",
                                f"{share:.0%}", ">= 50% of ceiling", share >= 0.5,
                                note=f"{sizes[path] / 1000:,.0f} KB per answer",
                                values={"jobdeck_rps": ours, "ceiling_rps": theirs, "bytes": sizes[path]}))
            if kind == "memory" and not quick:
                rows.append(_churning(path_name := "GET /active (100 jobs, messages=last:3)",
                                      HTTP_PATHS[path_name], ceil_port, seconds, repeats))
    return rows


def _churning(name: str, path: str, ceil_port: int, seconds: float, repeats: int) -> Row:
    """The same list while every one of its jobs changes 10 times a second: what a busy dashboard polls."""
    with server("jobdeck-http", "--token", TOKEN, "--churn", "10") as (port, _):
        ours, theirs = [], []
        for _ in range(repeats):
            ours.append(wrk(port, path, seconds, TOKEN))
            theirs.append(wrk(ceil_port, path, seconds, None))
    mine, ceiling = statistics.median(ours), statistics.median(theirs)
    share = mine / ceiling if ceiling else 0.0
    return Row(SECTION, f"memory: {name}, every job changing 10x/s", f"{mine:,.0f} req/s",
               f"{ceiling:,.0f} req/s orjson", f"{share:.0%}", ">= 50% of ceiling", share >= 0.5,
               note="1,000 progress changes/s spread evenly in the server process: answers are rarely reused",
               values={"jobdeck_rps": ours, "ceiling_rps": theirs})

