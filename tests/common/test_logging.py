"""JSON log lines: one object per line, request id attached, secrets masked."""

from __future__ import annotations

import json
import logging

import pytest

from common.logging import JsonFormatter, RequestIdFilter, redact


@pytest.mark.parametrize(
    "secret",
    [
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "Bearer tly_abcdefghijklmnop",
        "v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4=",
        "/api/v1/webhooks/x/?token=s3cr3t-token-value",
        "https://pybossa.example/api/task/7?api_key=s3cr3t-token-value",
        "postgres://tally:s3cr3t-token-value@db:5432/tally",
        "redis://:s3cr3t-token-value@redis:6379/0",  # a password with no user name
    ],
)
def test_secrets_never_reach_a_log_line(secret):
    record = logging.makeLogRecord({"msg": "got %s", "args": (secret,), "levelname": "INFO", "name": "t"})
    record.header = secret
    RequestIdFilter().filter(record)

    line = JsonFormatter().format(record)

    parsed = json.loads(line)
    assert parsed["level"] == "INFO"
    assert parsed["request_id"] == "-"
    for fragment in ("MfKQ9r8GKYqr", "tly_abcdefghijklmnop", "K5oZfzN95Z9", "s3cr3t-token-value"):
        assert fragment not in line


def test_redact_leaves_ordinary_text_alone():
    assert redact("user u-42 finished t-7 with 8/10") == "user u-42 finished t-7 with 8/10"


def test_responses_carry_a_request_id(client, db):
    response = client.get("/healthz", HTTP_X_REQUEST_ID="req-123")

    assert response["X-Request-ID"] == "req-123"
    assert len(client.get("/healthz")["X-Request-ID"]) == 32


def test_with_debug_off_cookies_are_secure_and_browsers_are_told_to_keep_https(settings):
    assert settings.SESSION_COOKIE_SECURE
    assert settings.CSRF_COOKIE_SECURE
    assert settings.SECURE_HSTS_SECONDS >= 31536000
