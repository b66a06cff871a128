"""A separate process that runs an external job and reports it with RemoteController.

    python -m tests.refclient.reporter URL JOB_ID TOKEN MODE WORKDIR

Modes:
- ``restart``: messages m0..m49, then touches WORKDIR/p1 and waits for WORKDIR/p2 (the server is down by then);
  messages m50..m99 (buffered), touches WORKDIR/p3, and completes with a result once the server is back.
- ``until_abort``: reports progress and a message per step until the server asks it to stop; writes the abort
  reason it saw to WORKDIR/seen.
"""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path

from jobdeck import AbortError
from jobdeck.client import RemoteController


def wait_file(path: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {path}")
        time.sleep(0.02)


def restart(ctl: RemoteController, work: Path) -> None:
    ctl.initialize_pipeline(["before", "after"])
    for n in range(50):
        ctl.info(f"m{n}")
        ctl.progress((n + 1) / 50)
    (work / "p1").touch()
    wait_file(work / "p2")
    for n in range(50, 100):
        ctl.info(f"m{n}")
        ctl.progress((n - 49) / 50)
    (work / "p3").touch()
    ctl.complete({"messages": 100})


def until_abort(ctl: RemoteController, work: Path) -> None:
    step = 0
    try:
        while True:
            ctl.check_abort()
            ctl.info(f"step {step}")
            ctl.progress(min(0.99, step / 1000))
            step += 1
            time.sleep(0.005)
    except AbortError as exc:
        (work / "seen").write_text(f"{exc.reason}|{step}")
        raise


def main() -> int:
    url, job_id, token, mode, workdir = sys.argv[1:6]
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    work = Path(workdir)
    with RemoteController(job_id, url, token, final_timeout=60) as ctl:
        {"restart": restart, "until_abort": until_abort}[mode](ctl, work)
    (work / "exited").write_text(str(ctl.requests))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
