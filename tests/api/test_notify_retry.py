"""Webhooks and retries (issue 21): a failed attempt that puts the job back in the queue is no terminal transition
and sends nothing; the job's last failure (or an abort while it waits) sends one notification, whose body says
which attempt it was of how many."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from jobdeck import JobRunner, MemoryStore, PipelineController
from jobdeck.api._notify import Notifier
from jobdeck.core.model import JobStatus
from tests.conftest import wait_for
from tests.webhook_receiver import WebhookReceiver

OWNER = "elsewhere:1:ab"


@pytest.fixture
def store() -> Iterator[MemoryStore]:
    with MemoryStore() as s:
        yield s


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as r:
        yield r


@pytest.fixture
def notifier(store: MemoryStore, receiver: WebhookReceiver) -> Iterator[Notifier]:
    made = Notifier(store, [f"{receiver.url}/hook", f"slack+{receiver.url}/slack"], backoff=0.05,
                    allow_private=True)
    made.start()
    yield made
    made.close()


def test_a_retried_job_is_notified_once_on_its_last_failure(store: MemoryStore, receiver: WebhookReceiver,
                                                            notifier: Notifier) -> None:
    job = store.create_job("Flaky", "carol", {}, owner=OWNER, max_attempts=2)
    assert store.schedule_retry(job.id, time.time(), attempt=1,
                                message="attempt 1 of 2 failed: RateLimitError: 429; retrying in 1 s")
    assert store.claim_job(job.id, OWNER) is not None
    assert store.fail_job(job.id, "RateLimitError: 429 Too Many Requests")
    # A job failing at once afterwards: once its notification is in, the watcher has read every event before it.
    marker = store.create_job("Other", "carol", {}, owner=OWNER)
    assert store.fail_job(marker.id, "ValueError: bad")
    wait_for(lambda: len(receiver.at("/hook")) == 2 and len(receiver.at("/slack")) == 2, what="two notifications")
    by_id = {r.json["id"]: r.json for r in receiver.at("/hook")}
    summary = by_id[job.id]
    assert summary["event"] == "job.failed" and summary["status"] == "failed"
    assert (summary["attempt"], summary["maxAttempts"]) == (2, 2)
    assert summary["firstError"] == "RateLimitError: 429 Too Many Requests"
    assert (by_id[marker.id]["attempt"], by_id[marker.id]["maxAttempts"]) == (1, 1)
    slack = {r.json["text"] for r in receiver.at("/slack")}
    assert any(text.startswith("jobdeck: Flaky failed after") and text.endswith("(by carol), attempt 2 of 2")
               for text in slack), slack
    assert any(text.startswith("jobdeck: Other failed after") and text.endswith("(by carol)") for text in slack)


def test_a_job_aborted_while_it_waits_to_retry_is_notified_once(store: MemoryStore, receiver: WebhookReceiver,
                                                                notifier: Notifier) -> None:
    job = store.create_job("Flaky", "carol", {}, owner=OWNER, max_attempts=3)
    assert store.schedule_retry(job.id, time.time() + 600, attempt=1, message="attempt 1 of 3 failed: E; retrying")
    assert store.request_abort(job.id, "giving up", by="dave")
    assert store.require_job(job.id).status is JobStatus.ABORTED
    wait_for(lambda: len(receiver.at("/hook")) == 1, what="the abort's notification")
    summary = receiver.at("/hook")[0].json
    assert summary["event"] == "job.aborted" and summary["abortedBy"] == "dave"
    assert (summary["attempt"], summary["maxAttempts"]) == (2, 3)


@pytest.mark.slow
def test_a_runner_retrying_a_job_notifies_its_last_failure_only(store: MemoryStore, receiver: WebhookReceiver,
                                                                notifier: Notifier) -> None:
    from jobdeck import Retry  # issue 21 runtime (r-runtime)

    calls: list[int] = []

    def flaky(ctl: PipelineController) -> None:
        calls.append(1)
        raise RuntimeError(f"failure {len(calls)}")

    runner = JobRunner(store, abort_grace=1)
    runner.register("Flaky", flaky, retry=Retry(attempts=3, backoff=0.05, jitter=False))
    try:
        job = runner.start("Flaky", "carol")
        wait_for(lambda: store.require_job(job.id).status is JobStatus.FAILED, timeout=30, what="the last failure")
        marker = store.create_job("Other", "carol", {}, owner=OWNER)
        assert store.fail_job(marker.id, "ValueError: bad")
        wait_for(lambda: len(receiver.at("/hook")) == 2, what="two notifications")
    finally:
        runner.shutdown(grace=2)
    assert len(calls) == 3
    summary = next(r.json for r in receiver.at("/hook") if r.json["id"] == job.id)
    assert (summary["attempt"], summary["maxAttempts"], summary["status"]) == (3, 3, "failed")
