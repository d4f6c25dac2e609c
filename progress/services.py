"""Writes of progress jobs: create (or reset), a worker's report, pruning."""

from __future__ import annotations

from datetime import datetime

from django.db import IntegrityError, transaction
from django.db.models import F, Max
from django.db.models.functions import Coalesce
from django.utils import timezone

from progress.models import Job, Worker
from progress.selectors import job_lifetime


class JobNotFound(Exception):
    """An update named a job that does not exist (never created, reset away or pruned)."""


def job_create(*, jobid: str, description: str = "", maxage: int | None = None) -> tuple[Job, bool]:
    """Create a job, or reset an existing one: its workers' reports are dropped.

    Returns the job and whether it is new. A report that lands while the reset
    runs is newer than it and is kept.
    """
    now = timezone.now()
    with transaction.atomic():
        job, created = Job.objects.update_or_create(
            jobid=jobid, defaults={"description": description, "maxage": maxage, "created": now}
        )
        if not created:
            job.workers.filter(updated__lte=now).delete()
    return job, created


def worker_update(
    *, jobid: str, workid: str, current: float, total: float, text: str | None = None, ok: bool = True
) -> Worker:
    """Record one worker's report, creating its row on first sight. `text=None` keeps the last text."""
    job_id = Job.objects.filter(jobid=jobid).values_list("pk", flat=True).first()
    if job_id is None:
        raise JobNotFound(jobid)
    worker = Worker(
        job_id=job_id, workid=workid, current=current, total=total, text=text or "", ok=ok, updated=timezone.now()
    )
    fields = ["current", "total", "ok", "updated"] + (["text"] if text is not None else [])
    try:
        with transaction.atomic():
            Worker.objects.bulk_create(
                [worker], update_conflicts=True, unique_fields=["job", "workid"], update_fields=fields
            )
    except IntegrityError as exc:
        # The job was pruned between the lookup and the write.
        raise JobNotFound(jobid) from exc
    return worker


def jobs_prune(*, now: datetime | None = None) -> int:
    """Delete jobs with no activity for their lifetime (maxage, else PROGRESS_RETENTION_DAYS)."""
    now = now or timezone.now()
    jobs = Job.objects.annotate(last=Coalesce(Max("workers__updated"), F("created"))).values_list(
        "pk", "last", "maxage"
    )
    expired = [pk for pk, last, maxage in jobs if last + job_lifetime(maxage) < now]
    for start in range(0, len(expired), 1000):
        Job.objects.filter(pk__in=expired[start : start + 1000]).delete()
    return len(expired)
