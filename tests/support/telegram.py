"""A fake Telegram Bot API on loopback, answering as Telegram does."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import parse_qsl

from tests.support.receivers import Handler, LoopbackServer


@dataclass
class BotReply:
    """A scripted answer of the fake Bot API to one sendMessage."""

    status: int = 200
    payload: dict[str, Any] | None = None


class FakeTelegram(LoopbackServer):
    """A Bot API server on loopback: getMe, sendMessage, getUpdates and friends, as Telegram answers them."""

    methods: ClassVar[frozenset[str]] = frozenset({"GET", "POST"})

    def __init__(self, token: str) -> None:
        super().__init__()
        self.token = token
        self.sent: list[dict[str, Any]] = []
        self.calls: list[str] = []
        self.script: list[BotReply] = []
        self.updates: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._next_message_id = 1
        self._next_update_id = 1000
        self.start()

    def handle(self, request: Handler) -> None:
        prefix = f"/bot{self.token}/"
        if not request.path.startswith(prefix):
            status, payload = 404, {"ok": False, "error_code": 404, "description": "Not Found"}
        else:
            method = request.path[len(prefix) :].split("?")[0]
            raw = request.body().decode()
            if "json" in request.headers.get("Content-Type", ""):
                params = dict(json.loads(raw or "{}"))
            else:
                params = dict(parse_qsl(raw))
            with self._lock:
                self.calls.append(method)
            status, payload = self._answer(method, params)
        request.answer(status, json.dumps(payload).encode(), {"Content-Type": "application/json"})

    def _answer(self, method: str, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if method == "getMe":
            user = {"id": 4242, "is_bot": True, "first_name": "Tally", "username": "tally_test_bot"}
            return 200, {"ok": True, "result": user}
        if method == "getUpdates":
            with self._lock:
                offset = int(params.get("offset") or 0)
                pending = [u for u in self.updates if u["update_id"] >= offset]
                self.updates = pending
            return 200, {"ok": True, "result": pending}
        if method in {"deleteWebhook", "setMyCommands"}:
            return 200, {"ok": True, "result": True}
        if method == "sendMessage":
            with self._lock:
                reply = self.script.pop(0) if self.script else BotReply()
                if reply.status == 200:
                    self.sent.append(params)
                    message_id = self._next_message_id
                    self._next_message_id += 1
            if reply.status != 200:
                return reply.status, reply.payload or {"ok": False, "error_code": reply.status, "description": "error"}
            chat = {"id": int(params["chat_id"]), "type": "group", "title": "ops"}
            result = {"message_id": message_id, "date": int(time.time()), "chat": chat, "text": params.get("text", "")}
            return 200, {"ok": True, "result": result}
        return 404, {"ok": False, "error_code": 404, "description": "Not Found: method not found"}

    def add_message(self, chat_id: int, text: str) -> None:
        """A user writes to the bot in a chat."""
        with self._lock:
            self._next_update_id += 1
            update_id = self._next_update_id
            self.updates.append(
                {
                    "update_id": update_id,
                    "message": {
                        "message_id": update_id,
                        "date": int(time.time()),
                        "chat": {"id": chat_id, "type": "group", "title": "ops"},
                        "from": {"id": 7, "is_bot": False, "first_name": "Op"},
                        "text": text,
                    },
                }
            )

    def texts(self, chat_id: str | None = None) -> list[str]:
        with self._lock:
            return [m["text"] for m in self.sent if chat_id is None or str(m["chat_id"]) == chat_id]
