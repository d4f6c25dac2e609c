"""Intake: status codes, bodies, storage, duplicates and counters of POST /api/v1/webhooks/<slug>/."""

from __future__ import annotations

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from deliveries.models import Delivery
from results.models import Result, Summary
from tests.factories import completed, make_source, reset, user_deleted
from webhooks.counters import intake_counts_flush
from webhooks.models import Event, IntakeCounter, Source
from webhooks.selectors import source_forget
from webhooks.services import source_pause, source_resume

pytestmark = pytest.mark.django_db


def counters(source: Source) -> dict[str, int]:
    intake_counts_flush()
    return dict(IntakeCounter.objects.filter(source=source).values_list("outcome", "count"))


def test_new_event_is_accepted_stored_and_applied(source, post_webhook):
    response = post_webhook(source, completed(event_id="evt_1"))

    assert response.status_code == 202
    event = Event.objects.get(source=source)
    assert response.json() == {"event_id": str(event.pk), "status": "accepted"}
    assert (event.idempotency_key, event.type, event.status) == ("evt_1", "test.completed", "accepted")
    assert json.loads(event.body)["id"] == "evt_1"
    summary = Summary.objects.get(source=source, user_id="u-42")
    assert (summary.units_completed, summary.units_passed, str(summary.score_total), summary.version) == (
        1,
        1,
        "8.00",
        1,
    )
    assert counters(source) == {"accepted": 1}


def test_same_event_posted_five_times_changes_the_summary_once(source, post_webhook):
    body = completed(event_id="evt_dup")
    statuses = [post_webhook(source, body) for _ in range(5)]

    assert [r.status_code for r in statuses] == [202, 200, 200, 200, 200]
    first_id = statuses[0].json()["event_id"]
    assert all(r.json() == {"event_id": first_id, "status": "duplicate"} for r in statuses[1:])
    assert Event.objects.filter(source=source).count() == 1
    summary = Summary.objects.get(source=source)
    assert (summary.units_completed, summary.version) == (1, 1)
    assert counters(source) == {"accepted": 1, "duplicate": 4}


def test_idempotency_key_falls_back_to_the_webhook_id_header(source, post_webhook):
    body = completed()
    del body["id"]
    first = post_webhook(source, body, HTTP_WEBHOOK_ID="msg_abc")
    again = post_webhook(source, body, HTTP_WEBHOOK_ID="msg_abc")

    assert (first.status_code, again.status_code) == (202, 200)
    assert Event.objects.get(source=source).idempotency_key == "msg_abc"


def test_missing_idempotency_key_is_a_validation_error(source, post_webhook):
    body = completed()
    del body["id"]
    response = post_webhook(source, body)

    assert response.status_code == 400
    assert "id" in response.json()["detail"]


def test_invalid_payload_names_every_bad_field_and_is_recorded(source, post_webhook):
    body = completed(score=-1, max_score=0, attempt=0, passed="yes")  # type: ignore[arg-type]
    body["data"]["user"] = {"email": "a@b.c"}
    body["data"]["completed_at"] = "yesterday"
    response = post_webhook(source, body)

    assert response.status_code == 400
    payload = response.json()
    assert payload["error"] == "validation_error"
    assert set(payload["detail"]) == {
        "data.user.id",
        "data.score",
        "data.max_score",
        "data.attempt",
        "data.passed",
        "data.completed_at",
    }
    assert all(isinstance(m, list) and m for m in payload["detail"].values())
    event = Event.objects.get(source=source)
    assert (event.status, event.error_code) == ("rejected", "validation_error")
    assert event.error_detail == payload["detail"]
    assert not Summary.objects.exists()
    assert not Result.objects.exists()
    assert counters(source) == {"rejected:validation_error": 1}


def test_score_above_max_score_is_rejected(source, post_webhook):
    response = post_webhook(source, completed(score=11, max_score=10))

    assert response.status_code == 400
    assert list(response.json()["detail"]) == ["data.score"]


def test_rejected_body_is_kept_truncated(source, post_webhook, settings):
    settings.WEBHOOK_REJECTED_BODY_KEEP_BYTES = 100
    body = completed(score="eight")
    body["padding"] = "x" * 5000
    post_webhook(source, body)

    event = Event.objects.get(source=source)
    assert event.status == "rejected"
    assert len(event.body) == 100


def test_a_fixed_payload_may_reuse_the_key_of_a_rejected_one(source, post_webhook):
    assert post_webhook(source, completed(event_id="evt_fix", score="bad")).status_code == 400
    assert post_webhook(source, completed(event_id="evt_fix")).status_code == 202


def test_invalid_json_is_a_validation_error_on_the_body_and_recorded(source, post_webhook):
    response = post_webhook(source, None, raw=b'{"id": "evt_1", "type": ')

    assert response.status_code == 400
    assert response.json()["error"] == "validation_error"
    assert list(response.json()["detail"]) == ["body"]
    assert "Not valid JSON" in response.json()["detail"]["body"][0]
    event = Event.objects.get(source=source)
    assert (event.status, event.error_code) == ("rejected", "validation_error")


@pytest.mark.parametrize("raw", [b"[1, 2]", b'"text"', b"NaN"])
def test_a_body_that_is_not_an_object_is_rejected(source, post_webhook, raw):
    response = post_webhook(source, None, raw=raw)

    assert response.status_code == 400
    assert response.json()["error"] == "validation_error"


def test_unknown_type_is_stored_as_ignored(source, post_webhook):
    response = post_webhook(source, {"id": "evt_x", "type": "course.published", "data": {"anything": 1}})

    assert response.status_code == 202
    assert response.json()["status"] == "ignored"
    assert Event.objects.get(source=source).status == "ignored"
    assert not Summary.objects.exists()


def test_unknown_source_is_404(db, post_webhook):
    response = post_webhook(Source(slug="nope"), completed())

    assert response.status_code == 404
    assert response.json()["error"] == "unknown_source"
    assert response.json()["detail"]


def test_inactive_source_is_404(source, post_webhook):
    Source.objects.filter(pk=source.pk).update(active=False)

    assert post_webhook(source, completed()).status_code == 404
    assert not Event.objects.exists()


def test_body_over_the_limit_is_413(source, post_webhook, settings):
    settings.WEBHOOK_MAX_BODY_BYTES = 1000
    body = completed()
    body["padding"] = "x" * 1000
    response = post_webhook(source, body)

    assert response.status_code == 413
    assert response.json()["error"] == "payload_too_large"
    assert not Event.objects.exists()
    assert counters(source) == {"rejected:payload_too_large": 1}


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded"])
def test_other_content_types_are_415(source, post_webhook, content_type):
    response = post_webhook(source, completed(), content_type=content_type)

    assert response.status_code == 415
    assert response.json()["error"] == "unsupported_media_type"
    assert not Event.objects.exists()


def test_json_with_charset_is_accepted(source, post_webhook):
    assert post_webhook(source, completed(), content_type="application/json; charset=utf-8").status_code == 202


def test_denied_ip_is_403(db, post_webhook):
    source = make_source(denied_ips=["10.0.0.0/8"])
    response = post_webhook(source, completed(), REMOTE_ADDR="10.1.2.3")

    assert response.status_code == 403
    assert response.json()["error"] == "ip_not_allowed"
    assert post_webhook(source, completed(), REMOTE_ADDR="192.0.2.1").status_code == 202


def test_ip_outside_the_allow_list_is_403(db, post_webhook):
    source = make_source(allowed_ips=["192.0.2.0/24", "2001:db8::/32"])

    assert post_webhook(source, completed(), REMOTE_ADDR="198.51.100.7").status_code == 403
    assert post_webhook(source, completed(), REMOTE_ADDR="192.0.2.9").status_code == 202
    assert post_webhook(source, completed(), REMOTE_ADDR="2001:db8::1").status_code == 202
    assert Event.objects.count() == 2


def test_forwarded_for_is_trusted_only_from_configured_proxies(db, post_webhook, settings):
    source = make_source(allowed_ips=["192.0.2.0/24"])
    spoofed = {"REMOTE_ADDR": "198.51.100.7", "HTTP_X_FORWARDED_FOR": "192.0.2.9"}

    assert post_webhook(source, completed(), **spoofed).status_code == 403
    settings.TRUSTED_PROXY_COUNT = 1
    assert post_webhook(source, completed(), **spoofed).status_code == 202


def test_rate_limit_answers_429_with_retry_after(db, post_webhook):
    source = make_source(rate_limit_per_minute=3)
    codes = [post_webhook(source, completed()).status_code for _ in range(5)]

    assert codes == [202, 202, 202, 429, 429]
    limited = post_webhook(source, completed())
    assert limited.json()["error"] == "throttled"
    assert 1 <= int(limited["Retry-After"]) <= 60
    assert counters(source) == {"accepted": 3, "rejected:throttled": 3}


def test_get_answers_200_for_an_active_source_without_credentials(source, client):
    response = client.get(f"/api/v1/webhooks/{source.slug}/")

    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    assert client.get("/api/v1/webhooks/missing/").status_code == 404


def test_paused_source_stores_events_and_applies_them_when_resumed(
    source, post_webhook, django_capture_on_commit_callbacks, eager_tasks
):
    source_pause(source=source)
    response = post_webhook(source, completed(score=6))
    post_webhook(source, completed(unit="t-8", score=4))

    assert response.status_code == 202
    assert response.json()["status"] == "paused"
    assert set(Event.objects.values_list("status", flat=True)) == {"paused"}
    assert not Summary.objects.exists()

    with django_capture_on_commit_callbacks(execute=True):
        source_resume(source=source)

    assert set(Event.objects.values_list("status", flat=True)) == {"accepted"}
    summary = Summary.objects.get(source=source)
    assert (summary.units_completed, str(summary.score_total)) == (2, "10.00")


def test_duplicate_of_a_paused_event_is_still_a_duplicate(source, post_webhook):
    source_pause(source=source)
    body = completed(event_id="evt_p")

    assert post_webhook(source, body).status_code == 202
    assert post_webhook(source, body).status_code == 200


def test_passed_is_derived_from_the_pass_ratio_when_absent(db, post_webhook):
    source = make_source()
    Source.objects.filter(pk=source.pk).update(pass_ratio="0.800")
    source.refresh_from_db()
    post_webhook(source, completed(unit="a", score=8, passed=None))
    post_webhook(source, completed(unit="b", score=7.99, passed=None))

    assert dict(Result.objects.values_list("unit_id", "passed")) == {"a": True, "b": False}


def test_error_bodies_all_have_error_and_detail(source, post_webhook, client, settings):
    responses = [
        post_webhook(source, completed(), token="wrong"),
        post_webhook(source, completed(), content_type="text/plain"),
    ]
    settings.WEBHOOK_MAX_BODY_BYTES = 50
    responses.append(post_webhook(source, completed()))
    settings.WEBHOOK_MAX_BODY_BYTES = 262144
    responses.append(client.post("/api/v1/webhooks/none/", data=b"{}", content_type="application/json"))
    responses.append(post_webhook(source, {"type": "test.completed"}))

    assert [r.status_code for r in responses] == [401, 415, 413, 404, 400]
    for response in responses:
        body = response.json()
        assert set(body) == {"error", "detail"}
        assert isinstance(body["error"], str)
        assert body["error"]
        assert body["detail"]


def _statements(captured: CaptureQueriesContext) -> list[str]:
    return [q["sql"] for q in captured.captured_queries if not q["sql"].startswith(("SAVEPOINT", "RELEASE"))]


def test_an_accepted_completion_is_one_statement(source, destination, post_webhook, settings):
    settings.INTAKE_COUNTER_FLUSH_SECONDS = 3600  # counted in memory, written off the request path
    post_webhook(source, completed(unit="warm-up"))
    with CaptureQueriesContext(connection) as first:
        assert post_webhook(source, completed(unit="t-1")).status_code == 202
    with CaptureQueriesContext(connection) as retake:
        assert post_webhook(source, completed(event_id="e-2", unit="t-1", minutes=5, attempt=2)).status_code == 202
    with CaptureQueriesContext(connection) as again:
        assert post_webhook(source, completed(event_id="e-2", unit="t-1", minutes=5, attempt=2)).status_code == 200

    # The source comes from the process' cache; the event, the result, the
    # summary and the outbox row (a destination is there) are one call.
    for captured in (first, retake, again):
        statements = _statements(captured)
        assert len(statements) == 1, statements
        assert "tally_intake_completion" in statements[0]
    assert Delivery.objects.filter(destination=destination, version=3).count() == 1


def test_a_cold_cache_reads_the_source_once(source, post_webhook, settings):
    settings.INTAKE_COUNTER_FLUSH_SECONDS = 3600
    source_forget(slug=source.slug)
    with CaptureQueriesContext(connection) as cold:
        assert post_webhook(source, completed(unit="t-1")).status_code == 202
    statements = _statements(cold)
    assert len(statements) == 2, statements
    assert "webhooks_source" in statements[0]
    assert not any("intakecounter" in sql for sql in statements), "the counters wait for no request"


def test_reset_and_user_deleted_are_accepted(source, post_webhook):
    post_webhook(source, completed())
    assert post_webhook(source, reset(minutes=10)).status_code == 202
    assert Summary.objects.get(source=source).units_completed == 0
    assert post_webhook(source, user_deleted()).status_code == 202
    summary = Summary.objects.get(source=source)
    assert summary.deleted_at is not None
    assert summary.user_email == ""
    assert not Result.objects.filter(source=source).exists()


def test_counters_are_per_day(source, post_webhook):
    post_webhook(source, completed())
    intake_counts_flush()

    assert IntakeCounter.objects.get(source=source).day == timezone.now().date()


def test_counters_are_written_after_the_response_at_most_once_an_interval(source, post_webhook, settings):
    settings.INTAKE_COUNTER_FLUSH_SECONDS = 0  # every finished request may write
    post_webhook(source, completed(event_id="evt_a"))

    assert dict(IntakeCounter.objects.filter(source=source).values_list("outcome", "count")) == {"accepted": 1}

    settings.INTAKE_COUNTER_FLUSH_SECONDS = 3600
    post_webhook(source, completed(event_id="evt_b"))
    post_webhook(source, completed(event_id="evt_b"))

    assert dict(IntakeCounter.objects.filter(source=source).values_list("outcome", "count")) == {"accepted": 1}
    assert counters(source) == {"accepted": 2, "duplicate": 1}, "nothing counted is lost"


def test_database_failure_mid_transaction_is_503_and_stores_nothing(source, post_webhook):
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE results_result RENAME TO results_result_away")
    try:
        response = post_webhook(source, completed(event_id="evt_db"))
    finally:
        with connection.cursor() as cursor:
            cursor.execute("ALTER TABLE results_result_away RENAME TO results_result")

    assert response.status_code == 503
    assert response.json()["error"] == "database_error"
    assert not Event.objects.exists(), "the event insert was rolled back with the rest"
    assert not Summary.objects.exists()
    assert counters(source) == {"rejected:database_error": 1}
    assert post_webhook(source, completed(event_id="evt_db")).status_code == 202, "a retry goes through"


def test_rate_limited_source_still_accepts_when_the_shared_counter_is_down(db, post_webhook, settings):
    source = make_source(rate_limit_per_minute=1)
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }

    assert post_webhook(source, completed()).status_code == 202
    assert post_webhook(source, completed()).status_code == 202


def test_gets_on_the_webhook_url_do_not_use_up_the_rate_limit(db, client, post_webhook):
    source = make_source(rate_limit_per_minute=1)

    checks = [client.get(f"/api/v1/webhooks/{source.slug}/").status_code for _ in range(5)]
    first = post_webhook(source, completed(user="u-1"))
    second = post_webhook(source, completed(user="u-2"))

    assert checks == [200] * 5
    assert (first.status_code, second.status_code) == (202, 429)
