"""Create the `demo` source if there is none, and print how to use it."""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand

from accounts.services import api_token_create
from webhooks.models import Source
from webhooks.sources import source_create


class Command(BaseCommand):
    help = "Ensure a token-auth `demo` source and a fresh `demo` API token; print ready curl commands."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--base-url", default="http://127.0.0.1:8000")

    def handle(self, *args: Any, base_url: str, **options: Any) -> None:
        source = Source.objects.filter(slug="demo").first()
        if source is None:
            source = source_create(slug="demo", auth_mode=Source.AuthMode.TOKEN)
            self.stdout.write("Created the demo source.")
        _, api_token = api_token_create(name="demo", is_staff=True, replace=True)
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
