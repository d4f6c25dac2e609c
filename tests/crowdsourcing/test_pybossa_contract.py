"""Tally against PYBOSSA v4.0.2 as it is: owner-scoped lists, the rate limit, external users, re-sends, analyses.

Each test runs against tests/pybossa_fake.py, which copies PYBOSSA's rules
(the module's docstring quotes the source of each).
"""

from __future__ import annotations

import json
import re
import sys
import time
from io import StringIO
from pathlib import Path

import pytest
import requests
from django.core.management import call_command

from crowdsourcing.client import PybossaRateLimited
from crowdsourcing.services import event_settle
from notifications.models import Alert
from results.models import Result
from tests.factories import TOKEN, make_source
from tests.pybossa_fake import FakePybossa, send_webhook, webhook_payload
from webhooks.models import Event

pytestmark = pytest.mark.django_db

DOCS = Path(__file__).resolve().parents[2] / "docs" / "pybossa.md"


@pytest.fixture
def fake():
    with FakePybossa() as server:
        yield server


def pybossa_source(fake, *, key=None, **options):
    return make_source(kind="pybossa", pybossa_url=fake.url, pybossa_api_key=key or fake.api_key, **options)


@pytest.fixture
def send(client, eager_tasks, django_capture_on_commit_callbacks):
    """POST PYBOSSA's webhook (pybossa/model/event_listeners.py `push_webhook`'s payload) and run what it queues."""

    def post(source, task_id, *, project_id=1, rerun=False):
        payload = webhook_payload(
            project_short_name="birds", project_id=project_id, task_id=task_id, result_id=task_id + 1000
        )
        query = f"?token={TOKEN}" + ("&rerun=True" if rerun else "")  # requests writes params={'rerun': True} so
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(f"/api/v1/webhooks/{source.slug}/{query}", json.dumps(payload), "application/json")

    return post


def credited(source, task_id, project_id=1):
    rows = Result.objects.filter(source=source, unit_id=f"pybossa:{project_id}:{task_id}", is_counted=True)
    return {r.user_id: r.passed for r in rows}


def backfill(*args):
    out, err = StringIO(), StringIO()
    call_command("pybossa_backfill", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


# --- 1. all=1: a co-owner's key reads the runs; empty runs never settle a task -----------------------------------


def test_a_coowners_key_reads_every_run_because_lists_are_asked_with_all_1(fake, send):
    fake.add_user("coowner-key-0123456789")
    fake.add_task(1, 7, runs=["cat", "cat", "dog"])
    fake.add_coowner(1, "coowner-key-0123456789")
    source = pybossa_source(fake, key="coowner-key-0123456789")

    send(source, 7)

    assert Event.objects.get().status == "accepted"
    assert [p.body["info"]["consensus"] for p in fake.puts] == ["cat"]
    assert credited(source, 7) == {"1": True, "2": True, "3": False}
    lists = [r for r in fake.requests if r.method == "GET" and r.path == "/api/taskrun"]
    assert lists
    assert all(r.query.get("all") == "1" for r in lists)
    # pybossa/api/api_base.py `APIBase.put` calls `self.valid_args()`: a PUT carries no query arguments.
    assert all(r.query == {} for r in fake.requests if r.method == "PUT")


def test_a_completed_task_whose_runs_come_back_empty_is_retried_then_fails_with_one_alert(fake, send, settings):
    settings.PYBOSSA_RETRY_SCHEDULE = [1, 1]
    fake.add_task(1, 8, runs=[])

    send(pybossa_source(fake), 8)

    event = Event.objects.get()
    assert (event.status, event.error_code) == ("failed", "pybossa_no_task_runs")
    assert "no task runs" in str(event.error_detail)
    assert fake.puts == [], "never settled as an empty task"
    assert len([r for r in fake.requests if r.path == "/api/taskrun"]) == 3, "the first try and two more"
    assert Alert.objects.count() == 1
    assert not Result.objects.exists()


# --- 2. the rate limit only delays ------------------------------------------------------------------------------


def test_calls_are_paced_by_x_ratelimit_remaining_so_pybossa_never_answers_429(fake, send):
    fake.rate_limit(5, 1)  # the 5th call of a one-second window would be refused
    source = pybossa_source(fake)
    for task_id in range(1, 6):
        fake.add_task(1, task_id, runs=["a", "b", "a"])

    for task_id in range(1, 6):
        send(source, task_id)

    assert list(Event.objects.values_list("status", flat=True)) == ["accepted"] * 5
    assert fake.answered(429) == []
    assert len(fake.puts) == 5
    assert not Alert.objects.exists()


def test_a_429_from_pybossa_waits_for_x_ratelimit_reset_and_settles(fake, send):
    fake.rate_limit(4, 2)
    fake.add_task(1, 9, runs=["a"])
    source = pybossa_source(fake)
    while requests.get(f"{fake.url}/api/taskrun", timeout=5).status_code != 429:  # another client used the window
        pass

    started = time.monotonic()
    send(source, 9)

    refused = fake.answered(429)
    assert refused, "Tally met the limit"
    assert Event.objects.get().status == "accepted"
    assert [p.body["info"]["consensus"] for p in fake.puts] == ["a"]
    assert not Alert.objects.exists()
    assert time.monotonic() - started < 6


def test_the_429_and_its_headers_are_pybossas(fake):
    fake.rate_limit(2, 900)
    first = requests.get(f"{fake.url}/api/task", timeout=5)
    second = requests.get(f"{fake.url}/api/task", timeout=5)

    assert first.headers["X-RateLimit-Remaining"] == "1"
    assert second.status_code == 429, "over_limit is current >= limit: the limit-th call is refused"
    assert second.headers["X-RateLimit-Limit"] == "2"
    assert int(second.headers["X-RateLimit-Reset"]) % 900 == 0
    assert second.json() == {
        "action": "GET",
        "status": "failed",
        "status_code": 429,
        "target": "/api/task",
        "exception_cls": "TooManyRequests",
        "exception_msg": "429 Too Many Requests: This user has exceeded an allotted request count. Try again later.",
    }
    assert requests.get(f"{fake.url}/api/taskrun", timeout=5).status_code == 200, "each endpoint has its own window"


def test_a_rate_limit_longer_than_a_worker_sleeps_leaves_the_event_processing_without_failure_or_alert(
    fake, client, settings
):
    settings.PYBOSSA_RATE_LIMIT_SLEEP_SECONDS = 0
    fake.rate_limit(2, 900)
    fake.add_task(1, 10, runs=["a"])
    source = pybossa_source(fake)
    payload = webhook_payload(project_short_name="birds", project_id=1, task_id=10, result_id=1010)
    client.post(f"/api/v1/webhooks/{source.slug}/?token={TOKEN}", json.dumps(payload), "application/json")
    requests.get(f"{fake.url}/api/task", timeout=5)  # the window of /api/task is spent
    event = Event.objects.get()

    with pytest.raises(PybossaRateLimited) as raised:
        event_settle(event_id=event.pk)

    assert 0 < raised.value.wait_seconds <= 900
    event.refresh_from_db()
    assert (event.status, event.error_code) == ("processing", "")
    assert not Alert.objects.exists()


def test_a_backfill_of_hundreds_of_tasks_paces_itself_through_a_small_rate_limit_and_finishes(fake):
    fake.rate_limit(20, 1)
    for task_id in range(1, 201):
        fake.add_task(5, task_id, runs=["x", "x", "y"])
    source = pybossa_source(fake)

    out, err = backfill(source.slug, "--project-id", "5")

    assert "tasks: 200  settled: 200  skipped: 0  failed: 0" in out
    assert "waiting" in err
    assert "rate limit" in err
    assert fake.answered(429) == []
    assert len(fake.puts) == 200
    assert not Alert.objects.exists()


# --- 3. external users -------------------------------------------------------------------------------------------


def test_runs_with_only_an_external_uid_credit_each_external_user(fake, send):
    runs = [
        {"info": "cat", "user_id": None, "external_uid": "anna"},
        {"info": "cat", "user_id": None, "external_uid": "ben"},
        {"info": "dog", "user_id": None, "external_uid": "cleo"},
        {"info": "cat", "user_id": None, "user_ip": "203.0.113.9"},
    ]
    fake.add_task(1, 11, runs=runs)
    source = pybossa_source(fake)

    send(source, 11)

    assert credited(source, 11) == {"ext:anna": True, "ext:ben": True, "ext:cleo": False, "ip:203.0.113.9": True}
    assert fake.puts[0].body["info"]["contributors"] == ["ext:anna", "ext:ben", "ext:cleo", "ip:203.0.113.9"]


# --- 4. re-sends ----------------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_pybossas_own_webhook_request_and_its_rerun_are_answered_200_and_each_settled(fake, live_server, eager_tasks):
    # Needs the intake's 200 for a PYBOSSA webhook (PYBOSSA counts anything else as a failed webhook).
    fake.add_task(1, 12, runs=["cat", "cat", "dog"])
    source = pybossa_source(fake)
    url = f"{live_server.url}/api/v1/webhooks/{source.slug}/?token={TOKEN}"
    payload = webhook_payload(project_short_name="birds", project_id=1, task_id=12, result_id=1012)

    first = send_webhook(url, payload)
    fake.set_runs(12, ["cat", "dog", "dog"])
    again = send_webhook(url, payload, rerun=True)

    assert (first.status_code, again.status_code) == (200, 200)
    assert again.request.url.endswith("&rerun=True")
    assert [p.body["info"]["consensus"] for p in fake.puts] == ["cat", "dog"]
    assert sorted(Event.objects.values_list("status", flat=True)) == ["accepted", "accepted"]


def test_a_rerun_of_a_superseded_result_is_analysed_from_its_own_runs_and_credits_nothing(
    fake, live_server, eager_tasks
):
    # The owner raised n_answers after task 13 completed: PYBOSSA made a new result from all the runs
    # and marked the first `last_version=false`. "Re-run all" on the webhook page re-sends both webhooks.
    fake.add_task(1, 13, runs=["kea", "kea", "kaka"], result_id=1013)
    source = pybossa_source(fake)
    url = f"{live_server.url}/api/v1/webhooks/{source.slug}/?token={TOKEN}"
    old = webhook_payload(project_short_name="birds", project_id=1, task_id=13, result_id=1013)
    assert send_webhook(url, old).status_code == 200
    new_result = fake.complete_again(13, ["kaka", "kaka"], result_id=2013)
    new = webhook_payload(project_short_name="birds", project_id=1, task_id=13, result_id=new_result)
    assert send_webhook(url, new).status_code == 200

    assert send_webhook(url, old, rerun=True).status_code == 200
    assert send_webhook(url, new, rerun=True).status_code == 200

    infos = {result_id: fake.tables["result"][result_id]["info"] for result_id in (1013, 2013)}
    assert (infos[1013]["consensus"], infos[1013]["task_runs"]) == ("kea", 3), "its own three runs, not five"
    assert (infos[2013]["consensus"], infos[2013]["task_runs"]) == ("kaka", 5)
    assert credited(source, 13) == {"1": False, "2": False, "3": True, "4": True, "5": True}
    superseded = Event.objects.get(idempotency_key__startswith="1:13:1013:rerun")
    assert (superseded.status, superseded.error_code) == ("accepted", "pybossa_superseded")


def test_the_backfill_counts_a_task_settled_by_a_rerun_resend_as_settled(fake, send):
    fake.rate_limit(300, 1)
    for task_id in (1, 2):
        fake.add_task(1, task_id, runs=["x"])
    source = pybossa_source(fake)
    send(source, 1, rerun=True)  # its first webhook never came; the project's webhook page re-sent it

    out, _ = backfill(source.slug, "--project-id", "1")

    assert "tasks: 2  settled: 1  skipped: 1  failed: 0" in out
    assert [p.result_id for p in fake.puts] == [1001, 1002]


# --- 5. the analysis -------------------------------------------------------------------------------------------


def test_quorum_settles_only_when_enough_runs_agree_and_otherwise_writes_nothing(fake, send):
    source = pybossa_source(fake, pybossa_analysis="quorum", pybossa_quorum=3)
    fake.add_task(1, 13, runs=["cat", "cat", "dog"], n_answers=3)
    send(source, 13)
    short = Event.objects.get()

    fake.set_runs(13, ["cat", "cat", "dog", "cat"])
    send(source, 13, rerun=True)

    assert (short.status, short.error_code) == ("accepted", "pybossa_not_settled")
    assert short.error_detail == {"reason": "no quorum: the most given answer has 2 of the 3 runs needed (3 runs)"}
    assert len(fake.puts) == 1
    info = fake.puts[0].body["info"]
    assert (info["consensus"], info["analysis"], info["quorum"]) == ("cat", "quorum", 3)
    assert credited(source, 13) == {"1": True, "2": True, "3": False, "4": True}


def docs_example() -> tuple[str, str]:
    """The custom analysis docs/pybossa.md shows: its module name and its code."""
    text = DOCS.read_text()
    match = re.search(r"```python\n# (\w+)\.py\n(.*?)```", text, re.S)
    assert match, "docs/pybossa.md shows a custom analysis"
    return match.group(1), match.group(2)


@pytest.fixture
def docs_module(tmp_path, monkeypatch, settings):
    name, code = docs_example()
    (tmp_path / f"{name}.py").write_text(code)
    monkeypatch.syspath_prepend(str(tmp_path))
    settings.PYBOSSA_ANALYSIS_MODULES = [name]  # as the docs say to set it
    yield name
    sys.modules.pop(name, None)


def test_the_custom_analysis_in_the_docs_settles_a_task_as_documented(fake, send, docs_module):
    source = pybossa_source(fake, pybossa_analysis=f"{docs_module}.count_median")
    runs = [{"count": 4}, {"count": 5}, {"count": 9}, {"count": 5}]
    fake.add_task(1, 14, runs=runs)

    send(source, 14)

    assert fake.puts[0].body["info"] == {"count": 5, "counts": [4, 5, 5, 9], "task_runs": 4, "analysis": "count_median"}
    assert credited(source, 14) == {"1": True, "2": True, "3": False, "4": True}


def test_a_custom_analysis_that_raises_fails_the_event_with_one_alert(fake, send, docs_module):
    source = pybossa_source(fake, pybossa_analysis=f"{docs_module}.count_median")
    fake.add_task(1, 15, runs=[{"colour": "red"}])

    send(source, 15)

    event = Event.objects.get()
    assert (event.status, event.error_code) == ("failed", "pybossa_analysis_failed")
    assert "KeyError" in str(event.error_detail)
    assert fake.puts == []
    assert Alert.objects.count() == 1


def test_an_analysis_outside_the_allowed_modules_is_refused_before_anything_is_imported(fake, settings):
    from webhooks.sources import SourceConfigError

    settings.PYBOSSA_ANALYSIS_MODULES = ["birdcount"]
    sys.modules.pop("antigravity", None)

    with pytest.raises(SourceConfigError, match="PYBOSSA_ANALYSIS_MODULES"):
        pybossa_source(fake, pybossa_analysis="antigravity.geohash")
    with pytest.raises(SourceConfigError, match="PYBOSSA_ANALYSIS_MODULES"):
        pybossa_source(fake, pybossa_analysis="birdcountx.count_median")

    assert "antigravity" not in sys.modules, "the module was never imported"
