"""What the operator consoles read: today's intake, the outbox's state, its latest failures."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from django.db.models import Count, Min, Q, Sum
from django.db.models.functions import Coalesce

from deliveries.models import Delivery
from webhooks.models import IntakeCounter


@dataclass(frozen=True)
class IntakeDay:
    received: int
    accepted: int
    rejected: int


@dataclass(frozen=True)
class OutboxState:
    pending: int
    failed: int
    dead: int
    oldest_pending_at: datetime | None


def intake_day(*, day: date) -> IntakeDay:
    """Events received on `day`, and how many of them were accepted and rejected."""
    counts = IntakeCounter.objects.filter(day=day).aggregate(
        received=Coalesce(Sum("count"), 0),
        accepted=Coalesce(Sum("count", filter=Q(outcome="accepted")), 0),
        rejected=Coalesce(Sum("count", filter=Q(outcome__startswith="rejected:")), 0),
    )
    return IntakeDay(**counts)


def outbox_state() -> OutboxState:
    """Pending, failed and dead deliveries, and when the oldest pending one was queued."""
    status = Delivery.Status
    pending = Q(status=status.PENDING)
    counts = Delivery.objects.filter(status__in=[status.PENDING, status.FAILED, status.DEAD]).aggregate(
        pending=Count("pk", filter=pending),
        failed=Count("pk", filter=Q(status=status.FAILED)),
        dead=Count("pk", filter=Q(status=status.DEAD)),
        oldest_pending_at=Min("created_at", filter=pending),
    )
    return OutboxState(**counts)


def deliveries_failed_latest(*, limit: int = 10) -> list[Delivery]:
    """The failed and dead deliveries changed last, newest first, with their destinations."""
    failed = Delivery.objects.filter(status__in=[Delivery.Status.FAILED, Delivery.Status.DEAD])
    return list(failed.select_related("destination").order_by("-updated_at")[:limit])
