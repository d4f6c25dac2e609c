"""The intake's common case in one database round trip (settings.INTAKE_ONE_STATEMENT, on by default).

An accepted completion of a source that is not paused is stored, applied and
queued for delivery by one call of the server-side function
`tally_intake_completion` (webhooks/sql/intake_completion_v2.sql): the event
insert, the latest-wins result, the summary delta and the outbox rows, under
the user's summary lock, in the statement's own transaction when the request
runs in autocommit. It is the same work as the Python path
(results.services.result_record_completion, deliveries.outbox.deliveries_enqueue),
which every other case takes; tests hold the two to the same results.
"""

from __future__ import annotations

from contextlib import nullcontext
from datetime import datetime

from django.conf import settings
from django.db import connection, transaction

from common.logging import current_request_id
from deliveries.outbox import FIRST_QUEUE, wake
from results.services import Completion
from webhooks.models import Source

_CALL = (
    "SELECT outcome, event_id, queued FROM tally_intake_completion("
    "%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
)


class SourceChanged(Exception):
    """The source changed since it was read: nothing was written; read it again and start over."""


def completion_receive(
    *,
    source: Source,
    key: str,
    event_type: str,
    body: str,
    received_at: datetime,
    completion: Completion,
    source_cached: bool,
) -> tuple[str, int]:
    """Store and apply one completion; returns ('accepted' or 'duplicate', the event's id).

    A `source_cached` source is checked in the same statement: SourceChanged,
    with nothing written, when its row is no longer the one read (another
    revision, inactive, or paused). Otherwise the source is taken as given,
    as the Python path takes it.
    """
    user = completion.user
    params = [
        source.pk,
        source.revision if source_cached else None,
        key,
        event_type,
        body,
        received_at,
        current_request_id(),
        user.id,
        user.email,
        user.name,
        completion.organization,
        completion.unit_id,
        completion.title,
        completion.course_id,
        completion.score,
        completion.max_score,
        completion.passed,
        completion.attempt,
        completion.completed_at,
        settings.DELIVERY_MAX_RESULTS,
    ]
    # In autocommit the statement is its own transaction: one round trip.
    # Inside a caller's transaction it runs in a savepoint, so that a failure
    # leaves that transaction usable, as the Python path's atomic block does.
    with transaction.atomic() if connection.in_atomic_block else nullcontext(), connection.cursor() as cursor:
        cursor.execute(_CALL, params)
        outcome, event_id, queued = cursor.fetchone()
    if outcome == "stale":
        raise SourceChanged(source.slug)
    if queued:
        transaction.on_commit(lambda: wake(FIRST_QUEUE))
    return outcome, event_id
