"""The native envelope: {"id", "type", "occurred_at", "data": {...}}."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from results.services import Completion, UserRef
from webhooks.adapters.base import (
    Erase,
    FieldErrors,
    ParsedEvent,
    PayloadInvalid,
    Reset,
    read_datetime,
    read_mapping,
    read_optional_bool,
    read_positive_int,
    read_score,
    read_string,
)


def parse(payload: Any, *, header_id: str | None, pass_ratio: Decimal) -> ParsedEvent:
    """Validate a native webhook and say what it asks for; every bad field is named."""
    if not isinstance(payload, dict):
        raise PayloadInvalid({"non_field_errors": ["Expected a JSON object."]})
    errors = FieldErrors()
    body_id = read_string(errors, payload, "id", required=False, max_length=255)
    key = body_id or header_id
    if not key:
        errors.add("id", "Required: give the event an `id`, or send a `webhook-id` header.")
    elif len(key) > 255:
        errors.add("id", "At most 255 characters.")
    event_type = read_string(errors, payload, "type", max_length=100)
    occurred_at = read_datetime(errors, payload, "occurred_at", required=False)

    handler = _HANDLERS.get(event_type or "")
    if handler is None:
        errors.raise_if_any()
        return ParsedEvent(key=str(key), type=event_type or "", action=None)
    data = read_mapping(errors, payload, "data")
    action = handler(errors, data, occurred_at=occurred_at, pass_ratio=pass_ratio) if data is not None else None
    errors.raise_if_any()
    return ParsedEvent(key=str(key), type=str(event_type), action=action)


def _user(errors: FieldErrors, data: dict[str, Any], *, with_profile: bool) -> UserRef | None:
    user = read_mapping(errors, data, "user", prefix="data.")
    if user is None:
        return None
    user_id = read_string(errors, user, "id", prefix="data.user.", max_length=255, coerce_int=True)
    email = (
        read_string(errors, user, "email", prefix="data.user.", required=False, max_length=320) if with_profile else ""
    )
    name = (
        read_string(errors, user, "name", prefix="data.user.", required=False, max_length=300) if with_profile else ""
    )
    if user_id is None:
        return None
    return UserRef(id=user_id, email=email or "", name=name or "")


def _test_completed(
    errors: FieldErrors, data: dict[str, Any], *, occurred_at: Any, pass_ratio: Decimal
) -> Completion | None:
    user = _user(errors, data, with_profile=True)
    organization = read_string(errors, data, "organization", prefix="data.", required=False, max_length=255)
    test = read_mapping(errors, data, "test", prefix="data.")
    unit_id = title = course_id = None
    if test is not None:
        unit_id = read_string(errors, test, "id", prefix="data.test.", max_length=255, coerce_int=True)
        title = read_string(errors, test, "title", prefix="data.test.", required=False, max_length=500)
        course_id = read_string(
            errors, test, "course_id", prefix="data.test.", required=False, max_length=255, coerce_int=True
        )
    score = read_score(errors, data, "score", prefix="data.")
    max_score = read_score(errors, data, "max_score", prefix="data.")
    if max_score is not None and max_score <= 0:
        errors.add("data.max_score", "Must be greater than 0.")
        max_score = None
    if score is not None and max_score is not None and score > max_score:
        errors.add("data.score", "Must not be greater than max_score.")
    passed = read_optional_bool(errors, data, "passed", prefix="data.")
    attempt = read_positive_int(errors, data, "attempt", prefix="data.", default=1)
    completed_at = read_datetime(errors, data, "completed_at", prefix="data.", required=occurred_at is None)
    if errors or user is None or unit_id is None or score is None or max_score is None or attempt is None:
        return None
    if passed is None:
        passed = score >= max_score * pass_ratio
    return Completion(
        user=user,
        unit_id=unit_id,
        score=score,
        max_score=max_score,
        passed=passed,
        attempt=attempt,
        completed_at=completed_at or occurred_at,
        title=title or "",
        course_id=course_id or "",
        organization=organization or "",
    )


def _test_reset(errors: FieldErrors, data: dict[str, Any], *, occurred_at: Any, pass_ratio: Decimal) -> Reset | None:
    user = _user(errors, data, with_profile=False)
    test = read_mapping(errors, data, "test", prefix="data.")
    unit_id = read_string(errors, test, "id", prefix="data.test.", max_length=255, coerce_int=True) if test else None
    reset_at = read_datetime(errors, data, "reset_at", prefix="data.", required=False) or occurred_at
    if user is None or unit_id is None:
        return None
    return Reset(user_id=user.id, unit_id=unit_id, reset_at=reset_at)


def _user_deleted(errors: FieldErrors, data: dict[str, Any], *, occurred_at: Any, pass_ratio: Decimal) -> Erase | None:
    user = _user(errors, data, with_profile=False)
    return Erase(user_id=user.id) if user is not None else None


_HANDLERS = {
    "test.completed": _test_completed,
    "test.reset": _test_reset,
    "user.deleted": _user_deleted,
}
