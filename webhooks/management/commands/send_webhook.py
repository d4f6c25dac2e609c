"""Sign a JSON file as the source would and POST it: a tool for trying Tally out."""

from __future__ import annotations

import os
import sys
import uuid
from argparse import ArgumentParser
from pathlib import Path
from typing import IO, Any

import requests
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from common.standard_webhooks import signature_headers
from deliveries.client import connection_error
from webhooks.models import Source

# A valid native test.completed event, shipped as examples/event.json; printed when the file named is missing.
SAMPLE_EVENT = """\
{
  "id": "evt_example_1",
  "type": "test.completed",
  "occurred_at": "2026-11-22T10:00:00Z",
  "data": {
    "user": {"id": "u-42", "email": "a@b.c", "name": "Ann"},
    "organization": "acme",
    "test": {"id": "t-7", "title": "Sales basics", "course_id": "c-1"},
    "score": 8,
    "max_score": 10,
    "passed": true,
    "attempt": 1,
    "completed_at": "2026-11-22T09:59:30Z"
  }
}
"""
EXAMPLE_FILE = Path(settings.BASE_DIR) / "examples" / "event.json"


def _shown(path: Path) -> str:
    """`path` as the user would type it here: relative to the working directory when it is below it."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


class Command(BaseCommand):
    help = "POST a JSON file to a source's webhook URL, signed (standard) or with its token."
    stealth_options = ("stdin",)  # call_command(..., stdin=...) stands in for standard input

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("source", help="Source slug.")
        parser.add_argument("file", help=f"JSON file to send ('-' for standard input), e.g. {_shown(EXAMPLE_FILE)}.")
        parser.add_argument(
            "--base-url",
            default=settings.TALLY_BASE_URL,
            help=f"Where Tally serves (default: TALLY_BASE_URL, here {settings.TALLY_BASE_URL}).",
        )

    def handle(self, *args: Any, source: str, file: str, base_url: str, **options: Any) -> None:
        found = Source.objects.filter(slug=source).first()
        if found is None:
            raise CommandError(f"No source {source!r}.")
        body = self._body(file, stdin=options.get("stdin") or sys.stdin)
        headers = {"Content-Type": "application/json"}
        if found.auth_mode == Source.AuthMode.STANDARD:
            headers |= signature_headers(signing_secrets=[found.secret], msg_id=f"msg_{uuid.uuid4().hex}", body=body)
        elif found.auth_mode == Source.AuthMode.TOKEN:
            headers["Authorization"] = f"Bearer {found.token}"
        base = base_url.rstrip("/")
        url = f"{base}/api/v1/webhooks/{found.slug}/"
        try:
            response = requests.post(url, data=body, headers=headers, timeout=(5, 30))
        except requests.ConnectionError as exc:
            raise CommandError(
                f"Could not reach Tally at {base} ({connection_error(exc, url)}). Is it running (make run)? "
                "If it serves on another address, pass --base-url, or set TALLY_BASE_URL "
                "(or PORT, for 127.0.0.1) in this shell too."
            ) from None
        except requests.RequestException as exc:
            raise CommandError(f"POST {url} failed: {exc}") from None
        self.stdout.write(f"{response.status_code} {response.text}")
        if response.status_code >= 400:
            raise CommandError(f"Tally answered {response.status_code}.")

    def _body(self, file: str, *, stdin: IO[Any]) -> bytes:
        if file == "-":
            data = getattr(stdin, "buffer", stdin).read()
            return data.encode() if isinstance(data, str) else bytes(data)
        path = Path(file)
        if not path.exists():
            raise CommandError(
                f"There is no file {file} (looked in {os.getcwd()}).\n"
                f"Send the example that ships with Tally, {_shown(EXAMPLE_FILE)}, "
                f"or save this test.completed event as {file} and run the command again:\n\n{SAMPLE_EVENT}"
            )
        try:
            return path.read_bytes()
        except OSError as exc:
            raise CommandError(f"Cannot read {file}: {exc.strerror or exc}.") from None
