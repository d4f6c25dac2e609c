"""What an attempt's outcome means, and when to try again."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest

from deliveries.policy import AttemptOutcome, Verdict, parse_retry_after, retry_delay


@pytest.mark.parametrize(
    ("status", "verdict"),
    [
        (200, Verdict.DELIVERED),
        (204, Verdict.DELIVERED),
        (None, Verdict.RETRY),
        (408, Verdict.RETRY),
        (425, Verdict.RETRY),
        (429, Verdict.RETRY),
        (500, Verdict.RETRY),
        (503, Verdict.RETRY),
        (301, Verdict.FAILED),
        (400, Verdict.FAILED),
        (401, Verdict.FAILED),
        (404, Verdict.FAILED),
        (410, Verdict.GONE),
    ],
)
def test_outcome_verdicts(status, verdict):
    assert AttemptOutcome(status_code=status, duration_ms=1).verdict == verdict


def test_default_retry_schedule_with_jitter(settings):
    rng = random.Random(1)
    delays = [retry_delay(n, rng=rng) for n in range(1, 11)]
    bases = [5, 15, 30, 60, 300, 1800, 7200, 21600, 43200, 43200]

    assert all(0.8 * b <= d <= 1.2 * b for d, b in zip(delays, bases, strict=True))
    assert sum(delays[:3]) < 60, "several tries within the first minute"
    assert retry_delay(1, retry_after=90) >= 90
    assert retry_delay(1, retry_after=10**9) <= 24 * 3600


def test_retry_after_as_seconds_or_http_date():
    now = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)

    assert parse_retry_after("30") == 30
    assert parse_retry_after("Sun, 22 Nov 2026 10:01:00 GMT", now=now) == 60
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None
