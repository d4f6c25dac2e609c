"""Raising alerts (stored, throttled by fingerprint) and sending them to Telegram.

`alert_raise` is safe to call from anywhere, the request path included: it
only writes rows and, after commit, asks a worker to send. Telegram being
slow or down never reaches the caller.
"""

from __future__ import annotations

import html
import json
import logging
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import DatabaseError, connection, models, transaction
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from common.backoff import backoff_delay
from common.claims import rows_claim
from common.db import delete_in_batches
from common.logging import current_request_id, scrub
from notifications import transport
from notifications.metrics import ALERTS, MESSAGES_SENT, TELEGRAM_FAILURES
from notifications.models import Alert, Message

logger = logging.getLogger(__name__)

SEVERITY_ICON = {"info": "🔵", "warning": "🟠", "error": "🔴", "critical": "🚨"}
SEVERITY_LEVEL = {
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
}
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
) -> int | None:
    """Store an alert and queue its message, at most once per fingerprint per throttle window.

    Returns the id of the alert (its window), or None if it could not be stored.

    Never raises: an alert that cannot be stored is logged instead.
    """
    try:
        ALERTS.labels(severity=severity).inc()
        title = scrub(title)
        details = {str(k): scrub(str(v))[:500] for k, v in (details or {}).items()}
        if request_id := current_request_id():
            # The id to look for in the logs of every process that handled it.
            details.setdefault("request", request_id)
        level = SEVERITY_LEVEL.get(severity, logging.ERROR)
        logger.log(level, "alert: %s", title, extra={"alert": fingerprint, "details": details})
    except Exception:
        logger.exception("alert could not be prepared", extra={"alert": fingerprint})
        return None
    try:
        return _alert_store(fingerprint[:200], title[:200], severity, details, admin_url[:500])
    except DatabaseError:
        # The database is what failed: send straight from a worker instead,
        # throttled in the cache, so an outage still reaches the administrators.
        logger.exception("alert could not be stored; sending it unstored", extra={"alert": fingerprint})
        _send_unstored(fingerprint, alert_text(severity=severity, title=title, details=details, admin_url=admin_url))
        return None
    except Exception:
        logger.exception("alert could not be stored", extra={"alert": fingerprint})
        return None


def _send_unstored(fingerprint: str, text: str) -> None:
    from notifications.tasks import send_unstored_alert  # tasks import this module

    try:
        if settings.TELEGRAM_BOT_TOKEN and cache.add(
            f"alerts:unstored:{fingerprint}", 1, timeout=settings.ALERT_THROTTLE_SECONDS
        ):
            send_unstored_alert.apply_async(args=(text,), retry=False)
    except Exception:
        logger.warning("could not queue an unstored alert", exc_info=True)


_OPEN_SQL = """
INSERT INTO notifications_alert AS a (
    fingerprint, severity, title, details, admin_url, count, first_seen_at, last_seen_at, closed
) VALUES (%s, %s, %s, CAST(%s AS jsonb), %s, 1, %s, %s, false)
ON CONFLICT (fingerprint) WHERE NOT closed DO UPDATE SET count = a.count + 1, last_seen_at = excluded.last_seen_at
RETURNING a.id, a.count, a.first_seen_at
"""


def _alert_store(fingerprint: str, title: str, severity: str, details: dict[str, str], admin_url: str) -> int:
    """Count the occurrence into its window, or open one and queue its message; return the alert's id."""
    now = timezone.now()
    window = timedelta(seconds=settings.ALERT_THROTTLE_SECONDS)
    params: list[Any] = [fingerprint, severity, title, json.dumps(details), admin_url, now, now]
    with transaction.atomic():
        # One open window per fingerprint (a partial unique index): the
        # upsert either opens it or counts into it, under its row lock.
        with connection.cursor() as cursor:
            cursor.execute(_OPEN_SQL, params)
            alert_id, count, first_seen_at = cursor.fetchone()
        if count > 1 and first_seen_at > now - window:
            return int(alert_id)  # throttled: counted into the window
        if count > 1:
            # The window is over: this occurrence opens the next one.
            Alert.objects.filter(pk=alert_id).update(count=models.F("count") - 1)
            _window_close(Alert.objects.get(pk=alert_id))
            alert_id = Alert.objects.create(
                fingerprint=fingerprint,
                severity=severity,
                title=title,
                details=details,
                admin_url=admin_url,
                first_seen_at=now,
                last_seen_at=now,
            ).pk
        text = alert_text(severity=severity, title=title, details=details, admin_url=admin_url)
        _messages_queue(alert_id, Message.Kind.ALERT, text)
    return int(alert_id)


def _window_close(alert: Alert) -> None:
    """Close a throttling window; if more came after the first, queue the digest."""
    Alert.objects.filter(pk=alert.pk).update(closed=True)
    if alert.count > 1:
        _messages_queue(alert.pk, Message.Kind.DIGEST, digest_text(alert))


def _messages_queue(alert_id: int, kind: str, text: str) -> None:
    chats = settings.TELEGRAM_CHAT_IDS if settings.TELEGRAM_BOT_TOKEN else []
    now = timezone.now()
    if not chats:
        Message.objects.create(
            alert_id=alert_id, kind=kind, text=text, status=Message.Status.LOGGED, next_attempt_at=now
        )
        return
    Message.objects.bulk_create(
        [Message(alert_id=alert_id, kind=kind, chat_id=chat, text=text, next_attempt_at=now) for chat in chats]
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
    # Clip the raw text before escaping, so a cut never splits an entity or a
    # tag (Telegram refuses such a message); the budget keeps it under 4096.
    head = f"{SEVERITY_ICON.get(severity, '')} <b>{html.escape(_clip(title, 200))}</b>"
    link = f'<a href="{html.escape(admin_url, quote=True)}">Open in the admin</a>' if admin_url else ""
    budget = MAX_TEXT - len(head) - len(link)
    lines = [head]
    for key, value in list(details.items())[:12]:
        line = f"<b>{html.escape(_clip(key, 40))}</b>: {html.escape(_clip(str(value), 200))}"
        budget -= len(line) + 1
        if budget < 0:
            break
        lines.append(line)
    if link:
        lines.append(link)
    return "\n".join(lines)


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


def _claim_one() -> Message | None:
    """Take one due message under a short lease, just before sending it."""
    now = timezone.now()
    due = Message.objects.filter(status=Message.Status.PENDING, next_attempt_at__lte=now).order_by("next_attempt_at")
    # Longer than one send can take (two requests of at most 10 s each).
    lease = {
        "attempt_count": models.F("attempt_count") + 1,
        "next_attempt_at": now + timedelta(seconds=SEND_LEASE_SECONDS),
    }
    claimed = rows_claim(due=due, lease=lease)
    return claimed[0] if claimed else None


def messages_send_due(*, limit: int = 50) -> int:
    """Send due messages one by one; transient failures are retried later, permanent ones marked failed."""
    sent = 0
    while sent < limit:
        message = _claim_one()
        if message is None:
            break
        _send_one(message)
        sent += 1
    return sent


def _send_one(message: Message) -> None:
    attempts = message.attempt_count + 1  # the claim counted this one in the row, not in `message`
    try:
        transport.send_message(chat_id=message.chat_id, text=message.text)
    except transport.TransportError as exc:
        error = exc
    except Exception as exc:
        # Unexpected, so not known to be permanent: try again later.
        error = transport.TransportError(f"{type(exc).__name__}: {exc}", permanent=False)
    else:
        Message.objects.filter(pk=message.pk).update(status=Message.Status.SENT, sent_at=timezone.now(), last_error="")
        MESSAGES_SENT.inc()
        return
    TELEGRAM_FAILURES.labels(kind="permanent" if error.permanent else "transient").inc()
    if error.permanent or attempts >= settings.ALERT_MAX_ATTEMPTS:
        Message.objects.filter(pk=message.pk).update(status=Message.Status.FAILED, last_error=str(error)[:1000])
        logger.error("alert message failed for good", extra={"alert_message": message.pk, "error": str(error)})
        return
    # Telegram's flood control names the exact wait, shorter or longer than the schedule's.
    delay = error.retry_after or backoff_delay(schedule=settings.ALERT_RETRY_SCHEDULE, failures=attempts, jitter=0)
    Message.objects.filter(pk=message.pk).update(
        next_attempt_at=timezone.now() + timedelta(seconds=delay), last_error=str(error)[:1000]
    )
    logger.warning("alert message will be retried", extra={"alert_message": message.pk, "error": str(error)})


def unstored_alert_send(*, text: str) -> None:
    """Send an alert that could not be stored (the database failed) to every chat, once."""
    for chat in settings.TELEGRAM_CHAT_IDS:
        try:
            transport.send_message(chat_id=chat, text=text)
        except transport.TransportError as exc:
            TELEGRAM_FAILURES.labels(kind="permanent" if exc.permanent else "transient").inc()
            logger.error("unstored alert not sent", extra={"chat": chat, "error": str(exc)})
        else:
            MESSAGES_SENT.inc()


def alerts_prune(*, now: datetime | None = None, batch_size: int = 1000) -> int:
    """Delete closed alerts (with their messages) last seen more than ALERT_RETENTION_DAYS ago."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.ALERT_RETENTION_DAYS)
    old = Alert.objects.filter(closed=True, last_seen_at__lt=cutoff).exclude(messages__status=Message.Status.PENDING)
    return delete_in_batches(old, batch_size=batch_size)
