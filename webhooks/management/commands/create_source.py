"""Create a source and print its secret or token once."""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from webhooks.models import Source
from webhooks.sources import SourceConfigError, source_create


def _csv(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


class Command(BaseCommand):
    help = "Create a webhook source. Prints `secret: whsec_...` (standard auth) or `token: ...` (token auth)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("slug")
        parser.add_argument("--kind", choices=Source.Kind.values, default=Source.Kind.NATIVE)
        parser.add_argument("--auth", choices=Source.AuthMode.values, help="Default: standard; token for pybossa.")
        parser.add_argument("--secret", help="whsec_… secret to use instead of a generated one.")
        parser.add_argument("--token", help="Token to use instead of a generated one.")
        parser.add_argument("--allowed-ips", type=_csv, default=[], help="Comma-separated CIDR list.")
        parser.add_argument("--denied-ips", type=_csv, default=[], help="Comma-separated CIDR list.")
        parser.add_argument("--rate-limit-per-minute", type=int)
        parser.add_argument("--pybossa-url", default="")
        parser.add_argument("--pybossa-api-key", default="")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            source = source_create(
                slug=options["slug"],
                kind=options["kind"],
                auth_mode=options["auth"],
                secret=options["secret"],
                token=options["token"],
                allowed_ips=options["allowed_ips"],
                denied_ips=options["denied_ips"],
                rate_limit_per_minute=options["rate_limit_per_minute"],
                pybossa_url=options["pybossa_url"],
                pybossa_api_key=options["pybossa_api_key"],
            )
        except SourceConfigError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"source: {source.slug} ({source.kind}, auth {source.auth_mode})")
        if source.auth_mode == Source.AuthMode.STANDARD:
            self.stdout.write(f"secret: {source.secret}")
        elif source.auth_mode == Source.AuthMode.TOKEN:
            self.stdout.write(f"token: {source.token}")
