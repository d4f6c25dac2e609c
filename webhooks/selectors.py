"""Reads for intake."""

from __future__ import annotations

from webhooks.models import Source


def source_get_active(*, slug: str) -> Source | None:
    return Source.objects.filter(slug=slug, active=True).first()
