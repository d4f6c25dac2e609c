"""The outbox: enqueue in the data's transaction, claim atomically, push, record, retry.

Guarantees (see docs/architecture.md):
- a delivery row commits with the summary change it carries, so nothing is
  lost when the broker or a worker is down: the broker only carries wake-ups,
  and the sweeper finds due rows by itself;
- at most one pending and one in-flight row per (destination, source, user),
  enforced by partial unique indexes; a newer version replaces a pending row's
  snapshot, so pushes for one user go out one at a time and in version order;
- a claim is a lease: a worker that dies mid-push loses the row when the lease
  expires, and a worker that outlives its lease cannot record over the next
  owner (every write checks the claim token).
"""

from __future__ import annotations

import json
import logging
import secrets
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, connection, transaction
from django.db.models import Exists, F, Max, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone

from common.logging import current_request_id, request_context
from deliveries import client
from deliveries.metrics import PUSH_LATENCY, PUSHES
from deliveries.models import Attempt, Delivery, Destination
from deliveries.policy import AttemptOutcome, Verdict, retry_delay
from notifications.models import Alert
from notifications.services import admin_link, alert_raise
from results.models import Result, Summary

logger = logging.getLogger(__name__)

FIRST_QUEUE = "deliveries"
RETRY_QUEUE = "deliveries_retry"


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment else None


def _money(value: Any) -> str:
    return f"{value:.2f}"


# --- Enqueue ------------------------------------------------------------------


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
    }


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


def deliveries_enqueue(
    *, summaries: Sequence[Summary], destination_ids: Sequence[int] | None = None, rerun: bool = False
) -> int:
    """Queue the given summaries for every active destination of their source (or the ones named).

    Runs in the caller's transaction: the outbox row commits with the data.
    """
    if not summaries:
        return 0
    targets = _active_destinations({s.source_id for s in summaries})
    if destination_ids is not None:
        wanted = set(destination_ids)
        targets = {src: [d for d in dests if d in wanted] for src, dests in targets.items()}
    summaries = [s for s in summaries if targets.get(s.source_id)]
    if not summaries:
        return 0
    results: dict[tuple[int, str], list[Result]] = defaultdict(list)
    live = [s for s in summaries if s.deleted_at is None]
    if live:
        rows = Result.objects.filter(
            source_id__in={s.source_id for s in live}, user_id__in={s.user_id for s in live}, counts=True
        ).order_by("unit_id")
        for result in rows:
            results[(result.source_id, result.user_id)].append(result)
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


# --- Claim, push, record ----------------------------------------------------


def _in_flight_for_same_user() -> Exists:
    return Exists(
        Delivery.objects.filter(
            destination_id=OuterRef("destination_id"),
            source_id=OuterRef("source_id"),
            user_id=OuterRef("user_id"),
            status=Delivery.Status.IN_FLIGHT,
        )
    )


def deliveries_claim(
    *, retries: bool, limit: int, busy: Mapping[int, int] | None = None, per_destination: int | None = None
) -> list[Delivery]:
    """Atomically take up to `limit` due deliveries (first attempts, or retries) under a lease.

    With `per_destination`, no destination gets more than that many slots,
    counting the `busy` ones it already holds (destination id -> pushes).
    """
    now = timezone.now()
    token = secrets.token_hex(8)
    cap = per_destination if per_destination is not None else limit
    held = dict(busy or {})
    with transaction.atomic():
        due = (
            Delivery.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(
                status=Delivery.Status.PENDING,
                next_attempt_at__lte=now,
                destination__active=True,
                destination__disabled_at__isnull=True,
            )
            .filter(Q(attempts__gt=0) if retries else Q(attempts=0))
            .exclude(_in_flight_for_same_user())
            .exclude(destination_id__in=[d for d, n in held.items() if n >= cap])
            .order_by("next_attempt_at")
            .values_list("pk", "destination_id")[: limit * 4]
        )
        ids = []
        for pk, destination_id in due:
            if held.get(destination_id, 0) < cap:
                ids.append(pk)
                held[destination_id] = held.get(destination_id, 0) + 1
                if len(ids) == limit:
                    break
        if not ids:
            return []
        Delivery.objects.filter(pk__in=ids).update(
            status=Delivery.Status.IN_FLIGHT,
            claim=token,
            attempts=F("attempts") + 1,
            lease_expires_at=now + timedelta(seconds=settings.DELIVERY_LEASE_SECONDS),
            updated_at=now,
        )
    return list(Delivery.objects.select_related("destination", "source").filter(pk__in=ids, claim=token))


def push_body(delivery: Delivery) -> bytes:
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


def delivery_push(delivery: Delivery) -> AttemptOutcome:
    """Push one claimed delivery; whatever goes wrong is this attempt's outcome, never an exception."""
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
        timeout=destination.timeout_seconds,
    )


def _owned(delivery: Delivery) -> QuerySet[Delivery]:
    return Delivery.objects.filter(pk=delivery.pk, claim=delivery.claim, status=Delivery.Status.IN_FLIGHT)


def _back_to_pending(delivery: Delivery, *, next_attempt_at: datetime, fields: dict[str, Any]) -> str | None:
    """Return a row to pending for another try, unless a newer version is already waiting.

    None if the claim was lost.
    """
    try:
        with transaction.atomic():
            updated = _owned(delivery).update(status=Delivery.Status.PENDING, next_attempt_at=next_attempt_at, **fields)
        return Delivery.Status.PENDING if updated else None
    except IntegrityError:
        # The newer pending row carries a later version of the same summary.
        updated = _owned(delivery).update(status=Delivery.Status.SUPERSEDED, **fields)
        return Delivery.Status.SUPERSEDED if updated else None


def delivery_record(
    delivery: Delivery, outcome: AttemptOutcome, *, started_at: datetime, blame_destination: bool = True
) -> str:
    """Log the attempt and move the delivery (and its destination) on.

    Returns the delivery's new status, or "lost" when another worker owns it now.

    `blame_destination` is False when the attempt ended on Tally's side (a
    worker lost mid-push): it is retried but does not count as the receiver
    failing. Log lines and alerts carry the request id of the intake that
    made the version.
    """
    with request_context(delivery.request_id):
        status = _record(delivery, outcome, started_at=started_at, blame_destination=blame_destination)
    _observe(delivery, outcome, status)
    return status


# What an attempt led to, as counted and logged: the verdict, where the new
# status alone does not say it (a retry may end superseded by a newer version).
_OUTCOME_LABEL = {
    Verdict.DELIVERED: "delivered",
    Verdict.RETRY: "retry",
    Verdict.GONE: "gone",
    Verdict.FAILED: "failed",
}
_LABEL_LEVEL = {"delivered": logging.INFO, "retry": logging.WARNING}


def _observe(delivery: Delivery, outcome: AttemptOutcome, status: str) -> None:
    """One log line and the metrics of a recorded attempt."""
    name = delivery.destination.name
    # The verdict, as the new status alone does not say it (a retry may end
    # superseded by a newer version); "dead" when the retries are used up.
    label = "dead" if status == Delivery.Status.DEAD else outcome.verdict.value
    PUSHES.labels(destination=name, outcome=label).inc()
    if status == Delivery.Status.DELIVERED and not delivery.rerun:
        PUSH_LATENCY.labels(destination=name).observe(max(0.0, (timezone.now() - delivery.snapshot_at).total_seconds()))
    logger.log(
        _LABEL_LEVEL.get(label, logging.ERROR),
        "push %s",
        label,
        extra={
            "request_id": delivery.request_id or "-",
            "delivery": delivery.webhook_id,
            "destination": name,
            "attempt": delivery.attempts,
            "status_code": outcome.status_code,
            "duration_ms": outcome.duration_ms,
            "error": outcome.error,
            "status": status,
        },
    )


def _record(delivery: Delivery, outcome: AttemptOutcome, *, started_at: datetime, blame_destination: bool) -> str:
    verdict = outcome.verdict
    destination = delivery.destination
    now = timezone.now()
    exhausted = verdict == Verdict.RETRY and delivery.attempts >= destination.max_attempts
    if verdict == Verdict.DELIVERED:
        level, error = Attempt.Level.INFO, ""
    else:
        level = Attempt.Level.WARNING if verdict == Verdict.RETRY and not exhausted else Attempt.Level.ERROR
        error = outcome.error or f"HTTP {outcome.status_code}"
    with transaction.atomic(savepoint=False):
        Attempt.objects.create(
            delivery=delivery,
            number=delivery.attempts,
            version=delivery.version,
            started_at=started_at,
            duration_ms=outcome.duration_ms,
            status_code=outcome.status_code,
            response_excerpt=outcome.excerpt,
            error=error,
            level=level,
        )
        common = {"last_status_code": outcome.status_code, "last_error": error, "lease_expires_at": None}
        if verdict == Verdict.DELIVERED:
            done = _owned(delivery).update(status=Delivery.Status.DELIVERED, delivered_at=now, updated_at=now, **common)
            if not done:
                return _lost(delivery)
            # Written only when it changes something (or a few seconds have
            # passed), so a busy, healthy destination's row is not rewritten per push.
            Destination.objects.filter(pk=destination.pk).filter(
                Q(consecutive_failures__gt=0)
                | Q(failing_since__isnull=False)
                | Q(last_success_at__isnull=True)
                | Q(last_success_at__lt=now - timedelta(seconds=5))
            ).update(consecutive_failures=0, failing_since=None, last_success_at=now)
            return Delivery.Status.DELIVERED
        if verdict == Verdict.GONE or (verdict == Verdict.RETRY and not exhausted):
            # 410 disables the destination below; the delivery waits for it
            # to be enabled again, when it becomes due at once.
            delay = 0.0 if verdict == Verdict.GONE else retry_delay(delivery.attempts, retry_after=outcome.retry_after)
            retry_at = now + timedelta(seconds=delay)
            status = _back_to_pending(delivery, next_attempt_at=retry_at, fields={**common, "updated_at": now})
            if status is None:
                return _lost(delivery)
        else:
            status = Delivery.Status.DEAD if exhausted else Delivery.Status.FAILED
            if not _owned(delivery).update(status=status, updated_at=now, **common):
                return _lost(delivery)
        if blame_destination:
            _destination_failed(destination, now=now)
        if verdict == Verdict.GONE:
            destination_disable(destination=destination, reason="The receiver answered 410 Gone.")
    if status in (Delivery.Status.FAILED, Delivery.Status.DEAD):
        alert_raise(
            fingerprint=f"delivery:{destination.pk}:{status}",
            title=f"Delivery to {destination.name} {status}",
            details={
                "destination": destination.name,
                "source": delivery.source.slug,
                "user": delivery.user_id,
                "delivery": delivery.webhook_id,
                "attempts": delivery.attempts,
                "last error": error,
            },
            admin_url=admin_link(delivery),
        )
    return status


def _record_together(outcomes: list[tuple[Delivery, datetime, AttemptOutcome]]) -> None:
    """Record pushes that finished together in one transaction: one commit for the lot.

    Should one record fail, the others are recorded one by one, so a single
    bad row never strands the rest in flight.
    """
    try:
        with transaction.atomic():
            for delivery, started, outcome in outcomes:
                delivery_record(delivery, outcome, started_at=started)
    except Exception:
        logger.exception("recording a group of pushes failed; recording them one by one")
        for delivery, started, outcome in outcomes:
            try:
                delivery_record(delivery, outcome, started_at=started)
            except Exception:
                logger.exception("could not record a push", extra={"delivery": delivery.pk})


def _lost(delivery: Delivery) -> str:
    logger.warning("lost the claim on a delivery while pushing", extra={"delivery": delivery.pk})
    return "lost"


def _destination_failed(destination: Destination, *, now: datetime) -> None:
    Destination.objects.filter(pk=destination.pk).update(consecutive_failures=F("consecutive_failures") + 1)
    Destination.objects.filter(pk=destination.pk, failing_since__isnull=True).update(failing_since=now)
    failures = Destination.objects.filter(pk=destination.pk).values_list("consecutive_failures", flat=True).get()
    if failures == settings.ALERT_DESTINATION_FAILURES:
        alert_raise(
            fingerprint=f"destination_failing:{destination.pk}",
            severity=Alert.Severity.WARNING,
            title=f"{destination.name} failed {failures} times in a row",
            details={"destination": destination.name, "url": destination.url},
            admin_url=admin_link(destination),
        )
    limit = now - timedelta(hours=settings.DESTINATION_DISABLE_AFTER_HOURS)
    if Destination.objects.filter(pk=destination.pk, failing_since__lte=limit, disabled_at__isnull=True).exists():
        destination_disable(
            destination=destination,
            reason=f"No successful push for {settings.DESTINATION_DISABLE_AFTER_HOURS} hours.",
        )


def destination_disable(*, destination: Destination, reason: str) -> bool:
    """Stop pushing to a destination; its deliveries wait until it is enabled. True if it was enabled."""
    changed = Destination.objects.filter(pk=destination.pk, disabled_at__isnull=True).update(
        disabled_at=timezone.now(), disabled_reason=reason[:300]
    )
    if changed:
        alert_raise(
            fingerprint=f"destination_disabled:{destination.pk}",
            title=f"Destination {destination.name} disabled",
            details={"destination": destination.name, "url": destination.url, "reason": reason},
            admin_url=admin_link(destination),
        )
    return bool(changed)


def _wake_all() -> None:
    wake(FIRST_QUEUE)
    wake(RETRY_QUEUE)


def destination_enable(*, destination: Destination) -> None:
    """Resume pushing; waiting deliveries become due at once."""
    with transaction.atomic():
        Destination.objects.filter(pk=destination.pk).update(
            disabled_at=None, disabled_reason="", failing_since=None, consecutive_failures=0
        )
        Delivery.objects.filter(destination=destination, status=Delivery.Status.PENDING).update(
            next_attempt_at=timezone.now()
        )
        transaction.on_commit(_wake_all)


def deliveries_process_due(*, retries: bool, max_seconds: float | None = None) -> int:
    """Push due deliveries concurrently until none are due (or time is up).

    A slot freed by a finished push is filled by a new claim at once, so one
    slow receiver holds only its own slot, not the others'. Claims never
    exceed the free slots, so no claimed row waits out its lease in a queue.
    """
    deadline = timezone.now() + timedelta(seconds=max_seconds or settings.DELIVERY_TASK_MAX_SECONDS)
    slots = settings.DELIVERY_CONCURRENCY
    # One slow or hanging receiver may hold only its share of the slots; the others keep moving.
    per_destination = max(1, int(slots * settings.DELIVERY_DESTINATION_SHARE))
    running: dict[Future[AttemptOutcome], tuple[Delivery, datetime]] = {}
    done = 0
    with ThreadPoolExecutor(max_workers=slots) as pool:
        while True:
            # Claim when half the slots are free (or none is busy): fewer,
            # larger claims under load, no waiting when the queue is quiet.
            if len(running) <= slots // 2 and timezone.now() < deadline:
                busy = Counter(delivery.destination_id for delivery, _ in running.values())
                claimed = deliveries_claim(
                    retries=retries, limit=slots - len(running), busy=busy, per_destination=per_destination
                )
                for delivery in claimed:
                    running[pool.submit(delivery_push, delivery)] = (delivery, timezone.now())
            if not running:
                return done
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            outcomes = [(*running.pop(future), future.result()) for future in finished]
            _record_together(outcomes)
            done += len(outcomes)


# --- Sweeper --------------------------------------------------------------------


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
    due = Delivery.objects.filter(
        status=Delivery.Status.PENDING,
        next_attempt_at__lte=now,
        destination__active=True,
        destination__disabled_at__isnull=True,
    )
    first_due = due.filter(attempts=0).exists()
    retries_due = due.filter(attempts__gt=0).exists()
    if first_due:
        wake(FIRST_QUEUE)
    if retries_due:
        wake(RETRY_QUEUE)
    _backlog_check(due, now=now)
    return SweepReport(expired, first_due, retries_due)


def _backlog_check(due: QuerySet[Delivery], *, now: datetime) -> None:
    threshold = now - timedelta(seconds=settings.ALERT_BACKLOG_SECONDS)
    overdue = due.filter(next_attempt_at__lte=threshold).select_related("destination")
    oldest = overdue.order_by("next_attempt_at").first()
    if oldest is None:
        return
    age = int((now - oldest.next_attempt_at).total_seconds())
    alert_raise(
        fingerprint="delivery_backlog",
        severity=Alert.Severity.WARNING,
        title=f"Deliveries are waiting: the oldest has been due for {age} s",
        details={"due deliveries": due.count(), "oldest": oldest.webhook_id, "destination": oldest.destination.name},
        admin_url=admin_link(oldest),
    )


# --- Replay and backfill ------------------------------------------------------


REPLAYABLE = (Delivery.Status.FAILED, Delivery.Status.DEAD)
REPLAY_BATCH = 500


def deliveries_replay_batches(
    *, deliveries: QuerySet[Delivery], on_progress: Callable[[int, int, int], None] | None = None
) -> tuple[int, int]:
    """Replay the failed and dead deliveries among `deliveries`, a batch of rows per transaction.

    Each batch locks only its own users' summaries, so a large replay never
    holds every summary lock at once. Returns (selected, queued);
    `on_progress(done, total, queued)` is called after each batch.
    """
    ids = list(deliveries.filter(status__in=REPLAYABLE).order_by("pk").values_list("pk", flat=True))
    queued = 0
    if on_progress is not None:
        on_progress(0, len(ids), 0)
    for start in range(0, len(ids), REPLAY_BATCH):
        queued += deliveries_replay(deliveries=Delivery.objects.filter(pk__in=ids[start : start + REPLAY_BATCH]))
        if on_progress is not None:
            on_progress(min(start + REPLAY_BATCH, len(ids)), len(ids), queued)
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
    queued = 0
    replayed = Q(pk__in=[])
    for destination_id, users in by_destination.items():
        if destination_id not in active:
            continue
        lookup = Q()
        for source_id, user_id in users:
            lookup |= Q(source_id=source_id, user_id=user_id)
        # Locked as intake locks them: the version read is the version sent,
        # and a newer one cannot commit (and be pushed) in between.
        summaries = list(Summary.objects.select_for_update().filter(lookup).order_by("pk"))
        queued += deliveries_enqueue(summaries=summaries, destination_ids=[destination_id], rerun=True)
        for summary in summaries:
            replayed |= Q(destination_id=destination_id, source_id=summary.source_id, user_id=summary.user_id)
    # Only what was queued again leaves the failed list.
    deliveries.filter(replayed, status__in=[Delivery.Status.FAILED, Delivery.Status.DEAD]).update(
        status=Delivery.Status.SUPERSEDED, updated_at=timezone.now()
    )
    return queued


def deliveries_filter(
    *,
    status: str | None = None,
    destination: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> QuerySet[Delivery]:
    qs = Delivery.objects.all()
    if status:
        qs = qs.filter(status=status)
    if destination:
        qs = qs.filter(destination__name=destination)
    if since:
        qs = qs.filter(created_at__gte=since)
    if until:
        qs = qs.filter(created_at__lt=until)
    return qs


def summaries_missing_for(destination: Destination) -> QuerySet[Summary]:
    """Summaries whose current version this destination has neither received nor queued."""
    sent = (
        Delivery.objects.filter(
            destination=destination,
            source_id=OuterRef("source_id"),
            user_id=OuterRef("user_id"),
            status__in=[Delivery.Status.DELIVERED, Delivery.Status.PENDING, Delivery.Status.IN_FLIGHT],
        )
        .values("destination_id")
        .annotate(top=Max("version"))
        .values("top")
    )
    return (
        Summary.objects.filter(source__in=destination.sources.all())
        .annotate(sent=Subquery(sent))
        .filter(Q(sent__isnull=True, deleted_at__isnull=True) | Q(sent__lt=F("version")))
        .order_by("pk")
    )
