"""What a job spends (section ``spend``, issue 24): what recording use costs a hot loop, how shared limits hold
under contention and what they cost, how precise a rate is, and what usage adds to a list of jobs.

- the hot loop: ``ctl.usage(model, in, out, requests=1)`` beside ``ctl.progress(v)`` on every store, in a job with
  a 50-operation pipeline. Target: <= 2x (the total rides with the progress write, coalesced).
- a limit of 4 slots with 16 holders in 4 processes (4 threads each, each holding ~3 ms then giving back) on each
  shared store: the slots in use, sampled by this process from ``limit_uses()`` throughout and checked from every
  holder's own (start, end) spans on the machine's monotonic clock. Target: never above 4.
- acquire + release of an uncontended slot beside one bare round trip of the same store (SQLite UPDATE+COMMIT,
  Redis HSET, PostgreSQL UPDATE+COMMIT). Target: <= 3x (two transactions: the acquire's count-and-insert and the
  release's delete; memory: reported only).
- rate precision: 4 threads calling a limit of 3,000 a minute for ~2 s (1 s with --quick) on each store: the
  calls per minute measured from their start times beside the configured rate. Target: within 5%.
- a page of 50 past jobs (read from the store and serialised as ``/past`` does, ``to_dict(0)`` + orjson) with
  usage in every job beside the same jobs without. Target: <= 1.1x.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import orjson

from . import floors
from .stores import STORE_KINDS, StoreTarget, target, unavailable
from .table import Row, ratio, skipped, us
from .timing import per_call, redis_url

SECTION = "spend"
RATE = 3_000  # a minute
SLOTS, PROCESSES, THREADS = 4, 4, 4
ROOT = Path(__file__).resolve().parents[1]


@contextlib.contextmanager
def _targets() -> Iterator[list[tuple[str, StoreTarget | None, str | None]]]:
    from .pg_bench import _unavailable as pg_unavailable
    from .pg_bench import database

    with contextlib.ExitStack() as stack:
        found: list[tuple[str, StoreTarget | None, str | None]] = []
        for kind in STORE_KINDS:
            why = unavailable(kind)
            found.append((kind, None if why else stack.enter_context(target(kind)), why))
        why = pg_unavailable()
        if why:
            found.append(("postgres", None, why))
        else:
            found.append(("postgres", StoreTarget("postgres", stack.enter_context(database()), {}), None))
        yield found


def _hot_loop(kind: str, tgt: StoreTarget, quick: bool) -> Row:
    from jobdeck import PipelineController

    n = (20_000 if quick else 100_000) if kind == "memory" else (10_000 if quick else 50_000)
    store = tgt.open()
    try:
        job = store.create_job("bench-spend", "bench")
        ctl = PipelineController(job.id, store)
        ctl.attach_spending({"gpt-4o-mini": {"input": 0.15, "output": 0.60}})
        ctl.initialize_pipeline([f"op{i}" for i in range(50)])
        progress = per_call(ctl.progress, n)
        usage = per_call(lambda _: ctl.usage("gpt-4o-mini", 812, 143, requests=1), n)
        store.flush()
        ctl.complete()
        stored = store.require_job(job.id).usage
    finally:
        store.close()
    recorded = stored is not None and stored.counters.get("requests", 0) >= n
    return Row(SECTION, f"{kind}: ctl.usage(model, in, out, requests=1) beside ctl.progress(v)", us(usage),
               f"{us(progress)} progress()", ratio(usage, progress), "<= 2x", usage <= 2 * progress and recorded,
               note="fails if usage() writes the store per call instead of riding with the coalesced progress "
                    "write, or if the recorded total misses a call",
               values={"usage_s": usage, "progress_s": progress, "n": n})


def _raw(kind: str, tgt: StoreTarget, quick: bool) -> tuple[float, str] | None:
    if kind == "sqlite":
        return floors.sqlite_update_commit(None, 300 if quick else 1_000, "NORMAL"), "UPDATE+COMMIT NORMAL"
    if kind == "redis":
        hset = floors.redis_hset_round_trip(redis_url(), 1_000 if quick else 3_000)
        return (hset, "HSET RTT") if hset is not None else None
    if kind == "postgres":
        from .pg_bench import _raw_update_commit

        return _raw_update_commit(tgt.url, 200 if quick else 500, True), "UPDATE+COMMIT"
    return None


def _overhead(kind: str, tgt: StoreTarget, quick: bool) -> Row:
    n = 2_000 if kind == "memory" else (200 if quick else 1_000)
    store = tgt.open()
    try:
        def pair(_: float) -> None:
            store.acquire_slot("bench-solo", "me", 4)
            store.release_slot("bench-solo", "me")

        each = per_call(pair, n, repeats=3)
    finally:
        store.close()
    raw = _raw(kind, tgt, quick)
    if raw is None:
        return Row(SECTION, f"{kind}: acquire + release of a free slot", us(each), note="in-process: no floor")
    floor, name = raw
    return Row(SECTION, f"{kind}: acquire + release of a free slot beside one bare round trip", us(each),
               f"{us(floor)} {name}", ratio(each, floor), "<= 3x", each <= 3 * floor,
               note="two transactions (count-and-take, give back); fails if a step takes more than one round trip "
                    "or one commit each",
               values={"pair_s": each, "floor_s": floor})


def _contention(kind: str, tgt: StoreTarget, quick: bool) -> Row:
    rounds = 10 if quick else 40
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "spans.txt"
        store = tgt.open()
        sampled: list[int] = []
        stop = threading.Event()

        def sample() -> None:
            while not stop.is_set():
                sampled.extend(u.in_use for u in store.limit_uses() if u.name == "bench-provider")
                time.sleep(0.002)

        sampler = threading.Thread(target=sample)
        sampler.start()
        began = time.monotonic()
        procs = [subprocess.Popen([sys.executable, "-m", "benchmarks.spend_holders", tgt.command_line_url(),
                                   "bench-provider", str(SLOTS), str(THREADS), str(rounds), str(out)], cwd=ROOT)
                 for _ in range(PROCESSES)]
        codes = [p.wait(timeout=600) for p in procs]
        elapsed = time.monotonic() - began
        stop.set()
        sampler.join()
        store.close()
        spans = [tuple(map(float, line.split())) for line in out.read_text().splitlines()]
    events = sorted([(s, 1) for s, _ in spans] + [(e, -1) for _, e in spans])
    level = most = 0
    for _, step in events:
        level += step
        most = max(most, level)
    complete = len(spans) == PROCESSES * THREADS * rounds and not any(codes)
    peak = max(sampled, default=0)
    return Row(SECTION, f"{kind}: a limit of {SLOTS} slots, {PROCESSES * THREADS} holders in {PROCESSES} processes",
               f"max {max(most, peak)} in use", f"{len(sampled)} samples, {len(spans)} holdings", "",
               f"<= {SLOTS}", complete and most <= SLOTS and peak <= SLOTS,
               note=f"{elapsed:.1f} s; the peak of every holder's own spans ({most}) and of limit_uses() sampled "
                    f"({peak}); fails if two processes' count-and-take interleave (more holders than slots) or a "
                    "holding is lost",
               values={"spans_max": most, "sampled_max": peak, "holdings": len(spans), "elapsed_s": elapsed})


def _rate(kind: str, tgt: StoreTarget, quick: bool) -> Row:
    from jobdeck import PipelineController

    window = 1.0 if quick else 2.0
    store = tgt.open()
    starts: list[float] = []
    lock = threading.Lock()
    try:
        job = store.create_job("bench-rate", "bench")
        ctl = PipelineController(job.id, store)
        deadline = time.time() + window

        def caller() -> None:
            while time.time() < deadline:
                with ctl.limit(f"bench-rate-{kind}", rate=RATE, per=60):
                    now = time.time()
                with lock:
                    starts.append(now)

        threads = [threading.Thread(target=caller) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        ctl.complete()
    finally:
        store.close()
    starts.sort()
    measured = 60 * (len(starts) - 1) / (starts[-1] - starts[0]) if len(starts) > 1 else 0.0
    error = abs(measured - RATE) / RATE
    return Row(SECTION, f"{kind}: a rate of {RATE:,}/min, 4 threads calling", f"{measured:,.0f}/min",
               f"{RATE:,}/min configured", f"{measured / RATE:.3f}x", "within 5%", error <= 0.05,
               note=f"{len(starts)} calls in {window:g} s; fails if calls are not spaced by the store's reservation "
                    "(too fast) or a reservation costs more than the interval (too slow)",
               values={"measured_per_min": measured, "calls": len(starts)})


def _lists(kind: str, tgt: StoreTarget, quick: bool) -> Row:
    from jobdeck import PipelineController

    store = tgt.open()
    try:
        def fill(job_type: str, spend: bool) -> None:
            for _ in range(50):
                ctl = PipelineController(store.create_job(job_type, "bench", {"n": 1}).id, store)
                ctl.initialize_pipeline(["a", "b"])
                if spend:
                    ctl.usage("gpt-4o-mini", 812, 143, 0.0002, requests=1)
                    ctl.usage("text-embedding-3-small", 4000, 0, None)
                ctl.progress(1.0)
                ctl.complete({"ok": True})

        fill("bench-plain", False)
        fill("bench-spent", True)

        def page(job_type: str) -> float:
            def read(_: float) -> None:
                for job in store.get_past_jobs(job_type, limit=50, messages=False):
                    orjson.dumps(job.to_dict(0))

            return per_call(read, 20 if kind != "memory" else 200, repeats=7)

        plain, spent = page("bench-plain"), page("bench-spent")
        plain = min(plain, page("bench-plain"))  # interleaved, the least disturbed of each
        spent = min(spent, page("bench-spent"))
    finally:
        store.close()
    return Row(SECTION, f"{kind}: a page of 50 past jobs with usage beside without", us(spent), us(plain),
               ratio(spent, plain), "<= 1.1x", spent <= 1.1 * plain,
               note="read + to_dict + orjson as /past serialises; fails if usage costs a query per job or more than "
                    "a small JSON decode each",
               values={"spent_s": spent, "plain_s": plain})


def run(quick: bool) -> list[Row]:
    rows: list[Row] = []
    with _targets() as targets:
        for kind, tgt, why in targets:
            if tgt is None:
                rows.append(skipped(SECTION, f"{kind}: spend", why or "unavailable"))
                continue
            for step in (_hot_loop, _overhead, _rate, _lists):
                try:
                    rows.append(step(kind, tgt, quick))
                except Exception as exc:  # one broken row must not hide the others
                    rows.append(Row(SECTION, f"{kind}: {step.__name__}", passed=False,
                                    note=f"error: {type(exc).__name__}: {exc}"))
            if kind != "memory":
                rows.append(_contention(kind, tgt, quick))
    return rows
