"""Settle every completed task of a PYBOSSA project whose webhook never reached Tally."""

from __future__ import annotations

import math
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from common.ids import parse_id
from crowdsourcing.client import PybossaClient, PybossaError
from crowdsourcing.selectors import TaskHistory, task_histories
from crowdsourcing.services import (
    NOT_SETTLED,
    NoTaskRunsError,
    TaskRef,
    client_for,
    event_fail,
    event_for_task,
    event_settle,
)
from notifications.services import alert_raise
from progress.reporting import CommandProgress
from webhooks.adapters.pybossa import task_key
from webhooks.models import Event, Source

SHOWN_FAILURES = 20


class Command(BaseCommand):
    help = (
        "Settle every completed task of a PYBOSSA project (tasks settled before are skipped unless --rerun). "
        "It keeps to PYBOSSA's rate limit, waiting for each window's end as long as needed."
    )

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
        # A backfill waits out PYBOSSA's rate limit however long each window lasts: it is slow, never failed.
        client = client_for(found, max_sleep=math.inf)
        client.on_wait = self._waiting
        try:
            tasks = list(client.completed_tasks(project))
            results = client.result_ids(project)
        except PybossaError as exc:
            raise CommandError(f"Could not list the project's completed tasks: {exc}") from None
        histories = task_histories(source=found, project_id=project)
        counts = {"settled": 0, "skipped": 0, "failed": 0, "unsettled": 0}
        failures: list[str] = []
        with CommandProgress(
            self, description=f"PYBOSSA backfill of project {project} ({source})", workid="tasks", unit="tasks"
        ) as progress:
            progress.update(0, len(tasks))
            for done, task in enumerate(tasks, start=1):
                outcome, error = self._one(found, client, project, task, results, histories, rerun)
                counts[outcome] += 1
                if error:
                    failures.append(f"task {task['id']}: {error}")
                    self.stderr.write(failures[-1])
                progress.update(done, len(tasks), text=", ".join(f"{n} {k}" for k, n in counts.items()))
        self.stdout.write(f"tasks: {len(tasks)}  " + "  ".join(f"{k}: {n}" for k, n in counts.items()))
        if failures:
            # One alert for the run, not one per task: whoever ran it also sees each failure above.
            alert_raise(
                fingerprint=f"pybossa_backfill:{found.slug}:{project}",
                title=f"PYBOSSA backfill of project {project} ({found.slug}): {len(failures)} tasks failed",
                details={"source": found.slug, "project": project, "failed": failures[:SHOWN_FAILURES]},
            )

    def _waiting(self, seconds: float, endpoint: str) -> None:
        self.stderr.write(f"waiting {seconds:.1f} s for PYBOSSA's rate limit on /api/{endpoint}")

    @staticmethod
    def _one(
        source: Source,
        client: PybossaClient,
        project_id: int,
        task: dict[str, Any],
        results: dict[int, int],
        histories: dict[str, TaskHistory],
        rerun: bool,
    ) -> tuple[str, str]:
        result_id = results.get(task["id"])
        if result_id is None:
            return "skipped", ""  # PYBOSSA has not made the task's result yet
        ref = TaskRef(project_id=project_id, task_id=task["id"], result_id=result_id)
        history = histories.get(task_key(ref.project_id, ref.task_id, ref.result_id))
        event = event_for_task(source=source, ref=ref, rerun=rerun, history=history)
        if event is None:
            return "skipped", ""
        try:
            status = event_settle(event_id=event.pk, client=client, task=task, alert=False)
        except PybossaError as exc:
            code = exc.code if isinstance(exc, NoTaskRunsError) else "pybossa_unreachable"
            status = event_fail(event_id=event.pk, error=str(exc), code=code, alert=False)
        code, detail = Event.objects.filter(pk=event.pk).values_list("error_code", "error_detail").get()
        if status == Event.Status.ACCEPTED:
            return ("unsettled", "") if code == NOT_SETTLED else ("settled", "")
        return "failed", str(detail)
