"""Replay (rerun: true) and backfill to a destination, through a real worker."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.test import Client

from accounts.services import api_token_create
from deliveries.destinations import destination_create
from deliveries.models import Delivery
from tests.conftest import RECEIVER_SECRET
from tests.factories import completed
from tests.servers import Reply, wait_until

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def staff() -> Client:
    _, raw = api_token_create(name="ops", is_staff=True)
    return Client(HTTP_AUTHORIZATION=f"Bearer {raw}")


def fail_two_users(source, receiver, post_webhook) -> None:
    receiver.default = Reply(400)
    post_webhook(source, completed(user="u-1"))
    post_webhook(source, completed(user="u-2"))
    wait_until(lambda: Delivery.objects.filter(status="failed").count() == 2, what="two failed deliveries")
    receiver.default = Reply(200)


def test_replay_of_one_delivery_reaches_the_server_with_rerun(
    source, destination, receiver, post_webhook, workers, staff
):
    workers()
    fail_two_users(source, receiver, post_webhook)
    failed = Delivery.objects.get(user_id="u-1")

    response = staff.post(f"/api/v1/deliveries/{failed.webhook_id}/retry/")

    assert (response.status_code, response.json()) == (202, {"queued": 1})
    wait_until(lambda: Delivery.objects.filter(status="delivered").exists(), what="the replay")
    replayed = receiver.requests[-1]
    assert replayed.verified
    assert replayed.json["rerun"] is True
    assert replayed.json["data"]["user"]["id"] == "u-1"
    assert replayed.headers["webhook-id"] != failed.webhook_id, "a replay is a new message"
    failed.refresh_from_db()
    assert failed.status == "superseded"


def test_replay_of_all_failed_by_api_and_by_command(source, destination, receiver, post_webhook, workers, staff):
    workers()
    fail_two_users(source, receiver, post_webhook)

    response = staff.post("/api/v1/deliveries/retry/", {"status": "failed"}, content_type="application/json")

    assert response.json() == {"queued": 2}
    wait_until(lambda: Delivery.objects.filter(status="delivered").count() == 2, what="both replays")
    reruns = [b for b in receiver.bodies() if b["rerun"]]
    assert sorted(b["data"]["user"]["id"] for b in reruns) == ["u-1", "u-2"]

    receiver.default = Reply(400)
    post_webhook(source, completed(user="u-3"))
    wait_until(lambda: Delivery.objects.filter(status="failed").exists(), what="another failure")
    receiver.default = Reply(200)
    out = StringIO()
    call_command("replay_deliveries", "--status", "failed", "--destination", destination.name, stdout=out)
    assert "queued: 1" in out.getvalue()
    wait_until(lambda: receiver.bodies()[-1]["rerun"] and receiver.bodies()[-1]["data"]["user"]["id"] == "u-3")


def test_create_missing_deliveries_covers_a_destination_added_after_the_events(source, receiver, post_webhook, workers):
    workers()
    for user in ("u-1", "u-2", "u-3"):
        post_webhook(source, completed(user=user))
    assert not Delivery.objects.exists()
    late = destination_create(name="late", url=receiver.url, source_slugs=[source.slug], secret=RECEIVER_SECRET)

    out = StringIO()
    call_command("create_missing_deliveries", "--destination", late.name, stdout=out)

    assert "queued: 3" in out.getvalue()
    wait_until(lambda: Delivery.objects.filter(status="delivered").count() == 3, what="three backfilled pushes")
    assert sorted(b["data"]["user"]["id"] for b in receiver.bodies()) == ["u-1", "u-2", "u-3"]
    assert all(r.verified for r in receiver.requests)
    again = StringIO()
    call_command("create_missing_deliveries", "--destination", late.name, stdout=again)
    assert "missing: 0" in again.getvalue()
