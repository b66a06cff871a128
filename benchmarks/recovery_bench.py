"""Recovery (section ``recovery``): what a resume saves, what saving costs a hot loop, how late a retry starts
(locally and on Celery and procrastinate workers).

- resume: a 24-operation job (each operation 50 ms of sleep, standing in for paid work such as an LLM
  call) that fails at operation 20 and is resumed with ``runner.resume``: the resumed run's time and handler calls
  beside a full run of the same job in the same run, on every store. Target: at most 1/4 of the full run's time
  (operations 1-19 are reused and 5 of 24 run again: 5/24 = 0.21, so the fixed cost of a resume may be at most
  one operation's work).
- the hot loop: ``ctl.is_done(op)`` and ``ctl.saved(key)`` beside ``ctl.progress(v)`` on the same store (target
  <= 1x: both answer from what the run loaded once); ``ctl.save(key, value)``, written at once and durably, beside
  one raw durable write of that store (target <= 3x; memory: <= 10x ``progress()``), and with 1,000 values saved
  beside with 10 (target <= 1.5x: a save costs the same however much the job saved).
- retry latency: from a retry's due time (the job's ``retryAt``) to its handler running again, p50/p99, with the
  local executor, beside a fresh start's latency (``start()`` to the handler) in the same run. Target: p99 <=
  100 ms; the runner's supervision wakes for the earliest due retry it knows of, where its heartbeat (10 s by
  default) would make it seconds late.
- the same on each engine: a real ``jobdeck serve`` and two ``jobdeck worker`` processes (SQLite store) on Celery
  (private Redis broker) and on procrastinate (a fresh PostgreSQL database), deployed by the executor and
  procrastinate sections' helpers with ``benchmarks.recovery_jobs``' types: a job whose first attempt raises
  ``RetryLater(0.5)``, its ``retryAt`` read from the store while it waits, its second attempt's handler writing
  the time it starts; beside the same engine's fresh dispatch (``POST /start`` to the handler), interleaved in
  the same run. Target: p99 <= the fresh dispatch's p99 + 100 ms, the supervision's wake-up granularity: the
  process that scheduled the retry (the worker that ran the failed attempt) waits on an event until the due time
  (sub-millisecond on Linux), then one round reads the active jobs, claims the hand-off and sends the attempt to
  the engine (a few ms; 100 ms leaves room for a loaded machine). It fails if the attempt is handed over only
  at a heartbeat round (up to 10 s by default): what happens when the wake-up is lost, or when the process that
  scheduled the retry is gone and another one must find it.
"""

from __future__ import annotations

import contextlib
import itertools
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from . import floors
from .stores import STORE_KINDS, StoreTarget, target, unavailable
from .table import Row, ms, ratio, skipped, us
from .timing import per_call, percentile, redis_url

SECTION = "recovery"
OPERATIONS = 24
FAIL_AT = 20
ENGINE_TRIALS = {True: 6, False: 30}  # retries per engine (--quick, full); each waits 0.5 s for its due time
WAKE_GRANULARITY = 0.1  # the supervision's wake-up at a due time and its round (see the docstring)


def _ended(store: Any, job_id: str, timeout: float = 60.0) -> Any:
    """The job once it is terminal (a job waiting for its next attempt is still active)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if store.get_status(job_id).is_terminal:
            return store.require_job(job_id, messages=False)
        time.sleep(0.001)
    raise TimeoutError(f"job {job_id} did not end within {timeout} s")


@contextlib.contextmanager
def _targets() -> Iterator[list[tuple[str, StoreTarget | None, str | None]]]:
    """Every store kind: its target, or why it cannot run here. PostgreSQL gets a database of its own."""
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


# ---------------------------------------------------------------------- (a) resume beside a full run


def _resume_rows(kind: str, tgt: StoreTarget, quick: bool) -> list[Row]:
    from jobdeck import JobRunner

    work = 0.05  # a resume's fixed cost must stay below one operation's: --quick runs fewer rounds, not less work
    calls: list[str] = []
    provider = {"down": False}  # the failure at operation FAIL_AT: transient, over by the time of the resume

    def handler(ctl: Any) -> dict[str, int]:
        ctl.initialize_pipeline([f"op{i}" for i in range(1, OPERATIONS + 1)])
        for i in range(1, OPERATIONS + 1):
            op = f"op{i}"
            if ctl.is_done(op):
                continue
            calls.append(op)
            time.sleep(work)
            if i == FAIL_AT and provider["down"]:
                raise RuntimeError("503 Service Unavailable")
            ctl.save(f"out:{op}", {"operation": i, "text": "x" * 200})
            ctl.update_operation(op, 1.0)
        return {"operations": OPERATIONS}

    store = tgt.open()
    runner = JobRunner(store)
    runner.register("bench-resume", handler, max_concurrent=4)
    try:
        full_times, resumed_times, resumed_calls = [], [], []
        for _ in range(1 if quick else 3):
            calls.clear()
            start = time.perf_counter()
            job = runner.start("bench-resume", "bench")
            if _ended(store, job.id).status.value != "completed":
                raise RuntimeError("the full run did not complete")
            full_times.append(time.perf_counter() - start)
            full_calls = len(calls)

            provider["down"] = True
            failed = _ended(store, runner.start("bench-resume", "bench").id)
            provider["down"] = False
            if failed.status.value != "failed":
                raise RuntimeError(f"the failing run ended {failed.status.value}")
            calls.clear()
            start = time.perf_counter()
            resumed = runner.resume(failed.id, "bench")
            ended = _ended(store, resumed.id)
            resumed_times.append(time.perf_counter() - start)
            if ended.status.value != "completed":
                raise RuntimeError(f"the resumed run ended {ended.status.value}")
            resumed_calls.append(len(calls))
        full, resumed_s = min(full_times), min(resumed_times)  # the least disturbed of each on a shared machine
        done = OPERATIONS - max(resumed_calls)
        return [Row(SECTION, f"{kind}: {OPERATIONS}-operation job failed at {FAIL_AT}, resumed, beside a full run",
                    f"{ms(resumed_s)}, {max(resumed_calls)} calls", f"{ms(full)}, {full_calls} calls",
                    ratio(resumed_s, full), "<= 1/4", resumed_s <= full / 4 and max(resumed_calls) == 5,
                    note=f"{done} operations reused; each operation {ms(work)} of work; fails if a resumed run "
                         "redoes done operations (6 of 24 already pass 1/4) or a resume's fixed cost (create, copy "
                         "the saved values, load them) is more than one operation's work",
                    values={"full_s": full_times, "resumed_s": resumed_times, "resumed_calls": resumed_calls,
                            "full_calls": full_calls, "work_s": work})]
    finally:
        runner.shutdown(grace=5)
        store.close()


# ---------------------------------------------------------------------- (b) the hot loop


def _raw_write(kind: str, tgt: StoreTarget, quick: bool) -> tuple[float, str] | None:
    """One raw durable write of the store (seconds) and its name; None for memory."""
    if kind == "sqlite":
        return floors.sqlite_update_commit(None, 300 if quick else 1_000, "NORMAL"), "UPDATE+COMMIT NORMAL"
    if kind == "redis":
        hset = floors.redis_hset_round_trip(redis_url(), 1_000 if quick else 3_000)
        return (hset, "HSET RTT") if hset is not None else None
    if kind == "postgres":
        from .pg_bench import _raw_update_commit

        return _raw_update_commit(tgt.url, 200 if quick else 500, True), "UPDATE+COMMIT"
    return None


def _save_per_call(store: Any, already: int, n: int) -> float:
    """Seconds per ``ctl.save(key, 0.1 KB)`` (8 keys in turn) on a job that has ``already`` other values saved."""
    from jobdeck import PipelineController

    job = store.create_job("bench-save", "bench")
    ctl = PipelineController(job.id, store)
    value = {"text": "x" * 100, "tokens": 1234}
    for i in range(already):
        ctl.save(f"earlier:{i}", value)
    keys = [f"out:op{i}" for i in range(8)]
    counter = itertools.count()
    result = per_call(lambda _: ctl.save(keys[next(counter) & 7], value), n, repeats=3)
    ctl.complete()
    return result


def _hot_loop_rows(kind: str, tgt: StoreTarget, quick: bool) -> list[Row]:
    from jobdeck import PipelineController

    fast_n = (20_000 if quick else 100_000) if kind == "memory" else (10_000 if quick else 50_000)
    save_n = (2_000 if quick else 10_000) if kind == "memory" else (200 if quick else 1_000)
    many = 1_000  # 150 KB of saved values, well within the 1 MiB bound
    store = tgt.open()
    try:
        job = store.create_job("bench-saved", "bench")
        ctl = PipelineController(job.id, store)
        ctl.initialize_pipeline([f"op{i}" for i in range(100)])
        for i in range(50):
            ctl.update_operation(f"op{i}", 1.0)  # half of them done: what is_done() looks up
        ctl.save("answer", {"text": "x" * 100})
        progress = per_call(ctl.progress, fast_n)
        is_done = per_call(lambda _: ctl.is_done("op25"), fast_n)
        saved = per_call(lambda _: ctl.saved("answer"), fast_n)
        store.flush()
        ctl.complete()
        few_s = _save_per_call(store, 10, save_n)
        many_s = _save_per_call(store, many, save_n)
    finally:
        store.close()
    rows = [
        Row(SECTION, f"{kind}: ctl.is_done(op) beside ctl.progress(v)", us(is_done), f"{us(progress)} progress()",
            ratio(is_done, progress), "<= 1x", is_done <= progress,
            note="fails if is_done() reads the store per call instead of what the run loaded once",
            values={"is_done_s": is_done, "progress_s": progress}),
        Row(SECTION, f"{kind}: ctl.saved(key) beside ctl.progress(v)", us(saved), f"{us(progress)} progress()",
            ratio(saved, progress), "<= 1x", saved <= progress,
            note="fails if saved() reads (or decodes) the store's values per call",
            values={"saved_s": saved, "progress_s": progress}),
    ]
    if kind == "memory":
        rows.append(Row(SECTION, "memory: ctl.save(key, 0.1 KB), 10 values saved, beside ctl.progress(v)",
                        us(few_s), f"{us(progress)} progress()", ratio(few_s, progress), "<= 10x",
                        few_s <= 10 * progress,
                        note="a JSON check and encode and a size check per call, under the store's lock; fails if "
                             "a save costs more than that",
                        values={"save_s": few_s, "progress_s": progress}))
    else:
        raw = _raw_write(kind, tgt, quick)
        if raw is None:
            rows.append(skipped(SECTION, f"{kind}: ctl.save(key, 0.1 KB)", "no raw write floor"))
        else:
            floor, name = raw
            rows.append(Row(SECTION, f"{kind}: ctl.save(key, 0.1 KB), 10 values saved, beside one raw durable write",
                            us(few_s), f"{us(floor)} {name}", ratio(few_s, floor), "<= 3x", few_s <= 3 * floor,
                            note=f"progress() {us(progress)}: save() is written at once and durably, so it costs a "
                                 "write where progress() is coalesced; fails if it takes more than one round trip "
                                 "or commit",
                            values={"save_s": few_s, "floor_s": floor, "progress_s": progress}))
    rows.append(Row(SECTION, f"{kind}: ctl.save(key, 0.1 KB) with {many:,} values saved, beside with 10",
                    us(many_s), f"{us(few_s)} with 10", ratio(many_s, few_s), "<= 1.5x", many_s <= 1.5 * few_s,
                    note="fails if each save() sums the size of every value the job saved to check the 1 MiB bound "
                         "(O(values) per save: O(n^2) for a job that saves once per operation) instead of keeping "
                         "the job's total",
                    values={"many_s": many_s, "few_s": few_s, "many": many}))
    return rows


# ---------------------------------------------------------------------- (c) from a retry's due time to its handler


def _retry_rows(quick: bool) -> list[Row]:
    from jobdeck import JobRunner, MemoryStore, Retry, RetryLater

    trials = 12 if quick else 40
    store = MemoryStore()
    due: dict[str, float] = {}
    entered: dict[str, list[float]] = {}
    lock = threading.Lock()

    def observe(transition: Any) -> None:
        if transition.retried and transition.job.retry_at is not None:
            with lock:
                due[transition.job.id] = transition.job.retry_at

    def handler(ctl: Any, delay: float) -> None:
        with lock:
            runs = entered.setdefault(ctl.job_id, [])
            runs.append(time.time())
        if len(runs) == 1:
            raise RetryLater(delay, "benchmark: try again shortly")

    store.add_observer(observe)
    runner = JobRunner(store)  # the default heartbeat (10 s): only a wake-up at the due time makes it prompt
    runner.register("bench-retry", handler, retry=Retry(attempts=2, backoff=1, jitter=False))
    try:
        start_lat = _start_latencies(runner, store, trials)
        late = []
        for i in range(trials):
            job = runner.start("bench-retry", "bench", {"delay": 0.1 + 0.01 * (i % 5)})
            ended = _ended(store, job.id)
            runs = entered.get(job.id, [])
            if ended.status.value != "completed" or len(runs) != 2 or job.id not in due:
                raise RuntimeError(f"the retried job ended {ended.status.value} after {len(runs)} runs")
            late.append(runs[1] - due[job.id])
    finally:
        runner.shutdown(grace=5)
        store.close()
    p50, p99 = percentile(late, 50), percentile(late, 99)
    s50, s99 = percentile(start_lat, 50), percentile(start_lat, 99)
    return [Row(SECTION, "local: a retry's due time to its handler running (p50 / p99)", f"{ms(p50)} / {ms(p99)}",
                f"{ms(s50)} / {ms(s99)} start() to handler", ratio(p99, s99) if s99 > 0 else "n/a", "p99 <= 100 ms",
                p99 <= 0.1,
                note=f"{trials} retries due 0.10-0.14 s after their failure, memory store; fails if due retries are "
                     "found only at the supervision's heartbeat (10 s by default) instead of at their due time",
                values={"late_s": late, "start_s": start_lat})]


def _start_latencies(runner: Any, store: Any, trials: int) -> list[float]:
    """Seconds from ``runner.start()`` being called to the handler running, per trial."""
    entered: list[float] = []
    seen = threading.Event()

    def handler(ctl: Any) -> None:
        entered.append(time.time())
        seen.set()

    runner.register("bench-entry", handler)
    latencies = []
    for _ in range(trials):
        seen.clear()
        before = time.time()
        job = runner.start("bench-entry", "bench")
        if not seen.wait(10):
            raise RuntimeError("the handler did not run")
        latencies.append(entered[-1] - before)
        _ended(store, job.id)
    return latencies


# ---------------------------------------------------------------------- (d) the same on Celery and procrastinate


def _engine_samples(start: Callable[[str, dict[str, Any]], str], store: Any, tmp: Path,
                    trials: int) -> tuple[list[float], list[float]]:
    """Per trial, interleaved: seconds from ``POST /start`` to a probe's handler running (the engine's fresh
    dispatch), and from a retry's ``retryAt`` to its second attempt's handler running. The handlers write the
    times (``benchmarks.recovery_jobs``); the due time is read from the store while the job waits, since handing
    the attempt to the engine clears it."""
    from .procrastinate_bench import _lines, _wait
    from .recovery_jobs import PROBE, RETRY

    fresh, late = [], []
    for i in range(trials + 2):  # the first two warm connections, imports and first claims up
        marker = tmp / f"probe-{i}"
        sent = time.time()
        job_id = start(PROBE, {"marker": str(marker)})
        ran: list[float] = _wait(lambda m=marker: _lines(m), 30, "the probe's handler", interval=0.002)
        _ended(store, job_id, 30)
        marker = tmp / f"retry-{i}"
        job_id = start(RETRY, {"marker": str(marker), "delay": 0.5})
        due: float = _wait(lambda j=job_id: store.require_job(j, messages=False).retry_at, 30,
                           "the retry's due time", interval=0.002)
        runs: list[float] = _wait(lambda m=marker: len(_lines(m)) >= 2 and _lines(m), 30,
                                  "the retry's second attempt", interval=0.002)
        ended = _ended(store, job_id, 30)
        if ended.status.value != "completed" or len(runs) != 2:
            raise RuntimeError(f"the retried job ended {ended.status.value} after {len(runs)} runs")
        if i >= 2:
            fresh.append(ran[0] - sent)
            late.append(runs[1] - due)
    return late, fresh


def _engine_row(engine: str, late: list[float], fresh: list[float]) -> Row:
    p50, p99 = percentile(late, 50), percentile(late, 99)
    s50, s99 = percentile(fresh, 50), percentile(fresh, 99)
    return Row(SECTION, f"{engine}: a retry's due time to its handler running (p50 / p99)", f"{ms(p50)} / {ms(p99)}",
               f"{ms(s50)} / {ms(s99)} POST /start to handler", ratio(p99, s99),
               f"p99 <= baseline p99 + {ms(WAKE_GRANULARITY)}", p99 <= s99 + WAKE_GRANULARITY,
               note=f"{len(late)} retries (RetryLater(0.5)) interleaved with {len(fresh)} fresh starts; jobdeck serve "
                    "and 2 jobdeck workers, SQLite store; fails if the attempt is handed to the engine later than "
                    "the supervision's wake-up at its due time (e.g. only at a heartbeat round, seconds late)",
               values={"late_s": late, "start_s": fresh})


def _celery_rows(quick: bool) -> list[Row]:
    import os
    import shutil

    from . import executor_bench as eb

    binary = shutil.which("redis-server")
    if binary is None:
        return [skipped(SECTION, "celery: retry latency", "no redis-server for a private broker")]
    try:
        import celery  # noqa: F401
        import redis
    except ImportError as exc:
        return [skipped(SECTION, "celery: retry latency", f"{exc} (pip install 'jobdeck[celery]')")]
    with tempfile.TemporaryDirectory(prefix="jobdeck-bench-retry-celery-") as folder:
        tmp = Path(folder)
        procs = eb._Procs(tmp)
        port = eb._free_port()
        broker = f"redis://127.0.0.1:{port}/0"
        env = {k: v for k, v in os.environ.items() if not k.startswith("JOBDECK_")}
        env.update(PYTHONPATH=str(eb.ROOT))
        try:
            procs.start("redis", [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                  "--appendonly", "no"], env)
            eb._wait(lambda: eb._ping(redis.Redis.from_url(broker)), 10, "the broker")
            http, store = eb._deploy(procs, "SQLite", f"sqlite:///{tmp / 'jobs.db'}", broker, env,
                                     app_spec="benchmarks.recovery_jobs:build")

            def start(job_type: str, params: dict[str, Any]) -> str:
                answer = http.post("/start", json={"jobType": job_type, "params": params})
                answer.raise_for_status()
                return str(answer.json()["id"])

            try:
                late, fresh = _engine_samples(start, store, tmp, ENGINE_TRIALS[quick])
            finally:
                http.close()
                store.close()
        finally:
            procs.close()

    return [_engine_row("Celery (Redis broker)", late, fresh)]


def _procrastinate_rows(quick: bool) -> list[Row]:
    from .pg_bench import database
    from .procrastinate_bench import _Deck, _unavailable

    why = _unavailable()
    if why:
        return [skipped(SECTION, "procrastinate: retry latency", why)]
    import psycopg
    from procrastinate.schema import SchemaManager

    with database() as dsn, tempfile.TemporaryDirectory(prefix="jobdeck-bench-retry-procr-") as folder:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(SchemaManager.get_schema())  # type: ignore[arg-type]
        deck = _Deck(Path(folder), dsn, app="benchmarks.recovery_jobs:build")
        try:
            def start(job_type: str, params: dict[str, Any]) -> str:
                answer = deck.client.post("/start", json={"jobType": job_type, "params": params})
                answer.raise_for_status()
                return str(answer.json()["id"])

            late, fresh = _engine_samples(start, deck.store, Path(folder), ENGINE_TRIALS[quick])
        finally:
            deck.close()
    return [_engine_row("procrastinate", late, fresh)]


# ---------------------------------------------------------------------- the section


def _guarded(kind: str, what: str, part: Callable[[], list[Row]]) -> list[Row]:
    try:
        return part()
    except Exception as exc:  # one broken store must not hide the others' figures
        return [Row(SECTION, f"{kind}: {what}", passed=False, note=f"error: {type(exc).__name__}: {exc}")]


def run(quick: bool) -> list[Row]:
    try:
        from jobdeck import Retry, RetryLater  # noqa: F401
    except ImportError as exc:
        return [skipped(SECTION, "(section)", f"this jobdeck has no retries yet ({exc})")]
    rows: list[Row] = []
    with _targets() as found:
        for kind, tgt, why in found:
            if tgt is None:
                rows.append(skipped(SECTION, f"{kind}: resume, save / is_done", why or "unavailable"))
                continue
            if quick and kind in ("redis", "postgres"):  # ~2.5 s each of the quick suite's two minutes
                rows.append(skipped(SECTION, f"{kind}: resume beside a full run", "full run only (the memory and "
                                    "SQLite rows measure the same resume in --quick)"))
            else:
                rows.extend(_guarded(kind, "resume", lambda: _resume_rows(kind, tgt, quick)))  # noqa: B023
            rows.extend(_guarded(kind, "save / is_done", lambda: _hot_loop_rows(kind, tgt, quick)))  # noqa: B023
    rows.extend(_guarded("local", "retry latency", lambda: _retry_rows(quick)))
    if quick:  # deploying two engines costs ~25 s; the whole --quick suite must stay under 2 minutes
        for engine in ("Celery", "procrastinate"):
            rows.append(skipped(SECTION, f"{engine}: retry latency", "full run only (python -m benchmarks --only "
                                "recovery); --quick measures the local executor's retries"))
        return rows
    rows.extend(_guarded("Celery", "retry latency", lambda: _celery_rows(quick)))
    rows.extend(_guarded("procrastinate", "retry latency", lambda: _procrastinate_rows(quick)))
    return rows
