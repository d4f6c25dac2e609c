"""The admin pages operators use load, list and search without errors."""

from __future__ import annotations

import pytest

from results.models import Result, Summary
from tests.factories import completed
from webhooks.counters import intake_counts_flush
from webhooks.models import Event, IntakeCounter, Source

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("model", [Source, Event, IntakeCounter, Result, Summary])
def test_changelist_and_detail_pages_load(admin_client, source, post_webhook, model):
    post_webhook(source, completed())
    post_webhook(source, completed(score="bad"))
    intake_counts_flush()
    meta = model._meta
    url = f"/admin/{meta.app_label}/{meta.model_name}/"

    listing = admin_client.get(url, {"q": "u-42"} if model in (Result, Summary) else {})
    detail = admin_client.get(f"{url}{model.objects.first().pk}/change/")

    assert listing.status_code == 200
    assert detail.status_code == 200


def test_event_page_shows_the_raw_body_read_only(admin_client, source, post_webhook):
    post_webhook(source, completed(event_id="evt_shown"))
    event = Event.objects.get()

    page = admin_client.get(f"/admin/webhooks/event/{event.pk}/change/").content.decode()

    assert "evt_shown" in page
    assert 'name="body"' not in page, "raw payloads are not editable"


def test_pause_and_resume_actions(admin_client, source, post_webhook, eager_tasks, django_capture_on_commit_callbacks):
    url = "/admin/webhooks/source/"
    admin_client.post(url, {"action": "pause", "_selected_action": [source.pk]})
    post_webhook(source, completed())
    assert Event.objects.get().status == "paused"

    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(url, {"action": "resume", "_selected_action": [source.pk]})

    assert Event.objects.get().status == "accepted"
    assert Summary.objects.get(source=source).units_completed == 1


def source_form(**changes):
    from webhooks.forms import SourceAdminForm

    data = {
        "slug": "edited",
        "name": "",
        "kind": "native",
        "auth_mode": "standard",
        "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "allowed_ips": "[]",
        "denied_ips": "[]",
        "pass_ratio": "0.5",
        "active": "on",
    }
    data.update(changes)
    return SourceAdminForm(data=data)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"allowed_ips": '["not-an-ip"]'}, "allowed_ips"),
        ({"denied_ips": '"10.0.0.0/8"'}, "denied_ips"),
        ({"secret": "plain-text"}, "secret"),
        ({"auth_mode": "token", "token": "short"}, "token"),
        ({"auth_mode": "none"}, "allowed_ips"),
        ({"pybossa_url": "ftp://x.example/"}, "pybossa_url"),
    ],
)
def test_the_source_form_refuses_what_create_source_refuses(db, changes, field):
    form = source_form(**changes)

    assert not form.is_valid()
    assert field in form.errors


def test_the_source_form_takes_a_good_edit(db):
    form = source_form(allowed_ips='["203.0.113.7", "10.0.0.0/8"]')

    assert form.is_valid(), form.errors
    assert form.cleaned_data["allowed_ips"] == ["203.0.113.7/32", "10.0.0.0/8"]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"url": "https://127.0.0.1/x"}, "url"),
        ({"secret": "nope"}, "secret"),
        ({"headers": '{"X-Key": "a\\nb"}'}, "headers"),
        ({"headers": '{"X-Key": 5}'}, "headers"),
    ],
)
def test_the_destination_form_refuses_what_create_destination_refuses(source, changes, field, settings):
    from deliveries.forms import DestinationAdminForm

    settings.DELIVERY_ALLOW_PRIVATE_NETWORKS = False
    data = {
        "name": "edited",
        "url": "https://hr.example/tally",
        "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "headers": "{}",
        "sources": [source.pk],
        "active": "on",
        "timeout_seconds": "10",
        "max_attempts": "10",
        "consecutive_failures": "0",
    }
    data.update(changes)

    form = DestinationAdminForm(data=data)

    assert not form.is_valid()
    assert field in form.errors
