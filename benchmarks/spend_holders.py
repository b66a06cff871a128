"""One process of the spend section's contention row: ``python -m benchmarks.spend_holders URL NAME SLOTS THREADS
ROUNDS OUT``. Each of THREADS threads takes a slot of the limit NAME (waiting for it) ROUNDS times, holds it ~3 ms
and gives it back, and the process appends each holding's "start end" (time.monotonic(), one clock for every
process of the machine) to OUT."""

from __future__ import annotations

import sys
import threading
import time
import uuid

from jobdeck import open_store


def main(url: str, name: str, slots: int, threads: int, rounds: int, out: str) -> None:
    store = open_store(url)
    lines: list[str] = []

    def holder() -> None:
        me = uuid.uuid4().hex
        for _ in range(rounds):
            while not store.acquire_slot(name, me, slots)[0]:
                time.sleep(0.002)
            start = time.monotonic()
            time.sleep(0.003)
            end = time.monotonic()
            store.release_slot(name, me)
            lines.append(f"{start!r} {end!r}\n")

    workers = [threading.Thread(target=holder) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    store.close()
    with open(out, "a", encoding="utf-8") as file:
        file.writelines(lines)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), sys.argv[6])
