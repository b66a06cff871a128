"""One run of a handler (jobdeck/runtime/execution.py): sync and async handlers share one body, which runs a sync
handler in its own thread outside any event loop and fails a job its worker cannot run."""

from __future__ import annotations

import asyncio

from jobdeck import JobRunner, JobStatus, MemoryStore, PipelineController


def test_a_sync_handler_may_run_an_event_loop_of_its_own() -> None:
    # The shared body is a coroutine; a sync handler must still run where no event loop is running, as before.
    runner = JobRunner(MemoryStore())

    async def fetch(n: int) -> int:
        await asyncio.sleep(0)
        return n * 2

    @runner.job("OwnLoop")
    def own_loop(ctl: PipelineController, n: int = 21) -> int:
        return asyncio.run(fetch(n))

    try:
        job = runner.wait(runner.start("OwnLoop", "me").id, timeout=10)
        assert job.status is JobStatus.COMPLETED and job.result == 42
    finally:
        runner.shutdown(grace=1)


def test_sync_and_async_handlers_end_alike_when_they_raise() -> None:
    runner = JobRunner(MemoryStore())

    @runner.job("SyncBroken")
    def sync_broken(ctl: PipelineController) -> None:
        ctl.info("about to fail")
        raise KeyError("missing")

    @runner.job("AsyncBroken")
    async def async_broken(ctl: PipelineController) -> None:
        ctl.info("about to fail")
        await asyncio.sleep(0)
        raise KeyError("missing")

    try:
        ended = [runner.wait(runner.start(name, "me").id, timeout=10) for name in ("SyncBroken", "AsyncBroken")]
        for job in ended:
            assert job.status is JobStatus.FAILED
            assert [m.message for m in job.error_messages] == ["KeyError: 'missing'"]
            assert [m.message for m in job.info_messages] == ["about to fail"]
        assert runner.running_ids == []
    finally:
        runner.shutdown(grace=1)


def test_a_worker_asked_to_run_an_external_types_job_fails_it_saying_why() -> None:
    store = MemoryStore()
    runner = JobRunner(store)
    runner.register_external("Elsewhere")
    queued = store.create_job("Elsewhere", "me", queued=True)
    try:
        ended = runner.run_job(queued.id)
        assert ended is not None and ended.status is JobStatus.FAILED
        assert "job type 'Elsewhere' is external: its jobs run elsewhere, not in this runner" \
            in ended.error_messages[-1].message
    finally:
        runner.shutdown(grace=1)
