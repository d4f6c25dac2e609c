from __future__ import annotations

from django.apps import AppConfig


class DeliveriesConfig(AppConfig):
    name = "deliveries"
    verbose_name = "Deliveries"

    def ready(self) -> None:
        from common.metrics import scrape_collector_register
        from deliveries.metrics import outbox_collect

        scrape_collector_register(outbox_collect)
