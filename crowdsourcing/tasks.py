"""The PYBOSSA worker: settles tasks on its own queue, retried with backoff while PYBOSSA is unreachable."""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

from celery import shared_task
from django.conf import settings

from crowdsourcing.client import PybossaTransientError
from crowdsourcing.services import event_fail, event_settle, events_stuck


def retry_delay(retries: int) -> float:
    """PYBOSSA_RETRY_SCHEDULE (the last value repeats) with ±20 % jitter."""
    schedule: list[int] = settings.PYBOSSA_RETRY_SCHEDULE
    base = schedule[min(retries, len(schedule) - 1)]
    return float(base * random.uniform(0.8, 1.2))


@shared_task(bind=True, acks_late=True, soft_time_limit=240, time_limit=300)
def settle_task(self: Any, event_id: int) -> str:
    """Settle one PYBOSSA event (load by id, call the service, own the retry policy)."""
    try:
        return event_settle(event_id=event_id)
    except PybossaTransientError as exc:
        if self.request.retries >= len(settings.PYBOSSA_RETRY_SCHEDULE):
            return event_fail(event_id=event_id, error=str(exc))
        raise self.retry(exc=exc, countdown=retry_delay(self.request.retries)) from None


@shared_task
def settle_stuck_tasks() -> int:
    """Queue again the settlements still `processing` long after they came (a lost wake-up, a killed worker).

    Settling twice is harmless: the PUT writes the same analysis, and only the
    first to commit records the contributors' results.
    """
    stuck = events_stuck(older_than=timedelta(seconds=settings.PYBOSSA_STUCK_SECONDS))
    for event_id in stuck:
        settle_task.delay(event_id)
    return len(stuck)
