"""PYBOSSA sources end to end: a real fake PYBOSSA on loopback, the webhook, the consensus, the credits."""

from __future__ import annotations

import json
import logging
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from common.logging import JsonFormatter
from crowdsourcing.tasks import settle_stuck_tasks
from notifications.models import Alert
from results.models import Result, Summary
from tests.factories import TOKEN, make_source
from tests.pybossa_fake import FakePybossa
from webhooks.models import Event

pytestmark = pytest.mark.django_db


@pytest.fixture
def fake():
    with FakePybossa() as server:
        server.require_key_for_reads = True  # every call Tally makes must carry the key
        yield server


@pytest.fixture
def pb(db, fake):
    return make_source(slug="crowd", kind="pybossa", pybossa_url=fake.url, pybossa_api_key=fake.api_key)


@pytest.fixture
def send(client, pb, eager_tasks, django_capture_on_commit_callbacks):
    """POST PYBOSSA's webhook for a task, as PYBOSSA does (token in the URL), and run what it queues."""

    def post(task_id, *, result_id=None, project_id=1, rerun=None, event="task_completed"):
        body = {
            "fired_at": "2026-11-22 10:00:00",
            "project_short_name": "birds",
            "project_id": project_id,
            "task_id": task_id,
            "result_id": result_id or task_id + 1000,
            "event": event,
        }
        query = f"?token={TOKEN}" + (f"&rerun={rerun}" if rerun else "")
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(f"/api/v1/webhooks/{pb.slug}/{query}", json.dumps(body), "application/json")

    return post


def credited(pb, task_id, project_id=1):
    rows = Result.objects.filter(source=pb, unit_id=f"pybossa:{project_id}:{task_id}")
    return {r.user_id: (r.passed, str(r.score)) for r in rows}


def test_a_completed_task_is_put_back_with_its_consensus_and_each_contributor_credited(fake, pb, send):
    fake.add_task(1, 7, runs=["cat", "cat", "dog"])

    response = send(7)

    assert (response.status_code, response.json()["status"]) == (200, "processing")
    assert Event.objects.get().status == "accepted"
    assert len(fake.puts) == 1
    put = fake.puts[0]
    assert (put.result_id, put.api_key) == (1007, fake.api_key)
    info = put.body["info"]
    assert (info["consensus"], info["task_runs"], info["agreement"], info["tie"]) == ("cat", 3, 0.6667, False)
    assert info["votes"] == [{"answer": "cat", "count": 2}, {"answer": "dog", "count": 1}]
    assert credited(pb, 7) == {"1": (True, "1.00"), "2": (True, "1.00"), "3": (False, "0.00")}
    summaries = {s.user_id: (s.units_completed, s.units_passed) for s in Summary.objects.filter(source=pb)}
    assert summaries == {"1": (1, 1), "2": (1, 1), "3": (1, 0)}


def test_a_task_with_more_runs_than_a_page_is_read_completely(fake, pb, send, settings):
    settings.PYBOSSA_PAGE_SIZE = 100
    fake.add_task(1, 8, runs=["yes"] * 170 + ["no"] * 80)

    send(8)

    assert fake.puts[0].body["info"]["task_runs"] == 250
    assert len(credited(pb, 8)) == 250
    pages = [r for r in fake.requests if r.path == "/api/taskrun"]
    assert len(pages) == 4, "three full pages, then an empty one ends the list"
    assert "last_id" in pages[-1].query


@pytest.mark.parametrize("rerun", ["True", "true", "1"])
def test_the_same_webhook_again_is_a_duplicate_but_a_rerun_settles_the_task_again(fake, pb, send, rerun):
    fake.add_task(1, 9, runs=["cat", "cat", "dog"])
    send(9)

    again = send(9)
    fake.set_runs(9, ["cat", "dog", "dog"])
    rerun = send(9, rerun=rerun)

    assert (again.status_code, again.json()["status"]) == (200, "duplicate")
    assert (rerun.status_code, rerun.json()["status"]) == (200, "processing")
    assert [p.body["info"]["consensus"] for p in fake.puts] == ["cat", "dog"]
    assert credited(pb, 9) == {"1": (False, "0.00"), "2": (True, "1.00"), "3": (True, "1.00")}
    totals = {s.user_id: (s.units_completed, s.units_passed) for s in Summary.objects.filter(source=pb)}
    assert totals == {"1": (1, 0), "2": (1, 1), "3": (1, 1)}, "replaced, never counted twice"
    assert Event.objects.filter(status="accepted").count() == 2


def test_a_contributor_whose_run_is_gone_stops_counting_for_the_task_on_a_rerun(fake, pb, send):
    fake.add_task(1, 18, runs=["cat", "cat", "dog"])
    send(18)
    fake.set_runs(18, ["cat", "cat"])

    send(18, rerun="True")

    totals = {s.user_id: (s.units_completed, s.units_passed) for s in Summary.objects.filter(source=pb)}
    assert totals == {"1": (1, 1), "2": (1, 1), "3": (0, 0)}


@pytest.mark.parametrize("prefix", ["/api/taskrun", "/api/result"])
def test_pybossa_answering_500_once_is_retried_and_succeeds(fake, pb, send, prefix):
    fake.add_task(1, 10, runs=["a", "a"])
    fake.fail_next(prefix, 500)

    send(10)

    assert Event.objects.get().status == "accepted"
    assert [p.body["info"]["consensus"] for p in fake.puts] == ["a"]


@pytest.mark.parametrize("prefix", ["/api/taskrun", "/api/result"])
def test_a_timeout_once_is_retried_succeeds_and_keeps_the_key_out_of_the_logs(fake, pb, send, settings, caplog, prefix):
    settings.PYBOSSA_TIMEOUT_SECONDS = 0.5
    fake.add_task(1, 11, runs=["a"])
    fake.delay_next(prefix, 1.5)

    with caplog.at_level(logging.DEBUG):
        send(11)

    assert Event.objects.get().status == "accepted"
    under = [r for r in fake.requests if r.path.startswith(prefix) and "last_id" not in r.query]
    timed_out = under[0]
    again = [r for r in under if (r.method, r.path) == (timed_out.method, timed_out.path)]
    assert len(again) == 2, "the timed-out call was made again"
    logged = "\n".join(JsonFormatter().format(record) for record in caplog.records)
    assert fake.api_key not in logged
    assert all(r.api_key == fake.api_key for r in fake.requests)


def test_a_server_whose_page_cap_is_below_ours_is_still_read_completely(fake, pb, send, settings):
    settings.PYBOSSA_PAGE_SIZE = 100
    fake.page_size_max = 50
    fake.add_task(1, 19, runs=["y"] * 120)

    send(19)

    assert fake.puts[0].body["info"]["task_runs"] == 120


def test_a_401_fails_the_event_and_raises_one_alert(fake, pb, send):
    fake.add_task(1, 12, runs=["a"])
    fake.fail_next("/api/result", 401)

    send(12)

    event = Event.objects.get()
    assert (event.status, event.error_code) == ("failed", "pybossa_401")
    alert = Alert.objects.get()
    assert "12" in alert.title
    assert alert.details["source"] == pb.slug
    assert "401" in alert.details["error"]
    assert not Result.objects.exists()


def test_pybossa_unreachable_for_every_try_ends_failed_with_nothing_half_written(fake, pb, send, settings):
    settings.PYBOSSA_RETRY_SCHEDULE = [1, 1]
    fake.add_task(1, 13, runs=["a"])
    fake.fail_next("/api/result", 503, times=10)

    send(13)

    assert Event.objects.get().status == "failed"
    assert not Result.objects.exists()
    assert Alert.objects.count() == 1


def test_other_pybossa_events_are_stored_as_ignored(fake, pb, send):
    response = send(14, event="task_deleted")

    assert (response.status_code, response.json()["status"]) == (200, "ignored")
    assert fake.puts == []


@pytest.mark.parametrize(("field", "value"), [("task_id", 2**63), ("project_id", -1), ("result_id", "7")])
def test_absurd_ids_are_a_400_naming_the_field(client, pb, field, value):
    body = {"project_id": 1, "task_id": 2, "result_id": 3, "event": "task_completed", field: value}

    response = client.post(f"/api/v1/webhooks/{pb.slug}/?token={TOKEN}", json.dumps(body), "application/json")

    assert response.status_code == 400
    assert list(response.json()["detail"]) == [field]


def test_get_on_the_webhook_url_answers_200_for_an_active_source_and_404_otherwise(client, pb):
    assert client.get(f"/api/v1/webhooks/{pb.slug}/").status_code == 200
    pb.active = False
    pb.save()
    assert client.get(f"/api/v1/webhooks/{pb.slug}/").status_code == 404
    assert client.get("/api/v1/webhooks/nobody/").status_code == 404


def backfill(*args):
    out = StringIO()
    call_command("pybossa_backfill", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def test_backfill_settles_each_completed_task_once_and_again_with_rerun(fake, pb):
    fake.rate_limit(300, 1)  # PYBOSSA's 300 a window, in one-second windows: the test waits seconds, not minutes
    for task_id in range(1, 301):
        fake.add_task(5, task_id, runs=["x", "x", "y"])
    fake.add_task(5, 999, state="ongoing", runs=["x"])

    first = backfill(pb.slug, "--project-id", "5")
    second = backfill(pb.slug, "--project-id", "5")
    third = backfill(pb.slug, "--project-id", "5", "--rerun")

    assert "tasks: 300  settled: 300  skipped: 0  failed: 0" in first
    assert "tasks: 300  settled: 0  skipped: 300  failed: 0" in second
    assert "tasks: 300  settled: 300  skipped: 0  failed: 0" in third
    assert len(fake.puts) == 600
    assert "progress: " in first
    assert Summary.objects.get(source=pb, user_id="1").units_completed == 300


def test_backfill_settles_again_a_task_whose_settlement_failed(fake, pb):
    for task_id in (1, 2):
        fake.add_task(6, task_id, runs=["x"])
    fake.fail_next("/api/result/1001", 401)

    first = backfill(pb.slug, "--project-id", "6")
    second = backfill(pb.slug, "--project-id", "6")

    assert "settled: 1  skipped: 0  failed: 1" in first
    assert "settled: 1  skipped: 1  failed: 0" in second


def test_backfill_refuses_a_source_that_is_not_pybossa(db):
    native = make_source(slug="lms")

    with pytest.raises(Exception, match="not a PYBOSSA source"):
        backfill(native.slug, "--project-id", "1")


@pytest.mark.parametrize("project_id", ["-1", "abc", "٣", "1" * 19])
def test_backfill_refuses_what_is_not_a_project_id(fake, pb, project_id):
    with pytest.raises(CommandError, match="must be a PYBOSSA project id"):
        backfill(pb.slug, "--project-id", project_id)
    assert fake.requests == [], "PYBOSSA is not asked"


def test_a_settlement_whose_wake_up_was_lost_is_queued_again_later(fake, pb, client, eager_tasks, settings):
    fake.add_task(1, 15, runs=["a", "b", "a"])
    body = {"project_id": 1, "task_id": 15, "result_id": 1015, "event": "task_completed"}
    client.post(
        f"/api/v1/webhooks/{pb.slug}/?token={TOKEN}", json.dumps(body), "application/json"
    )  # not committed: no wake-up
    assert Event.objects.get().status == "processing"
    settings.PYBOSSA_STUCK_SECONDS = 0

    assert settle_stuck_tasks() == 1

    assert Event.objects.get().status == "accepted"
    assert [p.body["info"]["consensus"] for p in fake.puts] == ["a"]


def test_a_task_of_another_project_or_an_unknown_task_fails_the_event(fake, pb, send):
    fake.add_task(2, 16, runs=["a"])

    send(16, project_id=1)
    send(17)

    assert sorted(Event.objects.values_list("status", "error_code")) == [
        ("failed", "pybossa_404"),
        ("failed", "pybossa_refused"),
    ]
    assert fake.puts == []


def test_two_settlements_of_one_task_never_overlap(fake, pb, client):
    from crowdsourcing.client import PybossaTransientError
    from crowdsourcing.services import TaskRef, event_settle, task_lock

    fake.add_task(1, 20, runs=["a"])
    body = {"project_id": 1, "task_id": 20, "result_id": 1020, "event": "task_completed"}
    client.post(f"/api/v1/webhooks/{pb.slug}/?token={TOKEN}", json.dumps(body), "application/json")
    event = Event.objects.get()

    with task_lock(source=pb, ref=TaskRef(1, 20, 1020)), pytest.raises(PybossaTransientError, match="another worker"):
        event_settle(event_id=event.pk)

    assert fake.puts == []
    assert event_settle(event_id=event.pk) == "accepted", "free again once the first one is done"
