"""Staff manage sources and destinations through the API: create, update, pause, enable, rotate secrets."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from common.standard_webhooks import sign
from deliveries.client import signed_headers
from deliveries.models import Delivery, Destination
from webhooks.models import Source


@pytest.fixture(autouse=True)
def _analysis_modules(settings):
    """The modules these tests name as custom analyses, allowed as an operator would (PYBOSSA_ANALYSIS_MODULES)."""
    settings.PYBOSSA_ANALYSIS_MODULES = ["statistics", "decimal", "json", "no"]


pytestmark = pytest.mark.django_db


def post(client, path, body=None):
    return client.post(path, body or {}, content_type="application/json")


def patch(client, path, body):
    return client.patch(path, body, content_type="application/json")


def test_creating_a_source_shows_its_generated_secret_once(staff):
    created = post(staff, "/api/v1/sources/", {"slug": "new-lms", "allowed_ips": ["10.0.0.0/8"]})

    assert created.status_code == 201, created.content
    secret = created.json()["secret"]
    assert secret.startswith("whsec_")
    assert "token" not in created.json()
    assert Source.objects.get(slug="new-lms").secret == secret
    assert "secret" not in staff.get("/api/v1/sources/new-lms/").json()
    assert all("secret" not in row for row in staff.get("/api/v1/sources/").json()["results"])


def test_a_token_source_shows_its_token_once(staff):
    created = post(
        staff, "/api/v1/sources/", {"slug": "pb", "kind": "pybossa", "pybossa_url": "https://pybossa.example.org"}
    )

    assert created.status_code == 201
    assert created.json()["auth_mode"] == "token"
    assert len(created.json()["token"]) >= 16


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"slug": "bad slug"}, "slug"),
        ({"slug": "x", "kind": "ftp"}, "kind"),
        ({"slug": "x", "rate_limit_per_minute": 0}, "rate_limit_per_minute"),
        ({"slug": "x", "token": "short"}, "token"),
        ({"slug": "x", "auth_mode": "none"}, "allowed_ips"),
        ({"slug": "x", "allowed_ips": ["not-an-ip"]}, "allowed_ips"),
        ({"slug": "x", "kind": "pybossa"}, "pybossa_url"),
        ({"slug": "x", "token": "a-token-of-sixteen-chars"}, "token"),
        ({"slug": "x", "auth_mode": "token", "secret": "whsec_c2VjcmV0"}, "secret"),
        ({"slug": "x", "pass_ratio": "1.5"}, "pass_ratio"),
        (
            {"slug": "x", "kind": "pybossa", "pybossa_url": "https://p.example", "pybossa_analysis": "quorum"},
            "pybossa_quorum",
        ),
        (
            {"slug": "x", "kind": "pybossa", "pybossa_url": "https://p.example", "pybossa_analysis": "nowhere.at_all"},
            "pybossa_analysis",
        ),
        (
            {
                "slug": "x",
                "kind": "pybossa",
                "pybossa_url": "https://p.example",
                "pybossa_analysis": "json.JSONDecoder.parse_float_x",
            },
            "pybossa_analysis",
        ),
        (
            {
                "slug": "x",
                "kind": "pybossa",
                "pybossa_url": "https://p.example",
                "pybossa_analysis": "decimal.MAX_PREC",
            },
            "pybossa_analysis",
        ),
    ],
)
def test_a_bad_source_is_a_400_naming_the_problem(staff, body, field):
    response = post(staff, "/api/v1/sources/", body)

    assert response.status_code == 400
    assert field in response.json()["detail"]
    assert not Source.objects.filter(slug="x").exists()


def test_a_source_is_updated_paused_and_resumed(staff, source):
    updated = patch(staff, f"/api/v1/sources/{source.slug}/", {"name": "Acme LMS", "rate_limit_per_minute": 60})
    paused = post(staff, f"/api/v1/sources/{source.slug}/pause/")
    resumed = post(staff, f"/api/v1/sources/{source.slug}/resume/")
    cleared = patch(staff, f"/api/v1/sources/{source.slug}/", {"rate_limit_per_minute": None})

    assert (updated.json()["name"], updated.json()["rate_limit_per_minute"]) == ("Acme LMS", 60)
    assert (paused.json()["paused"], resumed.json()["paused"]) == (True, False)
    assert cleared.json()["rate_limit_per_minute"] is None


def test_rotating_a_source_secret_keeps_the_old_one_valid_for_the_grace_period(staff, client):
    created = post(staff, "/api/v1/sources/", {"slug": "signed"}).json()
    old = created["secret"]

    rotated = post(staff, "/api/v1/sources/signed/rotate-secret/", {"grace_seconds": 3600})
    new = rotated.json()["secret"]

    source = Source.objects.get(slug="signed")
    assert new != old
    assert source.verifying_secrets == [new, old]
    Source.objects.filter(pk=source.pk).update(previous_expires_at=timezone.now() - timedelta(seconds=1))
    assert Source.objects.get(pk=source.pk).verifying_secrets == [new]


def test_a_webhook_signed_with_the_old_secret_verifies_until_the_grace_ends(staff, client):
    old = post(staff, "/api/v1/sources/", {"slug": "signed"}).json()["secret"]
    post(staff, "/api/v1/sources/signed/rotate-secret/", {"grace_seconds": 3600})
    body = b'{"id": "evt_1", "type": "other.thing", "occurred_at": "2026-11-22T10:00:00Z", "data": {}}'

    def send(msg_id):
        at = int(timezone.now().timestamp())
        return client.post(
            "/api/v1/webhooks/signed/",
            body,
            content_type="application/json",
            HTTP_WEBHOOK_ID=msg_id,
            HTTP_WEBHOOK_TIMESTAMP=str(at),
            HTTP_WEBHOOK_SIGNATURE=sign(old, msg_id=msg_id, timestamp=at, body=body),
        )

    assert send("m1").status_code == 202
    Source.objects.filter(slug="signed").update(previous_expires_at=timezone.now())
    assert send("m2").status_code == 401


def test_rotating_a_token_sources_token_keeps_the_old_one_for_the_grace_period(staff, client):
    old = post(
        staff, "/api/v1/sources/", {"slug": "pb", "kind": "pybossa", "pybossa_url": "https://pybossa.example.org"}
    ).json()["token"]

    new = post(staff, "/api/v1/sources/pb/rotate-secret/", {"grace_seconds": 60}).json()["token"]
    body = {"project_id": 1, "task_id": 2, "result_id": 3, "event": "task_completed"}

    def send(token, result_id):
        return client.post(f"/api/v1/webhooks/pb/?token={token}", {**body, "result_id": result_id}, "application/json")

    assert new != old
    assert (send(old, 1).status_code, send(new, 2).status_code) == (200, 200)
    Source.objects.filter(slug="pb").update(previous_expires_at=timezone.now())
    assert (send(old, 3).status_code, send(new, 4).status_code) == (401, 200)


def test_a_stale_patch_does_not_undo_a_rotation_or_a_pause(staff):
    post(staff, "/api/v1/sources/", {"slug": "signed"})
    stale = Source.objects.get(slug="signed")
    new = post(staff, "/api/v1/sources/signed/rotate-secret/").json()["secret"]
    post(staff, "/api/v1/sources/signed/pause/")

    from webhooks.sources import source_update

    source_update(source=stale, name="Renamed")

    fresh = Source.objects.get(slug="signed")
    assert (fresh.name, fresh.secret, fresh.paused) == ("Renamed", new, True)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"timeout_seconds": 0}, "timeout_seconds"),
        ({"max_attempts": 51}, "max_attempts"),
        ({"headers": {"X-Key": "李"}}, "non_field_errors"),
        ({"url": "ftp://x.example/"}, "url"),
        ({"sources": []}, "non_field_errors"),
    ],
)
def test_a_bad_destination_patch_is_a_400_and_changes_nothing(staff, destination, body, field):
    before = Destination.objects.get(pk=destination.pk)

    response = patch(staff, f"/api/v1/destinations/{destination.pk}/", body)

    assert response.status_code == 400, response.content
    assert field in response.json()["detail"]
    after = Destination.objects.get(pk=destination.pk)
    assert (after.timeout_seconds, after.max_attempts, after.url) == (
        before.timeout_seconds,
        before.max_attempts,
        before.url,
    )
    assert list(after.sources.all()) == list(before.sources.all())


@pytest.mark.parametrize(
    ("body", "field"),
    [({"pybossa_url": "ftp://x.example/"}, "pybossa_url"), ({"pass_ratio": "2"}, "pass_ratio")],
)
def test_a_bad_source_patch_is_a_400(staff, source, body, field):
    response = patch(staff, f"/api/v1/sources/{source.slug}/", body)

    assert response.status_code == 400
    assert field in response.json()["detail"]


def test_creating_a_destination_shows_its_secret_once_and_hides_headers(staff, source, receiver):
    created = post(
        staff,
        "/api/v1/destinations/",
        {"name": "acme", "url": receiver.url, "sources": [source.slug], "headers": {"X-Key": "k"}},
    )

    assert created.status_code == 201, created.content
    body = created.json()
    assert body["secret"].startswith("whsec_")
    assert "headers" not in body
    again = staff.get(f"/api/v1/destinations/{body['id']}/").json()
    assert "secret" not in again
    assert "headers" not in again
    assert again["sources"] == [source.slug]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "x", "url": "ftp://x", "sources": []}, "url"),
        ({"name": "x", "url": "https://x.example", "sources": ["nope"]}, "sources"),
        ({"name": "x", "url": "https://x.example", "sources": []}, "non_field_errors"),
        ({"name": "x", "url": "https://x.example", "sources": ["SRC"], "max_attempts": 0}, "max_attempts"),
        ({"name": "x", "url": "https://x.example", "sources": ["SRC"], "timeout_seconds": 61}, "timeout_seconds"),
        ({"name": "x", "url": "https://x.example", "sources": ["SRC"], "secret": "plain"}, "secret"),
        (
            {"name": "x", "url": "https://x.example", "sources": ["SRC"], "headers": {"X": "a\r\nB: c"}},
            "non_field_errors",
        ),
    ],
)
def test_a_bad_destination_is_a_400_naming_the_problem(staff, source, body, field):
    body = {**body, "sources": [source.slug if slug == "SRC" else slug for slug in body["sources"]]}
    response = post(staff, "/api/v1/destinations/", body)

    assert response.status_code == 400, response.content
    assert field in response.json()["detail"]
    assert not Destination.objects.filter(name="x").exists()


def test_a_destination_is_updated_disabled_and_enabled(staff, destination, source):
    path = f"/api/v1/destinations/{destination.pk}/"

    updated = patch(staff, path, {"timeout_seconds": 5, "sources": [source.slug]})
    disabled = post(staff, path + "disable/")
    enabled = post(staff, path + "enable/")
    renamed = patch(staff, path, {"name": "other"})

    assert updated.json()["timeout_seconds"] == 5
    assert disabled.json()["disabled_at"] is not None
    assert enabled.json()["disabled_at"] is None
    assert renamed.status_code == 400


def test_after_a_destination_rotation_pushes_carry_a_signature_for_each_secret(staff, destination):
    old = destination.secret

    new = post(staff, f"/api/v1/destinations/{destination.pk}/rotate-secret/", {"grace_seconds": 600}).json()["secret"]

    fresh = Destination.objects.get(pk=destination.pk)
    assert fresh.signing_secrets == [new, old]
    headers = signed_headers(secrets=fresh.signing_secrets, msg_id="dlv_1_1", body=b"{}", extra={})
    assert len(headers["webhook-signature"].split(" ")) == 2
    Destination.objects.filter(pk=destination.pk).update(previous_secret_expires_at=timezone.now())
    assert Destination.objects.get(pk=destination.pk).signing_secrets == [new]


def test_bulk_replay_takes_only_failed_and_dead_deliveries_in_batches(tenants, staff, monkeypatch):
    from deliveries import replay as services

    monkeypatch.setattr(services, "REPLAY_BATCH", 1)
    acme, _ = tenants
    rows = list(Delivery.objects.filter(destination=acme.destination).order_by("pk"))
    Delivery.objects.filter(pk=rows[0].pk).update(status="failed")
    Delivery.objects.filter(pk=rows[1].pk).update(status="delivered")

    everything = post(staff, "/api/v1/deliveries/retry/", {"destination": "acme"})
    delivered = post(staff, "/api/v1/deliveries/retry/", {"status": "delivered"})

    assert (everything.status_code, everything.json()) == (202, {"queued": 1})
    assert (delivered.status_code, list(delivered.json()["detail"])) == (400, ["status"])
    assert Delivery.objects.get(pk=rows[1].pk).status == "delivered"


def test_creating_a_source_takes_its_name_and_pass_ratio(staff):
    created = post(staff, "/api/v1/sources/", {"slug": "lms", "name": "Acme LMS", "pass_ratio": "0.7"})

    assert created.status_code == 201, created.content
    assert (created.json()["name"], created.json()["pass_ratio"]) == ("Acme LMS", "0.700")
    source = Source.objects.get(slug="lms")
    assert (source.name, str(source.pass_ratio)) == ("Acme LMS", "0.700")


def test_unknown_fields_in_a_new_source_are_a_400_naming_each(staff):
    response = post(staff, "/api/v1/sources/", {"slug": "lms", "alowed_ips": ["10.0.0.0/8"], "colour": "red"})

    assert response.status_code == 400
    assert response.json()["error"] == "validation_error"
    assert sorted(response.json()["detail"]) == ["alowed_ips", "colour"]
    assert not Source.objects.exists()


def test_unknown_fields_in_a_patch_are_a_400_but_fields_read_back_are_not(staff, source):
    read = staff.get(f"/api/v1/sources/{source.slug}/").json()

    typo = patch(staff, f"/api/v1/sources/{source.slug}/", {"nmae": "Acme"})
    echoed = patch(staff, f"/api/v1/sources/{source.slug}/", {**read, "name": "Acme"})

    assert (typo.status_code, list(typo.json()["detail"])) == (400, ["nmae"])
    assert (echoed.status_code, echoed.json()["name"]) == (200, "Acme")


def test_an_api_error_names_the_field_never_a_command_flag(staff):
    response = post(staff, "/api/v1/sources/", {"slug": "x", "auth_mode": "none"})

    assert response.status_code == 400
    assert "--" not in response.content.decode()
    assert response.json()["detail"]["allowed_ips"] == ["Auth 'none' needs an IP allow-list."]


def test_a_pybossa_sources_analysis_is_created_read_and_changed_through_the_api(staff):
    body = {"slug": "pb", "kind": "pybossa", "pybossa_url": "https://p.example", "pybossa_analysis": "quorum"}
    created = post(staff, "/api/v1/sources/", {**body, "pybossa_quorum": 3})
    changed = patch(staff, "/api/v1/sources/pb/", {"pybossa_analysis": "statistics.median"})
    refused = patch(staff, "/api/v1/sources/pb/", {"pybossa_analysis": "statistics.nope"})

    assert created.status_code == 201, created.content
    assert (created.json()["pybossa_analysis"], created.json()["pybossa_quorum"]) == ("quorum", 3)
    assert (changed.json()["pybossa_analysis"], changed.json()["pybossa_quorum"]) == ("statistics.median", None)
    assert refused.status_code == 400
    assert "does not import" in refused.json()["detail"]["pybossa_analysis"][0]
