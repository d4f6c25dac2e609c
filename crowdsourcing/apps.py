from __future__ import annotations

from django.apps import AppConfig


class CrowdsourcingConfig(AppConfig):
    name = "crowdsourcing"
    verbose_name = "PYBOSSA consensus"

    def ready(self) -> None:
        # Imported once the apps are loaded: both modules import models.
        from crowdsourcing.tasks import settle_task
        from webhooks.adapters import settlement_queue_register

        # Intake stores a PYBOSSA event; settling it is this app's, on its own worker queue.
        settlement_queue_register(queue=settle_task.delay)
