"""Reads of results and summaries."""

from __future__ import annotations

from datetime import datetime

from django.db.models import QuerySet

from accounts.models import ApiToken
from results.models import Result, Summary


def summary_list(
    *,
    source: str | None = None,
    user_id: str | None = None,
    updated_since: datetime | None = None,
    reader: ApiToken | None = None,
) -> QuerySet[Summary]:
    """Live summaries (erased users left out), filtered; a client token sees only its destination's sources."""
    qs = Summary.objects.select_related("source").filter(deleted_at__isnull=True)
    if reader is not None and not reader.is_staff:
        qs = qs.filter(source__destinations=reader.destination_id)
    if source:
        qs = qs.filter(source__slug=source)
    if user_id:
        qs = qs.filter(user_id=user_id)
    if updated_since is not None:
        qs = qs.filter(updated_at__gte=updated_since)
    return qs


def summary_get(*, source: str, user_id: str, reader: ApiToken | None = None) -> Summary | None:
    if "\x00" in user_id:
        return None  # PostgreSQL text cannot hold NUL, so no stored id has one
    return summary_list(source=source, user_id=user_id, reader=reader).first()


def result_list(*, reader: ApiToken | None = None) -> QuerySet[Result]:
    """Results; a client token sees only its destination's sources."""
    qs = Result.objects.select_related("source")
    if reader is not None and not reader.is_staff:
        qs = qs.filter(source__destinations=reader.destination_id)
    return qs


def source_id_by_slug(*, slug: str) -> int | None:
    """The id of the source with this slug, found through Summary's foreign key: results does not import webhooks."""
    sources = Summary.source.field.remote_field.model._default_manager
    return sources.filter(slug=slug).values_list("pk", flat=True).first()
