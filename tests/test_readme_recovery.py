"""The README's "When a job fails" example runs as written: a 429 with a Retry-After retries the same job, and
the next attempt skips the questions the first one finished."""

from __future__ import annotations

from types import SimpleNamespace

from jobdeck import JobRunner, JobStatus, MemoryStore, PipelineController
from tests.conftest import wait_for
from tests.test_readme import README, example


class RateLimitError(Exception):
    def __init__(self, retry_after: float) -> None:
        super().__init__("429 Too Many Requests")
        self.retry_after = retry_after


def test_readme_recovery_example_retries_at_the_providers_time_and_skips_finished_questions() -> None:
    page, code = example("from jobdeck import Retry, RetryLater")
    assert page == README
    calls: list[str] = []

    def summarise(q: str) -> str:
        calls.append(q)
        if q == "q2" and calls.count("q2") == 1:
            raise RateLimitError(retry_after=0.05)
        return f"summary of {q}"

    runner = JobRunner(MemoryStore())
    llm = SimpleNamespace(summarise=summarise, RateLimitError=RateLimitError)
    namespace: dict[str, object] = {"runner": runner, "llm": llm, "PipelineController": PipelineController}
    try:
        exec(compile(code, str(page), "exec"), namespace)
        job = runner.start("Summarise", "me", {"question_ids": ["q1", "q2", "q3"]})
        wait_for(lambda: not runner.store.require_job(job.id, messages=False).is_active, timeout=30,
                 what="the example's job to end")
        ended = runner.store.require_job(job.id)
        assert ended.status is JobStatus.COMPLETED and (ended.attempt, ended.max_attempts) == (2, 5)
        assert calls == ["q1", "q2", "q2", "q3"]  # q1 was not summarised again by the second attempt
        assert [m.message for m in ended.warning_messages if "attempt 1 of 5 failed" in m.message]
        assert {k: v for k, v in runner.store.saved_values(job.id).items() if not k.startswith("jobdeck.")} == {
            "q1": "summary of q1", "q2": "summary of q2", "q3": "summary of q3"}
    finally:
        runner.shutdown()
