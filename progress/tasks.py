"""Progress jobs' background work."""

from __future__ import annotations

from celery import shared_task

from progress.services import jobs_prune


@shared_task
def prune_progress_jobs() -> int:
    """Drop jobs idle for longer than their maxage or PROGRESS_RETENTION_DAYS."""
    return jobs_prune()
