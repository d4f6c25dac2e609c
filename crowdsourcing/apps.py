from __future__ import annotations

from django.apps import AppConfig


class CrowdsourcingConfig(AppConfig):
    name = "crowdsourcing"
    verbose_name = "PYBOSSA consensus"
