"""A user's personal data out of stored pushes; old delivery history pruned."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from common.db import delete_in_batches
from deliveries.models import Attempt, Delivery


def deliveries_erase_user(*, source_id: int, user_id: str) -> None:
    """Drop a user's personal data from stored pushes and from what receivers answered to them.

    Rows still to be sent are left alone: the erasure itself queues a
    `user.deleted` snapshot into them.
    """
    done = Delivery.objects.filter(source_id=source_id, user_id=user_id).exclude(
        status__in=[Delivery.Status.PENDING, Delivery.Status.IN_FLIGHT]
    )
    done.update(snapshot={"user": {"id": user_id}, "erased": True})
    Attempt.objects.filter(delivery__source_id=source_id, delivery__user_id=user_id).update(response_excerpt="")


def deliveries_prune(*, now: datetime | None = None, batch_size: int = 1000) -> dict[str, int]:
    """Delete old attempts (ATTEMPT_RETENTION_DAYS) and old delivered or superseded deliveries
    (DELIVERY_RETENTION_DAYS), a batch per statement; failed and dead rows stay for operators."""
    now = now or timezone.now()
    attempts = Attempt.objects.filter(started_at__lt=now - timedelta(days=settings.ATTEMPT_RETENTION_DAYS))
    finished = Delivery.objects.filter(
        status__in=[Delivery.Status.DELIVERED, Delivery.Status.SUPERSEDED],
        updated_at__lt=now - timedelta(days=settings.DELIVERY_RETENTION_DAYS),
    )
    return {
        "attempts": delete_in_batches(attempts, batch_size=batch_size),
        "deliveries": delete_in_batches(finished, batch_size=batch_size),
    }
