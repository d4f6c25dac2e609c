"""Reads of the outbox: what is due, what an operator selects, what a destination lacks."""

from __future__ import annotations

from datetime import datetime

from django.db.models import F, Max, OuterRef, Q, QuerySet, Subquery

from deliveries.models import Delivery, Destination

# The one query that needs Summary rows themselves (annotated against the
# outbox), so it stays here rather than in results.locking.
from results.models import Summary


def deliveries_due(*, now: datetime) -> QuerySet[Delivery]:
    """Pending deliveries whose time has come, to destinations that are active and not disabled."""
    return Delivery.objects.filter(
        status=Delivery.Status.PENDING,
        next_attempt_at__lte=now,
        destination__active=True,
        destination__disabled_at__isnull=True,
    )


def deliveries_filter(
    *,
    status: str | None = None,
    destination: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> QuerySet[Delivery]:
    qs = Delivery.objects.all()
    if status:
        qs = qs.filter(status=status)
    if destination:
        qs = qs.filter(destination__name=destination)
    if since:
        qs = qs.filter(created_at__gte=since)
    if until:
        qs = qs.filter(created_at__lt=until)
    return qs


def summaries_missing_for(destination: Destination) -> QuerySet[Summary]:
    """Summaries whose current version this destination has neither received nor queued."""
    sent = (
        Delivery.objects.filter(
            destination=destination,
            source_id=OuterRef("source_id"),
            user_id=OuterRef("user_id"),
            status__in=[Delivery.Status.DELIVERED, Delivery.Status.PENDING, Delivery.Status.IN_FLIGHT],
        )
        .values("destination_id")
        .annotate(top=Max("version"))
        .values("top")
    )
    return (
        Summary.objects.filter(source__in=destination.sources.all())
        .annotate(sent=Subquery(sent))
        .filter(Q(sent__isnull=True, deleted_at__isnull=True) | Q(sent__lt=F("version")))
        .order_by("pk")
    )
