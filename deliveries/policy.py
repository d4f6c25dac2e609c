"""What an attempt's outcome means, and when to try again."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from enum import Enum

from django.conf import settings

from common.backoff import backoff_delay

RETRYABLE_STATUS = {408, 425, 429}
MAX_RETRY_AFTER_SECONDS = 24 * 3600


class Verdict(Enum):
    DELIVERED = "delivered"
    RETRY = "retry"
    FAILED = "failed"  # permanent: another try would get the same answer
    GONE = "gone"  # 410: the receiver asks us to stop


@dataclass(frozen=True)
class AttemptOutcome:
    """What one POST gave: a status code, or an error before any answer."""

    status_code: int | None
    duration_ms: int
    excerpt: str = ""
    error: str = ""
    retry_after: float | None = None

    @property
    def verdict(self) -> Verdict:
        code = self.status_code
        if code is None:
            return Verdict.RETRY  # timeout, refused connection, DNS failure, …
        if 200 <= code < 300:
            return Verdict.DELIVERED
        if code == 410:
            return Verdict.GONE
        if code in RETRYABLE_STATUS or code >= 500:
            return Verdict.RETRY
        return Verdict.FAILED


def retry_delay(failures: int, *, retry_after: float | None = None, rng: random.Random | None = None) -> float:
    """Seconds before the next try after `failures` failed attempts (1 = the first failed).

    The schedule (DELIVERY_RETRY_SCHEDULE) with ±20 % jitter, so retries of
    many deliveries to one destination spread out; a Retry-After from the
    receiver wins when it asks for longer (up to a day).
    """
    return backoff_delay(
        schedule=settings.DELIVERY_RETRY_SCHEDULE,
        failures=failures,
        retry_after=retry_after,
        retry_after_cap=MAX_RETRY_AFTER_SECONDS,
        rng=rng,
    )


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Retry-After as seconds: a number of seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():  # "²".isdigit() is true, and float("²") raises
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(tz=UTC))).total_seconds())
