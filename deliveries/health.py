"""How destinations and the outbox are doing: failure streaks, disabling and enabling, the backlog alert."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from deliveries.models import Delivery, Destination
from deliveries.outbox import wake_all
from notifications.models import Alert
from notifications.services import admin_link, alert_raise


def destination_record_success(*, destination: Destination, now: datetime) -> None:
    """End the destination's failure streak and note when it last took a push."""
    # Written only when it changes something (or a few seconds have
    # passed), so a busy, healthy destination's row is not rewritten per push.
    Destination.objects.filter(pk=destination.pk).filter(
        Q(consecutive_failures__gt=0)
        | Q(failing_since__isnull=False)
        | Q(last_success_at__isnull=True)
        | Q(last_success_at__lt=now - timedelta(seconds=5))
    ).update(consecutive_failures=0, failing_since=None, last_success_at=now)


def destination_record_failure(*, destination: Destination, now: datetime) -> None:
    """Count a failed push; alert at ALERT_DESTINATION_FAILURES in a row, disable after hours of failing."""
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


def destination_enable(*, destination: Destination) -> None:
    """Resume pushing; waiting deliveries become due at once."""
    with transaction.atomic():
        Destination.objects.filter(pk=destination.pk).update(
            disabled_at=None, disabled_reason="", failing_since=None, consecutive_failures=0
        )
        Delivery.objects.filter(destination=destination, status=Delivery.Status.PENDING).update(
            next_attempt_at=timezone.now()
        )
        transaction.on_commit(wake_all)


def backlog_check(*, due: QuerySet[Delivery], now: datetime) -> None:
    """Alert when a due delivery has waited longer than ALERT_BACKLOG_SECONDS for a worker."""
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
