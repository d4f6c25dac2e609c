"""Intake's periodic work."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from config.celery_app import app as celery_app
from results.models import Summary
from tests.factories import completed
from webhooks.models import Event, Source
from webhooks.services import source_pause
from webhooks.tasks import prune_event_payloads, sweep_waiting_events

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


def test_events_left_waiting_after_a_resume_are_applied_by_the_periodic_pass(source, post_webhook):
    source_pause(source=source)
    post_webhook(source, completed())
    # The resume's own task already ran; this event raced it.
    Source.objects.filter(pk=source.pk).update(paused=False)

    assert sweep_waiting_events() == 1
    assert Event.objects.get().status == "accepted"
    assert Summary.objects.get(source=source).units_completed == 1
    assert sweep_waiting_events() == 0


@pytest.mark.django_db(transaction=True)
def test_a_waiting_event_that_meets_a_lock_timeout_stays_waiting_and_is_applied_later(source, post_webhook):
    import psycopg2
    from django.db import connection

    post_webhook(source, completed(user="u-1", unit="a"))  # the user's summary exists
    source_pause(source=source)
    post_webhook(source, completed(user="u-1", unit="b"))
    Source.objects.filter(pk=source.pk).update(paused=False)
    settings = connection.settings_dict
    other = psycopg2.connect(
        host=settings["HOST"], port=settings["PORT"], user=settings["USER"], dbname=settings["NAME"]
    )
    try:
        with other.cursor() as cursor:  # another transaction holds the user's summary
            cursor.execute("SELECT 1 FROM results_summary WHERE user_id = 'u-1' FOR UPDATE")
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = '200ms'")

        assert sweep_waiting_events() == 0
        assert Event.objects.get(idempotency_key__isnull=False, status="paused")
    finally:
        other.rollback()
        other.close()
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = 0")

    assert sweep_waiting_events() == 1
    assert Summary.objects.get(source=source).units_completed == 2
    assert not Event.objects.filter(status="rejected").exists()


def test_the_old_task_names_still_run_for_one_release(source, post_webhook):
    for unit, old_name, args in [
        ("a", "webhooks.tasks.process_paused_events", (source.pk,)),
        ("b", "webhooks.tasks.process_waiting_events", ()),
    ]:
        source_pause(source=source)
        post_webhook(source, completed(unit=unit))
        Source.objects.filter(pk=source.pk).update(paused=False)

        assert celery_app.tasks[old_name](*args) == 1
    assert Summary.objects.get(source=source).units_completed == 2
