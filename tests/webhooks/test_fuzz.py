"""Hostile but well-authenticated input: every answer is a 2xx or a 400 with a JSON error, never a 5xx."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.factories import TOKEN, completed, make_source

pytestmark = pytest.mark.django_db

PATHS = [
    ("id",),
    ("type",),
    ("occurred_at",),
    ("data",),
    ("data", "user"),
    ("data", "user", "id"),
    ("data", "user", "email"),
    ("data", "user", "name"),
    ("data", "organization"),
    ("data", "test", "id"),
    ("data", "test", "title"),
    ("data", "score"),
    ("data", "max_score"),
    ("data", "passed"),
    ("data", "attempt"),
    ("data", "completed_at"),
]

text = st.one_of(
    st.text(max_size=40),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=10),
    st.sampled_from(["\x00", "a\x00b", "\ud800", "x\udfff", "", " ", "é" * 300, "x" * 10_000]),
)
dates = st.sampled_from(
    [
        "0001-01-01T00:00:00+01:00",
        "9999-12-31T23:59:59-01:00",
        "9000-01-01T00:00:00Z",
        (datetime.now(UTC) + timedelta(days=2)).isoformat(),
        "2026-13-40T99:99:99Z",
        "yesterday",
        "2026-11-22 10:00:00",
    ]
)
numbers = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, -1, 2**31, 2**63, 10**30, True, False]),
    st.floats(allow_nan=False, allow_infinity=False),
)


def nested(depth: int) -> object:
    value: object = "deep"
    for _ in range(depth):
        value = {"a": [value]}
    return value


values = st.one_of(text, dates, numbers, st.none(), st.just([]), st.just({}), st.builds(nested, st.integers(1, 300)))


@settings(max_examples=150, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck), database=None)
@given(mutations=st.lists(st.tuples(st.sampled_from(PATHS), values), min_size=1, max_size=4))
def test_mutated_envelopes_get_a_2xx_or_a_400_with_a_json_error(client, source, mutations):
    body = copy.deepcopy(completed())
    for path, value in mutations:
        target = body
        for key in path[:-1]:
            if not isinstance(target.get(key), dict):
                target[key] = {}
            target = target[key]
        target[path[-1]] = value
    raw = json.dumps(body, default=str).encode()

    response = client.post(
        f"/api/v1/webhooks/{source.slug}/", raw, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {TOKEN}"
    )

    assert response.status_code in (200, 202, 400), (response.status_code, response.content[:300])
    if response.status_code == 400:
        assert response.json()["error"] == "validation_error"
        assert response.json()["detail"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("completed_at", "0001-01-01T00:00:00+01:00"),
        ("completed_at", "9000-01-01T00:00:00Z"),
        ("completed_at", "9999-12-31T23:59:59-01:00"),
        ("user", {"id": "a\ud800"}),
        ("user", {"id": "a\x00"}),
    ],
)
def test_each_known_poison_is_a_400_naming_its_field(client, field, value):
    source = make_source(slug="poison")
    body = completed()
    body["data"][field] = value

    response = client.post(
        f"/api/v1/webhooks/{source.slug}/",
        json.dumps(body).encode(),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {TOKEN}",
    )

    assert response.status_code == 400
    assert any(key.startswith(f"data.{field}") for key in response.json()["detail"])


def test_an_event_far_in_the_future_is_refused_rather_than_winning_forever(client):
    source = make_source(slug="future")
    body = completed(completed_at=(datetime.now(UTC) + timedelta(hours=1)).isoformat())

    response = client.post(
        f"/api/v1/webhooks/{source.slug}/",
        json.dumps(body).encode(),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {TOKEN}",
    )

    assert response.status_code == 400
    assert "in the future" in response.json()["detail"]["data.completed_at"][0]
