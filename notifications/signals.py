"""An alert for every task that ends in an unhandled exception."""

from __future__ import annotations

from typing import Any

from celery.signals import task_failure

from notifications.services import alert_raise


@task_failure.connect
def alert_on_task_failure(
    sender: Any = None, task_id: str | None = None, exception: BaseException | None = None, **kwargs: Any
) -> None:
    name = getattr(sender, "name", "unknown")
    if name.startswith("notifications."):
        return  # the alert machinery must not alert about itself in a loop
    alert_raise(
        fingerprint=f"task:{name}:{type(exception).__name__}",
        title=f"Task {name} failed: {type(exception).__name__}",
        details={"task": name, "task id": task_id or "", "error": str(exception)},
    )
