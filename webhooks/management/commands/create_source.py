"""Create a source and print its secret or token once."""

from __future__ import annotations

from argparse import ArgumentParser
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from webhooks.models import Source
from webhooks.sources import SourceConfigError, source_check_credentials, source_create

# The flag that sets each of the source's fields, to name it in an error.
FLAGS = {
    "slug": "slug",
    "name": "--name",
    "kind": "--kind",
    "auth_mode": "--auth",
    "secret": "--secret",
    "token": "--token",
    "allowed_ips": "--allowed-ips",
    "denied_ips": "--denied-ips",
    "rate_limit_per_minute": "--rate-limit-per-minute",
    "pass_ratio": "--pass-ratio",
    "pybossa_url": "--pybossa-url",
    "pybossa_api_key": "--pybossa-api-key",
    "pybossa_analysis": "--pybossa-analysis",
    "pybossa_quorum": "--pybossa-quorum",
}


def _csv(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


class Command(BaseCommand):
    help = "Create a webhook source. Prints `secret: whsec_...` (standard auth) or `token: ...` (token auth)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("slug")
        parser.add_argument("--name", help="A name for people; default: the slug.")
        parser.add_argument("--kind", choices=Source.Kind.values, default=Source.Kind.NATIVE)
        parser.add_argument("--auth", choices=Source.AuthMode.values, help="Default: standard; token for pybossa.")
        parser.add_argument("--secret", help="whsec_… secret to use instead of a generated one (standard auth).")
        parser.add_argument("--token", help="Token to use instead of a generated one (token auth).")
        parser.add_argument("--allowed-ips", type=_csv, default=[], help="Comma-separated CIDR list.")
        parser.add_argument("--denied-ips", type=_csv, default=[], help="Comma-separated CIDR list.")
        parser.add_argument("--rate-limit-per-minute", type=int)
        parser.add_argument("--pass-ratio", help="score/max_score at or above which a result passes (default 0.5).")
        parser.add_argument("--pybossa-url", default="", help="The PYBOSSA server (needed with --kind pybossa).")
        parser.add_argument("--pybossa-api-key", default="")
        parser.add_argument(
            "--pybossa-analysis",
            default=Source.Analysis.MAJORITY,
            help="majority (default), quorum (with --pybossa-quorum), or the dotted path of a Python callable.",
        )
        parser.add_argument("--pybossa-quorum", type=int, help="With --pybossa-analysis quorum: runs that must agree.")

    def handle(self, *args: Any, **options: Any) -> None:
        pass_ratio = None
        if options["pass_ratio"] is not None:
            try:
                pass_ratio = Decimal(options["pass_ratio"])
            except InvalidOperation:
                raise CommandError("--pass-ratio: must be a number between 0 and 1.") from None
        try:
            source_check_credentials(
                kind=options["kind"], auth_mode=options["auth"], secret=options["secret"], token=options["token"]
            )
            source = source_create(
                slug=options["slug"],
                name=options["name"],
                kind=options["kind"],
                auth_mode=options["auth"],
                secret=options["secret"],
                token=options["token"],
                allowed_ips=options["allowed_ips"],
                denied_ips=options["denied_ips"],
                rate_limit_per_minute=options["rate_limit_per_minute"],
                pass_ratio=pass_ratio,
                pybossa_url=options["pybossa_url"],
                pybossa_api_key=options["pybossa_api_key"],
                pybossa_analysis=options["pybossa_analysis"],
                pybossa_quorum=options["pybossa_quorum"],
            )
        except SourceConfigError as exc:
            flag = FLAGS.get(exc.field or "")
            raise CommandError(f"{flag}: {exc}" if flag else str(exc)) from None
        self.stdout.write(f"source: {source.slug} ({source.kind}, auth {source.auth_mode})")
        if source.kind == Source.Kind.PYBOSSA:
            quorum = f" {source.pybossa_quorum}" if source.pybossa_quorum else ""
            self.stdout.write(f"analysis: {source.pybossa_analysis}{quorum}")
        if source.auth_mode == Source.AuthMode.STANDARD:
            self.stdout.write(f"secret: {source.secret}")
        elif source.auth_mode == Source.AuthMode.TOKEN:
            self.stdout.write(f"token: {source.token}")
