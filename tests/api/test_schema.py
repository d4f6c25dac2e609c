"""The OpenAPI schema: valid, complete, served with its docs page, and true to the API (schemathesis)."""

from __future__ import annotations

import pytest
import schemathesis
import yaml
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings
from openapi_spec_validator import validate
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from accounts.services import api_token_create
from deliveries.destinations import destination_create
from tests.factories import completed, make_source

pytestmark = pytest.mark.django_db


@pytest.fixture
def api_schema(world):
    """The schema as the running app serves it (built after the test settings are in place).

    Requests go through the WSGI handler in-process; like Django's test client, keep it from
    closing the test's database connection at the end of each request. (After `world`: the
    test client reconnects the handlers when it is done.)
    """
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield schemathesis.openapi.from_wsgi("/api/schema/", get_wsgi_application())
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
BOUNDED = settings(
    max_examples=40, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck), database=None
)


def test_the_schema_is_valid_openapi_and_covers_every_resource(client):
    response = client.get("/api/schema/")

    assert response.status_code == 200
    document = yaml.safe_load(response.content)
    validate(document)
    paths = set(document["paths"])
    for path in (
        "/api/v1/webhooks/{source_slug}/",
        "/api/v1/sources/",
        "/api/v1/sources/{slug}/rotate-secret/",
        "/api/v1/destinations/{id}/rotate-secret/",
        "/api/v1/summaries/",
        "/api/v1/summaries/{source}/{user_id}/",
        "/api/v1/results/",
        "/api/v1/events/",
        "/api/v1/deliveries/",
        "/api/v1/deliveries/{id}/retry/",
        "/api/v1/deliveries/retry/",
    ):
        assert path in paths, path
    assert not any(path.startswith("/progress") for path in paths)
    assert "userSummaryUpdated" in document["webhooks"]
    for item in document["paths"].values():
        for operation in item.values():
            assert {"400", "401", "404"} <= set(operation["responses"]), operation["operationId"]


def test_the_docs_page_loads_nothing_from_a_cdn(client):
    response = client.get("/api/docs/")
    html = response.content.decode()

    assert response.status_code == 200
    assert "swagger-ui" in html
    assert "cdn" not in html.lower()
    assert "https://" not in html


@pytest.fixture
def world(db, post_webhook):
    """A source with some users, a destination and tokens, so that reads find rows."""
    source = make_source(slug="acme-lms")
    for user in ("u-1", "u-2"):
        post_webhook(source, completed(user=user))
    destination = destination_create(name="acme", url="https://acme.example/hook", source_slugs=[source.slug])
    _, staff = api_token_create(name="ops", is_staff=True)
    _, client = api_token_create(name="acme-client", is_staff=False, destination_id=destination.pk)
    return {"staff": staff, "client": client}


def check_every_operation(api_schema, token: str) -> None:
    """Generate requests for each operation (bounded) and collect every check that fails."""
    failures = []
    for found in api_schema.get_all_operations():
        operation = found.ok()

        @BOUNDED
        @given(case=operation.as_strategy())
        def check(case):
            case.call_and_validate(headers={"Authorization": f"Bearer {token}"}, checks=CHECKS)

        try:
            check()
        except Exception as exc:  # one report for all operations, not the first failure only
            failures.append(f"{operation.label}: {exc}")
    assert not failures, "\n\n".join(failures)


def test_the_api_answers_as_its_schema_says_for_a_staff_token(api_schema, world):
    check_every_operation(api_schema, world["staff"])


def test_the_api_answers_as_its_schema_says_for_a_client_token(api_schema, world):
    check_every_operation(api_schema, world["client"])
