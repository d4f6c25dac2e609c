"""Claiming due rows for one worker: locked rows are skipped, taken rows get a lease."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from django.db import models, transaction
from django.db.models import QuerySet

M = TypeVar("M", bound=models.Model)


def rows_claim(
    *,
    due: QuerySet[M],
    lease: Mapping[str, Any],
    limit: int = 1,
    scan: int | None = None,
    pick: Callable[[list[M]], list[M]] | None = None,
) -> list[M]:
    """Take up to `limit` rows of `due`, in its order, that no other transaction holds; write `lease` onto them.

    The rows come back as they were read, before `lease` was written. With
    `pick`, the first `scan` free rows are read and `pick` chooses among them
    (say, no more than a share per destination).
    """
    with transaction.atomic():
        # skip_locked: rows another worker is claiming are passed over, not waited for;
        # of=self: rows of joined tables (a filter's) stay unlocked.
        free = list(due.select_for_update(skip_locked=True, of=("self",))[: scan or limit])
        taken = (pick(free) if pick else free)[:limit]
        if taken:
            due.model._default_manager.filter(pk__in=[row.pk for row in taken]).update(**lease)
    return taken
