"""Intake's background work."""

from __future__ import annotations

from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from webhooks.models import Event
from webhooks.services import event_bodies_erase, paused_events_process


@shared_task(acks_late=True)
def process_paused_events(source_id: int) -> int:
    return paused_events_process(source_id=source_id)


@shared_task
def process_waiting_events() -> int:
    """Apply events still waiting for sources that are no longer paused.

    A webhook that read its source as paused just before a resume is stored
    after the resume's own task ran; this periodic pass picks it up.
    """
    waiting = (
        Event.objects.filter(status=Event.Status.PAUSED, source__paused=False)
        .values_list("source_id", flat=True)
        .distinct()
    )
    return sum(paused_events_process(source_id=source_id) for source_id in waiting)


@shared_task
def prune_event_payloads() -> int:
    """Blank the raw bodies of events older than EVENT_RETENTION_DAYS; the rows stay."""
    cutoff = timezone.now() - timedelta(days=settings.EVENT_RETENTION_DAYS)
    return (
        Event.objects.filter(received_at__lt=cutoff)
        .exclude(body="")
        # Events still to be applied or settled need their body.
        .exclude(status__in=[Event.Status.PAUSED, Event.Status.PROCESSING])
        .update(body="")
    )


@shared_task
def erase_event_bodies(source_id: int, user_id: str) -> int:
    """After a user.deleted: blank the raw bodies that carry the user's id."""
    return event_bodies_erase(source_id=source_id, user_id=user_id)
