"""The native envelope: {"id", "type", "occurred_at", "data": {...}}."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, NamedTuple

from rest_framework.exceptions import ValidationError
from rest_framework.fields import empty

from results.services import Completion, UserRef
from webhooks.adapters.base import (
    Erase,
    ParsedEvent,
    PayloadInvalid,
    PayloadSerializer,
    Reset,
    dotted_errors,
    json_object,
    prebuilt,
)
from webhooks.adapters.fields import (
    PositiveIntegerField,
    ScoreField,
    StrictBooleanField,
    TextField,
    TimestampField,
)

if TYPE_CHECKING:
    from webhooks.models import Source

KEY_MAX_LENGTH = 255


class EnvelopeSerializer(PayloadSerializer):
    """The fields every native event has; `data` is validated by its type's serializer."""

    id = TextField(max_length=KEY_MAX_LENGTH, required=False)
    type = TextField(max_length=100)
    occurred_at = TimestampField(required=False)


class UserIdSerializer(PayloadSerializer):
    """`data.user` when only the id is used."""

    id = TextField(max_length=255, coerce_int=True)


class UserSerializer(UserIdSerializer):
    """`data.user` with the profile a summary shows."""

    email = TextField(max_length=320, required=False)
    name = TextField(max_length=300, required=False)


class TestIdSerializer(PayloadSerializer):
    """`data.test` when only the id is used."""

    id = TextField(max_length=255, coerce_int=True)


class TestSerializer(TestIdSerializer):
    """`data.test` with what a result records about the unit."""

    title = TextField(max_length=500, required=False)
    course_id = TextField(max_length=255, required=False, coerce_int=True)


class EventDataSerializer(PayloadSerializer):
    """The `data` of a native type that Tally applies."""

    @abstractmethod
    def to_action(
        self, data: dict[str, Any], *, occurred_at: datetime | None, pass_ratio: Decimal
    ) -> Completion | Reset | Erase:
        """What the validated `data` asks for."""


class TestCompletedSerializer(EventDataSerializer):
    """`test.completed` data; its completed_at defaults to the envelope's occurred_at."""

    user = UserSerializer()
    organization = TextField(max_length=255, required=False)
    test = TestSerializer()
    score = ScoreField()
    max_score = ScoreField(positive=True)
    passed = StrictBooleanField(required=False)
    attempt = PositiveIntegerField(default=1)
    completed_at = TimestampField(required=False)

    def cross_check(self, values: dict[str, Any], errors: dict[str, Any]) -> None:
        if "score" in values and "max_score" in values and values["score"] > values["max_score"]:
            errors["score"] = ["Must not be greater than max_score."]

    def to_action(self, data: dict[str, Any], *, occurred_at: datetime | None, pass_ratio: Decimal) -> Completion:
        user, test = data["user"], data["test"]
        score, max_score = data["score"], data["max_score"]
        passed = data.get("passed")
        completed_at = data.get("completed_at", occurred_at)
        assert completed_at is not None, "UndatedTestCompletedSerializer requires completed_at"
        return Completion(
            user=UserRef(id=user["id"], email=user.get("email") or "", name=user.get("name") or ""),
            unit_id=test["id"],
            score=score,
            max_score=max_score,
            passed=score >= max_score * pass_ratio if passed is None else passed,
            attempt=data["attempt"],
            completed_at=completed_at,
            title=test.get("title") or "",
            course_id=test.get("course_id") or "",
            organization=data.get("organization") or "",
        )


class UndatedTestCompletedSerializer(TestCompletedSerializer):
    """`test.completed` data in an envelope without a valid occurred_at: completed_at is then required."""

    completed_at = TimestampField(
        error_messages={"required": "Required when the event has no valid occurred_at: give either one."}
    )


class TestResetSerializer(EventDataSerializer):
    """`test.reset` data: that user's result for that test stops counting."""

    user = UserIdSerializer()
    test = TestIdSerializer()
    reset_at = TimestampField(required=False)

    def to_action(self, data: dict[str, Any], *, occurred_at: datetime | None, pass_ratio: Decimal) -> Reset:
        return Reset(user_id=data["user"]["id"], unit_id=data["test"]["id"], reset_at=data.get("reset_at", occurred_at))


class UserDeletedSerializer(EventDataSerializer):
    """`user.deleted` data: the user's results and personal data are erased."""

    user = UserIdSerializer()

    def to_action(self, data: dict[str, Any], *, occurred_at: datetime | None, pass_ratio: Decimal) -> Erase:
        return Erase(user_id=data["user"]["id"])


class _DataSerializers(NamedTuple):
    dated: EventDataSerializer  # for an envelope with a valid occurred_at
    undated: EventDataSerializer  # for one without


# Built once and shared by all requests and threads: see the note in base.py.
_ENVELOPE = prebuilt(EnvelopeSerializer())
_reset = prebuilt(TestResetSerializer())
_user_deleted = prebuilt(UserDeletedSerializer())
_DATA = {
    "test.completed": _DataSerializers(prebuilt(TestCompletedSerializer()), prebuilt(UndatedTestCompletedSerializer())),
    "test.reset": _DataSerializers(_reset, _reset),
    "user.deleted": _DataSerializers(_user_deleted, _user_deleted),
}


def parse(payload: Any, *, source: Source, header_id: str | None, query: Mapping[str, str]) -> ParsedEvent:
    """Validate a native webhook and say what it asks for; every bad field is named."""
    pass_ratio = source.pass_ratio
    body = json_object(payload)
    values, detail = _ENVELOPE.validate_fields(body)
    errors = dotted_errors(detail)
    key = values.get("id") or header_id
    key_error = None
    if "id" in errors:
        pass  # the body's id is wrong (not a string, too long): that message says what to fix
    elif not key:
        key_error = "Required: give the event an `id`, or send a `webhook-id` header."
    elif len(key) > KEY_MAX_LENGTH:  # only a header can be too long: the body's id was checked above
        key_error = f"At most {KEY_MAX_LENGTH} characters (the `webhook-id` header)."
    if key_error is not None:
        errors = {"id": [key_error], **errors}  # id first, as in the envelope
    event_type: str = values.get("type", "")
    kind = _DATA.get(event_type)
    if kind is None:  # another type, or none: stored as ignored if nothing else is wrong
        if errors:
            raise PayloadInvalid(errors)
        return ParsedEvent(key=str(key), type=event_type, action=None)

    occurred_at: datetime | None = values.get("occurred_at")
    serializer = kind.undated if occurred_at is None else kind.dated
    try:
        data = serializer.run_validation(body.get("data", empty))
    except ValidationError as exc:
        raise PayloadInvalid(dotted_errors(exc.detail, "data", errors)) from None
    if errors:
        raise PayloadInvalid(errors)
    return ParsedEvent(
        key=str(key),
        type=event_type,
        action=serializer.to_action(data, occurred_at=occurred_at, pass_ratio=pass_ratio),
    )
