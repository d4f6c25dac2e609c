"""The outbox in the intake transaction: coalescing, claiming, recording — without a worker."""

from __future__ import annotations

import random
import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from deliveries.destinations import DestinationConfigError, destination_create
from deliveries.models import Attempt, Delivery, Destination
from deliveries.policy import AttemptOutcome, Verdict, parse_retry_after, retry_delay
from deliveries.services import (
    deliveries_claim,
    deliveries_process_due,
    deliveries_replay,
    deliveries_sweep,
    delivery_record,
    destination_enable,
)
from deliveries.ssrf import UnsafeDestination, url_check
from tests.conftest import RECEIVER_SECRET
from tests.factories import completed, make_source, user_deleted
from tests.servers import Reply, free_port

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
    assert (delivery.status, delivery.version, delivery.attempts, delivery.rerun) == ("pending", 1, 0, False)
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


def test_intake_with_destinations_adds_two_statements(source, destination, post_webhook, settings):
    settings.INTAKE_COUNTER_FLUSH_SECONDS = 3600  # the day's counter is written off the request path
    post_webhook(source, completed(unit="warm-up"))
    with CaptureQueriesContext(connection) as captured:
        assert post_webhook(source, completed(unit="t-1")).status_code == 202

    statements = [q["sql"] for q in captured.captured_queries if not q["sql"].startswith(("SAVEPOINT", "RELEASE"))]
    assert len(statements) == 9, statements


def test_claims_are_exclusive_and_limited(source, destination, post_webhook):
    for n in range(5):
        post_webhook(source, completed(user=f"u-{n}"))

    first = deliveries_claim(retries=False, limit=3)
    second = deliveries_claim(retries=False, limit=3)
    retries = deliveries_claim(retries=True, limit=3)

    assert (len(first), len(second), retries) == (3, 2, [])
    assert not {d.pk for d in first} & {d.pk for d in second}
    assert all(d.status == "in_flight" and d.attempts == 1 for d in Delivery.objects.all())


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


def test_process_due_pushes_and_records_in_process(source, destination, post_webhook, receiver):
    receiver.answer(Reply(503, headers={"Retry-After": "120"}))
    post_webhook(source, completed())

    assert deliveries_process_due(retries=False, max_seconds=5) == 1
    delivery = Delivery.objects.get()
    assert delivery.status == "pending"
    assert delivery.next_attempt_at >= timezone.now() + timedelta(seconds=110), "Retry-After honoured"
    assert Attempt.objects.get().status_code == 503


def test_disable_after_hours_of_failure(source, destination, post_webhook, receiver, settings):
    settings.DESTINATION_DISABLE_AFTER_HOURS = 1
    receiver.default = Reply(500)
    Destination.objects.update(failing_since=timezone.now() - timedelta(hours=2))
    post_webhook(source, completed())

    deliveries_process_due(retries=False, max_seconds=5)

    destination.refresh_from_db()
    assert destination.disabled_at is not None
    assert "1 hours" in destination.disabled_reason


@pytest.mark.parametrize(
    ("status", "verdict"),
    [
        (200, Verdict.DELIVERED),
        (204, Verdict.DELIVERED),
        (None, Verdict.RETRY),
        (408, Verdict.RETRY),
        (425, Verdict.RETRY),
        (429, Verdict.RETRY),
        (500, Verdict.RETRY),
        (503, Verdict.RETRY),
        (301, Verdict.FAILED),
        (400, Verdict.FAILED),
        (401, Verdict.FAILED),
        (404, Verdict.FAILED),
        (410, Verdict.GONE),
    ],
)
def test_outcome_verdicts(status, verdict):
    assert AttemptOutcome(status_code=status, duration_ms=1).verdict == verdict


def test_default_retry_schedule_with_jitter(settings):
    rng = random.Random(1)
    delays = [retry_delay(n, rng=rng) for n in range(1, 11)]
    bases = [5, 15, 30, 60, 300, 1800, 7200, 21600, 43200, 43200]

    assert all(0.8 * b <= d <= 1.2 * b for d, b in zip(delays, bases, strict=True))
    assert sum(delays[:3]) < 60, "several tries within the first minute"
    assert retry_delay(1, retry_after=90) >= 90
    assert retry_delay(1, retry_after=10**9) <= 24 * 3600


def test_retry_after_as_seconds_or_http_date():
    now = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)

    assert parse_retry_after("30") == 30
    assert parse_retry_after("Sun, 22 Nov 2026 10:01:00 GMT", now=now) == 60
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/hook",
        "http://10.1.2.3/hook",
        "http://192.168.0.10/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/hook",
        "http://[::ffff:10.0.0.1]/hook",
        "http://localhost/hook",
        "ftp://example.com/hook",
    ],
)
def test_private_and_loopback_urls_are_refused_unless_allowed(settings, url):
    settings.DELIVERY_ALLOW_PRIVATE_NETWORKS = False

    with pytest.raises(UnsafeDestination):
        url_check(url)


def test_public_addresses_pass_the_guard(settings):
    settings.DELIVERY_ALLOW_PRIVATE_NETWORKS = False

    url_check("https://93.184.215.14/hook")


def test_a_push_to_a_private_address_is_refused_at_send_time_too(source, destination, post_webhook, settings):
    post_webhook(source, completed())
    settings.DELIVERY_ALLOW_PRIVATE_NETWORKS = False

    deliveries_process_due(retries=False, max_seconds=5)

    assert "refused" in Attempt.objects.get().error


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


def test_headers_that_cannot_be_sent_are_refused_up_front(source, receiver):
    with pytest.raises(DestinationConfigError, match="Latin-1"):
        destination_create(name="x", url=receiver.url, source_slugs=[source.slug], headers={"X-Name": "☃"})


def test_errors_stored_for_operators_carry_no_query_strings(source, post_webhook):
    url = f"http://127.0.0.1:{free_port()}/hook?token=secret-value"
    destination_create(name="down", url=url, source_slugs=[source.slug])
    post_webhook(source, completed())

    deliveries_process_due(retries=False, max_seconds=5)

    error = Delivery.objects.get().last_error
    assert "connection error" in error
    assert "secret-value" not in error


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


@pytest.mark.parametrize(
    "url",
    ["http://100.100.100.200/latest/meta-data", "http://[2002:a00:1::]/hook", "http://[64:ff9b::a00:1]/hook"],
)
def test_cgnat_metadata_and_ipv6_wrapped_private_addresses_are_refused(settings, url):
    settings.DELIVERY_ALLOW_PRIVATE_NETWORKS = False

    with pytest.raises(UnsafeDestination):
        url_check(url)


def _claim_concurrently(threads: int, limit: int) -> list[int]:
    claimed: list[int] = []
    barrier = threading.Barrier(threads)

    def claim() -> None:
        barrier.wait()
        try:
            claimed.extend(d.pk for d in deliveries_claim(retries=False, limit=limit))
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


def test_a_dns_answer_that_turns_private_between_check_and_connect_is_refused(receiver, settings, monkeypatch):
    """DNS rebinding: the name resolves to a public address for the check, then to loopback."""
    import socket as sockets

    from deliveries.client import push

    settings.DELIVERY_ALLOW_PRIVATE_NETWORKS = False
    real = sockets.getaddrinfo
    answers = iter(["93.184.215.14"])

    def resolver(host, port, *args, **kwargs):
        if host == "rebind.example":
            address = next(answers, "127.0.0.1")
            return [(sockets.AF_INET, sockets.SOCK_STREAM, 6, "", (address, port))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(sockets, "getaddrinfo", resolver)
    port = receiver.url.split(":")[2].split("/")[0]

    outcome = push(
        url=f"http://rebind.example:{port}/hook",
        secrets=[RECEIVER_SECRET],
        msg_id="dlv_1_1",
        body=b"{}",
        headers={},
        timeout=2,
    )

    assert outcome.status_code is None
    assert "private, loopback or link-local" in outcome.error
    assert receiver.requests == [], "nothing reached the address the name turned into"


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
