"""The Celery application: reads CELERY_* Django settings and finds each app's tasks."""

from __future__ import annotations

import os
from typing import Any

from celery import Celery, Task, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("tally")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@signals.setup_logging.connect
def _use_django_logging(**kwargs: Any) -> None:
    """Workers and beat log as the web does (JSON lines), not in Celery's own format."""
    from django.conf import settings

    from common.logging import configure

    configure(settings.LOGGING)


@signals.before_task_publish.connect
def _send_request_id(headers: dict[str, Any] | None = None, **kwargs: Any) -> None:
    """A task queued while handling a request carries the request's id."""
    from common.logging import request_id_var

    request_id = request_id_var.get()
    if headers is not None and request_id != "-":
        headers.setdefault("request_id", request_id)


@signals.task_prerun.connect
def _take_request_id(task: Task[Any, Any] | None = None, **kwargs: Any) -> None:
    from common.logging import request_id_clean, request_id_var

    request = getattr(task, "request", None)
    request_id = getattr(request, "request_id", None) or (getattr(request, "headers", None) or {}).get("request_id")
    request_id_var.set(request_id_clean(request_id) or "-")
