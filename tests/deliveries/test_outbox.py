"""The outbox in the intake transaction: one row per destination and user, coalescing versions, replays queued."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from deliveries.claiming import deliveries_claim
from deliveries.destinations import destination_create
from deliveries.models import Delivery, Destination
from deliveries.replay import deliveries_replay
from tests.factories import completed, make_source, user_deleted

pytestmark = pytest.mark.django_db


def test_a_summary_change_queues_one_delivery_per_active_destination(source, destination, post_webhook, receiver):
    other = destination_create(name="other", url=receiver.url, source_slugs=[source.slug])
    destination_create(name="inactive", url=receiver.url, source_slugs=[source.slug])
    Destination.objects.filter(name="inactive").update(active=False)
    destination_create(name="elsewhere", url=receiver.url, source_slugs=[make_source().slug])

    post_webhook(source, completed())

    assert sorted(Delivery.objects.values_list("destination__name", flat=True)) == sorted(
        [destination.name, other.name]
    )
    delivery = Delivery.objects.filter(destination=destination).get()
    assert (delivery.status, delivery.version, delivery.attempt_count, delivery.rerun) == ("pending", 1, 0, False)
    assert delivery.snapshot["summary"]["score_total"] == "8.00"


def test_pending_delivery_takes_newer_versions_instead_of_adding_rows(source, destination, post_webhook):
    for n in range(5):
        post_webhook(source, completed(unit=f"t-{n}"))

    delivery = Delivery.objects.get()
    assert delivery.version == 5
    assert delivery.snapshot["summary"]["units_completed"] == 5
    assert len(delivery.snapshot["results"]) == 5


def test_a_new_version_while_one_is_in_flight_waits_in_a_second_row(source, destination, post_webhook):
    post_webhook(source, completed(unit="a"))
    [claimed] = deliveries_claim(retries=False, limit=10)
    post_webhook(source, completed(unit="b"))
    post_webhook(source, completed(unit="c"))

    rows = dict(Delivery.objects.values_list("status", "version"))
    assert rows == {"in_flight": claimed.version, "pending": 3}
    assert deliveries_claim(retries=False, limit=10) == [], "never two in flight for one user"


def test_an_event_that_changes_nothing_queues_nothing(source, destination, post_webhook):
    post_webhook(source, completed(score=5))
    Delivery.objects.update(status="delivered")
    post_webhook(source, completed(score=5))

    assert Delivery.objects.count() == 1


def test_user_deleted_queues_a_user_deleted_push(source, destination, post_webhook):
    post_webhook(source, completed())
    post_webhook(source, user_deleted())

    delivery = Delivery.objects.get()
    assert delivery.kind == "user.deleted"
    assert delivery.snapshot == {"user": {"id": "u-42"}, "version": 2}


def test_the_python_path_statements_with_destinations(source, destination, post_webhook, settings):
    settings.INTAKE_COUNTER_FLUSH_SECONDS = 3600  # the day's counter is written off the request path
    post_webhook(source, completed(unit="warm-up"))
    settings.INTAKE_ONE_STATEMENT = False
    with CaptureQueriesContext(connection) as captured:
        assert post_webhook(source, completed(unit="t-1")).status_code == 202

    statements = [q["sql"] for q in captured.captured_queries if not q["sql"].startswith(("SAVEPOINT", "RELEASE"))]
    # The cached source's check, the event, the summary's lock, the result read
    # and write, the summary update; then the outbox rows in one statement.
    assert len(statements) == 7, statements
    assert "tally_summaries_enqueue" in statements[-1]
    assert Delivery.objects.filter(destination=destination, version=2).count() == 1


def test_a_new_version_replacing_a_pending_replay_is_not_marked_rerun(source, destination, post_webhook):
    post_webhook(source, completed(unit="a"))
    Delivery.objects.update(status="failed")
    deliveries_replay(deliveries=Delivery.objects.all())
    assert Delivery.objects.get(status="pending").rerun is True

    post_webhook(source, completed(unit="b"))

    pending = Delivery.objects.get(status="pending")
    assert (pending.version, pending.rerun) == (2, False)


def test_replay_leaves_failures_of_inactive_destinations_in_the_failed_list(source, destination, post_webhook):
    post_webhook(source, completed())
    Delivery.objects.update(status="failed")
    Destination.objects.update(active=False)

    assert deliveries_replay(deliveries=Delivery.objects.all()) == 0
    assert Delivery.objects.get().status == "failed"
