"""Long-poll the Telegram Bot API and answer /status, /failed and /retry in the configured chats.

An operator console: it reads the other apps' data and replays deliveries,
through the Telegram transport of `notifications`, which itself reads no one.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import logging
from argparse import ArgumentParser
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import close_old_connections, connections
from django.utils import timezone
from telegram.error import TelegramError

from console.selectors import deliveries_failed_latest, intake_day, outbox_state
from deliveries.models import Delivery, delivery_pk
from deliveries.replay import deliveries_replay
from notifications.transport import bot, classify

logger = logging.getLogger(__name__)

HELP = (
    "/status — pipeline state\n"
    "/failed — the latest 10 failed or dead deliveries\n"
    "/retry &lt;delivery id&gt; — push again"
)


def _status() -> str:
    now = timezone.now()
    intake = intake_day(day=now.date())
    outbox = outbox_state()
    oldest = outbox.oldest_pending_at
    age = f"{int((now - oldest).total_seconds())} s" if oldest else "none"
    return (
        "<b>Tally status</b>\n"
        f"events today: {intake.received} received, {intake.accepted} accepted, {intake.rejected} rejected\n"
        f"deliveries: {outbox.pending} pending, {outbox.failed} failed, {outbox.dead} dead\n"
        f"oldest pending: {age}"
    )


def _failed() -> str:
    rows = deliveries_failed_latest(limit=10)
    if not rows:
        return "No failed or dead deliveries."
    lines = ["<b>Latest failed deliveries</b>"]
    for d in rows:
        lines.append(
            f"<code>{d.webhook_id}</code> {d.status} → {html.escape(d.destination.name)}, "
            f"user {html.escape(d.user_id)}: {html.escape(d.last_error[:120])}"
        )
    return "\n".join(lines)


def _retry(argument: str) -> str:
    pk = delivery_pk(argument)
    if pk is None:
        return "Usage: /retry &lt;delivery id&gt;, e.g. /retry dlv_42_7"
    selected = Delivery.objects.filter(pk=pk)
    if not selected.exists():
        return f"No delivery {html.escape(argument)}."
    queued = deliveries_replay(deliveries=selected)
    return f"Queued {queued} replay(s) of {html.escape(argument)} (rerun)."


def answer(chat_id: str, text: str) -> str | None:
    """The reply to one message, or None to stay silent. Only configured chats get data."""
    # A long-running process: drop connections the database closed meanwhile.
    close_old_connections()
    try:
        return _answer(chat_id, text)
    except Exception:
        logger.exception("the bot could not answer", extra={"command": text[:40]})
        return "Tally could not answer that just now; the error is logged."


def _answer(chat_id: str, text: str) -> str | None:
    if chat_id not in settings.TELEGRAM_CHAT_IDS:
        return "This chat is not allowed to ask Tally anything." if text.startswith("/") else None
    command, _, argument = text.strip().partition(" ")
    command = command.split("@")[0].lower()
    if command == "/status":
        return _status()
    if command == "/failed":
        return _failed()
    if command == "/retry":
        return _retry(argument.strip())
    if command in {"/start", "/help"}:
        return HELP
    return None


class Command(BaseCommand):
    help = "Run the Telegram bot: answers /status, /failed and /retry <delivery_id> in TELEGRAM_CHAT_IDS."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--once", action="store_true", help="Handle one batch of updates and exit.")
        parser.add_argument("--poll-timeout", type=int, default=25, help="Long-poll seconds.")

    def handle(self, *args: Any, once: bool, poll_timeout: int, **options: Any) -> None:
        if not settings.TELEGRAM_BOT_TOKEN:
            raise CommandError("TELEGRAM_BOT_TOKEN is not set.")
        if not settings.TELEGRAM_CHAT_IDS:
            raise CommandError("TELEGRAM_CHAT_IDS is not set: the bot would answer nobody.")
        try:
            with contextlib.suppress(KeyboardInterrupt):
                asyncio.run(self._poll(once=once, poll_timeout=poll_timeout))
        except TelegramError as exc:
            raise CommandError(f"Telegram refused: {classify(exc)}") from None

    async def _poll(self, *, once: bool, poll_timeout: int) -> None:
        try:
            await self._loop(once=once, poll_timeout=poll_timeout)
        finally:
            # The answers ran in asgiref's worker thread: close its connection.
            await sync_to_async(connections.close_all, thread_sensitive=True)()

    async def _loop(self, *, once: bool, poll_timeout: int) -> None:
        reply = sync_to_async(answer, thread_sensitive=True)
        offset: int | None = None
        async with bot() as telegram:
            self.stdout.write(f"Bot @{telegram.username} answering in {len(settings.TELEGRAM_CHAT_IDS)} chat(s).")
            while True:
                try:
                    updates = await telegram.get_updates(
                        offset=offset,
                        timeout=poll_timeout,
                        allowed_updates=["message"],
                        read_timeout=poll_timeout + 10,
                    )
                except TelegramError as exc:
                    logger.warning("getUpdates failed; trying again", extra={"error": str(exc)})
                    if once:
                        raise CommandError(f"getUpdates failed: {exc}") from exc
                    await asyncio.sleep(5)
                    continue
                for update in updates:
                    offset = update.update_id + 1
                    message = update.effective_message
                    if message is None or not message.text or update.effective_chat is None:
                        continue
                    text = await reply(str(update.effective_chat.id), message.text)
                    if text:
                        try:
                            await telegram.send_message(chat_id=update.effective_chat.id, text=text, parse_mode="HTML")
                        except TelegramError as exc:
                            logger.warning("could not answer", extra={"error": str(exc)})
                if once:
                    if offset is not None:
                        # Acknowledge what was handled, as the next long poll would.
                        await telegram.get_updates(offset=offset, timeout=0)
                    return
