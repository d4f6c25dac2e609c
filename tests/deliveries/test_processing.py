"""Claiming, pushing and recording in process, without a worker: leases, shares of the slots, what each outcome does."""

from __future__ import annotations

import itertools
import threading
from collections import Counter
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from deliveries.claiming import deliveries_claim
from deliveries.destinations import destination_create
from deliveries.models import Attempt, Delivery, Destination
from deliveries.policy import AttemptOutcome, Verdict
from deliveries.recording import TRANSITIONS, deliveries_record_delivered, delivery_record
from deliveries.worker import deliveries_process_due, deliveries_sweep
from notifications.models import Alert
from tests.conftest import RECEIVER_SECRET
from tests.factories import completed
from tests.servers import Reply, free_port

pytestmark = pytest.mark.django_db


def test_claims_are_exclusive_and_limited(source, destination, post_webhook):
    for n in range(5):
        post_webhook(source, completed(user=f"u-{n}"))

    first = deliveries_claim(retries=False, limit=3)
    second = deliveries_claim(retries=False, limit=3)
    retries = deliveries_claim(retries=True, limit=3)

    assert (len(first), len(second), retries) == (3, 2, [])
    assert not {d.pk for d in first} & {d.pk for d in second}
    assert all(d.status == "in_flight" and d.attempt_count == 1 for d in Delivery.objects.all())


def test_a_late_result_from_a_worker_that_lost_its_lease_is_not_recorded_over_the_new_owner(
    source, destination, post_webhook
):
    post_webhook(source, completed())
    [stale] = deliveries_claim(retries=False, limit=1)
    Delivery.objects.update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    deliveries_sweep()
    Delivery.objects.update(next_attempt_at=timezone.now())
    [owner] = deliveries_claim(retries=True, limit=1)

    recorded = delivery_record(stale, AttemptOutcome(status_code=200, duration_ms=5), started_at=timezone.now())

    assert recorded == "lost"
    assert Delivery.objects.get().status == "in_flight"
    assert Delivery.objects.get().claim == owner.claim


def test_delivered_pushes_are_recorded_together_and_a_lost_one_is_left_to_its_owner(source, destination, post_webhook):
    for n in range(3):
        post_webhook(source, completed(user=f"u-{n}"))
    claimed = deliveries_claim(retries=False, limit=3)
    lost = claimed[0]
    Delivery.objects.filter(pk=lost.pk).update(claim="another-worker")
    now = timezone.now()
    pushes = [(d, now, AttemptOutcome(status_code=200 + i, duration_ms=5)) for i, d in enumerate(claimed)]

    with transaction.atomic():
        statuses = deliveries_record_delivered(pushes)

    assert statuses == {claimed[0].pk: "lost", claimed[1].pk: "delivered", claimed[2].pk: "delivered"}
    assert Delivery.objects.get(pk=lost.pk).status == "in_flight"
    for i, delivery in enumerate(claimed[1:], start=1):
        row = Delivery.objects.get(pk=delivery.pk)
        assert (row.status, row.last_status_code, row.lease_expires_at) == ("delivered", 200 + i, None)
    assert Attempt.objects.count() == 3, "every push is logged, a lost one too (as one by one)"
    assert Destination.objects.get(pk=destination.pk).last_success_at is not None


def test_process_due_pushes_and_records_in_process(source, destination, post_webhook, receiver):
    receiver.answer(Reply(503, headers={"Retry-After": "120"}))
    post_webhook(source, completed())

    assert deliveries_process_due(retries=False, max_seconds=5) == 1
    delivery = Delivery.objects.get()
    assert delivery.status == "pending"
    assert delivery.next_attempt_at >= timezone.now() + timedelta(seconds=110), "Retry-After honoured"
    assert Attempt.objects.get().status_code == 503


def test_a_push_that_raises_fails_alone_and_the_rest_of_the_batch_goes_out(source, post_webhook, receiver):
    good = destination_create(name="good", url=receiver.url, source_slugs=[source.slug])
    bad = destination_create(name="bad", url=receiver.url, source_slugs=[source.slug])
    Destination.objects.filter(pk=bad.pk).update(headers={"X-Name": "Zoë ☃"})
    post_webhook(source, completed())

    deliveries_process_due(retries=False, max_seconds=5)

    assert Delivery.objects.get(destination=good).status == "delivered"
    failed = Delivery.objects.get(destination=bad)
    assert failed.status == "pending"
    assert "request error" in failed.last_error


def test_errors_stored_for_operators_carry_no_query_strings(source, post_webhook):
    url = f"http://127.0.0.1:{free_port()}/hook?token=secret-value"
    destination_create(name="down", url=url, source_slugs=[source.slug])
    post_webhook(source, completed())

    deliveries_process_due(retries=False, max_seconds=5)

    error = Delivery.objects.get().last_error
    assert "connection error" in error
    assert "secret-value" not in error


def _claim_concurrently(threads: int, limit: int) -> list[int]:
    claimed: list[int] = []
    barrier = threading.Barrier(threads)

    def claim() -> None:
        barrier.wait()
        try:
            # Until nothing is left: a claim skips the rows another one is looking at
            # (it reads a few more than it takes, to honour each destination's share).
            while taken := deliveries_claim(retries=False, limit=limit):
                claimed.extend(d.pk for d in taken)
        finally:
            connection.close()

    workers = [threading.Thread(target=claim) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return claimed


@pytest.mark.django_db(transaction=True)
def test_concurrent_claims_never_take_the_same_row_or_a_second_row_of_a_user_in_flight(
    source, destination, post_webhook
):
    for n in range(10):
        post_webhook(source, completed(user=f"u-{n}"))

    taken = _claim_concurrently(threads=4, limit=5)

    assert len(taken) == len(set(taken)) == 10
    for n in range(10):
        post_webhook(source, completed(user=f"u-{n}", unit="newer"))
    assert Delivery.objects.filter(status="pending").count() == 10
    assert _claim_concurrently(threads=4, limit=5) == [], "each user already has a push in flight"


def test_a_claim_keeps_each_destination_within_its_share_counting_busy_slots(source, post_webhook):
    one = destination_create(name="one", url="http://127.0.0.1:9/", source_slugs=[source.slug])
    two = destination_create(name="two", url="http://127.0.0.1:9/", source_slugs=[source.slug])
    for n in range(6):
        post_webhook(source, completed(user=f"u-{n}"))

    taken = deliveries_claim(retries=False, limit=10, busy={one.pk: 2}, per_destination=3)

    by_destination = Counter(d.destination_id for d in taken)
    assert by_destination == {one.pk: 1, two.pk: 3}
    assert [d.next_attempt_at for d in taken] == sorted(d.next_attempt_at for d in taken)
    assert all(d.destination.name in {"one", "two"} and d.source.slug == source.slug for d in taken)
    assert deliveries_claim(retries=False, limit=10, busy={one.pk: 3, two.pk: 3}, per_destination=3) == []


@pytest.mark.django_db(transaction=True)
def test_a_claim_locks_only_the_rows_it_takes(source, destination, post_webhook):
    for n in range(5):
        post_webhook(source, completed(user=f"u-{n}"))
    holding, release = threading.Event(), threading.Event()
    first: list[int] = []

    def claim_one_and_hold() -> None:
        try:
            with transaction.atomic():
                first.extend(d.pk for d in deliveries_claim(retries=False, limit=1))
                holding.set()
                release.wait(10)
        finally:
            connection.close()

    holder = threading.Thread(target=claim_one_and_hold)
    holder.start()
    try:
        assert holding.wait(10)
        others = deliveries_claim(retries=False, limit=10)
    finally:
        release.set()
        holder.join()

    assert len(first) == 1
    assert len(others) == 4, "rows the first claim only looked at stay free for the next"
    assert not set(first) & {d.pk for d in others}


@pytest.mark.django_db(transaction=True)
def test_a_hanging_receiver_holds_only_its_share_of_the_slots(source, post_webhook, settings):
    import threading

    from django.db import connection

    from tests.servers import Receiver, wait_until

    settings.DELIVERY_CONCURRENCY = 4  # a hanging destination may hold 2
    stuck, healthy = Receiver(), Receiver()
    stuck.secret = healthy.secret = RECEIVER_SECRET
    release = threading.Event()
    stuck.default = Reply(hold=release)
    try:
        destination_create(name="stuck", url=stuck.url, source_slugs=[source.slug], secret=RECEIVER_SECRET)
        destination_create(name="healthy", url=healthy.url, source_slugs=[source.slug], secret=RECEIVER_SECRET)
        for n in range(10):
            post_webhook(source, completed(user=f"u-{n}"))

        def work():
            try:
                deliveries_process_due(retries=False, max_seconds=30)
            finally:
                connection.close()

        worker = threading.Thread(target=work)
        worker.start()
        wait_until(lambda: len(healthy.requests) == 10, timeout=15, what="every push to the healthy destination")

        assert len(stuck.requests) <= 2, "the hanging destination held more than its share"
    finally:
        release.set()
        worker.join(timeout=60)
        stuck.close()
        healthy.close()
    assert Delivery.objects.filter(status="delivered").count() == 20


# --- What each outcome does: the declared table, applied -------------------------------------------------

CODE = {Verdict.DELIVERED: 200, Verdict.RETRY: 503, Verdict.GONE: 410, Verdict.FAILED: 400}
# (verdict, attempts exhausted) -> (new status, attempt level, due later, destination disabled, alert)
EXPECTED = {
    (Verdict.DELIVERED, False): ("delivered", "info", False, False, False),
    (Verdict.DELIVERED, True): ("delivered", "info", False, False, False),
    (Verdict.RETRY, False): ("pending", "warning", True, False, False),
    (Verdict.RETRY, True): ("dead", "error", False, False, True),
    (Verdict.GONE, False): ("pending", "error", False, True, False),
    (Verdict.GONE, True): ("pending", "error", False, True, False),
    (Verdict.FAILED, False): ("failed", "error", False, False, True),
    (Verdict.FAILED, True): ("failed", "error", False, False, True),
}


def test_the_outcome_table_declares_every_verdict_with_and_without_attempts_left():
    assert set(TRANSITIONS) == set(itertools.product(Verdict, (False, True))) == set(EXPECTED)


@pytest.mark.parametrize(("verdict", "exhausted"), list(itertools.product(Verdict, (False, True))))
def test_each_outcome_moves_the_delivery_and_its_destination_as_declared(
    source, destination, post_webhook, settings, verdict, exhausted
):
    settings.DELIVERY_RETRY_SCHEDULE = [60]
    status, level, later, disabled, alerted = EXPECTED[(verdict, exhausted)]
    Destination.objects.update(max_attempts=1 if exhausted else 5)
    post_webhook(source, completed())
    [claimed] = deliveries_claim(retries=False, limit=1)
    outcome = AttemptOutcome(status_code=CODE[verdict], duration_ms=5)
    assert outcome.verdict == verdict

    recorded = delivery_record(claimed, outcome, started_at=timezone.now())

    delivery = Delivery.objects.get()
    fresh = Destination.objects.get()
    alerts = Alert.objects.filter(fingerprint=f"delivery:{fresh.pk}:{status}")
    transition = TRANSITIONS[(verdict, exhausted)]
    assert (recorded, delivery.status, transition.status) == (status, status, status)
    assert (Attempt.objects.get().level, transition.level) == (level, level)
    assert (delivery.next_attempt_at > timezone.now() + timedelta(seconds=30)) == later
    assert (fresh.disabled_at is not None, transition.disables_destination) == (disabled, disabled)
    assert (alerts.exists(), transition.alerts) == (alerted, alerted)
    assert fresh.consecutive_failures == (0 if verdict == Verdict.DELIVERED else 1)


def test_an_expired_lease_is_tried_again_without_counting_against_the_destination(source, destination, post_webhook):
    post_webhook(source, completed())
    deliveries_claim(retries=False, limit=1)
    Delivery.objects.update(lease_expires_at=timezone.now() - timedelta(seconds=1))

    assert deliveries_sweep().expired == 1
    assert Delivery.objects.get().status == "pending"
    assert Attempt.objects.get().error == "worker lost: the lease expired"
    assert Destination.objects.get().consecutive_failures == 0
