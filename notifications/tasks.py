"""Alert sending. These tasks never raise, so they never alert about themselves."""

from __future__ import annotations

import logging

from celery import shared_task

from notifications.services import alerts_flush, alerts_prune, messages_send_due, unstored_alert_send

logger = logging.getLogger(__name__)


@shared_task(soft_time_limit=120, time_limit=150)
def send_alerts() -> int:
    """Send due alert messages."""
    try:
        return messages_send_due()
    except Exception:
        logger.exception("sending alerts failed; the next flush tries again")
        return 0


@shared_task(soft_time_limit=120, time_limit=150)
def flush_alerts() -> int:
    """Close throttling windows (queueing digests) and send what is due (Celery beat)."""
    try:
        alerts_flush()
        return messages_send_due()
    except Exception:
        logger.exception("flushing alerts failed; the next flush tries again")
        return 0


@shared_task(soft_time_limit=60, time_limit=90)
def send_unstored_alert(text: str) -> None:
    """Send an alert the database could not store; it needs no database."""
    try:
        unstored_alert_send(text=text)
    except Exception:
        logger.exception("sending an unstored alert failed")


@shared_task
def prune_alerts() -> int:
    """Delete closed alerts older than ALERT_RETENTION_DAYS, and their messages (beat, hourly)."""
    return alerts_prune()
