"""Schedules on every store (issue 23), with a controllable clock: the compare-and-set the scheduler rests on, and
the scheduler itself -- one occurrence one job across two runners, misfire grace, overlap skip and queue, pause and
resume, both DST nights, runAt starts and their abort, code schedules synchronised, a claim left by a dead process
recovered once.

The clock the tests pass (``now``) lies years ahead of the real one, so that the supervisor threads the runners
start (real time) never find these schedules due: only the test fires them.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from jobdeck import JobConflictError, JobRunner, PipelineController, StoreError, UnknownJobTypeError
from jobdeck.core.model import JobStatus
from jobdeck.core.schedule import ScheduleSpec
from jobdeck.core.schedule_state import Pending, Schedule
from jobdeck.stores import Store
from tests.conftest import wait_for
from tests.stores.conftest import Backend

BERLIN = ZoneInfo("Europe/Berlin")
T0 = datetime(2031, 5, 5, 12, 0, tzinfo=ZoneInfo("UTC")).timestamp()  # a round hour, years ahead


def make_runner(store: Store) -> JobRunner:
    runner = JobRunner(store, abort_grace=2)

    def quick(ctl: PipelineController, n: int = 1) -> dict[str, int]:
        return {"n": n}

    def waits(ctl: PipelineController) -> None:
        while True:
            ctl.check_abort()
            ctl.progress(0.5)
            threading.Event().wait(0.01)

    runner.register("Quick", quick, max_concurrent=100)
    runner.register("Waits", waits, max_concurrent=1)
    return runner


@pytest.fixture
def runners(backend: Backend) -> Iterator[list[JobRunner]]:
    """Two runners, as two processes would have: on two store objects of one location (shared stores), or on one
    memory store."""
    first = backend.open()
    second = backend.open() if backend.shared else first
    made = [make_runner(first), make_runner(second)]
    yield made
    for runner in made:
        runner.shutdown(grace=2)


def scheduled_jobs(store: Store, schedule_id: str) -> list[str]:
    jobs = store.get_active_jobs(messages=False) + store.get_past_jobs(messages=False)
    return sorted(j.id for j in jobs if j.schedule_id == schedule_id)


# ---------------------------------------------------------------------- the store's compare-and-set


def test_add_refuses_a_taken_id_and_delete_removes(store: Store) -> None:
    schedule = Schedule.new(ScheduleSpec.build("s", "T", every=60), "admin", "alice", T0)
    assert store.add_schedule(schedule)
    assert not store.add_schedule(replace(schedule, created_by="bob"))
    assert store.get_schedule("s") == schedule
    assert [s.id for s in store.schedules()] == ["s"]
    assert store.delete_schedule("s") and not store.delete_schedule("s")
    assert store.get_schedule("s") is None and store.schedules() == []


def test_concurrent_updates_from_two_store_objects_lose_none(backend: Backend) -> None:
    one = backend.open()
    two = backend.open() if backend.shared else one
    one.add_schedule(Schedule.new(ScheduleSpec.build("count", "T", every=60), "admin", "alice", T0))

    def bump(store: Store) -> None:
        for _ in range(15):
            store.update_schedule("count", lambda s: replace(s, missed=s.missed + 1))

    threads = [threading.Thread(target=bump, args=(s,)) for s in (one, two, one, two)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    found = two.get_schedule("count")
    assert found is not None and found.missed == 60  # every increment landed exactly once


def test_update_returns_none_when_the_change_declines_or_the_schedule_is_gone(store: Store) -> None:
    store.add_schedule(Schedule.new(ScheduleSpec.build("s", "T", every=60), "admin", "alice", T0))
    assert store.update_schedule("s", lambda s: None) is None
    assert store.update_schedule("nope", lambda s: replace(s, paused=True)) is None
    updated = store.update_schedule("s", lambda s: replace(s, paused=True))
    assert updated is not None and updated.paused and store.get_schedule("s") == updated


# ---------------------------------------------------------------------- firing


def test_one_occurrence_fired_by_two_runners_starts_one_job(runners: list[JobRunner]) -> None:
    a, b = runners
    a.scheduler.create(ScheduleSpec.build("often", "Quick", every=60, params={"n": 3}), "alice", now=T0)
    due = T0 + 60
    a.fire_schedules(due + 0.5)
    b.fire_schedules(due + 0.6)
    jobs = scheduled_jobs(a.store, "often")
    assert len(jobs) == 1
    job = a.store.require_job(jobs[0])
    assert job.status is JobStatus.QUEUED and job.run_at == due and job.author == "schedule:often"
    assert job.to_dict()["scheduleId"] == "often" and job.params == {"n": 3}
    started = a.retry_due(due + 1) + b.retry_due(due + 1)
    assert started == jobs  # started once, by one of them
    done = wait_for(lambda: (j := a.store.get_job(jobs[0])) is not None and j.status.is_terminal and j,
                    what="the scheduled job to end")
    assert done.status is JobStatus.COMPLETED and done.result == {"n": 3}
    schedule = b.store.get_schedule("often")
    assert schedule is not None and schedule.last_run is not None and schedule.last_run.job_id == jobs[0]
    assert schedule.started == 1 and schedule.next_fire == due + 60 and schedule.pending is None


def test_each_occurrence_gets_its_own_job(runners: list[JobRunner]) -> None:
    a, b = runners
    a.scheduler.create(ScheduleSpec.build("often", "Quick", every=60), "alice", now=T0)
    for minute in range(1, 4):
        for runner in (a, b, a):
            runner.fire_schedules(T0 + 60 * minute + 1)
        a.retry_due(T0 + 60 * minute + 2)
        wait_for(lambda: not a.store.get_active_jobs(messages=False), what="the job to end")
    jobs = [a.store.require_job(j) for j in scheduled_jobs(a.store, "often")]
    assert sorted(j.run_at or 0 for j in jobs) == [T0 + 60, T0 + 120, T0 + 180]


def test_after_downtime_the_occurrences_within_the_grace_start_once_and_older_ones_are_missed(
        runners: list[JobRunner]) -> None:
    a, b = runners
    a.scheduler.create(ScheduleSpec.build("tenmin", "Quick", every=600, misfire_grace=3600), "alice", now=T0)
    # Down from T0 until T0 + 3 h + 5 min: due were T0+10min ... T0+3h (18 occurrences); those older than an hour
    # (T0+10min ... T0+2h, 12 of them) are missed, the six within the hour start once: the latest, T0+3h.
    b.fire_schedules(T0 + 3 * 3600 + 300)
    a.fire_schedules(T0 + 3 * 3600 + 301)
    jobs = [a.store.require_job(j) for j in scheduled_jobs(a.store, "tenmin")]
    assert [j.run_at for j in jobs] == [T0 + 3 * 3600]
    schedule = a.store.get_schedule("tenmin")
    assert schedule is not None and schedule.missed == 12 and schedule.next_fire == T0 + 3 * 3600 + 600
    assert schedule.coalesced == 5  # the other occurrences within the hour, covered by the one start


def test_after_downtime_longer_than_the_grace_nothing_starts_and_all_are_missed(runners: list[JobRunner]) -> None:
    a, _ = runners
    a.scheduler.create(ScheduleSpec.build("hourly", "Quick", cron="0 * * * *", misfire_grace=600), "alice", now=T0)
    a.fire_schedules(T0 + 3 * 3600 + 900)  # 13:00, 14:00 and 15:00 missed (15:00 by 15 min > 10 min)
    assert scheduled_jobs(a.store, "hourly") == []
    schedule = a.store.get_schedule("hourly")
    assert schedule is not None and schedule.missed == 3 and schedule.next_fire == T0 + 4 * 3600


def test_overlap_skip_skips_while_the_schedules_job_runs_and_says_why(runners: list[JobRunner]) -> None:
    a, b = runners
    a.scheduler.create(ScheduleSpec.build("busy", "Waits", every=60), "alice", now=T0)
    a.fire_schedules(T0 + 61)
    (first,) = scheduled_jobs(a.store, "busy")
    assert a.retry_due(T0 + 62) == [first]
    b.fire_schedules(T0 + 121)
    assert scheduled_jobs(a.store, "busy") == [first]
    schedule = a.store.get_schedule("busy")
    assert schedule is not None and schedule.skipped == 1 and schedule.last_skip is not None
    assert f"a job of the schedule is still active ({first})" in schedule.last_skip.reason
    assert schedule.last_skip.time == T0 + 120
    a.abort(first)


def test_overlap_skip_skips_while_the_type_runs_its_max_concurrent(runners: list[JobRunner]) -> None:
    a, b = runners
    manual = a.start("Waits", "bob")
    a.scheduler.create(ScheduleSpec.build("busy", "Waits", every=60), "alice", now=T0)
    b.fire_schedules(T0 + 61)
    assert scheduled_jobs(a.store, "busy") == []
    schedule = a.store.get_schedule("busy")
    assert schedule is not None and schedule.last_skip is not None
    assert "Waits runs its maximum of 1 job(s)" in schedule.last_skip.reason and manual.id in schedule.last_skip.reason
    a.abort(manual.id)


def test_overlap_queue_keeps_one_waiting_and_starts_it_when_the_slot_frees(runners: list[JobRunner]) -> None:
    a, b = runners
    a.scheduler.create(ScheduleSpec.build("q", "Waits", every=60, overlap="queue"), "alice", now=T0)
    a.fire_schedules(T0 + 61)
    (first,) = scheduled_jobs(a.store, "q")
    a.retry_due(T0 + 61)
    b.fire_schedules(T0 + 121)  # busy: waits
    schedule = a.store.get_schedule("q")
    assert schedule is not None and schedule.waiting == T0 + 120 and schedule.skipped == 0
    b.fire_schedules(T0 + 181)  # a newer occurrence takes the waiting one's place: at most one waits
    schedule = a.store.get_schedule("q")
    assert schedule is not None and schedule.waiting == T0 + 180 and schedule.skipped == 1
    assert schedule.last_skip is not None and "newer occurrence" in schedule.last_skip.reason
    a.abort(first)
    wait_for(lambda: not a.store.get_active_jobs(messages=False), what="the first job to stop")
    b.fire_schedules(T0 + 190)  # the slot is free: the waiting occurrence starts
    jobs = [a.store.require_job(j) for j in scheduled_jobs(a.store, "q")]
    assert sorted(j.run_at or 0 for j in jobs) == [T0 + 60, T0 + 180]
    schedule = a.store.get_schedule("q")
    assert schedule is not None and schedule.waiting is None and schedule.next_fire == T0 + 240
    for job in jobs:
        a.abort(job.id)


def test_a_paused_schedule_starts_nothing_and_resumes_from_the_next_occurrence(runners: list[JobRunner]) -> None:
    a, b = runners
    a.scheduler.create(ScheduleSpec.build("p", "Quick", every=60), "alice", now=T0)
    paused = a.scheduler.edit("p", "carol", paused=True, now=T0 + 10)
    assert paused.paused and paused.updated_by == "carol"
    b.fire_schedules(T0 + 3600)
    assert scheduled_jobs(a.store, "p") == []
    resumed = b.scheduler.edit("p", "dave", paused=False, now=T0 + 3600 + 5)
    assert resumed.next_fire == T0 + 3660 and resumed.missed == 0  # the pause is neither run nor counted missed
    a.fire_schedules(T0 + 3661)
    assert len(scheduled_jobs(a.store, "p")) == 1


@pytest.mark.parametrize(("night", "expected"), [
    # 2031-03-30: 02:00 CET -> 03:00 CEST. 02:30 does not exist; it runs once, at 03:30 CEST.
    ((2031, 3, 29, 22, 0), "2031-03-30T03:30:00+02:00"),
    # 2031-10-26: 03:00 CEST -> 02:00 CET. 02:30 comes twice; it runs once, at the first.
    ((2031, 10, 25, 22, 0), "2031-10-26T02:30:00+02:00"),
])
def test_a_0230_berlin_job_runs_once_on_each_dst_night(runners: list[JobRunner], night: tuple[int, ...],
                                                       expected: str) -> None:
    a, b = runners
    start = datetime(*night, tzinfo=BERLIN).timestamp()  # type: ignore[misc]
    assert datetime.fromtimestamp(start, BERLIN).utcoffset() != datetime.fromtimestamp(start + 8 * 3600,
                                                                                        BERLIN).utcoffset()
    a.scheduler.create(ScheduleSpec.build("dst", "Quick", cron="30 2 * * *", timezone="Europe/Berlin"), "alice",
                       now=start)
    for minute in range(0, 8 * 60, 5):  # 22:00 to 06:00, both runners every five minutes
        (a if minute % 10 else b).fire_schedules(start + minute * 60)
        (b if minute % 10 else a).fire_schedules(start + minute * 60 + 1)
    jobs = [a.store.require_job(j) for j in scheduled_jobs(a.store, "dst")]
    assert [datetime.fromtimestamp(j.run_at or 0, BERLIN).isoformat() for j in jobs] == [expected]


def test_run_at_creates_a_queued_job_started_when_due_and_an_abort_before_ends_it_aborted(
        runners: list[JobRunner]) -> None:
    a, b = runners
    later = a.start("Quick", "alice", {"n": 2}, run_at=T0 + 100)
    assert later.status is JobStatus.QUEUED and later.to_dict()["runAt"] == datetime.fromtimestamp(
        T0 + 100, ZoneInfo("UTC")).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    assert a.retry_due(T0 + 99) == [] and b.retry_due(T0 + 99) == []
    assert b.retry_due(T0 + 100) + a.retry_due(T0 + 100) == [later.id]
    done = wait_for(lambda: (j := a.store.get_job(later.id)) is not None and j.status.is_terminal and j,
                    what="the job to end")
    assert done.status is JobStatus.COMPLETED and done.run_at == T0 + 100
    cancelled = b.start("Quick", "alice", run_at=T0 + 200)
    assert a.abort(cancelled.id, "not needed after all", by="bob")
    assert a.store.require_job(cancelled.id).status is JobStatus.ABORTED
    assert a.retry_due(T0 + 300) == [] and b.retry_due(T0 + 300) == []


def test_code_schedules_are_synchronised_changed_updated_and_removed_disabled(backend: Backend) -> None:
    store = backend.open()
    first = make_runner(store)
    first.schedule("keep", "Quick", every=60, params={"n": 1})
    first.schedule("drop", "Quick", cron="0 3 * * *")
    first.scheduler.sync(T0)
    first.scheduler.trigger("drop", "alice", now=T0 + 1)  # some history to keep
    first.shutdown(grace=1)
    worker = make_runner(backend.open() if backend.shared else store)  # runs the types, defines no schedule
    worker.scheduler.sync(T0 + 2)
    assert not any(s.disabled for s in store.schedules())  # a runner without schedules disables none
    worker.shutdown(grace=1)
    second = make_runner(backend.open() if backend.shared else store)  # the next deploy: "keep" changed, "drop" gone
    second.schedule("keep", "Quick", every=120, params={"n": 2})
    second.scheduler.sync(T0 + 10)
    keep, drop = store.get_schedule("keep"), store.get_schedule("drop")
    assert keep is not None and keep.spec.every == 120 and keep.spec.params == {"n": 2} and keep.source == "code"
    assert keep.next_fire == T0 + 120
    assert drop is not None and drop.disabled and drop.started == 1 and drop.last_run is not None
    second.fire_schedules(T0 + 86400)
    assert [store.require_job(j).author for j in scheduled_jobs(store, "drop")] == ["alice (run now: schedule drop)"]
    third = make_runner(backend.open() if backend.shared else store)  # "drop" comes back
    third.schedule("keep", "Quick", every=120, params={"n": 2})
    third.schedule("drop", "Quick", cron="0 3 * * *")
    third.scheduler.sync(T0 + 86400 + 5)
    drop = store.get_schedule("drop")
    assert drop is not None and not drop.disabled and drop.started == 1
    second.shutdown(grace=1)
    third.shutdown(grace=1)


def test_params_are_checked_against_the_type_when_a_schedule_is_defined(runners: list[JobRunner]) -> None:
    a, _ = runners
    with pytest.raises(ValueError, match="invalid params for Quick"):
        a.schedule("bad", "Quick", every=60, params={"n": "lots"})
    with pytest.raises(ValueError, match="invalid params for Quick"):
        a.scheduler.create(ScheduleSpec.build("bad", "Quick", every=60, params={"nope": 1}), "alice")
    with pytest.raises(UnknownJobTypeError, match="unknown job type 'Unknown'"):
        a.schedule("bad", "Unknown", every=60)


def test_a_claim_whose_process_died_before_creating_its_job_is_recovered_once(runners: list[JobRunner]) -> None:
    a, b = runners
    a.scheduler.create(ScheduleSpec.build("r", "Quick", every=60), "alice", now=T0)
    stale = a.store.stale_after
    # What a process killed between its claim and its creation leaves: the occurrence pending, no job.
    orphan = "7a1f3c7e-0000-4000-8000-00000000abcd"
    a.store.update_schedule("r", lambda s: replace(s, next_fire=T0 + 120, pending=Pending(T0 + 60, orphan, T0 + 60)))
    a.fire_schedules(T0 + 61)  # too soon: its claimer may only be slow
    assert scheduled_jobs(a.store, "r") == []
    b.fire_schedules(T0 + 60 + stale)
    a.fire_schedules(T0 + 60 + stale + 0.5)
    assert scheduled_jobs(a.store, "r") == [orphan]  # the occurrence's own job id, once
    schedule = a.store.get_schedule("r")
    assert schedule is not None and schedule.pending is None and schedule.last_run is not None
    assert schedule.last_run.job_id == orphan


def test_a_claim_whose_process_died_after_creating_its_job_is_recorded_not_doubled(runners: list[JobRunner]) -> None:
    a, b = runners
    a.scheduler.create(ScheduleSpec.build("r", "Quick", every=60), "alice", now=T0)
    job = a.store.create_job("Quick", "schedule:r", {}, queued=True, job_id="7a1f3c7e-0000-4000-8000-00000000beef",
                             schedule_id="r", run_at=T0 + 60)
    a.store.update_schedule("r", lambda s: replace(s, next_fire=T0 + 120, pending=Pending(T0 + 60, job.id, T0 + 60)))
    b.fire_schedules(T0 + 60 + a.store.stale_after + 1)
    assert scheduled_jobs(a.store, "r") == [job.id]
    schedule = a.store.get_schedule("r")
    assert schedule is not None and schedule.pending is None and schedule.started == 1


def test_search_finds_the_jobs_a_schedule_started(runners: list[JobRunner]) -> None:
    a, b = runners
    a.scheduler.create(ScheduleSpec.build("one", "Quick", every=60), "alice", now=T0)
    a.scheduler.create(ScheduleSpec.build("two", "Quick", every=60), "alice", now=T0)
    a.fire_schedules(T0 + 61)
    a.retry_due(T0 + 61)
    wait_for(lambda: not a.store.get_active_jobs(messages=False), what="the jobs to end")
    b.fire_schedules(T0 + 121)  # one of each still queued: active ones are found too
    other = a.start("Quick", "schedule:one")  # an author that looks alike is not a schedule's job
    for store in (a.store, b.store):
        found = store.search_jobs(schedule_id="one")
        assert sorted(j.run_at or 0 for j in found) == [T0 + 60, T0 + 120]
        assert all(j.schedule_id == "one" for j in found) and other.id not in {j.id for j in found}
        assert [j.schedule_id for j in store.search_jobs("schedule", schedule_id="two",
                                                          statuses=["completed"])] == ["two"]


def test_a_job_id_is_never_created_twice(backend: Backend) -> None:
    one = backend.open()
    two = backend.open() if backend.shared else one
    job = one.create_job("Quick", "schedule:r", {"n": 1}, job_id="7a1f3c7e-0000-4000-8000-00000000c0de")
    with pytest.raises((JobConflictError, StoreError)):
        two.create_job("Quick", "someone else", {"n": 2}, job_id=job.id, queued=True)
    again = two.require_job(job.id)
    assert again.author == "schedule:r" and again.params == {"n": 1} and again.status is JobStatus.RUNNING
    assert [j.id for j in two.get_active_jobs(messages=False)] == [job.id]


def test_a_claimer_that_stalled_past_the_recovery_records_the_recovered_job_and_starts_none(
        runners: list[JobRunner]) -> None:
    a, b = runners
    a.scheduler.create(ScheduleSpec.build("r", "Quick", every=3600), "alice", now=T0)
    pending = Pending(T0 + 3600, "7a1f3c7e-0000-4000-8000-00000000f00d", T0 + 3600)
    claimed = a.store.update_schedule("r", lambda s: replace(s, next_fire=T0 + 7200, pending=pending))
    assert claimed is not None
    b.fire_schedules(T0 + 3600 + b.store.stale_after)  # b recovers: the job is created, and runs
    assert scheduled_jobs(a.store, "r") == [pending.job_id]
    assert b.retry_due(T0 + 3600 + b.store.stale_after) == [pending.job_id]
    wait_for(lambda: not a.store.get_active_jobs(messages=False), what="the recovered job to end")
    # a wakes up and goes on with its claim: the store refuses a second job with the occurrence's id.
    a.scheduler._start_pending(claimed, pending, T0 + 3600 + a.store.stale_after + 5)
    assert scheduled_jobs(a.store, "r") == [pending.job_id]
    schedule = a.store.get_schedule("r")
    assert schedule is not None and schedule.started == 1 and schedule.skipped == 0 and schedule.pending is None


def test_a_record_this_version_cannot_read_is_left_out_of_the_list(store: Store) -> None:
    store.add_schedule(Schedule.new(ScheduleSpec.build("good", "T", every=60), "admin", "alice", T0))
    assert store._schedule_steps().insert("bad", "{not json")
    assert [s.id for s in store.schedules()] == ["good"]


def test_forty_schedules_due_at_once_fired_by_two_runners_at_the_same_time_start_once_each(
        runners: list[JobRunner]) -> None:
    a, b = runners
    for n in range(40):
        a.scheduler.create(ScheduleSpec.build(f"s{n:02d}", "Quick", every=60), "alice", now=T0)
    barrier = threading.Barrier(2)

    def fire(runner: JobRunner) -> None:
        barrier.wait(10)
        runner.fire_schedules(T0 + 61)

    threads = [threading.Thread(target=fire, args=(r,)) for r in (a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    jobs = [j for j in a.store.get_active_jobs(messages=False) if j.schedule_id]
    assert sorted(j.schedule_id or "" for j in jobs) == [f"s{n:02d}" for n in range(40)]  # each once
    schedules = a.store.schedules()
    assert all(s.started == 1 and s.pending is None and s.next_fire == T0 + 120 for s in schedules)
