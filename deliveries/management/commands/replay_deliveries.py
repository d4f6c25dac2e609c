"""Push the current summaries of failed (or other) deliveries again, marked rerun."""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils.dateparse import parse_datetime

from deliveries.models import Destination
from deliveries.replay import REPLAYABLE, deliveries_replay_batches
from deliveries.selectors import deliveries_filter
from progress.reporting import CommandProgress


class Command(BaseCommand):
    help = "Replay deliveries (default: failed and dead ones) with rerun: true."

    def add_arguments(self, parser: ArgumentParser) -> None:
        # The values as typed (`failed`), which argparse also lists when another is given.
        parser.add_argument("--status", choices=[status.value for status in REPLAYABLE], help="Default: both.")
        parser.add_argument("--destination", help="Destination name.")
        parser.add_argument("--since", help="ISO 8601 time; deliveries created at or after it.")
        parser.add_argument("--until", help="ISO 8601 time; deliveries created before it.")

    def handle(self, *args: Any, **options: Any) -> None:
        since, until = self._time(options["since"], "--since"), self._time(options["until"], "--until")
        if options["destination"] and not Destination.objects.filter(name=options["destination"]).exists():
            raise CommandError(f"No destination {options['destination']!r}.")
        statuses = [options["status"]] if options["status"] else REPLAYABLE
        selected = deliveries_filter(destination=options["destination"], since=since, until=until).filter(
            status__in=statuses
        )
        with CommandProgress(
            self, description="Replaying deliveries", workid="deliveries", unit="deliveries"
        ) as progress:
            selected_count, queued = deliveries_replay_batches(
                deliveries=selected,
                on_progress=lambda done, total, queued: progress.update(done, total, text=f"{queued} queued"),
            )
        self.stdout.write(f"selected: {selected_count}  queued: {queued}")

    @staticmethod
    def _time(value: str | None, flag: str) -> Any:
        if value is None:
            return None
        parsed = parse_datetime(value)
        if parsed is None or parsed.tzinfo is None:
            raise CommandError(f"{flag} must be an ISO 8601 time with a zone, e.g. 2026-11-22T10:00:00Z.")
        return parsed
