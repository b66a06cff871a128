"""The executor seam with an in-test engine: a queue of job ids, and a worker runner with its own store object on
the same SQLite file, as a worker process would have. Real engines with real worker processes are tested in
tests/engines/."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from jobdeck import JobRunner, JobStatus, MemoryStore, PipelineController
from jobdeck.core.errors import EnqueueError, ExecutorError
from jobdeck.core.jobtype import JobType
from jobdeck.core.model import JobInfo
from jobdeck.executors import Executor, LocalExecutor, open_executor
from jobdeck.stores.base import Messages
from jobdeck.stores.sqlite import SQLiteStore
from tests.conftest import wait_for


class QueueExecutor(Executor):
    """A minimal engine: ``submit`` puts the id on a queue; ``work()`` runs ids through ``runner.run_job``."""

    name = "test-queue"

    def __init__(self, jobs: queue.Queue[str], broken: bool = False) -> None:
        self.jobs = jobs
        self.broken = broken
        self.cancelled: list[str] = []
        self.lost_answer: dict[str, str] = {}

    def submit(self, job: JobInfo, job_type: JobType) -> None:
        if self.broken:
            raise ConnectionError("broker refused the connection")
        self.jobs.put(job.id)

    def cancel(self, job_id: str) -> None:
        self.cancelled.append(job_id)

    def lost(self, jobs: Sequence[JobInfo]) -> dict[str, str]:
        return {j.id: self.lost_answer[j.id] for j in jobs if j.id in self.lost_answer}


def register(runner: JobRunner, ran: list[str], gate: threading.Event) -> JobRunner:
    @runner.job("Report", max_concurrent=2, params={"n": 1})
    def report(ctl: PipelineController, n: int = 1) -> dict[str, int]:
        ran.append(ctl.job_id)
        ctl.info("working")
        while not gate.wait(0.01):
            ctl.check_abort()
        return {"n": n}

    return runner


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[tuple[JobRunner, JobRunner, QueueExecutor, list[str], threading.Event]]:
    jobs: queue.Queue[str] = queue.Queue()
    ran: list[str] = []
    gate = threading.Event()
    path = tmp_path / "jobs.db"
    executor = QueueExecutor(jobs)
    server = register(JobRunner(SQLiteStore(path), executor=executor), ran, gate)
    worker = register(JobRunner(SQLiteStore(path), executor=QueueExecutor(queue.Queue())), ran, gate)
    try:
        yield server, worker, executor, ran, gate
    finally:
        gate.set()
        server.shutdown(grace=2)
        worker.shutdown(grace=2)
        server.store.close()
        worker.store.close()


def test_remote_start_queues_and_a_worker_runs_the_job(engine: tuple) -> None:  # type: ignore[type-arg]
    server, worker, executor, ran, gate = engine
    job = server.start("Report", "me", {"n": 3})
    assert job.status is JobStatus.QUEUED and job.owner is None
    assert executor.jobs.get_nowait() == job.id
    assert server.running_ids == []  # the server runs nothing itself
    runner_thread = threading.Thread(target=worker.run_job, args=(job.id,))
    runner_thread.start()
    running = wait_for(lambda: (j := server.store.require_job(job.id)).status is JobStatus.RUNNING and j,
                       what="the worker to claim the job")
    assert running.owner == worker.owner != server.owner
    wait_for(lambda: worker.running_ids == [job.id], what="the worker to run it (claimed first, then registered)")
    gate.set()
    runner_thread.join(timeout=10)
    done = server.store.require_job(job.id)
    assert done.status is JobStatus.COMPLETED and done.result == {"n": 3}
    assert ran == [job.id]
    assert worker.run_job(job.id) is None  # a second delivery is dropped
    assert ran == [job.id]


def test_failed_enqueue_fails_the_job_and_frees_its_slot(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "jobs.db")
    executor = QueueExecutor(queue.Queue(), broken=True)
    runner = register(JobRunner(store, executor=executor), [], threading.Event())
    with pytest.raises(EnqueueError, match="could not be queued: ConnectionError: broker refused") as caught:
        runner.start("Report", "me")
    job = store.require_job(caught.value.job_id)
    assert job.status is JobStatus.FAILED
    assert "could not be queued on test-queue" in job.error_messages[-1].message
    assert store.get_active_jobs() == []
    runner.shutdown(grace=1)
    store.close()


def test_abort_of_a_queued_job_cancels_it_in_the_engine_and_it_never_runs(engine: tuple) -> None:  # type: ignore[type-arg]
    server, worker, executor, ran, _ = engine
    job = server.start("Report", "me")
    assert server.abort(job.id, "changed my mind") is True
    assert executor.cancelled == [job.id]
    assert server.store.require_job(job.id).status is JobStatus.ABORTED
    assert worker.run_job(job.id) is None
    assert ran == []


def test_lost_queued_jobs_are_failed_once(engine: tuple) -> None:  # type: ignore[type-arg]
    server, _, executor, _, _ = engine
    job = server.start("Report", "me")
    executor.lost_answer[job.id] = "its message is gone from the broker"
    assert server.reap_lost() == []  # not queued for longer than stale_after yet: not even asked
    later = (job.queued_time or 0) + server.store.stale_after + 1
    assert server.reap_lost(later) == [job.id]
    assert server.reap_lost(later) == []
    failed = server.store.require_job(job.id)
    assert failed.status is JobStatus.FAILED
    assert failed.error_messages[-1].message == "Job lost while queued: its message is gone from the broker"


def test_a_job_whose_worker_died_is_re_queued_and_handed_to_the_engine_again(tmp_path: Path) -> None:
    path = tmp_path / "jobs.db"
    executor = QueueExecutor(queue.Queue())
    server = JobRunner(SQLiteStore(path, stale_after=0.3), executor=executor, reap=False)
    ran: list[str] = []
    server.register("Retried", lambda ctl: ran.append(ctl.job_id), requeue_on_worker_lost=1)
    server.register("Once", lambda ctl: ran.append(ctl.job_id))
    retried, once = server.start("Retried", "me"), server.start("Once", "me")
    assert [executor.jobs.get_nowait() for _ in range(2)] == [retried.id, once.id]
    for job in (retried, once):  # a worker claims them, then dies: no heartbeat ever comes
        assert server.store.claim_job(job.id, "worker-host:4242:dead") is not None
    wait_for(lambda: sorted(server.reap_stale()) == sorted([retried.id, once.id]), timeout=10,
             what="the stale window to pass")
    assert executor.jobs.get_nowait() == retried.id and executor.jobs.empty()  # handed to the engine again
    again = server.store.require_job(retried.id)
    assert again.status is JobStatus.QUEUED and again.attempt == 2
    assert "Worker worker-host:4242:dead stopped sending heartbeats" in again.warning_messages[-1].message
    assert server.store.require_job(once.id).status is JobStatus.FAILED  # its type never re-runs a job
    worker = JobRunner(SQLiteStore(path, stale_after=0.3), executor=QueueExecutor(queue.Queue()), reap=False)
    worker.register("Retried", lambda ctl: ran.append(ctl.job_id), requeue_on_worker_lost=1)
    ended = worker.run_job(retried.id)
    assert ended is not None and ended.status is JobStatus.COMPLETED and ended.attempt == 2
    assert ran == [retried.id]
    for runner in (server, worker):
        runner.shutdown(grace=1)
        runner.store.close()


def test_a_run_cut_off_while_its_job_was_re_queued_does_not_write_its_outcome(tmp_path: Path) -> None:
    path = tmp_path / "jobs.db"
    gates = [threading.Event(), threading.Event()]
    started: list[int] = []

    def build() -> JobRunner:
        runner = JobRunner(SQLiteStore(path), executor=QueueExecutor(queue.Queue()), reap=False)

        @runner.job("Retried", requeue_on_worker_lost=1)
        def retried(ctl: PipelineController) -> dict[str, int]:
            attempt = len(started)
            started.append(attempt)
            gates[attempt].wait(20)
            return {"attempt": attempt + 1}

        return runner

    first, second = build(), build()
    job = first.start("Retried", "me")
    run = threading.Thread(target=first.run_job, args=(job.id,))
    run.start()
    wait_for(lambda: started == [0], what="the first attempt to start")
    # Seen from far ahead, the first run looks dead (as when its process cannot reach the store): re-queued.
    far = time.time() + 10 * first.store.stale_after
    assert first.store.reap_stale(far, requeue={"Retried": 1}) == [job.id]
    second_run = threading.Thread(target=second.run_job, args=(job.id,))
    second_run.start()
    wait_for(lambda: started == [0, 1], what="the second attempt to start")
    gates[0].set()  # the first run ends while the second runs: its result must not end the job
    run.join(timeout=10)
    current = first.store.require_job(job.id)
    assert current.status is JobStatus.RUNNING and current.attempt == 2 and current.owner == second.owner
    gates[1].set()
    second_run.join(timeout=10)
    done = first.store.require_job(job.id)
    assert done.status is JobStatus.COMPLETED and done.result == {"attempt": 2}
    for runner in (first, second):
        runner.shutdown(grace=1)
        runner.store.close()


def test_a_job_that_cannot_be_handed_back_to_the_engine_is_failed(tmp_path: Path) -> None:
    executor = QueueExecutor(queue.Queue())
    server = JobRunner(SQLiteStore(tmp_path / "jobs.db", stale_after=0.3), executor=executor, reap=False)
    server.register("Retried", lambda ctl: None, requeue_on_worker_lost=3)
    job = server.start("Retried", "me")
    server.store.claim_job(job.id, "worker-host:4242:dead")
    executor.broken = True
    wait_for(lambda: server.reap_stale() == [job.id], timeout=10, what="the stale window to pass")
    failed = server.store.require_job(job.id)
    assert failed.status is JobStatus.FAILED
    assert "could not be re-queued on test-queue: ConnectionError: broker refused" in failed.error_messages[-1].message
    server.shutdown(grace=1)
    server.store.close()


def test_requeue_on_worker_lost_is_a_count() -> None:
    runner = JobRunner(MemoryStore())
    for wrong in (True, -1, 1.5, "2"):
        with pytest.raises(ValueError, match="requeue_on_worker_lost must be how many times"):
            runner.register("T", lambda ctl: None, requeue_on_worker_lost=wrong)  # type: ignore[arg-type]
    runner.register("T", lambda ctl: None, requeue_on_worker_lost=2)
    assert runner.get_type("T").requeue_on_worker_lost == 2


def test_worker_fails_a_job_of_a_type_it_does_not_know(engine: tuple) -> None:  # type: ignore[type-arg]
    server, _, _, _, _ = engine
    job = server.store.create_job("Unregistered", "me", queued=True)
    stranger = JobRunner(SQLiteStore(server.store.path), executor=QueueExecutor(queue.Queue()))  # type: ignore[attr-defined]
    ended = stranger.run_job(job.id)
    assert ended is not None and ended.status is JobStatus.FAILED
    assert "cannot run it: unknown job type 'Unregistered'" in ended.error_messages[-1].message
    stranger.shutdown(grace=1)
    stranger.store.close()


def test_a_memory_store_is_refused_with_a_remote_executor() -> None:
    with pytest.raises(ExecutorError, match="cannot see a memory store; use a shared store"):
        JobRunner(MemoryStore(), executor=QueueExecutor(queue.Queue()))
    assert isinstance(JobRunner(MemoryStore()).executor, LocalExecutor)


def test_executor_urls() -> None:
    assert isinstance(open_executor("local://"), LocalExecutor)
    with pytest.raises(ExecutorError, match="unknown executor 'dramatiq'"):
        open_executor("dramatiq+redis://127.0.0.1:6379/0")
    with pytest.raises(ExecutorError, match="is not a URL"):
        open_executor("celery")


def test_one_executor_serves_one_runner(tmp_path: Path) -> None:
    executor = QueueExecutor(queue.Queue())
    store = SQLiteStore(tmp_path / "jobs.db")
    JobRunner(store, executor=executor)
    with pytest.raises(ExecutorError, match="already serves another JobRunner"):
        JobRunner(store, executor=executor)
    store.close()


class _ReadCountingStore(SQLiteStore):
    """A real SQLite store that counts the job reads made through it."""

    reads = 0

    def require_job(self, job_id: str, *, messages: Messages = True, operations: bool = False) -> JobInfo:
        self.reads += 1
        return super().require_job(job_id, messages=messages, operations=operations)


def test_a_worker_that_drops_the_outcome_does_not_read_the_job_back(tmp_path: Path) -> None:
    path = tmp_path / "jobs.db"
    server = JobRunner(SQLiteStore(path), executor=QueueExecutor(queue.Queue()), reap=False)
    store = _ReadCountingStore(path)
    worker = JobRunner(store, executor=QueueExecutor(queue.Queue()), reap=False)
    for runner in (server, worker):
        runner.register("Report", lambda ctl: {"done": True})
    first = server.start("Report", "me")
    ended = worker.run_job(first.id)
    assert ended is not None and ended.status is JobStatus.COMPLETED and store.reads == 1
    second = server.start("Report", "me")
    assert worker.run_job(second.id, outcome=False) is None
    assert store.reads == 1  # the Celery task's way: the store holds the outcome, nothing reads it back
    assert server.store.require_job(second.id).status is JobStatus.COMPLETED
    for runner in (server, worker):
        runner.shutdown(grace=1)
    server.store.close()
    store.close()
