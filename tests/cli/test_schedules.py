"""``jobdeck schedules`` against a real demo server: the list (human and --json), pause, resume and trigger (with
--wait), and the usage and not-found errors with their exit codes."""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from rich.console import Console

from jobdeck import Client
from jobdeck.cli._schedules import relative_words, runs_text, schedules_table
from jobdeck.core.model import parse_time
from tests.cli.conftest import Run

ID = "cli-sched"


@pytest.fixture
def mine(client: Client) -> Iterator[str]:
    """A schedule of this test's own (a Cleanup every hour), deleted afterwards."""
    client.create_schedule(ID, "Cleanup", every=3600, params={"days": 2})
    try:
        yield ID
    finally:
        client.delete_schedule(ID)


def test_list_shows_each_schedule_with_its_next_and_last_run(cli: Run, client: Client, mine: str) -> None:
    result = cli("schedules")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["ID", "TYPE", "RUNS", "NEXT", "RUN", "LAST", "RUN", "STATE"]
    row = next(line for line in lines if line.startswith(mine))
    # Every hour runs on the hour (multiples of 3600 s since 1970, UTC): the row shows that time and how far it is.
    due = parse_time({s["id"]: s for s in client.schedules()}[mine]["nextRuns"][0]) or 0.0
    left = round((due - time.time()) / 60)
    assert f"every 1 h  {datetime.fromtimestamp(due).strftime('%Y-%m-%d %H:%M')} (in " in row, row
    found = re.search(r"\(in (\d+) (min|s)\)", row)
    assert found, row
    assert (int(found[1]) if found[2] == "min" else 0) in (left - 1, left, left + 1), row
    assert row.rstrip().endswith("active") and "code" not in row

    as_json = cli("schedules", "--json")
    assert as_json.returncode == 0, as_json.stderr
    listed = {s["id"]: s for s in json.loads(as_json.stdout)}
    assert listed[mine]["every"] == 3600 and listed[mine]["params"] == {"days": 2}
    assert set(listed) == {s["id"] for s in client.schedules()}


def test_pause_resume_and_trigger(cli: Run, client: Client, mine: str) -> None:
    paused = cli("schedules", "pause", mine)
    assert paused.returncode == 0, paused.stderr
    assert paused.stdout.strip() == f"schedule {mine} paused: no runs until it is resumed"
    assert {s["id"]: s for s in client.schedules()}[mine]["paused"] is True
    listed = cli("schedules").stdout
    assert re.search(rf"^{mine} .* paused +- +paused$", listed, re.M), listed

    resumed = cli("schedules", "resume", mine, "--json")
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout)["paused"] is False
    again = cli("schedules", "resume", mine)
    assert re.fullmatch(rf"schedule {mine} resumed; next run \d{{4}}-\d\d-\d\d \d\d:\d\d \(in \d+ (min|s)\)\n",
                        again.stdout), again.stdout

    triggered = cli("schedules", "trigger", mine, "--wait")
    assert triggered.returncode == 0, triggered.stderr  # 0: the job completed
    job_id = triggered.stdout.splitlines()[0].strip()
    uuid.UUID(job_id)
    job = client.job(job_id, messages=0)
    assert (job.job_type, job.params, job.status.value) == ("Cleanup", {"days": 2}, "completed")
    assert job.to_dict(messages=0)["scheduleId"] == mine


@pytest.mark.parametrize(("args", "code", "words"), [
    (["schedules", "pause", "cli-no-such-schedule"], 5, "cli-no-such-schedule"),
    (["schedules", "trigger", "cli-no-such-schedule"], 5, "cli-no-such-schedule"),
    (["schedules", "pause"], 7, "pause needs the schedule's ID"),
    (["schedules", "list", "x"], 7, "list takes no ID"),
    (["schedules", "pause", "x", "--wait"], 7, "--wait follows a triggered job"),
    (["schedules", "stop", "x"], 7, "invalid choice"),
])
def test_errors_are_one_line_with_their_exit_code(cli: Run, args: list[str], code: int, words: str) -> None:
    result = cli(*args)
    assert result.returncode == code, (result.stdout, result.stderr)
    assert words in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_start_at_a_time_waits_queued_until_then(cli: Run, client: Client) -> None:
    when = datetime.fromtimestamp(time.time() + 3600, UTC).replace(microsecond=0)
    started = cli("start", "Cleanup", "--param", "days=4", "--at", when.isoformat())
    assert started.returncode == 0, started.stderr
    job = client.job(started.stdout.strip(), messages=0)
    assert job.status.value == "queued" and job.run_at == when.timestamp()
    # Without an offset the time is this machine's local time (the CLI's TZ is the test's).
    local = datetime.fromtimestamp(when.timestamp() + 60).strftime("%Y-%m-%dT%H:%M:%S")
    later = cli("start", "Cleanup", "--at", local, "--json")
    assert later.returncode == 0, later.stderr
    assert parse_time(json.loads(later.stdout)["runAt"]) == when.timestamp() + 60
    aborted = cli("abort", job.id)
    assert aborted.returncode == 0, aborted.stderr
    assert client.job(job.id, messages=0).status.value == "aborted"  # ended before it ever ran
    bad = cli("start", "Cleanup", "--at", "tomorrow")
    assert bad.returncode == 7 and "--at expects an ISO 8601 time" in bad.stderr


def test_words_for_times_and_cadences() -> None:
    assert [relative_words(s) for s in (0.2, 30, -90, 4 * 3600, 3 * 86400)] == \
        ["now", "in 30 s", "2 min ago", "in 4 h", "in 3 days"]
    assert runs_text({"every": 900}) == "every 15 min"
    assert runs_text({"every": 90}) == "every 90 s"
    assert runs_text({"cron": "0 3 * * *", "timezone": "Europe/Helsinki"}) == "cron 0 3 * * * (Europe/Helsinki)"
    table = schedules_table([{"id": "n", "jobType": "T", "every": 60, "paused": True, "source": "code", "missed": 2,
                              "skipped": 1, "nextRuns": [], "lastRun": None}])
    console = Console(width=200, record=True)
    console.print(table)
    assert console.export_text().splitlines()[1].split("  ")[-1].strip() == "paused · code · 2 missed · 1 skipped"
