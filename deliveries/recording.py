"""Recording one attempt: what its outcome leads to (a declared table), applied, logged and counted."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone

from common.logging import request_context
from deliveries.health import destination_disable, destination_record_failure, destination_record_success
from deliveries.metrics import PUSH_LATENCY, PUSHES
from deliveries.models import Attempt, Delivery
from deliveries.policy import AttemptOutcome, Verdict, retry_delay
from notifications.services import admin_link, alert_raise

logger = logging.getLogger(__name__)

# What delivery_record returns when another worker owns the delivery now; not a Delivery.Status.
LOST = "lost"


@dataclass(frozen=True)
class Transition:
    """What an attempt's verdict does to its delivery, its attempt row and its destination."""

    status: Delivery.Status  # PENDING: tried again (superseded instead when a newer version waits)
    level: Attempt.Level
    backoff: bool = False  # when pending: after the retry schedule's delay, else due at once
    blames_destination: bool = True  # counts towards the destination's failure streak
    disables_destination: bool = False
    alerts: bool = False


# (verdict, attempts exhausted) -> what follows. Only a retry ends otherwise on the last attempt;
# a 410 keeps the delivery waiting, due at once when the destination it disables is enabled again.
TRANSITIONS: dict[tuple[Verdict, bool], Transition] = {
    (Verdict.DELIVERED, False): Transition(Delivery.Status.DELIVERED, Attempt.Level.INFO, blames_destination=False),
    (Verdict.DELIVERED, True): Transition(Delivery.Status.DELIVERED, Attempt.Level.INFO, blames_destination=False),
    (Verdict.RETRY, False): Transition(Delivery.Status.PENDING, Attempt.Level.WARNING, backoff=True),
    (Verdict.RETRY, True): Transition(Delivery.Status.DEAD, Attempt.Level.ERROR, alerts=True),
    (Verdict.GONE, False): Transition(Delivery.Status.PENDING, Attempt.Level.ERROR, disables_destination=True),
    (Verdict.GONE, True): Transition(Delivery.Status.PENDING, Attempt.Level.ERROR, disables_destination=True),
    (Verdict.FAILED, False): Transition(Delivery.Status.FAILED, Attempt.Level.ERROR, alerts=True),
    (Verdict.FAILED, True): Transition(Delivery.Status.FAILED, Attempt.Level.ERROR, alerts=True),
}


def delivery_record(
    delivery: Delivery, outcome: AttemptOutcome, *, started_at: datetime, blame_destination: bool = True
) -> str:
    """Log the attempt and move the delivery (and its destination) on.

    Returns the delivery's new status, or LOST when another worker owns it now.

    `blame_destination` is False when the attempt ended on Tally's side (a
    worker lost mid-push): it is retried but does not count as the receiver
    failing. Log lines and alerts carry the request id of the intake that
    made the version.
    """
    with request_context(delivery.request_id):
        status = _record(delivery, outcome, started_at=started_at, blame_destination=blame_destination)
    # Counted and logged once the record is kept: a group of records rolled
    # back and recorded again one by one is counted once.
    transaction.on_commit(lambda: _observe(delivery, outcome, status))
    return status


def deliveries_record_delivered(pushes: Sequence[tuple[Delivery, datetime, AttemptOutcome]]) -> dict[int, str]:
    """Record pushes a receiver took (2xx), together: what delivery_record does for each, in a few statements.

    One insert for the attempts, one update per claim and status code for the
    deliveries, one write per destination for its health. Returns each
    delivery's new status (DELIVERED, or LOST when another worker owns it now).
    Must run inside a transaction.
    """
    now = timezone.now()
    attempts = []
    groups: dict[tuple[str, int | None], list[int]] = defaultdict(list)
    for delivery, started_at, outcome in pushes:
        assert outcome.verdict == Verdict.DELIVERED
        attempts.append(_attempt(delivery, outcome, started_at=started_at, error="", level=Attempt.Level.INFO))
        groups[(delivery.claim, outcome.status_code)].append(delivery.pk)
    Attempt.objects.bulk_create(attempts)
    kept: set[int] = set()
    for (claim, status_code), pks in groups.items():
        owned = Delivery.objects.filter(pk__in=pks, claim=claim, status=Delivery.Status.IN_FLIGHT)
        changes = {"last_status_code": status_code, "last_error": "", "lease_expires_at": None}
        if owned.update(status=Delivery.Status.DELIVERED, updated_at=now, delivered_at=now, **changes) == len(pks):
            kept.update(pks)
        else:  # some were lost (a lease expired mid-push): find which
            mine = Delivery.objects.filter(pk__in=pks, claim=claim, status=Delivery.Status.DELIVERED, delivered_at=now)
            kept.update(mine.values_list("pk", flat=True))
    healthy = {delivery.destination_id: delivery.destination for delivery, _, _ in pushes if delivery.pk in kept}
    for destination in healthy.values():
        destination_record_success(destination=destination, now=now)
    statuses: dict[int, str] = {}
    for delivery, _, outcome in pushes:
        status = statuses[delivery.pk] = Delivery.Status.DELIVERED if delivery.pk in kept else LOST
        if status == LOST:
            with request_context(delivery.request_id):
                logger.warning("lost the claim on a delivery while pushing", extra={"delivery": delivery.pk})
        transaction.on_commit(lambda d=delivery, o=outcome, s=status: _observe(d, o, s))  # type: ignore[misc]
    return statuses


_LABEL_LEVEL = {Verdict.DELIVERED.value: logging.INFO, Verdict.RETRY.value: logging.WARNING}


def _observe(delivery: Delivery, outcome: AttemptOutcome, status: str) -> None:
    """One log line and the metrics of a recorded attempt."""
    name = delivery.destination.name
    # The verdict, as the new status alone does not say it (a retry may end
    # superseded by a newer version); "dead" when the retries are used up.
    label = Delivery.Status.DEAD.value if status == Delivery.Status.DEAD else outcome.verdict.value
    PUSHES.labels(destination=name, outcome=label).inc()
    if status == Delivery.Status.DELIVERED and not delivery.rerun:
        # From the version's commit, or from the row's creation when it came
        # later (a backfill queues versions committed long ago).
        since = max(delivery.snapshot_at, delivery.created_at)
        PUSH_LATENCY.labels(destination=name).observe(max(0.0, (timezone.now() - since).total_seconds()))
    logger.log(
        _LABEL_LEVEL.get(label, logging.ERROR),
        "push %s",
        label,
        extra={
            "request_id": delivery.request_id or "-",
            "delivery": delivery.webhook_id,
            "destination": name,
            "attempt": delivery.attempt_count,
            "status_code": outcome.status_code,
            "duration_ms": outcome.duration_ms,
            "error": outcome.error,
            "status": status,
        },
    )


def _attempt(
    delivery: Delivery, outcome: AttemptOutcome, *, started_at: datetime, error: str, level: Attempt.Level
) -> Attempt:
    """The log row of one attempt (unsaved)."""
    return Attempt(
        delivery=delivery,
        number=delivery.attempt_count,
        version=delivery.version,
        started_at=started_at,
        duration_ms=outcome.duration_ms,
        status_code=outcome.status_code,
        response_excerpt=outcome.excerpt,
        error=error,
        level=level,
    )


def _owned(delivery: Delivery) -> QuerySet[Delivery]:
    return Delivery.objects.filter(pk=delivery.pk, claim=delivery.claim, status=Delivery.Status.IN_FLIGHT)


def _back_to_pending(delivery: Delivery, *, next_attempt_at: datetime, fields: dict[str, Any]) -> str:
    """Return a row to pending for another try, unless a newer version is already waiting."""
    try:
        with transaction.atomic():
            updated = _owned(delivery).update(status=Delivery.Status.PENDING, next_attempt_at=next_attempt_at, **fields)
        return Delivery.Status.PENDING if updated else LOST
    except IntegrityError:
        # The newer pending row carries a later version of the same summary.
        updated = _owned(delivery).update(status=Delivery.Status.SUPERSEDED, **fields)
        return Delivery.Status.SUPERSEDED if updated else LOST


def _record(delivery: Delivery, outcome: AttemptOutcome, *, started_at: datetime, blame_destination: bool) -> str:
    verdict = outcome.verdict
    destination = delivery.destination
    now = timezone.now()
    transition = TRANSITIONS[(verdict, delivery.attempt_count >= destination.max_attempts)]
    error = "" if verdict == Verdict.DELIVERED else outcome.error or f"HTTP {outcome.status_code}"
    with transaction.atomic(savepoint=False):
        _attempt(delivery, outcome, started_at=started_at, error=error, level=transition.level).save()
        fields = {"last_status_code": outcome.status_code, "last_error": error, "lease_expires_at": None}
        if transition.status == Delivery.Status.PENDING:
            delay = retry_delay(delivery.attempt_count, retry_after=outcome.retry_after) if transition.backoff else 0.0
            retry_at = now + timedelta(seconds=delay)
            status = _back_to_pending(delivery, next_attempt_at=retry_at, fields={**fields, "updated_at": now})
        else:
            delivered_at = {"delivered_at": now} if transition.status == Delivery.Status.DELIVERED else {}
            updated = _owned(delivery).update(status=transition.status, updated_at=now, **delivered_at, **fields)
            status = transition.status if updated else LOST
        if status == LOST:
            logger.warning("lost the claim on a delivery while pushing", extra={"delivery": delivery.pk})
            return LOST
        if transition.status == Delivery.Status.DELIVERED:
            destination_record_success(destination=destination, now=now)
        if transition.blames_destination and blame_destination:
            destination_record_failure(destination=destination, now=now)
        if transition.disables_destination:
            destination_disable(destination=destination, reason="The receiver answered 410 Gone.")
    if transition.alerts:
        alert_raise(
            fingerprint=f"delivery:{destination.pk}:{status}",
            title=f"Delivery to {destination.name} {status}",
            details={
                "destination": destination.name,
                "source": delivery.source.slug,
                "user": delivery.user_id,
                "delivery": delivery.webhook_id,
                "attempts": delivery.attempt_count,
                "last error": error,
            },
            admin_url=admin_link(delivery),
        )
    return status
