"""backoff_delay: the schedule's value for each failure, the last repeating, jitter, and Retry-After."""

from __future__ import annotations

import random

import pytest

from common.backoff import backoff_delay

SCHEDULE = [10, 30, 60]


@pytest.mark.parametrize(
    ("failures", "expected"),
    [(1, 10), (2, 30), (3, 60), (4, 60), (100, 60), (0, 10), (-5, 10)],
)
def test_each_failure_waits_its_schedule_value_and_the_last_repeats(failures, expected):
    assert backoff_delay(schedule=SCHEDULE, failures=failures, jitter=0) == expected


def test_a_one_value_schedule_always_waits_that_value():
    assert [backoff_delay(schedule=[7], failures=n, jitter=0) for n in (1, 2, 9)] == [7, 7, 7]


def test_the_delay_is_a_float_even_for_whole_seconds():
    assert isinstance(backoff_delay(schedule=SCHEDULE, failures=1, jitter=0), float)
    assert isinstance(backoff_delay(schedule=SCHEDULE, failures=1), float)


@pytest.mark.parametrize("failures", [1, 2, 3, 4])
def test_jitter_stays_within_twenty_percent_either_way(failures):
    rng = random.Random(failures)
    base = SCHEDULE[min(failures, len(SCHEDULE)) - 1]

    delays = [backoff_delay(schedule=SCHEDULE, failures=failures, rng=rng) for _ in range(500)]

    assert all(0.8 * base <= d <= 1.2 * base for d in delays)
    assert min(delays) < 0.85 * base
    assert max(delays) > 1.15 * base


def test_jitter_is_as_wide_as_asked():
    rng = random.Random(3)

    delays = [backoff_delay(schedule=[100], failures=1, jitter=0.5, rng=rng) for _ in range(500)]

    assert all(50 <= d <= 150 for d in delays)
    assert min(delays) < 60
    assert max(delays) > 140


def test_the_same_seed_gives_the_same_delays():
    first = [backoff_delay(schedule=SCHEDULE, failures=n, rng=random.Random(5)) for n in (1, 2, 3)]
    again = [backoff_delay(schedule=SCHEDULE, failures=n, rng=random.Random(5)) for n in (1, 2, 3)]

    assert first == again


def test_without_jitter_the_random_generator_is_left_alone():
    rng = random.Random(9)
    state = rng.getstate()

    backoff_delay(schedule=SCHEDULE, failures=2, jitter=0, rng=rng)

    assert rng.getstate() == state


def test_without_an_rng_the_module_generator_is_drawn_from(monkeypatch):
    monkeypatch.setattr(random, "uniform", lambda low, high: high)

    assert backoff_delay(schedule=SCHEDULE, failures=1) == pytest.approx(12)


@pytest.mark.parametrize(
    ("retry_after", "cap", "expected"),
    [
        (None, None, 10),
        (0, None, 10),
        (5, None, 10),
        (10, None, 10),
        (90, None, 90),
        (10**9, None, 10**9),
        (90, 60, 60),
        (90, 120, 90),
        (5, 60, 10),
        (10**9, 24 * 3600, 24 * 3600),
    ],
)
def test_a_retry_after_wins_only_when_longer_and_no_longer_than_the_cap(retry_after, cap, expected):
    delay = backoff_delay(schedule=SCHEDULE, failures=1, retry_after=retry_after, retry_after_cap=cap, jitter=0)

    assert delay == expected


def test_a_longer_retry_after_wins_over_the_jittered_value_too():
    rng = random.Random(1)

    assert backoff_delay(schedule=SCHEDULE, failures=1, retry_after=11.5, rng=rng) >= 11.5
    assert backoff_delay(schedule=SCHEDULE, failures=1, retry_after=1000, rng=rng) == 1000
