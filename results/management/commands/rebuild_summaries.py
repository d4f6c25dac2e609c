"""Recompute summaries from results; with --check, only report drift."""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from progress.reporting import CommandProgress
from results.rebuild import summaries_rebuild
from results.selectors import source_id_by_slug


class Command(BaseCommand):
    help = "Recompute every summary from results (set-based SQL). --check reports drift and exits 1 if any."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--source", help="Only this source's summaries (slug).")
        parser.add_argument("--check", action="store_true", help="Report drift, change nothing.")
        parser.add_argument("--batch-size", type=int, default=1000)

    def handle(self, *args: Any, source: str | None, check: bool, batch_size: int, **options: Any) -> None:
        source_id = None
        if source is not None:
            source_id = source_id_by_slug(slug=source)
            if source_id is None:
                raise CommandError(f"No source {source!r}.")
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")
        action = "checking" if check else "rebuilding"
        with CommandProgress(
            self,
            description=f"{action.capitalize()} summaries" + (f" of {source}" if source else ""),
            workid="summaries",
            unit="summaries",
        ) as progress:
            report = summaries_rebuild(
                source_id=source_id,
                check=check,
                batch_size=batch_size,
                on_progress=lambda done, total: progress.update(done, total, text=f"{action} {done} of {total}"),
            )
        for sample in report.samples or []:
            self.stdout.write(sample)
        if check:
            drift = report.drifted + report.missing
            self.stdout.write(f"checked: {report.checked}  drifted: {report.drifted}  missing: {report.missing}")
            if drift:
                raise CommandError(f"{drift} summaries differ from their results; run without --check to fix.")
            self.stdout.write("no drift")
        else:
            self.stdout.write(f"checked: {report.checked}  fixed: {report.fixed}  created: {report.missing}")
