"""What every adapter returns, and field readers that collect every error."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from results.services import Completion

MAX_SCORE_VALUE = Decimal("9999999999.99")
CENT = Decimal("0.01")


@dataclass(frozen=True)
class Reset:
    """A unit's result stops counting."""

    user_id: str
    unit_id: str
    reset_at: datetime | None


@dataclass(frozen=True)
class Erase:
    """A user's results and personal data are erased."""

    user_id: str


@dataclass(frozen=True)
class ParsedEvent:
    """A valid webhook: its idempotency key, type, and what to apply (None: ignored)."""

    key: str
    type: str
    action: Completion | Reset | Erase | None


class PayloadInvalid(Exception):
    """The platform sent a structure Tally cannot use; `detail` maps each field to its messages."""

    def __init__(self, detail: dict[str, list[str]]) -> None:
        super().__init__(detail)
        self.detail = detail


class FieldErrors(dict[str, list[str]]):
    def add(self, field: str, message: str) -> None:
        self.setdefault(field, []).append(message)

    def raise_if_any(self) -> None:
        if self:
            raise PayloadInvalid(dict(self))


_MISSING = object()


def _get(errors: FieldErrors, data: dict[str, Any], key: str, prefix: str, required: bool) -> object:
    value = data.get(key, _MISSING)
    if value is _MISSING or value is None:
        if required:
            errors.add(prefix + key, "This field is required.")
        return _MISSING
    return value


def read_mapping(errors: FieldErrors, data: dict[str, Any], key: str, *, prefix: str = "") -> dict[str, Any] | None:
    value = _get(errors, data, key, prefix, required=True)
    if value is _MISSING:
        return None
    if not isinstance(value, dict):
        errors.add(prefix + key, "Expected an object.")
        return None
    return value


def read_string(
    errors: FieldErrors,
    data: dict[str, Any],
    key: str,
    *,
    prefix: str = "",
    required: bool = True,
    max_length: int,
    coerce_int: bool = False,
) -> str | None:
    value = _get(errors, data, key, prefix, required)
    if value is _MISSING:
        return None
    if coerce_int and isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        errors.add(prefix + key, "Expected a string.")
        return None
    if required and not value.strip():
        errors.add(prefix + key, "May not be blank.")
        return None
    if len(value) > max_length:
        errors.add(prefix + key, f"At most {max_length} characters.")
        return None
    if "\x00" in value:
        errors.add(prefix + key, "May not contain NUL characters.")
        return None
    return value


def read_score(errors: FieldErrors, data: dict[str, Any], key: str, *, prefix: str = "") -> Decimal | None:
    """A number ≥ 0, rounded half-up to hundredths."""
    value = _get(errors, data, key, prefix, required=True)
    if value is _MISSING:
        return None
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        errors.add(prefix + key, "Expected a number.")
        return None
    try:
        number = Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)
    except InvalidOperation:
        errors.add(prefix + key, "Expected a finite number.")
        return None
    if number < 0:
        errors.add(prefix + key, "Must be 0 or greater.")
        return None
    if number > MAX_SCORE_VALUE:
        errors.add(prefix + key, f"Must be at most {MAX_SCORE_VALUE}.")
        return None
    return number


def read_positive_int(
    errors: FieldErrors, data: dict[str, Any], key: str, *, prefix: str = "", default: int
) -> int | None:
    value = _get(errors, data, key, prefix, required=False)
    if value is _MISSING:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 2**31 - 1:
        errors.add(prefix + key, "Expected a whole number of at least 1.")
        return None
    return value


def read_optional_bool(errors: FieldErrors, data: dict[str, Any], key: str, *, prefix: str = "") -> bool | None:
    value = _get(errors, data, key, prefix, required=False)
    if value is _MISSING:
        return None
    if not isinstance(value, bool):
        errors.add(prefix + key, "Expected true or false.")
        return None
    return value


def parse_timestamp(value: str) -> datetime | None:
    """ISO 8601 (a space may stand for the T); a time without an offset is UTC."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def read_datetime(
    errors: FieldErrors, data: dict[str, Any], key: str, *, prefix: str = "", required: bool = True
) -> datetime | None:
    value = _get(errors, data, key, prefix, required)
    if value is _MISSING:
        return None
    parsed = parse_timestamp(value) if isinstance(value, str) else None
    if parsed is None:
        errors.add(prefix + key, "Expected an ISO 8601 date-time, e.g. 2026-11-22T10:00:00Z.")
    return parsed
