"""The bot talks to the fake Telegram of the alert tests."""

from __future__ import annotations

from tests.notifications.conftest import telegram

__all__ = ["telegram"]
