"""Intake's periodic work."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from tests.factories import completed
from webhooks.models import Event
from webhooks.tasks import prune_event_payloads

pytestmark = pytest.mark.django_db


def test_prune_blanks_only_bodies_older_than_the_retention(source, post_webhook, settings):
    settings.EVENT_RETENTION_DAYS = 30
    post_webhook(source, completed(event_id="old"))
    post_webhook(source, completed(event_id="new"))
    Event.objects.filter(idempotency_key="old").update(received_at=timezone.now() - timedelta(days=31))

    assert prune_event_payloads() == 1

    bodies = dict(Event.objects.values_list("idempotency_key", "body"))
    assert bodies["old"] == ""
    assert '"new"' in bodies["new"]
    assert Event.objects.count() == 2
