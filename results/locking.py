"""THE locking rule for users' summaries.

A user's summary row is the lock for everything derived from that user's
results. Whoever reads a user's results or summary to write them, or to act
on a summary's version before a newer one can commit (intake, the erasure,
the rebuild, a replay, a backfill of deliveries), first takes that row lock
and holds it until commit: a row lock only ends with its transaction, so
these functions must run inside one. Several summaries in one transaction are
locked in primary-key order, so two such batches cannot deadlock each other.

Intake locks its one user with an upsert that creates the summary if needed
(`summary_lock_for_intake`); everyone else locks existing rows
(`summaries_lock`), except the rebuild, which locks its batches of ids
itself, in the same order.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import Q
from django.utils import timezone

from results.models import Summary

# Only a non-empty email, name or organization replaces the stored one: most
# events name the user by id alone. RETURNING lists every column of Summary.
_LOCK_FOR_INTAKE_SQL = """
INSERT INTO results_summary AS s (
    source_id, user_id, user_email, user_name, organization, units_completed, units_passed,
    score_total, max_score_total, percent, version, updated_at
) VALUES (%s, %s, %s, %s, %s, 0, 0, 0, 0, 0, 0, %s)
ON CONFLICT (source_id, user_id) DO UPDATE SET
    user_email = CASE WHEN excluded.user_email <> '' THEN excluded.user_email ELSE s.user_email END,
    user_name = CASE WHEN excluded.user_name <> '' THEN excluded.user_name ELSE s.user_name END,
    organization = CASE WHEN excluded.organization <> '' THEN excluded.organization ELSE s.organization END
RETURNING id, source_id, user_id, user_email, user_name, organization, units_completed, units_passed,
    score_total, max_score_total, percent, first_activity_at, last_activity_at, version, deleted_at, updated_at
"""


def summary_lock_for_intake(
    *, source_id: int, user_id: str, email: str = "", name: str = "", organization: str = ""
) -> Summary:
    """Create the user's summary if needed and lock it until commit; as it now is.

    Must run inside a transaction.
    """
    rows = Summary.objects.raw(_LOCK_FOR_INTAKE_SQL, [source_id, user_id, email, name, organization, timezone.now()])
    return next(iter(rows))


def summaries_lock(*, pks: Iterable[int] = (), users: Iterable[tuple[int, str]] = ()) -> list[Summary]:
    """Lock the summaries with these ids and of these (source id, user id) pairs until commit; in id order.

    Must run inside a transaction.
    """
    lookup = Q(pk__in=list(pks))
    for source_id, user_id in users:
        lookup |= Q(source_id=source_id, user_id=user_id)
    return list(Summary.objects.select_for_update().filter(lookup).order_by("pk"))
