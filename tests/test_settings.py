"""Settings refuse contradictions at start-up instead of failing later in production."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def start_django(**environment: str) -> subprocess.CompletedProcess[str]:
    """Load the settings in a fresh interpreter, as any Tally process does at start-up."""
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", **environment},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_settings_refuse_the_example_secret_key_with_debug_off():
    done = start_django(DEBUG="false", SECRET_KEY="change-me-to-50-random-characters-change-me-to-50-random")

    assert done.returncode != 0
    assert "placeholder" in done.stderr


@pytest.mark.parametrize(
    "timing",
    [
        {"DELIVERY_LEASE_SECONDS": "130"},  # not longer than the hard limit (130)
        {"DELIVERY_LEASE_SECONDS": "60"},
        {"DELIVERY_TASK_TIME_LIMIT": "200"},  # the hard limit outlives the lease (180)
        {"DELIVERY_TASK_SOFT_TIME_LIMIT": "130"},  # soft not under hard
        {"DELIVERY_TASK_MAX_SECONDS": "120"},  # claims go on past the soft limit
    ],
)
def test_a_lease_that_a_live_push_could_outlast_stops_start_up(timing):
    done = start_django(**timing)

    assert done.returncode != 0
    assert "Delivery timing contradicts itself" in done.stderr


def test_consistent_delivery_timing_starts_and_the_task_uses_it():
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import django; django.setup(); from deliveries.tasks import deliver_due; "
            "print(deliver_due.soft_time_limit, deliver_due.time_limit)",
        ],
        cwd=ROOT,
        env={
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DELIVERY_LEASE_SECONDS": "30",
            "DELIVERY_TASK_TIME_LIMIT": "25",
            "DELIVERY_TASK_SOFT_TIME_LIMIT": "20",
            "DELIVERY_TASK_MAX_SECONDS": "10",
        },
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["20", "25"]
