"""Schedules (section ``schedules``): how promptly a due occurrence becomes a job, with several processes racing
for it; 1,000 schedules due at once; what the scheduler costs a server that has nothing to do.

Every process here is a real one: ``python -m benchmarks.schedule_bench child URL`` opens the store, registers a
job type whose handler returns at once, and starts the runner's supervision as ``jobdeck serve`` and ``jobdeck
worker`` do (the loop that fires schedules); the parent defines schedules in the store and reads what became of
them. Each store gets a fresh location (SQLite file, Redis key prefix, PostgreSQL database).

- precision: a schedule every second, fired by 1, then 2, then 4 processes on the same store (SQLite, Redis and
  PostgreSQL, one after the other; --quick: SQLite with 1 and 2), four occurrences each (--quick: three): the time
  from each occurrence's due time to its job's creation (``queuedTime - runAt``), p50/p99, beside a plain
  ``create_job`` on the same store in the same run. Target: p99 <= the create's p99 + 100 ms, the supervision's
  wake-up granularity (it waits on an event until the earliest due time, then one round claims, creates and records;
  100 ms leaves room for a loaded machine). Every occurrence in the window must start exactly once: a doubled or
  missing one fails the row, whatever the times. It fails if an occurrence waits for a heartbeat round (10 s) rather
  than its due time, or if the processes' race costs more than the store's compare-and-set.
- 1,000 schedules of one type due at the same instant, two processes, SQLite (--quick: 100): each fires once (its
  ``started`` count is 1 and one job carries its id), none twice; the time from the due instant to the last job
  started, beside as many one-off jobs due at one instant (``run_at``) started by the same two processes in the
  same run. Target: <= 4x (an occurrence adds a claim, a record and the create to what a due job costs); it fails
  if firing one schedule reads what grows with the others (O(n^2)), if one fires twice or not at all, or if not
  all have started within BURST_CAP seconds of the due instant (the section's time budget).
- idle cost: one process each, nothing due (schedules every day), with 0, 10 and 1,000 schedules, measured over
  one window while the rows above run: CPU seconds per minute of the process and schedule records read per
  minute, beside the process with no schedule. Target: with 1,000 schedules at most 1 CPU-second per minute (under
  2% of a core) and as many reads of the schedule list as with none (one per supervision round); it fails if an
  idle scheduler polls faster than its heartbeat, or reads each schedule on its own.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .stores import StoreTarget, target, unavailable
from .table import Row, ms, ratio, skipped
from .timing import percentile

SECTION = "schedules"
TYPE = "bench-tick"
WAKE_GRANULARITY = 0.1  # see the docstring: the supervision's wake-up at a due time and its round
READY_TIMEOUT = 60.0
BURST_CAP = 40.0  # seconds after the due instant: the burst row waits no longer (the section's time budget)


# ---------------------------------------------------------------------- the child process


def _child(url: str, count_reads: bool) -> None:
    """A process that runs jobs of ``TYPE`` and fires their schedules; answers ``stats`` and ``stop`` on stdin."""
    from jobdeck import JobRunner, open_store

    store = open_store(url, max_past_jobs=100_000)
    reads = {"lists": 0, "records": 0}
    if count_reads:
        steps = store._schedule_steps()
        read_all, read_one = steps.read_all, steps.read

        def counted_all() -> Any:
            found = read_all()
            reads["lists"] += 1
            reads["records"] += len(found)
            return found

        def counted_one(schedule_id: str) -> Any:
            reads["records"] += 1
            return read_one(schedule_id)

        store._schedule_steps = lambda: steps  # type: ignore[method-assign]
        steps.read_all, steps.read = counted_all, counted_one  # type: ignore[method-assign]
    runner = JobRunner(store)
    runner.register(TYPE, lambda ctl: None, max_concurrent=5000)
    runner.start_supervisor()
    print("ready", flush=True)
    for line in sys.stdin:
        if line.strip() == "stats":
            print(json.dumps({"cpu": time.process_time(), **reads}), flush=True)
        elif line.strip() == "stop":
            break
    runner.shutdown(grace=5)
    store.close()


class Child:
    """One child process (see :func:`_child`); ``stop()`` ends it."""

    def __init__(self, url: str, count_reads: bool = False) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.schedule_bench", "child", url, "1" if count_reads else "0"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
            cwd=Path(__file__).resolve().parent.parent)

    def ready(self) -> Child:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if line.strip() != "ready":
            raise RuntimeError(f"a schedule child did not start (exit {self.proc.poll()})")
        return self

    def stats(self) -> dict[str, float]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write("stats\n")
        self.proc.stdin.flush()
        answer: dict[str, float] = json.loads(self.proc.stdout.readline())
        return answer

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                assert self.proc.stdin is not None
                self.proc.stdin.write("stop\n")
                self.proc.stdin.flush()
                self.proc.wait(timeout=20)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()


@contextlib.contextmanager
def children(url: str, n: int, count_reads: bool = False) -> Iterator[list[Child]]:
    started = [Child(url, count_reads) for _ in range(n)]
    try:
        yield [c.ready() for c in started]
    finally:
        for c in started:
            c.stop()


# ---------------------------------------------------------------------- helpers


def _add(store: Any, schedule_id: str, every: float, anchor: float, job_type: str = TYPE) -> None:
    from jobdeck.core.schedule import ScheduleSpec
    from jobdeck.core.schedule_state import Schedule

    spec = ScheduleSpec.build(schedule_id, job_type, every=every, anchor=anchor)
    if not store.add_schedule(Schedule.new(spec, "admin", "bench", time.time())):
        raise RuntimeError(f"schedule {schedule_id} exists")


def _jobs(store: Any) -> list[Any]:
    return [*store.get_active_jobs(TYPE, messages=False),
            *store.get_past_jobs(TYPE, limit=100_000, messages=False)]


def _create_baseline(store: Any, n: int) -> list[float]:
    """Seconds per plain ``create_job`` (queued, as a schedule's job is) on ``store``, ``n`` of them."""
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        store.create_job("bench-baseline", "bench", {}, queued=True)
        samples.append(time.perf_counter() - start)
    return samples


def _until(condition: Any, deadline: float) -> bool:
    """Whether ``condition()`` held before ``deadline`` (POSIX seconds)."""
    while not condition():
        if time.time() > deadline:
            return False
        time.sleep(0.2)
    return True


def _wait(what: str, condition: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} within {timeout:g} s")
        time.sleep(0.2)  # the reads are the parent's: few, so that they do not weigh on what is measured


@contextlib.contextmanager
def _shared_targets(quick: bool) -> Iterator[list[tuple[str, StoreTarget | None, str | None]]]:
    """The stores several processes share: SQLite, Redis, PostgreSQL (--quick: SQLite only)."""
    from .pg_bench import _unavailable as pg_unavailable
    from .pg_bench import database

    with contextlib.ExitStack() as stack:
        found: list[tuple[str, StoreTarget | None, str | None]] = []
        for kind in ("sqlite",) if quick else ("sqlite", "redis"):
            why = unavailable(kind)
            found.append((kind, None if why else stack.enter_context(target(kind)), why))
        if not quick:
            why = pg_unavailable()
            found.append(("postgres", None if why else StoreTarget("postgres", stack.enter_context(database()), {}),
                          why))
        yield found


# ---------------------------------------------------------------------- (a) precision


def _precision_rows(kind: str, tgt: StoreTarget, quick: bool) -> list[Row]:
    url = tgt.command_line_url()
    store = tgt.open(max_past_jobs=100_000)
    rows: list[Row] = []
    running: list[Child] = []
    try:
        base = _create_baseline(store, 50 if quick else 200)
        base_p50, base_p99 = percentile(base, 50), percentile(base, 99)
        occurrences = 3 if quick else 4
        # One schedule, every second, defined before any process runs: each reads it at its first round (one
        # added later is seen only at a process's next heartbeat round, as another process's definition is).
        sid = f"bench-every-{uuid.uuid4().hex[:6]}"
        _add(store, sid, 1.0, float(int(time.time())))
        for n in (1, 2) if quick else (1, 2, 4):
            joining = [Child(url) for _ in range(n - len(running))]
            running += [c.ready() for c in joining]  # more processes join the ones already firing
            first = float(int(time.time()) + 1)  # the window: whole seconds once all n have read the schedule
            last = first + occurrences - 1
            _wait(f"{occurrences} occurrences of {sid}", lambda end=last: any(
                j.run_at is not None and j.run_at >= end for j in _jobs(store) if j.schedule_id == sid),
                occurrences + 30)
            jobs = [j for j in _jobs(store) if j.schedule_id == sid and j.run_at is not None
                    and first <= j.run_at <= last]
            per_occurrence: dict[float, int] = {}
            for j in jobs:
                per_occurrence[j.run_at] = per_occurrence.get(j.run_at, 0) + 1
            doubled = sum(1 for count in per_occurrence.values() if count > 1)
            missing = occurrences - len(per_occurrence)
            delays = [max(0.0, j.queued_time - j.run_at) for j in jobs if j.queued_time is not None]
            p50, p99 = percentile(delays, 50), percentile(delays, 99)
            bound = base_p99 + WAKE_GRANULARITY
            rows.append(Row(
                SECTION, f"{kind}: due -> job created, p50 / p99, {n} process{'es' if n > 1 else ''} firing",
                f"{ms(p50)} / {ms(p99)}", f"create_job {ms(base_p50)} / {ms(base_p99)}", ratio(p99, base_p99),
                f"p99 <= {ms(bound)}", p99 <= bound and not doubled and not missing,
                note=f"{len(per_occurrence)} of {occurrences} occurrences (every 1 s) started, {doubled} doubled, "
                     f"{missing} missing; fails if an occurrence waits for a heartbeat round (10 s) instead of "
                     "its due time, or starts twice or not at all",
                values={"p50": p50, "p99": p99, "base_p50": base_p50, "base_p99": base_p99, "processes": n,
                        "doubled": doubled, "missing": missing}))
    finally:
        for c in running:
            c.stop()
        store.close()
    return rows


# ---------------------------------------------------------------------- (b) 1,000 due at once


def _burst_rows(kind: str, tgt: StoreTarget, quick: bool) -> list[Row]:
    count = 100 if quick else 1000
    url = tgt.command_line_url()
    store = tgt.open(max_past_jobs=100_000)
    try:
        # The baseline: as many one-off jobs due at one instant (``run_at``), started by the same two processes.
        # They take the path a schedule's job takes once created (a due job, claimed and run once), without the
        # schedule's own steps: the claim of the occurrence, the create, the record.
        due = _due_after(count, lambda: store.create_job("bench-probe", "bench", {}, run_at=time.time() + 3600))
        plain = [store.create_job(TYPE, "bench", {}, run_at=due).id for _ in range(count)]
        with children(url, 2):
            late_base = time.time() > due
            _wait(f"{count} one-off jobs to start", lambda: not _queued(store), 120 + count / 10)
        plain_ids = set(plain)
        base = max(j.start_time for j in _jobs(store) if j.id in plain_ids) - due

        ids = [f"bench-burst-{i:04d}" for i in range(count)]
        due = _due_after(count, lambda: _add(store, f"bench-probe-{uuid.uuid4().hex}", 86400.0, 0.0, "bench-probe"))
        for sid in ids:
            _add(store, sid, 86400.0, due)
        with children(url, 2):
            late = time.time() > due - 0.3
            # Bounded, so that the section keeps to its time: what has not fired by then fails the row.
            finished = _until(lambda: not _queued(store) and sum(
                1 for s in store.schedules() if s.started and s.pending is None) >= count, due + BURST_CAP)
            time.sleep(0.5)  # a doubled occurrence would show by now
        jobs = [j for j in _jobs(store) if j.schedule_id]
        per_schedule: dict[str, int] = {}
        for j in jobs:
            per_schedule[j.schedule_id] = per_schedule.get(j.schedule_id, 0) + 1
        records = {s.id: s for s in store.schedules()}
        doubled = sum(1 for n in per_schedule.values() if n > 1)
        unfired = sum(1 for sid in ids if per_schedule.get(sid, 0) == 0)
        counted_once = sum(1 for sid in ids if records[sid].started == 1)
        created = max((j.queued_time for j in jobs if j.queued_time is not None), default=due) - due
        elapsed = (max((j.start_time for j in jobs), default=due) - due) if finished else BURST_CAP
        ok = (finished and not doubled and not unfired and counted_once == count and not late and not late_base
              and elapsed <= 4 * base)
        return [Row(
            SECTION, f"{kind}: {count:,} schedules due at the same instant, 2 processes: due -> last job started",
            f"{ms(elapsed)} (last created {ms(created)})" if finished else f"not all within {BURST_CAP:g} s",
            f"{count:,} one-off jobs due at once {ms(base)}",
            ratio(elapsed, base), "<= 4x", ok,
            note=f"{len(per_schedule)} of {count} fired, {doubled} twice, {unfired} not at all; started count 1 on "
                 f"{counted_once}"
                 f"{'; the processes were not ready by the due time' if late or late_base else ''}; an occurrence "
                 "adds a claim and a record (two compare-and-sets) and the create to what a due job costs; fails "
                 "if firing one schedule re-reads the others (O(n^2)), or one fires twice or not at all",
            values={"elapsed": elapsed, "created": created, "baseline": base, "count": count, "doubled": doubled,
                    "unfired": unfired})]
    finally:
        store.close()


def _due_after(count: int, probe: Any) -> float:
    """A due instant far enough ahead for ``count`` calls like ``probe()`` to end and two processes to start: the
    pace of 20 probes (which make nothing that fires) says how long the calls take."""
    began = time.monotonic()
    for _ in range(20):
        probe()
    per_call = (time.monotonic() - began) / 20
    return float(int(time.time() + per_call * count * 1.5) + 5)


def _queued(store: Any) -> bool:
    """Whether a job of ``TYPE`` still waits to start (the active jobs only: a short read)."""
    return any(j.status.value == "queued" for j in store.get_active_jobs(TYPE, messages=False))


# ---------------------------------------------------------------------- (c) idle cost


@contextlib.contextmanager
def _idle(quick: bool) -> Iterator[list[Row]]:
    """One idle process per schedule count (each on its own SQLite file), measured over one window while the
    block runs (the other rows' processes are separate: an idle process's CPU time is its own); the rows are
    added to the yielded list when the block ends."""
    counts = (0, 10, 1000)
    window = 11.0 if quick else 21.0  # at least one heartbeat round (10 s) in every window
    rows: list[Row] = []
    with contextlib.ExitStack() as stack:
        procs: dict[int, Child] = {}
        for n in counts:
            tgt = stack.enter_context(target("sqlite"))
            store = tgt.open()
            far = time.time() + 43_200.0  # none due in the window
            for i in range(n):
                _add(store, f"bench-idle-{i:04d}", 86400.0, far)
            store.close()
            procs[n] = Child(tgt.command_line_url(), count_reads=True)
            stack.callback(procs[n].stop)
        for child in procs.values():
            child.ready()
        time.sleep(1.0)  # past the first round (sync and the first read), which every process pays once
        began = time.monotonic()
        before = {n: c.stats() for n, c in procs.items()}
        yield rows
        time.sleep(max(0.0, window - (time.monotonic() - began)))
        after = {n: c.stats() for n, c in procs.items()}
        measured = time.monotonic() - began
    per_min = 60.0 / measured
    figures = {n: {k: (after[n][k] - before[n][k]) * per_min for k in ("cpu", "lists", "records")} for n in counts}
    base = figures[0]
    for n in counts[1:]:
        f = figures[n]
        ok = f["cpu"] <= 1.0 and abs(f["lists"] - base["lists"]) <= per_min
        rows.append(Row(
            SECTION, f"idle process with {n:,} schedules (none due): CPU and schedule reads per minute",
            f"{f['cpu'] * 1000:.0f} ms CPU, {f['lists']:.0f} list reads ({f['records']:.0f} records)",
            f"0 schedules: {base['cpu'] * 1000:.0f} ms CPU, {base['lists']:.0f} list reads",
            ratio(f["cpu"], base["cpu"]), "<= 1 s CPU/min; list reads as with none", ok,
            note=f"SQLite, a {measured:.0f} s window scaled to a minute; fails if an idle scheduler polls faster "
                 "than its heartbeat round (10 s) or reads each schedule on its own",
            values={"cpu_per_min": f["cpu"], "lists_per_min": f["lists"], "records_per_min": f["records"],
                    "base_cpu_per_min": base["cpu"], "base_lists_per_min": base["lists"], "schedules": n}))


# ---------------------------------------------------------------------- the section


def run(quick: bool) -> list[Row]:
    try:
        import jobdeck.core.schedule  # noqa: F401
    except ImportError as exc:
        return [skipped(SECTION, "(section)", f"schedules not available ({exc})")]
    rows: list[Row] = []
    idle_rows: list[Row]
    with _idle(quick) as idle_rows, _shared_targets(quick) as targets:
        # One store after the other: side by side, their processes would measure each other (2 cores).
        for kind, tgt, why in targets:
            rows += _precision_rows(kind, tgt, quick) if tgt else [skipped(SECTION, f"{kind}: due -> job created",
                                                                          why or "unavailable")]
    with target("sqlite") as tgt:  # the default store of jobdeck serve
        rows += _burst_rows("sqlite", tgt, quick)
    return rows + idle_rows


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "child":
        _child(sys.argv[2], len(sys.argv) > 3 and sys.argv[3] == "1")
    else:
        from .table import render

        print(render(run("--quick" in sys.argv)))
