"""Operators pushing again: replays (marked rerun) of chosen deliveries, and backfills to a destination."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence

from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from deliveries.models import Delivery, Destination
from deliveries.outbox import deliveries_enqueue
from deliveries.selectors import summaries_missing_for
from results.locking import summaries_lock

REPLAYABLE = (Delivery.Status.FAILED, Delivery.Status.DEAD)
REPLAY_BATCH = 500
BACKFILL_BATCH = 500

Progress = Callable[[int, int, int], None]


def _in_batches(
    ids: Sequence[int], *, size: int, queue: Callable[[Sequence[int]], int], on_progress: Progress | None
) -> int:
    """Queue `ids` a batch per call of `queue`, reporting (done, total, queued) before and after each."""
    queued = 0
    if on_progress is not None:
        on_progress(0, len(ids), 0)
    for start in range(0, len(ids), size):
        queued += queue(ids[start : start + size])
        if on_progress is not None:
            on_progress(min(start + size, len(ids)), len(ids), queued)
    return queued


def deliveries_replay_batches(
    *, deliveries: QuerySet[Delivery], on_progress: Progress | None = None
) -> tuple[int, int]:
    """Replay the failed and dead deliveries among `deliveries`, a batch of rows per transaction.

    Each batch locks only its own users' summaries, so a large replay never
    holds every summary lock at once. Returns (selected, queued);
    `on_progress(done, total, queued)` is called after each batch.
    """
    ids = list(deliveries.filter(status__in=REPLAYABLE).order_by("pk").values_list("pk", flat=True))
    queued = _in_batches(
        ids,
        size=REPLAY_BATCH,
        queue=lambda batch: deliveries_replay(deliveries=Delivery.objects.filter(pk__in=batch)),
        on_progress=on_progress,
    )
    return len(ids), queued


@transaction.atomic
def deliveries_replay(*, deliveries: QuerySet[Delivery]) -> int:
    """Push the current summary again, marked `rerun`, for each (destination, user) selected.

    The current version is sent, never an older one, so a replay cannot undo
    a newer push. Replayed failed or dead rows are marked superseded.
    """
    keys = set(deliveries.values_list("destination_id", "source_id", "user_id"))
    by_destination: dict[int, list[tuple[int, str]]] = defaultdict(list)
    for destination_id, source_id, user_id in keys:
        by_destination[destination_id].append((source_id, user_id))
    active = set(Destination.objects.filter(pk__in=by_destination, active=True).values_list("pk", flat=True))
    # Locked as intake locks them, all at once and so in id order: the version
    # read is the version sent, and a newer one cannot commit (and be pushed)
    # in between.
    locked = {
        (s.source_id, s.user_id): s
        for s in summaries_lock(users=[user for d, users in by_destination.items() if d in active for user in users])
    }
    queued = 0
    replayed = Q(pk__in=[])
    for destination_id, users in by_destination.items():
        if destination_id not in active:
            continue
        summaries = [locked[user] for user in sorted(set(users)) if user in locked]
        queued += deliveries_enqueue(summaries=summaries, destination_ids=[destination_id], rerun=True)
        for summary in summaries:
            replayed |= Q(destination_id=destination_id, source_id=summary.source_id, user_id=summary.user_id)
    # Only what was queued again leaves the failed list.
    deliveries.filter(replayed, status__in=REPLAYABLE).update(
        status=Delivery.Status.SUPERSEDED, updated_at=timezone.now()
    )
    return queued


def deliveries_backfill(*, destination: Destination, on_progress: Progress | None = None) -> tuple[int, int]:
    """Queue every summary whose current version `destination` has neither received nor queued.

    A batch of summaries per transaction, each locked as intake locks it, so a
    concurrent event cannot slip a newer version in between. Returns
    (missing, queued); `on_progress(done, total, queued)` is called after each batch.
    """
    ids = list(summaries_missing_for(destination).values_list("pk", flat=True))

    def queue(batch: Sequence[int]) -> int:
        with transaction.atomic():
            return deliveries_enqueue(summaries=summaries_lock(pks=batch), destination_ids=[destination.pk])

    return len(ids), _in_batches(ids, size=BACKFILL_BATCH, queue=queue, on_progress=on_progress)
