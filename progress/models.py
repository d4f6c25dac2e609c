"""Progress jobs: long work split over workers, each reporting `current/total`."""

from __future__ import annotations

from django.db import models

ID_LENGTH = 200
TEXT_LENGTH = 1000


class Job(models.Model):
    """One job, named by its caller (`jobid`); `create` on an existing one starts it again."""

    jobid = models.CharField(max_length=ID_LENGTH, unique=True)
    description = models.TextField(blank=True)
    maxage = models.PositiveIntegerField(
        null=True, blank=True, help_text="Seconds without activity before the job is pruned (default: retention)."
    )
    created = models.DateTimeField(help_text="When the job was created, or last reset by create.")

    class Meta:
        ordering = ["-created"]

    def __str__(self) -> str:
        return self.jobid


class Worker(models.Model):
    """One worker's latest report; created by its first update."""

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="workers")
    workid = models.CharField(max_length=ID_LENGTH)
    current = models.FloatField()
    total = models.FloatField()
    text = models.CharField(max_length=TEXT_LENGTH, blank=True)
    ok = models.BooleanField(default=True)
    updated = models.DateTimeField()

    class Meta:
        ordering = ["job_id", "workid"]
        # No check on current and total: a report is kept as sent (above its
        # total, of a total of 0, even negative) and only its drawing is bounded.
        constraints = [models.UniqueConstraint(fields=["job", "workid"], name="progress_worker_unique")]

    def __str__(self) -> str:
        return f"{self.job_id}:{self.workid}"

    @property
    def percent(self) -> float:
        """How full the bar is drawn, 0 to 100: full above the total, empty for a total of 0 or less."""
        if self.total <= 0 or self.current <= 0:
            return 0.0
        # Divide first: 100 * current overflows to inf for current near the float limit.
        return min(100.0, 100.0 * (self.current / self.total))

    @property
    def done(self) -> bool:
        return self.total > 0 and self.current >= self.total
