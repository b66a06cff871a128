"""The backoff arithmetic every retry loop shares (jobdeck.core.backoff)."""

from __future__ import annotations

import pytest

from jobdeck.core.backoff import Backoff, delay


def test_delay_doubles_from_first_and_stops_at_the_cap() -> None:
    assert [delay(n, 30, 900) for n in range(1, 8)] == [30, 60, 120, 240, 480, 900, 900]


def test_full_jitter_draws_between_zero_and_the_capped_pause() -> None:
    assert delay(3, 1.0, 10.0, jitter=True, rng=lambda: 0.25) == 1.0
    assert delay(10, 1.0, 10.0, jitter=True, rng=lambda: 0.5) == 5.0


def test_a_very_long_outage_stays_at_the_cap_instead_of_overflowing() -> None:
    assert delay(5000, 0.05, 2.0) == 2.0
    assert delay(5000, 0.05, 2.0, factor=10.0) == 2.0


def test_attempts_count_from_one() -> None:
    with pytest.raises(ValueError, match="counts from 1"):
        delay(0, 1.0, 2.0)


def test_backoff_grows_per_failure_and_a_success_starts_again() -> None:
    backoff = Backoff(0.05, 0.3)
    assert not backoff.failing
    assert [backoff.next() for _ in range(5)] == [0.05, 0.1, 0.2, 0.3, 0.3]
    assert backoff.failing and backoff.failures == 5
    backoff.reset()
    assert not backoff.failing
    assert backoff.next() == 0.05


@pytest.mark.parametrize(("first", "maximum", "factor"), [(0, 1, 2), (2, 1, 2), (1, 2, 0.5)])
def test_a_schedule_that_cannot_back_off_is_refused(first: float, maximum: float, factor: float) -> None:
    with pytest.raises(ValueError, match="backoff needs"):
        Backoff(first, maximum, factor=factor)
