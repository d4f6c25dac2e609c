"""signature_headers: the three Standard Webhooks headers, signed with every secret, that verify() accepts."""

from __future__ import annotations

import time

import pytest

from common.standard_webhooks import SignatureError, generate_secret, sign, signature_headers, verify

BODY = b'{"type": "test.completed"}'


def check(secrets: list[str], headers: dict[str, str], body: bytes = BODY) -> None:
    verify(
        secrets,
        msg_id=headers["webhook-id"],
        timestamp=headers["webhook-timestamp"],
        signature_header=headers["webhook-signature"],
        body=body,
        now=time.time(),
        tolerance=5,
    )


def test_the_headers_are_the_id_the_current_time_and_the_signature():
    secret = generate_secret()
    before = int(time.time())

    headers = signature_headers(signing_secrets=[secret], msg_id="msg_1", body=BODY)

    assert list(headers) == ["webhook-id", "webhook-timestamp", "webhook-signature"]
    assert headers["webhook-id"] == "msg_1"
    at = int(headers["webhook-timestamp"])
    assert before <= at <= int(time.time())
    assert headers["webhook-signature"] == sign(secret, msg_id="msg_1", timestamp=at, body=BODY)
    check([secret], headers)


def test_each_secret_signs_so_a_receiver_holding_any_of_them_verifies():
    old, new = generate_secret(), generate_secret()

    headers = signature_headers(signing_secrets=[new, old], msg_id="dlv_1_1", body=BODY)

    assert len(headers["webhook-signature"].split(" ")) == 2
    check([old], headers)
    check([new], headers)


def test_a_changed_body_or_another_secret_does_not_verify():
    secret = generate_secret()
    headers = signature_headers(signing_secrets=[secret], msg_id="msg_1", body=BODY)

    with pytest.raises(SignatureError, match="No signature"):
        check([generate_secret()], headers)
    with pytest.raises(SignatureError, match="No signature"):
        check([secret], headers, body=BODY + b" ")
