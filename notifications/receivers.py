"""Alerts on what the apps below notifications signal (common.signals); imported by NotificationsConfig.ready."""

from __future__ import annotations

from typing import Any

from django.dispatch import receiver

from common.signals import database_error
from notifications.models import Alert
from notifications.services import alert_raise


@receiver(database_error, dispatch_uid="notifications.receivers.alert_on_database_error")
def alert_on_database_error(sender: Any, *, view: str, exception: BaseException, **kwargs: Any) -> None:
    """A request's database work failed: a critical alert, one per view and kind of error."""
    name = type(exception).__name__
    alert_raise(
        fingerprint=f"database_error:{view}:{name}",
        severity=Alert.Severity.CRITICAL,
        title=f"Database error in {view}: {name}",
        details={"view": view, "error": str(exception).splitlines()[0] if str(exception) else name},
    )
