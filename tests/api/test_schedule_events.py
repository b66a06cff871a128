"""What a schedule's occurrences are seen as outside the store (issue 23): webhook events when one is skipped or
missed (a real receiver on loopback), and the Prometheus figures of the process that fired them."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from jobdeck import JobRunner
from jobdeck.api import create_app
from jobdeck.api._notify import Notifier
from jobdeck.core.schedule import ScheduleSpec
from tests.api.conftest import TOKEN
from tests.conftest import wait_for
from tests.webhook_receiver import WebhookReceiver

T0 = datetime(2031, 5, 5, 12, 0, tzinfo=UTC).timestamp()  # ahead of the real clock: only the test fires these


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as r:
        yield r


@pytest.fixture
def notifier(runner: JobRunner, receiver: WebhookReceiver) -> Iterator[Notifier]:
    made = Notifier(runner.store, [f"{receiver.url}/hook", f"slack+{receiver.url}/slack"],
                    public_url="https://jobs.example.com", backoff=0.05, allow_private=True)
    made.schedules.every = 0.05
    yield made
    made.close()


def fire_busy_and_missed(runner: JobRunner) -> str:
    """A Waits schedule whose second occurrence is skipped (its first job still runs), and an hourly one down
    for three hours with a ten-minute grace (three missed). The first job's id."""
    runner.scheduler.create(ScheduleSpec.build("busy", "Waits", every=60), "alice", now=T0)
    runner.scheduler.create(ScheduleSpec.build("hourly", "Quick", cron="0 * * * *", misfire_grace=600), "alice",
                            now=T0)
    runner.fire_schedules(T0 + 61)
    (first,) = runner.retry_due(T0 + 61)
    runner.fire_schedules(T0 + 121)
    runner.scheduler.edit("busy", "alice", paused=True, now=T0 + 122)  # only "hourly" goes on
    runner.fire_schedules(T0 + 3 * 3600 + 900)
    return first


def test_a_skipped_and_a_missed_occurrence_are_webhook_events(runner: JobRunner, receiver: WebhookReceiver,
                                                              notifier: Notifier) -> None:
    create_app(runner=runner, token=TOKEN, notifier=notifier)  # starts the notifier
    first = fire_busy_and_missed(runner)
    wait_for(lambda: len(receiver.at("/hook")) == 2, what="two schedule notifications")
    events = {r.json["event"]: r.json for r in receiver.at("/hook")}
    skipped, missed = events["schedule.skipped"], events["schedule.missed"]
    assert skipped["id"] == "busy" and skipped["jobType"] == "Waits" and skipped["count"] == 1
    assert f"a job of the schedule is still active ({first})" in skipped["reason"]
    assert skipped["link"] == "https://jobs.example.com/api/admin/jobs/schedules/busy"
    assert missed["id"] == "hourly" and missed["count"] == 3 and missed["total"] == 3
    assert "older than misfireGrace (600s)" in missed["reason"]
    wait_for(lambda: len(receiver.at("/slack")) == 2, what="the Slack messages")
    slack = [r.json for r in receiver.at("/slack")]
    assert any("schedule busy (Waits): 1 occurrence(s) skipped" in m["text"] for m in slack)
    runner.abort(first)
    # Counts from before the notifier started are not sent again by a new one.
    again = Notifier(runner.store, [f"{receiver.url}/again"], allow_private=True)
    again.schedules.every = 0.05
    again.start()
    try:
        assert again.schedules.check("", force=True) == 0
    finally:
        again.close()
    assert [r.json["event"] for r in receiver.at("/again") if r.json["event"].startswith("schedule.")] == []


async def test_metrics_count_started_skipped_and_missed_occurrences(runner: JobRunner) -> None:
    app = create_app(runner=runner, token=TOKEN, metrics_token="m-token")
    first = fire_busy_and_missed(runner)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://testserver") as client:
        text = (await client.get("/metrics", headers={"Authorization": "Bearer m-token"})).text
    found = {(s.name, tuple(sorted(s.labels.items()))): s.value
             for family in text_string_to_metric_families(text) for s in family.samples}

    def runs(schedule: str, outcome: str) -> float:
        return found.get(("jobdeck_schedule_runs_total", (("outcome", outcome), ("schedule", schedule))), 0.0)

    assert runs("busy", "started") == 1 and runs("busy", "skipped") == 1 and runs("hourly", "missed") == 3
    assert runs("hourly", "started") == 0
    assert found[("jobdeck_schedule_last_run_timestamp_seconds", (("schedule", "busy"),))] == T0 + 60
    runner.abort(first)


pytestmark = pytest.mark.anyio
