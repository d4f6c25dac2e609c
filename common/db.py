"""Two small database habits every app shares."""

from __future__ import annotations

from typing import Any

from django.db import models
from django.db.models import QuerySet


def save_changed(instance: models.Model, changes: dict[str, Any]) -> None:
    """Write only the named columns (and updated_at), so a concurrent change to the others is kept."""
    for name, value in changes.items():
        setattr(instance, name, value)
    instance.save(update_fields=[*changes, "updated_at"])


def delete_in_batches(rows: QuerySet[Any], *, batch_size: int = 1000) -> int:
    """Delete the rows a query selects, a batch per statement, so no delete holds locks for long."""
    deleted = 0
    while True:
        ids = list(rows.order_by("pk").values_list("pk", flat=True)[:batch_size])
        if not ids:
            return deleted
        rows.model.objects.filter(pk__in=ids).delete()
        deleted += len(ids)
