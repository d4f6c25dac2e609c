"""/readyz: 200 while the database and the broker answer, 503 naming what does not, always quickly."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

import pytest
from django.db import connection

from common.health import describe
from tests.servers import RedisServer, free_port, silent_server

# Time /readyz may take beyond READINESS_TIMEOUT_SECONDS: the request itself,
# thread start-up, a loaded test machine.
MARGIN_SECONDS = 1.5


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    """A Redis broker of this test's own, which it may stop and start."""
    server = RedisServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def broker_url(settings, redis_server: RedisServer) -> str:
    settings.CELERY_BROKER_URL = redis_server.url
    return redis_server.url


@contextlib.contextmanager
def database_at(host: str, port: int) -> Iterator[None]:
    """Point new connections to the default database at host:port, restoring the settings afterwards.

    Only new connections (other threads', such as /readyz's checks) see it;
    this thread's connection, inside the test's transaction, is left alone.
    """
    settings_dict = connection.settings_dict
    saved = settings_dict["HOST"], settings_dict["PORT"]
    settings_dict["HOST"], settings_dict["PORT"] = host, str(port)
    try:
        yield
    finally:
        settings_dict["HOST"], settings_dict["PORT"] = saved


def timed_get(client, path: str = "/readyz"):
    started = time.monotonic()
    response = client.get(path)
    return response, time.monotonic() - started


def test_readyz_answers_200_without_credentials_when_database_and_broker_answer(client, db, broker_url):
    response = client.get("/readyz")

    assert response.status_code == 200
    assert response.json() == {"status": "ready", "checks": {"database": "ok", "broker": "ok"}}
    assert response["Cache-Control"] == "no-store"


def test_readyz_answers_503_naming_the_broker_while_it_is_down_and_200_once_it_is_back(
    client, db, settings, broker_url, redis_server
):
    redis_server.stop()

    response, elapsed = timed_get(client)

    assert response.status_code == 503
    body = response.json()
    assert body["error"] == "not_ready"
    assert body["detail"] == "broker unreachable"
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["broker"] != "ok"
    assert str(redis_server.port) in body["checks"]["broker"]  # the error says what was tried
    assert elapsed < settings.READINESS_TIMEOUT_SECONDS + MARGIN_SECONDS

    redis_server.start()

    assert client.get("/readyz").status_code == 200


def test_readyz_answers_503_naming_the_database_while_it_is_unreachable_and_200_once_it_is_back(
    client, db, settings, broker_url
):
    closed_port = free_port()

    with database_at("127.0.0.1", closed_port):
        response, elapsed = timed_get(client)

    assert response.status_code == 503
    body = response.json()
    assert body["detail"] == "database unreachable"
    assert body["checks"]["broker"] == "ok"
    assert body["checks"]["database"].startswith("OperationalError: ")
    assert str(closed_port) in body["checks"]["database"]
    assert elapsed < settings.READINESS_TIMEOUT_SECONDS + MARGIN_SECONDS

    response = client.get("/readyz")

    assert response.status_code == 200
    assert response.json()["checks"] == {"database": "ok", "broker": "ok"}


def test_readyz_answers_within_its_timeout_when_both_hosts_accept_and_never_answer(client, db, settings):
    # libpq would wait out its own connect_timeout (5 s) and a Redis client
    # its socket timeout: /readyz must not.
    settings.READINESS_TIMEOUT_SECONDS = 0.5
    with silent_server() as database_port, silent_server() as broker_port:
        settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{broker_port}/0"
        with database_at("127.0.0.1", database_port):
            response, elapsed = timed_get(client)

    assert response.status_code == 503
    body = response.json()
    assert body["detail"] == "database and broker unreachable"
    assert body["checks"]["database"] == "timed out after 0.5 s"
    assert body["checks"]["broker"] != "ok"
    assert elapsed < 0.5 + MARGIN_SECONDS


def test_readyz_never_shows_the_brokers_password(client, db, settings):
    port = free_port()
    for url in (f"redis://:pa55-w0rd-xyz@127.0.0.1:{port}/0", f"redis://tally:pa55-w0rd-xyz@127.0.0.1:{port}/0"):
        settings.CELERY_BROKER_URL = url

        response = client.get("/readyz")

        assert response.status_code == 503
        assert "pa55-w0rd-xyz" not in response.content.decode()


def test_check_errors_are_one_short_line_without_the_configured_passwords(settings):
    settings.CELERY_BROKER_URL = "redis://:pa55-w0rd-xyz@redis:6379/0"

    text = describe(OSError("cannot reach redis://:pa55-w0rd-xyz@redis:6379/0?x=1\nsecond line " + "x" * 500))

    assert "pa55-w0rd-xyz" not in text
    assert "second line" not in text
    assert text.startswith("OSError: cannot reach redis://")
    assert len(text) <= 200


def test_readyz_checks_the_filesystem_brokers_queue_folder(client, db, settings, tmp_path):
    queue = tmp_path / "queue"
    queue.mkdir()
    settings.CELERY_BROKER_URL = "filesystem://"
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {"data_folder_in": str(queue), "data_folder_out": str(queue)}

    assert client.get("/readyz").status_code == 200

    queue.rmdir()
    response = client.get("/readyz")

    assert response.status_code == 503
    assert response.json()["detail"] == "broker unreachable"
    assert response.json()["checks"]["broker"] == f"queue folder {queue} is missing"
