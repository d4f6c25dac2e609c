"""send_webhook and setup_demo, the tools for trying Tally out."""

from __future__ import annotations

import json
import re
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from accounts.models import ApiToken
from tests.factories import WHSEC, completed, make_source
from webhooks.models import Event, Source


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("auth_mode", [Source.AuthMode.STANDARD, Source.AuthMode.TOKEN])
def test_send_webhook_signs_or_authenticates_and_posts_a_file(live_server, tmp_path, auth_mode):
    source = make_source(auth_mode=auth_mode, secret=WHSEC if auth_mode == "standard" else None)
    file = tmp_path / "event.json"
    file.write_text(json.dumps(completed(event_id="evt_file")))
    out = StringIO()

    call_command("send_webhook", source.slug, str(file), "--base-url", live_server.url, stdout=out)

    assert out.getvalue().startswith("202 ")
    assert Event.objects.get(source=source).idempotency_key == "evt_file"


@pytest.mark.django_db(transaction=True)
def test_send_webhook_fails_loudly_when_tally_refuses(live_server, tmp_path):
    source = make_source()
    file = tmp_path / "event.json"
    file.write_text('{"type": "test.completed"}')

    with pytest.raises(CommandError, match="400"):
        call_command("send_webhook", source.slug, str(file), "--base-url", live_server.url, stdout=StringIO())


@pytest.mark.django_db
def test_setup_demo_creates_the_source_and_api_token_once_and_prints_the_same_ones_again(settings, tmp_path):
    settings.DATA_DIR = tmp_path  # where the demo API token's plain text is kept
    first, second = StringIO(), StringIO()
    call_command("setup_demo", stdout=first)
    call_command("setup_demo", stdout=second)

    source = Source.objects.get(slug="demo")
    tokens = [re.search(r"^token: (\S+)$", o.getvalue(), re.M).group(1) for o in (first, second)]
    api_tokens = [re.search(r"^api token: (\S+)$", o.getvalue(), re.M).group(1) for o in (first, second)]
    assert tokens == [source.token, source.token]
    assert api_tokens[0] == api_tokens[1], "a token the user saved keeps working"
    assert ApiToken.objects.filter(name="demo").count() == 1
    assert "Created the demo source." in first.getvalue()
    assert "Created" not in second.getvalue()
