"""GET /api/v1/summaries/ and /api/v1/summaries/<source>/<user_id>/."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from accounts.services import api_token_create
from results.models import Summary
from tests.factories import completed, make_source, user_deleted
from webhooks.counters import intake_counts_flush

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(db) -> Client:
    _, raw = api_token_create(name="ops", is_staff=True)
    return Client(HTTP_AUTHORIZATION=f"Bearer {raw}")


def test_summary_detail_has_the_spec_fields(source, post_webhook, api):
    post_webhook(source, completed(unit="a", score=8))
    post_webhook(source, completed(unit="b", score=7.5, passed=False, minutes=3))

    response = api.get(f"/api/v1/summaries/{source.slug}/u-42/")

    assert response.status_code == 200
    body = response.json()
    assert body["source"] == source.slug
    assert body["user"] == {"id": "u-42", "email": "u-42@example.com", "name": "U-42"}
    assert {k: body[k] for k in ["units_completed", "units_passed", "score_total", "max_score_total", "percent"]} == {
        "units_completed": 2,
        "units_passed": 1,
        "score_total": "15.50",
        "max_score_total": "20.00",
        "percent": "77.50",
    }
    assert body["version"] == 2
    assert body["first_activity_at"] == "2026-11-22T09:00:00Z"
    assert body["last_activity_at"] == "2026-11-22T09:03:00Z"


def test_unknown_summary_is_404_with_an_error_code(source, api):
    response = api.get(f"/api/v1/summaries/{source.slug}/nobody/")

    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


def test_erased_users_are_not_listed(source, post_webhook, api):
    post_webhook(source, completed())
    post_webhook(source, user_deleted())

    assert api.get(f"/api/v1/summaries/{source.slug}/u-42/").status_code == 404
    assert api.get("/api/v1/summaries/").json()["results"] == []


def test_list_filters_by_source_user_and_updated_since(source, post_webhook, api):
    other = make_source()
    post_webhook(source, completed(user="u-1"))
    post_webhook(source, completed(user="u-2"))
    post_webhook(other, completed(user="u-1"))
    Summary.objects.filter(user_id="u-2").update(updated_at=timezone.now() - timedelta(days=2))
    since = (timezone.now() - timedelta(days=1)).isoformat()

    def users(**params):
        body = api.get("/api/v1/summaries/", params).json()
        return sorted((row["source"], row["user"]["id"]) for row in body["results"])

    assert users(source=source.slug) == [(source.slug, "u-1"), (source.slug, "u-2")]
    assert users(user="u-1") == sorted([(other.slug, "u-1"), (source.slug, "u-1")])
    assert users(source=source.slug, updated_since=since) == [(source.slug, "u-1")]


def test_list_is_cursor_paginated_in_update_order(source, post_webhook, api):
    for n in range(5):
        post_webhook(source, completed(user=f"u-{n}"))

    first = api.get("/api/v1/summaries/", {"page_size": 2}).json()
    second = api.get(first["next"]).json()

    assert [r["user"]["id"] for r in first["results"]] == ["u-0", "u-1"]
    assert [r["user"]["id"] for r in second["results"]] == ["u-2", "u-3"]
    assert "cursor=" in first["next"]


def test_bad_updated_since_is_a_validation_error(api):
    response = api.get("/api/v1/summaries/", {"updated_since": "last week"})

    assert response.status_code == 400
    assert response.json()["error"] == "validation_error"
    assert "updated_since" in response.json()["detail"]


@pytest.mark.parametrize("header", [None, "Bearer tly_wrong", "Token abc"])
def test_summaries_need_a_valid_token(db, header):
    client = Client(HTTP_AUTHORIZATION=header) if header else Client()

    response = client.get("/api/v1/summaries/")

    assert response.status_code == 401
    assert response.json()["error"] in {"not_authenticated", "bad_token"}


def test_list_makes_a_fixed_number_of_queries(source, post_webhook, api, django_assert_max_num_queries):
    for n in range(20):
        post_webhook(source, completed(user=f"u-{n}"))
    intake_counts_flush()  # else the intake's counts may be written after this request

    with django_assert_max_num_queries(2):
        assert len(api.get("/api/v1/summaries/").json()["results"]) == 20
