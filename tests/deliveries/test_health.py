"""A failing destination: disabled after hours of failure or at a 410, its deliveries waiting until it is enabled."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from deliveries.health import destination_enable
from deliveries.models import Delivery, Destination
from deliveries.worker import deliveries_process_due
from tests.factories import completed
from tests.servers import Reply

pytestmark = pytest.mark.django_db


def test_disable_after_hours_of_failure(source, destination, post_webhook, receiver, settings):
    settings.DESTINATION_DISABLE_AFTER_HOURS = 1
    receiver.default = Reply(500)
    Destination.objects.update(failing_since=timezone.now() - timedelta(hours=2))
    post_webhook(source, completed())

    deliveries_process_due(retries=False, max_seconds=5)

    destination.refresh_from_db()
    assert destination.disabled_at is not None
    assert "1 hours" in destination.disabled_reason


def test_410_keeps_the_delivery_waiting_until_the_destination_is_enabled(source, destination, post_webhook, receiver):
    receiver.default = Reply(410)
    post_webhook(source, completed())
    deliveries_process_due(retries=False, max_seconds=5)

    delivery = Delivery.objects.get()
    assert delivery.status == "pending"
    assert Destination.objects.get().disabled_at is not None
    assert deliveries_process_due(retries=True, max_seconds=5) == 0, "a disabled destination is not pushed to"

    receiver.default = Reply(200)
    destination_enable(destination=Destination.objects.get())
    deliveries_process_due(retries=True, max_seconds=5)
    assert Delivery.objects.get().status == "delivered"
    assert receiver.bodies()[-1]["data"]["version"] == 1
