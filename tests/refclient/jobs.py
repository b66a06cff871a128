"""Job types for the reference-client tests, loaded by a real server with ``--app tests.refclient.jobs:build``.

- ``Quick``: completes at once.
- ``Waits``: runs until aborted.
- ``Holds``: runs until aborted, then stays ``aborting`` until the file named by ``release`` exists (so a test
  can look at a job that is stopping without racing it).
- ``Boom``: fails.
- ``Typos``: makes every progress-call mistake the reference's controller forgives, then completes.
"""

from __future__ import annotations

import time
from pathlib import Path

from jobdeck import AbortError, JobRunner, PipelineController
from jobdeck.stores import Store


def quick(ctl: PipelineController) -> dict[str, bool]:
    ctl.info("done at once")
    return {"ok": True}


def waits(ctl: PipelineController) -> None:
    while True:
        ctl.check_abort()
        time.sleep(0.01)


def holds(ctl: PipelineController, release: str = "") -> None:
    try:
        waits(ctl)
    except AbortError:
        deadline = time.monotonic() + 30
        while not Path(release).exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        raise


def typos(ctl: PipelineController) -> str:
    ctl.initialize_pipeline(["load", ("work", 2)])
    ctl.update_sub_operation("lod", 1.0)  # unknown operation (twice: one warning)
    ctl.update_sub_operation("lod", 1.0)
    ctl.update_sub_operation("load", "part", 0.5)  # a sub-operation of an operation that has none
    ctl.update_operation("work/x", 0.5)
    ctl.progress(1.5)  # out of range: clamped, not an error
    ctl.update_sub_operation("load", 1.0)
    ctl.info("carried on")
    return "survived"


def boom(ctl: PipelineController) -> None:
    raise RuntimeError("failed on purpose")


def build(store: Store) -> JobRunner:
    runner = JobRunner(store, abort_grace=30)
    runner.register("Quick", quick, max_concurrent=5)
    runner.register("Waits", waits, max_concurrent=3)
    runner.register("Holds", holds)
    runner.register("Typos", typos)
    runner.register("Boom", boom, max_concurrent=5)
    runner.register_external("Remote", title="Runs elsewhere", params={"size": 1}, max_concurrent=3)
    return runner
