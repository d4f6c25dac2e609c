"""Fixtures for delivery tests: a receiving server, destinations, and real Celery workers."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.servers import RedisServer, Worker, database_url, start_worker


@pytest.fixture
def worker_env(broker: RedisServer) -> dict[str, str]:
    """The worker's environment: this test database, this broker, short retries and leases."""
    env = dict(os.environ)
    env.update(
        DATABASE_URL=database_url(),
        CELERY_BROKER_URL=broker.url,
        DELIVERY_RETRY_SCHEDULE="1,1,1,1,1,1,1,1,1",
        # A short lease (a killed worker's row comes back quickly), and the
        # task limits under it, as settings insist.
        DELIVERY_LEASE_SECONDS="8",
        DELIVERY_TASK_TIME_LIMIT="7",
        DELIVERY_TASK_SOFT_TIME_LIMIT="6",
        DELIVERY_TASK_MAX_SECONDS="2",
        DELIVERY_SWEEP_SECONDS="1",
        LOG_LEVEL="INFO",
    )
    return env


@pytest.fixture
def workers(transactional_db: None, worker_env: dict[str, str], tmp_path: Path) -> Iterator[Callable[..., Worker]]:
    """Start real worker processes (stopped at the end of the test)."""
    started: list[Worker] = []

    def start(*, beat: bool = True, **env: str) -> Worker:
        worker = start_worker(env={**worker_env, **env}, log_dir=tmp_path, beat=beat, name=f"w{len(started) + 1}")
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()
