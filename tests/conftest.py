"""Shared pytest fixtures for Tally's tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.test import Client
from django.test.client import Client as DjangoClient

from config.celery_app import app as celery_app
from deliveries.destinations import destination_create
from deliveries.models import Destination
from tests.factories import TOKEN, dumps, make_source
from tests.servers import Receiver, RedisServer
from webhooks import counters
from webhooks.models import Source

RECEIVER_SECRET = "whsec_dGFsbHktcmVjZWl2ZXItc2VjcmV0LTMyLWJ5dGVzISE="


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A client company's server on loopback that verifies pushes with the reference library."""
    server = Receiver()
    server.secret = RECEIVER_SECRET
    yield server
    server.close()


@pytest.fixture(scope="session", autouse=True)
def broker() -> Iterator[RedisServer]:
    """The session's Celery broker: a Redis of its own, so a test can take it down and bring it back."""
    server = RedisServer()
    server.start()
    celery_app.conf.broker_url = server.url  # type: ignore[misc]
    yield server
    server.stop()


@pytest.fixture(scope="session", autouse=True)
def _plain_static_files() -> None:
    """Serve admin assets unhashed: tests run without `collectstatic` and its manifest."""
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture(autouse=True)
def _clear_cache() -> Iterator[None]:
    cache.clear()
    yield
    # Counts added up in memory belong to rows the test's rollback removed.
    counters._pending.clear()


@pytest.fixture
def destination(source: Source, receiver: Receiver) -> Destination:
    """A client company's server on loopback that receives the `source` fixture's summaries."""
    return destination_create(
        name="acme-hr", url=receiver.url, source_slugs=[source.slug], secret=RECEIVER_SECRET, timeout_seconds=2
    )


@pytest.fixture
def client() -> DjangoClient:
    return Client()


@pytest.fixture
def source(db: None) -> Source:
    return make_source()


@pytest.fixture
def post_webhook(client: DjangoClient) -> Callable[..., Any]:
    """POST a body to a source's webhook URL with its token (override headers as needed)."""

    def post(source: Source, body: Any, *, token: str | None = TOKEN, raw: bytes | None = None, **extra: Any) -> Any:
        headers: dict[str, Any] = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
        headers.update(extra)
        content_type = headers.pop("content_type", "application/json")
        return client.post(
            f"/api/v1/webhooks/{source.slug}/",
            data=raw if raw is not None else dumps(body),
            content_type=content_type,
            **headers,
        )

    return post


@pytest.fixture
def eager_tasks() -> Iterator[None]:
    """Run Celery tasks inline, for tests about what a task does rather than how it is queued."""
    celery_app.conf.task_always_eager = True
    try:
        yield
    finally:
        celery_app.conf.task_always_eager = False


@pytest.fixture
def admin_client(db: None) -> DjangoClient:
    """A client logged in to the admin as a superuser."""
    user = get_user_model().objects.create_superuser("admin", "admin@example.com", "pw")
    logged_in = Client()
    logged_in.force_login(user)
    return logged_in
