"""Prometheus metrics: every process of a host writes its own, /metrics adds them up.

Counters and histograms live in each app's `metrics.py` and are written by
whichever process does the work (gunicorn workers, Celery workers) into
PROMETHEUS_MULTIPROC_DIR; figures that are facts about the database (the
outbox backlog, deliveries by status) are read at scrape time by collectors
the apps register here, so they are right whichever process asks.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable, Iterable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest, multiprocess
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

logger = logging.getLogger(__name__)

_scrape_collectors: list[Callable[[], Iterable[Metric]]] = []


def scrape_collector_register(collect: Callable[[], Iterable[Metric]]) -> None:
    """Add a function whose metrics are computed when /metrics is read (an app's AppConfig.ready)."""
    if collect not in _scrape_collectors:
        _scrape_collectors.append(collect)


class _AtScrape(Collector):
    def collect(self) -> Iterable[Metric]:
        for collect in _scrape_collectors:
            try:
                yield from collect()
            except Exception:
                # A failing query must not hide the other metrics.
                logger.exception("a metrics collector failed", extra={"collector": collect.__qualname__})


def _authorised(request: HttpRequest) -> bool:
    token = settings.METRICS_TOKEN
    if not token:
        return True
    given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    return hmac.compare_digest(given.encode(), token.encode())


def metrics_view(request: HttpRequest) -> HttpResponse:
    """The Prometheus text format; a bearer token is needed when METRICS_TOKEN is set."""
    if not _authorised(request):
        response = HttpResponse(
            '{"error": "not_authenticated", "detail": "Send Authorization: Bearer <METRICS_TOKEN>."}',
            status=401,
            content_type="application/json",
        )
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    registry.register(_AtScrape())
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
