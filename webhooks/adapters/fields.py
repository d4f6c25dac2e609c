"""Strict serializer fields for webhook JSON: no coercion from strings, `null` means absent."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, TypeVar

from django.conf import settings
from rest_framework import serializers
from rest_framework.fields import empty

MAX_SCORE_VALUE = Decimal("9999999999.99")  # what a result's score columns hold (results.models)
MAX_SCORE_EXPONENT = MAX_SCORE_VALUE.adjusted()  # a number of 10**10 or more is beyond it
CENT = Decimal("0.01")
ZERO = Decimal("0.00")
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
        "invalid_or_integer": "Expected a string or a whole number.",
        "number": 'Expected a string: put the number in quotes, e.g. "{example}".',
        "blank": "May not be blank.",
        "max_length": "At most {max_length} characters.",
        "max_digits": "Too long: at most {max_length} digits.",
        "null_characters": "May not contain NUL characters.",
        "surrogates": "May not contain lone surrogate characters.",
    }

    def __init__(self, *, max_length: int, coerce_int: bool = False, required: bool = True) -> None:
        super().__init__(required=required)
        self.max_length = max_length
        self.coerce_int = coerce_int

    def to_internal_value(self, data: Any) -> str:
        text: str = data if isinstance(data, str) else self._text_of_number(data)
        return self._checked(text)

    def _checked(self, data: str) -> str:
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

    def _text_of_number(self, data: Any) -> str:
        """An integer id as its digits (with `coerce_int`); anything else fails, saying what to send."""
        whole = isinstance(data, int) and not isinstance(data, bool)
        if whole and self.coerce_int:
            # Platforms number users and tests; an integer id is the same id as its digits.
            # An integer longer than the field could not be turned into text by Python
            # beyond 4300 digits: its length is known from its size.
            if abs(data).bit_length() > _DIGITS_BITS * self.max_length:
                self.fail("max_digits", max_length=self.max_length)
            text = str(data)
            if len(text) > self.max_length:
                self.fail("max_digits", max_length=self.max_length)
            return text
        if self.coerce_int:
            if isinstance(data, Decimal) and data.is_finite() and data.adjusted() >= self.max_length:
                self.fail("max_digits", max_length=self.max_length)  # an integer too long for Python's int (json_int)
            self.fail("invalid_or_integer")
        if whole and abs(data).bit_length() <= 64:
            self.fail("number", example=data)  # `"id": 5`: the platform meant the string "5"
        self.fail("invalid")


# An integer of n digits has more than 3.32 * (n - 1) bits: more than this many per digit is surely too long.
_DIGITS_BITS = 4


class ScoreField(PayloadField[Decimal]):
    """A JSON number, rounded half-up to hundredths, from 0 (or above 0: `positive`) to MAX_SCORE_VALUE.

    The bounds are what a result's columns hold (results.models: 12 digits, 2
    after the point). A sign is checked on the number as sent, the upper bound
    on the rounded number, the one stored.
    """

    default_error_messages = {
        "invalid": "Expected a number.",
        "not_finite": "Expected a finite number.",
        "min_value": "Must be 0 or greater.",
        "positive": "Must be greater than 0.",
        "below_a_cent": "Must be at least 0.01: scores are kept to hundredths, and this rounds to 0.",
        "max_value": f"Too large: must be at most {MAX_SCORE_VALUE}.",
    }

    def __init__(self, *, positive: bool = False, required: bool = True) -> None:
        super().__init__(required=required)
        self.positive = positive

    def to_internal_value(self, data: Any) -> Decimal:
        # The body is parsed with parse_float=Decimal, so a JSON number is an int or a Decimal;
        # a float only comes from other callers and would carry binary rounding.
        if isinstance(data, bool) or not isinstance(data, int | Decimal):
            self.fail("invalid")
        number = Decimal(data)  # exact, however many digits
        if not number.is_finite():
            self.fail("not_finite")
        if number < 0 or (self.positive and number == 0):
            self.fail("positive" if self.positive else "min_value")
        if number and number.adjusted() > MAX_SCORE_EXPONENT:  # 1e30 or a 5,000-digit number: too large to round
            self.fail("max_value")
        # At most 13 digits before rounding away the rest: within any decimal context's precision.
        number = number.quantize(CENT, rounding=ROUND_HALF_UP)
        if number > MAX_SCORE_VALUE:  # 9999999999.995 rounds to 10000000000.00
            self.fail("max_value")
        if number == 0:
            if self.positive:
                self.fail("below_a_cent")
            return ZERO  # `-0.001` is 0 as well, kept without its sign
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

    default_error_messages = {"invalid": f"Expected a whole number from 1 to {MAX_INT32}."}

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
