"""jobdeck.Client against a real ``jobdeck serve --demo`` (uvicorn on a free loopback port, demo speed 10)."""

from __future__ import annotations

import socket
import threading
import uuid
from collections.abc import Iterator

import pytest

from jobdeck import Client, ClientError, EventType, JobEvent, JobInfo, JobStatus
from jobdeck.client import EventStream, StreamReset
from tests.cli.proxy import CuttableProxy
from tests.cli.server import ServerProcess, running_server
from tests.conftest import free_port, wait_for

# Demo job types at speed 10: Cleanup ends in ~0.4 s, DataImport(rows=10, fail_at=0.1) fails in ~0.3 s,
# ArgumentCondensation(questions=50) runs for ~20 s (long enough to abort).
QUICK = ("Cleanup", {"days": 3})
FAILING = ("DataImport", {"rows": 10, "fail_at": 0.1})
LONG = ("ArgumentCondensation", {"questions": 50})


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with running_server(tmp_path_factory.mktemp("client-server")) as proc:
        yield proc


@pytest.fixture
def client(server: ServerProcess) -> Iterator[Client]:
    with Client(server.url, token=server.token, timeout=10) as c:
        yield c
        # Leave no job running for the next test (demo types allow one or two active jobs each).
        if c.active(messages=0):
            c.abort_all("test teardown")
            wait_for(lambda: not c.active(messages=0), timeout=15, what="active jobs to end")


def events_until_end(stream: EventStream, job_id: str) -> list[JobEvent]:
    """This job's events from the stream, up to and including its terminal status event."""
    seen: list[JobEvent] = []
    for event in stream:
        assert isinstance(event, JobEvent), event
        if event.job_id != job_id:
            continue
        seen.append(event)
        if event.type is EventType.STATUS and JobStatus(event.data["status"]).is_terminal:
            return seen
    raise AssertionError("stream ended early")


# ---------------------------------------------------------------------------------------------- endpoints


@pytest.mark.slow
def test_healthz_types_and_stats(client: Client) -> None:
    assert client.healthz() == {"status": "ok"}
    types = {t["jobType"]: t for t in client.types()}
    assert {"ArgumentCondensation", "DataImport", "Cleanup"} <= set(types)
    assert types["Cleanup"]["params"] == {"days": 30}
    stats = client.stats()
    assert {"running", "aborting", "completed", "failed", "aborted", "active", "staleAfter"} <= set(stats)


def test_start_returns_the_job_and_it_is_listed_then_past(client: Client) -> None:
    job = client.start(*QUICK, author="tester")
    assert isinstance(job, JobInfo)
    assert (job.job_type, job.author, job.params, job.status) == ("Cleanup", "tester", {"days": 3}, JobStatus.RUNNING)
    assert uuid.UUID(job.id)
    assert job.id in {j.id for j in client.active()} | {j.id for j in client.past()}
    final = client.wait(job.id, timeout=30)
    assert final.status is JobStatus.COMPLETED
    assert final.result == {"removed": 17}
    assert job.id not in {j.id for j in client.active()}
    past, cursor = client.past_page(job_type="Cleanup", statuses=["completed"])
    assert job.id in {j.id for j in past}
    assert all(j.job_type == "Cleanup" and j.status is JobStatus.COMPLETED for j in past)
    assert cursor  # X-Jobdeck-Cursor: where to go on from next time
    again = client.past(job_type="Cleanup", start_from=cursor)
    assert all(j.id != job.id or j.end_time is not None for j in again)


def test_job_with_messages_and_the_messages_endpoint(client: Client) -> None:
    job = client.wait(client.start(*QUICK).id, timeout=30)
    full = client.job(job.id)
    assert [m.message for m in full.info_messages] == ["Removing drafts older than 3 days", "Removed 17 drafts"]
    assert client.job(job.id, messages=0).info_messages == []
    assert len(client.job(job.id, messages=1).info_messages) == 1
    page = client.messages(job.id)
    assert [m["message"] for m in page["messages"]] == ["Removing drafts older than 3 days", "Removed 17 drafts"]
    assert client.messages(job.id, limit=1)["messages"][0]["message"] == "Removing drafts older than 3 days"


def test_wait_reports_failed_and_aborted(client: Client) -> None:
    failed = client.wait(client.start(*FAILING).id, timeout=30)
    assert failed.status is JobStatus.FAILED
    long = client.start(*LONG)
    answer = client.abort(long.id, reason="enough")
    assert answer["jobId"] == long.id
    aborted = client.wait(long.id, timeout=30)
    assert (aborted.status, aborted.abort_reason) == (JobStatus.ABORTED, "enough")


def test_abort_all_names_the_jobs(client: Client) -> None:
    long = client.start(*LONG)
    answer = client.abort_all("maintenance")
    assert answer["targetedJobs"] == 1 and answer["abortRequestedFor"] == 1
    assert answer["abortRequestedJobIds"] == [long.id]
    assert client.wait(long.id, timeout=30).status is JobStatus.ABORTED


# ---------------------------------------------------------------------------------------------- errors


@pytest.mark.parametrize(("call", "status", "text"), [
    (lambda c: c.job(str(uuid.uuid4())), 404, "not found"),
    (lambda c: c.job("not-a-uuid"), 400, "not-a-uuid"),
    (lambda c: c.start("NoSuchType"), 404, "NoSuchType"),
    (lambda c: c.start("Cleanup", params={"nonsense": 1}), 400, "nonsense"),
    (lambda c: c.abort(str(uuid.uuid4())), 404, "not found"),
    (lambda c: c.past(limit=0), 400, "limit"),
])
def test_error_answers_become_client_errors(client: Client, call: object, status: int, text: str) -> None:
    with pytest.raises(ClientError) as info:
        call(client)  # type: ignore[operator]
    assert info.value.status_code == status
    assert text in str(info.value)
    assert f"HTTP {status}" in str(info.value)


def test_abort_of_a_finished_job_answers_its_status(client: Client) -> None:
    job = client.wait(client.start(*QUICK).id, timeout=30)
    answer = client.abort(job.id)
    assert answer["status"] == job.status.value == "completed"
    assert "already ended" in answer["message"]


def test_starting_past_max_concurrent_is_a_conflict(client: Client) -> None:
    client.start(*LONG)
    with pytest.raises(ClientError) as info:
        client.start(*LONG)
    assert info.value.status_code == 409


def test_missing_and_wrong_token(server: ServerProcess) -> None:
    with Client(server.url) as anonymous, pytest.raises(ClientError) as info:
        anonymous.stats()
    assert info.value.status_code == 401
    with Client(server.url, token="not-the-token") as wrong:
        with pytest.raises(ClientError) as info:
            wrong.active()
        assert info.value.status_code == 403
        with pytest.raises(ClientError) as info:
            next(iter(wrong.iter_events()))
        assert info.value.status_code == 403
        assert "not-the-token" not in repr(wrong)
        assert "not-the-token" not in str(info.value)


def test_token_stays_out_of_repr_and_errors(server: ServerProcess) -> None:
    with Client(server.url, token=server.token) as c:
        assert server.token not in repr(c)
        with pytest.raises(ClientError) as info:
            c.job(str(uuid.uuid4()))
        assert server.token not in str(info.value)


def test_server_down_is_one_clear_line() -> None:
    port = free_port()
    with Client(f"http://127.0.0.1:{port}", token="t", timeout=2) as c, pytest.raises(ClientError) as info:
        c.active()
    assert info.value.status_code is None
    assert str(info.value) == f"cannot reach jobdeck at http://127.0.0.1:{port}: connection refused"


def test_a_silent_server_times_out_with_one_line() -> None:
    with socket.create_server(("127.0.0.1", 0)) as silent:  # accepts into the backlog, never answers
        port = silent.getsockname()[1]
        with Client(f"http://127.0.0.1:{port}", timeout=0.3) as c, pytest.raises(ClientError) as info:
            c.stats()
    assert info.value.status_code is None
    assert str(info.value) == f"cannot reach jobdeck at http://127.0.0.1:{port}: timed out after 0.3s"


def test_a_url_that_is_not_http_is_refused_at_once() -> None:
    with pytest.raises(ClientError, match="invalid jobdeck URL"):
        Client("ftp://127.0.0.1:8000")


# ---------------------------------------------------------------------------------------------- events


def test_iter_events_follows_a_job_from_created_to_status(client: Client) -> None:
    with client.iter_events() as stream:
        stream.connect()
        job = client.start("ArgumentCondensation", {"questions": 1})
        events = events_until_end(stream, job.id)
    kinds = [e.type for e in events]
    assert kinds[0] is EventType.CREATED
    assert events[0].data["jobType"] == "ArgumentCondensation"
    assert EventType.PROGRESS in kinds and EventType.MESSAGE in kinds
    assert events[-1].data["status"] == "completed"
    progress = [e.data["progress"] for e in events if e.type is EventType.PROGRESS]
    assert progress == sorted(progress) and progress[-1] == pytest.approx(1.0)
    ops = {e.data["currentOperation"]["id"] for e in events if e.type is EventType.PROGRESS
           and e.data["currentOperation"]}
    assert ops == {"data-loading", "question-q1-pros", "question-q1-cons", "saving"}
    assert len({e.id for e in events}) == len(events)


def test_iter_events_resumes_after_last_event_id(client: Client) -> None:
    with client.iter_events() as stream:
        stream.connect()
        job = client.start(*QUICK)
        first = events_until_end(stream, job.id)
    assert len(first) >= 4
    middle = len(first) // 2
    with client.iter_events(last_event_id=first[middle].id) as resumed:
        again = events_until_end(resumed, job.id)
    assert [e.id for e in again] == [e.id for e in first[middle + 1:]]
    assert again == first[middle + 1:]


def test_an_unknown_resume_point_surfaces_a_reset(client: Client) -> None:
    with client.iter_events(last_event_id="999999999") as stream:
        item = next(stream)
        assert isinstance(item, StreamReset)
        assert item.cursor is not None and item.cursor != "999999999"
        assert stream.last_event_id == item.cursor
        # After the reset the stream goes on from the server's current point.
        job = client.start(*QUICK)
        assert events_until_end(stream, job.id)[-1].data["status"] == "completed"


def test_iter_events_filters_by_job_type(client: Client) -> None:
    with client.iter_events(job_type="DataImport") as stream:
        stream.connect()
        quick = client.start(*QUICK)
        client.wait(quick.id, timeout=30)
        failing = client.start(*FAILING)
        events = events_until_end(stream, failing.id)
    assert {e.job_id for e in events} == {failing.id}
    assert events[-1].data["status"] == "failed"


def test_a_dropped_stream_reconnects_with_last_event_id_and_loses_nothing(server: ServerProcess,
                                                                         client: Client) -> None:
    proxy = CuttableProxy(server.port)
    try:
        with Client(proxy.url, token=server.token) as via_proxy, \
                client.iter_events() as direct, via_proxy.iter_events() as dropped:
            direct.connect()
            dropped.connect()
            assert proxy.accepted == 1
            job = client.start("ArgumentCondensation", {"questions": 2})
            got: list[JobEvent] = []
            for event in dropped:
                assert isinstance(event, JobEvent)
                if event.job_id == job.id:
                    got.append(event)
                if len(got) == 3:
                    break
            proxy.cut()
            for event in dropped:
                assert isinstance(event, JobEvent)
                if event.job_id != job.id:
                    continue
                got.append(event)
                if event.type is EventType.STATUS and event.data["status"] == "completed":
                    break
            assert proxy.accepted >= 2  # it really reconnected
            expected = events_until_end(direct, job.id)
    finally:
        proxy.close()
    assert [e.id for e in got] == [e.id for e in expected]


def test_closing_the_stream_from_another_thread_ends_iteration(client: Client) -> None:
    stream = client.iter_events()
    stream.connect()
    timer = threading.Timer(0.2, stream.close)
    timer.start()
    try:
        assert list(stream) == []
    finally:
        timer.cancel()
