from __future__ import annotations

from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "API access"

    def ready(self) -> None:
        from accounts import schema  # noqa: F401 - registers the token scheme with drf-spectacular
