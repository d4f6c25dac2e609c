from __future__ import annotations

from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "webhooks"
    verbose_name = "Intake"

    def ready(self) -> None:
        from webhooks import schema  # noqa: F401 - registers the webhook auth schemes with drf-spectacular
