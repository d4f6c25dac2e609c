"""Delivery metrics (see common.metrics): counted by workers, and the outbox read at scrape time."""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import Count, Min
from django.utils import timezone
from prometheus_client import Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric

PUSHES = Counter(
    "tally_pushes",
    "Push attempts by destination and what they led to (delivered, retry, failed, dead, gone).",
    ["destination", "outcome"],
)
PUSH_LATENCY = Histogram(
    "tally_push_latency_seconds",
    "From the summary change's commit to the receiver's 2xx (replays not counted).",
    ["destination"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0, 7200.0),
)


def outbox_collect() -> Iterable[Metric]:
    # Imported here: the app registry is ready by scrape time.
    from deliveries.models import Delivery
    from deliveries.selectors import deliveries_due

    # Deliveries in these states are few and indexed; delivered and superseded
    # ones (the many) are counted by PUSHES instead of by a scan.
    open_statuses = [Delivery.Status.PENDING, Delivery.Status.IN_FLIGHT, Delivery.Status.FAILED, Delivery.Status.DEAD]

    by_status = GaugeMetricFamily(
        "tally_deliveries", "Deliveries by status and destination (open states only).", labels=["status", "destination"]
    )
    rows = (
        Delivery.objects.filter(status__in=open_statuses)
        .values_list("status", "destination__name")
        .annotate(n=Count("pk"))
        .order_by()
    )
    for status, destination, n in rows:
        by_status.add_metric([status, destination], n)
    yield by_status

    now = timezone.now()
    due = deliveries_due(now=now).aggregate(n=Count("pk"), oldest=Min("next_attempt_at"))
    yield GaugeMetricFamily("tally_outbox_backlog", "Deliveries due now and not yet taken by a worker.", value=due["n"])
    age = (now - due["oldest"]).total_seconds() if due["oldest"] else 0.0
    yield GaugeMetricFamily(
        "tally_outbox_oldest_due_seconds", "How long the oldest due delivery has been waiting.", value=max(0.0, age)
    )
