"""Aggregation rules of SPEC §3: which result counts, and how the summary follows."""

from __future__ import annotations

from decimal import Decimal

import pytest

from results.models import Result, Summary
from tests.factories import completed, reset, user_deleted

pytestmark = pytest.mark.django_db


def summary_of(source, user: str = "u-42") -> Summary:
    return Summary.objects.get(source=source, user_id=user)


def totals(summary: Summary) -> tuple[int, int, str, str, str]:
    return (
        summary.units_completed,
        summary.units_passed,
        str(summary.score_total),
        str(summary.max_score_total),
        str(summary.percent),
    )


def test_summary_adds_units_with_decimal_arithmetic(source, post_webhook):
    post_webhook(source, completed(unit="a", score=8, max_score=10, passed=True))
    post_webhook(source, completed(unit="b", score=7.5, max_score=10, passed=False))
    post_webhook(source, completed(unit="c", score=7.5, max_score=10, passed=True))

    summary = summary_of(source)
    assert totals(summary) == (3, 2, "23.00", "30.00", "76.67")
    assert summary.version == 3
    assert isinstance(summary.score_total, Decimal)


def test_a_later_retake_replaces_the_earlier_result(source, post_webhook):
    post_webhook(source, completed(score=4, passed=False, minutes=0, attempt=1))
    post_webhook(source, completed(score=9, passed=True, minutes=30, attempt=2))

    assert totals(summary_of(source)) == (1, 1, "9.00", "10.00", "90.00")
    assert Result.objects.get().attempt == 2


def test_an_older_event_arriving_late_is_stored_but_does_not_replace(source, post_webhook):
    post_webhook(source, completed(score=9, minutes=30, attempt=2))
    late = post_webhook(source, completed(score=2, passed=False, minutes=0, attempt=1))

    assert late.status_code == 202
    summary = summary_of(source)
    assert totals(summary) == (1, 1, "9.00", "10.00", "90.00")
    # The late event still moves first activity back: the user was active then.
    assert summary.first_activity_at.minute == 0
    assert summary.last_activity_at.minute == 30


def test_ties_on_completed_at_go_to_the_higher_attempt_then_the_later_arrival(source, post_webhook):
    post_webhook(source, completed(score=5, minutes=10, attempt=3))
    post_webhook(source, completed(score=9, minutes=10, attempt=2))
    assert str(summary_of(source).score_total) == "5.00"

    post_webhook(source, completed(score=7, minutes=10, attempt=3))
    assert str(summary_of(source).score_total) == "7.00"


def test_an_unchanged_resend_under_a_new_id_does_not_bump_the_version(source, post_webhook):
    post_webhook(source, completed(score=5))
    post_webhook(source, completed(score=5))

    assert summary_of(source).version == 1


def test_reset_stops_the_result_counting_until_a_newer_completion(source, post_webhook):
    post_webhook(source, completed(unit="a", score=8, minutes=0))
    post_webhook(source, completed(unit="b", score=6, minutes=1))
    post_webhook(source, reset(unit="a", minutes=5))
    assert totals(summary_of(source)) == (1, 1, "6.00", "10.00", "60.00")

    post_webhook(source, completed(unit="a", score=3, minutes=2, passed=False))
    assert totals(summary_of(source)) == (1, 1, "6.00", "10.00", "60.00"), "older than the reset"

    post_webhook(source, completed(unit="a", score=10, minutes=9))
    assert totals(summary_of(source)) == (2, 2, "16.00", "20.00", "80.00")


def test_reset_older_than_the_result_changes_nothing(source, post_webhook):
    post_webhook(source, completed(minutes=10))
    post_webhook(source, reset(minutes=5))

    summary = summary_of(source)
    assert summary.units_completed == 1
    assert summary.version == 1


def test_reset_before_any_completion_keeps_older_completions_out(source, post_webhook):
    post_webhook(source, reset(minutes=5))
    post_webhook(source, completed(minutes=1))

    assert summary_of(source).units_completed == 0


def test_user_deleted_erases_results_and_personal_data_and_keeps_the_version_rising(source, post_webhook):
    post_webhook(source, completed(unit="a"))
    post_webhook(source, completed(unit="b"))
    post_webhook(source, user_deleted())

    summary = summary_of(source)
    assert totals(summary) == (0, 0, "0.00", "0.00", "0.00")
    assert (summary.user_email, summary.user_name, summary.organization) == ("", "", "")
    assert summary.version == 3
    assert not Result.objects.filter(source=source, user_id="u-42").exists()

    post_webhook(source, completed(unit="c", minutes=60))
    summary = summary_of(source)
    assert (summary.units_completed, summary.version, summary.deleted_at) == (1, 4, None)


def test_users_and_sources_are_kept_apart(source, post_webhook):
    from tests.factories import make_source

    other = make_source()
    post_webhook(source, completed(user="u-1", score=1))
    post_webhook(source, completed(user="u-2", score=2))
    post_webhook(other, completed(user="u-1", score=3))

    assert str(summary_of(source, "u-1").score_total) == "1.00"
    assert str(summary_of(source, "u-2").score_total) == "2.00"
    assert str(summary_of(other, "u-1").score_total) == "3.00"


def test_scores_are_rounded_half_up_to_hundredths(source, post_webhook):
    post_webhook(source, completed(score=2.345, max_score=3.005))

    result = Result.objects.get()
    assert (str(result.score), str(result.max_score)) == ("2.35", "3.01")


def test_percent_is_zero_when_nothing_counts(source, post_webhook):
    post_webhook(source, completed())
    post_webhook(source, reset(minutes=1))

    assert str(summary_of(source).percent) == "0.00"
