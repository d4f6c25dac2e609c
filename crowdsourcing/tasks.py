"""The PYBOSSA worker: settles tasks on its own queue, retried with backoff while PYBOSSA is unreachable."""

from __future__ import annotations

import logging
import math
import random
from datetime import timedelta
from typing import Any

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import OperationalError

from common.backoff import backoff_delay
from crowdsourcing.client import PybossaRateLimited, PybossaTransientError
from crowdsourcing.services import NoTaskRunsError, event_fail, event_settle, events_stuck

logger = logging.getLogger(__name__)


@shared_task(bind=True, acks_late=True, soft_time_limit=240, time_limit=300, max_retries=None)
def settle_task(self: Any, event_id: int, failures: int = 0) -> str:
    """Settle one PYBOSSA event (load by id, call the service, own the retry policy).

    `failures` counts the tries that failed (PYBOSSA unreachable, no task runs
    listed, ...): after PYBOSSA_RETRY_SCHEDULE the event fails. PYBOSSA's rate
    limit is not a failure: the task comes back when the window ends, however
    often, and counts nothing.
    """
    try:
        return event_settle(event_id=event_id)
    except PybossaRateLimited as exc:
        logger.info(
            "pybossa rate limit: settlement put back", extra={"event_pk": event_id, "seconds": exc.wait_seconds}
        )
        wait = math.ceil(exc.wait_seconds) + random.randint(0, 5)
        raise self.retry(kwargs={"event_id": event_id, "failures": failures}, countdown=wait) from None
    except (PybossaTransientError, SoftTimeLimitExceeded, OperationalError) as exc:
        if failures >= len(settings.PYBOSSA_RETRY_SCHEDULE):
            code = exc.code if isinstance(exc, NoTaskRunsError) else "pybossa_unreachable"
            return event_fail(event_id=event_id, error=f"{type(exc).__name__}: {exc}", code=code)
        countdown = backoff_delay(schedule=settings.PYBOSSA_RETRY_SCHEDULE, failures=failures + 1)
        raise self.retry(
            exc=exc, kwargs={"event_id": event_id, "failures": failures + 1}, countdown=countdown
        ) from None
    except Exception as exc:
        # Anything else will not go away by trying again: end the event, say why, and alert.
        logger.exception("settling a PYBOSSA task failed", extra={"event_pk": event_id})
        return event_fail(event_id=event_id, error=f"{type(exc).__name__}: {exc}", code="processing_error")


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
