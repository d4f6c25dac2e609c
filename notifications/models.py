"""Alerts for administrators and the Telegram messages that carry them."""

from __future__ import annotations

from django.db import models
from django.db.models import Q


class Alert(models.Model):
    """One throttling window of one kind of trouble (its fingerprint).

    The first occurrence opens the window and is sent at once; later ones
    within ALERT_THROTTLE_SECONDS only raise `count`, and when the window
    closes one digest says how many more there were.
    """

    class Severity(models.TextChoices):
        INFO = "info", "Info"
        WARNING = "warning", "Warning"
        ERROR = "error", "Error"
        CRITICAL = "critical", "Critical"

    fingerprint = models.CharField(max_length=200)
    severity = models.CharField(max_length=10, choices=Severity.choices)
    title = models.CharField(max_length=200)
    details = models.JSONField(default=dict, blank=True)
    admin_url = models.CharField(max_length=500, blank=True)
    count = models.PositiveIntegerField(default=1, help_text="Occurrences in this window, the first included.")
    first_seen_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()
    closed = models.BooleanField(default=False, help_text="The throttling window is over.")

    class Meta:
        ordering = ["-last_seen_at"]
        constraints = [
            models.UniqueConstraint(fields=["fingerprint"], condition=Q(closed=False), name="alert_one_open_window"),
        ]
        indexes = [models.Index(fields=["closed", "first_seen_at"])]

    def __str__(self) -> str:
        return f"[{self.severity}] {self.title}"


class Message(models.Model):
    """One Telegram message to one chat: an alert, or a window's digest."""

    class Kind(models.TextChoices):
        ALERT = "alert", "Alert"
        DIGEST = "digest", "Digest"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed (permanent)"
        LOGGED = "logged", "Logged only (no bot token)"

    alert = models.ForeignKey(Alert, on_delete=models.CASCADE, related_name="messages")
    kind = models.CharField(max_length=8, choices=Kind.choices)
    chat_id = models.CharField(max_length=64, blank=True)
    text = models.TextField()
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING)
    # The column keeps its old name, so the previous release runs beside the migration.
    attempt_count = models.PositiveIntegerField(default=0, db_column="attempts")
    next_attempt_at = models.DateTimeField()
    last_error = models.TextField(blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["status", "next_attempt_at"])]

    def __str__(self) -> str:
        return f"{self.kind} {self.alert_id} → {self.chat_id or '(log)'}"
