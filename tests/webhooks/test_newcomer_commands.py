"""A newcomer's first commands: the example event, send_webhook's answers, and a demo token that stays the same."""

from __future__ import annotations

import json
import os
import re
import socket
import stat
import subprocess
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from accounts.models import ApiToken
from tests.factories import WHSEC, make_source
from tests.servers import BIN, ROOT, database_url
from webhooks.adapters import ParsedEvent, parse_event
from webhooks.management.commands.send_webhook import SAMPLE_EVENT
from webhooks.models import Event, Source

EXAMPLE = ROOT / "examples" / "event.json"


def run(*args: str, **options: Any) -> str:
    out = StringIO()
    call_command(*args, stdout=out, **options)
    return out.getvalue()


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_the_example_event_is_a_valid_test_completed_event_and_the_printed_sample():
    body = json.loads(EXAMPLE.read_text())

    parsed = parse_event(Source(slug="demo", kind=Source.Kind.NATIVE), body, header_id=None)

    assert isinstance(parsed, ParsedEvent)
    assert (parsed.key, parsed.type) == ("evt_example_1", "test.completed")
    assert EXAMPLE.read_text() == SAMPLE_EVENT


@pytest.mark.django_db(transaction=True)
def test_send_webhook_posts_the_example_event_as_the_readme_says(live_server):
    source = make_source(slug="my-lms", auth_mode=Source.AuthMode.STANDARD, secret=WHSEC)

    output = run("send_webhook", "my-lms", str(EXAMPLE), "--base-url", live_server.url)

    assert output.startswith("202 ")
    assert Event.objects.get(source=source).idempotency_key == "evt_example_1"


@pytest.mark.django_db
def test_send_webhook_of_a_missing_file_says_so_and_prints_an_event_to_save(tmp_path, monkeypatch):
    make_source(slug="my-lms")
    monkeypatch.chdir(tmp_path)

    with pytest.raises(CommandError) as excinfo:
        run("send_webhook", "my-lms", "event.json")

    message = str(excinfo.value)
    assert message.startswith(f"There is no file event.json (looked in {tmp_path}).\n")
    assert str(EXAMPLE) in message  # the example's path, absolute as the working directory is elsewhere
    assert message.endswith(f"and run the command again:\n\n{SAMPLE_EVENT}")
    assert "Errno" not in message


@pytest.mark.django_db(transaction=True)
def test_send_webhook_defaults_to_the_port_tally_serves_on(live_server):
    """`PORT=8123 make run` in one shell, `PORT=8123 manage.py send_webhook ...` in another: no --base-url needed."""
    source = make_source(slug="my-lms", auth_mode=Source.AuthMode.STANDARD, secret=WHSEC)
    port = live_server.url.rsplit(":", 1)[1]
    env = {k: v for k, v in os.environ.items() if k != "TALLY_BASE_URL"}
    env.update(DATABASE_URL=database_url(), PORT=port)

    sent = subprocess.run(
        [str(BIN / "python"), "manage.py", "send_webhook", "my-lms", str(EXAMPLE)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert sent.returncode == 0, sent.stderr
    assert sent.stdout.startswith("202 ")
    assert Event.objects.get(source=source).idempotency_key == "evt_example_1"


@pytest.mark.django_db
def test_send_webhook_says_which_address_it_could_not_reach_and_what_to_do(settings):
    make_source(slug="my-lms")
    port = closed_port()
    settings.TALLY_BASE_URL = f"http://127.0.0.1:{port}"

    with pytest.raises(CommandError) as excinfo:
        run("send_webhook", "my-lms", str(EXAMPLE))

    assert str(excinfo.value) == (
        f"Could not reach Tally at http://127.0.0.1:{port} "
        f"(connection error: 127.0.0.1:{port} refused the connection). Is it running (make run)? "
        "If it serves on another address, pass --base-url, or set TALLY_BASE_URL (or PORT, for 127.0.0.1) "
        "in this shell too."
    )


@pytest.mark.django_db(transaction=True)
def test_send_webhook_reads_standard_input_for_a_dash(live_server):
    source = make_source(slug="my-lms", auth_mode=Source.AuthMode.STANDARD, secret=WHSEC)

    output = run("send_webhook", "my-lms", "-", "--base-url", live_server.url, stdin=StringIO(SAMPLE_EVENT))

    assert output.startswith("202 ")
    assert Event.objects.get(source=source).idempotency_key == "evt_example_1"


def credentials(output: str) -> tuple[str, str, list[str]]:
    token = re.search(r"^token: (\S+)$", output, re.M)
    api_token = re.search(r"^api token: (\S+)$", output, re.M)
    assert token, output
    assert api_token, output
    return token.group(1), api_token.group(1), re.findall(r"^  (curl .+)$", output, re.M)


@pytest.mark.django_db(transaction=True)
def test_setup_demo_keeps_its_tokens_so_the_printed_curl_commands_work_after_a_restart(live_server, settings, tmp_path):
    settings.DATA_DIR = tmp_path

    first = run("setup_demo")  # the base URL follows TALLY_BASE_URL
    second = run("setup_demo", "--base-url", live_server.url)
    third = run("setup_demo", "--base-url", live_server.url)

    assert f"'{settings.TALLY_BASE_URL}/api/v1/summaries/demo/u-42/'" in first
    assert "Created the demo source." in first
    assert "Created the demo API token." in first
    assert "Created" not in second
    assert "Replaced" not in second
    assert credentials(first)[:2] == credentials(second)[:2] == credentials(third)[:2]
    assert second == third
    assert ApiToken.objects.filter(name="demo").count() == 1
    kept = tmp_path / "demo-api-token"
    assert kept.read_text().strip() == credentials(first)[1]
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    post, read = credentials(second)[2]
    posted = subprocess.run(post, shell=True, capture_output=True, text=True, timeout=30, check=True)
    assert '"status":"accepted"' in posted.stdout.replace(" ", "")
    summary = subprocess.run(read, shell=True, capture_output=True, text=True, timeout=30, check=True)
    assert '"units_completed":1' in summary.stdout.replace(" ", "")


@pytest.mark.django_db
def test_setup_demo_replaces_a_demo_api_token_that_no_longer_works(settings, tmp_path):
    settings.DATA_DIR = tmp_path
    _, before, _ = credentials(run("setup_demo"))
    ApiToken.objects.filter(name="demo").update(active=False)  # revoked by an operator

    output = run("setup_demo")

    _, after, _ = credentials(output)
    assert "Replaced the demo API token." in output
    assert after != before
    assert (tmp_path / "demo-api-token").read_text().strip() == after
    assert ApiToken.objects.get(name="demo").active


@pytest.mark.django_db
def test_setup_demo_fixes_the_mode_of_a_token_file_made_by_hand(settings, tmp_path):
    settings.DATA_DIR = tmp_path
    kept = tmp_path / "demo-api-token"
    kept.write_text("tly_not-a-token\n")
    kept.chmod(0o644)

    _, api_token, _ = credentials(run("setup_demo"))

    assert kept.read_text().strip() == api_token
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600


def test_the_example_is_where_the_readme_points(tmp_path: Path):
    assert EXAMPLE.relative_to(ROOT) == Path("examples/event.json")
