"""Queue every summary whose current version a destination has not received."""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from deliveries.models import Destination
from deliveries.replay import deliveries_backfill
from progress.reporting import CommandProgress


class Command(BaseCommand):
    help = "Create deliveries for summaries a destination has not received (added later, or after an outage)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--destination", required=True, help="Destination name.")

    def handle(self, *args: Any, destination: str, **options: Any) -> None:
        found = Destination.objects.filter(name=destination).first()
        if found is None:
            raise CommandError(f"No destination {destination!r}.")
        if not found.active:
            raise CommandError(f"Destination {destination!r} is inactive; activate it first.")
        with CommandProgress(
            self,
            description=f"Queueing missing deliveries for {destination}",
            workid="summaries",
            unit="summaries",
        ) as progress:
            missing, queued = deliveries_backfill(
                destination=found,
                on_progress=lambda done, total, queued: progress.update(done, total, text=f"{queued} queued"),
            )
        self.stdout.write(f"missing: {missing}  queued: {queued}")
