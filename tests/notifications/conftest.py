"""A fake Telegram Bot API on loopback, and Tally pointed at it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.servers import FakeTelegram

BOT_TOKEN = "123456:TEST-token_abcdefghijklmnopqrstuv"
OPS_CHAT = "-1001"
OTHER_CHAT = "-2002"


@pytest.fixture
def telegram(settings) -> Iterator[FakeTelegram]:
    fake = FakeTelegram(BOT_TOKEN)
    settings.TELEGRAM_BOT_TOKEN = BOT_TOKEN
    settings.TELEGRAM_CHAT_IDS = [OPS_CHAT]
    settings.TELEGRAM_API_BASE_URL = fake.url
    yield fake
    fake.close()
