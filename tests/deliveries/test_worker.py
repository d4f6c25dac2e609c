"""Delivery end to end: real worker processes, a real broker, a real receiving server."""

from __future__ import annotations

import threading
import time

import pytest

from deliveries.destinations import destination_create
from deliveries.health import destination_enable
from deliveries.models import Attempt, Delivery, Destination
from tests.factories import completed
from tests.servers import Reply, free_port, wait_until

pytestmark = pytest.mark.django_db(transaction=True)


def delivered(count: int = 1) -> bool:
    return Delivery.objects.filter(status="delivered").count() >= count


def test_event_in_signed_push_out_with_the_spec_body(source, destination, receiver, post_webhook, workers):
    workers()
    assert post_webhook(source, completed(score=8, passed=True)).status_code == 202

    wait_until(delivered, what="the push")
    [request] = receiver.requests
    assert request.verified, "the reference standardwebhooks library verifies the push"
    body = request.json
    delivery = Delivery.objects.get()
    assert body["type"] == "user.summary.updated"
    assert body["id"] == request.headers["webhook-id"] == delivery.webhook_id
    assert body["rerun"] is False
    assert body["timestamp"].endswith("Z")
    assert body["data"] == {
        "source": source.slug,
        "user": {"id": "u-42", "email": "u-42@example.com", "name": "U-42"},
        "version": 1,
        "summary": {
            "units_completed": 1,
            "units_passed": 1,
            "score_total": "8.00",
            "max_score_total": "10.00",
            "percent": "80.00",
            "first_activity_at": "2026-11-22T09:00:00Z",
            "last_activity_at": "2026-11-22T09:00:00Z",
        },
        "results": [
            {
                "unit_id": "t-7",
                "title": "Test t-7",
                "score": "8.00",
                "max_score": "10.00",
                "passed": True,
                "completed_at": "2026-11-22T09:00:00Z",
            }
        ],
        "results_count": 1,
        "results_complete": True,
    }
    attempt = Attempt.objects.get()
    assert (attempt.status_code, attempt.level, attempt.response_excerpt) == (200, "info", "ok")


def test_500_500_200_is_delivered_on_the_third_attempt_with_one_webhook_id(
    source, destination, receiver, post_webhook, workers
):
    receiver.answer(Reply(500, body=b"oops"), Reply(500, body=b"oops again"))
    workers()
    post_webhook(source, completed())

    wait_until(delivered, timeout=30, what="the third attempt")
    assert len(receiver.requests) == 3
    assert len({r.headers["webhook-id"] for r in receiver.requests}) == 1
    assert all(r.verified for r in receiver.requests)
    attempts = list(Attempt.objects.order_by("number").values_list("number", "status_code", "level"))
    assert attempts == [(1, 500, "warning"), (2, 500, "warning"), (3, 200, "info")]
    assert Attempt.objects.filter(number=1).get().response_excerpt == "oops"


def test_timeout_refused_connection_and_503_with_retry_after_are_retried(
    source, destination, receiver, post_webhook, workers
):
    receiver.answer(
        Reply(200, delay=3),  # longer than the destination's 2 s timeout
        Reply(503, headers={"Retry-After": "2"}),
    )
    workers()
    post_webhook(source, completed())

    wait_until(delivered, timeout=40, what="delivery after a timeout and a 503")
    errors = list(Attempt.objects.order_by("number").values_list("status_code", "error"))
    assert errors[0][0] is None
    assert "timeout" in errors[0][1]
    assert errors[1][0] == 503
    assert errors[2][0] == 200
    times = list(Attempt.objects.order_by("number").values_list("started_at", flat=True))
    assert (times[2] - times[1]).total_seconds() >= 1.9, "Retry-After: 2 was honoured over the 1 s schedule"


def test_connection_refused_is_retried_until_the_server_is_up(source, post_webhook, workers, receiver):
    port = free_port()
    destination = destination_create(
        name="down", url=f"http://127.0.0.1:{port}/hooks", source_slugs=[source.slug], timeout_seconds=2
    )
    workers()
    post_webhook(source, completed())

    wait_until(lambda: Attempt.objects.count() >= 2, timeout=20, what="two refused attempts")
    assert all("connection error" in e for e in Attempt.objects.values_list("error", flat=True))
    Destination.objects.filter(pk=destination.pk).update(url=receiver.url)
    wait_until(delivered, timeout=20, what="delivery once the server listens")


def test_400_fails_at_once(source, destination, receiver, post_webhook, workers):
    receiver.default = Reply(400, body=b"bad payload")
    workers()
    post_webhook(source, completed())

    wait_until(lambda: Delivery.objects.filter(status="failed").exists(), what="failed")
    time.sleep(2)
    assert len(receiver.requests) == 1
    delivery = Delivery.objects.get()
    assert (delivery.last_status_code, delivery.attempt_count) == (400, 1)
    assert Attempt.objects.get().level == "error"


def test_410_disables_the_destination_and_later_deliveries_wait(source, destination, receiver, post_webhook, workers):
    receiver.default = Reply(410)
    workers()
    post_webhook(source, completed(unit="a"))

    wait_until(lambda: Destination.objects.get().disabled_at is not None, what="the destination disabled")
    post_webhook(source, completed(unit="b"))
    time.sleep(2)
    assert len(receiver.requests) == 1
    assert Delivery.objects.filter(status="pending").count() == 1
    assert "410" in Destination.objects.get().disabled_reason

    receiver.default = Reply(200)
    destination_enable(destination=Destination.objects.get())
    wait_until(delivered, what="the waiting delivery after enabling")
    assert receiver.bodies()[-1]["data"]["version"] == 2


def test_exhausted_attempts_end_dead(source, receiver, post_webhook, workers):
    destination_create(name="flaky", url=receiver.url, source_slugs=[source.slug], max_attempts=3, timeout_seconds=2)
    receiver.default = Reply(502)
    workers()
    post_webhook(source, completed())

    wait_until(lambda: Delivery.objects.filter(status="dead").exists(), timeout=30, what="dead")
    assert len(receiver.requests) == 3
    assert list(Attempt.objects.order_by("number").values_list("level", flat=True)) == ["warning", "warning", "error"]


def test_worker_killed_mid_push_is_delivered_after_the_lease_expires(
    source, destination, receiver, post_webhook, workers
):
    held = threading.Event()
    receiver.answer(Reply(200, hold=held))
    first = workers()
    post_webhook(source, completed())

    wait_until(lambda: len(receiver.requests) == 1, what="the first push to arrive")
    first.kill()
    held.set()
    workers()

    wait_until(delivered, timeout=30, what="delivery after the lease expired")
    assert Delivery.objects.get().status == "delivered"
    assert Attempt.objects.filter(status_code=200).count() == 1, "exactly one success recorded"
    assert Attempt.objects.filter(error__contains="lease expired").count() == 1
    assert len({r.headers["webhook-id"] for r in receiver.requests}) == 1, "the receiver can deduplicate"


def test_broker_down_at_commit_is_recovered_by_the_sweeper(
    source, destination, receiver, post_webhook, workers, broker
):
    workers()
    broker.stop()
    try:
        response = post_webhook(source, completed())
        assert response.status_code == 202, "intake does not depend on the broker"
        assert Delivery.objects.get().status == "pending"
        time.sleep(1)
        assert receiver.requests == []
    finally:
        broker.start()

    wait_until(delivered, timeout=60, what="delivery once the broker is back")
    assert len(receiver.requests) == 1


def test_a_burst_for_one_user_coalesces_and_versions_only_rise(source, destination, receiver, post_webhook, workers):
    receiver.default = Reply(200, delay=0.2)
    workers()
    for n in range(200):
        assert post_webhook(source, completed(unit=f"t-{n % 20}", minutes=n, score=n % 11)).status_code == 202
    final = source.summaries.get().version

    wait_until(
        lambda: receiver.requests and receiver.bodies()[-1]["data"]["version"] == final,
        timeout=60,
        what="the final version to arrive",
    )
    wait_until(lambda: not Delivery.objects.filter(status__in=["pending", "in_flight"]).exists(), what="idle")
    versions = [body["data"]["version"] for body in receiver.bodies()]
    assert len(versions) < 60, f"{len(versions)} pushes for 200 events"
    assert versions == sorted(set(versions)), "strictly increasing"
    assert versions[-1] == final
