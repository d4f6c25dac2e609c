"""Per-source, per-day intake counters for the admin, added up in memory and written after the response.

Counting in the request's own statements made every webhook of a source
update one hot row. Instead each process adds counts up in memory and
writes them in one statement at most every INTAKE_COUNTER_FLUSH_SECONDS,
after a response has gone out (Django's request_finished), and when the
process exits. A process killed outright loses the counts added since its
last flush (a quiet process holds them until its next response or its
exit); the events themselves are never affected.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
from collections import Counter
from datetime import date
from typing import Any

from django.conf import settings
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.utils import timezone

from webhooks.models import Source

logger = logging.getLogger(__name__)

_pending: Counter[tuple[int, date, str]] = Counter()
_lock = threading.Lock()
_last_flush = time.monotonic()

_UPSERT_SQL = """
INSERT INTO webhooks_intakecounter AS c (source_id, day, outcome, count) VALUES {values}
ON CONFLICT (source_id, day, outcome) DO UPDATE SET count = c.count + excluded.count
"""


def intake_count(*, source_id: int, outcome: str, day: date | None = None) -> None:
    """Count one webhook of a source for today and this outcome (written by the next flush)."""
    with _lock:
        _pending[(source_id, day or timezone.now().date(), outcome[:64])] += 1


def intake_counts_flush() -> int:
    """Write the counts added up so far; returns how many counter rows were touched.

    On a database error the counts are kept for the next flush.
    """
    global _last_flush
    with _lock:
        counts = dict(_pending)
        _pending.clear()
        _last_flush = time.monotonic()
    if not counts:
        return 0
    params: list[Any] = []
    # In key order: two processes flushing the same rows lock them in one order.
    for (source_id, day, outcome), n in sorted(counts.items()):
        params += [source_id, day, outcome, n]
    try:
        # A savepoint: a failure here must not spoil a transaction the caller may be in.
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(_UPSERT_SQL.format(values=", ".join(["(%s, %s, %s, %s)"] * len(counts))), params)
    except IntegrityError:
        # A source that is gone: its counts can never be written; the others' are kept for the next flush.
        alive = set(Source.objects.filter(pk__in={key[0] for key in counts}).values_list("pk", flat=True))
        logger.warning("dropped the intake counts of sources that no longer exist", exc_info=True)
        with _lock:
            _pending.update({key: n for key, n in counts.items() if key[0] in alive})
        return 0
    except DatabaseError:
        logger.warning("could not write intake counters; keeping them for the next try", exc_info=True)
        with _lock:
            _pending.update(counts)
        return 0
    return len(counts)


def flush_if_due(**kwargs: Any) -> None:
    """request_finished: write the counts when the interval has passed (the response is already sent)."""
    if _pending and time.monotonic() - _last_flush >= settings.INTAKE_COUNTER_FLUSH_SECONDS:
        intake_counts_flush()


def _flush_at_exit() -> None:
    try:
        intake_counts_flush()
    except Exception:
        logger.warning("could not write intake counters at exit", exc_info=True)


atexit.register(_flush_at_exit)
