"""Authentication of webhooks: Standard Webhooks signatures, tokens, and `none` with an allow-list."""

from __future__ import annotations

import base64
import time
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from standardwebhooks.webhooks import Webhook

from common.standard_webhooks import sign
from tests.factories import TOKEN, WHSEC, completed, dumps, make_source
from webhooks.models import Event, Source

pytestmark = pytest.mark.django_db


@pytest.fixture
def signed_source() -> Source:
    return make_source(auth_mode=Source.AuthMode.STANDARD, secret=WHSEC, token=None)


def signed_headers(secret: str, body: bytes, *, msg_id: str = "msg_1", at: datetime | None = None) -> dict[str, str]:
    """Headers as the reference `standardwebhooks` library makes them."""
    timestamp = at or datetime.now(tz=UTC)
    signature = Webhook(secret).sign(msg_id, timestamp, body.decode())
    return {
        "HTTP_WEBHOOK_ID": msg_id,
        "HTTP_WEBHOOK_TIMESTAMP": str(int(timestamp.timestamp())),
        "HTTP_WEBHOOK_SIGNATURE": signature,
    }


def post_signed(client, source: Source, body: bytes, headers: dict[str, str]):
    return client.post(f"/api/v1/webhooks/{source.slug}/", data=body, content_type="application/json", **headers)


def other_secret() -> str:
    return "whsec_" + base64.b64encode(b"another-secret-of-32-bytes-long!").decode()


def test_request_signed_by_the_reference_library_is_accepted(client, signed_source):
    body = dumps(completed())
    response = post_signed(client, signed_source, body, signed_headers(WHSEC, body))

    assert response.status_code == 202
    assert Event.objects.filter(source=signed_source, status="accepted").count() == 1


def test_reference_library_verifies_what_tally_signs():
    body = dumps(completed())
    now = int(time.time())
    headers = {"webhook-id": "msg_9", "webhook-timestamp": str(now)}
    headers["webhook-signature"] = sign(WHSEC, msg_id="msg_9", timestamp=now, body=body)

    assert Webhook(WHSEC).verify(body, headers)["type"] == "test.completed"


@pytest.mark.parametrize(
    ("case", "code"),
    [
        ("wrong_secret", "bad_signature"),
        ("tampered_body", "bad_signature"),
        ("timestamp_301_s_old", "timestamp_too_old"),
        ("timestamp_302_s_ahead", "timestamp_in_future"),
        ("missing_id", "missing_signature_headers"),
        ("missing_timestamp", "missing_signature_headers"),
        ("missing_signature", "missing_signature_headers"),
        ("garbage_signature", "bad_signature"),
    ],
)
def test_bad_signature_is_401_and_nothing_is_stored(client, signed_source, case, code):
    body = dumps(completed())
    secret = other_secret() if case == "wrong_secret" else WHSEC
    at = None
    if case == "timestamp_301_s_old":
        at = datetime.now(tz=UTC) - timedelta(seconds=301)
    elif case == "timestamp_302_s_ahead":
        # 302: the header carries whole seconds, so 301 ahead can arrive as 300.x ahead, within tolerance
        at = datetime.now(tz=UTC) + timedelta(seconds=302)
    headers = signed_headers(secret, body, at=at)
    if case == "tampered_body":
        body = body.replace(b'"score": 8', b'"score": 9')
    if case.startswith("missing_"):
        del headers["HTTP_WEBHOOK_" + case.removeprefix("missing_").upper()]
    if case == "garbage_signature":
        headers["HTTP_WEBHOOK_SIGNATURE"] = "v1,not-base64!! v2,abc nonsense"

    response = post_signed(client, signed_source, body, headers)

    assert response.status_code == 401
    assert response.json()["error"] == code
    assert response.json()["detail"]
    assert "WWW-Authenticate" in response
    assert not Event.objects.exists()


def test_timestamp_just_inside_the_tolerance_is_accepted(client, signed_source):
    body = dumps(completed())
    headers = signed_headers(WHSEC, body, at=datetime.now(tz=UTC) - timedelta(seconds=295))

    assert post_signed(client, signed_source, body, headers).status_code == 202


def test_several_signatures_are_accepted_when_one_matches(client, signed_source):
    body = dumps(completed())
    headers = signed_headers(WHSEC, body)
    stale = signed_headers(other_secret(), body)["HTTP_WEBHOOK_SIGNATURE"]
    headers["HTTP_WEBHOOK_SIGNATURE"] = f"{stale} {headers['HTTP_WEBHOOK_SIGNATURE']}"

    assert post_signed(client, signed_source, body, headers).status_code == 202


def test_previous_secret_still_verifies_during_rotation(client, signed_source):
    old = other_secret()
    Source.objects.filter(pk=signed_source.pk).update(previous_secret="")
    signed_source.previous_secret = old
    signed_source.save()
    body = dumps(completed())

    assert post_signed(client, signed_source, body, signed_headers(old, body)).status_code == 202


def test_secret_is_encrypted_at_rest(signed_source):
    with connection.cursor() as cursor:
        cursor.execute("SELECT secret FROM webhooks_source WHERE id = %s", [signed_source.pk])
        stored = cursor.fetchone()[0]

    assert WHSEC not in stored
    assert Source.objects.get(pk=signed_source.pk).secret == WHSEC


def test_token_in_header_or_query_is_accepted_and_a_wrong_one_is_401(client, source):
    url = f"/api/v1/webhooks/{source.slug}/"
    body = dumps(completed())
    header = client.post(url, data=body, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    query = client.post(f"{url}?token={TOKEN}", data=dumps(completed()), content_type="application/json")
    wrong = client.post(f"{url}?token=nope", data=dumps(completed()), content_type="application/json")
    missing = client.post(url, data=dumps(completed()), content_type="application/json")

    assert (header.status_code, query.status_code) == (202, 202)
    assert (wrong.status_code, wrong.json()["error"]) == (401, "bad_token")
    assert (missing.status_code, missing.json()["error"]) == (401, "missing_token")
    assert Event.objects.count() == 2


def test_auth_none_accepts_only_from_the_allow_list(client):
    source = make_source(auth_mode=Source.AuthMode.NONE, token=None, allowed_ips=["127.0.0.0/8"])
    url = f"/api/v1/webhooks/{source.slug}/"

    inside = client.post(url, data=dumps(completed()), content_type="application/json", REMOTE_ADDR="127.0.0.5")
    outside = client.post(url, data=dumps(completed()), content_type="application/json", REMOTE_ADDR="192.0.2.1")

    assert (inside.status_code, outside.status_code) == (202, 403)


def test_auth_none_without_an_allow_list_refuses_everything(client):
    source = make_source(auth_mode=Source.AuthMode.NONE, token=None, allowed_ips=["127.0.0.0/8"])
    Source.objects.filter(pk=source.pk).update(allowed_ips=[])
    url = f"/api/v1/webhooks/{source.slug}/"

    response = client.post(url, data=dumps(completed()), content_type="application/json", REMOTE_ADDR="127.0.0.1")

    assert response.status_code == 403
    assert not Event.objects.exists()
