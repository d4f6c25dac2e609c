"""Telegram transport on python-telegram-bot: errors come out typed as permanent or transient."""

from __future__ import annotations

import asyncio
import os
from datetime import timedelta

# Opt in to RetryAfter.retry_after being a timedelta (python-telegram-bot's
# announced default), which also silences its transition warning.
os.environ.setdefault("PTB_TIMEDELTA", "1")

from django.conf import settings
from telegram import Bot
from telegram.error import BadRequest, ChatMigrated, Forbidden, InvalidToken, RetryAfter, TelegramError
from telegram.request import HTTPXRequest


class TransportError(Exception):
    """Sending failed. Permanent errors (bad token, unknown chat, bot blocked) are not retried."""

    def __init__(self, message: str, *, permanent: bool, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.retry_after = retry_after


def _request() -> HTTPXRequest:
    return HTTPXRequest(connect_timeout=5.0, read_timeout=10.0, write_timeout=10.0, pool_timeout=5.0)


def bot(request: HTTPXRequest | None = None) -> Bot:
    """A Bot for the configured token and API base URL, with connect and read timeouts."""
    base = settings.TELEGRAM_API_BASE_URL.rstrip("/")
    return Bot(settings.TELEGRAM_BOT_TOKEN, base_url=f"{base}/bot", request=request or _request())


def _scrub(text: str) -> str:
    """python-telegram-bot puts the token in some messages (e.g. a rejected token): mask it."""
    token = settings.TELEGRAM_BOT_TOKEN
    return text.replace(token, "***") if token else text


def _seconds(value: int | float | timedelta) -> float:
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def classify(exc: TelegramError) -> TransportError:
    """Map a python-telegram-bot error to a permanent or transient TransportError."""
    message = _scrub(f"{type(exc).__name__}: {exc}")
    if isinstance(exc, RetryAfter):
        return TransportError(message, permanent=False, retry_after=_seconds(exc.retry_after))
    # BadRequest (e.g. "chat not found") subclasses NetworkError: test it first.
    if isinstance(exc, BadRequest | Forbidden | InvalidToken | ChatMigrated):
        return TransportError(message, permanent=True)
    return TransportError(message, permanent=False)


async def _send(chat_id: str, text: str) -> None:
    # No Bot.initialize(): it would call getMe before every message.
    request = _request()
    try:
        await bot(request).send_message(chat_id=chat_id, text=text, parse_mode="HTML", disable_web_page_preview=True)
    finally:
        await request.shutdown()


def send_message(*, chat_id: str, text: str) -> None:
    """Send one HTML message; raises TransportError."""
    try:
        asyncio.run(_send(chat_id, text))
    except TelegramError as exc:
        raise classify(exc) from exc
