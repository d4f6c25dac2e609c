"""Create the `demo` source and API token if there are none, and print how to use them."""

from __future__ import annotations

import os
from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from accounts.models import ApiToken
from accounts.selectors import api_token_get_active
from accounts.services import api_token_create
from webhooks.models import Source
from webhooks.sources import source_create

DEMO = "demo"
# The demo API token in plain text, beside var/.env (which holds the keys of the embedded setup).
#
# Only a token's hash is stored, yet `make run` prints the demo credentials and
# two curl commands on every start, and a user who saved them expects them to
# keep working: a new token on every start would break every command and
# script written with the last one. So the plain token is kept in the data
# folder, readable by its owner alone (0600), and printed again while it is
# still the demo token; it is replaced only when it no longer works (revoked,
# deleted, or a new database).
TOKEN_FILE_NAME = "demo-api-token"  # noqa: S105 - a file name


def _token_file() -> Path:
    return Path(settings.DATA_DIR) / TOKEN_FILE_NAME


def _kept_token() -> str | None:
    """The demo API token from an earlier run, if it is still the demo's active token."""
    try:
        raw = _token_file().read_text().strip()
    except OSError:
        return None
    token = api_token_get_active(raw=raw) if raw else None
    return raw if token is not None and token.name == DEMO and token.is_staff else None


def _keep(raw: str) -> bool:
    """Write the token where the next run reads it, readable by its owner alone; False if that cannot be done."""
    path = _token_file()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            os.fchmod(out.fileno(), 0o600)  # a file made earlier by hand keeps other modes otherwise
            out.write(raw + "\n")
    except OSError:
        return False
    return True


class Command(BaseCommand):
    help = "Ensure a token-auth `demo` source and a `demo` API token (made once, then kept); print ready curl commands."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "--base-url",
            default=settings.TALLY_BASE_URL,
            help=f"Where Tally serves (default: TALLY_BASE_URL, here {settings.TALLY_BASE_URL}).",
        )

    def handle(self, *args: Any, base_url: str, **options: Any) -> None:
        source = Source.objects.filter(slug=DEMO).first()
        if source is None:
            source = source_create(slug=DEMO, auth_mode=Source.AuthMode.TOKEN)
            self.stdout.write("Created the demo source.")
        api_token = _kept_token()
        if api_token is None:
            replaced = ApiToken.objects.filter(name=DEMO).exists()
            _, api_token = api_token_create(name=DEMO, is_staff=True, replace=True)
            self.stdout.write("Replaced the demo API token." if replaced else "Created the demo API token.")
            if not _keep(api_token):
                self.stderr.write(f"Could not write {_token_file()}: the next run will make a new demo API token.")
        base = base_url.rstrip("/")
        event = (
            '{"id": "evt_demo_1", "type": "test.completed", "occurred_at": "2026-11-22T10:00:00Z", '
            '"data": {"user": {"id": "u-42", "email": "a@b.c", "name": "Ann"}, "organization": "acme", '
            '"test": {"id": "t-7", "title": "Sales basics", "course_id": "c-1"}, '
            '"score": 8, "max_score": 10, "passed": true, "attempt": 1, "completed_at": "2026-11-22T09:59:30Z"}}'
        )
        self.stdout.write(f"source: demo (auth {source.auth_mode})")
        if source.auth_mode == Source.AuthMode.TOKEN:
            self.stdout.write(f"token: {source.token}")
        elif source.auth_mode == Source.AuthMode.STANDARD:
            self.stdout.write(f"secret: {source.secret}")
        self.stdout.write(f"api token: {api_token}")
        self.stdout.write("Post an event:")
        self.stdout.write(
            f"  curl -sS -X POST '{base}/api/v1/webhooks/demo/?token={source.token}' "
            f"-H 'Content-Type: application/json' -d '{event}'"
        )
        self.stdout.write("Read the summary:")
        self.stdout.write(f"  curl -sS -H 'Authorization: Bearer {api_token}' '{base}/api/v1/summaries/demo/u-42/'")
