"""The one-statement intake (PostgreSQL) and the per-process source cache.

The same events through the server-side functions (the intake's and the
outbox's) and through the Python path must leave the same events, results,
summaries and outbox rows; a
source changed behind the cache's back (QuerySet.update(), as an operator's
SQL would) is seen by the next request, which starts over with nothing
written.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from decimal import Decimal
from typing import Any
from unittest import mock

import pytest
from django.test import override_settings
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deliveries.destinations import destination_create
from deliveries.models import Delivery
from results.models import Result, Summary
from tests.factories import BASE_TIME, TOKEN, completed, dumps, iso, make_source
from tests.strategies import UNITS, USERS, bodies, deleting, duplicate, resetting
from webhooks import counters
from webhooks.intake_sql import SourceChanged
from webhooks.models import Event, Source
from webhooks.selectors import source_forget, source_get_active
from webhooks.services import event_receive


def _completion(
    user: str, unit: str, minute: int, micro: int, attempt: int, score: Decimal, passed: bool | None, email: str | None
) -> dict[str, Any]:
    at = BASE_TIME + timedelta(minutes=minute, microseconds=micro)
    body = completed(user=user, unit=unit, attempt=attempt, score=float(score), passed=passed, completed_at=iso(at))
    if email is not None:  # another email, an empty one (kept as it was), or the factory's
        body["data"]["user"] = {"id": user, "email": email}
    return body


completion = st.builds(
    _completion,
    st.sampled_from(USERS),
    st.sampled_from(UNITS),
    st.integers(0, 6),
    st.sampled_from([0, 0, 1, 500_000, 999_999]),
    st.integers(1, 2),
    st.decimals(min_value=0, max_value=10, places=2),
    st.one_of(st.booleans(), st.none()),
    st.one_of(st.none(), st.just(""), st.emails()),
)
operations = st.lists(
    st.one_of(completion, completion, completion, completion, resetting, duplicate, deleting), min_size=1, max_size=20
)


def _state(source: Source) -> dict[str, Any]:
    """What the intake left for a source, without ids, sources and write times."""
    events = list(Event.objects.filter(source=source).order_by("pk").values_list("idempotency_key", "type", "status"))
    results = list(
        Result.objects.filter(source=source)
        .order_by("user_id", "unit_id")
        .values_list(
            "user_id",
            "unit_id",
            "title",
            "course_id",
            "score",
            "max_score",
            "passed",
            "attempt",
            "completed_at",
            "is_counted",
            "first_completed_at",
            "last_completed_at",
            "event__idempotency_key",
        )
    )
    summaries: list[tuple[Any, ...]] = list(
        Summary.objects.filter(source=source)
        .order_by("user_id")
        .values_list(
            "user_id",
            "user_email",
            "user_name",
            "organization",
            "units_completed",
            "units_passed",
            "score_total",
            "max_score_total",
            "percent",
            "first_activity_at",
            "last_activity_at",
            "version",
            "deleted_at",
        )
    )
    summaries = [(*row[:-1], row[-1] is None) for row in summaries]
    deliveries = list(
        Delivery.objects.filter(source=source)
        .order_by("user_id", "version")
        .values_list("user_id", "kind", "version", "snapshot", "status", "rerun", "attempt_count")
    )
    return {"events": events, "results": results, "summaries": summaries, "deliveries": deliveries}


@contextmanager
def _python_only() -> Iterator[None]:
    """Native completions through the Python path, the one resets, PYBOSSA credits and resumed events take."""
    with override_settings(INTAKE_ONE_STATEMENT=False):
        yield


def _two_sources() -> tuple[Source, Source]:
    sql, python = make_source(), make_source()
    destination_create(name=f"to-{sql.slug}", url="http://127.0.0.1:9/", source_slugs=[sql.slug])
    destination_create(name=f"to-{python.slug}", url="http://127.0.0.1:9/", source_slugs=[python.slug])
    return sql, python


@pytest.mark.django_db
@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=operations)
def test_the_function_and_the_python_path_leave_the_same_state(ops):
    sql, python = _two_sources()
    for body in bodies(ops):
        answers = [event_receive(source=sql, body=dumps(body), header_id=None).status]
        with _python_only():
            answers.append(event_receive(source=python, body=dumps(body), header_id=None).status)
        assert answers[0] == answers[1], body

    assert _state(sql) == _state(python)


def test_the_snapshot_formats_times_and_money_the_same_after_either_path(db):
    sql, python = _two_sources()
    body = completed(score=0.5, max_score=3, completed_at="2026-11-22T09:00:00.000010Z")
    event_receive(source=sql, body=dumps(body), header_id=None)
    with _python_only():
        event_receive(source=python, body=dumps(body), header_id=None)

    snapshots = [Delivery.objects.get(source=s).snapshot for s in (sql, python)]
    assert snapshots[0] == snapshots[1]
    assert snapshots[0]["summary"]["percent"] == "16.67"
    assert snapshots[0]["summary"]["score_total"] == "0.50"
    assert snapshots[0]["results"][0]["completed_at"] == "2026-11-22T09:00:00.000010Z"


def test_a_stale_revision_writes_nothing(source):
    stale = Source.objects.get(pk=source.pk)
    Source.objects.filter(pk=source.pk).update(name="renamed")  # the trigger gives the row a new revision
    assert Source.objects.get(pk=source.pk).revision != stale.revision

    with pytest.raises(SourceChanged):
        event_receive(source=stale, body=dumps(completed()), header_id=None, source_cached=True)
    assert not Event.objects.exists()
    assert not Summary.objects.exists()


def test_every_write_gives_a_source_a_new_revision(source):
    seen = {Source.objects.get(pk=source.pk).revision}
    source.name = "saved"
    source.save()
    seen.add(Source.objects.get(pk=source.pk).revision)
    Source.objects.filter(pk=source.pk).update(paused=True)
    seen.add(Source.objects.get(pk=source.pk).revision)
    assert len(seen) == 3


def test_the_function_answers_duplicate_without_changing_anything(source):
    cached = source_get_active(slug=source.slug)
    assert cached is not None
    body = completed(event_id="once")
    received = event_receive(source=cached, body=dumps(body), header_id=None)
    before = _state(source)

    again = event_receive(source=cached, body=dumps({**body, "data": {**body["data"], "score": 1}}), header_id=None)

    assert (again.status, again.event_id) == ("duplicate", received.event_id)
    assert _state(source) == before


def test_a_rejected_key_does_not_block_the_function(source, post_webhook):
    bad = completed(event_id="fixed-later", score=11)  # score above max_score
    assert post_webhook(source, bad).status_code == 400
    assert post_webhook(source, completed(event_id="fixed-later")).status_code == 202
    assert list(Event.objects.order_by("pk").values_list("status", flat=True)) == ["rejected", "accepted"]


def _warm(source: Source, post_webhook: Any) -> None:
    """Put the source in this process' cache the way a request does."""
    source_forget(slug=source.slug)
    assert post_webhook(source, completed(unit="warm-up")).status_code == 202


def test_a_new_token_set_behind_the_cache_is_accepted_at_once(source, post_webhook):
    _warm(source, post_webhook)
    fresh = Source.objects.get(pk=source.pk)
    fresh.token = "a-new-token-0123456789"  # encrypted by the field on save
    fresh.save(update_fields=["token"])

    assert post_webhook(source, completed(unit="t-2"), token="a-new-token-0123456789").status_code == 202
    assert post_webhook(source, completed(unit="t-3"), token=TOKEN).status_code == 401


def test_a_source_paused_behind_the_cache_stores_the_event_as_waiting(source, post_webhook):
    _warm(source, post_webhook)
    Source.objects.filter(pk=source.pk).update(paused=True)

    response = post_webhook(source, completed(unit="t-2"))

    assert (response.status_code, response.json()["status"]) == (202, "paused")
    assert Event.objects.filter(status="paused").count() == 1
    assert Result.objects.filter(unit_id="t-2").count() == 0


def test_a_source_resumed_behind_the_cache_applies_the_event(source, post_webhook):
    Source.objects.filter(pk=source.pk).update(paused=True)
    source_forget(slug=source.slug)
    assert post_webhook(source, completed(unit="t-1")).json()["status"] == "paused"  # cached as paused
    Source.objects.filter(pk=source.pk).update(paused=False)

    assert post_webhook(source, completed(unit="t-2")).json()["status"] == "accepted"
    assert Result.objects.filter(unit_id="t-2").count() == 1


def test_a_source_deactivated_behind_the_cache_answers_404(source, post_webhook):
    _warm(source, post_webhook)
    Source.objects.filter(pk=source.pk).update(active=False)

    response = post_webhook(source, completed(unit="t-2"))

    assert (response.status_code, response.json()["error"]) == (404, "unknown_source")
    assert Event.objects.count() == 1  # the warm-up only


def test_a_pass_ratio_changed_behind_the_cache_applies_to_the_next_event(source, post_webhook):
    _warm(source, post_webhook)
    Source.objects.filter(pk=source.pk).update(pass_ratio=Decimal("0.9"))

    assert post_webhook(source, completed(unit="t-2", score=8, passed=None)).status_code == 202

    assert Result.objects.get(unit_id="t-2").passed is False  # 8/10 < 0.9


def test_an_ip_list_changed_behind_the_cache_is_applied(source, post_webhook):
    _warm(source, post_webhook)
    Source.objects.filter(pk=source.pk).update(allowed_ips=["10.0.0.0/8"])
    assert post_webhook(source, completed(unit="t-2"), REMOTE_ADDR="127.0.0.1").status_code == 403

    # Now the refusal comes from the cached source: it is checked before it is given.
    Source.objects.filter(pk=source.pk).update(allowed_ips=["127.0.0.1/32"])
    assert post_webhook(source, completed(unit="t-3"), REMOTE_ADDR="127.0.0.1").status_code == 202


def test_a_start_over_counts_the_request_once(source, post_webhook, settings):
    settings.INTAKE_COUNTER_FLUSH_SECONDS = 3600
    _warm(source, post_webhook)
    Source.objects.filter(pk=source.pk).update(name="renamed")
    counters._pending.clear()

    assert post_webhook(source, completed(unit="t-2")).status_code == 202

    assert sum(counters._pending.values()) == 1


def test_a_source_that_keeps_changing_answers_503_and_stores_nothing(source, post_webhook):
    _warm(source, post_webhook)
    with mock.patch("webhooks.services.completion_receive", side_effect=SourceChanged(source.slug)):
        response = post_webhook(source, completed(unit="t-2"))

    assert (response.status_code, response.json()["error"]) == (503, "service_unavailable")
    assert Event.objects.count() == 1


def test_a_source_inserted_without_a_revision_gets_one(db):
    # The previous release's code does not know the column: the trigger fills it.
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO webhooks_source (slug, name, kind, auth_mode, secret, previous_secret, previous_token,"
            " token, active, paused, allowed_ips, denied_ips, pass_ratio, pybossa_url, pybossa_api_key,"
            " created_at, updated_at) VALUES ('old-code', '', 'native', 'none', '', '', '', '', true, false,"
            " '[]', '[]', 0.5, '', '', now(), now()) RETURNING revision"
        )
        assert cursor.fetchone()[0] > 0


def test_a_refusal_stands_when_the_database_cannot_check_the_cached_source(source, post_webhook):
    from django.db import OperationalError

    _warm(source, post_webhook)
    with mock.patch("webhooks.intake_api.source_is_current", side_effect=OperationalError("down")):
        response = post_webhook(source, completed(unit="t-2"), token="wrong")

    assert (response.status_code, response.json()["error"]) == (401, "bad_token")
