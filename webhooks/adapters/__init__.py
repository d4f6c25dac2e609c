"""One adapter per source kind, chosen through a registry: adding a kind is a module and an entry here."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from webhooks.adapters import native, pybossa
from webhooks.adapters.base import Action, Adapter, Erase, ParsedEvent, PayloadInvalid, Reset, Settle
from webhooks.models import Source

__all__ = ["Action", "Erase", "ParsedEvent", "PayloadInvalid", "Reset", "Settle", "parse_event"]

ADAPTERS: dict[str, Adapter] = {
    Source.Kind.NATIVE: native.parse,
    Source.Kind.PYBOSSA: pybossa.parse,
}


def parse_event(
    source: Source, payload: Any, *, header_id: str | None, query: Mapping[str, str] | None = None
) -> ParsedEvent:
    """Validate a payload for its source's kind; raises PayloadInvalid naming every bad field."""
    return ADAPTERS[source.kind](payload, source=source, header_id=header_id, query=query or {})
