"""A process that fires schedules, for the multi-process tests (tests/stores/test_multiprocess_schedules.py):

    python -m tests.schedule_process KIND LOCATION MODE SECONDS

opens the store as the tests' ``Backend`` does (``stale_after`` one second, so that a claim left by a dead process is
recovered quickly), defines the code schedule ``tick`` (every second) of the quick type ``Tick``, starts the
supervisor (which fires the schedule and starts its jobs) and runs for SECONDS. MODE ``kill-before-create`` /
``kill-after-create``: the process SIGKILLs itself the first time it creates a job for the schedule -- just before
the store creates it, or just after -- i.e. between its claim of an occurrence and its record of the outcome: the
window a crash must neither lose nor double an occurrence in. ``run``: no fault.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from typing import Any

from jobdeck import JobRunner, PipelineController
from tests.stores.conftest import Backend


def main() -> None:
    kind, location, mode, seconds = sys.argv[1:5]
    store = Backend(kind, location).open(stale_after=1.0)
    runner = JobRunner(store, heartbeat_interval=0.2)

    def tick(ctl: PipelineController) -> None:
        ctl.progress(1.0)

    runner.register("Tick", tick, max_concurrent=100)
    runner.schedule("tick", "Tick", every=1, misfire_grace=60)
    if mode.startswith("kill-"):
        create = store.create_job

        def create_then_die(*args: Any, **kwargs: Any) -> Any:
            if kwargs.get("schedule_id") and mode == "kill-before-create":
                os.kill(os.getpid(), signal.SIGKILL)
            job = create(*args, **kwargs)
            if kwargs.get("schedule_id"):
                os.kill(os.getpid(), signal.SIGKILL)
            return job

        store.create_job = create_then_die  # type: ignore[method-assign]
    runner.start_supervisor()
    print("ready", flush=True)
    # The process's lifetime (the test waits for conditions in the store, not for this).
    time.sleep(float(seconds))
    runner.shutdown(grace=2)
    store.close()


if __name__ == "__main__":
    main()
