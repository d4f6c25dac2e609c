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
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.utils import timezone

from common.logging import current_request_id
from deliveries.models import Delivery, Destination
from results.locking import counted_results

if TYPE_CHECKING:
    from results.models import Result, Summary

logger = logging.getLogger(__name__)

FIRST_QUEUE = "deliveries"
RETRY_QUEUE = "deliveries_retry"


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment else None


def _money(value: Any) -> str:
    return f"{value:.2f}"


def snapshot_build(summary: Summary, results: Iterable[Result]) -> dict[str, Any]:
    """The push's `data` (less `source`, added at send time) for one summary version."""
    if summary.deleted_at is not None:
        return {"user": {"id": summary.user_id}, "version": summary.version}
    return {
        "user": {"id": summary.user_id, "email": summary.user_email, "name": summary.user_name},
        "version": summary.version,
        "summary": {
            "units_completed": summary.units_completed,
            "units_passed": summary.units_passed,
            "score_total": _money(summary.score_total),
            "max_score_total": _money(summary.max_score_total),
            "percent": _money(summary.percent),
            "first_activity_at": _iso(summary.first_activity_at),
            "last_activity_at": _iso(summary.last_activity_at),
        },
        "results": [
            {
                "unit_id": r.unit_id,
                "title": r.title,
                "score": _money(r.score),
                "max_score": _money(r.max_score),
                "passed": r.passed,
                "completed_at": _iso(r.completed_at),
            }
            for r in results
        ],
        "results_count": summary.units_completed,
        "results_complete": summary.units_completed <= settings.DELIVERY_MAX_RESULTS,
    }


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


# Raw SQL for the upsert on the partial unique index; Delivery.attempt_count's column is `attempts`.
_ENQUEUE_SQL = """
INSERT INTO deliveries_delivery AS d (
    destination_id, source_id, user_id, kind, version, snapshot, snapshot_at, rerun, status, attempts,
    next_attempt_at, claim, last_error, request_id, created_at, updated_at
) VALUES {values}
ON CONFLICT (destination_id, source_id, user_id) WHERE status = 'pending'
DO UPDATE SET
    kind = excluded.kind,
    version = excluded.version,
    snapshot = excluded.snapshot,
    snapshot_at = excluded.snapshot_at,
    request_id = excluded.request_id,
    rerun = CASE WHEN excluded.version > d.version THEN excluded.rerun ELSE d.rerun OR excluded.rerun END,
    updated_at = excluded.updated_at
WHERE d.version <= excluded.version
"""


def _active_destinations(source_ids: set[int]) -> dict[int, list[int]]:
    through = Destination.sources.through
    pairs = through.objects.filter(source_id__in=source_ids, destination__active=True).values_list(
        "source_id", "destination_id"
    )
    found: dict[int, list[int]] = defaultdict(list)
    for source_id, destination_id in pairs:
        found[source_id].append(destination_id)
    return found


def enqueue_in_sql_available() -> bool:
    return connection.vendor == "postgresql"


def deliveries_enqueue(
    *, summaries: Sequence[Summary], destination_ids: Sequence[int] | None = None, rerun: bool = False
) -> int:
    """Queue the given summaries for every active destination of their source (or the ones named).

    Runs in the caller's transaction: the outbox row commits with the data.
    The summaries must be as stored (the caller holds their locks): on
    PostgreSQL the rows and their snapshots are built from the stored rows in
    one statement (tally_summaries_enqueue, deliveries/sql/enqueue_v2.sql);
    elsewhere here, by snapshot_build.
    """
    if not summaries:
        return 0
    if enqueue_in_sql_available():
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
    targets = _active_destinations({s.source_id for s in summaries})
    if destination_ids is not None:
        wanted = set(destination_ids)
        targets = {src: [d for d in dests if d in wanted] for src, dests in targets.items()}
    summaries = [s for s in summaries if targets.get(s.source_id)]
    if not summaries:
        return 0
    results = counted_results(summaries, limit=settings.DELIVERY_MAX_RESULTS)
    now = timezone.now()
    json_placeholder = "CAST(%s AS jsonb)" if connection.vendor == "postgresql" else "%s"
    row_sql = f"(%s, %s, %s, %s, %s, {json_placeholder}, %s, %s, 'pending', 0, %s, '', '', %s, %s, %s)"
    request_id = current_request_id()
    values_sql: list[str] = []
    params: list[Any] = []
    for summary in summaries:
        kind = Delivery.Kind.USER_DELETED if summary.deleted_at else Delivery.Kind.SUMMARY_UPDATED
        snapshot = json.dumps(snapshot_build(summary, results[(summary.source_id, summary.user_id)]))
        for destination_id in targets[summary.source_id]:
            values_sql.append(row_sql)
            params += [
                destination_id,
                summary.source_id,
                summary.user_id,
                kind,
                summary.version,
                snapshot,
                summary.updated_at,
                rerun,
                now,
                request_id,
                now,
                now,
            ]
    with connection.cursor() as cursor:
        cursor.execute(_ENQUEUE_SQL.format(values=", ".join(values_sql)), params)
    transaction.on_commit(lambda: wake(FIRST_QUEUE))
    return len(values_sql)


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
