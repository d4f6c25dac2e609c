"""The admin pages operators use load, list and search without errors."""

from __future__ import annotations

import pytest

from results.models import Result, Summary
from tests.factories import completed
from webhooks.models import Event, IntakeCounter, Source

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("model", [Source, Event, IntakeCounter, Result, Summary])
def test_changelist_and_detail_pages_load(admin_client, source, post_webhook, model):
    post_webhook(source, completed())
    post_webhook(source, completed(score="bad"))
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
