"""A client token sees its own destination's sources and nothing else; staff see everything."""

from __future__ import annotations

import pytest

from accounts.models import ApiToken
from deliveries.models import Delivery
from webhooks.models import Event

pytestmark = pytest.mark.django_db


def listed(client, path, **params):
    response = client.get(path, params)
    assert response.status_code == 200, response.content
    return response.json()["results"]


def test_a_client_lists_only_its_own_sources_summaries_results_and_deliveries(tenants):
    acme, _globex = tenants

    assert [s["slug"] for s in listed(acme.client, "/api/v1/sources/")] == [acme.source.slug]
    assert {s["source"] for s in listed(acme.client, "/api/v1/summaries/")} == {acme.source.slug}
    assert {r["source"] for r in listed(acme.client, "/api/v1/results/")} == {acme.source.slug}
    assert {d["destination"] for d in listed(acme.client, "/api/v1/deliveries/")} == {"acme"}


def test_a_client_sees_its_sources_but_not_the_platforms_settings(tenants):
    acme, _ = tenants

    shown = acme.client.get(f"/api/v1/sources/{acme.source.slug}/").json()

    assert set(shown) == {"slug", "name", "kind", "active", "paused"}


def test_filtering_for_another_destinations_data_finds_nothing(tenants):
    acme, globex = tenants

    assert listed(acme.client, "/api/v1/summaries/", source=globex.source.slug) == []
    assert listed(acme.client, "/api/v1/results/", source=globex.source.slug) == []
    assert listed(acme.client, "/api/v1/deliveries/", destination="globex") == []


def test_guessing_another_destinations_ids_is_a_404_not_a_403(tenants):
    acme, globex = tenants
    theirs = Delivery.objects.filter(destination=globex.destination).first()

    for path in (
        f"/api/v1/sources/{globex.source.slug}/",
        f"/api/v1/summaries/{globex.source.slug}/u-1/",
        f"/api/v1/deliveries/{theirs.webhook_id}/",
        f"/api/v1/deliveries/{theirs.pk}/",
    ):
        response = acme.client.get(path)
        assert (response.status_code, response.json()["error"]) == (404, "not_found"), path


def test_events_destinations_and_every_write_are_for_staff_only(tenants):
    acme, _ = tenants
    event = Event.objects.first()

    for path in ("/api/v1/events/", f"/api/v1/events/{event.pk}/", "/api/v1/destinations/"):
        assert acme.client.get(path).status_code == 403, path
    writes = [
        ("post", "/api/v1/sources/", {"slug": "mine"}),
        ("patch", f"/api/v1/sources/{acme.source.slug}/", {"name": "x"}),
        ("post", f"/api/v1/sources/{acme.source.slug}/pause/", {}),
        ("post", f"/api/v1/sources/{acme.source.slug}/rotate-secret/", {}),
        ("post", "/api/v1/deliveries/retry/", {"status": "failed"}),
    ]
    for method, path, body in writes:
        response = getattr(acme.client, method)(path, body, content_type="application/json")
        assert response.status_code == 403, (method, path)
        assert response.json()["error"] == "permission_denied"


def test_staff_see_every_source_and_event(tenants, staff):
    assert len(listed(staff, "/api/v1/sources/")) == 2
    assert len(listed(staff, "/api/v1/events/")) == 4
    assert {d["destination"] for d in listed(staff, "/api/v1/deliveries/")} == {"acme", "globex"}


def test_a_revoked_token_is_refused(tenants):
    acme, _ = tenants
    ApiToken.objects.filter(name="acme-client").update(active=False)

    response = acme.client.get("/api/v1/summaries/")

    assert response.status_code == 401
    assert response.json()["error"] == "bad_token"


@pytest.mark.parametrize(
    ("method", "path", "status", "error"),
    [
        ("get", "/api/v1/nothing-here/", 404, "not_found"),
        ("get", "/api/v1/sources/no-such-source/", 404, "not_found"),
        ("get", "/api/v1/events/99999999/", 404, "not_found"),
        ("get", "/api/v1/events/not-a-number/", 404, "not_found"),
        ("get", "/api/v1/destinations/123456789012345678901234/", 404, "not_found"),
        ("delete", "/api/v1/summaries/", 405, "method_not_allowed"),
        ("put", "/api/v1/sources/acme-lms/", 405, "method_not_allowed"),
        ("get", "/api/v1/summaries/?updated_since=last+week", 400, "validation_error"),
        ("get", "/api/v1/deliveries/?cursor=garbage", 404, "not_found"),
        ("get", "/api/v1/deliveries/?cursor=cD1hYmM%3D", 404, "not_found"),  # p=abc
        ("get", "/api/v1/summaries/?cursor=cD1nYXJiYWdl", 404, "not_found"),  # p=garbage
        ("get", "/api/v1/events/?cursor=cD0xZTU%3D", 404, "not_found"),  # p=1e5
        ("get", "/api/v1/deliveries/dlv_%C2%B2/", 404, "not_found"),  # a superscript two
        ("get", "/api/v1/summaries/acme-lms/a%00b/", 404, "not_found"),
    ],
)
def test_every_error_has_the_one_json_shape(tenants, staff, method, path, status, error):
    response = getattr(staff, method)(path)

    assert response.status_code == status
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"] == error
    assert response.json()["detail"]


def test_absurdly_nested_json_is_a_parse_error_not_a_crash(staff, tenants, post_webhook):
    nested = "[" * 100_000 + "]" * 100_000

    api = staff.post("/api/v1/sources/", nested, content_type="application/json")
    intake = post_webhook(tenants[0].source, None, raw=nested.encode())

    assert (api.status_code, api.json()["error"]) == (400, "parse_error")
    assert (intake.status_code, list(intake.json()["detail"])) == (400, ["body"])
