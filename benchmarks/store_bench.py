"""Targets 1-4: the job-side hot paths on every store, and what reaches the store.

- The cost in the job's loop: ``controller.progress(v)`` (with and without a pipeline) and ``check_abort()`` in a
  tight loop against a dict update / read under a lock (<= 10x), on every store. On the stores that write to a
  file or a server this is the cost of queueing the value (the buffer's thread writes it): these rows say that
  the job's loop does not wait for the store, and fail when it does (a write or a read per call).
- What reaches the store (SQLite, Redis): while a job calls ``progress()`` as fast as it can, the writes per
  second that land (counted from the store's own change log: one progress event per write), against the rate
  the coalescing window promises (between 0.5 and 1.2 writes per window: fewer means values wait longer than
  promised, more means coalescing broke and the store takes the job's full rate); and the freshness of the
  stored value, its age when a reader in another process reads it (p99 <= 100 ms).
- The store's cost per flushed batch (100 messages, each with its event) beside a raw write of the same rows in
  one transaction / one MULTI pipeline (<= 3x: fails when the store writes per message or spends more on
  encoding than the write itself costs).
- ``controller.info(msg)`` sustained: >= 10,000 msgs/s, and the stored count is min(sent, cap).
- How long an abort requested from another process takes to be noticed (<= 250 ms).

Readers and abort requesters are spawned processes: they share nothing with the writer but the store.
"""

from __future__ import annotations

import multiprocessing as mp
import time
from typing import Any

from . import floors
from .stores import STORE_KINDS, StoreTarget, target, unavailable
from .table import Row, ms, ratio, skipped, us
from .timing import per_call, percentile

SECTION = "store"
# Progress values carry the time they were written: v = (t - t0) / SPAN keeps sub-microsecond resolution in a
# float, so a reader can tell how old the value it sees is without sharing a clock channel with the writer.
SPAN = 1000.0


def _ctx() -> Any:
    return mp.get_context("spawn")  # never fork a process that runs store threads


# ---------------------------------------------------------------------- child processes


def staleness_reader(tgt: StoreTarget, job_id: str, t0: float, duration: float, conn: Any) -> None:
    """Poll the job from another process; send back how old each value seen was (seconds)."""
    store = tgt.open()
    try:
        conn.send("ready")
        conn.recv()  # the writer has started
        time.sleep(0.2)  # past the writer's first write and warm-up
        samples = []
        end = time.monotonic() + duration
        while time.monotonic() < end:
            job = store.require_job(job_id, messages=False)
            samples.append(time.time() - (t0 + job.progress * SPAN))
            time.sleep(0.002)
        conn.send(samples)
    finally:
        store.close()


def abort_requester(tgt: StoreTarget, conn: Any) -> None:
    """For each job id received: wait a little, request its abort, send back when the request was made."""
    store = tgt.open()
    try:
        conn.send("ready")
        while True:
            item = conn.recv()
            if item is None:
                return
            job_id, delay = item
            time.sleep(delay)
            requested = time.time()
            store.request_abort(job_id, "benchmark")
            conn.send(requested)
    finally:
        store.close()


# ---------------------------------------------------------------------- measurements


def _progress_per_call(store: Any, n: int, pipeline: bool, large: bool = False) -> float:
    from jobdeck import PipelineController

    job = store.create_job("bench-progress", "bench")
    ctl = PipelineController(job.id, store)
    if large:
        # 2,000 operations: the tree published with the progress (every 0.2 s) is a bounded 200-node snapshot.
        ctl.initialize_pipeline([f"op{i}" for i in range(200)])
        for i in range(200):
            ctl.define_sub_operations(f"op{i}", [f"part{j}" for j in range(10)])
        ctl.progress(0.5)
    elif pipeline:
        ctl.initialize_pipeline(["load", ("process", 10), "save"])
        ctl.define_sub_operations("load", ["fetch", "parse"])
        ctl.progress(0.5)  # land on a sub-operation: the deepest path
    result = per_call(ctl.progress, n)
    store.flush()
    ctl.complete()
    return result


def _check_abort_per_call(store: Any, n: int) -> float:
    from jobdeck import PipelineController

    job = store.create_job("bench-abort", "bench")
    ctl = PipelineController(job.id, store)
    result = per_call(lambda _: ctl.check_abort(), n)
    ctl.complete()
    return result


def _staleness(tgt: StoreTarget, store: Any, duration: float) -> tuple[float, list[float], float]:
    """Amortised seconds per progress() call over ``duration`` with a reader in another process, the reader's
    staleness samples, and the progress writes per second that reached the store meanwhile (its change log has
    one progress event per write)."""
    from jobdeck import PipelineController
    from jobdeck.core.events import EventType

    job = store.create_job("bench-staleness", "bench")
    ctl = PipelineController(job.id, store)
    t0 = time.time()
    ctl.progress(0.0)
    store.flush()
    cursor = store.read_events().cursor
    parent, child = _ctx().Pipe()
    reader = _ctx().Process(target=staleness_reader, args=(tgt, job.id, t0, duration - 0.4, child), daemon=True)
    reader.start()
    try:
        if not parent.poll(30) or parent.recv() != "ready":
            raise RuntimeError("staleness reader did not start")
        parent.send("go")
        calls = 0
        start = time.perf_counter()
        end = time.monotonic() + duration
        clock = time.time
        progress = ctl.progress
        while time.monotonic() < end:
            for _ in range(200):
                progress((clock() - t0) / SPAN)
            calls += 200
        elapsed = time.perf_counter() - start
        samples = parent.recv() if parent.poll(10) else []
    finally:
        reader.join(5)
        if reader.is_alive():
            reader.kill()
    ctl.complete()
    writes = 0
    while True:
        batch = store.read_events(cursor)
        if batch.reset or not batch.events:
            break
        writes += sum(1 for e in batch.events if e.type is EventType.PROGRESS and e.job_id == job.id)
        cursor = batch.cursor
    return elapsed / calls, samples, writes / elapsed


def _abort_latency(tgt: StoreTarget, store: Any, trials: int) -> list[float]:
    """Seconds from another process requesting an abort to check_abort() raising, per trial."""
    from jobdeck import AbortError, PipelineController

    parent, child = _ctx().Pipe()
    proc = _ctx().Process(target=abort_requester, args=(tgt, child), daemon=True)
    proc.start()
    delays = []
    try:
        if not parent.poll(30) or parent.recv() != "ready":
            raise RuntimeError("abort requester did not start")
        for i in range(trials):
            job = store.create_job("bench-abort-latency", "bench")
            ctl = PipelineController(job.id, store)
            parent.send((job.id, 0.05 + 0.01 * (i % 5)))
            deadline = time.monotonic() + 5.0
            noticed = None
            while time.monotonic() < deadline:
                try:
                    for _ in range(100):
                        ctl.check_abort()
                except AbortError:
                    noticed = time.time()
                    break
            requested = parent.recv()
            delays.append((noticed - requested) if noticed is not None else float("inf"))
            store.mark_aborted(job.id)
        parent.send(None)
    finally:
        proc.join(5)
        if proc.is_alive():
            proc.kill()
    return delays


def _info_throughput(tgt: StoreTarget, store: Any, duration: float) -> dict[str, Any]:
    """Messages/s of controller.info() sustained for ``duration``, and whether every kept message is stored."""
    from jobdeck import PipelineController

    cap = store.max_messages
    job = store.create_job("bench-info", "bench")
    ctl = PipelineController(job.id, store)
    sent = 0
    start = time.perf_counter()
    end = time.monotonic() + duration
    while time.monotonic() < end:
        for _ in range(100):
            ctl.info(f"message {sent}")
            sent += 1
    store.flush()
    elapsed = time.perf_counter() - start
    # Below the cap too: a store that batches messages must keep each one.
    small = store.create_job("bench-info-small", "bench")
    small_ctl = PipelineController(small.id, store)
    few = max(1, cap // 2)
    for i in range(few):
        small_ctl.info(f"message {i}")
    store.flush()
    # Read back through a second store object (another connection): what other processes would see.
    reader = tgt.open() if tgt.kind != "memory" else store
    try:
        big = [m.message for m in reader.require_job(job.id).info_messages]
        little = [m.message for m in reader.require_job(small.id).info_messages]
    finally:
        if reader is not store:
            reader.close()
    expected_big = [f"message {i}" for i in range(max(0, sent - cap), sent)]
    expected_little = [f"message {i}" for i in range(few)]
    ctl.complete()
    small_ctl.complete()
    return {"rate": sent / elapsed, "sent": sent, "stored": len(big), "cap": cap,
            "exact": big == expected_big and little == expected_little}


def _batch_cost(store: Any, size: int, repeats: int) -> float:
    """Median seconds of the store's write of one flushed batch: ``size`` messages of one job, each with its
    event (what the message buffer's thread hands the backend every few milliseconds)."""
    import statistics

    from jobdeck.core.model import JobMessage, MessageType

    job = store.create_job("bench-batch", "bench")
    store.add_info_message(job.id, "first")  # written at once: the job is known to exist from here on
    samples = []
    for r in range(repeats):
        batch = [(job.id, JobMessage(MessageType.INFO, f"batch {r} message {i}: 312 tokens", time.time()))
                 for i in range(size)]
        start = time.perf_counter()
        store._write_messages(batch)
        samples.append(time.perf_counter() - start)
    store.complete_job(job.id)
    return statistics.median(samples)


# ---------------------------------------------------------------------- the section


def run(quick: bool) -> list[Row]:
    n = 20_000 if quick else 100_000
    rows: list[Row] = []
    floor = floors.lock_dict_floor(n)
    read_floor = floors.lock_dict_read_floor(n)
    rows.append(Row(SECTION, "floor: dict update under threading.Lock", jobdeck="", baseline=us(floor),
                    values={"floor_s": floor}))
    for kind in STORE_KINDS:
        why = unavailable(kind)
        if why:
            rows.append(skipped(SECTION, f"{kind}: progress / info / check_abort", why))
            continue
        try:
            rows.extend(_run_store(kind, quick, n, floor, read_floor))
        except Exception as exc:  # a store that breaks under load is a finding, not a crash of the suite
            rows.append(Row(SECTION, f"{kind}: store benchmarks", passed=False,
                            note=f"error: {type(exc).__name__}: {exc}"))
    return rows


def _redis() -> str:
    from .timing import redis_url

    return redis_url()


def _run_store(kind: str, quick: bool, n: int, floor: float, read_floor: float) -> list[Row]:
    rows = []
    with target(kind) as tgt:
        store = tgt.open()
        try:
            # In the job's loop, every store against the same floor: queueing a value costs what a dict update
            # does, give or take; a call that wrote or read the store would cost 50-300x it.
            ref, ref_name, bound, read_ref = floor, "lock+dict", 10.0, read_floor
            in_loop = "" if kind == "memory" else " in the job's loop (queued; the buffer's thread writes)"
            fails = ("fails when a call waits for the store (a write or a read per call, or a lock a write holds)"
                     if kind != "memory" else "fails when the store's own bookkeeping per call grows")
            for pipeline, large in ((False, False), (True, False), (True, True)):
                cost = _progress_per_call(store, n if kind == "memory" else n // 2, pipeline, large)
                label = ("with a 2,000-operation pipeline (its tree published)" if large else
                         "with pipeline" if pipeline else "no pipeline")
                rows.append(Row(SECTION, f"{kind}: controller.progress(v){in_loop}, {label}", us(cost),
                                f"{us(ref)} {ref_name}", ratio(cost, ref), f"<= {bound:g}x", cost / ref <= bound,
                                note=fails, values={"per_call_s": cost, "baseline_s": ref}))
            if kind != "memory":
                per, samples, landed = _staleness(tgt, store, 1.5 if quick else 5.0)
                p99 = percentile(samples, 99)
                window = store._progress.interval
                promised = 1 / window
                rows.append(Row(SECTION, f"{kind}: progress writes reaching the store, job calling progress() "
                                         "as fast as it can", f"{landed:,.1f} writes/s",
                                f"{promised:,.0f}/s (one per {window * 1000:.0f} ms window)",
                                ratio(landed, promised), "0.5-1.2x", 0.5 * promised <= landed <= 1.2 * promised,
                                note=f"the job made {1 / per:,.0f} calls/s; fails when values wait longer than "
                                     "the window (writes stall) or coalescing breaks (the store takes every call)",
                                values={"writes_per_s": landed, "calls_per_s": 1 / per, "window_s": window}))
                rows.append(Row(SECTION, f"{kind}: freshness, age of the stored value read by another process "
                                         "(p99)", ms(p99), "", "", "<= 100 ms", bool(samples) and p99 <= 0.1,
                                note=f"{len(samples)} reads, max {ms(max(samples)) if samples else '-'}; fails when "
                                     "writes lag (a slow store, a stalled writer thread, a window too wide)",
                                values={"p99_s": p99, "samples": len(samples)}))
                raw = floors.raw_batch(kind, tgt, 100, 5 if quick else 20)
                cost = _batch_cost(store, 100, 5 if quick else 20)
                rows.append(Row(SECTION, f"{kind}: one flushed batch of 100 messages with their events", ms(cost),
                                f"{ms(raw)} raw {'INSERTs+COMMIT' if kind == 'sqlite' else 'MULTI pipeline'}",
                                ratio(cost, raw), "<= 3x", cost <= 3 * raw,
                                note="fails when the store writes per message or its encoding costs more than "
                                     "the write", values={"batch_s": cost, "raw_s": raw}))
            info = _info_throughput(tgt, store, 1.0 if quick else 3.0)
            ok = info["rate"] >= 10_000 and info["exact"] and info["stored"] == min(info["sent"], info["cap"])
            rows.append(Row(SECTION, f"{kind}: controller.info(msg) sustained", f"{info['rate']:,.0f} msg/s", "",
                            "", ">= 10,000/s, stored = min(sent, cap)", ok,
                            note=f"sent {info['sent']:,}, stored {info['stored']:,} (cap {info['cap']}), "
                                 f"{'every kept message in order' if info['exact'] else 'MESSAGES LOST OR REORDERED'}",
                            values=info))
            cost = _check_abort_per_call(store, n if kind == "memory" else n // 2)
            cached = "" if kind == "memory" else " (cached status)"
            rows.append(Row(SECTION, f"{kind}: check_abort() tight loop{cached}", us(cost),
                            f"{us(read_ref)} lock+dict read", ratio(cost, read_ref), f"<= {bound:g}x",
                            cost / read_ref <= bound,
                            note="fails when a call reads the store (the status cache is what keeps it cheap)",
                            values={"per_call_s": cost, "baseline_s": read_ref}))
            if kind != "memory":
                delays = _abort_latency(tgt, store, 5 if quick else 20)
                worst = max(delays)
                rows.append(Row(SECTION, f"{kind}: abort from another process noticed (max)", ms(worst), "", "",
                                "<= 250 ms", worst <= 0.25,
                                note=f"{len(delays)} trials, median {ms(sorted(delays)[len(delays) // 2])}",
                                values={"delays_s": delays}))
        finally:
            store.close()
    return rows
