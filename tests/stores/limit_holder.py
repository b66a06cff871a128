"""A process that takes slots of a shared limit (tests/stores/test_behaviour_limits.py runs several of these).

    python -m tests.stores.limit_holder KIND LOCATION contend NAME CAPACITY ROUNDS OUT
        take a slot ROUNDS times (waiting for it), hold it a few ms, and append "start end" (time.monotonic(),
        the same clock in every process of the machine) of each holding to OUT
    python -m tests.stores.limit_holder KIND LOCATION hold NAME STALE_AFTER
        run a job that holds the one slot of NAME (renewing its lease) and print "held"; wait to be killed
"""

from __future__ import annotations

import sys
import threading
import time
import uuid

from jobdeck import JobRunner, PipelineController
from jobdeck.stores import Store


def open_location(kind: str, location: str, **limits: float) -> Store:
    from tests.stores.conftest import Backend

    return Backend(kind, location).open(**limits)


def contend(store: Store, name: str, capacity: int, rounds: int, out: str) -> None:
    lines: list[str] = []

    def worker() -> None:
        holder = uuid.uuid4().hex
        for _ in range(rounds):
            while not store.acquire_slot(name, holder, capacity)[0]:
                time.sleep(0.002)
            start = time.monotonic()
            time.sleep(0.004)
            end = time.monotonic()
            store.release_slot(name, holder)
            lines.append(f"{start!r} {end!r}\n")

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with open(out, "a", encoding="utf-8") as file:
        file.writelines(lines)


def hold(store: Store, name: str) -> None:
    runner = JobRunner(store)

    def holder(ctl: PipelineController) -> None:
        with ctl.limit(name, concurrency=1):
            print("held", flush=True)
            while True:
                ctl.check_abort()
                time.sleep(0.05)

    runner.register("Holder", holder)
    runner.start("Holder", "test")
    time.sleep(3600)


if __name__ == "__main__":
    kind, location, what = sys.argv[1:4]
    if what == "contend":
        contend(open_location(kind, location), sys.argv[4], int(sys.argv[5]), int(sys.argv[6]), sys.argv[7])
    else:
        hold(open_location(kind, location, stale_after=float(sys.argv[5])), sys.argv[4])
