from __future__ import annotations

from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "notifications"
    verbose_name = "Alerts"

    def ready(self) -> None:
        # Connect the alert handlers: Celery task failures, and what common signals.
        from notifications import receivers, signals  # noqa: F401
