"""Sign a JSON file as the source would and POST it: a tool for trying Tally out."""

from __future__ import annotations

import uuid
from argparse import ArgumentParser
from pathlib import Path
from typing import Any

import requests
from django.core.management.base import BaseCommand, CommandError

from common.standard_webhooks import signature_headers
from webhooks.models import Source


class Command(BaseCommand):
    help = "POST a JSON file to a source's webhook URL, signed (standard) or with its token."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("source", help="Source slug.")
        parser.add_argument("file", help="JSON file to send ('-' for standard input).")
        parser.add_argument("--base-url", default="http://127.0.0.1:8000")

    def handle(self, *args: Any, source: str, file: str, base_url: str, **options: Any) -> None:
        found = Source.objects.filter(slug=source).first()
        if found is None:
            raise CommandError(f"No source {source!r}.")
        try:
            body = self.stdin.buffer.read() if file == "-" else Path(file).read_bytes()  # type: ignore[attr-defined]
        except OSError as exc:
            raise CommandError(f"Cannot read {file}: {exc}") from None
        headers = {"Content-Type": "application/json"}
        if found.auth_mode == Source.AuthMode.STANDARD:
            headers |= signature_headers(signing_secrets=[found.secret], msg_id=f"msg_{uuid.uuid4().hex}", body=body)
        elif found.auth_mode == Source.AuthMode.TOKEN:
            headers["Authorization"] = f"Bearer {found.token}"
        url = f"{base_url.rstrip('/')}/api/v1/webhooks/{found.slug}/"
        try:
            response = requests.post(url, data=body, headers=headers, timeout=(5, 30))
        except requests.RequestException as exc:
            raise CommandError(f"POST {url} failed: {exc}") from None
        self.stdout.write(f"{response.status_code} {response.text}")
        if response.status_code >= 400:
            raise CommandError(f"Tally answered {response.status_code}.")
