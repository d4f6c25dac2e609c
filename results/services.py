"""Aggregation: results per unit and summaries per user, kept by delta.

Every writer takes the user's summary row lock first (an upsert that returns
the row), then reads and writes that user's results. Concurrent events for
one user therefore apply one after another, in lock order, and the summary
always equals what replaying them one by one gives.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from deliveries.retention import deliveries_erase_user
from deliveries.services import deliveries_enqueue
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


@dataclass(frozen=True)
class SummaryChange:
    """A summary that moved to a new version in the current transaction (as it now is)."""

    summary: Summary
    deleted: bool = False


def summary_percent(score_total: Decimal, max_score_total: Decimal) -> Decimal:
    if max_score_total <= 0:
        return ZERO
    return (score_total * 100 / max_score_total).quantize(CENT, rounding=ROUND_HALF_UP)


def _contribution(result: Result | None) -> Totals:
    if result is None or not result.counts:
        return Totals()
    return Totals(1, 1 if result.passed else 0, result.score, result.max_score)


def _min_time(a: datetime | None, b: datetime | None) -> datetime | None:
    return b if a is None else a if b is None else min(a, b)


def _max_time(a: datetime | None, b: datetime | None) -> datetime | None:
    return b if a is None else a if b is None else max(a, b)


_LOCK_SUMMARY_SQL = """
INSERT INTO results_summary AS s (
    source_id, user_id, user_email, user_name, organization, units_completed, units_passed,
    score_total, max_score_total, percent, version, updated_at
) VALUES (%s, %s, %s, %s, %s, 0, 0, 0, 0, 0, 0, %s)
ON CONFLICT (source_id, user_id) DO UPDATE SET
    user_email = CASE WHEN excluded.user_email <> '' THEN excluded.user_email ELSE s.user_email END,
    user_name = CASE WHEN excluded.user_name <> '' THEN excluded.user_name ELSE s.user_name END,
    organization = CASE WHEN excluded.organization <> '' THEN excluded.organization ELSE s.organization END
RETURNING {}
""".format(", ".join(f.column for f in Summary._meta.concrete_fields))


def _summary_lock(*, source_id: int, user: UserRef, organization: str = "") -> Summary:
    """Create the user's summary if needed and hold its row lock until commit."""
    rows = Summary.objects.raw(
        _LOCK_SUMMARY_SQL,
        [source_id, user.id, user.email, user.name, organization, timezone.now()],
    )
    return next(iter(rows))


def _summary_apply(
    summary: Summary,
    *,
    delta: Totals,
    first_activity_at: datetime | None,
    last_activity_at: datetime | None,
) -> SummaryChange | None:
    """Write the delta to the locked summary; bump the version when anything changed."""
    before = Totals(summary.units_completed, summary.units_passed, summary.score_total, summary.max_score_total)
    after = before + delta
    first = _min_time(summary.first_activity_at, first_activity_at)
    last = _max_time(summary.last_activity_at, last_activity_at)
    reactivated = summary.deleted_at is not None
    if after == before and first == summary.first_activity_at and last == summary.last_activity_at and not reactivated:
        return None
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
    change = SummaryChange(summary)
    deliveries_enqueue(summaries=[summary])
    return change


@transaction.atomic(savepoint=False)
def result_record_completion(*, source_id: int, event_id: int | None, completion: Completion) -> SummaryChange | None:
    """Apply one completion: it counts if it is the latest for its unit."""
    summary = _summary_lock(source_id=source_id, user=completion.user, organization=completion.organization)
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
        "counts": True,
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
            Result(counts=True, passed=completion.passed, score=completion.score, max_score=completion.max_score)
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
    return _summary_apply(
        summary,
        delta=after - before,
        first_activity_at=completion.completed_at,
        last_activity_at=completion.completed_at,
    )


@transaction.atomic(savepoint=False)
def result_record_reset(
    *, source_id: int, event_id: int | None, user_id: str, unit_id: str, reset_at: datetime
) -> SummaryChange | None:
    """Make a unit's result stop counting, unless a newer completion came after the reset."""
    summary = _summary_lock(source_id=source_id, user=UserRef(user_id))
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
            counts=False,
            event_id=event_id,
        )
        return None
    if reset_at < existing.completed_at:
        return None
    before = _contribution(existing)
    Result.objects.filter(pk=existing.pk).update(
        counts=False, completed_at=reset_at, event_id=event_id, updated_at=timezone.now()
    )
    return _summary_apply(summary, delta=Totals() - before, first_activity_at=None, last_activity_at=None)


@transaction.atomic(savepoint=False)
def user_erase(*, source_id: int, user_id: str) -> SummaryChange | None:
    """Erase a user's results and personal data; the summary keeps only its version."""
    summary = Summary.objects.select_for_update().filter(source_id=source_id, user_id=user_id).first()
    Result.objects.filter(source_id=source_id, user_id=user_id).delete()
    deliveries_erase_user(source_id=source_id, user_id=user_id)
    if summary is None:
        return None
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
    change = SummaryChange(summary, deleted=True)
    deliveries_enqueue(summaries=[summary])
    return change


# --- Rebuild -----------------------------------------------------------------

_AGG_CTE = """
WITH agg AS (
    SELECT s.id AS summary_id,
        COUNT(r.id) FILTER (WHERE r.counts) AS units_completed,
        COUNT(r.id) FILTER (WHERE r.counts AND r.passed) AS units_passed,
        COALESCE(SUM(r.score) FILTER (WHERE r.counts), 0) AS score_total,
        COALESCE(SUM(r.max_score) FILTER (WHERE r.counts), 0) AS max_score_total,
        MIN(r.first_completed_at) AS first_activity_at,
        MAX(r.last_completed_at) AS last_activity_at
    FROM results_summary s
    LEFT JOIN results_result r ON r.source_id = s.source_id AND r.user_id = s.user_id
    WHERE s.id BETWEEN %(low)s AND %(high)s {source_filter}
    GROUP BY s.id
), fresh AS (
    SELECT agg.*,
        CASE WHEN agg.max_score_total > 0
            THEN ROUND(agg.score_total * 100 / agg.max_score_total, 2) ELSE 0 END AS percent
    FROM agg
)
"""

_DRIFT = """(
    t.units_completed IS DISTINCT FROM fresh.units_completed
    OR t.units_passed IS DISTINCT FROM fresh.units_passed
    OR t.score_total IS DISTINCT FROM fresh.score_total
    OR t.max_score_total IS DISTINCT FROM fresh.max_score_total
    OR t.percent IS DISTINCT FROM fresh.percent
    OR t.first_activity_at IS DISTINCT FROM fresh.first_activity_at
    OR t.last_activity_at IS DISTINCT FROM fresh.last_activity_at
)"""

_CHECK_SQL = (
    _AGG_CTE
    + """
SELECT t.id, t.source_id, t.user_id FROM results_summary t JOIN fresh ON fresh.summary_id = t.id
WHERE """
    + _DRIFT
)

_FIX_SQL = (
    _AGG_CTE
    + """
UPDATE results_summary AS t SET
    units_completed = fresh.units_completed,
    units_passed = fresh.units_passed,
    score_total = fresh.score_total,
    max_score_total = fresh.max_score_total,
    percent = fresh.percent,
    first_activity_at = fresh.first_activity_at,
    last_activity_at = fresh.last_activity_at,
    version = t.version + 1,
    updated_at = %(now)s
FROM fresh WHERE fresh.summary_id = t.id AND """
    + _DRIFT
    + """
RETURNING id"""
)

_MISSING_SQL = """
SELECT DISTINCT r.source_id, r.user_id FROM results_result r
WHERE NOT EXISTS (
    SELECT 1 FROM results_summary s WHERE s.source_id = r.source_id AND s.user_id = r.user_id
) {source_filter}
"""


@dataclass
class RebuildReport:
    checked: int = 0
    drifted: int = 0
    missing: int = 0
    fixed: int = 0
    samples: list[str] = field(default_factory=list)


def summaries_rebuild(
    *,
    source_id: int | None = None,
    check: bool = False,
    batch_size: int = 1000,
    on_progress: Callable[[int, int], None] | None = None,
) -> RebuildReport:
    """Recompute summaries from results, a batch of users per statement.

    With `check`, only find drift. Otherwise fix it: each batch locks its
    summary rows first, as intake does, so the recomputation cannot race an
    event for the same user, and every fixed summary gets a new version.
    """
    report = RebuildReport()
    source_sql = " AND s.source_id = %(source)s" if source_id is not None else ""
    params: dict[str, Any] = {"source": source_id}

    with connection.cursor() as cursor:
        cursor.execute(_MISSING_SQL.format(source_filter=source_sql.replace("s.source_id", "r.source_id")), params)
        missing = cursor.fetchall()
    report.missing = len(missing)
    report.samples = [f"missing summary {src}:{user}" for src, user in missing[:10]]
    if missing and not check:
        now = timezone.now()
        Summary.objects.bulk_create(
            [Summary(source_id=src, user_id=user, updated_at=now) for src, user in missing],
            ignore_conflicts=True,
            batch_size=batch_size,
        )

    scope = Summary.objects.all() if source_id is None else Summary.objects.filter(source_id=source_id)
    total = scope.count()
    if on_progress is not None:
        on_progress(0, total)
    after = 0
    while True:
        with transaction.atomic():
            batch = scope.filter(pk__gt=after).order_by("pk").values_list("pk", flat=True)
            if not check:
                batch = batch.select_for_update()
            ids = list(batch[:batch_size])
            if not ids:
                break
            params.update(low=ids[0], high=ids[-1], now=timezone.now())
            with connection.cursor() as cursor:
                cursor.execute((_CHECK_SQL if check else _FIX_SQL).format(source_filter=source_sql), params)
                rows = cursor.fetchall()
            if rows and not check:
                fixed = Summary.objects.filter(pk__in=[row[0] for row in rows])
                deliveries_enqueue(summaries=list(fixed))
        after = ids[-1]
        report.checked += len(ids)
        report.drifted += len(rows)
        if check:
            for row in rows[: max(0, 10 - len(report.samples))]:
                report.samples.append(f"drift in summary {row[0]} ({row[1]}:{row[2]})")
        else:
            report.fixed += len(rows)
        if on_progress is not None:
            on_progress(report.checked, total)
    return report
