"""The outbox's intake side: a summary change queues its push in the data's transaction.

Guarantees (see docs/architecture.md):
- a delivery row commits with the summary change it carries, so nothing is
  lost when the broker or a worker is down: the broker only carries wake-ups,
  and the sweeper finds due rows by itself;
- at most one pending and one in-flight row per (destination, source, user),
  enforced by partial unique indexes; a newer version replaces a pending row's
  snapshot, so pushes for one user go out one at a time and in version order.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.utils import timezone

from common.logging import current_request_id
from deliveries.models import Delivery

if TYPE_CHECKING:
    from results.models import Summary

logger = logging.getLogger(__name__)

FIRST_QUEUE = "deliveries"
RETRY_QUEUE = "deliveries_retry"


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment else None


def push_body(delivery: Delivery) -> bytes:
    """The bytes POSTed for a delivery: its stored snapshot in the push envelope."""
    return json.dumps(
        {
            "type": delivery.kind,
            "id": delivery.webhook_id,
            "timestamp": _iso(delivery.snapshot_at),
            "rerun": delivery.rerun,
            "data": {"source": delivery.source.slug, **delivery.snapshot},
        },
        separators=(",", ":"),
    ).encode()


def deliveries_enqueue(
    *, summaries: Sequence[Summary], destination_ids: Sequence[int] | None = None, rerun: bool = False
) -> int:
    """Queue the given summaries for every active destination of their source (or the ones named).

    Runs in the caller's transaction: the outbox row commits with the data.
    The summaries must be as stored (the caller holds their locks): the rows
    and their snapshots are built from the stored rows in one statement
    (tally_summaries_enqueue, deliveries/sql/enqueue_v2.sql).
    """
    if not summaries:
        return 0
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tally_summaries_enqueue(%s, %s, %s, %s, %s, %s)",
            [
                [s.pk for s in summaries],
                None if destination_ids is None else list(destination_ids),
                rerun,
                current_request_id(),
                timezone.now(),
                settings.DELIVERY_MAX_RESULTS,
            ],
        )
        written: int = cursor.fetchone()[0]
    if written:
        transaction.on_commit(lambda: wake(FIRST_QUEUE))
    return written


def _wake_key(queue: str) -> str:
    return f"deliveries:wake:{queue}"


def wake_reset(queue: str) -> None:
    """Forget the last wake-up: a worker has started looking."""
    try:
        cache.delete(_wake_key(queue))
    except Exception:
        logger.warning("could not reset the wake-up flag", exc_info=True)


def wake(queue: str) -> None:
    """Ask a worker to look for due deliveries; best effort, the sweeper covers a lost wake-up.

    Many commits in the same second share one wake-up.
    """
    from deliveries.tasks import deliver_due  # tasks import this module

    try:
        if not cache.add(_wake_key(queue), 1, timeout=5):
            return
        deliver_due.apply_async(kwargs={"retries": queue == RETRY_QUEUE}, queue=queue, retry=False)
    except Exception:
        # A broker (or cache) outage must not fail the request that committed
        # the data; the row is safe and the sweeper will wake a worker.
        logger.warning("could not wake delivery workers", extra={"queue": queue}, exc_info=True)


def wake_all() -> None:
    """Wake workers of first attempts and of retries."""
    wake(FIRST_QUEUE)
    wake(RETRY_QUEUE)
