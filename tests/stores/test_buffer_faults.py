"""The buffered-store layer under faults (issue 19): a store that goes away or fills up, a slow write, a fork.

- A progress value the store refused is kept and retried until it lands; the newest one wins (item 16).
- Messages and progress sent while a private Redis or PostgreSQL is stopped are all stored once it is back, in
  order, before the status change that follows them (item 2).
- A read answers from what the store has when buffered writes cannot be made (SQLite on a full disk, item 10).
- ``update()`` and ``info()`` never wait for another job's write; an older value never lands last; many threads
  never deadlock (item 18).
- A child forked while another thread held the status cache's lock still answers ``get_status`` (item 17).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from jobdeck.core.events import EventType
from jobdeck.core.model import JobStatus
from jobdeck.stores import Store
from jobdeck.stores.postgres import PostgresStore
from jobdeck.stores.redis import RedisStore
from jobdeck.stores.sqlite import SQLiteStore
from tests.conftest import free_port, require, unique_schema, wait_for
from tests.pg_cluster import Cluster

from .conftest import Backend, drop_schema


def warnings_about(caplog: pytest.LogCaptureFixture, what: str) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.levelno == logging.WARNING and r.getMessage().startswith(f"{what} could not be written")]


class PrivateRedis:
    """A redis-server of this test only, with an append-only file, so that a stop and a start keep the data."""

    def __init__(self, workdir: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            require("no redis-server binary to start and stop a private server")
        self.binary = binary or ""
        self.port = free_port()
        self.workdir = workdir
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def answers(self) -> bool:
        import redis

        client = redis.Redis(host="127.0.0.1", port=self.port, socket_connect_timeout=0.5)
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False
        finally:
            client.close()

    def start(self) -> None:
        self.proc = subprocess.Popen([self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                      "--appendonly", "yes", "--appendfsync", "always", "--dir", str(self.workdir)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(self.answers, timeout=15, what="the private Redis to answer")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=15)
        self.proc = None


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


# ---------------------------------------------------------------------------------------------- item 16


def test_progress_sent_during_a_redis_outage_lands_when_it_is_back(private_redis: PrivateRedis,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="jobdeck.store")
    store = RedisStore(private_redis.url, prefix="faults", progress_interval=0.02, connect_timeout=0.5)
    try:
        job = store.create_job("T", "me")
        assert store.update_progress(job.id, 0.05)  # the first value, written at once
        private_redis.stop()
        assert store.update_progress(job.id, 0.1)
        # The background write of 0.1 fails (nothing raises into the job: it goes on), then 0.9 is reported.
        # (Before issue 19 the failed value was dropped silently and the job forgotten: that ends the wait too,
        # and the next value then raised into the job.)
        wait_for(lambda: warnings_about(caplog, "progress values") or job.id not in store._progress._due,
                 timeout=20, what="the failed write")
        assert store.update_progress(job.id, 0.9)
        private_redis.start()
        reader = RedisStore(private_redis.url, prefix="faults")
        try:
            wait_for(lambda: reader.require_job(job.id, messages=False).progress == 0.9, timeout=20,
                     what="0.9 to be stored after the outage")
        finally:
            reader.close()
        assert len(warnings_about(caplog, "progress values")) == 1  # one line per outage, not per attempt
        wait_for(lambda: any("go through again" in r.getMessage() for r in caplog.records), timeout=5,
                 what="the end of the outage to be logged")
    finally:
        if private_redis.proc is None:
            private_redis.start()
        store.close()


def test_a_newer_value_wins_over_a_failed_older_one_with_its_operation(tmp_path: Path) -> None:
    """A write that failed is retried only while nothing newer came; a newer value carries the operation the
    failed one set (None means "unchanged")."""
    from jobdeck.core.model import OperationRef

    store = SQLiteStore(tmp_path / "jobs.db", progress_interval=0.02)
    try:
        job = store.create_job("T", "me")
        store.update_progress(job.id, 0.05)
        # A real lock on the file: another connection's write transaction makes the store's writes fail
        # (busy_timeout) until it ends.
        import sqlite3

        blocker = sqlite3.connect(tmp_path / "jobs.db", timeout=0.1, isolation_level=None)
        store._conn.execute("PRAGMA busy_timeout = 50")
        blocker.execute("BEGIN IMMEDIATE")
        try:
            store.update_progress(job.id, 0.2, OperationRef("step-2", 2, 3))
            wait_for(lambda: store._progress._outage.failing, timeout=10, what="the write to fail")
            store.update_progress(job.id, 0.3)  # operation unchanged: still step-2
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()

        def stored() -> tuple[float, str | None]:
            head = store.require_job(job.id, messages=False)
            return head.progress, head.current_operation.id if head.current_operation else None

        wait_for(lambda: stored() == (0.3, "step-2"), timeout=10, what="0.3 with step-2 to be stored")
    finally:
        store.close()


# ---------------------------------------------------------------------------------------------- item 2


def _ride_through(store: Store, reader: Callable[[], Store], stop: Callable[[], None], start: Callable[[], None],
                  outage: float) -> None:
    """Messages and progress while the server is stopped for ``outage`` seconds: none raises or waits, none is
    lost, and the status change after them comes after them."""
    cursor = store.read_events().cursor
    job = store.create_job("T", "me")
    store.add_info_message(job.id, "before")
    store.update_progress(job.id, 0.01)
    sent = ["before"]
    stop()
    try:
        end = time.monotonic() + outage
        i = 0
        while time.monotonic() < end:  # the job goes on for the whole outage, at its own pace
            i += 1
            started = time.monotonic()
            assert store.add_info_message(job.id, f"during {i}")
            assert store.update_progress(job.id, min(0.5, i / 1000))
            assert time.monotonic() - started < 1.0, "a call waited for the store"
            sent.append(f"during {i}")
            time.sleep(0.02)  # the job's own work between two reports
    finally:
        start()
    store.add_info_message(job.id, "after")
    sent.append("after")
    # The outcome is recorded once the store takes writes again (the runner retries it; here the test does).
    wait_for(lambda: _try(lambda: store.complete_job(job.id)), timeout=30, what="the completion to be recorded")
    other = reader()
    final = other.require_job(job.id)
    assert final.status is JobStatus.COMPLETED
    assert [m.message for m in final.info_messages] == sent
    kinds = [e.type for e in _events_since(other, cursor) if e.job_id == job.id]
    assert kinds.count(EventType.MESSAGE) == len(sent)
    assert kinds[-1] is EventType.STATUS  # every message event before the completion


def _events_since(store: Store, cursor: str | None) -> list[Any]:
    out: list[Any] = []
    while True:
        batch = store.read_events(cursor, limit=1000)
        assert not batch.reset
        if not batch.events:
            return out
        out += batch.events
        cursor = batch.cursor


def _try(call: Callable[[], object]) -> bool:
    from jobdeck.core.errors import StoreError

    try:
        call()
    except StoreError:
        return False
    return True


@pytest.mark.slow
def test_messages_sent_while_redis_is_stopped_for_8s_are_all_stored(private_redis: PrivateRedis) -> None:
    prefix = f"faults-{uuid.uuid4().hex[:8]}"
    store = RedisStore(private_redis.url, prefix=prefix, connect_timeout=0.5)
    readers: list[Store] = []

    def reader() -> Store:
        readers.append(RedisStore(private_redis.url, prefix=prefix))
        return readers[-1]

    try:
        _ride_through(store, reader, private_redis.stop, private_redis.start, outage=8.0)
    finally:
        if private_redis.proc is None:
            private_redis.start()
        for s in [store, *readers]:
            s.close()


@pytest.mark.slow
@pytest.mark.postgres
def test_messages_sent_while_postgres_is_stopped_for_10s_are_all_stored(pg_cluster: Cluster) -> None:
    schema = unique_schema()
    store = PostgresStore(pg_cluster.url(), schema=schema, connect_timeout=2)
    readers: list[Store] = []

    def reader() -> Store:
        readers.append(PostgresStore(pg_cluster.url(), schema=schema))
        return readers[-1]

    stopped = [False]

    def stop() -> None:
        pg_cluster.stop()
        stopped[0] = True

    def start() -> None:
        pg_cluster.start()
        stopped[0] = False

    try:
        _ride_through(store, reader, stop, start, outage=10.0)
    finally:
        if stopped[0]:
            pg_cluster.start()
        for s in [store, *readers]:
            s.close()
        drop_schema(pg_cluster.url(), schema)


# ---------------------------------------------------------------------------------------------- item 10


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A 4 MiB tmpfs of this test's own (root only; skipped where it cannot be mounted)."""
    mount = tmp_path / "tiny"
    mount.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a small tmpfs needs root and mount(8)")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)], capture_output=True,
                          check=False)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode(errors='replace').strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False, capture_output=True)


def _fill(directory: Path) -> Path:
    """Take every free byte of the file system; returns the file to delete to give them back."""
    filler = directory / "filler"
    with filler.open("wb", buffering=0) as out:
        for size in (65536, 512):  # then the last few bytes
            with contextlib.suppress(OSError):
                while True:
                    out.write(b"\0" * size)
    return filler


def test_reads_answer_while_sqlite_is_on_a_full_disk(tiny_disk: Path, caplog: pytest.LogCaptureFixture) -> None:
    store = SQLiteStore(tiny_disk / "jobs.db", max_messages=5000)
    try:
        job = store.create_job("T", "me")
        store.add_info_message(job.id, "m0")  # the first, written at once
        filler = _fill(tiny_disk)
        text = "x" * 4000
        sent = ["m0"]
        for i in range(1, 150):  # more than the room left in the WAL: batches fail, "database or disk is full"
            assert store.add_info_message(job.id, f"m{i} {text}")
            sent.append(f"m{i} {text}")
        # Reads answer from what the store has instead of failing because a write could not be made (each read
        # first tries to write what is buffered, and the disk is full).
        active = store.get_active_jobs()
        assert [j.id for j in active] == [job.id]
        page = store.get_job(job.id)
        assert page is not None and page.info_messages[0].message == "m0"
        assert len(page.info_messages) < len(sent)  # a little behind: the rest is still kept in memory
        assert [j.id for j in store.search_jobs("m0")] == [job.id]
        said = warnings_about(caplog, "messages")
        assert len(said) == 1 and "database or disk is full" in said[0]  # said once, not once per read
        filler.unlink()  # room again: what was kept is written
        wait_for(lambda: len(store.require_job(job.id).info_messages) == len(sent), timeout=20,
                 what="every kept message to be written")
        assert [m.message for m in store.require_job(job.id).info_messages] == sent
    finally:
        store.close()


# ---------------------------------------------------------------------------------------------- item 18


@pytest.mark.postgres
def test_update_and_info_do_not_wait_for_another_jobs_slow_write(postgres_url: str) -> None:
    import psycopg

    backend = Backend("postgres", f"{postgres_url}#{unique_schema()}")
    try:
        store = backend.open(progress_interval=0.01)
        slow, quick, other = (store.create_job("T", "me") for _ in range(3))
        store.update_progress(slow.id, 0.1)
        store.update_progress(quick.id, 0.1)
        schema = backend.location.rsplit("#", 1)[1]
        with psycopg.connect(postgres_url) as locker:
            # A real slow store operation: another transaction holds the row the slow job's write must update.
            locker.execute(f'SELECT 1 FROM "{schema}".jobdeck_hot WHERE id = %s FOR UPDATE', (slow.id,))
            store.update_progress(slow.id, 0.2)  # the background thread writes it, and waits for the row
            with psycopg.connect(postgres_url, autocommit=True) as watch:
                wait_for(lambda: watch.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND wait_event_type = 'Lock'").fetchone()[0] > 0,  # type: ignore[index]
                    timeout=20, what="the slow job's write to wait for the row lock")
            took: dict[str, float] = {}

            def calls() -> None:
                started = time.monotonic()
                store.update_progress(other.id, 0.3)  # another job's first value: written at once, elsewhere
                took["first value of another job"] = time.monotonic() - started
                store.update_progress(quick.id, 0.4)
                started = time.monotonic()
                store.add_info_message(quick.id, "m")  # the first message of the job: written at once
                store.update_progress(quick.id, 0.5)
                store.add_info_message(quick.id, "takes 0.5 along")  # queued, with the pending value
                took["info with a pending value"] = time.monotonic() - started

            thread = threading.Thread(target=calls)
            thread.start()
            thread.join(timeout=15)
            waited = thread.is_alive()
            locker.rollback()  # the slow write goes through now
        thread.join(timeout=30)
        assert not waited, "update()/info() of one job waited for another job's write"
        assert all(t < 5 for t in took.values()), took
        store.flush()
        wait_for(lambda: store.require_job(slow.id, messages=False).progress == 0.2, timeout=20,
                 what="the slow write to land")
        assert store.require_job(quick.id, messages=False).progress == 0.5
        assert store.require_job(other.id, messages=False).progress == 0.3
    finally:
        backend.close()


def test_a_value_taken_by_a_message_never_lands_over_a_newer_one(tmp_path: Path) -> None:
    """The job thread hands its pending value to the message queue and is then descheduled (made to wait here)
    while it would still be holding it: a newer value written meanwhile must stay the stored one."""
    store = SQLiteStore(tmp_path / "jobs.db", progress_interval=0.05, message_interval=0.001)
    try:
        job = store.create_job("T", "me")
        store.add_info_message(job.id, "first")
        store.update_progress(job.id, 0.1)
        store.update_progress(job.id, 0.5)  # pending
        taken = threading.Event()
        real_take = store._progress.take

        def descheduled_take(job_id: str) -> Any:
            value = real_take(job_id)
            taken.set()
            # As long as a preemption can last: until the newer value is stored, or 2 s.
            deadline = time.monotonic() + 2
            while time.monotonic() < deadline and _stored_progress(tmp_path) != 0.9:
                time.sleep(0.01)
            return value

        store._progress.take = descheduled_take  # type: ignore[method-assign]
        thread = threading.Thread(target=store.add_info_message, args=(job.id, "takes 0.5 along"))
        thread.start()
        assert taken.wait(10)
        store.update_progress(job.id, 0.9)  # newer: written by the background thread after the interval
        thread.join(30)
        store.flush()
        wait_for(lambda: store._progress._pending == {}, timeout=10, what="nothing pending")
        store.flush()
        assert store.require_job(job.id, messages=False).progress == 0.9
        assert _stored_progress(tmp_path) == 0.9
    finally:
        store.close()


def _stored_progress(tmp_path: Path) -> float | None:
    import sqlite3

    conn = sqlite3.connect(f"file:{tmp_path / 'jobs.db'}?mode=ro", uri=True, timeout=5)
    try:
        row = conn.execute("SELECT progress FROM jobs").fetchone()
        return float(row[0]) if row else None
    finally:
        conn.close()


def test_an_older_write_landing_late_is_followed_by_the_newest_value(tmp_path: Path) -> None:
    """Two writes of one job overlap (the background thread's, slowed, and a message's): the older lands last,
    so the newest value is written again."""
    store = SQLiteStore(tmp_path / "jobs.db", progress_interval=0.02, message_interval=0.001)
    try:
        job = store.create_job("T", "me")
        store.add_info_message(job.id, "first")
        store.update_progress(job.id, 0.1)
        release = threading.Event()
        started = threading.Event()
        real_write = store._progress._write

        def slow_write(job_id: str, value: float, *rest: Any) -> bool:
            if value == 0.2:  # the background thread was descheduled before its write reached the store
                started.set()
                release.wait(30)
            return real_write(job_id, value, *rest)

        store._progress._write = slow_write
        store.update_progress(job.id, 0.2)
        assert started.wait(10)
        store.update_progress(job.id, 0.7)
        store.add_info_message(job.id, "takes 0.7 along")  # 0.7 goes with the message and is written first
        store._messages.flush()
        assert _stored_progress(tmp_path) == 0.7
        release.set()  # now 0.2 lands, over 0.7
        wait_for(lambda: _stored_progress(tmp_path) == 0.7 and not store._progress._inflight
                 and not store._progress._pending, timeout=10, what="0.7 to be written again")
        assert store.require_job(job.id, messages=False).progress == 0.7
    finally:
        store.close()


@pytest.mark.slow
def test_many_threads_never_deadlock_and_the_newest_values_land(shared_backend: Backend) -> None:
    store = shared_backend.open(progress_interval=0.001, message_interval=0.001, max_messages=5000)
    threads, steps = 12, 150
    jobs = [store.create_job("T", f"w{n}") for n in range(threads)]
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            job_id = jobs[n].id
            for i in range(1, steps + 1):
                store.update_progress(job_id, i / steps)
                if i % 3 == 0:
                    store.add_info_message(job_id, f"{n}:{i}")
                if i % 25 == 0:
                    store.get_job(jobs[(n + 1) % threads].id)  # a read settles what is buffered
                if i % 50 == 0:
                    store.flush()
        except BaseException as exc:  # reported below
            errors.append(exc)

    def reader(stop: threading.Event) -> None:
        while not stop.is_set():
            store.get_active_jobs(messages=False)

    stop = threading.Event()
    pool = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    pool += [threading.Thread(target=reader, args=(stop,)) for _ in range(2)]
    for t in pool:
        t.start()
    deadline = time.monotonic() + 90
    for t in pool[:threads]:
        t.join(max(0.0, deadline - time.monotonic()))
    stop.set()
    for t in pool[threads:]:
        t.join(max(1.0, deadline - time.monotonic()))
    stuck = [t.name for t in pool if t.is_alive()]
    assert not stuck, f"deadlocked: {stuck}"
    assert not errors, errors
    store.flush()
    other = shared_backend.open()
    for n, job in enumerate(jobs):
        stored = other.require_job(job.id)
        assert stored.progress == 1.0
        assert [m.message for m in stored.info_messages] == [f"{n}:{i}" for i in range(3, steps + 1, 3)]


# ---------------------------------------------------------------------------------------------- item 17


def _in_child_within(body: Callable[[], bool], timeout: float = 20.0) -> None:
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through its exit status only
        code = 1
        try:
            code = 0 if body() else 1
        finally:
            os._exit(code)
    deadline = time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            assert os.waitstatus_to_exitcode(status) == 0, "the check in the forked child failed"
            return
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            pytest.fail(f"the forked child hung for {timeout}s")
        time.sleep(0.02)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
def test_a_child_forked_while_the_status_cache_lock_was_held_answers(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "jobs.db")
    try:
        job = store.create_job("T", "me")
        assert store.get_status(job.id, max_age=60) is JobStatus.RUNNING
        held, release = threading.Event(), threading.Event()
        locks = [store._status._lock, store._progress._lock, store._messages._lock]

        def holder() -> None:
            for lock in locks:
                lock.acquire()
            held.set()
            release.wait(30)
            for lock in reversed(locks):
                lock.release()

        thread = threading.Thread(target=holder)
        thread.start()
        try:
            assert held.wait(10)

            def child() -> bool:
                cached = store.get_status(job.id, max_age=60)  # from the cache, under its (renewed) lock
                store._status.put(job.id, JobStatus.ABORTING)
                store._progress.forget(job.id)  # the buffers' locks are renewed too
                store._messages.flush()
                return cached is JobStatus.RUNNING and store._status.peek(job.id) is JobStatus.ABORTING

            _in_child_within(child)
        finally:
            release.set()
            thread.join(10)
        assert store.get_status(job.id, max_age=60) is JobStatus.RUNNING  # the parent's cache is its own
    finally:
        store.close()
