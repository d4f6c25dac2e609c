"""Alert metrics (see common.metrics)."""

from __future__ import annotations

from prometheus_client import Counter

ALERTS = Counter("tally_alerts", "Alert occurrences raised, by severity (throttled ones included).", ["severity"])
MESSAGES_SENT = Counter("tally_alert_messages_sent", "Alert messages Telegram accepted.")
TELEGRAM_FAILURES = Counter(
    "tally_telegram_send_failures", "Telegram sends that failed, by kind (transient, permanent).", ["kind"]
)
