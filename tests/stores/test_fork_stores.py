"""Every store is usable in a forked child (a pre-forking worker pool forks after the store was opened), also when
another thread of the parent was using it at that instant, and the parent's store keeps working afterwards.

Each check forks a real child that uses the inherited store object; the child reports through its exit status
and is killed if it does not finish within its deadline (a lock inherited held hangs it for ever)."""

from __future__ import annotations

import os
import signal
import sqlite3
import threading
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import pytest

from jobdeck.core.errors import StoreError
from jobdeck.core.model import JobStatus
from jobdeck.core.workers import WorkerInfo
from jobdeck.stores import Store
from jobdeck.stores.sqlite import SQLiteStore
from tests.stores.conftest import Backend

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")

CHILD_DEADLINE = 30.0


def run_in_child(body: Callable[[], None], deadline: float = CHILD_DEADLINE) -> str:
    """Fork; the child runs ``body`` and exits 0, or 1 when it raised. Returns "ok", "failed" or "hung"."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # Python 3.12+: fork() with threads running
        pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through its exit status only
        code = 1
        import faulthandler
        faulthandler.dump_traceback_later(max(1.0, deadline - 2), exit=False)  # where it hangs, if it does
        try:
            body()
            code = 0
        except BaseException as exc:
            os.write(2, f"forked child failed: {type(exc).__name__}: {exc}\n".encode())
        finally:
            os._exit(code)
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return "ok" if os.waitstatus_to_exitcode(status) == 0 else "failed"
        time.sleep(0.02)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    return "hung"


def use(store: Store, author: str) -> str:
    """Create, report on and finish a job, and read it back; its id."""
    job = store.create_job("Forked", author)
    store.update_progress(job.id, 0.5)
    store.add_info_message(job.id, f"hello from {author}")
    assert store.complete_job(job.id, {"by": author})
    read = store.require_job(job.id)
    assert read.status is JobStatus.COMPLETED and read.result == {"by": author}
    assert [m.message for m in read.info_messages] == [f"hello from {author}"]
    assert job.id not in [j.id for j in store.get_active_jobs()]
    worker = WorkerInfo(f"{author}:{os.getpid()}:fork", author, os.getpid(), "local", ("Forked",), None, time.time())
    store.beat_worker(worker)  # the worker registry (issue 22) too: a heartbeat round in a forked worker process
    assert worker.id in [w.id for w in store.get_workers()]
    return job.id


def test_a_forked_child_uses_the_store_while_the_parent_keeps_using_it(backend: Backend) -> None:
    store = backend.open()
    use(store, "parent")  # connections, pools and writer threads exist before the fork
    kept = store.create_job("Kept", "parent").id  # active: no eviction of past jobs removes it
    stop = threading.Event()
    errors: list[BaseException] = []

    def busy() -> None:  # another thread of the parent, using the store across every fork
        while not stop.is_set():
            try:
                use(store, "parent-thread")
            except BaseException as exc:
                errors.append(exc)
                return

    thread = threading.Thread(target=busy, daemon=True)
    thread.start()
    made: list[str] = []
    try:
        for i in range(5):
            path = Path(os.environ.get("TMPDIR", "/tmp")) / f"jobdeck-fork-{os.getpid()}-{i}"

            def child(path: Path = path) -> None:
                job_id = use(store, "child")
                assert store.require_job(kept).status is JobStatus.RUNNING
                store.flush()
                path.write_text(job_id)

            outcome = run_in_child(child)
            assert outcome == "ok", f"fork {i}: the child {outcome} using the {backend.name} store"
            made.append(path.read_text())
            path.unlink()
    finally:
        stop.set()
        thread.join(30)
    assert not errors, errors
    use(store, "parent-after")  # the parent's store object still works
    if backend.shared:  # and sees what the children wrote, through its own connections and a fresh object
        for reader in (store, backend.open()):
            assert all(reader.require_job(job_id).status is JobStatus.COMPLETED for job_id in made)


def test_a_sqlite_child_forked_while_a_write_waits_does_not_hang(tmp_path: Path) -> None:
    """A thread of the parent is inside a write transaction (waiting for the file's write lock, held by another
    connection) when the process forks: the child inherits the store's lock held and must not wait for it."""
    path = tmp_path / "jobs.db"
    store = SQLiteStore(path, busy_timeout=20)
    blocker = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    blocker.execute("BEGIN IMMEDIATE")  # another process's write, in progress
    writing = threading.Thread(target=lambda: store.create_job("Waiting", "parent"), daemon=True)
    writing.start()
    deadline = time.monotonic() + 10
    while not store._lock.locked():  # the thread holds the store's lock, waiting inside BEGIN IMMEDIATE
        assert time.monotonic() < deadline, "the parent's write never started"
        time.sleep(0.01)

    def child() -> None:
        assert use(store, "child")

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        release = threading.Timer(0.5, blocker.execute, args=("ROLLBACK",))  # the other write ends soon
        release.start()
        outcome = run_in_child(child, deadline=20)
    release.join()
    writing.join(20)
    assert outcome == "ok", f"the child {outcome}"
    assert not writing.is_alive()
    assert {j.author for j in store.get_active_jobs()} == {"parent"}
    use(store, "parent-after")
    check = sqlite3.connect(path)
    assert check.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    check.close()
    blocker.close()
    store.close()


def test_a_sqlite_child_forked_during_a_read_longer_than_the_wait_refuses_clearly(tmp_path: Path) -> None:
    """A read that outlasts the fork's wait (busy_timeout plus a second): the child cannot know the state of the
    connections it inherited, so it refuses the store with one clear error instead of risking the file."""
    store = SQLiteStore(tmp_path / "jobs.db", busy_timeout=0.2)
    job = store.create_job("Kept", "parent")
    reading, done = threading.Event(), threading.Event()

    def long_read() -> None:  # a dashboard's read of a huge job, say
        with store._readers.snapshot() as conn:
            conn.execute("SELECT COUNT(*) FROM jobs").fetchone()
            reading.set()
            done.wait(30)

    reader = threading.Thread(target=long_read, daemon=True)
    reader.start()
    assert reading.wait(10)

    def child() -> None:
        for attempt in (lambda: store.create_job("Child", "child"), lambda: store.get_job(job.id)):
            try:
                attempt()
            except StoreError as exc:
                assert "forked while another thread was using the store" in str(exc)
                assert "open a new SQLiteStore in the child" in str(exc)
            else:
                raise AssertionError("the child used connections it inherited in use")
        fresh = SQLiteStore(tmp_path / "jobs.db")  # what the error says to do works
        assert fresh.require_job(job.id).status is JobStatus.RUNNING
        use(fresh, "child")

    try:
        assert run_in_child(child) == "ok"
    finally:
        done.set()
        reader.join(10)
    use(store, "parent-after")  # the parent was not paused for good
    store.close()


def test_a_memory_child_forked_while_another_thread_holds_the_lock_does_not_hang() -> None:
    """The memory store's one lock, held by another thread at the instant of the fork, must not stay held in the
    child (no thread there would ever release it)."""
    from jobdeck.stores.memory import MemoryStore

    store = MemoryStore()
    kept = store.create_job("Kept", "parent").id
    holding, release = threading.Event(), threading.Event()

    def hold() -> None:  # a store call in progress on another thread
        with store._lock:
            holding.set()
            release.wait(10)

    holder = threading.Thread(target=hold, daemon=True)
    holder.start()
    assert holding.wait(10)
    timer = threading.Timer(0.3, release.set)  # the call ends soon: the fork waits for it, not for ever
    timer.start()

    def child() -> None:
        assert store.require_job(kept).status is JobStatus.RUNNING
        use(store, "child")

    outcome = run_in_child(child, deadline=15)
    timer.join()
    holder.join(10)
    assert outcome == "ok", f"the child {outcome}"
    use(store, "parent-after")
