"""Shared provider limits on every backend (issue 24): slots as leases, waiters, rates; never more holders than
slots under contention from real processes; a SIGKILLed holder's slot freed within stale_after; an abort while
waiting; and ``GET /limits``' figures."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from jobdeck import JobRunner, PipelineController
from jobdeck.core.errors import InvalidArgumentError
from jobdeck.core.limits import rate_start
from jobdeck.core.model import JobStatus
from jobdeck.stores import Store
from jobdeck.stores._limits import MemoryLimits
from tests.conftest import wait_for

from .conftest import Backend

ROOT = Path(__file__).resolve().parents[2]


def test_slots_are_leases_with_waiters(store: Store) -> None:
    assert store.acquire_slot("openai", "a", 2) == (True, 1)
    assert store.acquire_slot("openai", "b", 2) == (True, 2)
    assert store.acquire_slot("openai", "a", 2) == (True, 2)  # a holder asking again keeps its one slot
    assert store.acquire_slot("openai", "c", 2) == (False, 2)
    [use] = [u.to_dict() for u in store.limit_uses()]
    assert use == {"name": "openai", "concurrency": 2, "inUse": 2, "waiting": 1, "ratePerMinute": None}
    assert store.renew_slot("openai", "a") and not store.renew_slot("openai", "c")
    store.release_slot("openai", "a")
    assert store.acquire_slot("openai", "c", 2) == (True, 2)
    assert [u.waiting for u in store.limit_uses()] == [0]
    assert store.acquire_slot("short", "x", 1, lease=0.05) == (True, 1)
    assert store.acquire_slot("short", "y", 1) == (False, 1)
    wait_for(lambda: store.acquire_slot("short", "y", 1)[0], timeout=5, what="the expired lease to free the slot")
    for bad in ("", "white space", "x" * 101, None):
        with pytest.raises(InvalidArgumentError):
            store.acquire_slot(bad, "a", 1)  # type: ignore[arg-type]
    for capacity in (0, -1, 1.5, True):
        with pytest.raises(InvalidArgumentError):
            store.acquire_slot("ok", "a", capacity)  # type: ignore[arg-type]


def test_rates_space_the_starts_across_store_objects(backend: Backend) -> None:
    one, two = backend.open(), (backend.open() if backend.shared else None)
    other = two if two is not None else one
    now = time.time()
    starts = [(one if i % 2 else other).reserve_rate("embed", 0.25) for i in range(4)]
    assert starts[0] == pytest.approx(now, abs=0.5)
    assert [round(b - a, 4) for a, b in itertools.pairwise(starts)] == [0.25, 0.25, 0.25]
    assert [u.to_dict()["ratePerMinute"] for u in one.limit_uses() if u.name == "embed"] == [240.0]


def test_rate_arithmetic_with_a_fake_clock() -> None:
    # 500 a minute: starts 0.12 s apart; an idle limit starts at once, a busy one queues its calls.
    interval = 60 / 500
    assert rate_start(None, 100.0, interval) == (100.0, pytest.approx(100.12))
    assert rate_start(99.0, 100.0, interval)[0] == 100.0  # idle: its tat passed
    limits = MemoryLimits()
    clock = 1000.0
    starts = []
    for _ in range(1000):  # a thousand calls asked for at once, then served in order
        starts.append(limits.reserve("openai", interval, clock))
        clock += 0.001
    per_minute = 60 * (len(starts) - 1) / (starts[-1] - starts[0])
    assert abs(per_minute - 500) / 500 < 0.001
    # Asked for slower than the rate, each call goes at once.
    assert limits.reserve("slow", 1.0, 2000.0) == 2000.0 and limits.reserve("slow", 1.0, 2005.0) == 2005.0


def test_never_more_holders_than_slots_across_processes(shared_backend: Backend, tmp_path: Path) -> None:
    out = tmp_path / "held.txt"
    procs = [subprocess.Popen([sys.executable, "-m", "tests.stores.limit_holder", shared_backend.name,
                               shared_backend.location, "contend", "provider", "3", "5", str(out)], cwd=ROOT)
             for _ in range(3)]
    for proc in procs:
        assert proc.wait(timeout=120) == 0
    spans = [tuple(map(float, line.split())) for line in out.read_text().splitlines()]
    assert len(spans) == 3 * 4 * 5
    events = sorted([(s, 1) for s, _ in spans] + [(e, -1) for _, e in spans], key=lambda x: (x[0], x[1]))
    level = most = 0
    for _, step in events:
        level += step
        most = max(most, level)
    assert most == 3  # reached (12 threads contend) and never passed


def test_a_killed_holder_frees_its_slot_within_stale_after(shared_backend: Backend) -> None:
    stale_after = 1.0
    proc = subprocess.Popen([sys.executable, "-m", "tests.stores.limit_holder", shared_backend.name,
                             shared_backend.location, "hold", "solo", str(stale_after)], cwd=ROOT,
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
        store = shared_backend.open()
        time.sleep(stale_after * 1.5)  # longer than one lease: the holder's renewals keep it
        assert store.acquire_slot("solo", "me", 1) == (False, 1)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        killed = time.monotonic()
        wait_for(lambda: store.acquire_slot("solo", "me", 1)[0], timeout=10, what="the dead holder's slot")
        assert time.monotonic() - killed < stale_after + 0.5
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


def test_waiting_is_visible_and_abortable(store: Store) -> None:
    runner = JobRunner(store, abort_grace=2)
    gate, held = threading.Event(), threading.Event()

    def first(ctl: PipelineController) -> None:
        with ctl.limit("openai", concurrency=1):
            held.set()
            gate.wait(10)

    def second(ctl: PipelineController) -> None:
        ctl.initialize_pipeline(["load", "summaries"])
        ctl.next_operation()
        with ctl.limit("openai", concurrency=1):
            ctl.info("got the slot")

    runner.register("First", first)
    runner.register("Second", second)
    try:
        runner.start("First", "me")
        assert held.wait(10)
        waiter = runner.start("Second", "me")
        op = wait_for(lambda: (store.require_job(waiter.id).current_operation or None), what="the waiting text")
        wait_for(lambda: (o := store.require_job(waiter.id).current_operation) is not None
                 and o.id == "waiting for an openai slot: 1 of 1 in use", what="the waiting text")
        assert op is not None
        assert [(u.in_use, u.waiting) for u in store.limit_uses()] == [(1, 1)]
        began = time.monotonic()
        store.request_abort(waiter.id, "no more")
        ended = runner.wait(waiter.id, timeout=10)
        assert ended.status is JobStatus.ABORTED and time.monotonic() - began < 2
        assert [(u.in_use, u.waiting) for u in store.limit_uses()] == [(1, 0)]  # its place given back
        again = runner.start("Second", "me")
        wait_for(lambda: store.require_job(again.id).current_operation is not None
                 and "waiting" in store.require_job(again.id).current_operation.id, what="waiting again")  # type: ignore[union-attr]
        gate.set()
        done = runner.wait(again.id, timeout=10)
        assert done.status is JobStatus.COMPLETED
        assert done.current_operation is not None and done.current_operation.id == "summaries"
        assert [(u.in_use, u.waiting) for u in store.limit_uses()] == [(0, 0)] or store.limit_uses() == []
    finally:
        gate.set()
        runner.shutdown(grace=2)
