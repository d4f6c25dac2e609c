"""create_api_token and create_source: what they print, store and refuse."""

from __future__ import annotations

import re
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from accounts.models import ApiToken
from webhooks.models import Source

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_create_api_token_prints_the_token_once_and_stores_only_its_hash(client):
    output = run("create_api_token", "ops", "--staff")

    token = re.search(r"^token: (\S+)$", output, re.M).group(1)
    stored = ApiToken.objects.get(name="ops")
    assert stored.is_staff
    assert token not in (stored.key_hash, stored.key_prefix)
    assert client.get("/api/v1/summaries/", HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 200


def test_create_api_token_refuses_a_duplicate_name():
    run("create_api_token", "ops", "--staff")

    with pytest.raises(CommandError, match="already exists"):
        run("create_api_token", "ops", "--staff")


def test_create_api_token_needs_a_scope():
    with pytest.raises(CommandError):
        run("create_api_token", "ops")


def test_inactive_token_is_refused(client):
    token = re.search(r"token: (\S+)", run("create_api_token", "ops", "--staff")).group(1)
    ApiToken.objects.update(active=False)

    assert client.get("/api/v1/summaries/", HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 401


def test_create_source_standard_prints_a_generated_secret():
    output = run("create_source", "lms")

    secret = re.search(r"^secret: (whsec_\S+)$", output, re.M).group(1)
    source = Source.objects.get(slug="lms")
    assert (source.kind, source.auth_mode, source.secret) == ("native", "standard", secret)


def test_create_source_with_every_option():
    output = run(
        "create_source",
        "crowd",
        "--kind",
        "pybossa",
        "--auth",
        "token",
        "--token",
        "a-token-of-sixteen-chars",
        "--allowed-ips",
        "192.0.2.0/24, 10.0.0.1",
        "--rate-limit-per-minute",
        "600",
        "--pybossa-url",
        "http://127.0.0.1:5000",
        "--pybossa-api-key",
        "key-1",
    )

    assert "token: a-token-of-sixteen-chars" in output.splitlines()
    source = Source.objects.get(slug="crowd")
    assert source.allowed_ips == ["192.0.2.0/24", "10.0.0.1/32"]
    assert (source.rate_limit_per_minute, source.pybossa_url, source.pybossa_api_key) == (
        600,
        "http://127.0.0.1:5000",
        "key-1",
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["bad slug!"], "slug"),
        (["x", "--auth", "none"], "allow-list"),
        (["x", "--allowed-ips", "not-an-ip"], "not an IP"),
        (["x", "--secret", "plain"], "whsec_"),
        (["x", "--rate-limit-per-minute", "0"], "at least 1"),
        (["x", "--pybossa-url", "ftp://x"], "URL"),
        (["x", "--auth", "token", "--token", "short"], "16 characters"),
    ],
)
def test_create_source_refuses_bad_arguments_clearly(args, message):
    with pytest.raises(CommandError, match=message):
        run("create_source", *args)
    assert not Source.objects.exists()


def test_create_source_refuses_an_existing_slug():
    run("create_source", "lms")

    with pytest.raises(CommandError, match="already exists"):
        run("create_source", "lms")
