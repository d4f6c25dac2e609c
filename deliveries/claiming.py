"""Claiming due deliveries for one worker under a lease, within each destination's share of the slots.

A claim is one statement in autocommit: it reads the due rows, ranks them
per destination (a window function), locks only the rows it takes (FOR
UPDATE SKIP LOCKED, rechecked as still pending) and writes the lease on
them; the destinations are then read in one query.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection
from django.utils import timezone

from deliveries.models import Delivery, Destination
from webhooks.models import Source

# Delivery.attempt_count's column is `attempts`.
_CLAIM_SQL = """
WITH candidates AS (
    SELECT d.id, d.destination_id, d.next_attempt_at
    FROM deliveries_delivery d
    JOIN deliveries_destination dest ON dest.id = d.destination_id
    WHERE d.status = 'pending' AND d.next_attempt_at <= %(now)s
      AND dest.active AND dest.disabled_at IS NULL
      AND CASE WHEN %(retries)s THEN d.attempts > 0 ELSE d.attempts = 0 END
      AND d.destination_id <> ALL(%(full)s::bigint[])
      AND NOT EXISTS (
          SELECT 1 FROM deliveries_delivery f
          WHERE f.destination_id = d.destination_id AND f.source_id = d.source_id
            AND f.user_id = d.user_id AND f.status = 'in_flight'
      )
    ORDER BY d.next_attempt_at
    LIMIT %(scan)s
), ranked AS (
    SELECT c.id, c.next_attempt_at,
        row_number() OVER (PARTITION BY c.destination_id ORDER BY c.next_attempt_at, c.id)
            + COALESCE(h.n, 0) AS slot
    FROM candidates c
    LEFT JOIN unnest(%(held_ids)s::bigint[], %(held_counts)s::integer[]) AS h(destination_id, n)
        ON h.destination_id = c.destination_id
), chosen AS (
    SELECT r.id FROM ranked r WHERE r.slot <= %(cap)s ORDER BY r.next_attempt_at, r.id LIMIT %(limit)s
), taken AS (
    SELECT d.id FROM deliveries_delivery d
    WHERE d.id IN (SELECT chosen.id FROM chosen) AND d.status = 'pending'
    FOR UPDATE OF d SKIP LOCKED
)
UPDATE deliveries_delivery d SET
    status = 'in_flight', claim = %(token)s, attempts = d.attempts + 1,
    lease_expires_at = %(lease)s, updated_at = %(now)s
FROM taken, webhooks_source s
WHERE d.id = taken.id AND s.id = d.source_id
RETURNING d.*, s.slug AS source_slug
"""


def deliveries_claim(
    *, retries: bool, limit: int, busy: Mapping[int, int] | None = None, per_destination: int | None = None
) -> list[Delivery]:
    """Atomically take up to `limit` due deliveries (first attempts, or retries) under a lease.

    With `per_destination`, no destination gets more than that many slots,
    counting the `busy` ones it already holds (destination id -> pushes).
    The deliveries come back as claimed, with their destination and source
    (its slug) loaded, oldest due first.
    """
    now = timezone.now()
    token = secrets.token_hex(8)
    cap = per_destination if per_destination is not None else limit
    held = {destination: n for destination, n in (busy or {}).items() if n}
    lease_until = now + timedelta(seconds=settings.DELIVERY_LEASE_SECONDS)
    taken = _claim_in_one_statement(
        retries=retries, limit=limit, cap=cap, held=held, token=token, now=now, lease_until=lease_until
    )
    return sorted(taken, key=lambda d: (d.next_attempt_at, d.pk))


def _claim_in_one_statement(
    *, retries: bool, limit: int, cap: int, held: dict[int, int], token: str, now: datetime, lease_until: datetime
) -> list[Delivery]:
    params = {
        "now": now,
        "retries": retries,
        "full": [destination for destination, n in held.items() if n >= cap],
        "scan": limit * 4,
        "held_ids": list(held),
        "held_counts": list(held.values()),
        "cap": cap,
        "limit": limit,
        "token": token,
        "lease": lease_until,
    }
    taken = list(Delivery.objects.raw(_CLAIM_SQL, params))
    if not taken:
        return []
    destinations = Destination.objects.in_bulk({d.destination_id for d in taken})
    for delivery in taken:
        delivery.destination = destinations[delivery.destination_id]
        # What a push and its alert read of the source; any other field loads on access.
        slug = delivery.source_slug  # type: ignore[attr-defined]  # the statement's extra column
        delivery.source = Source.from_db(connection.alias, ["id", "slug"], [delivery.source_id, slug])
    return taken
