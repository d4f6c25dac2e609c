"""Concurrent events for one user, through real HTTP against PostgreSQL."""

from __future__ import annotations

import json
import random
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from django.db import transaction

from results.locking import summary_lock_for_intake
from results.models import Result, Summary
from results.rebuild import summaries_rebuild
from tests.factories import TOKEN, completed, make_source
from webhooks.services import event_receive


def events_for_one_user() -> list[dict]:
    """40 completions over 8 units; no two of a unit share (completed_at, attempt), so order cannot matter."""
    rng = random.Random(7)
    events = []
    for unit in range(8):
        for attempt in range(1, 6):
            events.append(
                completed(
                    unit=f"t-{unit}",
                    attempt=attempt,
                    minutes=-(rng.randint(0, 300) * 10) + attempt,  # in the past: future times are refused
                    score=rng.randint(0, 10),
                    passed=rng.random() < 0.5,
                )
            )
    rng.shuffle(events)
    return events


@pytest.mark.django_db(transaction=True)
def test_forty_concurrent_events_for_one_user_equal_applying_them_one_by_one(live_server):
    concurrent_source = make_source()
    sequential_source = make_source()
    events = events_for_one_user()
    url = f"{live_server.url}/api/v1/webhooks/{concurrent_source.slug}/"
    start = threading.Barrier(8)
    local = threading.local()

    def post(body: dict) -> int:
        if not hasattr(local, "session"):
            local.session = requests.Session()
            start.wait(timeout=10)
        response = local.session.post(url, json=body, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30)
        return response.status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        codes = list(pool.map(post, events))

    assert codes == [202] * 40
    for body in events:
        event_receive(source=sequential_source, body=json.dumps(body).encode(), header_id=None)

    fields = [
        "units_completed",
        "units_passed",
        "score_total",
        "max_score_total",
        "percent",
        "first_activity_at",
        "last_activity_at",
    ]
    concurrent = Summary.objects.filter(source=concurrent_source).values(*fields).get()
    sequential = Summary.objects.filter(source=sequential_source).values(*fields).get()
    assert concurrent == sequential
    assert concurrent["units_completed"] == 8
    assert Result.objects.filter(source=concurrent_source).count() == 8
    assert summaries_rebuild(check=True).drifted == 0


@pytest.mark.django_db
def test_the_intake_lock_returns_the_whole_summary(source):
    with transaction.atomic():
        summary = summary_lock_for_intake(source_id=source.pk, user_id="u-1", email="u-1@example.com")

    assert summary.get_deferred_fields() == set(), "the upsert's RETURNING lists every column of Summary"
    assert (summary.user_email, summary.version) == ("u-1@example.com", 0)
