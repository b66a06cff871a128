"""Reproduce issue 19, item 1: parallel first starts on a fresh procrastinate server must all be answered.

    python scripts/repro_procrastinate_burst.py --bursts 100            # the figure the issue asks for
    python scripts/repro_procrastinate_burst.py --bursts 5 --worker     # and a worker must start after each

Each burst creates an empty PostgreSQL database (no procrastinate schema yet), starts a real ``jobdeck serve
--executor procrastinate+postgresql://...`` on a fresh SQLite store, and as soon as it answers sends ``--starts``
parallel ``POST /start`` requests. A request with no answer within ``--timeout`` seconds is a hang. After the
burst it checks that every job started (201) has its entry in ``procrastinate_jobs`` and that no session holds or
waits for jobdeck's schema lock (``pg_locks``); with ``--worker`` it also starts a ``jobdeck worker``, which must
be ready within ``--timeout``. The last line states hangs/total; the exit code is 1 if anything went wrong.

The server loads the job types of this very file (``build``), so the script needs nothing but an installed
jobdeck with its procrastinate extra and a PostgreSQL server (``--admin-url``, default ``$DATABASE_URL`` or
``postgresql://postgres@127.0.0.1:5432/postgres``).
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

HERE = Path(__file__).resolve().parent
TOKEN = "repro-burst-token"  # noqa: S105 (a throwaway server on loopback)
JOB_TYPE = "Burst"
WORKER_READY = "Starting worker on queues"
# The schema lock jobdeck's procrastinate executor takes while it applies procrastinate's schema. A 64-bit
# advisory key is shown in pg_locks as classid (high 32 bits) and objid (low 32 bits), objsubid 1.
SCHEMA_LOCKS = """
SELECT count(*) FILTER (WHERE l.granted), count(*) FILTER (WHERE NOT l.granted)
  FROM pg_locks l JOIN pg_database d ON d.oid = l.database
 WHERE l.locktype = 'advisory' AND l.objsubid = 1 AND d.datname = %(db)s
   AND l.objid::text::bigint = (hashtext('jobdeck.procrastinate.schema')::bigint & 4294967295)
"""


def build(store: Any) -> Any:
    """The job types the server of each burst loads (``--app repro_procrastinate_burst:build``)."""
    from jobdeck import JobRunner

    runner = JobRunner(store)
    runner.register(JOB_TYPE, lambda ctl: None, max_concurrent=10_000)
    return runner


@dataclass
class Burst:
    number: int
    codes: Counter[str] = field(default_factory=Counter)
    hung: int = 0
    without_entry: int = 0
    locks_held: int = 0
    locks_waiting: int = 0
    worker_ready: bool | None = None
    server_up: float = 0.0
    answered_in: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def bad(self) -> bool:
        return bool(self.hung or self.without_entry or self.locks_held or self.locks_waiting
                    or self.worker_ready is False or set(self.codes) - {"201", "503"})


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("JOBDECK_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE), env.get("PYTHONPATH")]))
    return env


def _stop(proc: subprocess.Popen[bytes], timeout: float = 15) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)


def _tail(path: Path, chars: int = 1500) -> str:
    return path.read_text(errors="replace")[-chars:] if path.exists() else ""


def run_burst(number: int, admin_url: str, *, starts: int, timeout: float, worker: bool, workdir: Path) -> Burst:
    import httpx
    import psycopg

    burst = Burst(number)
    name = f"jobdeck_burst_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    dsn = urlunsplit(urlsplit(admin_url)._replace(path=f"/{name}"))
    port = _free_port()
    log = workdir / f"server-{number}.log"
    command = [sys.executable, "-m", "jobdeck.cli", "serve", "--app", "repro_procrastinate_burst:build",
               "--host", "127.0.0.1", "--port", str(port), "--token", TOKEN,
               "--store", f"sqlite:///{workdir / f'jobs-{number}.db'}", "--executor", f"procrastinate+{dsn}"]
    base = f"http://127.0.0.1:{port}"
    headers = {"Authorization": f"Bearer {TOKEN}"}
    launched = time.monotonic()
    with log.open("wb") as out:
        server = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=_env())  # noqa: S603
    try:
        while True:  # up as soon as /healthz answers: the burst must meet the executor's first-time setup
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if server.poll() is not None or time.monotonic() - launched > 60:
                burst.notes.append(f"server did not come up:\n{_tail(log)}")
                burst.hung = starts
                return burst
            time.sleep(0.02)
        burst.server_up = time.monotonic() - launched
        gate = threading.Barrier(starts)

        def start(_: int) -> tuple[str, str | None]:
            gate.wait()
            try:
                answer = httpx.post(f"{base}/api/admin/jobs/start", json={"jobType": JOB_TYPE}, headers=headers,
                                    timeout=timeout)
            except httpx.TimeoutException:
                return "hang", None
            except httpx.TransportError as exc:
                return f"transport error ({type(exc).__name__})", None
            job_id = answer.json().get("id") if answer.status_code == 201 else None
            return str(answer.status_code), job_id

        asked = time.monotonic()
        with ThreadPoolExecutor(starts) as pool:
            results = list(pool.map(start, range(starts)))
        burst.answered_in = time.monotonic() - asked
        for code, _ in results:
            if code == "hang":
                burst.hung += 1
            else:
                burst.codes[code] += 1
        started = [job_id for code, job_id in results if code == "201" and job_id]
        with psycopg.connect(dsn, autocommit=True, connect_timeout=5) as conn:
            if started:
                if conn.execute("SELECT to_regclass('procrastinate_jobs')").fetchone() == (None,):
                    burst.without_entry = len(started)
                else:
                    rows = conn.execute("SELECT DISTINCT args->>'job_id' FROM procrastinate_jobs "
                                        "WHERE args->>'job_id' = ANY(%s)", (started,)).fetchall()
                    burst.without_entry = len(set(started) - {row[0] for row in rows})
            held, waiting = conn.execute(SCHEMA_LOCKS, {"db": name}).fetchone() or (0, 0)
            burst.locks_held, burst.locks_waiting = int(held), int(waiting)
        if worker:
            burst.worker_ready = _worker_starts(dsn, workdir, number, timeout, burst)
    finally:
        _stop(server)
        with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    if burst.bad:
        burst.notes.append(f"server log tail:\n{_tail(log)}")
    return burst


def _worker_starts(dsn: str, workdir: Path, number: int, timeout: float, burst: Burst) -> bool:
    log = workdir / f"worker-{number}.log"
    command = [sys.executable, "-m", "jobdeck.cli", "worker", "--app", "repro_procrastinate_burst:build",
               "--store", f"sqlite:///{workdir / f'jobs-{number}.db'}", "--executor", f"procrastinate+{dsn}"]
    with log.open("wb") as out:
        worker = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=_env())  # noqa: S603
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and worker.poll() is None:
            if WORKER_READY in log.read_text(errors="replace"):
                return True
            time.sleep(0.05)
        burst.notes.append(f"worker not ready within {timeout:g}s:\n{_tail(log)}")
        return False
    finally:
        _stop(worker)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--bursts", type=int, default=100, help="fresh servers to start (default 100)")
    parser.add_argument("--starts", type=int, default=16, help="parallel POST /start per burst (default 16)")
    parser.add_argument("--timeout", type=float, default=30.0,
                        help="seconds an answer may take before it counts as a hang (default 30)")
    parser.add_argument("--worker", action="store_true", help="after each burst, a jobdeck worker must start")
    parser.add_argument("--admin-url", default=os.environ.get("DATABASE_URL")
                        or "postgresql://postgres@127.0.0.1:5432/postgres",
                        help="a PostgreSQL URL allowed to create and drop databases")
    args = parser.parse_args(argv)
    total = Counter[str]()
    hung = bad_bursts = 0
    slowest = 0.0
    began = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="jobdeck-burst-") as tmp:
        for number in range(1, args.bursts + 1):
            burst = run_burst(number, args.admin_url, starts=args.starts, timeout=args.timeout, worker=args.worker,
                              workdir=Path(tmp))
            total.update(burst.codes)
            hung += burst.hung
            slowest = max(slowest, burst.answered_in)
            bad_bursts += int(burst.bad)
            worker = "" if burst.worker_ready is None else f", worker {'ready' if burst.worker_ready else 'NOT READY'}"
            print(f"burst {number}/{args.bursts}: {dict(sorted(burst.codes.items()))} in {burst.answered_in:.2f}s "
                  f"(server up in {burst.server_up:.1f}s), {burst.hung} hung, {burst.without_entry} started "
                  f"without an entry, schema lock held by {burst.locks_held} / awaited by {burst.locks_waiting} "
                  f"sessions{worker}", flush=True)
            for note in burst.notes:
                print("    " + note.replace("\n", "\n    "), flush=True)
    starts = args.bursts * args.starts
    print(f"hangs: {hung}/{starts} starts in {args.bursts} fresh-server bursts of {args.starts} "
          f"(answers: {dict(sorted(total.items()))}; slowest burst answered in {slowest:.2f}s; "
          f"{bad_bursts} burst(s) with a problem; {time.monotonic() - began:.0f}s)")
    return 1 if bad_bursts else 0


if __name__ == "__main__":
    sys.exit(main())
