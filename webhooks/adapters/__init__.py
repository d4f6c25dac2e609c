"""One adapter per source kind turns a webhook body into a ParsedEvent."""

from __future__ import annotations

from typing import Any

from webhooks.adapters import native, pybossa
from webhooks.adapters.base import Erase, ParsedEvent, PayloadInvalid, Reset
from webhooks.models import Source

__all__ = ["Erase", "ParsedEvent", "PayloadInvalid", "Reset", "parse_event"]


def parse_event(source: Source, payload: Any, *, header_id: str | None) -> ParsedEvent:
    """Validate a payload for its source's kind; raises PayloadInvalid naming every bad field."""
    if source.kind == Source.Kind.PYBOSSA:
        return pybossa.parse(payload, header_id=header_id)
    return native.parse(payload, header_id=header_id, pass_ratio=source.pass_ratio)
