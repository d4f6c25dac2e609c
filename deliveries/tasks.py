"""Delivery workers: thin tasks over the outbox's worker side."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from deliveries.outbox import FIRST_QUEUE, RETRY_QUEUE, wake_reset
from deliveries.retention import deliveries_prune
from deliveries.worker import deliveries_process_due, deliveries_sweep


@shared_task(
    acks_late=True,
    soft_time_limit=settings.DELIVERY_TASK_SOFT_TIME_LIMIT,
    time_limit=settings.DELIVERY_TASK_TIME_LIMIT,
)
def deliver_due(retries: bool = False) -> int:
    """Push due deliveries (first attempts, or retries) until none are due."""
    # Commits from now on must be able to wake a worker again.
    wake_reset(RETRY_QUEUE if retries else FIRST_QUEUE)
    return deliveries_process_due(retries=retries)


@shared_task(soft_time_limit=50, time_limit=60)
def sweep_deliveries() -> dict[str, object]:
    """Recover expired leases and wake workers for due deliveries (Celery beat, every few seconds)."""
    report = deliveries_sweep()
    return {"expired": report.expired, "first_due": report.first_due, "retries_due": report.retries_due}


@shared_task
def prune_deliveries() -> dict[str, int]:
    """Delete old attempts and old delivered or superseded deliveries (beat, hourly)."""
    return deliveries_prune()
