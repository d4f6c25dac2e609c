"""Reads of sources and events."""

from __future__ import annotations

from django.db.models import QuerySet

from accounts.models import ApiToken
from webhooks.models import Event, Source


def source_get_active(*, slug: str) -> Source | None:
    return Source.objects.filter(slug=slug, active=True).first()


def source_list(*, reader: ApiToken | None = None) -> QuerySet[Source]:
    """Sources; a client token sees only those its destination receives."""
    if reader is not None and not reader.is_staff:
        # Another destination's source is not there at all for this token (404, not 403).
        return Source.objects.filter(destinations=reader.destination_id)
    return Source.objects.all()


def event_list() -> QuerySet[Event]:
    """Received webhooks, with their source."""
    return Event.objects.select_related("source")
