"""Tally's long commands report through progress jobs and draw a terminal bar."""

from __future__ import annotations

import logging
import re
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from deliveries.destinations import destination_create
from deliveries.models import Delivery
from progress.models import Job, Worker
from progress.selectors import job_state
from results.models import Result, Summary
from tests.conftest import RECEIVER_SECRET
from tests.factories import BASE_TIME

pytestmark = pytest.mark.django_db


def run(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def the_job(command: str) -> Job:
    return Job.objects.get(jobid__startswith=f"{command}-")


@pytest.fixture
def many_summaries(source):
    """3,000 users with one result each, their summaries drifted (all zero)."""
    now = timezone.now()
    Result.objects.bulk_create(
        Result(
            source=source,
            user_id=f"u-{n}",
            unit_id="t-1",
            score=Decimal(5),
            max_score=Decimal(10),
            passed=False,
            attempt=1,
            completed_at=BASE_TIME,
            first_completed_at=BASE_TIME,
            last_completed_at=BASE_TIME,
        )
        for n in range(3000)
    )
    Summary.objects.bulk_create(Summary(source=source, user_id=f"u-{n}", updated_at=now) for n in range(3000))
    return source


def test_rebuild_leaves_a_finished_job_and_prints_its_show_url(many_summaries):
    out, err = run("rebuild_summaries", "--batch-size", "400")

    job = the_job("rebuild_summaries")
    url = re.search(r"^progress: (\S+)$", out, re.MULTILINE)
    assert url is not None
    assert url.group(1).endswith(f"/progress/show?jobid={job.jobid}")
    assert "fixed: 3000" in out
    reports = list(Worker.objects.filter(job=job).values_list("current", "total", "ok"))
    assert reports == [(3000, 3000, True)]
    assert "3000/3000" in err, "the terminal bar reached the end"
    assert "\r" not in err, "off a terminal every redraw is a line of its own"
    assert Summary.objects.filter(units_completed=1).count() == 3000


def test_rebuild_with_nothing_to_do_leaves_a_job_drawn_full_saying_so(db):
    _, err = run("rebuild_summaries", "--check")

    job = the_job("rebuild_summaries")
    assert list(job.workers.values_list("current", "total", "text", "ok")) == [(1, 1, "nothing to do", True)]
    state = job_state(jobid=job.jobid)
    assert state is not None
    assert state.headline == "1 worker, 1 done, 100.0 % overall", "a total of 0 would draw empty: not finished"
    assert "0/0 summaries" in err


def test_the_terminal_bar_puts_a_space_between_numbers_and_the_unit(many_summaries):
    _, err = run("rebuild_summaries", "--batch-size", "1000")

    assert "3000/3000 summaries [" in err
    assert re.search(r"\d summaries/s\]", err), err
    assert not re.search(r"\dsummaries", err), "tqdm's own layout glues the unit to the number"
    assert "s/ summaries" not in err, "a slow rate reads as summaries per second too"


def test_a_broken_progress_store_does_not_stop_the_command(many_summaries, caplog):
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE progress_worker RENAME TO progress_worker_away")

    with caplog.at_level(logging.WARNING, logger="progress.reporting"):
        out, _ = run("rebuild_summaries", "--batch-size", "1000")

    assert "fixed: 3000" in out
    assert Summary.objects.filter(units_completed=1).count() == 3000
    assert [r.message for r in caplog.records] == ["progress reporting stopped"], "said once, then quiet"


def test_without_a_job_no_page_is_announced_and_the_command_still_runs(many_summaries):
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE progress_job RENAME TO progress_job_away")

    out, _ = run("rebuild_summaries")

    assert "progress:" not in out
    assert "fixed: 3000" in out


def test_replay_and_create_missing_deliveries_report_as_jobs(source, receiver):
    now = timezone.now()
    Summary.objects.bulk_create(Summary(source=source, user_id=f"u-{n}", version=1, updated_at=now) for n in range(7))
    destination_create(name="late", url=receiver.url, source_slugs=[source.slug], secret=RECEIVER_SECRET)

    missing_out, _ = run("create_missing_deliveries", "--destination", "late")
    Delivery.objects.filter(user_id__in=["u-1", "u-2"]).update(status=Delivery.Status.FAILED)
    replay_out, _ = run("replay_deliveries", "--destination", "late")

    assert "queued: 7" in missing_out
    assert "progress: " in missing_out
    assert list(the_job("create_missing_deliveries").workers.values_list("current", "total", "text")) == [
        (7, 7, "7 queued")
    ]
    assert "progress: " in replay_out
    assert list(the_job("replay_deliveries").workers.values_list("current", "total")) == [(2, 2)]


def test_a_command_that_stops_on_an_error_leaves_its_bar_red_with_the_error(db):
    from django.core.management.base import BaseCommand

    from progress.reporting import CommandProgress

    def doomed_run() -> None:
        command = BaseCommand(stdout=StringIO(), stderr=StringIO())
        with CommandProgress(command, description="doomed", workid="part") as progress:
            progress.update(3, 10)
            progress.update(4, 10)
            raise ZeroDivisionError

    with pytest.raises(ZeroDivisionError):
        doomed_run()

    job = Job.objects.get(description="doomed")
    assert list(job.workers.values_list("workid", "current", "total", "text", "ok")) == [
        ("part", 4, 10, "stopped: ZeroDivisionError", False)
    ]
