"""Settle every completed task of a PYBOSSA project whose webhook never reached Tally."""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from common.ids import parse_id
from crowdsourcing.client import PybossaError
from crowdsourcing.services import TaskRef, client_for, event_fail, event_for_task, event_settle
from progress.reporting import CommandProgress
from webhooks.models import Event, Source


class Command(BaseCommand):
    help = "Settle every completed task of a PYBOSSA project (tasks settled before are skipped unless --rerun)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("source", help="The PYBOSSA source's slug.")
        parser.add_argument("--project-id", required=True, help="The PYBOSSA project's id.")
        parser.add_argument("--rerun", action="store_true", help="Settle tasks again that were settled before.")

    def handle(self, *args: Any, source: str, project_id: str, rerun: bool, **options: Any) -> None:
        found = Source.objects.filter(slug=source).first()
        if found is None:
            raise CommandError(f"No source {source!r}.")
        if found.kind != Source.Kind.PYBOSSA or not found.pybossa_url:
            raise CommandError(f"Source {source!r} is not a PYBOSSA source with a pybossa_url.")
        project = parse_id(project_id)
        if project is None:
            raise CommandError("--project-id must be a PYBOSSA project id (0 or more).")
        client = client_for(found)
        try:
            tasks = list(client.completed_tasks(project))
        except PybossaError as exc:
            raise CommandError(f"Could not list the project's completed tasks: {exc}") from None
        counts = {"settled": 0, "skipped": 0, "failed": 0}
        with CommandProgress(
            self, description=f"PYBOSSA backfill of project {project} ({source})", workid="tasks", unit="tasks"
        ) as progress:
            progress.update(0, len(tasks))
            for done, task in enumerate(tasks, start=1):
                counts[self._one(found, client, project, task["id"], rerun)] += 1
                progress.update(done, len(tasks), text=", ".join(f"{n} {k}" for k, n in counts.items()))
        self.stdout.write(f"tasks: {len(tasks)}  " + "  ".join(f"{k}: {n}" for k, n in counts.items()))

    @staticmethod
    def _one(source: Source, client: Any, project_id: int, task_id: int, rerun: bool) -> str:
        try:
            result_id = client.task_result_id(task_id)
        except PybossaError:
            return "failed"
        if result_id is None:
            return "skipped"  # PYBOSSA has not made the task's result yet
        event = event_for_task(
            source=source, ref=TaskRef(project_id=project_id, task_id=task_id, result_id=result_id), rerun=rerun
        )
        if event is None:
            return "skipped"
        try:
            status = event_settle(event_id=event.pk)
        except PybossaError as exc:
            status = event_fail(event_id=event.pk, error=str(exc))
        return "settled" if status == Event.Status.ACCEPTED else "failed"
