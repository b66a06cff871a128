"""Webhooks against a real loopback receiver: what is sent on failed, aborted, reaped and (per type) completed
jobs, the signature, Slack's format, retries, a slow receiver that never holds a job up, and two real server
processes on one store delivering each notification exactly once."""

from __future__ import annotations

import hashlib
import hmac
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from jobdeck import JobRunner
from jobdeck.api import create_app
from jobdeck.api._notify import Notifier, sign
from jobdeck.core.model import JobStatus
from tests.api.conftest import TOKEN
from tests.conftest import wait_for
from tests.serve_process import ServeProcess, clean_env, demo_args
from tests.webhook_receiver import WebhookReceiver

SECRET = "notify-secret-91c2"


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as r:
        yield r


@pytest.fixture
def notifier(runner: JobRunner, receiver: WebhookReceiver) -> Iterator[Notifier]:
    made = Notifier(runner.store, [f"{receiver.url}/hook", f"slack+{receiver.url}/slack"], secret=SECRET,
                    completed=["Quick"], public_url="https://jobs.example.com", backoff=0.05, allow_private=True)
    yield made
    made.close()


def test_failed_aborted_reaped_and_completed_jobs_are_sent(runner: JobRunner, receiver: WebhookReceiver,
                                                           notifier: Notifier) -> None:
    create_app(runner=runner, token=TOKEN, notifier=notifier)
    store = runner.store
    boom = runner.start("Boom", "carol")
    runner.wait(boom.id, 10)
    wait_for(lambda: len(receiver.at("/hook")) == 1, what="the failure notification")
    sent = receiver.at("/hook")[0]
    summary = sent.json
    assert summary["event"] == "job.failed" and summary["id"] == boom.id and summary["jobType"] == "Boom"
    assert summary["status"] == "failed" and summary["author"] == "carol"
    assert summary["firstError"] == "RuntimeError: exploded on purpose"
    assert summary["link"] == f"https://jobs.example.com/jobs/{boom.id}"  # the job's dashboard page
    assert isinstance(summary["duration"], float) and summary["duration"] >= 0
    stamp = sent.headers["x-jobdeck-timestamp"]
    assert abs(int(stamp) - time.time()) < 60
    expected = "sha256=" + hmac.new(SECRET.encode(), stamp.encode() + b"." + sent.body, hashlib.sha256).hexdigest()
    assert sent.headers["x-jobdeck-signature"] == expected == sign(SECRET, stamp, sent.body)

    wait_for(lambda: len(receiver.at("/slack")) == 1, what="the Slack message")
    slack = receiver.at("/slack")[0].json
    assert slack["text"] == f"jobdeck: Boom failed after {summary['duration']:.1f}s (by carol)"
    block = slack["blocks"][0]
    assert block["type"] == "section" and block["text"]["type"] == "mrkdwn"
    assert "exploded on purpose" in block["text"]["text"] and boom.id[:8] in block["text"]["text"]

    quick = runner.start("Quick", "carol")  # completed: notified for this type only
    runner.wait(quick.id, 10)
    waits = runner.start("Waits", "carol")
    assert store.request_abort(waits.id, "wrong input", by="dave")
    runner.wait(waits.id, 10)
    stale = store.create_job("Imported", "elsewhere")
    assert store.reap_stale(now=stale.start_time + store.stale_after * 10) == [stale.id]
    wait_for(lambda: len(receiver.at("/hook")) == 4, what="four notifications")
    by_id = {r.json["id"]: r.json for r in receiver.at("/hook")}
    assert by_id[quick.id]["event"] == "job.completed" and by_id[quick.id]["firstError"] is None
    assert by_id[waits.id]["event"] == "job.aborted" and by_id[waits.id]["abortedBy"] == "dave"
    assert by_id[waits.id]["abortReason"] == "wrong input"
    assert by_id[stale.id]["event"] == "job.reaped" and by_id[stale.id]["firstError"].startswith("Job went stale")
    slot = runner.start("Slots", "x")  # Slots completing would not be notified: only Quick is listed
    store.complete_job(slot.id)
    runner.wait(slot.id, 10)
    wait_for(lambda: len(receiver.at("/slack")) == 4, what="four Slack messages")
    assert slot.id not in {r.json["id"] for r in receiver.at("/hook")}


def test_retried_with_backoff_then_delivered_once(runner: JobRunner) -> None:
    with WebhookReceiver(fail_first=2) as receiver:
        notifier = Notifier(runner.store, [f"{receiver.url}/hook"], backoff=0.05, allow_private=True)
        create_app(runner=runner, token=TOKEN, notifier=notifier)
        job = runner.start("Boom", "a")
        wait_for(lambda: len(receiver.at("/hook")) == 1, what="the delivery after two failures")
        assert receiver.attempts == 3 and receiver.at("/hook")[0].json["id"] == job.id
        assert "x-jobdeck-signature" not in receiver.at("/hook")[0].headers  # no secret, no signature
        notifier.close()
        assert receiver.attempts == 3


def test_a_slow_receiver_never_holds_a_job_up(runner: JobRunner) -> None:
    with WebhookReceiver() as receiver:
        receiver.hold.clear()  # every answer waits until released
        notifier = Notifier(runner.store, [f"{receiver.url}/hook"], timeout=20, allow_private=True)
        create_app(runner=runner, token=TOKEN, notifier=notifier)
        first = runner.start("Boom", "a")
        assert runner.wait(first.id, 5).status is JobStatus.FAILED
        wait_for(lambda: receiver.attempts == 0 and notifier.pending == 1, what="the send to be under way")
        second = runner.start("Quick", "a")  # the sender is stuck on the first; jobs go on regardless
        assert runner.wait(second.id, 5).status is JobStatus.COMPLETED
        receiver.hold.set()
        wait_for(lambda: len(receiver.at("/hook")) == 1, what="the held delivery")
        notifier.close()


def test_bad_urls_are_refused() -> None:
    from jobdeck.stores import MemoryStore

    with pytest.raises(ValueError, match="notify URL must be"):
        Notifier(MemoryStore(), ["ftp://example.com/x"])
    with pytest.raises(ValueError, match="at least one URL"):
        Notifier(MemoryStore(), [])


@pytest.mark.slow
def test_two_servers_on_one_store_deliver_each_once(tmp_path: Path) -> None:
    with WebhookReceiver() as receiver:
        env = clean_env(JOBDECK_NOTIFY=f"{receiver.url}/env-hook")
        store = f"sqlite:///{tmp_path / 'jobs.db'}"
        args = demo_args(store, 100, "--notify", f"{receiver.url}/a-hook", "--notify", f"{receiver.url}/b-hook",
                         "--notify-secret", SECRET, "--notify-allow-private")
        servers = [ServeProcess(tmp_path, args, token=TOKEN, name=n, env=env).launch() for n in ("a", "b")]
        try:
            for server in servers:
                server.wait_ready()
            failed: list[str] = []
            for i in range(4):
                server = servers[i % 2]
                job = server.api("POST", "/start", json={"jobType": "DataImport",
                                                         "params": {"rows": 40, "fail_at": 0.2}})
                assert job.status_code == 201, job.text
                failed.append(job.json()["id"])
                wait_for(lambda s=server: not s.api("GET", "/active").json(), timeout=30, what="the job to fail")
            for path in ("/a-hook", "/b-hook"):
                wait_for(lambda p=path: len(receiver.at(p)) >= 4, timeout=30, what=f"4 deliveries to {path}")
        finally:
            for server in servers:
                server.stop()
        for path in ("/a-hook", "/b-hook"):
            counts = Counter(r.json["id"] for r in receiver.at(path))
            assert counts == Counter(failed), (path, counts)  # each failed job exactly once per URL
            for r in receiver.at(path):
                assert r.headers["x-jobdeck-signature"] == sign(SECRET, r.headers["x-jobdeck-timestamp"], r.body)
        assert receiver.at("/env-hook") == []  # --notify given: the environment's list is not used
        assert "notifications: 2 webhook(s), signed" in servers[0].output()
