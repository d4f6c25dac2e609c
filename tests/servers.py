"""Real servers tests and benchmarks start on loopback: Redis brokers, Celery workers, gunicorn, receivers.

The one module to import them from; each is written once, in tests/support/.
"""

from __future__ import annotations

from tests.support.processes import (
    BIN,
    HOST,
    QUEUES,
    ROOT,
    Process,
    RedisServer,
    Web,
    Worker,
    answers_ok,
    database_url,
    free_port,
    poll,
    start_gunicorn,
    start_process,
    start_worker,
    wait_until,
)
from tests.support.receivers import Handler, LoopbackServer, RawReceiver, Received, Receiver, Reply, silent_server
from tests.support.telegram import BotReply, FakeTelegram

__all__ = [
    "BIN",
    "HOST",
    "QUEUES",
    "ROOT",
    "BotReply",
    "FakeTelegram",
    "Handler",
    "LoopbackServer",
    "Process",
    "RawReceiver",
    "Received",
    "Receiver",
    "RedisServer",
    "Reply",
    "Web",
    "Worker",
    "answers_ok",
    "database_url",
    "free_port",
    "poll",
    "silent_server",
    "start_gunicorn",
    "start_process",
    "start_worker",
    "wait_until",
]
