"""WSGI entry point for gunicorn: webhook POSTs take a shorter middleware chain than the rest."""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Iterable
from typing import Any

import django
from django.conf import settings
from django.core.handlers.wsgi import WSGIHandler

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")


class WebhookHandler(WSGIHandler):
    """Django's handler with settings.WEBHOOK_MIDDLEWARE instead of settings.MIDDLEWARE."""

    def load_middleware(self, is_async: bool = False) -> None:
        # Django builds the chain from settings.MIDDLEWARE; this runs once, at
        # start-up, before any request is served.
        full = settings.MIDDLEWARE
        settings.MIDDLEWARE = settings.WEBHOOK_MIDDLEWARE
        try:
            super().load_middleware(is_async)
        finally:
            settings.MIDDLEWARE = full


def read_chunked_body(environ: dict[str, Any], *, limit: int) -> None:
    """Give Django a chunked body (one without Content-Length) as if it had come with one.

    Django reads `CONTENT_LENGTH` bytes and takes a missing length for an
    empty body, but HTTP clients stream bodies chunked (gunicorn decodes the
    chunks). At most `limit` + 1 bytes are read: one more than allowed is
    enough for the view to answer 413, and memory stays bounded.
    """
    if environ.get("CONTENT_LENGTH") or "chunked" not in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
        return
    if not environ.get("wsgi.input_terminated"):
        return  # a server that does not decode chunks (gunicorn does, and says so) hands over no body to read
    body = environ["wsgi.input"].read(limit + 1)
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))


class Application:
    """Sends each request to the webhook handler or to the full one, by path."""

    def __init__(self) -> None:
        django.setup(set_prefix=False)
        self.full = WSGIHandler()
        self.webhooks = WebhookHandler()
        self.prefix = settings.WEBHOOK_PATH_PREFIX
        self.webhook_limit: int = settings.WEBHOOK_MAX_BODY_BYTES
        # Elsewhere Django's own cap applies (it answers 400 past it).
        self.body_limit: int = max(settings.DATA_UPLOAD_MAX_MEMORY_SIZE or 0, self.webhook_limit)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        webhook = environ.get("PATH_INFO", "").startswith(self.prefix)
        read_chunked_body(environ, limit=self.webhook_limit if webhook else self.body_limit)
        return (self.webhooks if webhook else self.full)(environ, start_response)


application = Application()
