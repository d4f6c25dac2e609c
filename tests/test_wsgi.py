"""The WSGI application gunicorn serves: webhook requests take the short middleware chain, the rest the full one."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from config.wsgi import application
from tests.factories import TOKEN, completed, dumps, make_source


def _call(path: str, *, method: str = "GET", body: bytes = b"", headers: dict[str, str] | None = None) -> Any:
    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
        "wsgi.url_scheme": "http",
        "wsgi.errors": io.StringIO(),
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        **{f"HTTP_{name.upper().replace('-', '_')}": value for name, value in (headers or {}).items()},
    }
    answer: dict[str, Any] = {}

    def start_response(status: str, response_headers: list[tuple[str, str]], exc_info: Any = None) -> None:
        answer["status"] = int(status.split()[0])
        answer["headers"] = dict(response_headers)

    answer["body"] = b"".join(application(environ, start_response))
    return answer


@pytest.mark.django_db(transaction=True)
def test_a_webhook_takes_the_short_chain_and_still_gets_a_request_id():
    source = make_source()

    answer = _call(
        f"/api/v1/webhooks/{source.slug}/",
        method="POST",
        body=dumps(completed()),
        headers={"Authorization": f"Bearer {TOKEN}", "X-Request-ID": "req-wsgi-1"},
    )

    assert answer["status"] == 202, answer["body"]
    assert json.loads(answer["body"])["status"] == "accepted"
    assert answer["headers"]["X-Request-ID"] == "req-wsgi-1"
    assert answer["headers"]["X-Content-Type-Options"] == "nosniff", "the security middleware runs"
    assert "X-Frame-Options" not in answer["headers"], "the full chain's clickjacking middleware does not"
    assert "Cookie" not in answer["headers"].get("Vary", "")


@pytest.mark.django_db(transaction=True)
def test_other_paths_take_the_full_chain():
    answer = _call("/healthz")

    assert answer["status"] == 200
    assert answer["headers"]["X-Frame-Options"] == "DENY"
    assert answer["headers"]["X-Request-ID"]


def test_the_webhook_chain_is_a_subset_of_the_full_one(settings):
    assert set(settings.WEBHOOK_MIDDLEWARE) <= set(settings.MIDDLEWARE)
    assert settings.WEBHOOK_MIDDLEWARE[0] == settings.MIDDLEWARE[0] == "common.logging.RequestIdMiddleware"
