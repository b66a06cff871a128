"""Soak: the server's memory under churn stays bounded (30 minutes by default; ``--quick``: 3 minutes).

A real ``jobdeck serve --demo`` on a SQLite store runs continuous demo jobs (started over HTTP as fast as their
``max_concurrent`` allows), while clients poll ``/active``, ``/past`` and ``/single/{id}/progress`` and event-stream
clients connect, read a few seconds and reconnect. The server's RSS and open file descriptors are sampled every few
seconds. Reported: RSS after warm-up (the first sixth), at the end, its maximum, and the slope of the last third
(least squares, MB per minute; ~0 means a plateau), plus requests served and jobs run.

    python -m benchmarks --only soak [--quick]
    python -m benchmarks.soak_bench --minutes 8      # any length; prints every sample as it goes
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from .table import Row
from .timing import rss_mb

SECTION = "soak"
API = "/api/admin/jobs"
DEMO_TYPES = ("ArgumentCondensation", "QuestionInfoGeneration", "DataImport", "Cleanup")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Samples:
    t: list[float] = field(default_factory=list)  # minutes since start
    rss: list[float] = field(default_factory=list)  # MB
    fds: list[int] = field(default_factory=list)
    requests: int = 0
    errors: int = 0
    streams: int = 0
    started: int = 0


def slope(xs: list[float], ys: list[float]) -> float:
    """Least-squares slope of ys over xs."""
    n = len(xs)
    if n < 2:
        return 0.0
    mx, my = sum(xs) / n, sum(ys) / n
    den = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / den if den else 0.0


def _starter(base: str, auth: dict[str, str], stop: threading.Event, s: Samples) -> None:
    with httpx.Client(base_url=base, headers=auth, timeout=10) as http:
        i = 0
        while not stop.is_set():
            job_type = DEMO_TYPES[i % len(DEMO_TYPES)]
            i += 1
            with contextlib.suppress(httpx.HTTPError):
                r = http.post(f"{API}/start", json={"jobType": job_type, "params": {}})
                s.requests += 1
                if r.status_code == 201:
                    s.started += 1
                elif r.status_code >= 500:
                    s.errors += 1
            stop.wait(0.05)


def _poller(base: str, auth: dict[str, str], stop: threading.Event, s: Samples) -> None:
    with httpx.Client(base_url=base, headers=auth, timeout=10) as http:
        recent: list[str] = []
        while not stop.is_set():
            for path in (f"{API}/active", f"{API}/past?messages=last:5", f"{API}/past?limit=50",
                         *(f"{API}/single/{j}/progress" for j in recent[:3])):
                try:
                    r = http.get(path)
                except httpx.HTTPError:
                    continue
                s.requests += 1
                if r.status_code >= 500:
                    s.errors += 1
                elif path.endswith("/active") and r.status_code == 200:
                    recent = [job["id"] for job in r.json()]
            stop.wait(0.1)


def _streamer(base: str, auth: dict[str, str], stop: threading.Event, s: Samples) -> None:
    while not stop.is_set():
        deadline = time.monotonic() + 3
        with contextlib.suppress(httpx.HTTPError), httpx.Client(base_url=base, headers=auth, timeout=5) as http, \
                http.stream("GET", f"{API}/events") as response:
            s.streams += 1
            for _ in response.iter_bytes():
                if time.monotonic() > deadline or stop.is_set():
                    break


def soak(minutes: float, interval: float, echo: bool = False, clients: int = 2) -> Samples:
    token = secrets.token_urlsafe(16)
    auth = {"Authorization": f"Bearer {token}"}
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    samples = Samples()
    with tempfile.TemporaryDirectory(prefix="jobdeck-soak-") as tmp:
        log = Path(tmp) / "server.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith("JOBDECK_")}
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "jobdeck.cli", "serve", "--demo", "--demo-speed", "20", "--host", "127.0.0.1",
                 "--port", str(port), "--token", token, "--store", f"sqlite:///{tmp}/jobs.db",
                 "--log-level", "warning"], stdout=out, stderr=subprocess.STDOUT, env=env)
        try:
            deadline = time.monotonic() + 30
            while True:
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                        break
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"server did not start: {log.read_text()[-2000:]}")
                time.sleep(0.1)
            stop = threading.Event()
            workers = [threading.Thread(target=_starter, args=(base, auth, stop, samples), daemon=True)]
            workers += [threading.Thread(target=_poller, args=(base, auth, stop, samples), daemon=True)
                        for _ in range(clients)]
            workers += [threading.Thread(target=_streamer, args=(base, auth, stop, samples), daemon=True)
                        for _ in range(clients)]
            for worker in workers:
                worker.start()
            t0 = time.monotonic()
            end = t0 + minutes * 60
            while time.monotonic() < end:
                samples.t.append((time.monotonic() - t0) / 60)
                samples.rss.append(rss_mb(proc.pid))
                samples.fds.append(len(os.listdir(f"/proc/{proc.pid}/fd")))
                if echo:
                    print(f"{samples.t[-1]:6.2f} min  rss {samples.rss[-1]:7.1f} MB  fds {samples.fds[-1]:4d}  "
                          f"requests {samples.requests}  jobs {samples.started}  streams {samples.streams}  "
                          f"5xx {samples.errors}", flush=True)
                time.sleep(interval)
            stop.set()
            for worker in workers:
                worker.join(timeout=10)
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    return samples


def summarise(s: Samples) -> dict[str, Any]:
    n = len(s.t)
    warm = max(1, n // 6)
    third = max(2, n // 3)
    return {
        "minutes": round(s.t[-1], 2) if s.t else 0.0,
        "rss_after_warmup_mb": round(s.rss[warm - 1], 1),
        "rss_end_mb": round(s.rss[-1], 1),
        "rss_max_mb": round(max(s.rss), 1),
        "slope_last_third_mb_per_min": round(slope(s.t[-third:], s.rss[-third:]), 3),
        "fds_first": s.fds[0], "fds_last": s.fds[-1],
        "requests": s.requests, "server_errors": s.errors, "streams": s.streams, "jobs_started": s.started,
    }


def run(quick: bool) -> list[Row]:
    minutes = 3.0 if quick else 30.0
    figures = summarise(soak(minutes, 2.0 if quick else 5.0))
    flat = abs(figures["slope_last_third_mb_per_min"]) <= 0.5 and figures["server_errors"] == 0
    return [Row(SECTION, f"RSS under churn, {figures['minutes']:g} min", jobdeck=(
        f"{figures['rss_after_warmup_mb']} -> {figures['rss_end_mb']} MB (max {figures['rss_max_mb']})"),
        target="slope of last third ~0 MB/min, no 5xx", passed=flat,
        note=(f"slope {figures['slope_last_third_mb_per_min']:+.3f} MB/min; fds {figures['fds_first']}->"
              f"{figures['fds_last']}; {figures['requests']} requests, {figures['jobs_started']} jobs, "
              f"{figures['streams']} streams"), values=figures)]


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.soak_bench", description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--interval", type=float, default=5.0, help="seconds between RSS samples")
    args = parser.parse_args()
    figures = summarise(soak(args.minutes, args.interval, echo=True))
    for key, value in figures.items():
        print(f"{key}: {value}")


if __name__ == "__main__":
    main()
