"""The demo job types: the reference's pipeline shape, all message kinds, a failure, and prompt aborts."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from jobdeck import JobInfo, JobRunner, JobStatus, MemoryStore
from jobdeck.cli.demo import DEMO_FINNISH, DEMO_TYPES, OUTAGE_FROM, register_demo
from jobdeck.core.errors import InvalidParamsError
from tests.conftest import wait_for


@pytest.fixture
def demo_runner() -> Iterator[JobRunner]:
    runner = JobRunner(MemoryStore(), abort_grace=5)
    register_demo(runner, speed=40)
    yield runner
    runner.shutdown(grace=5)


def test_registers_the_demo_types_with_titles_and_params(demo_runner: JobRunner) -> None:
    types = {t.name: t for t in demo_runner.types}
    assert tuple(types) == DEMO_TYPES
    assert types["ArgumentCondensation"].title == "Argument condensation"
    assert types["QuestionInfoGeneration"].title == "Question info generation"
    assert types["ArgumentCondensation"].params == {"questions": 6}


def test_the_demo_speaks_finnish_too(demo_runner: JobRunner) -> None:
    for spec in demo_runner.types:
        assert spec.title_in("fi") != spec.title and spec.description_in("fi") != spec.description, spec.name
        for name, prop in spec.schema_in("fi")["properties"].items():
            assert prop["title"] == DEMO_FINNISH[f"types.{spec.name}.params.{name}"]
            assert prop["description"] == DEMO_FINNISH[f"types.{spec.name}.params.{name}.description"]
    assert demo_runner.get_type("DataImport").title_in("fi") == "Tietojen tuonti"
    assert demo_runner.get_type("DataImport").title_in("en") == "Data import"


def test_argument_condensation_walks_the_question_pipeline(demo_runner: JobRunner) -> None:
    store = demo_runner.store
    job = demo_runner.start("ArgumentCondensation", "me", {"questions": 4})
    operations = set()

    def done() -> bool:
        current = store.require_job(job.id, messages=False)
        if current.current_operation is not None:
            operations.add(current.current_operation.id)
        return not current.is_active

    wait_for(done, timeout=30, interval=0.005, what="the demo job to finish")
    ended = store.require_job(job.id)
    assert ended.status is JobStatus.COMPLETED and ended.progress == 1.0
    assert ended.result == {"questions": 4, "arguments": 24}
    assert {"data-loading", "question-q1-pros", "question-q4-cons", "saving"} <= operations
    infos = [m.message for m in ended.info_messages]
    assert "Condensing pros arguments for question q1" in infos and "Condensing cons arguments for question q4" in infos
    assert ended.warning_messages and ended.error_messages  # every message kind shows up on the dashboard


def test_data_import_fails_midway_with_the_exception(demo_runner: JobRunner) -> None:
    job = demo_runner.start("DataImport", "me", {"rows": 100, "fail_at": 0.5})
    ended = demo_runner.wait(job.id, timeout=30)
    assert ended.status is JobStatus.FAILED
    assert 0 < ended.progress < 1
    assert any("ValueError: row 50: malformed date" in m.message for m in ended.error_messages)


def test_cleanup_completes_quickly_and_questions_generate(demo_runner: JobRunner) -> None:
    cleanup = demo_runner.start("Cleanup", "me")
    info = demo_runner.start("QuestionInfoGeneration", "me", {"questions": 2})
    assert demo_runner.wait(cleanup.id, timeout=30).result == {"removed": 17}
    assert demo_runner.wait(info.id, timeout=30).status is JobStatus.COMPLETED


def test_demo_jobs_stop_promptly_when_aborted() -> None:
    runner = JobRunner(MemoryStore(), abort_grace=30)
    register_demo(runner, speed=1)  # tens of seconds of work: only the abort can end it this soon
    try:
        job = runner.start("ArgumentCondensation", "me")
        wait_for(lambda: runner.store.require_job(job.id).info_messages, what="the job to start working")
        runner.store.request_abort(job.id, "enough")
        ended = runner.wait(job.id, timeout=5)
        assert ended.status is JobStatus.ABORTED
    finally:
        runner.shutdown(grace=5)


def test_bad_params_are_refused_before_a_job_exists(demo_runner: JobRunner) -> None:
    for bad in ({"questions": "many"}, {"questions": -5}, {"questions": 51}):
        with pytest.raises(InvalidParamsError, match="questions") as caught:
            demo_runner.start("ArgumentCondensation", "me", bad)
        assert caught.value.field == "questions"
    assert demo_runner.store.get_active_jobs() == [] and demo_runner.store.get_past_jobs() == []
    with pytest.raises(ValueError, match="speed"):
        register_demo(demo_runner, speed=0)


def _infos(job: JobInfo) -> list[str]:
    return [m.message for m in job.info_messages]


def _ended(runner: JobRunner, job_id: str) -> JobInfo:
    """The job once it has ended: a job waiting for its next attempt is still active (runner.wait covers one run)."""
    wait_for(lambda: not runner.store.require_job(job_id, messages=False).is_active, timeout=30,
             what=f"job {job_id} to end")
    return runner.store.require_job(job_id)


def test_condensation_is_throttled_twice_retries_and_skips_what_an_earlier_attempt_did(
        demo_runner: JobRunner) -> None:
    job = demo_runner.start("ArgumentCondensation", "me", {"questions": 4})
    ended = _ended(demo_runner, job.id)
    assert ended.status is JobStatus.COMPLETED and ended.result == {"questions": 4, "arguments": 24}
    assert (ended.attempt, ended.max_attempts) == (3, 3)
    # One warning per failed attempt: the Retry-After one (question part 6 of 8), then the backoff one (the last).
    failures = [m.message for m in ended.warning_messages if " failed: " in m.message]
    assert len(failures) == 2, failures
    assert failures[0].startswith("attempt 1 of 3 failed: ") and "Retry-After" in failures[0]
    assert failures[1].startswith("attempt 2 of 3 failed: RateLimitError: 429 Too Many Requests")
    # Resumed, not re-run: a part an earlier attempt finished is condensed once; the throttled ones twice.
    infos = _infos(ended)
    assert infos.count("Condensing pros arguments for question q1") == 1
    assert infos.count("Condensing cons arguments for question q3") == 2
    assert infos.count("Condensing cons arguments for question q4") == 2
    assert infos.count("Loading questions and comments") == 1
    assert "Resuming: 5 of 8 question parts were condensed by an earlier attempt" in infos
    saved = demo_runner.store.saved_keys(job.id)
    assert {"condensed:question-q1-pros", "condensed:question-q4-cons"} <= set(saved)


def test_an_outage_fails_a_long_run_for_good_and_resume_finishes_it_without_redoing_it() -> None:
    runner = JobRunner(MemoryStore(), abort_grace=5)
    register_demo(runner, speed=100)
    try:
        failed = _ended(runner, runner.start("ArgumentCondensation", "me", {"questions": OUTAGE_FROM}).id)
        assert failed.status is JobStatus.FAILED and (failed.attempt, failed.max_attempts) == (3, 3)
        assert any("ProviderUnavailableError: 503 Service Unavailable" in m.message for m in failed.error_messages)
        assert 0.5 < failed.progress < 1
        assert runner.store.saved_keys(failed.id)  # what Resume offers to keep

        resumed = runner.resume(failed.id, "me")
        assert (resumed.rerun_of, resumed.resumed_from) == (failed.id, failed.id)
        ended = _ended(runner, resumed.id)
        assert ended.status is JobStatus.COMPLETED
        assert ended.result == {"questions": OUTAGE_FROM, "arguments": OUTAGE_FROM * 6}
        infos = _infos(ended)
        # The outage was at question 18 of 24: the resumed job neither loads nor condenses questions 1-17 again.
        assert "Loading questions and comments" not in infos
        condensed = {int(m.rsplit("q", 1)[1]) for m in infos if m.startswith("Condensing")}
        assert condensed == set(range(18, OUTAGE_FROM + 1))
        assert infos.count("Condensing pros arguments for question q18") == 1
        assert ended.attempt == 2  # the provider's second 429 (the last part) is still retried
        # Re-run is not resume: it starts over and meets the outage again.
        rerun = _ended(runner, runner.rerun(failed.id, "me").id)
        assert rerun.status is JobStatus.FAILED
        assert "Condensing pros arguments for question q1" in _infos(rerun)
    finally:
        runner.shutdown(grace=5)
