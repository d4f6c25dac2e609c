"""user.deleted erases the user's personal data everywhere Tally kept it; history is pruned."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from deliveries.models import Attempt, Delivery
from deliveries.tasks import prune_deliveries
from notifications.models import Alert, Message
from notifications.tasks import prune_alerts
from tests.factories import completed, user_deleted
from webhooks.models import Event

pytestmark = pytest.mark.django_db


def test_a_deleted_users_data_goes_from_snapshots_excerpts_and_raw_bodies(
    source, destination, post_webhook, eager_tasks, django_capture_on_commit_callbacks
):
    post_webhook(source, completed(user="gone", email="gone@example.com"))
    post_webhook(source, completed(user="stays", email="stays@example.com"))
    for delivery in Delivery.objects.all():
        Attempt.objects.create(
            delivery=delivery,
            number=1,
            version=delivery.version,
            started_at=timezone.now(),
            duration_ms=5,
            status_code=200,
            response_excerpt=f"welcome {delivery.user_id}@example.com",
            level="info",
        )
    Delivery.objects.update(status="delivered")

    with django_capture_on_commit_callbacks(execute=True):
        post_webhook(source, user_deleted(user="gone"))

    gone = Delivery.objects.filter(user_id="gone").exclude(kind="user.deleted")
    assert all("gone@example.com" not in str(d.snapshot) for d in gone)
    assert not Attempt.objects.filter(response_excerpt__contains="gone@example.com").exists()
    assert not Event.objects.filter(body__contains="gone@example.com").exists()
    assert Event.objects.filter(body__contains="stays@example.com").exists()
    assert "stays@example.com" in str(Delivery.objects.get(user_id="stays").snapshot)
    assert Attempt.objects.get(delivery__user_id="stays").response_excerpt


def test_old_attempts_finished_deliveries_and_closed_alerts_are_pruned(source, destination, post_webhook, settings):
    settings.ATTEMPT_RETENTION_DAYS = settings.DELIVERY_RETENTION_DAYS = 30
    settings.ALERT_RETENTION_DAYS = 90
    for user in ("old-ok", "old-failed", "new-ok"):
        post_webhook(source, completed(user=user))
    long_ago = timezone.now() - timedelta(days=40)
    Delivery.objects.filter(user_id="old-ok").update(status="delivered")
    Delivery.objects.filter(user_id="old-failed").update(status="failed")
    Delivery.objects.filter(user_id="new-ok").update(status="delivered")
    for delivery in Delivery.objects.all():
        Attempt.objects.create(
            delivery=delivery, number=1, version=1, started_at=timezone.now(), duration_ms=1, level="info"
        )
    Attempt.objects.filter(delivery__user_id="old-failed").update(started_at=long_ago)
    Delivery.objects.filter(user_id__startswith="old").update(updated_at=long_ago)
    old_alert = Alert.objects.create(
        fingerprint="x",
        severity="error",
        title="old",
        closed=True,
        first_seen_at=long_ago,
        last_seen_at=timezone.now() - timedelta(days=100),
    )
    Message.objects.create(alert=old_alert, kind="alert", text="t", status="sent", next_attempt_at=timezone.now())
    Alert.objects.create(
        fingerprint="y", severity="error", title="open", closed=False, first_seen_at=long_ago, last_seen_at=long_ago
    )

    assert prune_deliveries() == {"attempts": 1, "deliveries": 1}
    assert prune_alerts() == 1

    assert sorted(Delivery.objects.values_list("user_id", flat=True)) == ["new-ok", "old-failed"]
    assert list(Alert.objects.values_list("title", flat=True)) == ["open"]
    assert not Message.objects.exists()
