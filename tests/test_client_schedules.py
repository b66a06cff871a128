"""jobdeck.Client's schedule calls against a real ``jobdeck serve --demo`` (uvicorn on a free loopback port, demo
speed 10): create, list, change, pause, resume, trigger and delete; the server's refusals as ClientError with
their status; a viewer reads but cannot change."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from jobdeck import Client, ClientError, InvalidArgumentError, JobStatus
from jobdeck.cli.demo import DEMO_SCHEDULE
from jobdeck.core.model import parse_time
from tests.cli.server import TOKEN, ServerProcess
from tests.conftest import wait_for
from tests.serve_process import demo_args

VIEWER = "client-viewer-token-31d7a0"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A demo server with the demo's code schedule (other tests' servers leave it out) and a viewer token."""
    args = demo_args("memory://", 10, "--viewer-token", VIEWER, schedule=True)
    with ServerProcess(tmp_path_factory.mktemp("client-schedules"), args, token=TOKEN) as proc:
        yield proc


@pytest.fixture
def client(server: ServerProcess) -> Iterator[Client]:
    with Client(server.url, token=server.token, timeout=10) as c:
        yield c
        for s in c.schedules():
            if s.get("source") == "admin":
                c.delete_schedule(s["id"])
        if c.active(messages=0):
            c.abort_all("test teardown")
            wait_for(lambda: not c.active(messages=0), timeout=15, what="active jobs to end")


def _times(isos: list[str]) -> list[float]:
    return [t for t in (parse_time(i) for i in isos) if t is not None]


def test_create_change_pause_resume_trigger_and_delete(client: Client) -> None:
    created = client.create_schedule("cl-every", "Cleanup", every=timedelta(minutes=5), params={"days": 4})
    assert (created["id"], created["jobType"], created["every"], created["params"], created["source"],
            created["paused"]) == ("cl-every", "Cleanup", 300, {"days": 4}, "admin", False)
    runs = _times(created["nextRuns"])
    assert len(runs) == 5 and all(round(b - a) == 300 for a, b in itertools.pairwise(runs))
    listed = {s["id"]: s for s in client.schedules()}
    assert {"cl-every", DEMO_SCHEDULE} <= set(listed)
    assert listed[DEMO_SCHEDULE]["source"] == "code"

    changed = client.update_schedule("cl-every", cron="0 3 * * *", timezone="Europe/Helsinki")
    assert (changed["cron"], changed.get("every"), changed["timezone"], changed["params"]) == \
        ("0 3 * * *", None, "Europe/Helsinki", {"days": 4})
    for run in _times(changed["nextRuns"]):
        local = datetime.fromtimestamp(run, ZoneInfo("Europe/Helsinki"))
        assert (local.hour, local.minute) == (3, 0), local

    assert client.pause_schedule("cl-every")["paused"] is True
    assert {s["id"]: s for s in client.schedules()}["cl-every"]["paused"] is True
    assert client.resume_schedule("cl-every")["paused"] is False

    job = client.trigger_schedule("cl-every")
    assert job.job_type == "Cleanup" and job.params == {"days": 4}
    assert client.wait(job.id, timeout=30).status is JobStatus.COMPLETED
    last = wait_for(lambda: {s["id"]: s for s in client.schedules()}["cl-every"].get("lastRun"), timeout=15,
                    what="the schedule's last run")
    assert last["jobId"] == job.id

    client.delete_schedule("cl-every")
    assert "cl-every" not in {s["id"] for s in client.schedules()}
    with pytest.raises(ClientError) as gone:
        client.delete_schedule("cl-every")
    assert gone.value.status_code == 404


def test_search_finds_the_jobs_a_schedule_started(client: Client) -> None:
    client.create_schedule("cl-search", "Cleanup", every=3600, params={"days": 6})
    scheduled = client.trigger_schedule("cl-search")
    client.wait(scheduled.id, timeout=30)
    other = client.start("Cleanup", params={"days": 6})  # newer, same type and params, no schedule
    client.wait(other.id, timeout=30)
    found = client.search(schedule_id="cl-search")
    assert [job["id"] for job in found["jobs"]] == [scheduled.id]
    assert found["jobs"][0]["scheduleId"] == "cl-search"
    assert client.search(schedule_id="cl-nobody")["jobs"] == []


@pytest.mark.parametrize(("fields", "status", "words"), [
    ({"job_type": "Cleanup", "cron": "61 * * * *"}, 400, "cron"),
    ({"job_type": "Cleanup", "cron": "0 3 * * *", "timezone": "Mars/Olympus"}, 400, "Mars/Olympus"),
    ({"job_type": "Cleanup", "every": 60, "params": {"days": 0}}, 400, "days"),
    ({"job_type": "NoSuchType", "every": 60}, 404, "NoSuchType"),
])
def test_what_the_server_refuses_names_the_problem(client: Client, fields: dict[str, object], status: int,
                                                   words: str) -> None:
    with pytest.raises(ClientError) as refused:
        client.create_schedule("cl-bad", **fields)  # type: ignore[arg-type]
    assert refused.value.status_code == status
    assert words in str(refused.value)
    assert "cl-bad" not in {s["id"] for s in client.schedules()}


def test_a_taken_id_an_unknown_one_and_arguments_checked_at_home(client: Client) -> None:
    client.create_schedule("cl-twice", "Cleanup", every=600)
    with pytest.raises(ClientError) as taken:
        client.create_schedule("cl-twice", "Cleanup", every=600)
    assert taken.value.status_code == 409
    for call in (client.pause_schedule, client.resume_schedule, client.trigger_schedule):
        with pytest.raises(ClientError) as unknown:
            call("cl-nobody")
        assert unknown.value.status_code == 404
    with pytest.raises(InvalidArgumentError):
        client.create_schedule("cl-both", "Cleanup", cron="* * * * *", every=60)
    with pytest.raises(InvalidArgumentError):
        client.create_schedule("cl-none", "Cleanup")
    with pytest.raises(InvalidArgumentError):
        client.create_schedule("cl-neg", "Cleanup", every=-5)
    with pytest.raises(InvalidArgumentError):
        client.update_schedule("cl-twice")


def test_a_code_schedule_is_paused_but_not_edited_or_deleted(client: Client) -> None:
    try:
        assert client.pause_schedule(DEMO_SCHEDULE)["paused"] is True
    finally:
        client.resume_schedule(DEMO_SCHEDULE)
    for refused_call in (lambda: client.update_schedule(DEMO_SCHEDULE, every=60),
                         lambda: client.delete_schedule(DEMO_SCHEDULE)):
        with pytest.raises(ClientError) as refused:
            refused_call()
        assert refused.value.status_code in (400, 409)
    assert DEMO_SCHEDULE in {s["id"] for s in client.schedules()}


def test_a_viewer_reads_schedules_but_cannot_change_them(server: ServerProcess, client: Client) -> None:
    client.create_schedule("cl-viewed", "Cleanup", every=600)
    with Client(server.url, token=VIEWER, timeout=10) as viewer:
        assert "cl-viewed" in {s["id"] for s in viewer.schedules()}
        for call in (lambda: viewer.pause_schedule("cl-viewed"), lambda: viewer.trigger_schedule("cl-viewed"),
                     lambda: viewer.delete_schedule("cl-viewed"),
                     lambda: viewer.create_schedule("cl-viewer", "Cleanup", every=60)):
            with pytest.raises(ClientError) as refused:
                call()
            assert refused.value.status_code == 403
    assert {s["id"]: s for s in client.schedules()}["cl-viewed"]["paused"] is False
