"""Summary detail by source and user id, whatever characters the id holds."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from tests.factories import completed

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("user_id", ["a/b", "50%", "Ann Lee", "Zoë 李", "a/b/", "%2F", "?x=1#y"])
def test_a_summary_is_readable_whatever_its_user_id_holds(tenants, staff, post_webhook, user_id):
    acme, _ = tenants
    post_webhook(acme.source, completed(user=user_id))

    response = staff.get(f"/api/v1/summaries/{acme.source.slug}/{quote(user_id, safe='')}/")

    assert response.status_code == 200, response.content
    assert response.json()["user"]["id"] == user_id


def test_the_user_filter_matches_ids_exactly(tenants, staff, post_webhook):
    acme, _ = tenants
    post_webhook(acme.source, completed(user="a/b c"))

    rows = staff.get("/api/v1/summaries/", {"user": "a/b c"}).json()["results"]

    assert [row["user"]["id"] for row in rows] == ["a/b c"]
