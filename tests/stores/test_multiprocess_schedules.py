"""Exactly once across real processes (issue 23): two and three processes firing one schedule on one store
(SQLite file, Redis, PostgreSQL), one of them SIGKILLed between its claim of an occurrence and its record of it.

Every occurrence from the first to the last must be accounted for exactly once: one job whose ``runAt`` is the
occurrence (none twice), or a recorded skip or miss (none lost). See tests/schedule_process.py for the processes.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

import pytest

from jobdeck.stores import Store
from tests.conftest import wait_for
from tests.serve_process import clean_env
from tests.stores.conftest import Backend

pytestmark = [pytest.mark.slow, pytest.mark.timeout(90)]

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def spawn(shared_backend: Backend, tmp_path: Path) -> Iterator[Callable[[str, float], subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    logs: list[IO[str]] = []

    def start(mode: str, seconds: float) -> subprocess.Popen[str]:
        log = open(tmp_path / f"process-{len(started)}.log", "w")  # noqa: SIM115 - closed at teardown
        logs.append(log)
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.schedule_process", shared_backend.name, shared_backend.location, mode,
             str(seconds)], cwd=ROOT, env=clean_env(PYTHONUNBUFFERED="1"), stdout=log, stderr=subprocess.STDOUT,
            text=True)
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait(10)
    for log in logs:
        log.close()


def account(store: Store, first: float) -> tuple[list[float], int]:
    """The occurrences of ``tick`` from ``first`` on that have a job (sorted, with repeats), and how many more
    there were up to its next occurrence that are not accounted for (skipped, missed, or covered by a later start
    while a claim was recovered, are)."""
    schedule = store.get_schedule("tick")
    assert schedule is not None and schedule.next_fire is not None
    jobs = store.get_active_jobs(messages=False) + store.get_past_jobs(messages=False)
    runs = sorted(j.run_at for j in jobs if j.schedule_id == "tick" and j.run_at is not None and j.run_at >= first)
    return runs, round(schedule.next_fire - first) - len(runs) - schedule.skipped - schedule.missed \
        - schedule.coalesced


def settled(store: Store) -> bool:
    schedule = store.get_schedule("tick")
    return schedule is not None and schedule.pending is None


def first_run(store: Store) -> float:
    def found() -> float | None:
        jobs = store.get_active_jobs(messages=False) + store.get_past_jobs(messages=False)
        runs = [j.run_at for j in jobs if j.schedule_id == "tick" and j.run_at is not None]
        return min(runs) if runs else None

    return wait_for(found, timeout=20, what="the first job of the schedule")


def stop(processes: list[subprocess.Popen[str]]) -> None:
    for process in processes:
        process.send_signal(signal.SIGTERM)
    for process in processes:
        process.wait(15)


def test_two_processes_start_each_occurrence_once(shared_backend: Backend,
                                                  spawn: Callable[[str, float], subprocess.Popen[str]]) -> None:
    store = shared_backend.open()
    processes = [spawn("run", 30), spawn("run", 30)]
    first = first_run(store)
    wait_for(lambda: len(account(store, first)[0]) >= 5, timeout=30, what="five occurrences")
    stop(processes)
    runs, unaccounted = account(store, first)
    assert len(runs) == len(set(runs)), f"an occurrence started twice: {runs}"
    assert unaccounted == 0, f"occurrences lost: {runs}"


@pytest.mark.parametrize("mode", ["kill-before-create", "kill-after-create"])
def test_three_processes_one_killed_mid_occurrence_neither_lose_nor_double_it(
        shared_backend: Backend, spawn: Callable[[str, float], subprocess.Popen[str]], mode: str) -> None:
    store = shared_backend.open()
    killed = spawn(mode, 30)  # alone at first, so that it is the one that claims an occurrence, and dies there
    assert killed.wait(30) == -signal.SIGKILL
    schedule = store.get_schedule("tick")
    assert schedule is not None and schedule.pending is not None  # the claim it left behind
    orphan = schedule.pending
    assert (store.get_job(orphan.job_id) is not None) == (mode == "kill-after-create")
    others = [spawn("run", 30), spawn("run", 30)]
    wait_for(lambda: settled(store) and len(account(store, orphan.occurrence)[0]) >= 5, timeout=30,
             what="the orphaned occurrence recovered and five occurrences")
    stop(others)
    runs, unaccounted = account(store, orphan.occurrence)
    assert runs[0] == orphan.occurrence
    recovered = store.require_job(orphan.job_id)  # the occurrence's job has the id claimed for it
    assert recovered.run_at == orphan.occurrence and recovered.schedule_id == "tick"
    assert len(runs) == len(set(runs)), f"an occurrence started twice: {runs}"
    assert unaccounted == 0, f"occurrences lost: {runs}"
