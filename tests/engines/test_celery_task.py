"""The Celery task itself, run by Celery's own eager machinery in this process on a SQLite store: the outcome of
``SoftTimeLimitExceeded`` and other exceptions, JSON-only messages, a draining worker giving the message back,
URLs and the missing-extra message."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from celery import Celery
from celery.exceptions import Reject, SoftTimeLimitExceeded

from jobdeck import JobRunner, JobStatus, PipelineController
from jobdeck.core.errors import ExecutorError
from jobdeck.executors import open_executor
from jobdeck.executors.celery import TASK_NAME, CeleryExecutor
from jobdeck.stores.sqlite import SQLiteStore


@pytest.fixture
def eager(tmp_path: Path) -> Iterator[tuple[JobRunner, CeleryExecutor]]:
    app = Celery("eager-test", broker="memory://", set_as_current=False)
    app.conf.task_always_eager = True
    executor = CeleryExecutor(app)
    runner = JobRunner(SQLiteStore(tmp_path / "jobs.db"), executor=executor)

    @runner.job("TimeLimited")
    def limited(ctl: PipelineController) -> None:
        ctl.info("working")
        raise SoftTimeLimitExceeded("soft time limit (2s) exceeded")

    @runner.job("Fine")
    def fine(ctl: PipelineController, n: int = 1) -> dict[str, int]:
        return {"n": n}

    yield runner, executor
    runner.shutdown(grace=1)
    runner.store.close()


def test_soft_time_limit_ends_the_job_failed(eager: tuple[JobRunner, CeleryExecutor]) -> None:
    runner, _ = eager
    job = runner.start("TimeLimited", "me")
    ended = runner.store.require_job(job.id)
    assert ended.status is JobStatus.FAILED
    message = ended.error_messages[-1].message
    assert message.startswith("SoftTimeLimitExceeded: ") and "soft time limit (2s) exceeded" in message
    assert ended.owner == runner.owner


def test_task_runs_the_job_by_id_with_json_only(eager: tuple[JobRunner, CeleryExecutor]) -> None:
    runner, executor = eager
    task = executor.app.tasks[TASK_NAME]
    assert task.acks_late is True and task.serializer == "json"
    job = runner.start("Fine", "me", {"n": 4})
    assert runner.store.require_job(job.id).result == {"n": 4}
    task.apply(args=(job.id,))  # a second delivery: dropped, the job stays as it ended
    assert runner.store.require_job(job.id).status is JobStatus.COMPLETED


def test_a_draining_worker_gives_the_message_back(eager: tuple[JobRunner, CeleryExecutor]) -> None:
    runner, executor = eager
    job = runner.store.create_job("Fine", "me", {}, queued=True)
    runner.shutdown(grace=1)
    with pytest.raises(Reject):
        executor._run(executor.app.tasks[TASK_NAME], job.id)
    assert runner.store.require_job(job.id).status is JobStatus.QUEUED  # left for another worker


def test_urls_build_a_json_only_app_for_long_jobs() -> None:
    executor = open_executor("celery+redis://127.0.0.1:1/3?queue=long-jobs")
    assert isinstance(executor, CeleryExecutor) and executor.queue == "long-jobs"
    conf = executor.app.conf
    assert conf.broker_url == "redis://127.0.0.1:1/3"
    assert conf.accept_content == ["json"] and conf.task_serializer == "json"
    assert conf.task_acks_late is True and conf.worker_prefetch_multiplier == 1
    amqp = open_executor("celery+amqp://user:secret@127.0.0.1:5672//")
    assert "secret" not in repr(amqp)
    with pytest.raises(ExecutorError, match="not a Celery executor URL"):
        CeleryExecutor.from_url("celery://127.0.0.1")
    with pytest.raises(ExecutorError, match=r"needs a celery\.Celery app"):
        CeleryExecutor("not an app")  # type: ignore[arg-type]
