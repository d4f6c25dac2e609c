"""One webhook POST, from body to outcome (taken in, or rejected and alerted on), and how outcomes are counted."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from django.db import DatabaseError

from notifications.models import Alert
from notifications.services import admin_link, alert_raise
from webhooks.adapters import PayloadInvalid
from webhooks.counters import intake_count
from webhooks.intake_sql import SourceChanged
from webhooks.metrics import EVENTS
from webhooks.models import Source
from webhooks.selectors import source_is_current
from webhooks.services import DUPLICATE, InvalidJson, event_receive, event_reject

logger = logging.getLogger(__name__)

VALIDATION_ERROR = "validation_error"


@dataclass(frozen=True)
class IntakeOutcome:
    """What became of one webhook POST, and what it answers."""

    http_status: int
    status: str = ""  # when taken in: the event's Event.Status, or DUPLICATE
    event_id: int | None = None
    error: str = ""  # when refused: the error code of the answer
    detail: Any = None

    @property
    def counted_as(self) -> str:
        """The counters' label: the status, or rejected:<error code>."""
        return f"rejected:{self.error}" if self.error else self.status


def intake_handle(
    *, source: Source, body: bytes, header_id: str | None, query: Mapping[str, str], source_cached: bool = False
) -> IntakeOutcome:
    """Receive one webhook; a body that is not valid is recorded as a rejected event and alerted on.

    A `source_cached` source may be stale: SourceChanged is raised, with
    nothing written, when it is (webhooks.selectors).
    """
    try:
        received = event_receive(
            source=source, body=body, header_id=header_id, query=query, source_cached=source_cached
        )
    except InvalidJson as exc:
        detail: Any = {"body": [f"Not valid JSON: {exc}"]}
    except PayloadInvalid as exc:
        detail = exc.detail
    else:
        # PYBOSSA counts any answer but 200 as a failed webhook (its jobs.py
        # webhook(): it lists the webhook as failed and e-mails the project's
        # admins), so whatever a PYBOSSA source's webhook became answers 200.
        taken = received.status == DUPLICATE or source.kind == Source.Kind.PYBOSSA
        http_status = HTTPStatus.OK if taken else HTTPStatus.ACCEPTED
        return IntakeOutcome(http_status=http_status, status=received.status, event_id=received.event_id)
    if source_cached and not source_is_current(source):
        raise SourceChanged(source.slug)  # it may be valid for the source as it now is
    return _rejected(source=source, body=body, header_id=header_id, detail=detail)


def _rejected(*, source: Source, body: bytes, header_id: str | None, detail: Any) -> IntakeOutcome:
    """Keep the rejected body for operators and alert on it; the answer is a 400 naming what is wrong."""
    try:
        event = event_reject(source=source, body=body, header_id=header_id, code=VALIDATION_ERROR, detail=detail)
    except DatabaseError:
        logger.exception("could not record a rejected webhook", extra={"source": source.slug})
    else:
        fields = ", ".join(detail) if isinstance(detail, dict) else str(detail)
        alert_raise(
            fingerprint=f"rejected:{source.slug}:{VALIDATION_ERROR}",
            severity=Alert.Severity.WARNING,
            title=f"{source.slug} sent a webhook Tally rejected ({VALIDATION_ERROR})",
            details={"source": source.slug, "event": event.pk, "error": fields},
            admin_url=admin_link(event),
        )
    return IntakeOutcome(http_status=HTTPStatus.BAD_REQUEST, error=VALIDATION_ERROR, detail=detail)


def intake_outcome_count(*, source: Source, outcome: IntakeOutcome) -> None:
    """Count one webhook POST of a source by its outcome: the admin's per-day counter and Prometheus'."""
    # Neither waits on the database: both are written off the request path.
    intake_count(source_id=source.pk, outcome=outcome.counted_as)
    EVENTS.labels(source=source.slug, outcome=outcome.counted_as).inc()
