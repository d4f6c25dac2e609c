"""WSGI entry point for gunicorn: webhook POSTs take a shorter middleware chain than the rest."""

from __future__ import annotations

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


class Application:
    """Sends each request to the webhook handler or to the full one, by path."""

    def __init__(self) -> None:
        django.setup(set_prefix=False)
        self.full = WSGIHandler()
        self.webhooks = WebhookHandler()
        self.prefix = settings.WEBHOOK_PATH_PREFIX

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        handler = self.webhooks if environ.get("PATH_INFO", "").startswith(self.prefix) else self.full
        return handler(environ, start_response)


application = Application()
