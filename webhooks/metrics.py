"""Intake metrics (see common.metrics)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

EVENTS = Counter(
    "tally_events",
    "Webhooks received, by source and outcome (accepted, duplicate, rejected:<code>, ...).",
    ["source", "outcome"],
)
INTAKE_SECONDS = Histogram(
    "tally_intake_duration_seconds",
    "Time to answer a webhook POST, from the view's start to its response.",
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
