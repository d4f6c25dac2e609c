"""Writes of progress jobs: create (or reset), a worker's report, pruning."""

from __future__ import annotations

from datetime import datetime

from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from progress.models import Job, Worker
from progress.selectors import job_lifetime


def job_create(*, jobid: str, description: str = "", maxage: int | None = None) -> tuple[Job, bool]:
    """Create a job, or reset an existing one: its workers' reports are dropped.

    Returns the job and whether it is new. The reset holds the job's row lock;
    reports committed after it land as usual.
    """
    with transaction.atomic():
        job, created = Job.objects.update_or_create(
            jobid=jobid, defaults={"description": description, "maxage": maxage, "created": timezone.now()}
        )
        if not created:
            job.workers.all().delete()
    return job, created


def worker_update(
    *, jobid: str, workid: str, current: float, total: float, text: str | None = None, ok: bool = True
) -> tuple[Worker, bool]:
    """Record one worker's report, creating its row on first sight. `text=None` keeps the last text.

    A report for a job nobody created (or one reset or pruned away) creates
    the job, with no description and the default retention: clients fire
    and forget, so a report is kept whenever it can be drawn. Returns the
    worker and whether its job was created by this report.
    """
    now = timezone.now()
    worker = Worker(workid=workid, current=current, total=total, text=text or "", ok=ok, updated=now)
    fields = ["current", "total", "ok", "updated"] + (["text"] if text is not None else [])
    try:
        return worker, _worker_write(jobid, worker, fields)
    except IntegrityError:
        # The job was pruned between the lookup and the write: make it again, once.
        return worker, _worker_write(jobid, worker, fields)


def _worker_write(jobid: str, worker: Worker, fields: list[str]) -> bool:
    job, created = Job.objects.get_or_create(jobid=jobid, defaults={"created": worker.updated})
    worker.job, worker.pk = job, None
    with transaction.atomic():
        Worker.objects.bulk_create(
            [worker], update_conflicts=True, unique_fields=["job", "workid"], update_fields=fields
        )
    return created


def jobs_prune(*, now: datetime | None = None) -> int:
    """Delete jobs with no activity for their lifetime (maxage, else PROGRESS_RETENTION_DAYS).

    One DELETE per distinct maxage, with the idleness checked in the
    statement itself, so a job that reports while the prune runs is kept.
    """
    now = now or timezone.now()
    deleted = 0
    for maxage in Job.objects.order_by().values_list("maxage", flat=True).distinct():
        cutoff = now - job_lifetime(maxage)
        recent = Worker.objects.filter(job=OuterRef("pk"), updated__gte=cutoff)
        idle = Job.objects.filter(maxage=maxage) if maxage is not None else Job.objects.filter(maxage__isnull=True)
        deleted += idle.filter(created__lt=cutoff).exclude(Exists(recent)).delete()[1].get(Job._meta.label, 0)
    return deleted
