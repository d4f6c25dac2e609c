"""rebuild_summaries: set-based recomputation, drift detection and repair."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command

from results.models import Result, Summary
from results.rebuild import summaries_rebuild
from tests.factories import completed, make_source, reset

pytestmark = pytest.mark.django_db


@pytest.fixture
def populated(source, post_webhook):
    for user in ("u-1", "u-2", "u-3"):
        post_webhook(source, completed(user=user, unit="a", score=7))
        post_webhook(source, completed(user=user, unit="b", score=5, passed=False, minutes=3))
    post_webhook(source, reset(user="u-2", unit="a", minutes=10))
    return source


def test_check_reports_no_drift_on_incrementally_kept_summaries(populated, capsys):
    call_command("rebuild_summaries", "--check")

    assert "no drift" in capsys.readouterr().out


def test_check_exits_non_zero_and_names_the_drifted_summary(populated, capsys):
    Summary.objects.filter(user_id="u-2").update(units_completed=5)

    with pytest.raises(CommandError, match="1 summaries differ"):
        call_command("rebuild_summaries", "--check")
    assert "u-2" in capsys.readouterr().out
    assert Summary.objects.get(user_id="u-2").units_completed == 5, "--check changes nothing"


def test_rebuild_fixes_drift_and_bumps_only_the_fixed_versions(populated):
    versions = dict(Summary.objects.values_list("user_id", "version"))
    Summary.objects.filter(user_id="u-1").update(score_total="1.00", percent="99.00")

    call_command("rebuild_summaries", "--source", populated.slug)

    fixed = Summary.objects.get(user_id="u-1")
    assert (str(fixed.score_total), str(fixed.percent), fixed.version) == ("12.00", "60.00", versions["u-1"] + 1)
    assert Summary.objects.get(user_id="u-3").version == versions["u-3"]
    call_command("rebuild_summaries", "--check")


def test_rebuild_creates_summaries_missing_for_existing_results(populated):
    Summary.objects.filter(user_id="u-3").delete()

    with pytest.raises(CommandError):
        call_command("rebuild_summaries", "--check")
    call_command("rebuild_summaries")

    summary = Summary.objects.get(user_id="u-3")
    assert (summary.units_completed, str(summary.score_total)) == (2, "12.00")


def test_rebuild_in_small_batches_covers_every_summary(populated):
    Summary.objects.update(units_completed=0, units_passed=0)

    report = summaries_rebuild(batch_size=1)

    assert (report.checked, report.fixed) == (3, 3)
    assert summaries_rebuild(check=True).drifted == 0


def test_rebuild_with_source_leaves_other_sources_alone(populated, post_webhook):
    other = make_source()
    post_webhook(other, completed(user="u-9"))
    Summary.objects.update(units_completed=0, units_passed=0)

    call_command("rebuild_summaries", "--source", other.slug)

    assert Summary.objects.get(source=other).units_completed == 1
    assert Summary.objects.filter(source=populated, units_completed=0).count() == 3


def test_rebuild_recomputes_activity_times(populated):
    Summary.objects.update(first_activity_at=None, last_activity_at=None)

    call_command("rebuild_summaries")

    summary = Summary.objects.get(user_id="u-1")
    results = Result.objects.filter(user_id="u-1", source=populated)
    assert summary.first_activity_at == min(r.first_completed_at for r in results)
    assert summary.last_activity_at == max(r.last_completed_at for r in results)


def test_unknown_source_is_a_clear_error(db):
    with pytest.raises(CommandError, match="No source 'nope'"):
        call_command("rebuild_summaries", "--source", "nope")
