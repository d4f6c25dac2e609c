"""The outbox's worker side: claim due deliveries, push them concurrently, record them, sweep.

A claim is a lease: a worker that dies mid-push loses the row when the lease
expires, and a worker that outlives its lease cannot record over the next
owner (every write checks the claim token).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import Counter
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from deliveries import client
from deliveries.claiming import deliveries_claim
from deliveries.health import backlog_check
from deliveries.models import Delivery
from deliveries.outbox import FIRST_QUEUE, RETRY_QUEUE, push_body, wake
from deliveries.policy import AttemptOutcome, Verdict
from deliveries.recording import deliveries_record_delivered, delivery_record
from deliveries.selectors import deliveries_due

logger = logging.getLogger(__name__)


# --- Claim and push -----------------------------------------------------------


def delivery_push(delivery: Delivery, *, time_left: float | None = None) -> AttemptOutcome:
    """Push one claimed delivery; whatever goes wrong is this attempt's outcome, never an exception.

    `time_left` caps the push below its destination's timeout: the task's
    soft time limit must never cut a push before its outcome is recorded.
    """
    destination = delivery.destination
    try:
        # Stored settings are read here, not trusted: a secret no key decrypts
        # or a header map that is not one fails this push alone.
        secrets = destination.signing_secrets
        headers = {str(k): str(v) for k, v in dict(destination.headers or {}).items()}
        body = push_body(delivery)
    except Exception as exc:
        logger.exception("could not prepare a push", extra={"delivery": delivery.pk})
        return AttemptOutcome(
            status_code=None, duration_ms=0, error=f"could not prepare the push: {type(exc).__name__}"
        )
    return client.push(
        url=destination.url,
        secrets=secrets,
        msg_id=delivery.webhook_id,
        body=body,
        headers=headers,
        timeout=destination.timeout_seconds if time_left is None else min(destination.timeout_seconds, time_left),
    )


# --- The processing loop and the sweeper ----------------------------------------

# Time kept after the last push for recording the outcomes of a task's batch.
_RECORD_MARGIN_SECONDS = 2.0


def _record_together(outcomes: list[tuple[Delivery, datetime, AttemptOutcome]]) -> None:
    """Record pushes that finished together in one transaction: one commit for the lot.

    The delivered ones (most) are recorded in a few statements for all of
    them; the others one by one. Should a record fail, every push of the lot
    is recorded on its own, so a single bad row never strands the rest in
    flight.
    """
    delivered = [item for item in outcomes if item[2].verdict == Verdict.DELIVERED]
    try:
        with transaction.atomic():
            if delivered:
                deliveries_record_delivered(delivered)
            for delivery, started, outcome in outcomes:
                if outcome.verdict != Verdict.DELIVERED:
                    delivery_record(delivery, outcome, started_at=started)
    except Exception:
        logger.exception("recording a group of pushes failed; recording them one by one")
        for delivery, started, outcome in outcomes:
            try:
                delivery_record(delivery, outcome, started_at=started)
            except Exception:
                logger.exception("could not record a push", extra={"delivery": delivery.pk})


def deliveries_process_due(*, retries: bool, max_seconds: float | None = None) -> int:
    """Push due deliveries concurrently until none are due (or time is up).

    A slot freed by a finished push is filled by a new claim at once, so one
    slow receiver holds only its own slot, not the others'. Claims never
    exceed the free slots, so no claimed row waits out its lease in a queue.
    """
    deadline = timezone.now() + timedelta(seconds=max_seconds or settings.DELIVERY_TASK_MAX_SECONDS)
    # Pushes end (and are recorded) a little before the task's soft limit.
    soft_stop = time.monotonic() + settings.DELIVERY_TASK_SOFT_TIME_LIMIT - _RECORD_MARGIN_SECONDS
    slots = settings.DELIVERY_CONCURRENCY
    # One slow or hanging receiver may hold only its share of the slots; the others keep moving.
    per_destination = max(1, int(slots * settings.DELIVERY_DESTINATION_SHARE))
    running: dict[Future[AttemptOutcome], tuple[Delivery, datetime]] = {}
    done = 0
    helped = False
    pool = _push_pool(slots)
    while True:
        # Claim when half the slots are free (or none is busy): fewer,
        # larger claims under load, no waiting when the queue is quiet.
        if len(running) <= slots // 2 and timezone.now() < deadline:
            busy = Counter(delivery.destination_id for delivery, _ in running.values())
            limit = slots - len(running)
            claimed = deliveries_claim(retries=retries, limit=limit, busy=busy, per_destination=per_destination)
            if len(claimed) >= min(limit, per_destination) and not helped:
                # A full claim: more may be due than one task keeps up with. Ask
                # another worker process to claim beside this one (once per task;
                # claims never overlap), so a backlog uses every process, not one.
                wake(RETRY_QUEUE if retries else FIRST_QUEUE)
                helped = True
            for delivery in claimed:
                time_left = max(1.0, soft_stop - time.monotonic())
                running[pool.submit(delivery_push, delivery, time_left=time_left)] = (delivery, timezone.now())
        if not running:
            return done
        finished, _ = wait(running, return_when=FIRST_COMPLETED)
        outcomes = [(*running.pop(future), future.result()) for future in finished]
        _record_together(outcomes)
        done += len(outcomes)


_pools: dict[tuple[int, int], ThreadPoolExecutor] = {}
_pools_lock = threading.Lock()


def _push_pool(slots: int) -> ThreadPoolExecutor:
    """The process' push threads, kept from one task to the next (a forked child makes its own).

    Its threads only push (no database connection of their own); a task
    waits for its own pushes, never for another's.
    """
    key = (os.getpid(), slots)
    with _pools_lock:
        pool = _pools.get(key)
        if pool is None:
            pool = _pools[key] = ThreadPoolExecutor(max_workers=slots, thread_name_prefix="tally-push")
        return pool


@dataclass(frozen=True)
class SweepReport:
    expired: int
    first_due: bool
    retries_due: bool


def deliveries_sweep() -> SweepReport:
    """Recover deliveries whose worker vanished, and wake workers for whatever is due."""
    now = timezone.now()
    expired = 0
    while True:
        with transaction.atomic():
            stale = list(
                Delivery.objects.select_for_update(skip_locked=True, of=("self",))
                .select_related("destination", "source")
                .filter(status=Delivery.Status.IN_FLIGHT, lease_expires_at__lt=now)[:100]
            )
            for delivery in stale:
                delivery_record(
                    delivery,
                    AttemptOutcome(status_code=None, duration_ms=0, error="worker lost: the lease expired"),
                    started_at=delivery.updated_at,
                    blame_destination=False,
                )
        expired += len(stale)
        if len(stale) < 100:
            break
    due = deliveries_due(now=now)
    first_due = due.filter(attempt_count=0).exists()
    retries_due = due.filter(attempt_count__gt=0).exists()
    if first_due:
        wake(FIRST_QUEUE)
    if retries_due:
        wake(RETRY_QUEUE)
    backlog_check(due=due, now=now)
    return SweepReport(expired, first_due, retries_due)
