"""Schedule arithmetic (core/schedule.py): cron in named zones across both DST changes, fixed intervals, the next
runs, catching up after downtime (misfire grace), and the errors that name the problem. Pure functions: every test
states its times."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from jobdeck.core.errors import InvalidArgumentError
from jobdeck.core.schedule import ScheduleSpec, catch_up, check_cron, check_timezone, next_after, next_runs
from jobdeck.core.schedule_state import LastRun, Pending, Schedule, Skip

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")


def at(zone: ZoneInfo, *args: int, fold: int = 0) -> float:
    return datetime(*args, tzinfo=zone, fold=fold).timestamp()  # type: ignore[misc]


def local(t: float, zone: ZoneInfo) -> str:
    return datetime.fromtimestamp(t, zone).isoformat()


def cron(expr: str, zone: str = "UTC", grace: float = 3600.0) -> ScheduleSpec:
    return ScheduleSpec.build("s", "T", cron=expr, timezone=zone, misfire_grace=grace)


# ---------------------------------------------------------------------- cron and zones


def test_0_3_daily_in_helsinki_is_3_am_helsinki_time_in_winter_and_summer() -> None:
    zone = ZoneInfo("Europe/Helsinki")
    spec = cron("0 3 * * *", "Europe/Helsinki")
    assert local(next_after(spec, at(zone, 2026, 1, 10, 12, 0)), zone) == "2026-01-11T03:00:00+02:00"
    assert local(next_after(spec, at(zone, 2026, 7, 10, 12, 0)), zone) == "2026-07-11T03:00:00+03:00"
    assert next_after(spec, at(zone, 2026, 1, 10, 12, 0)) == datetime(2026, 1, 11, 1, 0, tzinfo=UTC).timestamp()


def test_the_next_five_runs_of_every_monday_at_9_are_five_mondays() -> None:
    runs = next_runs(cron("0 9 * * 1"), datetime(2026, 6, 3, tzinfo=UTC).timestamp())  # a Wednesday
    assert [datetime.fromtimestamp(t, UTC).strftime("%a %m-%d %H:%M") for t in runs] == [
        "Mon 06-08 09:00", "Mon 06-15 09:00", "Mon 06-22 09:00", "Mon 06-29 09:00", "Mon 07-06 09:00"]


def test_next_after_is_strictly_after_an_occurrence() -> None:
    spec = cron("30 2 * * *")
    t = datetime(2026, 5, 1, 2, 30, tzinfo=UTC).timestamp()
    assert next_after(spec, t) == t + 86400
    assert next_after(spec, t - 0.001) == t


def test_a_0230_job_on_the_night_clocks_go_forward_in_berlin_runs_once_at_0330() -> None:
    # 2026-03-29: 02:00 CET becomes 03:00 CEST; 02:30 does not exist that night.
    runs = next_runs(cron("30 2 * * *", "Europe/Berlin"), at(BERLIN, 2026, 3, 28, 12, 0), 3)
    assert [local(t, BERLIN) for t in runs] == [
        "2026-03-29T03:30:00+02:00", "2026-03-30T02:30:00+02:00", "2026-03-31T02:30:00+02:00"]


def test_a_0230_job_on_the_night_clocks_go_back_in_berlin_runs_once() -> None:
    # 2026-10-25: 03:00 CEST becomes 02:00 CET; 02:30 happens twice that night. It runs at the first.
    runs = next_runs(cron("30 2 * * *", "Europe/Berlin"), at(BERLIN, 2026, 10, 24, 12, 0), 3)
    assert [local(t, BERLIN) for t in runs] == [
        "2026-10-25T02:30:00+02:00", "2026-10-26T02:30:00+01:00", "2026-10-27T02:30:00+01:00"]
    # Asked between the two 02:30s, the next is the next day's: the second 02:30 does not run again.
    second = at(BERLIN, 2026, 10, 25, 2, 30, fold=1)
    assert local(next_after(cron("30 2 * * *", "Europe/Berlin"), second - 60), BERLIN) == "2026-10-26T02:30:00+01:00"


def test_every_half_hour_in_new_york_across_spring_forward_skips_the_missing_hour_without_doubling() -> None:
    # 2026-03-08: 02:00 EST becomes 03:00 EDT.
    runs = next_runs(cron("*/30 * * * *", "America/New_York"), at(NEW_YORK, 2026, 3, 8, 1, 0), 4)
    assert [local(t, NEW_YORK) for t in runs] == [
        "2026-03-08T01:30:00-05:00", "2026-03-08T03:00:00-04:00", "2026-03-08T03:30:00-04:00",
        "2026-03-08T04:00:00-04:00"]
    assert runs == sorted(set(runs))


def test_every_half_hour_in_new_york_across_fall_back_runs_each_wall_clock_time_once() -> None:
    # 2026-11-01: 02:00 EDT becomes 01:00 EST; the hour 01:00-02:00 happens twice and runs once.
    runs = next_runs(cron("*/30 * * * *", "America/New_York"), at(NEW_YORK, 2026, 11, 1, 0, 45), 4)
    assert [local(t, NEW_YORK) for t in runs] == [
        "2026-11-01T01:00:00-04:00", "2026-11-01T01:30:00-04:00", "2026-11-01T02:00:00-05:00",
        "2026-11-01T02:30:00-05:00"]


@pytest.mark.parametrize("alias", ["@hourly", "@daily", "@weekly", "@monthly", "@yearly"])
def test_aliases_are_taken(alias: str) -> None:
    assert check_cron(alias) == alias
    assert next_after(cron(alias), 0.0) > 0.0


@pytest.mark.parametrize(("expr", "words"), [
    ("61 * * * *", "invalid cron expression '61 * * * *'"),
    ("* * * *", "it has 4 fields"),
    ("0 0 * * * *", "it has 6 fields"),
    ("@sometimes", "invalid cron expression '@sometimes'"),
    ("a b c d e", "invalid cron expression 'a b c d e'"),
    ("", "cron must be a non-empty string"),
    ("0 0 31 2 *", "invalid cron expression '0 0 31 2 *'"),  # February 31st never comes
])
def test_an_invalid_cron_expression_is_an_invalid_argument_naming_it(expr: str, words: str) -> None:
    with pytest.raises(InvalidArgumentError) as caught:
        check_cron(expr)
    assert words in str(caught.value)
    assert caught.value.argument == "cron"


@pytest.mark.parametrize("zone", ["Mars/Olympus", "", "../../etc/passwd", "Europe", "UTC\x00"])
def test_an_unknown_zone_is_an_invalid_argument_naming_it(zone: str) -> None:
    with pytest.raises(InvalidArgumentError) as caught:
        check_timezone(zone)
    assert caught.value.argument == "timezone"


def test_build_refuses_both_or_neither_of_cron_and_every_and_bad_fields() -> None:
    with pytest.raises(InvalidArgumentError, match="exactly one of cron and every"):
        ScheduleSpec.build("s", "T")
    with pytest.raises(InvalidArgumentError, match="exactly one of cron and every"):
        ScheduleSpec.build("s", "T", cron="* * * * *", every=60)
    with pytest.raises(InvalidArgumentError, match="at least 1 second"):
        ScheduleSpec.build("s", "T", every=timedelta(milliseconds=10))
    with pytest.raises(InvalidArgumentError, match="overlap must be 'skip' or 'queue'"):
        ScheduleSpec.build("s", "T", every=60, overlap="parallel")
    with pytest.raises(InvalidArgumentError, match="misfire_grace must be >= 0"):
        ScheduleSpec.build("s", "T", every=60, misfire_grace=-1)
    with pytest.raises(InvalidArgumentError, match="at most ten years"):  # its next run could not be shown
        ScheduleSpec.build("s", "T", every=1e300)
    for bad in ["", " padded ", "a/b", "x" * 201, "nul\x00"]:
        with pytest.raises(InvalidArgumentError, match="schedule id"):
            ScheduleSpec.build(bad, "T", every=60)


# ---------------------------------------------------------------------- every


def test_every_15_minutes_falls_on_the_quarter_hours_from_the_epoch() -> None:
    spec = ScheduleSpec.build("s", "T", every=timedelta(minutes=15))
    t = datetime(2026, 3, 29, 0, 7, tzinfo=UTC).timestamp()
    assert [datetime.fromtimestamp(x, UTC).strftime("%H:%M") for x in next_runs(spec, t, 3)] == [
        "00:15", "00:30", "00:45"]


def test_every_counts_real_seconds_across_a_dst_change() -> None:
    spec = ScheduleSpec.build("s", "T", every=3600, timezone="Europe/Berlin")
    runs = next_runs(spec, at(BERLIN, 2026, 3, 29, 0, 30), 4)
    assert [b - a for a, b in itertools.pairwise(runs)] == [3600.0, 3600.0, 3600.0]


def test_every_with_an_anchor_counts_from_it() -> None:
    spec = ScheduleSpec.build("s", "T", every=100, anchor=7)
    assert next_runs(spec, 0.0, 3) == [7.0, 107.0, 207.0]
    assert next_after(spec, 107.0) == 207.0


# ---------------------------------------------------------------------- catching up (misfire grace)


def test_nothing_is_owed_before_the_next_occurrence() -> None:
    spec = ScheduleSpec.build("s", "T", every=60)
    assert catch_up(spec, 120.0, 119.0).start is None


def test_an_occurrence_just_due_starts() -> None:
    owed = catch_up(ScheduleSpec.build("s", "T", every=60), 120.0, 120.5)
    assert (owed.start, owed.missed, owed.next_fire) == (120.0, 0, 180.0)


def test_ten_missed_every_minute_within_the_grace_start_once_the_latest() -> None:
    owed = catch_up(ScheduleSpec.build("s", "T", every=60), 60.0, 60.0 * 10 + 5)
    assert (owed.start, owed.missed, owed.next_fire, owed.coalesced) == (600.0, 0, 660.0, 9)


def test_after_three_hours_down_an_hourly_job_starts_once_and_two_are_missed() -> None:
    # Due at 01:00; down until 03:30. 01:00 and 02:00 are more than an hour old: missed; 03:00 starts.
    spec = cron("0 * * * *")
    one = datetime(2026, 5, 1, 1, 0, tzinfo=UTC).timestamp()
    owed = catch_up(spec, one, one + 2.5 * 3600)
    assert (owed.start, owed.missed, owed.next_fire, owed.coalesced) == (one + 2 * 3600, 2, one + 3 * 3600, 0)


def test_a_nightly_job_down_for_two_days_is_all_missed_and_starts_nothing() -> None:
    spec = cron("0 3 * * *")
    three = datetime(2026, 5, 1, 3, 0, tzinfo=UTC).timestamp()
    owed = catch_up(spec, three, three + 2 * 86400 - 3 * 3600)  # the next day's 00:00 + 1 day
    assert owed.start is None and owed.missed == 2
    assert owed.next_fire == three + 2 * 86400


def test_a_grace_of_zero_starts_only_an_occurrence_due_exactly_now() -> None:
    spec = ScheduleSpec.build("s", "T", every=60, misfire_grace=0)
    assert catch_up(spec, 60.0, 60.0).start == 60.0
    owed = catch_up(spec, 60.0, 61.0)
    assert owed.start is None and owed.missed == 1


def test_every_catch_up_counts_missed_by_arithmetic_for_a_year_down() -> None:
    spec = ScheduleSpec.build("s", "T", every=1, misfire_grace=10)
    year = 365 * 86400.0
    owed = catch_up(spec, 1.0, year)
    assert owed.start == year and owed.missed == int(year) - 11
    assert owed.next_fire == year + 1


def test_a_minutely_cron_down_for_a_year_catches_up_in_bounded_time() -> None:
    spec = cron("* * * * *", grace=60)
    start = datetime(2025, 1, 1, tzinfo=UTC).timestamp()
    owed = catch_up(spec, start, start + 365 * 86400 + 30)
    assert owed.start == start + 365 * 86400
    assert abs(owed.missed - 365 * 1440) < 10  # counted up to the bound, then the rest estimated


# ---------------------------------------------------------------------- the stored record


def test_a_schedule_record_round_trips_through_its_json_and_keeps_unknown_fields() -> None:
    spec = ScheduleSpec.build("nightly", "T", cron="0 3 * * *", timezone="Europe/Helsinki", params={"n": 1},
                              overlap="queue", misfire_grace=120)
    record = Schedule(spec, "code", paused=True, next_fire=10.0, pending=Pending(9.0, "id-1", 9.5), waiting=8.0,
                      last_run=LastRun("job-1", "completed", 7.0), missed=3, skipped=2, last_skip=Skip(6.0, "busy"),
                      started=4, created_by="alice", updated_by="bob", updated=5.0)
    data = record.to_dict()
    assert Schedule.from_dict(data) == record
    assert Schedule.from_dict({**data, "future_field": [1]}).to_dict()["future_field"] == [1]
    with pytest.raises(InvalidArgumentError, match="not a stored schedule"):
        Schedule.from_dict({"job_type": "T"})
