"""Intake's background work."""

from __future__ import annotations

from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from webhooks.services import event_bodies_erase, event_payloads_prune, waiting_events_apply, waiting_events_sweep


@shared_task(acks_late=True)
def apply_waiting_events_of_source(source_id: int) -> int:
    """After a resume: apply the source's waiting events in arrival order."""
    return waiting_events_apply(source_id=source_id)


@shared_task
def sweep_waiting_events() -> int:
    """Periodically: apply the events left waiting for sources that are no longer paused."""
    return waiting_events_sweep()


@shared_task
def prune_event_payloads() -> int:
    """Blank the raw bodies of events older than EVENT_RETENTION_DAYS; the rows stay."""
    return event_payloads_prune(older_than=timezone.now() - timedelta(days=settings.EVENT_RETENTION_DAYS))


@shared_task
def erase_event_bodies(source_id: int, user_id: str) -> int:
    """After a user.deleted: blank the raw bodies that carry the user's id."""
    return event_bodies_erase(source_id=source_id, user_id=user_id)


# The names these tasks had until this release. Messages queued under them
# (and beat entries of a deployment not yet updated) still run; remove both
# aliases in the next release.


@shared_task(name="webhooks.tasks.process_paused_events", acks_late=True)
def process_paused_events_alias(source_id: int) -> int:
    """Old name of apply_waiting_events_of_source."""
    return apply_waiting_events_of_source(source_id)


@shared_task(name="webhooks.tasks.process_waiting_events")
def process_waiting_events_alias() -> int:
    """Old name of sweep_waiting_events."""
    return sweep_waiting_events()
