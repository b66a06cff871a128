"""The job's data form: statuses, time format and the camelCase JSON round trip."""

from __future__ import annotations

import json

import pytest

from jobdeck import JobInfo, JobMessage, JobStatus, MessageType, OperationRef
from jobdeck.core.model import ACTIVE, TERMINAL, format_time, parse_time


def test_status_sets_partition_the_statuses() -> None:
    assert {JobStatus.QUEUED, JobStatus.RUNNING, JobStatus.ABORTING} == ACTIVE
    assert {JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.ABORTED} == TERMINAL
    assert set(JobStatus) == ACTIVE | TERMINAL
    assert JobStatus.ABORTING.is_active and JobStatus.QUEUED.is_active and JobStatus.ABORTED.is_terminal


def test_time_format_is_iso_utc_with_milliseconds_and_z() -> None:
    assert format_time(0.0) == "1970-01-01T00:00:00.000Z"
    assert format_time(1767225600.5) == "2026-01-01T00:00:00.500Z"
    assert format_time(None) is None
    assert parse_time("2026-01-01T00:00:00.500Z") == 1767225600.5
    assert parse_time("2026-01-01T01:00:00.500+01:00") == 1767225600.5
    with pytest.raises(ValueError):
        parse_time("yesterday")


def _job() -> JobInfo:
    return JobInfo(
        id="0b9a3f1e-8d4c-4a51-9e7b-2f3c4d5e6f70",
        job_type="ArgumentCondensation",
        author="admin@example.com",
        status=JobStatus.FAILED,
        progress=0.25,
        start_time=1767225600.0,
        end_time=1767225660.123,
        last_activity_time=1767225660.123,
        info_messages=[JobMessage(MessageType.INFO, "loading", 1767225601.0)],
        warning_messages=[JobMessage(MessageType.WARNING, "low confidence", 1767225602.0)],
        error_messages=[JobMessage(MessageType.ERROR, "rate limited", 1767225603.0)],
        params={"questions": [1, 2]},
        result=None,
        current_operation=OperationRef("question-processing", 2, 3),
    )


def test_json_uses_the_reference_camel_case_keys() -> None:
    data = _job().to_dict()
    for key in ("id", "jobType", "author", "status", "progress", "startTime", "endTime", "lastActivityTime",
                "infoMessages", "warningMessages", "errorMessages"):
        assert key in data
    assert data["status"] == "failed"
    assert data["endTime"] == "2026-01-01T00:01:00.123Z"
    assert data["infoMessages"] == [{"type": "info", "message": "loading", "timestamp": "2026-01-01T00:00:01.000Z"}]
    assert data["currentOperation"] == {"id": "question-processing", "index": 2, "total": 3}


def test_json_round_trip_preserves_the_job() -> None:
    job = _job()
    again = JobInfo.from_json(job.to_json())
    assert again == job
    assert json.loads(job.to_json()) == job.to_dict()


def test_summary_view_keeps_only_the_newest_messages() -> None:
    job = _job()
    job.info_messages = [JobMessage(MessageType.INFO, f"m{i}", 1767225600.0 + i) for i in range(5)]
    assert [m["message"] for m in job.to_dict(messages=2)["infoMessages"]] == ["m3", "m4"]
    assert job.to_dict(messages=0)["infoMessages"] == []


def test_all_messages_merges_kinds_in_time_order() -> None:
    assert [m.message for m in _job().all_messages()] == ["loading", "low confidence", "rate limited"]
