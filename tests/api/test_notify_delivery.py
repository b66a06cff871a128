"""Webhook delivery under faults, against real receivers on loopback: one receiver that hangs or drips its answer
delays no other URL and is cut off at the request's deadline; a full queue drops its oldest delivery; a sender
survives an unexpected error; targets on this machine are refused unless allowed, also when a host name resolves
there; deliveries lost at shutdown are logged one by one; and a job the runner's shutdown fails is notified."""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
from typing import Any

import pytest

from jobdeck import JobRunner
from jobdeck.api import create_app
from jobdeck.api._notify import Notifier, _Delivery
from jobdeck.cli import main
from jobdeck.cli.settings import Settings, check_notify_url
from jobdeck.core.errors import InvalidArgumentError
from jobdeck.stores import MemoryStore
from tests.api.conftest import TOKEN
from tests.conftest import wait_for
from tests.webhook_receiver import DrippingReceiver, WebhookReceiver

NORMAL = 5.0  # how long a delivery to a healthy receiver may take on a busy machine


def failed_job(runner: JobRunner) -> str:
    job = runner.start("Boom", "a")
    runner.wait(job.id, 10)
    return job.id


# ---------------------------------------------------------------------------------------- one URL, not all


def test_a_hanging_receiver_delays_no_other_url(runner: JobRunner) -> None:
    with WebhookReceiver() as hanging, WebhookReceiver() as healthy:
        hanging.hold.clear()  # answers nothing until released
        notifier = Notifier(runner.store, [f"{hanging.url}/hook", f"{healthy.url}/hook"], timeout=30,
                            allow_private=True)
        create_app(runner=runner, token=TOKEN, notifier=notifier)
        try:
            first, second = failed_job(runner), failed_job(runner)
            wait_for(lambda: {r.json["id"] for r in healthy.at("/hook")} == {first, second}, timeout=NORMAL,
                     what="both deliveries to the healthy receiver while the other one hangs")
            assert hanging.at("/hook") == []
        finally:
            hanging.hold.set()
            notifier.close()


def test_a_dripping_receiver_is_cut_off_at_the_deadline_and_delays_no_other_url(
        runner: JobRunner, caplog: pytest.LogCaptureFixture) -> None:
    with DrippingReceiver(interval=0.1) as dripping, WebhookReceiver() as healthy:
        notifier = Notifier(runner.store, [f"{dripping.url}/hook", f"{healthy.url}/hook"], timeout=1.0,
                            attempts=1, allow_private=True)
        create_app(runner=runner, token=TOKEN, notifier=notifier)
        try:
            with caplog.at_level(logging.WARNING, "jobdeck.notify"):
                job_id = failed_job(runner)
                started = time.monotonic()
                wait_for(lambda: len(healthy.at("/hook")) == 1, timeout=NORMAL, what="the healthy delivery")
                # A byte every 0.1 s never trips a per-read timeout; the request's own deadline (1 s) ends it.
                wait_for(lambda: notifier.pending == 0, timeout=NORMAL, what="the dripping request to be cut off")
                assert time.monotonic() - started < NORMAL
            assert dripping.connections == 1
            gave_up = [r.getMessage() for r in caplog.records if "gave up" in r.getMessage()]
            assert len(gave_up) == 1 and job_id in gave_up[0] and "no complete answer within 1s" in gave_up[0]
        finally:
            notifier.close()


def test_a_full_queue_drops_its_oldest_delivery_with_a_log_line(runner: JobRunner,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    with WebhookReceiver() as receiver:
        receiver.hold.clear()
        notifier = Notifier(runner.store, [f"{receiver.url}/hook"], timeout=30, max_queue=2, allow_private=True)
        create_app(runner=runner, token=TOKEN, notifier=notifier)
        try:
            with caplog.at_level(logging.WARNING, "jobdeck.notify"):
                in_flight = failed_job(runner)
                wait_for(lambda: receiver.arrived == 1, what="the first delivery to be under way")
                oldest, kept1, kept2 = failed_job(runner), failed_job(runner), failed_job(runner)
                wait_for(lambda: notifier.dropped == 1, what="the oldest queued delivery to be dropped")
            assert notifier.pending == 3  # one in flight, two queued
            dropped = [r.getMessage() for r in caplog.records if "dropped" in r.getMessage()]
            assert len(dropped) == 1 and oldest in dropped[0] and "queue" in dropped[0]
            assert "/hook" not in dropped[0]  # the URL's path is not logged (Slack's carry a secret)
            receiver.hold.set()
            wait_for(lambda: len(receiver.at("/hook")) == 3, timeout=NORMAL, what="the three kept deliveries")
            assert {r.json["id"] for r in receiver.at("/hook")} == {in_flight, kept1, kept2}
        finally:
            receiver.hold.set()
            notifier.close()


class _BuggyOnce(Notifier):
    """A notifier whose request building fails once, as a bug in it (or a library) would."""

    failed = False

    def _request(self, delivery: _Delivery) -> tuple[str, bytes, dict[str, str]]:
        if not self.failed:
            self.failed = True
            raise RuntimeError("a bug")
        return super()._request(delivery)


def test_an_unexpected_error_does_not_end_notifications(runner: JobRunner) -> None:
    with WebhookReceiver() as receiver:
        notifier = _BuggyOnce(runner.store, [f"{receiver.url}/hook"], backoff=0.05, allow_private=True)
        create_app(runner=runner, token=TOKEN, notifier=notifier)
        try:
            first = failed_job(runner)
            wait_for(lambda: notifier.failed and len(receiver.at("/hook")) == 1, timeout=NORMAL,
                     what="the first job's delivery, retried after the error")
            second = failed_job(runner)
            wait_for(lambda: len(receiver.at("/hook")) == 2, timeout=NORMAL, what="a later job's delivery")
            assert [r.json["id"] for r in receiver.at("/hook")] == [first, second]
        finally:
            notifier.close()


# ---------------------------------------------------------------------------------------- targets


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:6379/", "http://localhost:8000/hook", "http://LOCALHOST./x", "http://api.localhost/x",
    "http://[::1]:8000/hook", "http://[::ffff:127.0.0.1]/x", "http://169.254.169.254/latest/meta-data/",
    "http://[fe80::1]/x", "http://0.0.0.0:8000/x", "http://0.1.2.3/x", "http://224.0.0.1/x",
    "slack+https://127.0.0.2/services/T/B/X",
])
def test_targets_on_this_machine_are_refused_unless_allowed(url: str) -> None:
    with pytest.raises(InvalidArgumentError, match="--notify-allow-private") as caught:
        check_notify_url(url)
    assert "/services/" not in str(caught.value) and "meta-data" not in str(caught.value)
    assert check_notify_url(url, allow_private=True) == url
    with pytest.raises(InvalidArgumentError, match="--notify-allow-private"):
        Notifier(MemoryStore(), [url])
    with pytest.raises(InvalidArgumentError, match="JOBDECK_NOTIFY_ALLOW_PRIVATE"):
        Settings.from_env({"JOBDECK_NOTIFY": url})
    assert Settings.from_env({"JOBDECK_NOTIFY": url, "JOBDECK_NOTIFY_ALLOW_PRIVATE": "1"}).notify == (url,)


@pytest.mark.parametrize("url", ["https://alerts.example.com/hook", "http://10.0.0.7:9000/hook",
                                 "http://192.168.1.20/hook", "http://[fd00::7]/hook", "http://8.8.8.8/x"])
def test_other_targets_are_accepted(url: str) -> None:
    assert check_notify_url(url) == url


def test_an_invalid_port_is_one_clear_error() -> None:
    with pytest.raises(InvalidArgumentError, match="invalid host or port"):
        check_notify_url("http://example.com:99999/x")


def test_serve_refuses_a_local_target_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--store", "memory://", "--notify", "http://127.0.0.1:6379/"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "loopback" in err and "--notify-allow-private" in err


def _loopback_name() -> str:
    """A host name other than localhost that resolves to a loopback address on this machine."""
    for name in (socket.gethostname(), "ip6-localhost", "ip6-loopback"):
        try:
            addresses = {info[4][0] for info in socket.getaddrinfo(name, 80, type=socket.SOCK_STREAM)}
        except OSError:
            continue
        if addresses and all(a.startswith("127.") or a == "::1" for a in addresses) and "localhost" not in name:
            return name
    pytest.skip("no host name other than localhost resolves to loopback here")


def test_a_name_resolving_to_this_machine_is_refused_when_sent(runner: JobRunner,
                                                               caplog: pytest.LogCaptureFixture) -> None:
    name = _loopback_name()
    with WebhookReceiver() as receiver:
        port = receiver.url.rsplit(":", 1)[1]
        notifier = Notifier(runner.store, [f"http://{name}:{port}/hook"])  # a name: accepted at start
        create_app(runner=runner, token=TOKEN, notifier=notifier)
        try:
            with caplog.at_level(logging.WARNING, "jobdeck.notify"):
                job_id = failed_job(runner)
                wait_for(lambda: notifier.dropped == 1, timeout=NORMAL, what="the refused delivery")
            assert receiver.attempts == 0 and receiver.at("/hook") == []
            refused = [r.getMessage() for r in caplog.records if "dropped" in r.getMessage()]
            assert len(refused) == 1 and job_id in refused[0] and "--notify-allow-private" in refused[0]
        finally:
            notifier.close()
        allowed = Notifier(runner.store, [f"http://{name}:{port}/hook"], allow_private=True)
        create_app(runner=runner, token=TOKEN, notifier=allowed)
        try:
            job_id = failed_job(runner)
            wait_for(lambda: len(receiver.at("/hook")) == 1, timeout=NORMAL, what="the allowed delivery")
            assert receiver.at("/hook")[0].json["id"] == job_id
        finally:
            allowed.close()


# ---------------------------------------------------------------------------------------- shutdown


def test_each_delivery_lost_at_shutdown_is_logged(runner: JobRunner, caplog: pytest.LogCaptureFixture) -> None:
    with WebhookReceiver(fail_first=1000) as receiver:
        notifier = Notifier(runner.store, [f"{receiver.url}/secret-path/a", f"{receiver.url}/secret-path/b"],
                            backoff=60, allow_private=True)
        create_app(runner=runner, token=TOKEN, notifier=notifier)
        job_id = failed_job(runner)
        wait_for(lambda: receiver.attempts == 2, what="the first attempts (answered 500)")
        wait_for(lambda: notifier.pending == 2 and not any(s.busy_now() for s in notifier._senders.values()),
                 what="both retries to be queued")
        with caplog.at_level(logging.WARNING, "jobdeck.notify"):
            notifier.close()
    lost = [r.getMessage() for r in caplog.records if "dropped at shutdown" in r.getMessage()]
    assert len(lost) == 2 and notifier.dropped == 2
    for line in lost:
        assert job_id in line and "(job.failed)" in line and receiver.url in line and "retry 1 was due" in line
        assert "secret-path" not in line


def test_a_job_failed_by_the_shutdown_is_notified(runner: JobRunner) -> None:
    release = threading.Event()

    def stubborn(ctl: Any) -> None:
        release.wait(30)  # never looks at its abort request

    runner.register("Stubborn", stubborn)
    with WebhookReceiver() as receiver:
        notifier = Notifier(runner.store, [f"{receiver.url}/hook"], allow_private=True)
        app = create_app(runner=runner, token=TOKEN, notifier=notifier, shutdown_grace=0.3)

        async def serve_and_stop() -> None:
            async with app.router.lifespan_context(app):
                job = runner.start("Stubborn", "a")
                wait_for(lambda: runner.store.require_job(job.id).status.value == "running", what="the job")

        try:
            asyncio.run(serve_and_stop())
            # close() sent it before the app's shutdown returned: no waiting here.
            got = receiver.at("/hook")
            assert len(got) == 1 and got[0].json["event"] == "job.failed" and got[0].json["jobType"] == "Stubborn"
        finally:
            release.set()
