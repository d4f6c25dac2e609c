from __future__ import annotations

from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "notifications"
    verbose_name = "Alerts"

    def ready(self) -> None:
        from notifications import signals  # noqa: F401 - connects the Celery failure handler
