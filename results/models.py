"""Per-unit results and per-user summaries."""

from __future__ import annotations

from decimal import Decimal

from django.db import models
from django.db.models import F, Q

# A score or max score is at most 9,999,999,999.99 (12 digits, 2 after the
# point; the intake refuses more). Totals have 30 digits: overflowing them
# would take more than 10^17 maximal results for one user, which no
# sequence of accepted events can reach.
SCORE_DIGITS = 12
TOTAL_DIGITS = 30


class Result(models.Model):
    """One user's current outcome on one unit of work (a test, a task).

    The row holds the state that counts: the latest completion by
    (completed_at, attempt, arrival), or a reset, which does not count.
    `first_completed_at` / `last_completed_at` remember every completion ever
    seen for the unit, so the summary's activity times are kept by LEAST /
    GREATEST and agree with a rebuild.
    """

    source = models.ForeignKey("webhooks.Source", on_delete=models.PROTECT, related_name="results")
    user_id = models.CharField(max_length=255)
    unit_id = models.CharField(max_length=255)
    title = models.CharField(max_length=500, blank=True)
    course_id = models.CharField(max_length=255, blank=True)
    score = models.DecimalField(max_digits=SCORE_DIGITS, decimal_places=2)
    max_score = models.DecimalField(max_digits=SCORE_DIGITS, decimal_places=2)
    passed = models.BooleanField()
    attempt = models.PositiveIntegerField()
    completed_at = models.DateTimeField(help_text="Time of the state that counts (a reset's time for resets).")
    # The column keeps its first name, so the previous release runs beside the migration.
    is_counted = models.BooleanField(default=True, db_column="counts", help_text="False once the unit was reset.")
    first_completed_at = models.DateTimeField(null=True, blank=True)
    last_completed_at = models.DateTimeField(null=True, blank=True)
    event = models.ForeignKey("webhooks.Event", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["source", "user_id", "unit_id"]
        constraints = [
            models.UniqueConstraint(fields=["source", "user_id", "unit_id"], name="result_unique_unit"),
            models.CheckConstraint(condition=Q(score__gte=0), name="result_score_non_negative"),
            models.CheckConstraint(
                condition=Q(is_counted=False) | (Q(max_score__gt=0) & Q(score__lte=F("max_score"))),
                name="result_score_within_max",
            ),
        ]
        # A push lists a user's latest counted results: read newest first
        # from here, it costs the same for a user's 1st result as for the 10,000th.
        indexes = [
            models.Index(
                fields=["source", "user_id", "-completed_at", "unit_id"],
                condition=Q(is_counted=True),
                name="result_counted_latest",
            )
        ]

    def __str__(self) -> str:
        return f"{self.source_id}:{self.user_id}:{self.unit_id}"


class Summary(models.Model):
    """One user's subtotals for one source, kept in the transaction that changes a result.

    A user erased by `user.deleted` keeps a row with no personal data and
    `deleted_at` set, so `version` never goes backwards for receivers.
    """

    source = models.ForeignKey("webhooks.Source", on_delete=models.PROTECT, related_name="summaries")
    user_id = models.CharField(max_length=255)
    user_email = models.CharField(max_length=320, blank=True)
    user_name = models.CharField(max_length=300, blank=True)
    organization = models.CharField(max_length=255, blank=True)
    units_completed = models.PositiveIntegerField(default=0)
    units_passed = models.PositiveIntegerField(default=0)
    score_total = models.DecimalField(max_digits=TOTAL_DIGITS, decimal_places=2, default=Decimal("0.00"))
    max_score_total = models.DecimalField(max_digits=TOTAL_DIGITS, decimal_places=2, default=Decimal("0.00"))
    percent = models.DecimalField(max_digits=5, decimal_places=2, default=Decimal("0.00"))
    first_activity_at = models.DateTimeField(null=True, blank=True)
    last_activity_at = models.DateTimeField(null=True, blank=True)
    version = models.PositiveBigIntegerField(default=0)
    deleted_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["source", "user_id"]
        verbose_name_plural = "summaries"
        constraints = [
            models.UniqueConstraint(fields=["source", "user_id"], name="summary_unique_user"),
            models.CheckConstraint(
                condition=Q(units_passed__lte=F("units_completed")), name="summary_passed_within_completed"
            ),
            models.CheckConstraint(
                condition=Q(score_total__gte=0) & Q(score_total__lte=F("max_score_total")),
                name="summary_score_within_max",
            ),
            models.CheckConstraint(condition=Q(percent__gte=0) & Q(percent__lte=100), name="summary_percent_range"),
        ]
        indexes = [models.Index(fields=["updated_at", "id"])]

    def __str__(self) -> str:
        return f"{self.source_id}:{self.user_id} v{self.version}"
