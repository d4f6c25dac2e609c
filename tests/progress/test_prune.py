"""Retention: jobs idle for their maxage (or PROGRESS_RETENTION_DAYS) are pruned and gone."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from progress.models import Job, Worker
from progress.tasks import prune_progress_jobs

pytestmark = pytest.mark.django_db


def job(jobid: str, *, idle: timedelta, maxage: int | None = None, worker_idle: timedelta | None = None) -> Job:
    now = timezone.now()
    made = Job.objects.create(jobid=jobid, maxage=maxage, created=now - idle)
    if worker_idle is not None:
        Worker.objects.create(job=made, workid="w", current=1, total=2, updated=now - worker_idle)
    return made


def test_the_periodic_task_prunes_jobs_idle_past_the_retention_and_keeps_the_rest(settings):
    settings.PROGRESS_RETENTION_DAYS = 7
    job("old", idle=timedelta(days=8))
    job("old-but-active", idle=timedelta(days=30), worker_idle=timedelta(days=1))
    job("fresh", idle=timedelta(days=6))

    assert prune_progress_jobs() == 1

    assert set(Job.objects.values_list("jobid", flat=True)) == {"old-but-active", "fresh"}


def test_maxage_overrides_the_retention_for_its_job(call):
    job("short", idle=timedelta(seconds=120), maxage=60)
    job("long", idle=timedelta(days=10), maxage=30 * 86400)
    job("short-but-active", idle=timedelta(seconds=300), maxage=60, worker_idle=timedelta(seconds=10))

    prune_progress_jobs()

    assert set(Job.objects.values_list("jobid", flat=True)) == {"long", "short-but-active"}
    assert not Worker.objects.filter(job__jobid="short").exists()


def test_an_expired_job_is_gone_for_readers_before_the_prune_runs(call):
    job("short", idle=timedelta(seconds=120), maxage=60)

    assert call("show", jobid="short").status_code == 404
    assert call("render", jobid="short").status_code == 404


def test_an_update_to_an_expired_job_not_yet_pruned_revives_it(call):
    job("short", idle=timedelta(seconds=120), maxage=60)

    assert call("update", jobid="short", workid="w", current=1, total=2).status_code == 200
    assert call("show", jobid="short").status_code == 200


def test_prune_runs_from_beat():
    from django.conf import settings

    entry = settings.CELERY_BEAT_SCHEDULE["prune-progress-jobs"]
    assert entry["task"] == "progress.tasks.prune_progress_jobs"
