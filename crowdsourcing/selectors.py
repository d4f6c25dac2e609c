"""What Tally knows of a PYBOSSA project's tasks: the latest settlement of each."""

from __future__ import annotations

from dataclasses import dataclass

from webhooks.adapters.pybossa import RERUN_SEPARATOR, TASK_COMPLETED
from webhooks.models import Event, Source


@dataclass(frozen=True)
class TaskHistory:
    latest: str  # the status of the task's newest event
    first_key_taken: bool  # an event holds the task's own key (`project:task:result`)


def task_histories(*, source: Source, project_id: int) -> dict[str, TaskHistory]:
    """Each task of a project that has events, by its key (`project:task:result`).

    A task's events are its webhook (the task's key), each re-send from
    PYBOSSA's webhook page (`?rerun=True`) and each backfill re-run (the key,
    `:rerun:`, something unique); the newest of them says whether the task is
    settled. One pass over the source's events of the project, in id order.
    """
    rows = (
        Event.objects.filter(source=source, type=TASK_COMPLETED, idempotency_key__startswith=f"{project_id}:")
        .exclude(status=Event.Status.REJECTED)
        .order_by("pk")
        .values_list("idempotency_key", "status")
    )
    latest: dict[str, str] = {}
    first: set[str] = set()
    for key, status in rows.iterator(chunk_size=5000):
        task, rerun, _ = key.partition(RERUN_SEPARATOR)
        latest[task] = status
        if not rerun:
            first.add(task)
    return {task: TaskHistory(latest=status, first_key_taken=task in first) for task, status in latest.items()}
