"""Builders for test data: sources and webhook bodies as platforms send them."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from webhooks.models import Source
from webhooks.sources import source_create

_counter = itertools.count(1)

BASE_TIME = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
WHSEC = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
TOKEN = "source-token-0123456789abcdef"


def make_source(**overrides: Any) -> Source:
    options: dict[str, Any] = {"slug": f"src-{next(_counter)}", "auth_mode": Source.AuthMode.TOKEN, "token": TOKEN}
    options.update(overrides)
    return source_create(**options)


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def completed(
    *,
    event_id: str | None = None,
    user: str = "u-42",
    unit: str = "t-7",
    score: Any = 8,
    max_score: Any = 10,
    minutes: int = 0,
    attempt: int | None = 1,
    passed: bool | None = True,
    **data: Any,
) -> dict[str, Any]:
    """A native test.completed envelope; `minutes` after BASE_TIME is its completed_at."""
    at = BASE_TIME + timedelta(minutes=minutes)
    body: dict[str, Any] = {
        "id": event_id or f"evt_{next(_counter)}",
        "type": "test.completed",
        "occurred_at": iso(at),
        "data": {
            "user": {"id": user, "email": f"{user}@example.com", "name": user.upper()},
            "organization": "acme",
            "test": {"id": unit, "title": f"Test {unit}", "course_id": "c-1"},
            "score": score,
            "max_score": max_score,
            "completed_at": iso(at),
        },
    }
    if attempt is not None:
        body["data"]["attempt"] = attempt
    if passed is not None:
        body["data"]["passed"] = passed
    body["data"].update(data)
    return body


def reset(*, user: str = "u-42", unit: str = "t-7", minutes: int = 0, event_id: str | None = None) -> dict[str, Any]:
    return {
        "id": event_id or f"evt_{next(_counter)}",
        "type": "test.reset",
        "occurred_at": iso(BASE_TIME + timedelta(minutes=minutes)),
        "data": {"user": {"id": user}, "test": {"id": unit}},
    }


def user_deleted(*, user: str = "u-42", event_id: str | None = None) -> dict[str, Any]:
    return {
        "id": event_id or f"evt_{next(_counter)}",
        "type": "user.deleted",
        "occurred_at": iso(BASE_TIME),
        "data": {"user": {"id": user}},
    }


def dumps(body: Any) -> bytes:
    return json.dumps(body).encode()
