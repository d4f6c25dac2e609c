"""Raising alerts (stored, throttled by fingerprint) and sending them to Telegram.

`alert_raise` is safe to call from anywhere, the request path included: it
only writes rows and, after commit, asks a worker to send. Telegram being
slow or down never reaches the caller.
"""

from __future__ import annotations

import html
import json
import logging
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import DatabaseError, connection, models, transaction
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from notifications import transport
from notifications.models import Alert, Message

logger = logging.getLogger(__name__)

SEVERITY_ICON = {"info": "🔵", "warning": "🟠", "error": "🔴", "critical": "🚨"}
SEVERITY_LEVEL = {
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
}
RETRY_SECONDS = [10, 30, 60, 300, 900, 1800, 3600]
MAX_TEXT = 3500  # Telegram allows 4096; leave room for the markup
SEND_LEASE_SECONDS = 60


def admin_link(obj: models.Model) -> str:
    """Absolute URL of an object's admin page."""
    meta = obj._meta
    try:
        path = reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[obj.pk])
    except NoReverseMatch:
        return ""
    return settings.TALLY_BASE_URL.rstrip("/") + path


def alert_raise(
    *,
    fingerprint: str,
    title: str,
    severity: str = Alert.Severity.ERROR,
    details: dict[str, Any] | None = None,
    admin_url: str = "",
) -> Alert | None:
    """Store an alert and queue its message, at most once per fingerprint per throttle window.

    Never raises: an alert that cannot be stored is logged instead.
    """
    details = {str(k): str(v)[:500] for k, v in (details or {}).items()}
    logger.log(SEVERITY_LEVEL.get(severity, logging.ERROR), "alert: %s", title, extra={"alert": fingerprint, **details})
    try:
        return _alert_store(fingerprint[:200], title[:200], severity, details, admin_url[:500])
    except DatabaseError:
        logger.exception("alert could not be stored", extra={"alert": fingerprint})
        return None


_OPEN_SQL = """
INSERT INTO notifications_alert AS a (
    fingerprint, severity, title, details, admin_url, count, first_seen_at, last_seen_at, closed
) VALUES (%s, %s, %s, {json}, %s, 1, %s, %s, false)
ON CONFLICT (fingerprint) WHERE NOT closed DO UPDATE SET count = a.count + 1, last_seen_at = excluded.last_seen_at
RETURNING a.id, a.count, a.first_seen_at
"""


def _alert_store(fingerprint: str, title: str, severity: str, details: dict[str, str], admin_url: str) -> Alert:
    now = timezone.now()
    window = timedelta(seconds=settings.ALERT_THROTTLE_SECONDS)
    json_placeholder = "CAST(%s AS jsonb)" if connection.vendor == "postgresql" else "%s"
    params: list[Any] = [fingerprint, severity, title, json.dumps(details), admin_url, now, now]
    with transaction.atomic():
        # One open window per fingerprint (a partial unique index): the
        # upsert either opens it or counts into it, under its row lock.
        with connection.cursor() as cursor:
            cursor.execute(_OPEN_SQL.format(json=json_placeholder), params)
            alert_id, count, first_seen_at = cursor.fetchone()
        if count > 1 and first_seen_at > now - window:
            return Alert.objects.get(pk=alert_id)  # throttled: counted into the window
        if count > 1:
            # The window is over: this occurrence opens the next one.
            Alert.objects.filter(pk=alert_id).update(count=models.F("count") - 1)
            _window_close(Alert.objects.get(pk=alert_id))
            alert = Alert.objects.create(
                fingerprint=fingerprint,
                severity=severity,
                title=title,
                details=details,
                admin_url=admin_url,
                first_seen_at=now,
                last_seen_at=now,
            )
        else:
            alert = Alert.objects.get(pk=alert_id)
        text = alert_text(severity=severity, title=title, details=details, admin_url=admin_url)
        _messages_queue(alert, Message.Kind.ALERT, text)
    return alert


def _window_close(alert: Alert) -> None:
    """Close a throttling window; if more came after the first, queue the digest."""
    Alert.objects.filter(pk=alert.pk).update(closed=True)
    if alert.count > 1:
        _messages_queue(alert, Message.Kind.DIGEST, digest_text(alert))


def _messages_queue(alert: Alert, kind: str, text: str) -> None:
    chats = settings.TELEGRAM_CHAT_IDS if settings.TELEGRAM_BOT_TOKEN else []
    now = timezone.now()
    if not chats:
        Message.objects.create(alert=alert, kind=kind, text=text, status=Message.Status.LOGGED, next_attempt_at=now)
        return
    Message.objects.bulk_create(
        [Message(alert=alert, kind=kind, chat_id=chat, text=text, next_attempt_at=now) for chat in chats]
    )
    transaction.on_commit(_wake_sender)


def _wake_sender() -> None:
    from notifications.tasks import send_alerts  # tasks import this module

    try:
        send_alerts.apply_async(retry=False)
    except Exception:
        # The beat flush sends it later; the caller must never fail for this.
        logger.warning("could not queue the alert sender", exc_info=True)


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def alert_text(*, severity: str, title: str, details: dict[str, str], admin_url: str) -> str:
    """A short HTML message: severity, title, details (in the order given), a link to the admin."""
    lines = [f"{SEVERITY_ICON.get(severity, '')} <b>{html.escape(title)}</b>"]
    for key, value in details.items():
        lines.append(f"<b>{html.escape(key)}</b>: {html.escape(_clip(str(value), 300))}")
    if admin_url:
        lines.append(f'<a href="{html.escape(admin_url, quote=True)}">Open in the admin</a>')
    return _clip("\n".join(lines), MAX_TEXT)


def digest_text(alert: Alert) -> str:
    more = alert.count - 1
    minutes = max(1, round(settings.ALERT_THROTTLE_SECONDS / 60))
    text = (
        f"🔁 <b>{html.escape(alert.title)}</b>\n"
        f"… and {more} more like this in {minutes} min "
        f"(last at {alert.last_seen_at:%H:%M:%S} UTC)."
    )
    if alert.admin_url:
        text += f'\n<a href="{html.escape(alert.admin_url, quote=True)}">Open in the admin</a>'
    return text


def alerts_flush() -> int:
    """Close windows that are over (queueing their digests); return how many closed."""
    cutoff = timezone.now() - timedelta(seconds=settings.ALERT_THROTTLE_SECONDS)
    closed = 0
    with transaction.atomic():
        for alert in Alert.objects.select_for_update(skip_locked=True).filter(closed=False, first_seen_at__lte=cutoff):
            _window_close(alert)
            closed += 1
    return closed


def messages_send_due(*, limit: int = 50) -> int:
    """Send due messages; transient failures are retried later, permanent ones marked failed."""
    now = timezone.now()
    with transaction.atomic():
        due = list(
            Message.objects.select_for_update(skip_locked=True)
            .filter(status=Message.Status.PENDING, next_attempt_at__lte=now)
            .order_by("next_attempt_at")[:limit]
        )
        # A lease: another sender skips these until it runs out.
        Message.objects.filter(pk__in=[m.pk for m in due]).update(
            attempts=models.F("attempts") + 1, next_attempt_at=now + timedelta(seconds=SEND_LEASE_SECONDS)
        )
    for message in due:
        _send_one(message)
    return len(due)


def _send_one(message: Message) -> None:
    attempts = message.attempts + 1
    try:
        transport.send_message(chat_id=message.chat_id, text=message.text)
    except transport.TransportError as exc:
        if exc.permanent or attempts >= settings.ALERT_MAX_ATTEMPTS:
            Message.objects.filter(pk=message.pk).update(status=Message.Status.FAILED, last_error=str(exc)[:1000])
            logger.error("alert message failed for good", extra={"alert_message": message.pk, "error": str(exc)})
            return
        delay = exc.retry_after or RETRY_SECONDS[min(attempts, len(RETRY_SECONDS)) - 1]
        Message.objects.filter(pk=message.pk).update(
            next_attempt_at=timezone.now() + timedelta(seconds=delay), last_error=str(exc)[:1000]
        )
        logger.warning("alert message will be retried", extra={"alert_message": message.pk, "error": str(exc)})
        return
    Message.objects.filter(pk=message.pk).update(status=Message.Status.SENT, sent_at=timezone.now(), last_error="")
