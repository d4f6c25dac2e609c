"""create_api_token and create_source: what they print, store and refuse."""

from __future__ import annotations

import re
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from accounts.models import ApiToken
from webhooks.models import Source


@pytest.fixture(autouse=True)
def _analysis_modules(settings):
    """The modules these tests name as custom analyses, allowed as an operator would (PYBOSSA_ANALYSIS_MODULES)."""
    settings.PYBOSSA_ANALYSIS_MODULES = ["statistics", "decimal", "json", "no"]


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
        (["x", "--auth", "none"], "--allowed-ips: Auth 'none' needs an IP allow-list"),
        (["x" * 300], "slug: The slug may be at most 64 characters"),
        (["x", "--kind", "pybossa"], "--pybossa-url: A PYBOSSA source needs the URL"),
        (["x", "--token", "a-token-of-sixteen-chars"], "--token: A token applies only to token auth"),
        (["x", "--auth", "token", "--secret", "whsec_c2VjcmV0"], "--secret: A signing secret applies only to standard"),
        (["x", "--auth", "none", "--allowed-ips", "10.0.0.1", "--token", "a-token-of-sixteen-chars"], "--token"),
        (["x", "--pass-ratio", "2"], "--pass-ratio: The pass ratio must be between 0 and 1"),
        (
            ["x", "--kind", "pybossa", "--pybossa-url", "http://p.example", "--pybossa-analysis", "quorum"],
            "--pybossa-quorum",
        ),
        (
            ["x", "--kind", "pybossa", "--pybossa-url", "http://p.example", "--pybossa-quorum", "2"],
            "only to the quorum",
        ),
        (
            ["x", "--kind", "pybossa", "--pybossa-url", "http://p.example", "--pybossa-analysis", "no.such.module"],
            "does not import",
        ),
        (
            ["x", "--kind", "pybossa", "--pybossa-url", "http://p.example", "--pybossa-analysis", "decimal.MAX_PREC"],
            "not callable",
        ),
        (
            ["x", "--kind", "pybossa", "--pybossa-url", "http://p.example", "--pybossa-analysis", "median"],
            "dotted path",
        ),
        (["x", "--pybossa-analysis", "quorum", "--pybossa-quorum", "2"], "Only PYBOSSA sources"),
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


def test_create_source_exits_non_zero_with_one_clear_line_for_a_300_character_slug():
    import os
    import subprocess
    import sys

    from tests.servers import ROOT, database_url

    environment = {**os.environ, "DATABASE_URL": database_url()}
    done = subprocess.run(
        [sys.executable, "manage.py", "create_source", "x" * 300],
        capture_output=True, text=True, timeout=60, cwd=ROOT, env=environment,
    )  # fmt: skip

    assert done.returncode != 0
    assert "The slug may be at most 64 characters (it has 300)." in done.stderr
    assert "Traceback" not in done.stderr


def test_create_source_sets_a_pybossa_sources_analysis_and_quorum():
    output = run(
        "create_source", "crowd", "--kind", "pybossa", "--pybossa-url", "http://127.0.0.1:5000",
        "--pybossa-analysis", "quorum", "--pybossa-quorum", "3", "--name", "Birds", "--pass-ratio", "0.8",
    )  # fmt: skip

    assert "analysis: quorum 3" in output.splitlines()
    source = Source.objects.get(slug="crowd")
    assert (source.pybossa_analysis, source.pybossa_quorum, source.name, str(source.pass_ratio)) == (
        "quorum", 3, "Birds", "0.800",
    )  # fmt: skip


def test_create_source_takes_the_dotted_path_of_a_callable_as_analysis():
    run("create_source", "crowd", "--kind", "pybossa", "--pybossa-url", "http://p.example",
        "--pybossa-analysis", "statistics.median")  # fmt: skip

    assert Source.objects.get(slug="crowd").pybossa_analysis == "statistics.median"
