"""What every adapter returns, and the serializer base that names every bad field by its dotted path."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.fields import SkipField, empty
from rest_framework.settings import api_settings

from results.services import Completion

if TYPE_CHECKING:
    from webhooks.models import Source


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
class Settle:
    """A crowdsourced task to settle after the request: fetch its runs, write the consensus back, credit each one."""

    project_id: int
    task_id: int
    result_id: int


Action = Completion | Reset | Erase | Settle


@dataclass(frozen=True)
class ParsedEvent:
    """A valid webhook: its idempotency key, type, and what to apply (None: ignored)."""

    key: str
    type: str
    action: Action | None


class Adapter(Protocol):
    """How one kind of source's webhooks are read: validated, keyed, and turned into an action."""

    def __call__(
        self, payload: Any, *, source: Source, header_id: str | None, query: Mapping[str, str]
    ) -> ParsedEvent: ...


class PayloadInvalid(Exception):
    """The platform sent a structure Tally cannot use; `detail` maps each dotted field path to its messages."""

    def __init__(self, detail: dict[str, list[str]]) -> None:
        super().__init__(detail)
        self.detail = detail


# Serializers are built once, at import, and shared by every request.
#
# Instantiating a DRF serializer is cheap, but its first `fields` access
# deep-copies and binds the declared fields, recursively for nested
# serializers, and that costs several times the validation itself. So the
# adapters keep module-level instances whose fields `prebuilt()` has already
# built, and validate with `run_validation()` / `validate_fields()`. Those
# only read the instance; values and errors stay in local variables. The
# per-request state DRF keeps on a serializer (`initial_data`, `_errors`,
# `_validated_data`) is written only by `is_valid()`, which must never be
# called on these shared instances. One instance thus serves every thread of
# a gthread worker.


class PayloadSerializer(serializers.Serializer[Any]):
    """A serializer of webhook JSON whose checks across fields run even when some fields failed."""

    # DRF's to_internal_value drops every value when one field fails, so a
    # check across fields (score against max_score, the body id against the
    # webhook-id header) could not also name its field, as the intake must.

    default_error_messages = {"invalid": "Expected an object."}

    def validate_empty_values(self, data: Any) -> tuple[bool, Any]:
        # Platforms send `null` for fields they leave out: both mean absent.
        return super().validate_empty_values(empty if data is None else data)

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        values, errors = self.validate_fields(data)
        if errors:
            raise ValidationError(errors)
        return values

    def validate_fields(self, data: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        """The valid fields' values and the bad fields' errors (with `validate_<field>` and `cross_check` applied)."""
        if not isinstance(data, dict):
            self.fail("invalid")
        values: dict[str, Any] = {}
        errors: dict[str, Any] = {}
        for name, field in self.fields.items():
            try:
                value = field.run_validation(field.get_value(data))
                validate_field = getattr(self, f"validate_{name}", None)
                values[name] = value if validate_field is None else validate_field(value)
            except ValidationError as exc:
                errors[name] = exc.detail
            except SkipField:
                pass
        self.cross_check(values, errors)
        return values, errors

    def cross_check(self, values: dict[str, Any], errors: dict[str, Any]) -> None:
        """Add to `errors` what is wrong across `values`; runs even when other fields failed."""


_S = TypeVar("_S", bound=serializers.Serializer[Any])


def prebuilt(serializer: _S) -> _S:
    """`serializer` with its fields, and those of its nested serializers, built now rather than on first use."""
    serializer.validators  # noqa: B018 - also built on first access; afterwards validation writes nothing
    for field in serializer.fields.values():
        if isinstance(field, serializers.Serializer):
            prebuilt(field)
        else:
            field.validators  # noqa: B018
    return serializer


def json_int(text: str) -> int | Decimal:
    """A JSON integer for `json.loads(parse_int=...)`: one too long for Python's int is kept as a Decimal.

    Python refuses to read an integer of more than 4300 digits (by default,
    sys.get_int_max_str_digits()), and json.loads would then refuse the whole
    body with advice about Python's internals. Kept as a Decimal, every field
    refuses it by name, saying what is wrong: a score is too large, an id too long.
    """
    limit = sys.get_int_max_str_digits()
    if limit and len(text) - text.startswith("-") > limit:
        return Decimal(text)
    return int(text)


def json_object(payload: Any) -> dict[str, Any]:
    """The payload if it is a JSON object; PayloadInvalid otherwise."""
    if not isinstance(payload, dict):
        raise PayloadInvalid({api_settings.NON_FIELD_ERRORS_KEY: ["Expected a JSON object."]})
    return payload


def dotted_errors(detail: Any, path: str = "", into: dict[str, list[str]] | None = None) -> dict[str, list[str]]:
    """DRF's nested error detail flattened to {"data.user.id": [messages]}."""
    flat = {} if into is None else into
    if isinstance(detail, dict):
        for name, inner in detail.items():
            dotted_errors(inner, f"{path}.{name}" if path else str(name), flat)
    else:
        flat.setdefault(path, []).extend(str(message) for message in detail)
    return flat
