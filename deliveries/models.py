"""Destinations (client servers), the delivery outbox, and every attempt made."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone

from common.fields import EncryptedJSONField, EncryptedTextField
from common.ids import parse_id


class Destination(models.Model):
    """A client company's server that receives summaries of some sources."""

    name = models.CharField(max_length=100, unique=True)
    url = models.URLField(max_length=2000)
    secret = EncryptedTextField(help_text="whsec_… secret the pushes are signed with.")
    previous_secret = EncryptedTextField(blank=True, help_text="Pushes are signed with this too until it expires.")
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True)
    headers = EncryptedJSONField(default=dict, blank=True, help_text="Static HTTP headers sent with every push.")
    sources = models.ManyToManyField("webhooks.Source", related_name="destinations", blank=True)
    active = models.BooleanField(default=True, help_text="Inactive destinations get no new deliveries.")
    disabled_at = models.DateTimeField(
        null=True, blank=True, help_text="Set when Tally stops sending (410 Gone, or failing too long)."
    )
    disabled_reason = models.CharField(max_length=300, blank=True)
    timeout_seconds = models.PositiveSmallIntegerField(default=10)
    max_attempts = models.PositiveSmallIntegerField(default=10)
    consecutive_failures = models.PositiveIntegerField(default=0)
    failing_since = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(timeout_seconds__gte=1) & Q(timeout_seconds__lte=60), name="destination_timeout_range"
            ),
            models.CheckConstraint(
                condition=Q(max_attempts__gte=1) & Q(max_attempts__lte=50), name="destination_attempts_range"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def signing_secrets(self) -> list[str]:
        """The current secret, and the previous one while its grace period lasts (a signature for each)."""
        previous_valid = (
            self.previous_secret
            and self.previous_secret_expires_at is not None
            and self.previous_secret_expires_at > timezone.now()
        )
        return [self.secret, self.previous_secret] if previous_valid else [self.secret]


class Delivery(models.Model):
    """The outbox row: the latest summary of one user to push to one destination.

    At most one row per (destination, source, user) is pending and at most one
    is in flight; a newer version replaces a pending row's snapshot.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        IN_FLIGHT = "in_flight", "In flight"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed"
        DEAD = "dead", "Dead (attempts exhausted)"
        SUPERSEDED = "superseded", "Superseded by a newer version"

    class Kind(models.TextChoices):
        SUMMARY_UPDATED = "user.summary.updated", "Summary updated"
        USER_DELETED = "user.deleted", "User deleted"

    destination = models.ForeignKey(Destination, on_delete=models.CASCADE, related_name="deliveries")
    source = models.ForeignKey("webhooks.Source", on_delete=models.PROTECT, related_name="+")
    user_id = models.CharField(max_length=255)
    kind = models.CharField(max_length=32, choices=Kind.choices, default=Kind.SUMMARY_UPDATED)
    version = models.PositiveBigIntegerField()
    snapshot = models.JSONField(help_text="The push's `data`, as of `version`.")
    snapshot_at = models.DateTimeField(help_text="When the summary reached this version.")
    rerun = models.BooleanField(default=False)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    # The column keeps its first name: renaming it would break the previous
    # release's code, which runs beside this release's migrations.
    attempt_count = models.PositiveIntegerField(default=0, db_column="attempts")
    next_attempt_at = models.DateTimeField()
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    claim = models.CharField(max_length=32, blank=True, help_text="Who holds the lease.")
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    # db_default: code of the previous release, running beside this migration, inserts without it.
    request_id = models.CharField(
        max_length=64,
        blank=True,
        db_default="",
        help_text="The request that made the version this row carries, as logged.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "deliveries"
        constraints = [
            models.UniqueConstraint(
                fields=["destination", "source", "user_id"],
                condition=Q(status="pending"),
                name="delivery_one_pending_per_user",
            ),
            models.UniqueConstraint(
                fields=["destination", "source", "user_id"],
                condition=Q(status="in_flight"),
                name="delivery_one_in_flight_per_user",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="delivery_due"),
            models.Index(fields=["status", "lease_expires_at"], name="delivery_lease"),
            models.Index(fields=["destination", "source", "user_id", "-version"], name="delivery_user_versions"),
        ]

    def __str__(self) -> str:
        return self.webhook_id

    @property
    def webhook_id(self) -> str:
        """Stable across retries of one version; a new version or a replay gets a new id."""
        return f"dlv_{self.pk}_{self.version}"


class Attempt(models.Model):
    """One POST of a delivery, as it went."""

    class Level(models.TextChoices):
        INFO = "info", "Info"
        WARNING = "warning", "Warning"
        ERROR = "error", "Error"

    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="attempt_log")
    number = models.PositiveIntegerField()
    version = models.PositiveBigIntegerField()
    started_at = models.DateTimeField()
    duration_ms = models.PositiveIntegerField()
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    response_excerpt = models.TextField(blank=True, help_text="At most 2 KB of the response body.")
    error = models.TextField(blank=True)
    level = models.CharField(max_length=8, choices=Level.choices)

    class Meta:
        ordering = ["-started_at"]
        indexes = [models.Index(fields=["delivery", "number"])]

    def __str__(self) -> str:
        return f"{self.delivery_id} #{self.number}"


def delivery_pk(public_id: str) -> int | None:
    """The row of a delivery's public id (`dlv_<pk>_<version>`, its webhook-id) or of a bare number."""
    return parse_id(public_id, prefix="dlv_")
