"""Reads of progress jobs: one job's state, as the page, the JSON and the PNG show it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from progress.models import Job, Worker

_DIGITS = re.compile(r"(\d+)")


def job_lifetime(maxage: int | None) -> timedelta:
    """How long a job is kept after its last activity: its own maxage, else the retention."""
    if maxage is not None:
        return timedelta(seconds=maxage)
    return timedelta(days=settings.PROGRESS_RETENTION_DAYS)


def natural_key(text: str) -> tuple[tuple[int, int, str], ...]:
    """Sort key that puts `w2` before `w10`."""
    return tuple((0, int(part), "") if part.isdigit() else (1, 0, part) for part in _DIGITS.split(text) if part)


def format_percent(percent: float) -> str:
    return f"{percent:.1f} %"


def format_number(value: float) -> str:
    value = float(value)
    return str(int(value)) if value.is_integer() and abs(value) < 1e15 else f"{value:g}"


def format_age(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds} s ago"
    if seconds < 3600:
        return f"{seconds // 60} min ago"
    if seconds < 86400:
        return f"{seconds // 3600} h ago"
    return f"{seconds // 86400} d ago"


@dataclass(frozen=True)
class JobState:
    job: Job
    workers: list[Worker]
    now: datetime

    @property
    def last_activity(self) -> datetime:
        return max([self.job.created, *(worker.updated for worker in self.workers)])

    @property
    def expires_at(self) -> datetime:
        return self.last_activity + job_lifetime(self.job.maxage)

    @property
    def percent(self) -> float:
        """Overall progress: the mean of the workers' percentages (0 before any report)."""
        if not self.workers:
            return 0.0
        return sum(worker.percent for worker in self.workers) / len(self.workers)

    @property
    def done(self) -> int:
        return sum(1 for worker in self.workers if worker.done)

    @property
    def failing(self) -> int:
        return sum(1 for worker in self.workers if not worker.ok)

    @property
    def headline(self) -> str:
        """One line under the title, e.g. `12 workers, 3 done, 1 failing, 41.7 % overall`."""
        count = len(self.workers)
        parts = [f"{count} worker{'' if count == 1 else 's'}", f"{self.done} done"]
        if self.failing:
            parts.append(f"{self.failing} failing")
        parts.append(f"{format_percent(self.percent)} overall")
        return ", ".join(parts)

    def age_seconds(self, worker: Worker) -> float:
        return (self.now - worker.updated).total_seconds()


def job_state(*, jobid: str, now: datetime | None = None) -> JobState | None:
    """The job and its workers (sorted by worker id, naturally), or None if it is unknown or expired."""
    now = now or timezone.now()
    job = Job.objects.filter(jobid=jobid).first()
    if job is None:
        return None
    workers = sorted(Worker.objects.filter(job=job), key=lambda worker: natural_key(worker.workid))
    state = JobState(job=job, workers=workers, now=now)
    # Expired but not yet pruned: gone all the same.
    return None if state.expires_at < now else state
