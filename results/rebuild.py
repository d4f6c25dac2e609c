"""Recomputing summaries from results, set-based: find the drift, and fix it under the users' locks."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from deliveries.outbox import deliveries_enqueue
from results.models import Summary

# Each query is written out whole. `%(source)s IS NULL OR ...` is the optional
# source filter: parameters are bound before PostgreSQL plans the statement,
# so the unused branch folds away. A batch is named by its ids (`= ANY`), not
# by a range: the planner then knows it is batch_size rows, and keeps to the
# results' index even when the summaries' table statistics lag behind the
# rebuild's own updates (a range's estimate grows with the table's new pages
# until a sequential scan of every result looks cheaper).

_MISSING_SQL = """
SELECT DISTINCT r.source_id, r.user_id FROM results_result r
WHERE NOT EXISTS (
    SELECT 1 FROM results_summary s WHERE s.source_id = r.source_id AND s.user_id = r.user_id
) AND (%(source)s IS NULL OR r.source_id = %(source)s)
"""

_CHECK_SQL = """
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
    WHERE s.id = ANY(%(ids)s) AND (%(source)s IS NULL OR s.source_id = %(source)s)
    GROUP BY s.id
), fresh AS (
    SELECT agg.*,
        CASE WHEN agg.max_score_total > 0
            THEN ROUND(agg.score_total * 100 / agg.max_score_total, 2) ELSE 0 END AS percent
    FROM agg
)
SELECT t.id, t.source_id, t.user_id FROM results_summary t JOIN fresh ON fresh.summary_id = t.id
WHERE (
    t.units_completed IS DISTINCT FROM fresh.units_completed
    OR t.units_passed IS DISTINCT FROM fresh.units_passed
    OR t.score_total IS DISTINCT FROM fresh.score_total
    OR t.max_score_total IS DISTINCT FROM fresh.max_score_total
    OR t.percent IS DISTINCT FROM fresh.percent
    OR t.first_activity_at IS DISTINCT FROM fresh.first_activity_at
    OR t.last_activity_at IS DISTINCT FROM fresh.last_activity_at
)
"""

_FIX_SQL = """
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
    WHERE s.id = ANY(%(ids)s) AND (%(source)s IS NULL OR s.source_id = %(source)s)
    GROUP BY s.id
), fresh AS (
    SELECT agg.*,
        CASE WHEN agg.max_score_total > 0
            THEN ROUND(agg.score_total * 100 / agg.max_score_total, 2) ELSE 0 END AS percent
    FROM agg
)
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
FROM fresh WHERE fresh.summary_id = t.id AND (
    t.units_completed IS DISTINCT FROM fresh.units_completed
    OR t.units_passed IS DISTINCT FROM fresh.units_passed
    OR t.score_total IS DISTINCT FROM fresh.score_total
    OR t.max_score_total IS DISTINCT FROM fresh.max_score_total
    OR t.percent IS DISTINCT FROM fresh.percent
    OR t.first_activity_at IS DISTINCT FROM fresh.first_activity_at
    OR t.last_activity_at IS DISTINCT FROM fresh.last_activity_at
)
RETURNING id
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
    summary rows first, in id order and until its commit (results.locking's
    rule), so the recomputation cannot race an event for the same user, and
    every fixed summary gets a new version.
    """
    report = RebuildReport()
    params: dict[str, Any] = {"source": source_id}

    with connection.cursor() as cursor:
        cursor.execute(_MISSING_SQL, params)
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
            params.update(ids=ids, now=timezone.now())
            with connection.cursor() as cursor:
                cursor.execute(_CHECK_SQL if check else _FIX_SQL, params)
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
