"""Aggregation: results per unit and summaries per user, kept by delta.

Every writer takes the user's summary row lock first, as results.locking
says, then reads and writes that user's results. Concurrent events for one
user therefore apply one after another, in lock order, and the summary always
equals what replaying them one by one gives.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

from django.db import transaction
from django.utils import timezone

from deliveries.outbox import deliveries_enqueue
from deliveries.retention import deliveries_erase_user
from results.locking import summaries_lock, summary_lock_for_intake
from results.models import Result, Summary

ZERO = Decimal("0.00")
CENT = Decimal("0.01")


@dataclass(frozen=True)
class UserRef:
    id: str
    email: str = ""
    name: str = ""


@dataclass(frozen=True)
class Completion:
    """A user finished a unit of work."""

    user: UserRef
    unit_id: str
    score: Decimal
    max_score: Decimal
    passed: bool
    attempt: int
    completed_at: datetime
    title: str = ""
    course_id: str = ""
    organization: str = ""


@dataclass(frozen=True)
class Totals:
    units_completed: int = 0
    units_passed: int = 0
    score_total: Decimal = ZERO
    max_score_total: Decimal = ZERO

    def __add__(self, other: Totals) -> Totals:
        return Totals(
            self.units_completed + other.units_completed,
            self.units_passed + other.units_passed,
            self.score_total + other.score_total,
            self.max_score_total + other.max_score_total,
        )

    def __sub__(self, other: Totals) -> Totals:
        return Totals(
            self.units_completed - other.units_completed,
            self.units_passed - other.units_passed,
            self.score_total - other.score_total,
            self.max_score_total - other.max_score_total,
        )

    @property
    def percent(self) -> Decimal:
        return summary_percent(self.score_total, self.max_score_total)


def summary_percent(score_total: Decimal, max_score_total: Decimal) -> Decimal:
    if max_score_total <= 0:
        return ZERO
    return (score_total * 100 / max_score_total).quantize(CENT, rounding=ROUND_HALF_UP)


def _contribution(result: Result | None) -> Totals:
    if result is None or not result.is_counted:
        return Totals()
    return Totals(1, 1 if result.passed else 0, result.score, result.max_score)


def _min_time(a: datetime | None, b: datetime | None) -> datetime | None:
    return b if a is None else a if b is None else min(a, b)


def _max_time(a: datetime | None, b: datetime | None) -> datetime | None:
    return b if a is None else a if b is None else max(a, b)


def _summary_apply(
    summary: Summary,
    *,
    delta: Totals,
    first_activity_at: datetime | None,
    last_activity_at: datetime | None,
) -> None:
    """Write the delta to the locked summary; bump the version and queue its push when anything changed."""
    before = Totals(summary.units_completed, summary.units_passed, summary.score_total, summary.max_score_total)
    after = before + delta
    first = _min_time(summary.first_activity_at, first_activity_at)
    last = _max_time(summary.last_activity_at, last_activity_at)
    reactivated = summary.deleted_at is not None
    if after == before and first == summary.first_activity_at and last == summary.last_activity_at and not reactivated:
        return
    values = {
        "units_completed": after.units_completed,
        "units_passed": after.units_passed,
        "score_total": after.score_total,
        "max_score_total": after.max_score_total,
        "percent": after.percent,
        "first_activity_at": first,
        "last_activity_at": last,
        "version": summary.version + 1,
        "deleted_at": None,
        "updated_at": timezone.now(),
    }
    Summary.objects.filter(pk=summary.pk).update(**values)
    for name, value in values.items():
        setattr(summary, name, value)
    deliveries_enqueue(summaries=[summary])


@transaction.atomic(savepoint=False)
def result_record_completion(*, source_id: int, event_id: int | None, completion: Completion) -> None:
    """Apply one completion: it counts if it is the latest for its unit."""
    user = completion.user
    summary = summary_lock_for_intake(
        source_id=source_id, user_id=user.id, email=user.email, name=user.name, organization=completion.organization
    )
    existing = Result.objects.filter(
        source_id=source_id, user_id=completion.user.id, unit_id=completion.unit_id
    ).first()
    before = _contribution(existing)
    state = {
        "title": completion.title,
        "course_id": completion.course_id,
        "score": completion.score,
        "max_score": completion.max_score,
        "passed": completion.passed,
        "attempt": completion.attempt,
        "completed_at": completion.completed_at,
        "is_counted": True,
        "event_id": event_id,
    }
    if existing is None:
        Result.objects.create(
            source_id=source_id,
            user_id=completion.user.id,
            unit_id=completion.unit_id,
            first_completed_at=completion.completed_at,
            last_completed_at=completion.completed_at,
            **state,
        )
        after = _contribution(
            Result(is_counted=True, passed=completion.passed, score=completion.score, max_score=completion.max_score)
        )
    else:
        first = _min_time(existing.first_completed_at, completion.completed_at)
        last = _max_time(existing.last_completed_at, completion.completed_at)
        # Ties on (completed_at, attempt) go to the later arrival: this one.
        replaces = (completion.completed_at, completion.attempt) >= (existing.completed_at, existing.attempt)
        changes: dict[str, object] = state if replaces else {}
        if first != existing.first_completed_at or last != existing.last_completed_at:
            changes = {**changes, "first_completed_at": first, "last_completed_at": last}
        if changes:
            Result.objects.filter(pk=existing.pk).update(**changes, updated_at=timezone.now())
        after = Totals(1, 1 if completion.passed else 0, completion.score, completion.max_score) if replaces else before
    _summary_apply(
        summary,
        delta=after - before,
        first_activity_at=completion.completed_at,
        last_activity_at=completion.completed_at,
    )


@transaction.atomic(savepoint=False)
def result_record_reset(
    *, source_id: int, event_id: int | None, user_id: str, unit_id: str, reset_at: datetime
) -> None:
    """Make a unit's result stop counting, unless a newer completion came after the reset."""
    summary = summary_lock_for_intake(source_id=source_id, user_id=user_id)
    existing = Result.objects.filter(source_id=source_id, user_id=user_id, unit_id=unit_id).first()
    if existing is None:
        # A marker, so that a completion older than the reset arriving late
        # does not count.
        Result.objects.create(
            source_id=source_id,
            user_id=user_id,
            unit_id=unit_id,
            score=ZERO,
            max_score=ZERO,
            passed=False,
            attempt=0,
            completed_at=reset_at,
            is_counted=False,
            event_id=event_id,
        )
        return
    if reset_at < existing.completed_at:
        return
    before = _contribution(existing)
    Result.objects.filter(pk=existing.pk).update(
        is_counted=False, completed_at=reset_at, event_id=event_id, updated_at=timezone.now()
    )
    _summary_apply(summary, delta=Totals() - before, first_activity_at=None, last_activity_at=None)


@transaction.atomic(savepoint=False)
def user_erase(*, source_id: int, user_id: str) -> None:
    """Erase a user's results and personal data; the summary keeps only its version."""
    locked = summaries_lock(users=[(source_id, user_id)])
    Result.objects.filter(source_id=source_id, user_id=user_id).delete()
    deliveries_erase_user(source_id=source_id, user_id=user_id)
    if not locked:
        return
    summary = locked[0]
    now = timezone.now()
    values = {
        "user_email": "",
        "user_name": "",
        "organization": "",
        "units_completed": 0,
        "units_passed": 0,
        "score_total": ZERO,
        "max_score_total": ZERO,
        "percent": ZERO,
        "first_activity_at": None,
        "last_activity_at": None,
        "version": summary.version + 1,
        "deleted_at": now,
        "updated_at": now,
    }
    Summary.objects.filter(pk=summary.pk).update(**values)
    for name, value in values.items():
        setattr(summary, name, value)
    deliveries_enqueue(summaries=[summary])
