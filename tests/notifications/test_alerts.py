"""Alerts: what raises them, throttling and digests, and how Telegram failures are handled."""

from __future__ import annotations

import logging
import time
from datetime import timedelta

import pytest
from celery import shared_task
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from deliveries.destinations import destination_create
from deliveries.models import Delivery, Destination
from deliveries.worker import deliveries_process_due, deliveries_sweep
from notifications.models import Alert, Message
from notifications.services import alert_raise, alerts_flush, messages_send_due
from tests.factories import completed, make_source
from tests.notifications.conftest import BOT_TOKEN, OPS_CHAT
from tests.servers import BotReply, FakeTelegram, Receiver, Reply, free_port, silent_server

pytestmark = pytest.mark.django_db


def dead_messages(telegram: FakeTelegram) -> list[str]:
    return [t for t in telegram.texts() if "Delivery to acme-hr dead" in t]


def close_windows() -> None:
    """Let the throttle window pass."""
    Alert.objects.update(first_seen_at=timezone.now() - timedelta(hours=1))
    alerts_flush()


@pytest.fixture
def dead_on_first_failure(source, receiver: Receiver) -> Destination:
    receiver.default = Reply(500, body=b"upstream broke")
    return destination_create(name="acme-hr", url=receiver.url, source_slugs=[source.slug], max_attempts=1)


def test_a_dead_delivery_sends_one_message_with_what_operators_need(
    source, post_webhook, dead_on_first_failure, telegram: FakeTelegram
):
    post_webhook(source, completed(user="u-7"))
    deliveries_process_due(retries=False, max_seconds=5)

    assert messages_send_due() == 1
    [text] = telegram.texts(OPS_CHAT)
    delivery = Delivery.objects.get()
    assert "acme-hr" in text
    assert "u-7" in text
    assert "HTTP 500" in text
    assert f'href="http://127.0.0.1:8000/admin/deliveries/delivery/{delivery.pk}/change/"' in text
    assert text.startswith("🔴 <b>Delivery to acme-hr dead</b>")


def test_fifty_identical_failures_send_one_message_then_one_digest(
    source, post_webhook, dead_on_first_failure, telegram: FakeTelegram
):
    for n in range(50):
        post_webhook(source, completed(user=f"u-{n}"))
    deliveries_process_due(retries=False, max_seconds=20)
    assert Delivery.objects.filter(status="dead").count() == 50

    messages_send_due()
    assert len(dead_messages(telegram)) == 1
    close_windows()
    messages_send_due()

    texts = dead_messages(telegram)
    assert len(texts) == 2
    assert "and 49 more like this" in texts[1]
    assert Alert.objects.get(fingerprint__startswith="delivery:").count == 50


def test_a_hundred_malformed_payloads_make_one_alert_and_a_digest(source, post_webhook, telegram: FakeTelegram):
    codes = [post_webhook(source, completed(score="eight")).status_code for _ in range(100)]

    assert codes == [400] * 100
    messages_send_due()
    assert len(telegram.texts()) == 1
    assert "rejected (validation_error)" in telegram.texts()[0]
    assert "data.score" in telegram.texts()[0]
    close_windows()
    messages_send_due()
    assert "and 99 more like this" in telegram.texts()[1]
    assert len(telegram.texts()) == 2


def test_rejections_are_throttled_per_source_and_reason(source, post_webhook, telegram: FakeTelegram):
    other = make_source()
    post_webhook(source, completed(score="eight"))
    post_webhook(source, None, raw=b"{not json")
    post_webhook(other, completed(score="eight"))

    assert sorted(Alert.objects.values_list("fingerprint", "count")) == sorted(
        [(f"rejected:{source.slug}:validation_error", 2), (f"rejected:{other.slug}:validation_error", 1)]
    )


def test_a_new_occurrence_after_the_window_opens_a_new_window_and_queues_the_digest(telegram):
    for _ in range(3):
        alert_raise(fingerprint="x", title="Something broke")
    Alert.objects.update(first_seen_at=timezone.now() - timedelta(hours=1))

    alert_raise(fingerprint="x", title="Something broke")
    messages_send_due()

    texts = telegram.texts()
    assert len(texts) == 3  # first alert, the closed window's digest, the new window's alert
    assert "and 2 more like this" in texts[1]
    assert Alert.objects.filter(closed=False).get().count == 1


def test_a_502_then_200_sends_the_alert_once(telegram: FakeTelegram):
    telegram.script = [BotReply(502, {"ok": False, "error_code": 502, "description": "Bad Gateway"})]
    alert_raise(fingerprint="f", title="Trouble")

    messages_send_due()
    message = Message.objects.get()
    assert (message.status, message.attempt_count) == ("pending", 1)
    assert "Bad Gateway" in message.last_error

    Message.objects.update(next_attempt_at=timezone.now())
    messages_send_due()
    assert Message.objects.get().status == "sent"
    assert len(telegram.texts()) == 1


def test_chat_not_found_is_permanent_and_not_retried(telegram: FakeTelegram):
    telegram.script = [
        BotReply(400, {"ok": False, "error_code": 400, "description": "Bad Request: chat not found"}),
    ]
    alert_raise(fingerprint="f", title="Trouble")

    messages_send_due()
    Message.objects.update(next_attempt_at=timezone.now())

    assert messages_send_due() == 0
    message = Message.objects.get()
    assert message.status == "failed"
    assert "chat not found" in message.last_error.lower()
    assert telegram.calls.count("sendMessage") == 1


def test_429_waits_as_long_as_telegram_asks(telegram: FakeTelegram):
    too_many = {"ok": False, "error_code": 429, "description": "Too Many Requests", "parameters": {"retry_after": 42}}
    telegram.script = [BotReply(429, too_many)]
    alert_raise(fingerprint="f", title="Trouble")

    messages_send_due()

    message = Message.objects.get()
    assert message.status == "pending"
    assert message.next_attempt_at >= timezone.now() + timedelta(seconds=40)


def test_a_retry_after_shorter_than_the_schedule_is_waited_exactly(telegram: FakeTelegram):
    too_many = {"ok": False, "error_code": 429, "description": "Too Many Requests", "parameters": {"retry_after": 3}}
    telegram.script = [BotReply(429, too_many)]
    alert_raise(fingerprint="f", title="Trouble")
    before = timezone.now()

    messages_send_due()

    waits_until = Message.objects.get().next_attempt_at
    assert before + timedelta(seconds=3) <= waits_until <= timezone.now() + timedelta(seconds=3)


def test_transient_failures_wait_the_alert_schedule_without_jitter_the_last_value_repeating(telegram, settings):
    settings.ALERT_RETRY_SCHEDULE = [100, 200]
    bad_gateway = BotReply(502, {"ok": False, "error_code": 502, "description": "Bad Gateway"})
    telegram.script = [bad_gateway, bad_gateway, bad_gateway]
    alert_raise(fingerprint="f", title="Trouble")

    for seconds in (100, 200, 200):
        before = timezone.now()
        messages_send_due()
        after = timezone.now()
        waits_until = Message.objects.get().next_attempt_at
        assert before + timedelta(seconds=seconds) <= waits_until <= after + timedelta(seconds=seconds)
        Message.objects.update(next_attempt_at=timezone.now())


def test_with_telegram_down_intake_and_delivery_work_and_alerts_wait(
    source, post_webhook, receiver, settings, telegram: FakeTelegram
):
    destination_create(name="acme", url=receiver.url, source_slugs=[source.slug])
    settings.TELEGRAM_API_BASE_URL = f"http://127.0.0.1:{free_port()}"  # nothing listens there

    assert post_webhook(source, completed()).status_code == 202
    assert post_webhook(source, completed(score="bad")).status_code == 400
    deliveries_process_due(retries=False, max_seconds=5)
    messages_send_due()

    assert Delivery.objects.get().status == "delivered"
    message = Message.objects.get()
    assert message.status == "pending"
    assert message.last_error

    settings.TELEGRAM_API_BASE_URL = telegram.url
    Message.objects.update(next_attempt_at=timezone.now())
    messages_send_due()
    assert Message.objects.get().status == "sent"


def test_without_a_token_alerts_are_stored_and_logged_only(settings, caplog):
    settings.TELEGRAM_BOT_TOKEN = ""
    with caplog.at_level(logging.ERROR, logger="notifications.services"):
        alert = alert_raise(fingerprint="f", title="Trouble", details={"source": "lms"})

    assert alert is not None
    assert Message.objects.get().status == "logged"
    assert messages_send_due() == 0
    assert any("Trouble" in r.getMessage() for r in caplog.records)


def test_destination_disabled_and_failing_in_a_row_raise_alerts(source, post_webhook, receiver, settings):
    settings.ALERT_DESTINATION_FAILURES = 2
    destination = destination_create(name="acme", url=receiver.url, source_slugs=[source.slug])
    receiver.default = Reply(503)
    post_webhook(source, completed(user="u-1"))
    post_webhook(source, completed(user="u-2"))
    deliveries_process_due(retries=False, max_seconds=5)
    assert Alert.objects.filter(fingerprint=f"destination_failing:{destination.pk}").exists()

    receiver.default = Reply(410)
    Delivery.objects.update(next_attempt_at=timezone.now())
    deliveries_process_due(retries=True, max_seconds=5)
    alert = Alert.objects.get(fingerprint=f"destination_disabled:{destination.pk}")
    assert "410" in alert.details["reason"]


def test_an_old_backlog_raises_an_alert(source, post_webhook, receiver, settings):
    settings.ALERT_BACKLOG_SECONDS = 60
    destination_create(name="acme", url=receiver.url, source_slugs=[source.slug])
    post_webhook(source, completed())
    Delivery.objects.update(next_attempt_at=timezone.now() - timedelta(minutes=5))

    deliveries_sweep()

    alert = Alert.objects.get(fingerprint="delivery_backlog")
    assert "due for 3" in alert.title


def test_a_database_error_on_the_request_path_raises_a_critical_alert(source, post_webhook):
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE results_summary RENAME TO results_summary_away")
    try:
        assert post_webhook(source, completed()).status_code == 503
    finally:
        with connection.cursor() as cursor:
            cursor.execute("ALTER TABLE results_summary_away RENAME TO results_summary")

    alert = Alert.objects.get()
    assert alert.severity == "critical"
    assert alert.fingerprint.startswith("database_error:WebhookView")


@shared_task(name="tests.failing_task")
def failing_task() -> None:
    raise RuntimeError("boom")


@shared_task(name="notifications.tests_failing_sender")
def failing_sender() -> None:
    raise RuntimeError("telegram is broken")


def test_unhandled_task_exceptions_raise_an_alert_but_the_alert_tasks_do_not(eager_tasks):
    failing_task.apply()
    failing_sender.apply()

    [alert] = Alert.objects.all()
    assert alert.fingerprint == "task:tests.failing_task:RuntimeError"
    assert alert.details["error"] == "boom"


def test_the_bot_token_never_reaches_a_log_record(telegram, caplog):
    with caplog.at_level(logging.DEBUG):
        alert_raise(fingerprint="f", title="Trouble")
        messages_send_due()

    assert telegram.texts()
    raw = "\n".join(record.getMessage() + repr(record.__dict__) for record in caplog.records)
    assert "Trouble" in raw
    assert BOT_TOKEN.split(":")[1] not in raw


def test_a_rejected_token_fails_for_good_without_storing_the_token(settings):
    elsewhere = FakeTelegram("999:another-token")
    settings.TELEGRAM_BOT_TOKEN = BOT_TOKEN
    settings.TELEGRAM_CHAT_IDS = [OPS_CHAT]
    settings.TELEGRAM_API_BASE_URL = elsewhere.url
    try:
        alert_raise(fingerprint="f", title="Trouble")
        messages_send_due()
    finally:
        elsewhere.close()

    message = Message.objects.get()
    assert message.status == "failed"
    assert "InvalidToken" in message.last_error
    assert BOT_TOKEN.split(":")[1] not in message.last_error


def test_alert_details_carry_no_secrets(telegram):
    alert_raise(
        fingerprint="f",
        title="Push to https://hr.example/hook?token=abc123 failed",
        details={"url": "https://hr.example/hook?token=abc123", "error": "Bearer tly_secretvalue rejected"},
    )
    messages_send_due()

    stored = Alert.objects.get()
    everything = stored.title + repr(stored.details) + "".join(telegram.texts())
    assert "abc123" not in everything
    assert "tly_secretvalue" not in everything
    assert "https://hr.example/hook" in everything


def test_long_details_are_clipped_without_breaking_the_html(telegram):
    alert_raise(fingerprint="f", title="<&>" * 100, details={f"k{n}": "<&>" * 300 for n in range(20)})
    messages_send_due()

    [text] = telegram.texts()
    assert len(text) < 4096
    assert "&amp;" in text
    assert text.count("<b>") == text.count("</b>")
    assert not text.rstrip("…").endswith("&amp")


def test_alert_admin_lists_filters_and_searches(admin_client, telegram):
    alert_raise(fingerprint="f", title="Trouble at the mill", details={"where": "mill"})
    messages_send_due()
    alert = Alert.objects.get()

    assert "Trouble at the mill" in admin_client.get("/admin/notifications/alert/", {"q": "mill"}).content.decode()
    assert "Trouble" in admin_client.get("/admin/notifications/alert/", {"sent": "sent"}).content.decode()
    assert "Trouble" not in admin_client.get("/admin/notifications/alert/", {"sent": "failed"}).content.decode()
    assert admin_client.get("/admin/notifications/alert/", {"severity__exact": "error"}).status_code == 200
    assert admin_client.get(f"/admin/notifications/alert/{alert.pk}/change/").status_code == 200
    assert admin_client.get("/admin/notifications/message/").status_code == 200


@pytest.mark.parametrize(
    ("status", "description", "final"),
    [
        (400, "Bad Request: chat not found", "failed"),
        (403, "Forbidden: bot was blocked by the user", "failed"),
        (401, "Unauthorized", "failed"),
        (500, "Internal Server Error", "pending"),
        (502, "Bad Gateway", "pending"),
    ],
)
def test_permanent_errors_fail_at_once_and_transient_ones_wait_for_a_retry(telegram, status, description, final):
    telegram.script = [BotReply(status, {"ok": False, "error_code": status, "description": description})]
    alert_raise(fingerprint="f", title="Trouble")

    messages_send_due()

    message = Message.objects.get()
    assert message.status == final
    assert message.attempt_count == 1


@pytest.mark.django_db(transaction=True)
def test_the_request_path_never_waits_on_telegram(source, post_webhook, settings):
    settings.TELEGRAM_BOT_TOKEN = BOT_TOKEN
    settings.TELEGRAM_CHAT_IDS = [OPS_CHAT]
    with silent_server() as port:
        settings.TELEGRAM_API_BASE_URL = f"http://127.0.0.1:{port}"
        started = time.monotonic()
        response = post_webhook(source, completed(score="bad"))
        elapsed = time.monotonic() - started

    assert response.status_code == 400
    assert elapsed < 2, "the alert is only stored and queued on the request path"
    assert Message.objects.get().status == "pending"


def test_an_alert_the_database_cannot_store_is_sent_straight_once_per_window(telegram, eager_tasks):
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE notifications_alert RENAME TO notifications_alert_away")
    try:
        for _ in range(3):
            assert alert_raise(fingerprint="db", title="Database is down", details={"error": "gone"}) is None
    finally:
        with connection.cursor() as cursor:
            cursor.execute("ALTER TABLE notifications_alert_away RENAME TO notifications_alert")

    [text] = telegram.texts(OPS_CHAT)
    assert "Database is down" in text


def test_a_throttled_occurrence_costs_one_statement(telegram):
    alert_raise(fingerprint="f", title="Trouble")
    with CaptureQueriesContext(connection) as captured:
        alert_raise(fingerprint="f", title="Trouble")

    statements = [q["sql"] for q in captured.captured_queries if not q["sql"].startswith(("SAVEPOINT", "RELEASE"))]
    assert len(statements) == 1, statements
    assert Alert.objects.get().count == 2
