"""Create a destination and print its signing secret once."""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from deliveries.destinations import DestinationConfigError, destination_create


class Command(BaseCommand):
    help = "Create a destination (a client's server). Prints `secret: whsec_...`, the key its pushes are signed with."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("name")
        parser.add_argument("--url", required=True)
        parser.add_argument("--source", action="append", required=True, dest="sources", help="Repeatable.")
        parser.add_argument("--secret", help="whsec_… secret to use instead of a generated one.")
        parser.add_argument("--max-attempts", type=int, default=10)
        parser.add_argument("--timeout-seconds", type=int, default=10)

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            destination = destination_create(
                name=options["name"],
                url=options["url"],
                source_slugs=options["sources"],
                secret=options["secret"],
                max_attempts=options["max_attempts"],
                timeout_seconds=options["timeout_seconds"],
            )
        except DestinationConfigError as exc:
            raise CommandError(str(exc)) from None
        sources = ", ".join(sorted(destination.sources.values_list("slug", flat=True)))
        self.stdout.write(f"destination: {destination.name} -> {destination.url} (sources: {sources})")
        self.stdout.write(f"secret: {destination.secret}")
