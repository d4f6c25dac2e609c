"""A user's history does not weigh on an event or its push, and no sequence of accepted events overflows a total."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db import connection

from deliveries.models import Delivery
from deliveries.outbox import push_body
from results.models import Summary
from tests.factories import completed, reset

pytestmark = pytest.mark.django_db

MAX = Decimal("9999999999.99")  # the largest score the intake takes


def _latest(source) -> dict:
    return Delivery.objects.filter(source=source).latest("id").snapshot


def test_a_push_lists_the_latest_results_newest_first_and_says_how_many_there_are(
    source, destination, post_webhook, settings
):
    settings.DELIVERY_MAX_RESULTS = 3
    for n in range(5):
        assert post_webhook(source, completed(unit=f"t-{n}", minutes=n)).status_code == 202

    snapshot = _latest(source)

    assert [r["unit_id"] for r in snapshot["results"]] == ["t-4", "t-3", "t-2"]
    assert (snapshot["results_count"], snapshot["results_complete"]) == (5, False)
    assert snapshot["summary"]["units_completed"] == 5


def test_a_push_after_a_reset_counts_only_the_results_that_still_count(source, destination, post_webhook, settings):
    settings.DELIVERY_MAX_RESULTS = 3
    for n in range(4):
        post_webhook(source, completed(unit=f"t-{n}", minutes=n))

    assert post_webhook(source, reset(unit="t-3", minutes=10)).status_code == 202

    snapshot = _latest(source)
    assert [r["unit_id"] for r in snapshot["results"]] == ["t-2", "t-1", "t-0"]
    assert (snapshot["results_count"], snapshot["results_complete"]) == (3, True)


def test_a_push_with_every_result_says_it_is_complete(source, destination, post_webhook):
    post_webhook(source, completed(unit="a", minutes=1))
    post_webhook(source, completed(unit="b", minutes=2))

    delivery = Delivery.objects.get()
    body = push_body(delivery)

    assert b'"results_count":2,"results_complete":true' in body
    assert [r["unit_id"] for r in delivery.snapshot["results"]] == ["b", "a"]


def _seed_maximal_results(source, *, user: str, count: int) -> None:
    """`count` maximal results for one user and the summary they add up to, written as a long history would be."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO results_result (source_id, user_id, unit_id, title, course_id, score, max_score, passed,
                attempt, completed_at, counts, first_completed_at, last_completed_at, event_id, updated_at)
            SELECT %(source)s, %(user)s, 'seed-' || t, '', '', %(max)s, %(max)s, true, 1,
                timestamptz '2026-01-01 00:00:00+00' + make_interval(secs => t), true,
                timestamptz '2026-01-01 00:00:00+00' + make_interval(secs => t),
                timestamptz '2026-01-01 00:00:00+00' + make_interval(secs => t), NULL, now()
            FROM generate_series(1, %(count)s) AS t
            """,
            {"source": source.pk, "user": user, "max": MAX, "count": count},
        )
        cursor.execute(
            """
            INSERT INTO results_summary (source_id, user_id, user_email, user_name, organization, units_completed,
                units_passed, score_total, max_score_total, percent, first_activity_at, last_activity_at, version,
                updated_at)
            SELECT %(source)s, %(user)s, '', '', '', count(*), count(*), sum(score), sum(max_score), 100,
                min(completed_at), max(completed_at), 1, now()
            FROM results_result WHERE source_id = %(source)s AND user_id = %(user)s
            """,
            {"source": source.pk, "user": user},
        )


def test_maximal_scores_past_ten_thousand_results_are_added_exactly(source, destination, post_webhook):
    # 10,000 results of 9,999,999,999.99 add up to more than a 16-digit total holds.
    _seed_maximal_results(source, user="u-42", count=10_000)

    answer = post_webhook(source, completed(user="u-42", unit="one-more", score=float(MAX), max_score=float(MAX)))

    assert answer.status_code == 202, answer.content
    summary = Summary.objects.get(source=source, user_id="u-42")
    assert summary.score_total == MAX * 10_001
    assert summary.max_score_total == MAX * 10_001
    assert (summary.units_completed, summary.percent) == (10_001, Decimal("100.00"))
    snapshot = _latest(source)
    assert snapshot["summary"]["score_total"] == str(MAX * 10_001)
    assert (len(snapshot["results"]), snapshot["results_count"]) == (100, 10_001)
    assert snapshot["results"][0]["unit_id"] == "one-more"


def test_a_reset_and_a_rebuild_of_a_huge_summary_stay_exact(source, post_webhook):
    _seed_maximal_results(source, user="u-42", count=10_001)

    assert post_webhook(source, reset(user="u-42", unit="seed-1")).status_code == 202

    summary = Summary.objects.get(source=source, user_id="u-42")
    assert summary.score_total == MAX * 10_000
    call_command("rebuild_summaries", "--check")  # raises SystemExit(1) on any drift
