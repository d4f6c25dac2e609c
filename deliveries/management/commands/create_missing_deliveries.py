"""Queue every summary whose current version a destination has not received."""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from deliveries.models import Destination
from deliveries.services import deliveries_enqueue, summaries_missing_for
from progress.reporting import CommandProgress
from results.models import Summary

BATCH = 500


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
        ids = list(summaries_missing_for(found).values_list("pk", flat=True))
        queued = 0
        with CommandProgress(
            self,
            description=f"Queueing missing deliveries for {destination}",
            workid="summaries",
            unit="summaries",
        ) as progress:
            progress.update(0, len(ids))
            for start in range(0, len(ids), BATCH):
                with transaction.atomic():
                    # Locked like intake locks them, so a concurrent event cannot
                    # slip a newer version in between.
                    batch = list(Summary.objects.select_for_update().filter(pk__in=ids[start : start + BATCH]))
                    queued += deliveries_enqueue(summaries=batch, destination_ids=[found.pk])
                progress.update(min(start + BATCH, len(ids)), len(ids), text=f"{queued} queued")
        self.stdout.write(f"missing: {len(ids)}  queued: {queued}")
