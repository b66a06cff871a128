"""Target 7: 100,000 jobs through each store with default retention, in a fresh process per store.

Each job is what a small real job does: created, a controller reports progress and an info message, completed.
Reported at 10k, 50k and 100k jobs (quick: 3k, 3.5k, 4k): the process's RSS (flat after warm-up), the SQLite
file size (db + WAL, bounded) and the number of Redis keys under the store's prefix (bounded).
"""

from __future__ import annotations

import contextlib
import gc
import multiprocessing as mp
import os
from pathlib import Path
from typing import Any

from .stores import STORE_KINDS, StoreTarget, redis_key_count, target, unavailable
from .table import Row, skipped
from .timing import rss_mb

SECTION = "memory"


def churn(tgt: StoreTarget, total: int, checkpoints: tuple[int, ...], conn: Any) -> None:
    """Run ``total`` jobs through the store; send a checkpoint after each count in ``checkpoints``."""
    from jobdeck import PipelineController

    store = tgt.open()
    try:
        for i in range(1, total + 1):
            job = store.create_job("bench-churn", "bench", {"n": i})
            ctl = PipelineController(job.id, store)
            ctl.progress(0.5)
            ctl.info(f"item {i} processed")
            ctl.complete({"items": i})
            if i in checkpoints:
                store.flush()
                gc.collect()
                conn.send({"jobs": i, "rss_mb": rss_mb(), "file_mb": _file_mb(tgt), "keys": _keys(tgt, store)})
    finally:
        store.close()
        conn.send(None)


def _file_mb(tgt: StoreTarget) -> float | None:
    if tgt.kind != "sqlite":
        return None
    base = Path(tgt.url.removeprefix("sqlite:///").split("?")[0])
    files = [base, base.with_name(base.name + "-wal"), base.with_name(base.name + "-shm")]
    return sum(f.stat().st_size for f in files if f.exists()) / 1e6


def _keys(tgt: StoreTarget, store: Any) -> int | None:
    if tgt.kind != "redis":
        return None
    return redis_key_count(tgt.url, store.prefix)


def _measure_all(targets: dict[str, StoreTarget], total: int, checkpoints: tuple[int, ...],
                 timeout: float) -> dict[str, list[dict[str, Any]]]:
    """One churn process per store, run side by side (RSS, file size and key counts do not depend on speed)."""
    ctx = mp.get_context("spawn")
    running = {}
    for kind, tgt in targets.items():
        parent, child = ctx.Pipe()
        proc = ctx.Process(target=churn, args=(tgt, total, checkpoints, child), daemon=True)
        proc.start()
        running[kind] = (proc, parent)
    results: dict[str, list[dict[str, Any]]] = {}
    for kind, (proc, parent) in running.items():
        points = results[kind] = []
        try:
            while parent.poll(timeout):
                item = parent.recv()
                if item is None:
                    break
                points.append(item)
        finally:
            proc.join(10)
            if proc.is_alive():
                proc.kill()
    return results


def run(quick: bool) -> list[Row]:
    # Warm-up is over once retention is full: 1,000 past jobs and the 10,000-event log (~2,500 jobs here).
    total = 4_000 if quick else 100_000
    checkpoints = (3_000, 3_500, 4_000) if quick else (10_000, 50_000, 100_000)
    rows = []
    with contextlib.ExitStack() as stack:
        targets = {}
        for kind in STORE_KINDS:
            why = unavailable(kind)
            if why:
                rows.append(skipped(SECTION, f"{kind}: {total:,} jobs", why))
            else:
                targets[kind] = stack.enter_context(target(kind))
        results = _measure_all(targets, total, checkpoints, timeout=600)
    for kind, points in results.items():
        if len(points) < len(checkpoints):
            rows.append(Row(SECTION, f"{kind}: {total:,} jobs", passed=False,
                            note=f"error: the churn process stopped after {points[-1]['jobs'] if points else 0} jobs"))
            continue
        first, last = points[0], points[-1]
        marks = "/".join(f"{p['jobs'] / 1000:g}k" for p in points)
        growth = last["rss_mb"] - first["rss_mb"]
        flat = growth <= max(3.0, 0.1 * first["rss_mb"])
        rows.append(Row(SECTION, f"{kind}: RSS after {marks} jobs",
                        " / ".join(f"{p['rss_mb']:.1f}" for p in points) + " MB", "", "",
                        "flat after warm-up (+<= max(3 MB, 10%))", flat,
                        note=f"growth {growth:+.1f} MB from {first['jobs']:,} to {last['jobs']:,} jobs",
                        values={"points": points}))
        if kind == "sqlite":
            bounded = last["file_mb"] <= first["file_mb"] * 1.5 + 1.0
            rows.append(Row(SECTION, f"sqlite: file size (db+wal+shm) after {marks} jobs",
                            " / ".join(f"{p['file_mb']:.1f}" for p in points) + " MB", "", "",
                            "bounded (<= 1.5x + 1 MB of the first mark)", bounded, values={"points": points}))
        if kind == "redis":
            bounded = last["keys"] <= first["keys"] * 1.05 + 10
            rows.append(Row(SECTION, f"redis: keys under the prefix after {marks} jobs",
                            " / ".join(str(p["keys"]) for p in points), "", "",
                            "bounded (<= 1.05x + 10 of the first mark)", bounded, values={"points": points}))
    return rows


if __name__ == "__main__":  # pragma: no cover - manual use: python -m benchmarks.memory_bench
    os.environ.setdefault("PYTHONHASHSEED", "0")
    from .table import render

    print(render(run(quick=True)))
