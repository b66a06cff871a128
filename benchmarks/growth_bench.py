"""Target 8: ``get_past_jobs(start_from=cursor)`` costs what it returns, not the size of the history.

Each store gets ``max_past_jobs`` raised above the largest history, is filled with past jobs up to 1k, 10k and
100k, and at each size answers a cursor query that returns the 10 newest (what a dashboard polling with its
last cursor asks). The time at 100k must stay within 3x of the time at 1k; a query returning 100 jobs is shown
for scale.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

from .stores import STORE_KINDS, target, unavailable
from .table import Row, ratio, skipped, us

SECTION = "growth"


def _fill(store: Any, count: int) -> None:
    for i in range(count):
        job = store.create_job("bench-growth", "bench", {"n": i})
        store.complete_job(job.id, {"n": i})


def _cursor_query(store: Any, returned: int, repeats: int) -> tuple[float, int]:
    """Median seconds of a cursor query that returns about ``returned`` jobs, and how many it returned."""
    ends = sorted((j.end_time for j in _recent(store, returned + 1)), reverse=True)
    cursor = ends[returned]  # start_from keeps jobs that ended strictly after it
    expected = sum(1 for e in ends if e > cursor)  # stores keeping milliseconds may tie a few end times
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        got = store.get_past_jobs(start_from=cursor, messages=False)
        samples.append(time.perf_counter() - start)
    if len(got) != expected:
        raise RuntimeError(f"cursor query returned {len(got)} jobs, expected {expected}")
    return statistics.median(samples), expected


def _recent(store: Any, count: int) -> list[Any]:
    """The ``count`` most recently ended jobs without reading the whole history (widen a time window)."""
    window = 1.0
    now = time.time() + 1
    while True:
        jobs = store.get_past_jobs(start_from=now - window, messages=False)
        if len(jobs) >= count or window > 1e6:
            return jobs
        window *= 4


def run(quick: bool) -> list[Row]:
    sizes = (1_000, 3_000) if quick else (1_000, 10_000, 100_000)  # --quick: the whole suite under two minutes
    rows = []
    for kind in STORE_KINDS:
        why = unavailable(kind)
        if why:
            rows.append(skipped(SECTION, f"{kind}: cursor query vs history", why))
            continue
        with target(kind) as tgt:
            store = tgt.open(max_past_jobs=sizes[-1] + 1_000)
            try:
                timings: dict[int, tuple[float, float]] = {}
                counts: dict[int, tuple[int, int]] = {}
                filled = 0
                for size in sizes:
                    _fill(store, size - filled)
                    filled = size
                    store.flush()
                    (ten, n10), (hundred, n100) = _cursor_query(store, 10, 30), _cursor_query(store, 100, 10)
                    timings[size], counts[size] = (ten, hundred), (n10, n100)
            finally:
                store.close()
        small, large = timings[sizes[0]][0], timings[sizes[-1]][0]
        rows.append(Row(SECTION, f"{kind}: get_past_jobs(start_from=cursor) -> 10 jobs, history "
                                 + "/".join(f"{s // 1000}k" for s in sizes),
                        " / ".join(us(timings[s][0]) for s in sizes), us(small) + " at 1k", ratio(large, small),
                        "<= 3x from 1k to largest", large <= 3 * small,
                        note="-> 100 jobs: " + " / ".join(us(timings[s][1]) for s in sizes),
                        values={str(s): {"ten_s": t[0], "hundred_s": t[1], "returned": counts[s]}
                                for s, t in timings.items()}))
    return rows
