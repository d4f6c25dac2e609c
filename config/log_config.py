"""The logging configuration every process uses (settings.LOGGING), built from the levels the environment sets."""

from __future__ import annotations

from typing import Any


def logging_dict(*, level: str, task_level: str) -> dict[str, Any]:
    """JSON lines on stderr, with the request id; Python warnings become log lines too (common.logging)."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": "common.logging.RequestIdFilter"}},
        "formatters": {"json": {"()": "common.logging.JsonFormatter"}},
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "filters": ["request_id"],
            }
        },
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            "django.db.backends": {"level": "WARNING"},
            # httpx logs every request URL, and Bot API URLs carry the bot token.
            "httpx": {"level": "WARNING"},
            "httpcore": {"level": "WARNING"},
            "telegram": {"level": "WARNING"},
            # urllib3's retry warnings print whole URLs.
            "urllib3": {"level": "ERROR"},
            "celery": {"level": level},
            # Beat and the worker log two or three lines per task run, and the
            # sweeper runs every few seconds: that would bury everything else
            # (under `make run`, the printed credentials within a minute). A task
            # that fails still logs an ERROR; Tally logs its own work.
            "celery.beat": {"level": task_level},
            "celery.worker.strategy": {"level": task_level},
            "celery.app.trace": {"level": task_level},
        },
    }
