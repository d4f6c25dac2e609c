"""One adapter per source kind, chosen through a registry: adding a kind is a module and an entry here."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from webhooks.adapters import native, pybossa
from webhooks.adapters.base import Action, Adapter, Erase, ParsedEvent, PayloadInvalid, Reset, Settle
from webhooks.models import Source

__all__ = [
    "Action",
    "Erase",
    "ParsedEvent",
    "PayloadInvalid",
    "Reset",
    "Settle",
    "parse_event",
    "settlement_queue",
    "settlement_queue_register",
]

ADAPTERS: dict[str, Adapter] = {
    Source.Kind.NATIVE: native.parse,
    Source.Kind.PYBOSSA: pybossa.parse,
}


def parse_event(
    source: Source, payload: Any, *, header_id: str | None, query: Mapping[str, str] | None = None
) -> ParsedEvent:
    """Validate a payload for its source's kind; raises PayloadInvalid naming every bad field."""
    return ADAPTERS[source.kind](payload, source=source, header_id=header_id, query=query or {})


# Settle actions are carried out by the app that settles crowdsourced tasks.
# It sits above webhooks (it reads and updates events), so it registers here
# in its AppConfig.ready and webhooks never imports it.
_settlement_queues: list[Callable[[int], object]] = []


def settlement_queue_register(*, queue: Callable[[int], object]) -> None:
    """Make `queue(event_id)` the way an event whose action is Settle is queued for settling."""
    _settlement_queues[:] = [queue]


def settlement_queue(*, event_id: int) -> None:
    """Queue the settlement of an event whose action is Settle; LookupError while no app settles them."""
    if not _settlement_queues:
        raise LookupError("No app settles crowdsourced tasks (crowdsourcing registers itself when it loads).")
    _settlement_queues[0](event_id)
