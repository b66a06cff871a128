"""Section ``remote``: progress and messages reported over HTTP by ``RemoteController``, beside a plain
``httpx.post`` per call in the same run, against a real ``jobdeck serve`` (SQLite store) in its own process.

- ``progress()`` amortised cost in the caller for a job calling it 100,000 times, and the requests per second
  actually sent meanwhile (the controller batches: about ten a second at most).
- Messages per second end to end: from the first ``info()`` to the last message stored (``close()`` returns
  once the server has answered for all of them).
- Server CPU per report (``/proc`` of the server process), for a batched report and for one per call.
"""

from __future__ import annotations

import contextlib
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from typing import Any

from .table import Row, ratio, skipped, us
from .timing import cpu_seconds

SECTION = "remote"
TOKEN = "bench-remote-token-5a7c"
PREFIX = "/api/admin/jobs"
TYPE = "BenchRemote"


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def _server(tmp: str) -> Iterator[tuple[str, int]]:
    import httpx

    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "jobdeck.cli", "serve", "--port", str(port), "--token", TOKEN,
                             "--store", f"sqlite:///{tmp}/jobs.db", "--external-type", TYPE, "--log-level",
                             "warning"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("jobdeck serve did not start")
            time.sleep(0.05)
        yield url, proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _start(client: Any) -> tuple[str, str]:
    answer = client.post(f"{PREFIX}/start", json={"jobType": TYPE}).json()
    return answer["id"], answer["reportToken"]


def _finish(client: Any, job_id: str) -> None:
    client.post(f"{PREFIX}/single/{job_id}/complete", json={})


def run(quick: bool) -> list[Row]:
    try:
        import httpx

        from jobdeck.client import RemoteController
    except ImportError as exc:
        return [skipped(SECTION, "RemoteController", str(exc))]
    calls = 20_000 if quick else 100_000
    plain_calls = 200 if quick else 1000
    messages = 5_000 if quick else 20_000
    repeats = 1 if quick else 3
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="jobdeck-bench-remote-") as tmp, _server(tmp) as (url, pid), \
            httpx.Client(base_url=url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30) as admin:
        # --- progress(): amortised cost and requests actually sent
        per_call, rates, server_cpu, cpu_per_call = [], [], [], []
        for _ in range(repeats):
            job_id, token = _start(admin)
            cpu0 = cpu_seconds(pid)
            began = time.perf_counter()
            with RemoteController(job_id, url, token) as ctl:
                ctl.initialize_pipeline(["load", ("work", 4)])
                step = 1.0 / calls
                for i in range(calls):
                    ctl.progress(i * step)
                looped = time.perf_counter() - began
            wall = time.perf_counter() - began
            per_call.append(looped / calls)
            rates.append(ctl.requests / wall)
            used = cpu_seconds(pid) - cpu0
            server_cpu.append(used / max(1, ctl.requests))
            cpu_per_call.append(used / calls)
        # --- the baseline: one plain httpx.post per progress call, same endpoint, same server
        plain, plain_cpu = [], []
        for _ in range(repeats):
            job_id, token = _start(admin)
            with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30) as one:
                cpu0 = cpu_seconds(pid)
                began = time.perf_counter()
                for i in range(plain_calls):
                    one.post(f"{PREFIX}/single/{job_id}/report", json={"progress": i / plain_calls})
                plain.append((time.perf_counter() - began) / plain_calls)
                plain_cpu.append((cpu_seconds(pid) - cpu0) / plain_calls)
            _finish(admin, job_id)
        mine, base = statistics.median(per_call), statistics.median(plain)
        rows.append(Row(SECTION, f"RemoteController.progress() x {calls:,}, amortised in the caller", us(mine),
                        f"{us(base)} httpx.post per call", ratio(mine, base), "-",
                        note=f"{calls * mine:.2f} s of job time vs {calls * base:.0f} s posting each call",
                        values={"remote_s": per_call, "httpx_s": plain}))
        rate = statistics.median(rates)
        rows.append(Row(SECTION, "requests per second actually sent meanwhile", f"{rate:.1f} req/s",
                        f"{1 / base:,.0f} req/s httpx.post per call", ratio(rate, 1 / base), "<= ~10 req/s",
                        rate <= 11, values={"rates": rates}))
        # --- messages end to end
        mps, plain_mps = [], []
        for _ in range(repeats):
            job_id, token = _start(admin)
            began = time.perf_counter()
            with RemoteController(job_id, url, token) as ctl:
                for i in range(messages):
                    ctl.info(f"message {i}: question {i * 7 % 1000} handled")
            mps.append(messages / (time.perf_counter() - began))
            job_id, token = _start(admin)
            with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30) as one:
                began = time.perf_counter()
                for i in range(plain_calls):
                    one.post(f"{PREFIX}/single/{job_id}/report",
                             json={"messages": [{"type": "info", "message": f"message {i}: question handled"}]})
                plain_mps.append(plain_calls / (time.perf_counter() - began))
            _finish(admin, job_id)
        got, baseline = statistics.median(mps), statistics.median(plain_mps)
        rows.append(Row(SECTION, f"messages end to end ({messages:,} info(), until stored)", f"{got:,.0f} msg/s",
                        f"{baseline:,.0f} msg/s httpx.post per message", ratio(got, baseline), "-",
                        values={"remote_mps": mps, "httpx_mps": plain_mps}))
        cpu, plain_cpu_m = statistics.median(server_cpu), statistics.median(plain_cpu)
        rows.append(Row(SECTION, "server CPU per report (batched progress; one per call)",
                        f"{cpu * 1e3:.2f} ms", f"{plain_cpu_m * 1e3:.2f} ms per httpx.post report",
                        ratio(cpu, plain_cpu_m), "-",
                        note=f"per progress() call: {statistics.median(cpu_per_call) * 1e6:.2f} us batched vs "
                             f"{plain_cpu_m * 1e6:.0f} us posting each (clock ticks of 10 ms: a median over runs)",
                        values={"remote_cpu_s": server_cpu, "httpx_cpu_s": plain_cpu, "per_call": cpu_per_call}))
    return rows

