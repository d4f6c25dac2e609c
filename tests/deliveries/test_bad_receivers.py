"""A receiver that misbehaves at the socket level costs only its own deliveries.

Each case puts a broken receiver beside a healthy destination of the same
source: the healthy one must get every push promptly, the broken one's
attempts are recorded with what went wrong, and no row is left in flight.
The receiver closes each connection after answering, and says so
(`Connection: close`), so no push meets a pooled connection it closed.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable

import pytest
from django.db import connection

from deliveries.destinations import destination_create
from deliveries.models import Attempt, Delivery, Destination
from deliveries.worker import deliveries_process_due
from tests.conftest import RECEIVER_SECRET
from tests.factories import completed
from tests.servers import RawReceiver, Receiver, wait_until

pytestmark = pytest.mark.django_db(transaction=True)

USERS = 6


def cut_short(sock: socket.socket) -> None:
    sock.sendall(b"HTTP/1.1 500 Internal Server Error\r\nConnection: close\r\nContent-Length: 100\r\n\r\nshort")


def not_the_encoding_it_claims(sock: socket.socket) -> None:
    sock.sendall(
        b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Encoding: gzip\r\nContent-Length: 12\r\n\r\nnot gzip at!"
    )


def garbled_retry_after(sock: socket.socket) -> None:
    # A superscript two is a digit to str.isdigit() but not to float().
    head = "HTTP/1.1 503 Busy\r\nConnection: close\r\nRetry-After: ²\r\nContent-Length: 0\r\n\r\n"
    sock.sendall(head.encode("latin-1"))


def impossible_retry_after_date(sock: socket.socket) -> None:
    sock.sendall(
        b"HTTP/1.1 503 Busy\r\nConnection: close\r\n"
        b"Retry-After: Mon, 99 Foo 99999 99:99:99 GMT\r\nContent-Length: 0\r\n\r\n"
    )


def not_http(sock: socket.socket) -> None:
    sock.sendall(b"SPEAK FRIEND AND ENTER\r\n\r\n")


def drips_its_answer(sock: socket.socket) -> None:
    # A byte every 0.3 s: no single read ever waits the 2 s timeout.
    for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"z" * 200:
        sock.sendall(bytes([byte]))
        time.sleep(0.3)


CASES: dict[str, tuple[Callable[[socket.socket], None], dict[str, object]]] = {
    "cut_short": (cut_short, {"status_code": 500, "excerpt": "could not read the response", "status": "pending"}),
    "bad_encoding": (
        not_the_encoding_it_claims,
        {"status_code": 200, "excerpt": "could not read the response", "status": "delivered"},
    ),
    "garbled_retry_after": (garbled_retry_after, {"status_code": 503, "status": "pending"}),
    "impossible_retry_after_date": (impossible_retry_after_date, {"status_code": 503, "status": "pending"}),
    "not_http": (not_http, {"status_code": None, "error": "connection error", "status": "pending"}),
    "drip": (drips_its_answer, {"status_code": None, "error": "no answer within 2 s", "status": "pending"}),
}


def run_one_pass(failures: list[BaseException]) -> threading.Thread:
    def work() -> None:
        try:
            deliveries_process_due(retries=False, max_seconds=3)
        except BaseException as exc:
            failures.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=work)
    thread.start()
    return thread


def post_for_many_users(post_webhook, source) -> None:
    for n in range(USERS):
        assert post_webhook(source, completed(user=f"u-{n}")).status_code == 202


@pytest.mark.parametrize("case", list(CASES))
def test_a_broken_receiver_fails_its_own_pushes_and_the_healthy_one_gets_all(
    case, source, destination, receiver, post_webhook, settings
):
    settings.DELIVERY_CONCURRENCY = 4  # the broken destination may hold 2 slots at a time
    respond, expected = CASES[case]
    broken = RawReceiver(respond)
    failures: list[BaseException] = []
    try:
        destination_create(name="broken", url=broken.url, source_slugs=[source.slug], timeout_seconds=2)
        post_for_many_users(post_webhook, source)

        started = time.monotonic()
        worker = run_one_pass(failures)
        wait_until(lambda: len(receiver.requests) == USERS, timeout=10, what="every push to the healthy destination")
        worker.join(timeout=30)
    finally:
        broken.close()

    assert not worker.is_alive()
    assert failures == [], "a broken receiver aborted the batch"
    assert time.monotonic() - started < 15
    assert not Delivery.objects.filter(status="in_flight").exists(), "a row was left in flight"
    assert Delivery.objects.filter(destination=destination, status="delivered").count() == USERS
    attempts = Attempt.objects.filter(delivery__destination__name="broken")
    assert attempts.exists()
    for attempt in attempts:
        assert attempt.status_code == expected["status_code"]
        assert str(expected.get("excerpt", "")) in attempt.response_excerpt
        assert str(expected.get("error", "")) in attempt.error
        assert attempt.duration_ms < 4000, "a push outlived its destination's timeout"
        assert attempt.delivery.status == expected["status"]


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Api-Key": "line\r\nbreak"},  # a header value that would split the request
        {"X-Api-Key": "snowman \u2603"},  # not encodable as an HTTP header
        ["not", "a", "map"],  # written around the form's checks
    ],
)
def test_a_bad_stored_header_fails_that_destination_alone(
    headers, source, destination, receiver, post_webhook, settings
):
    settings.DELIVERY_CONCURRENCY = 4
    other = Receiver()
    other.secret = RECEIVER_SECRET
    failures: list[BaseException] = []
    try:
        bad = destination_create(name="bad-headers", url=other.url, source_slugs=[source.slug])
        Destination.objects.filter(pk=bad.pk).update(headers=headers)
        post_for_many_users(post_webhook, source)

        worker = run_one_pass(failures)
        wait_until(lambda: len(receiver.requests) == USERS, timeout=10, what="every push to the healthy destination")
        worker.join(timeout=30)
    finally:
        other.close()

    assert failures == []
    assert other.requests == [], "nothing with a broken header reached the wire"
    assert not Delivery.objects.filter(status="in_flight").exists()
    errors = set(Attempt.objects.filter(delivery__destination=bad).values_list("error", flat=True))
    assert errors
    assert all(e.startswith(("request error", "could not prepare the push")) for e in errors)


@pytest.mark.parametrize("guarded", [False, True], ids=["private-networks-allowed", "network-guard-on"])
def test_a_host_that_does_not_resolve_is_stored_as_a_short_error_and_retried(source, post_webhook, settings, guarded):
    # `.invalid` never resolves (RFC 2606), so nothing leaves loopback.
    destination_create(name="unresolvable", url="https://hr.acme.invalid/tally", source_slugs=[source.slug])
    settings.DELIVERY_ALLOW_PRIVATE_NETWORKS = not guarded  # the guard looks the name up before the push
    assert post_webhook(source, completed(user="u-1")).status_code == 202

    deliveries_process_due(retries=False, max_seconds=5)

    attempt = Attempt.objects.get()
    assert attempt.error == "could not resolve host hr.acme.invalid"
    assert attempt.delivery.last_error == "could not resolve host hr.acme.invalid"
    assert attempt.delivery.status == "pending", "a name that does not resolve now may resolve later"


def test_a_refused_connection_is_stored_naming_the_address(source, post_webhook):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    destination_create(name="closed", url=f"http://127.0.0.1:{port}/tally", source_slugs=[source.slug])
    assert post_webhook(source, completed(user="u-1")).status_code == 202

    deliveries_process_due(retries=False, max_seconds=5)

    assert Attempt.objects.get().error == f"connection error: 127.0.0.1:{port} refused the connection"
