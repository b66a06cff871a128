"""The diagnosis of an active job from its head, the workers and the type's rules (jobdeck.core.diagnosis): each
code from the situation that produces it, with the sentence a person reads."""

from __future__ import annotations

from jobdeck.core.diagnosis import Scene, TypeRules, span
from jobdeck.core.model import JobInfo, JobStatus
from jobdeck.core.workers import RunningRef, WorkerInfo

NOW = 1_800_000_000.0
HOLDER = "3fa2c1d0-1111-4000-8000-000000000000"


def worker(token: str, types: list[str], *, concurrency: int | None = 1, jobs: list[RunningRef] | None = None,
           seen_ago: float = 1.0) -> WorkerInfo:
    return WorkerInfo(f"box:{len(token)}:{token}", "box", 4242, "celery", tuple(types), concurrency, NOW - 3600,
                      last_seen=NOW - seen_ago, jobs=tuple(jobs or ()))


def queued(job_type: str = "DataImport", waited: float = 30.0, **fields: object) -> JobInfo:
    job = JobInfo("9b1e0000-0000-4000-8000-000000000000", job_type, "alice", status=JobStatus.QUEUED,
                  start_time=NOW - waited, queued_time=NOW - waited)
    for name, value in fields.items():
        setattr(job, name, value)
    return job


def running(quiet: float, beat_ago: float = 1.0, job_type: str = "DataImport") -> JobInfo:
    return JobInfo("77770000-0000-4000-8000-000000000000", job_type, "alice", status=JobStatus.RUNNING,
                   start_time=NOW - 3600, last_activity_time=NOW - quiet, heartbeat_time=NOW - beat_ago,
                   owner="box:1:abc")


def test_spans_read_at_a_glance() -> None:
    assert [span(s) for s in (0.4, 45, 89, 90, 41 * 60, 90 * 60, 3 * 3600)] == [
        "0 s", "45 s", "89 s", "2 min", "41 min", "1 h 30 min", "3 h"]


def test_no_worker_when_no_live_worker_runs_the_type_and_names_the_last_one_that_did() -> None:
    scene = Scene([worker("a", ["Condense"])], NOW, 60.0)
    assert scene.diagnose(queued()).to_dict() == {"code": "no_worker", "text": "no live worker runs DataImport"}
    killed = Scene([worker("k", ["DataImport"], seen_ago=180)], NOW, 60.0)
    found = killed.diagnose(queued())
    assert found is not None and found.code == "no_worker"
    assert found.text == "no live worker runs DataImport (the last one, box:4242, went silent 3 min ago)"


def test_slot_busy_when_the_type_runs_one_at_a_time_and_one_runs() -> None:
    holder = RunningRef(HOLDER, "DataImport", NOW - 41 * 60)
    scene = Scene([worker("a", ["DataImport"], concurrency=4, jobs=[holder])], NOW, 60.0,
                  rules={"DataImport": TypeRules(max_concurrent=1)})
    found = scene.diagnose(queued())
    assert found is not None and found.code == "slot_busy"
    assert found.text == "waiting for a slot: DataImport runs 1 at a time, held by job 3fa2c1d0, running 41 min"


def test_slot_busy_when_every_live_worker_of_the_type_is_full() -> None:
    other = RunningRef(HOLDER, "Condense", NOW - 120)
    scene = Scene([worker("a", ["DataImport", "Condense"], concurrency=1, jobs=[other])], NOW, 60.0,
                  rules={"DataImport": TypeRules(max_concurrent=5)})
    found = scene.diagnose(queued())
    assert found is not None and found.code == "slot_busy"
    assert found.text == ("waiting for a slot: the live worker that runs DataImport is busy (1 of 1 slots), held "
                          "by job 3fa2c1d0, running 2 min")


def test_dispatching_when_a_worker_has_a_free_slot_and_retry_wait_before_the_next_attempt_is_due() -> None:
    scene = Scene([worker("a", ["DataImport"], concurrency=2)], NOW, 60.0)
    found = scene.diagnose(queued(waited=3))
    assert found is not None and (found.code, found.text) == (
        "dispatching", "queued 3 s ago; a free worker that runs DataImport should claim it")
    waiting = scene.diagnose(queued(retry_at=NOW + 45, attempt=2, max_attempts=5))
    assert waiting is not None and waiting.code == "retry_wait"
    assert waiting.text.startswith("attempt 2 of 5 starts in 45 s (at ")
    due = scene.diagnose(queued(retry_at=NOW - 1, attempt=2, max_attempts=5))
    assert due is not None and due.code == "dispatching"


def test_running_ok_stalled_and_heartbeat_late() -> None:
    scene = Scene([], NOW, 60.0, rules={"DataImport": TypeRules(stall_after=600)})
    ok = scene.diagnose(running(quiet=3))
    assert ok is not None and (ok.code, ok.text) == ("ok", "working: last report 3 s ago")
    stalled = scene.diagnose(running(quiet=12 * 60))
    assert stalled is not None and stalled.code == "stalled"
    assert stalled.text == "no progress and no message for 12 min; its process is alive"
    assert scene.stalled(running(quiet=12 * 60)) and not scene.stalled(running(quiet=3))
    late = scene.diagnose(running(quiet=12 * 60, beat_ago=45))
    assert late is not None and (late.code, late.text) == (
        "heartbeat_late", "last heartbeat 45 s ago; failed as stale when it reaches 60 s")
    never = Scene([], NOW, 60.0, rules={"DataImport": TypeRules(stall_after=None)})
    assert never.diagnose(running(quiet=86400)).code == "ok"  # type: ignore[union-attr]


def test_abort_pending_says_who_asked_and_when_the_job_is_failed() -> None:
    job = running(quiet=1)
    job.status, job.abort_time, job.aborted_by = JobStatus.ABORTING, NOW - 12, "admin@example.org"
    found = Scene([], NOW, 60.0, abort_grace=30.0).diagnose(job)
    assert found is not None and found.code == "abort_pending"
    assert found.text == "abort requested 12 s ago by admin@example.org; failed in 18 s if the job does not stop"
    job.abort_time = NOW - 40
    late = Scene([], NOW, 60.0, abort_grace=30.0).diagnose(job)
    assert late is not None and "overdue" in late.text


def test_finished_jobs_have_no_diagnosis_and_queues_count_per_type() -> None:
    done = running(quiet=1)
    done.status = JobStatus.COMPLETED
    scene = Scene([worker("a", ["DataImport", "Condense"], concurrency=2),
                   worker("gone", ["DataImport"], seen_ago=300)], NOW, 60.0)
    assert scene.diagnose(done) is None
    figures = [q.to_dict() for q in scene.queues([queued(waited=30), queued(waited=90), done,
                                                   queued("Orphan", waited=5)])]
    assert figures == [
        {"jobType": "Condense", "queued": 0, "oldestWait": None, "liveWorkers": 1},
        {"jobType": "DataImport", "queued": 2, "oldestWait": 90.0, "liveWorkers": 1},
        {"jobType": "Orphan", "queued": 1, "oldestWait": 5.0, "liveWorkers": 0},
    ]


def test_scheduled_before_a_later_start_is_due_naming_its_schedule_and_dispatching_once_it_is() -> None:
    scene = Scene([worker("a", ["DataImport"], concurrency=2)], NOW, 60.0)
    later = scene.diagnose(queued(run_at=NOW + 7200, retry_at=NOW + 7200, schedule_id="nightly"))
    assert later is not None and later.code == "scheduled"
    assert later.text.startswith("starts at ") and later.text.endswith(", in 2 h (schedule nightly)")
    due = scene.diagnose(queued(run_at=NOW - 1, retry_at=NOW - 1))
    assert due is not None and due.code == "dispatching"
    # A retried run of a job that was started later waits for its attempt, not for its start.
    retry = scene.diagnose(queued(run_at=NOW - 600, retry_at=NOW + 30, attempt=2, max_attempts=3))
    assert retry is not None and retry.code == "retry_wait"


def test_the_sentences_come_in_the_readers_language_with_the_same_codes() -> None:
    busy = worker("a", ["DataImport"], jobs=[RunningRef(HOLDER, "DataImport", NOW - 60)])
    job = queued()
    english = Scene([busy], NOW, 60.0, rules={"DataImport": TypeRules(1)}).diagnose(job)
    finnish = Scene([busy], NOW, 60.0, rules={"DataImport": TypeRules(1)}, lang="fi").diagnose(job)
    assert english is not None and finnish is not None and english.code == finnish.code == "slot_busy"
    assert english.text == "waiting for a slot: DataImport runs 1 at a time, held by job 3fa2c1d0, running 60 s"
    assert finnish.text == ("odottaa vapaata paikkaa: tyyppiä DataImport ajetaan 1 kerrallaan, paikka on työllä "
                            "3fa2c1d0, käynnissä 60 s")
    assert Scene([], NOW, 60.0, lang="fi").json_of(running(quiet=4)) == (
        '{"code":"ok","text":"työskentelee: viimeisin ilmoitus 4 s sitten"}'.encode())


def test_a_gone_workers_shown_age_is_past_the_window_however_little_it_is_past() -> None:
    # Rounding to the nearest millisecond showed a worker gone by 0.4 ms as exactly ``stale_after`` old.
    for past in (0.0004, 0.001, 0.5):
        gone = worker("gone", ["DataImport"], seen_ago=3.0 + past)
        assert not gone.live(NOW, 3.0) and gone.heartbeat_age(NOW) > 3.0
    for before in (0.0, 0.0004):
        live = worker("live", ["DataImport"], seen_ago=3.0 - before)
        assert live.live(NOW, 3.0) and live.heartbeat_age(NOW) <= 3.0
    assert worker("fresh", ["DataImport"], seen_ago=1.2344).heartbeat_age(NOW) == 1.235
