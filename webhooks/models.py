"""Sources that send webhooks, the events they sent, and per-day intake counters."""

from __future__ import annotations

from decimal import Decimal

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from common.fields import EncryptedTextField


class Source(models.Model):
    """A platform posting webhooks to /api/v1/webhooks/<slug>/."""

    class Kind(models.TextChoices):
        NATIVE = "native", "Native"
        PYBOSSA = "pybossa", "PYBOSSA"

    class AuthMode(models.TextChoices):
        STANDARD = "standard", "Standard Webhooks signature"
        TOKEN = "token", "Bearer token or ?token="
        NONE = "none", "None (IP allow-list only)"

    class Analysis(models.TextChoices):
        """The built-in analyses of PYBOSSA task runs; `pybossa_analysis` may also name a callable."""

        MAJORITY = "majority", "Majority: the most voted answer"
        QUORUM = "quorum", "Quorum: settled once pybossa_quorum runs agree"

    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200, blank=True)
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.NATIVE)
    auth_mode = models.CharField(max_length=16, choices=AuthMode.choices, default=AuthMode.STANDARD)
    secret = EncryptedTextField(blank=True, help_text="whsec_… signing secret (standard auth).")
    previous_secret = EncryptedTextField(
        blank=True, help_text="Still accepted while the platform moves to the new secret."
    )
    previous_token = EncryptedTextField(
        blank=True, help_text="Still accepted while the platform moves to the new token."
    )
    previous_expires_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="After this the previous secret or token is refused (empty: accepted until cleared).",
    )
    token = EncryptedTextField(blank=True, help_text="Shared token (token auth).")
    active = models.BooleanField(default=True, help_text="Inactive sources answer 404.")
    paused = models.BooleanField(default=False, help_text="Paused sources store webhooks and apply them when resumed.")
    allowed_ips = models.JSONField(default=list, blank=True, help_text="CIDR list; empty allows all.")
    denied_ips = models.JSONField(default=list, blank=True, help_text="CIDR list.")
    rate_limit_per_minute = models.PositiveIntegerField(null=True, blank=True)
    pass_ratio = models.DecimalField(
        max_digits=4,
        decimal_places=3,
        default=Decimal("0.5"),
        validators=[MinValueValidator(Decimal(0)), MaxValueValidator(Decimal(1))],
        help_text="score/max_score at or above which a result passes when `passed` is absent.",
    )
    pybossa_url = models.URLField(blank=True)
    pybossa_api_key = EncryptedTextField(blank=True)
    # db_default: code of the previous release, running beside this migration, inserts without them.
    pybossa_analysis = models.CharField(
        max_length=255,
        default="majority",
        db_default="majority",
        help_text="How a PYBOSSA task's runs are analysed: majority, quorum, "
        "or the dotted path of a Python callable (see docs/pybossa.md).",
    )
    pybossa_quorum = models.PositiveIntegerField(
        null=True, blank=True, help_text="With the quorum analysis: how many task runs must give the same answer."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # On PostgreSQL a trigger gives every inserted or updated row a new value
    # from a sequence, whatever the writer (the admin, QuerySet.update(), SQL):
    # the intake's per-process cache of sources is checked against it.
    revision = models.BigIntegerField(
        default=0, db_default=0, editable=False, help_text="Changes whenever the row does."
    )

    class Meta:
        ordering = ["slug"]
        constraints = [
            models.CheckConstraint(
                condition=Q(pass_ratio__gte=0) & Q(pass_ratio__lte=1), name="source_pass_ratio_range"
            ),
            models.CheckConstraint(
                condition=Q(rate_limit_per_minute__isnull=True) | Q(rate_limit_per_minute__gt=0),
                name="source_rate_limit_positive",
            ),
            models.CheckConstraint(
                condition=Q(pybossa_quorum__isnull=True) | Q(pybossa_quorum__gt=0),
                name="source_pybossa_quorum_positive",
            ),
        ]

    def __str__(self) -> str:
        return self.slug

    def _accepted(self, current: str, previous: str) -> list[str]:
        in_grace = self.previous_expires_at is None or self.previous_expires_at > timezone.now()
        return [value for value in (current, previous if in_grace else "") if value]

    @property
    def verifying_secrets(self) -> list[str]:
        """The secrets a signature may be made with: the current one, and the previous one in its grace period."""
        return self._accepted(self.secret, self.previous_secret)

    @property
    def accepted_tokens(self) -> list[str]:
        """The current token, and the previous one in its grace period."""
        return self._accepted(self.token, self.previous_token)


class Event(models.Model):
    """One received webhook, kept raw with its outcome."""

    class Status(models.TextChoices):
        ACCEPTED = "accepted", "Accepted"
        IGNORED = "ignored", "Ignored (unknown type)"
        PAUSED = "paused", "Waiting (source paused)"
        REJECTED = "rejected", "Rejected"
        PROCESSING = "processing", "Processing (waiting for PYBOSSA)"
        FAILED = "failed", "Failed while processing"

    source = models.ForeignKey(Source, on_delete=models.PROTECT, related_name="events")
    idempotency_key = models.CharField(max_length=255, blank=True)
    type = models.CharField(max_length=100, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices)
    error_code = models.CharField(max_length=64, blank=True)
    error_detail = models.JSONField(null=True, blank=True)
    body = models.TextField(blank=True, help_text="Raw body; truncated for rejected ones, pruned when old.")
    received_at = models.DateTimeField()
    processed_at = models.DateTimeField(null=True, blank=True)
    # db_default: code of the previous release, running beside this migration, inserts without it.
    request_id = models.CharField(
        max_length=64, blank=True, db_default="", help_text="The X-Request-ID of the intake, as logged."
    )

    class Meta:
        ordering = ["-id"]
        constraints = [
            # Rejected requests do not take the key: the platform may fix the
            # payload and send it again under the same id.
            models.UniqueConstraint(
                fields=["source", "idempotency_key"],
                condition=~Q(status="rejected"),
                name="event_unique_key_per_source",
            ),
            models.CheckConstraint(
                condition=Q(status="rejected") | ~Q(idempotency_key=""),
                name="event_key_unless_rejected",
            ),
        ]
        indexes = [
            models.Index(fields=["source", "received_at"]),
            models.Index(fields=["status", "received_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.source_id}:{self.idempotency_key or self.pk}"


class IntakeCounter(models.Model):
    """How many requests one source sent on one day, by outcome.

    Outcomes: accepted, duplicate, ignored, paused, and rejected:<error code>.
    """

    source = models.ForeignKey(Source, on_delete=models.CASCADE, related_name="counters")
    day = models.DateField()
    outcome = models.CharField(max_length=64)
    count = models.PositiveBigIntegerField(default=0)

    class Meta:
        ordering = ["-day", "source", "outcome"]
        constraints = [
            models.UniqueConstraint(fields=["source", "day", "outcome"], name="intake_counter_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.source_id} {self.day} {self.outcome}: {self.count}"
