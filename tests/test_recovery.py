"""Retries and resuming in the runtime (issue 21), on every store: the backoff schedule with a held clock, ``on``,
RetryLater, one warning per failed attempt, progress that never moves backwards, a waiting job's abort and slot,
what never retries, the supervisor waking for a due retry, save/saved/is_done across attempts and across a resume,
and the saved values' bound."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from jobdeck import (
    InvalidArgumentError,
    JobConflictError,
    JobNotFoundError,
    JobRunner,
    JobStatus,
    PipelineController,
    Retry,
    RetryLater,
    Store,
)
from jobdeck.runtime import execution
from tests.conftest import wait_for
from tests.stores.conftest import Backend, backend

__all__ = ["backend"]  # the fixture, used here by name

FAR = 10_000.0  # the held clock runs this far ahead of the real one, so that no retry is due on its own


class RateLimitError(Exception):
    pass


@pytest.fixture
def held(monkeypatch: pytest.MonkeyPatch) -> float:
    """Hold the retry schedule's clock still (far ahead) and its dice at 0.25; the held time."""
    now = time.time() + FAR
    monkeypatch.setattr(execution, "_clock", lambda: now)
    monkeypatch.setattr(execution, "_random", lambda: 0.25)
    return now


@pytest.fixture
def store(backend: Backend) -> Store:
    return backend.open(stale_after=5.0)


@pytest.fixture
def runner(store: Store) -> Iterator[JobRunner]:
    runner = JobRunner(store, abort_grace=0.5)
    yield runner
    runner.shutdown(grace=2)


def settle(runner: JobRunner, job_id: str) -> Any:
    """Wait until this process no longer runs ``job_id``; the job as it is then."""
    wait_for(lambda: job_id not in runner.running_ids, timeout=20, what=f"the run of {job_id} to end")
    return runner.store.require_job(job_id)


def warnings(job: Any) -> list[str]:
    return [m.message for m in job.warning_messages]


def test_the_backoff_doubles_caps_and_each_failed_attempt_leaves_one_warning(runner: JobRunner, held: float) -> None:
    calls: list[int] = []

    @runner.job("Flaky", retry=Retry(attempts=4, backoff=10, max_backoff=25, jitter=False))
    def flaky(ctl: PipelineController) -> None:
        calls.append(1)
        raise RateLimitError("429 Too Many Requests\nbody: slow down")

    job = runner.start("Flaky", "me")
    expected = [10.0, 20.0, 25.0]  # backoff * 2**(n-1), capped at max_backoff
    for n, pause in enumerate(expected, start=1):
        waiting = settle(runner, job.id)
        assert waiting.status is JobStatus.QUEUED and waiting.attempt == n + 1 and waiting.max_attempts == 4
        assert waiting.retry_at == pytest.approx(held + pause, abs=1e-3)
        assert warnings(waiting)[-1] == (f"attempt {n} of 4 failed: RateLimitError: 429 Too Many Requests; "
                                         f"retrying in {pause:.0f} s")
        assert runner.retry_due(now=held + pause - 0.5) == []  # not due yet
        assert runner.retry_due(now=held + pause) == [job.id]
    failed = settle(runner, job.id)
    assert failed.status is JobStatus.FAILED and failed.attempt == 4 and failed.retry_at is None
    assert failed.error_messages[-1].message == "RateLimitError: 429 Too Many Requests\nbody: slow down"
    assert len(calls) == 4 and len([w for w in warnings(failed) if w.startswith("attempt ")]) == 3


def test_full_jitter_draws_the_pause_below_the_backoff(runner: JobRunner, held: float) -> None:
    @runner.job("Jittery", retry=Retry(attempts=2, backoff=40))
    def jittery(ctl: PipelineController) -> None:
        raise RateLimitError("503")

    job = runner.start("Jittery", "me")
    waiting = settle(runner, job.id)
    assert waiting.retry_at == pytest.approx(held + 10.0, abs=1e-3)  # 40 * 0.25
    assert warnings(waiting)[-1] == "attempt 1 of 2 failed: RateLimitError: 503; retrying in 10 s"


def test_only_the_exceptions_on_names_are_retried(runner: JobRunner, held: float) -> None:
    @runner.job("Picky", retry=Retry(attempts=3, backoff=1, on=(RateLimitError,)))
    def picky(ctl: PipelineController, kind: str = "") -> None:
        raise RateLimitError("429") if kind == "rate" else ValueError("bad row 7")

    other = settle(runner, runner.start("Picky", "me", {"kind": "value"}).id)
    assert other.status is JobStatus.FAILED and other.attempt == 1 and warnings(other) == []
    assert other.error_messages[-1].message == "ValueError: bad row 7"
    rate = settle(runner, runner.start("Picky", "me", {"kind": "rate"}).id)
    assert rate.status is JobStatus.QUEUED and rate.attempt == 2


def test_retry_later_waits_the_time_it_names_and_fails_with_its_reason_past_the_last_attempt(
        runner: JobRunner, held: float) -> None:
    @runner.job("Polite", retry=Retry(attempts=2, backoff=100))
    def polite(ctl: PipelineController) -> None:
        raise RetryLater(42, "provider said Retry-After: 42")

    job = runner.start("Polite", "me")
    waiting = settle(runner, job.id)
    assert waiting.status is JobStatus.QUEUED and waiting.retry_at == pytest.approx(held + 42, abs=1e-3)
    assert warnings(waiting)[-1] == "attempt 1 of 2 failed: provider said Retry-After: 42; retrying in 42 s"
    assert runner.retry_due(now=held + 42) == [job.id]
    failed = settle(runner, job.id)
    assert failed.status is JobStatus.FAILED and failed.attempt == 2
    assert failed.error_messages[-1].message == "provider said Retry-After: 42"

    @runner.job("Once")  # no Retry: RetryLater is the one attempt there is
    def once(ctl: PipelineController) -> None:
        raise RetryLater(5, "come back later")

    single = settle(runner, runner.start("Once", "me").id)
    assert single.status is JobStatus.FAILED and single.error_messages[-1].message == "come back later"


def test_retry_and_retry_later_check_their_arguments() -> None:
    for bad in ({"attempts": 0}, {"attempts": 1.5}, {"backoff": -1}, {"backoff": float("nan")},
                {"backoff": 10, "max_backoff": 5}, {"on": (int,)}, {"on": ()}):
        with pytest.raises(InvalidArgumentError, match="Retry"):
            Retry(**bad)  # type: ignore[arg-type]
    assert Retry(on=RateLimitError).on == (RateLimitError,)
    with pytest.raises(InvalidArgumentError, match="RetryLater seconds"):
        RetryLater(-1, "no")
    with pytest.raises(InvalidArgumentError, match=r"retry must be a jobdeck\.Retry"):
        JobRunner().register("T", lambda ctl: None, retry=3)  # type: ignore[arg-type]


def test_progress_never_moves_backwards_across_attempts(runner: JobRunner, held: float) -> None:
    seen: list[float] = []

    @runner.job("Half", retry=Retry(attempts=2, backoff=1, jitter=False))
    def half(ctl: PipelineController) -> None:
        job = ctl.store.require_job(ctl.job_id, messages=False)
        if job.attempt == 1:
            ctl.progress(0.6)
            raise RateLimitError("429")
        ctl.progress(0.1)  # starts over without a pipeline: the job still shows 0.6
        ctl.store.flush()
        seen.append(ctl.store.require_job(ctl.job_id, messages=False).progress)
        ctl.progress(0.9)

    job = runner.start("Half", "me")
    assert settle(runner, job.id).progress == pytest.approx(0.6)
    runner.retry_due(now=held + 1)
    done = settle(runner, job.id)
    assert done.status is JobStatus.COMPLETED and seen == [pytest.approx(0.6)]


def test_aborting_a_waiting_job_ends_it_at_once_and_it_never_runs_again(runner: JobRunner, held: float) -> None:
    calls: list[int] = []

    @runner.job("Wait", retry=Retry(attempts=3, backoff=5))
    def wait(ctl: PipelineController) -> None:
        calls.append(1)
        raise RateLimitError("429")

    job = runner.start("Wait", "me")
    assert settle(runner, job.id).status is JobStatus.QUEUED
    with pytest.raises(JobConflictError):  # the waiting job keeps the type's one slot
        runner.start("Wait", "me")
    assert [j.id for j in runner.store.get_active_jobs(messages=False)] == [job.id]
    assert runner.abort(job.id, "not now")
    ended = runner.store.require_job(job.id)
    assert ended.status is JobStatus.ABORTED and ended.retry_at is None
    assert runner.retry_due(now=held + 3600) == [] and calls == [1]


def test_an_abort_or_a_timeout_is_never_retried(runner: JobRunner, held: float) -> None:
    started = threading.Event()

    @runner.job("Stopped", retry=Retry(attempts=3, backoff=1))
    def stopped(ctl: PipelineController, fail: bool = False) -> None:
        started.set()
        while not ctl.is_abort_requested():
            time.sleep(0.01)
        if fail:
            raise RateLimitError("raised while stopping")
        ctl.check_abort()

    job = runner.start("Stopped", "me")
    started.wait(10)
    runner.abort(job.id, "enough")
    assert settle(runner, job.id).status is JobStatus.ABORTED
    started.clear()
    other = runner.start("Stopped", "me", {"fail": True})
    started.wait(10)
    runner.abort(other.id, "enough")
    failed = settle(runner, other.id)
    assert failed.status is JobStatus.FAILED and failed.attempt == 1 and failed.retry_at is None

    @runner.job("Slow", timeout=0.3, retry=Retry(attempts=3, backoff=1))
    def slow(ctl: PipelineController) -> None:
        while True:
            ctl.check_abort()
            time.sleep(0.01)

    timed = settle(runner, runner.start("Slow", "me").id)
    assert timed.status is JobStatus.ABORTED and timed.attempt == 1 and "timeout" in (timed.abort_reason or "")


def test_the_supervisor_wakes_for_a_due_retry_before_its_next_round(store: Store) -> None:
    runner = JobRunner(store, heartbeat_interval=30.0)  # rounds far apart: only the wake can start it in time
    try:
        @runner.job("Soon", retry=Retry(attempts=2, backoff=0.3, jitter=False))
        def soon(ctl: PipelineController) -> str:
            if ctl.store.require_job(ctl.job_id, messages=False).attempt == 1:
                raise RateLimitError("429")
            return "second"

        began = time.monotonic()
        job = runner.start("Soon", "me")
        done = wait_for(lambda: (j := store.require_job(job.id)).status is JobStatus.COMPLETED and j, timeout=15,
                        what="the second attempt to complete")
        assert done.attempt == 2 and done.result == "second" and time.monotonic() - began < 15
    finally:
        runner.shutdown(grace=2)


# ---------------------------------------------------------------------- work kept across attempts and resumes

OPS = ["load", "q1", "q2", "q3", "q4", "save"]


def condense(calls: list[str], fail_at: str | None) -> Any:
    """A handler that saves each question's output, skips what is done, and fails once at ``fail_at``."""

    def handler(ctl: PipelineController) -> dict[str, Any]:
        ctl.initialize_pipeline(OPS)
        calls.append(f"start@{ctl.get_progress():.2f}")
        for op in OPS:
            if ctl.is_done(op):
                continue
            ctl.check_abort()
            if op == fail_at and ctl.saved("failed-once") is None:
                ctl.save("failed-once", True)
                raise RateLimitError(f"429 at {op}")
            calls.append(op)
            if op.startswith("q"):
                ctl.save(f"answer:{op}", {"text": f"answer to {op}"})
            ctl.update_operation(op, 1.0)
        return {"answers": [ctl.saved(f"answer:{q}") for q in ("q1", "q2", "q3", "q4")]}

    return handler


def test_a_retry_resumes_from_the_operations_done_and_the_values_saved(runner: JobRunner, held: float) -> None:
    calls: list[str] = []
    runner.register("Condense", condense(calls, fail_at="q3"), retry=Retry(attempts=2, backoff=1, jitter=False))
    job = runner.start("Condense", "me")
    waiting = settle(runner, job.id)
    assert waiting.status is JobStatus.QUEUED and calls == ["start@0.00", "load", "q1", "q2"]
    assert runner.store.saved_keys(job.id) == ["answer:q1", "answer:q2", "failed-once"]
    calls.clear()
    runner.retry_due(now=held + 1)
    done = settle(runner, job.id)
    assert done.status is JobStatus.COMPLETED and done.attempt == 2
    assert calls == ["start@0.50", "q3", "q4", "save"]  # 3 of 6 operations done before: progress starts there
    assert done.result == {"answers": [{"text": f"answer to q{n}"} for n in (1, 2, 3, 4)]}


def test_sub_operation_paths_are_remembered_as_done(runner: JobRunner, held: float) -> None:
    ran: list[str] = []

    @runner.job("Parts", retry=Retry(attempts=2, backoff=1, jitter=False))
    def parts(ctl: PipelineController) -> None:
        ctl.initialize_pipeline(["prep", ("questions", 4)])
        ctl.update_operation("prep", 1.0)
        ctl.define_sub_operations("questions", ["a", "b", "c"])
        for q in ("a", "b", "c"):
            if ctl.is_done(f"questions/{q}"):
                continue
            if q == "c" and not ctl.is_done("questions/b/"):
                raise RateLimitError("never")  # b is done by then in both attempts
            if q == "b" and ctl.store.require_job(ctl.job_id, messages=False).attempt == 1:
                ran.append("a-only")
                raise RateLimitError("429 at b")
            ran.append(q)
            ctl.update_sub_operation("questions", q, 1.0)
        assert ctl.is_done("questions") and ctl.is_done("prep")

    job = runner.start("Parts", "me")
    assert settle(runner, job.id).status is JobStatus.QUEUED
    runner.retry_due(now=held + 1)
    done = settle(runner, job.id)
    assert done.status is JobStatus.COMPLETED, done.error_messages
    assert ran == ["a", "a-only", "b", "c"]


def test_resume_by_hand_sees_the_old_jobs_work_and_leaves_it_as_it_was(runner: JobRunner) -> None:
    calls: list[str] = []
    runner.register("Condense", condense(calls, fail_at="q4"), max_concurrent=2)
    old = settle(runner, runner.start("Condense", "me").id)
    assert old.status is JobStatus.FAILED and calls[-1] == "q3"
    calls.clear()
    new = runner.resume(old.id, "admin")
    assert (new.rerun_of, new.resumed_from, new.author) == (old.id, old.id, "admin")
    done = settle(runner, new.id)
    assert done.status is JobStatus.COMPLETED and calls == ["start@0.67", "q4", "save"]
    assert done.result["answers"][0] == {"text": "answer to q1"}
    again = runner.store.require_job(old.id)
    assert again.status is JobStatus.FAILED and again.end_time == old.end_time
    assert runner.store.saved_keys(old.id) == ["answer:q1", "answer:q2", "answer:q3", "failed-once"]


def test_resume_refuses_unknown_active_and_completed_jobs(runner: JobRunner) -> None:
    gate = threading.Event()

    @runner.job("Gate", max_concurrent=5)
    def gate_job(ctl: PipelineController) -> None:
        gate.wait(10)

    with pytest.raises(JobNotFoundError):
        runner.resume("00000000-0000-4000-8000-000000000000", "me")
    active = runner.start("Gate", "me")
    with pytest.raises(JobConflictError, match="is still active: abort it first"):
        runner.resume(active.id, "me")
    gate.set()
    assert settle(runner, active.id).status is JobStatus.COMPLETED
    with pytest.raises(JobConflictError, match="completed: re-run it instead"):
        runner.resume(active.id, "me")
    assert len(runner.store.get_past_jobs()) == 1  # nothing was created


def test_saved_values_are_bounded_and_jobdecks_own_keys_are_refused(backend: Backend) -> None:
    store = backend.open(max_saved_bytes=4096)
    runner = JobRunner(store)
    problems: list[str] = []

    @runner.job("Big")
    def big(ctl: PipelineController) -> str:
        ctl.save("small", "x" * 100)
        for key, value in (("huge", "y" * 10_000), ("jobdeck.done:q1", True)):
            try:
                ctl.save(key, value)
            except InvalidArgumentError as exc:
                problems.append(str(exc))
        return str(ctl.saved("small"))[:3] + str(ctl.saved("huge", "none"))

    try:
        done = settle(runner, runner.start("Big", "me").id)
        assert done.status is JobStatus.COMPLETED and done.result == "xxxnone"
        assert "4096" in problems[0] and "huge" in problems[0]  # the sizes, and what did not fit
        assert "jobdeck" in problems[1] and store.saved_keys(done.id) == ["small"]
    finally:
        runner.shutdown(grace=2)


def test_done_marks_are_written_in_batches_and_all_of_them_before_the_outcome(store: Store) -> None:
    writes: list[int] = []
    save_values = store.save_values

    def counted(job_id: str, values: Any) -> bool:
        writes.append(len(values))
        return save_values(job_id, values)

    store.save_values = counted  # type: ignore[method-assign]
    job = store.create_job("Parts", "me", owner="host:1:a")
    ctl = PipelineController(job.id, store, known=True)
    ctl.initialize_pipeline(["parts"])
    ctl.define_sub_operations("parts", [f"p{i}" for i in range(500)])
    began = time.monotonic()
    for _ in range(500):
        ctl.progress(1.0)
    elapsed = time.monotonic() - began
    ctl.publish_operations()  # what the runner calls before it records the outcome
    assert sum(writes) == 501  # every part and the operation itself, once each
    assert len(writes) <= elapsed / 0.2 + 2, (writes, elapsed)  # a batch per interval, not a write per part
    assert len(store.saved_values(job.id)) == 501 and store.saved_keys(job.id) == []
