"""run_telegram_bot: /status, /failed and /retry answer in allowed chats and reveal nothing elsewhere."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from deliveries.destinations import destination_create
from deliveries.models import Delivery
from deliveries.worker import deliveries_process_due
from tests.factories import completed
from tests.notifications.conftest import OPS_CHAT, OTHER_CHAT
from tests.servers import FakeTelegram, Reply
from webhooks.counters import intake_counts_flush

# The bot answers from another thread (and so another connection): data must be committed.
pytestmark = pytest.mark.django_db(transaction=True)


def ask(telegram: FakeTelegram, chat: str, text: str) -> list[str]:
    before = len(telegram.texts(chat))
    telegram.add_message(int(chat), text)
    call_command("run_telegram_bot", "--once", "--poll-timeout", "0", stdout=StringIO())
    return telegram.texts(chat)[before:]


@pytest.fixture
def failed_delivery(source, post_webhook, receiver) -> Delivery:
    destination_create(name="acme-hr", url=receiver.url, source_slugs=[source.slug])
    receiver.default = Reply(400, body=b"nope")
    post_webhook(source, completed(user="u-9"))
    post_webhook(source, completed(user="u-10", score="bad"))
    intake_counts_flush()  # as the web process does within INTAKE_COUNTER_FLUSH_SECONDS
    deliveries_process_due(retries=False, max_seconds=5)
    receiver.default = Reply(200)
    return Delivery.objects.get(status="failed")


def test_status_answers_with_todays_counts_and_the_delivery_state(telegram, failed_delivery):
    [reply] = ask(telegram, OPS_CHAT, "/status")

    assert "events today: 2 received, 1 accepted, 1 rejected" in reply
    assert "0 pending, 1 failed, 0 dead" in reply
    assert "oldest pending: none" in reply


def test_failed_lists_the_latest_failures(telegram, failed_delivery):
    [reply] = ask(telegram, OPS_CHAT, "/failed")

    assert failed_delivery.webhook_id in reply
    assert "acme-hr" in reply
    assert "u-9" in reply
    assert "HTTP 400" in reply


def test_retry_queues_a_rerun_of_the_delivery(telegram, failed_delivery):
    [reply] = ask(telegram, OPS_CHAT, f"/retry {failed_delivery.webhook_id}")

    assert "Queued 1 replay" in reply
    rerun = Delivery.objects.get(status="pending")
    assert (rerun.rerun, rerun.user_id) == (True, "u-9")


def test_retry_of_an_unknown_delivery_says_so(telegram, db):
    assert "No delivery dlv_999_1" in ask(telegram, OPS_CHAT, "/retry dlv_999_1")[0]
    assert "Usage" in ask(telegram, OPS_CHAT, "/retry")[0]


@pytest.mark.parametrize("command", ["/status", "/failed", "/retry dlv_1_1"])
def test_other_chats_learn_nothing(telegram, failed_delivery, command):
    replies = ask(telegram, OTHER_CHAT, command)

    assert replies == ["This chat is not allowed to ask Tally anything."]
    assert Delivery.objects.filter(rerun=True).count() == 0


def test_updates_are_acknowledged_so_they_are_answered_once(telegram, db):
    ask(telegram, OPS_CHAT, "/status")
    call_command("run_telegram_bot", "--once", "--poll-timeout", "0", stdout=StringIO())

    assert len(telegram.texts(OPS_CHAT)) == 1


def test_the_bot_refuses_to_start_without_a_token_or_chats(settings):
    settings.TELEGRAM_BOT_TOKEN = ""
    with pytest.raises(CommandError, match="TELEGRAM_BOT_TOKEN"):
        call_command("run_telegram_bot", "--once")
    settings.TELEGRAM_BOT_TOKEN = "1:x"
    settings.TELEGRAM_CHAT_IDS = []
    with pytest.raises(CommandError, match="TELEGRAM_CHAT_IDS"):
        call_command("run_telegram_bot", "--once")
