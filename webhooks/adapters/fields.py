"""Strict serializer fields for webhook JSON: no coercion from strings, `null` means absent."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, TypeVar

from django.conf import settings
from rest_framework import serializers
from rest_framework.fields import empty

MAX_SCORE_VALUE = Decimal("9999999999.99")
CENT = Decimal("0.01")
MAX_INT32 = 2**31 - 1

_V = TypeVar("_V")


class PayloadField(serializers.Field[_V, Any, _V, Any]):
    """A field that treats JSON `null` as a missing value (required: an error; optional: its default)."""

    def validate_empty_values(self, data: Any) -> tuple[bool, Any]:
        # Platforms send `null` for fields they leave out: both mean absent.
        return super().validate_empty_values(empty if data is None else data)


class TextField(PayloadField[str]):
    """A JSON string, kept as sent; a required one may not be blank. An integer is accepted with `coerce_int`."""

    default_error_messages = {
        "invalid": "Expected a string.",
        "blank": "May not be blank.",
        "max_length": "At most {max_length} characters.",
        "null_characters": "May not contain NUL characters.",
        "surrogates": "May not contain lone surrogate characters.",
    }

    def __init__(self, *, max_length: int, coerce_int: bool = False, required: bool = True) -> None:
        super().__init__(required=required)
        self.max_length = max_length
        self.coerce_int = coerce_int

    def to_internal_value(self, data: Any) -> str:
        # Platforms number users and tests; an integer id is the same id as its digits.
        if self.coerce_int and isinstance(data, int) and not isinstance(data, bool):
            data = str(data)
        if not isinstance(data, str):
            self.fail("invalid")
        if self.required and not data.strip():
            self.fail("blank")
        if len(data) > self.max_length:
            self.fail("max_length", max_length=self.max_length)
        if "\x00" in data:
            self.fail("null_characters")  # PostgreSQL text cannot store it
        try:
            data.encode("utf-8")
        except UnicodeEncodeError:
            self.fail("surrogates")  # a lone surrogate (JSON "\ud800") is not text PostgreSQL can store
        return data


class ScoreField(PayloadField[Decimal]):
    """A JSON number ≥ 0, rounded half-up to hundredths."""

    default_error_messages = {
        "invalid": "Expected a number.",
        "not_finite": "Expected a finite number.",
        "min_value": "Must be 0 or greater.",
        "max_value": f"Must be at most {MAX_SCORE_VALUE}.",
    }

    def to_internal_value(self, data: Any) -> Decimal:
        # The body is parsed with parse_float=Decimal, so a JSON number is an int or a Decimal;
        # a float only comes from other callers and would carry binary rounding.
        if isinstance(data, bool) or not isinstance(data, int | Decimal):
            self.fail("invalid")
        try:
            number = Decimal(data).quantize(CENT, rounding=ROUND_HALF_UP)
        except InvalidOperation:  # more digits than the decimal context holds
            self.fail("not_finite")
        if number < 0:
            self.fail("min_value")
        if number > MAX_SCORE_VALUE:
            self.fail("max_value")
        return number


MAX_INT64 = 2**63 - 1


class WholeNumberField(PayloadField[int]):
    """A JSON integer from 0 to 2**63 - 1 (a PostgreSQL bigint: ids beyond it are no one's)."""

    default_error_messages = {"invalid": "Expected a whole number from 0 to 9223372036854775807."}

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, int) and not isinstance(data, bool) and 0 <= data <= MAX_INT64:
            return data
        self.fail("invalid")


class PositiveIntegerField(PayloadField[int]):
    """A JSON integer from 1 to 2**31 - 1 (a PostgreSQL integer)."""

    default_error_messages = {"invalid": "Expected a whole number of at least 1."}

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, int) and not isinstance(data, bool) and 1 <= data <= MAX_INT32:
            return data
        self.fail("invalid")


class StrictBooleanField(PayloadField[bool]):
    """JSON true or false, not "yes" or 1."""

    default_error_messages = {"invalid": "Expected true or false."}

    def to_internal_value(self, data: Any) -> bool:
        if not isinstance(data, bool):
            self.fail("invalid")
        return data


class TimestampField(PayloadField[datetime]):
    """An ISO 8601 date-time (a space may stand for the T), in UTC; one without an offset is UTC."""

    default_error_messages = {
        "invalid": "Expected an ISO 8601 date-time, e.g. 2026-11-22T10:00:00Z.",
        "future": "May not be more than {seconds} s in the future.",
    }

    def to_internal_value(self, data: Any) -> datetime:
        if not isinstance(data, str):
            self.fail("invalid")
        try:
            parsed = datetime.fromisoformat(data)
            moment = parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
        except (ValueError, OverflowError):  # OverflowError: year 1 at +01:00 has no UTC time
            self.fail("invalid")
        # A result "completed" in the year 9000 would win over every real one, forever.
        ahead = settings.WEBHOOK_TIMESTAMP_TOLERANCE_SECONDS
        if moment > datetime.now(UTC) + timedelta(seconds=ahead):
            self.fail("future", seconds=ahead)
        return moment
