"""Create an API token and print it once."""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from accounts.models import ApiToken
from accounts.selectors import destination_id_by_name
from accounts.services import api_token_create


class Command(BaseCommand):
    help = "Create an API token (printed once as `token: ...`)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("name")
        scope = parser.add_mutually_exclusive_group(required=True)
        scope.add_argument("--staff", action="store_true", help="Token that manages sources and reads everything.")
        scope.add_argument("--destination", help="Client token reading the sources of this destination.")

    def handle(self, *args: Any, name: str, staff: bool, destination: str | None, **options: Any) -> None:
        destination_id = None
        if destination is not None:
            destination_id = destination_id_by_name(name=destination)
            if destination_id is None:
                raise CommandError(f"No destination {destination!r}.")
        if ApiToken.objects.filter(name=name).exists():
            raise CommandError(f"A token named {name!r} already exists.")
        _, raw = api_token_create(name=name, is_staff=staff, destination_id=destination_id)
        self.stdout.write(f"token: {raw}")
