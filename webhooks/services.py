"""Intake: store each webhook once and apply it in the same transaction."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import IntegrityError, OperationalError, transaction
from django.utils import timezone

from common.logging import current_request_id, request_context
from results.services import (
    Completion,
    result_record_completion,
    result_record_reset,
    user_erase,
)
from webhooks.adapters import Action, ParsedEvent, PayloadInvalid, Reset, Settle, parse_event, settlement_queue
from webhooks.adapters.base import json_int
from webhooks.intake_sql import SourceChanged, completion_receive
from webhooks.models import Event, Source
from webhooks.selectors import source_is_current

logger = logging.getLogger(__name__)

# The answer to an idempotency key already stored: nothing is stored or changed, so no event has it as status.
DUPLICATE = "duplicate"
# Events still to be applied or settled need their raw body.
_BODY_NEEDED = (Event.Status.PAUSED, Event.Status.PROCESSING)


class InvalidJson(Exception):
    """The body is not JSON."""


@dataclass(frozen=True)
class IntakeResult:
    event_id: int
    status: str  # the stored event's Event.Status, or DUPLICATE


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON number")


def body_parse(body: bytes) -> Any:
    """Decode JSON with exact decimals; NaN and Infinity are refused."""
    try:
        # Integers through json_int: a number too long for Python's int()
        # is named as too large by the field that holds it, not refused here.
        return json.loads(body, parse_float=Decimal, parse_int=json_int, parse_constant=_reject_constant)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidJson(str(exc)) from None
    except RecursionError:
        raise InvalidJson("nested too deeply") from None


def _storable(text: str) -> str:
    """Text PostgreSQL can store: NUL and lone surrogates (both legal in JSON strings) replaced."""
    return text.replace("\x00", "\ufffd").encode("utf-8", "replace").decode("utf-8")


def _body_text(body: bytes, limit: int | None = None) -> str:
    text = body[:limit].decode("utf-8", errors="replace") if limit else body.decode("utf-8", errors="replace")
    return text.replace("\x00", "\ufffd")


def event_apply(*, source_id: int, event_id: int, action: Action, at: datetime) -> str:
    """Apply a parsed event (inside the caller's transaction); returns the event's status.

    Results and summaries change at once (`accepted`), except for a task to
    settle with PYBOSSA, which a worker does after the commit (`processing`).
    """
    if isinstance(action, Settle):

        def wake() -> None:
            try:
                settlement_queue(event_id=event_id)
            except Exception:
                # The broker is down (or nothing registered to settle): the event
                # is stored as processing, and the periodic pass for stuck
                # settlements queues it later.
                logger.warning("could not queue a PYBOSSA settlement", exc_info=True, extra={"event_pk": event_id})

        transaction.on_commit(wake)
        return Event.Status.PROCESSING
    if isinstance(action, Completion):
        result_record_completion(source_id=source_id, event_id=event_id, completion=action)
    elif isinstance(action, Reset):
        result_record_reset(
            source_id=source_id,
            event_id=event_id,
            user_id=action.user_id,
            unit_id=action.unit_id,
            reset_at=action.reset_at or at,
        )
    else:
        user_erase(source_id=source_id, user_id=action.user_id)
        # Raw bodies that name the user are found by a scan: after the request, not on its path.
        transaction.on_commit(lambda: _erase_bodies_later(source_id, action.user_id))
    return Event.Status.ACCEPTED


def _erase_bodies_later(source_id: int, user_id: str) -> None:
    from webhooks.tasks import erase_event_bodies  # tasks import this module

    try:
        erase_event_bodies.delay(source_id, user_id)
    except Exception:
        logger.warning("could not queue the erasure of raw bodies", exc_info=True, extra={"source_id": source_id})


def event_bodies_erase(*, source_id: int, user_id: str) -> int:
    """Blank the raw bodies of a source's events that carry the user's id (their personal data with it)."""
    needle = json.dumps(user_id)  # the id as it stands in the JSON text, quotes included
    return (
        Event.objects.filter(source_id=source_id, body__contains=needle)
        .exclude(status__in=_BODY_NEEDED)
        .update(body="")
    )


def event_payloads_prune(*, older_than: datetime) -> int:
    """Blank the raw bodies of events received before `older_than`; the rows stay."""
    return (
        Event.objects.filter(received_at__lt=older_than)
        .exclude(body="")
        .exclude(status__in=_BODY_NEEDED)
        .update(body="")
    )


def event_receive(
    *,
    source: Source,
    body: bytes,
    header_id: str | None,
    query: Mapping[str, str] | None = None,
    source_cached: bool = False,
) -> IntakeResult:
    """Validate, store once and apply a webhook.

    Raises InvalidJson or PayloadInvalid for bad input (the caller records
    the rejection). A duplicate key answers with the stored event and changes
    nothing. A `source_cached` (possibly stale) source is checked before
    anything is written: SourceChanged when it changed, and nothing is.
    """
    parsed: ParsedEvent = parse_event(source, body_parse(body), header_id=header_id, query=query)
    now = timezone.now()
    if isinstance(parsed.action, Completion) and not source.paused and settings.INTAKE_ONE_STATEMENT:
        # The common case: one statement, which checks the source itself.
        outcome, event_id = completion_receive(
            source=source,
            key=parsed.key,
            event_type=parsed.type,
            body=_body_text(body),
            received_at=now,
            completion=parsed.action,
            source_cached=source_cached,
        )
        return IntakeResult(event_id, DUPLICATE if outcome == DUPLICATE else Event.Status.ACCEPTED)
    if source_cached and not source_is_current(source):
        raise SourceChanged(source.slug)
    if source.paused:
        status = Event.Status.PAUSED
    elif parsed.action is None:
        status = Event.Status.IGNORED
    elif isinstance(parsed.action, Settle):
        status = Event.Status.PROCESSING
    else:
        status = Event.Status.ACCEPTED
    try:
        with transaction.atomic():
            # The insert comes first: a duplicate fails here, before any other work.
            event = Event.objects.create(
                source=source,
                idempotency_key=parsed.key,
                type=parsed.type,
                status=status,
                body=_body_text(body),
                received_at=now,
                processed_at=None if status in (Event.Status.PAUSED, Event.Status.PROCESSING) else now,
                request_id=current_request_id(),
            )
            if parsed.action is not None and status != Event.Status.PAUSED:
                event_apply(source_id=source.pk, event_id=event.pk, action=parsed.action, at=now)
    except IntegrityError:
        existing = (
            Event.objects.filter(source=source, idempotency_key=parsed.key)
            .exclude(status=Event.Status.REJECTED)
            .values_list("pk", flat=True)
            .first()
        )
        if existing is None:
            raise
        return IntakeResult(existing, DUPLICATE)
    return IntakeResult(event.pk, status)


def event_reject(*, source: Source, body: bytes, header_id: str | None, code: str, detail: Any) -> Event:
    """Record a rejected webhook (body truncated) for operators."""
    key = header_id
    event_type = ""
    try:
        payload = body_parse(body)
    except InvalidJson:
        payload = None
    if isinstance(payload, dict):
        if isinstance(payload.get("id"), str):
            key = payload["id"]
        if isinstance(payload.get("type"), str):
            event_type = payload["type"]
    event = Event.objects.create(
        source=source,
        idempotency_key=_storable(key or "")[:255],
        type=_storable(event_type)[:100],
        status=Event.Status.REJECTED,
        error_code=code,
        error_detail=detail,
        body=_body_text(body, settings.WEBHOOK_REJECTED_BODY_KEEP_BYTES),
        received_at=timezone.now(),
        processed_at=timezone.now(),
        request_id=current_request_id(),
    )
    logger.warning(
        "webhook rejected",
        extra={"source": source.slug, "event_pk": event.pk, "error": code, "detail": detail},
    )
    return event


@transaction.atomic
def source_resume(*, source: Source) -> None:
    """Unpause a source and queue its waiting events."""
    from webhooks.tasks import apply_waiting_events_of_source  # tasks import this module

    Source.objects.filter(pk=source.pk).update(paused=False, updated_at=timezone.now())
    source.paused = False
    transaction.on_commit(lambda: apply_waiting_events_of_source.delay(source.pk))


def source_pause(*, source: Source) -> None:
    Source.objects.filter(pk=source.pk).update(paused=True, updated_at=timezone.now())
    source.paused = True


def _waiting_event_apply(event: Event) -> None:
    """Apply one waiting event in its own savepoint; one that fails is set aside, not retried forever."""
    try:
        parsed = parse_event(event.source, body_parse(event.body.encode()), header_id=event.idempotency_key)
    except (InvalidJson, PayloadInvalid) as exc:
        event.status, event.error_code = Event.Status.REJECTED, "validation_error"
        event.error_detail = getattr(exc, "detail", str(exc))
        return
    if parsed.action is None:
        event.status = Event.Status.IGNORED
        return
    try:
        # Its pushes and alerts carry the request that brought the event in.
        with request_context(event.request_id), transaction.atomic():
            status = event_apply(
                source_id=event.source_id, event_id=event.pk, action=parsed.action, at=event.received_at
            )
    except OperationalError:
        # A deadlock, a lock or statement timeout, a lost connection: nothing
        # is wrong with the event. It stays waiting and is tried again.
        logger.warning("a waiting event will be tried again", exc_info=True, extra={"event_pk": event.pk})
        return
    except Exception as exc:
        logger.exception("a waiting event could not be applied", extra={"event_pk": event.pk})
        event.status, event.error_code, event.error_detail = Event.Status.REJECTED, "processing_error", str(exc)
        return
    event.status = status


def waiting_events_apply(*, source_id: int, batch_size: int = 200) -> int:
    """Apply a resumed source's waiting events in arrival order; returns how many were settled.

    Each batch holds the source's row lock, so a resume and the periodic pass
    never work on one source at once. An event that hit a transient database
    error stays waiting for the next pass.
    """
    done = 0
    tried: list[int] = []
    while True:
        with transaction.atomic():
            # One worker per source at a time: the source's row is the lock.
            paused = Source.objects.select_for_update().filter(pk=source_id).values_list("paused", flat=True).first()
            if paused is None or paused:
                return done
            events = list(
                Event.objects.select_for_update(skip_locked=True, of=("self",))
                .select_related("source")
                .filter(source_id=source_id, status=Event.Status.PAUSED)
                .exclude(pk__in=tried)
                .order_by("pk")[:batch_size]
            )
            if not events:
                return done
            now = timezone.now()
            for event in events:
                _waiting_event_apply(event)
                tried.append(event.pk)
            settled = [event for event in events if event.status != Event.Status.PAUSED]
            for event in settled:
                event.processed_at = now
            Event.objects.bulk_update(settled, ["status", "error_code", "error_detail", "processed_at"])
            done += len(settled)


def waiting_events_sweep() -> int:
    """Apply the events still waiting for sources that are no longer paused; returns how many were settled.

    A webhook that read its source as paused just before a resume is stored
    after the resume's own task ran; this periodic pass picks it up.
    """
    waiting = (
        Event.objects.filter(status=Event.Status.PAUSED, source__paused=False)
        .values_list("source_id", flat=True)
        .distinct()
    )
    return sum(waiting_events_apply(source_id=source_id) for source_id in waiting)
