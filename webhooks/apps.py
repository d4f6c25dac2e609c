from __future__ import annotations

from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "webhooks"
    verbose_name = "Intake"

    def ready(self) -> None:
        from django.core.signals import request_finished

        from webhooks import schema  # noqa: F401 - registers the webhook auth schemes with drf-spectacular
        from webhooks.counters import flush_if_due

        request_finished.connect(flush_if_due, dispatch_uid="webhooks.counters.flush_if_due")
