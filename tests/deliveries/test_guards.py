"""What Tally refuses to push to or send: private addresses, at creation and at send time, and unsendable headers."""

from __future__ import annotations

import pytest

from deliveries.destinations import DestinationConfigError, destination_create
from deliveries.models import Attempt
from deliveries.ssrf import UnsafeDestination, url_check
from deliveries.worker import deliveries_process_due
from tests.conftest import RECEIVER_SECRET
from tests.factories import completed

pytestmark = pytest.mark.django_db


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


@pytest.mark.parametrize(
    "url",
    ["http://100.100.100.200/latest/meta-data", "http://[2002:a00:1::]/hook", "http://[64:ff9b::a00:1]/hook"],
)
def test_cgnat_metadata_and_ipv6_wrapped_private_addresses_are_refused(settings, url):
    settings.DELIVERY_ALLOW_PRIVATE_NETWORKS = False

    with pytest.raises(UnsafeDestination):
        url_check(url)


def test_a_push_to_a_private_address_is_refused_at_send_time_too(source, destination, post_webhook, settings):
    post_webhook(source, completed())
    settings.DELIVERY_ALLOW_PRIVATE_NETWORKS = False

    deliveries_process_due(retries=False, max_seconds=5)

    assert "refused" in Attempt.objects.get().error


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


def test_headers_that_cannot_be_sent_are_refused_up_front(source, receiver):
    with pytest.raises(DestinationConfigError, match="Latin-1"):
        destination_create(name="x", url=receiver.url, source_slugs=[source.slug], headers={"X-Name": "☃"})


def test_a_proxy_named_in_the_environment_is_not_used_for_pushes(
    source, destination, receiver, post_webhook, monkeypatch
):
    # A proxy would reach the receiver itself, around the address the guard checked.
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")  # nothing listens there
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    post_webhook(source, completed())

    deliveries_process_due(retries=False, max_seconds=5)

    assert len(receiver.requests) == 1
    assert Attempt.objects.get().status_code == 200
