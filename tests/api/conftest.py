"""Two destinations, each with a client token, and a staff token: the cast of the API's scope tests."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from django.test import Client

from accounts.services import api_token_create
from deliveries.destinations import destination_create
from deliveries.models import Destination
from tests.conftest import RECEIVER_SECRET
from tests.factories import completed, make_source
from webhooks.models import Source


def bearer(raw: str) -> Client:
    return Client(HTTP_AUTHORIZATION=f"Bearer {raw}")


@pytest.fixture
def staff(db) -> Client:
    _, raw = api_token_create(name="ops", is_staff=True)
    return bearer(raw)


@dataclass
class Tenant:
    source: Source
    destination: Destination
    client: Client
    raw: str


@pytest.fixture
def tenants(db, post_webhook) -> tuple[Tenant, Tenant]:
    """Acme and Globex: one source, one destination, one client token each, and some events for two users."""
    made = []
    for name in ("acme", "globex"):
        source = make_source(slug=f"{name}-lms")
        destination = destination_create(
            name=name, url=f"https://{name}.example/hook", source_slugs=[source.slug], secret=RECEIVER_SECRET
        )
        _, raw = api_token_create(name=f"{name}-client", is_staff=False, destination_id=destination.pk)
        for user in ("u-1", "u-2"):
            post_webhook(source, completed(user=user))
        made.append(Tenant(source=source, destination=destination, client=bearer(raw), raw=raw))
    return made[0], made[1]
