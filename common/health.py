"""Readiness: can this process reach what it needs (the database, the broker)?

`/healthz` (config/urls.py) says only that the process is up. `/readyz` says
whether it can do its work: it runs `SELECT 1` on the database and connects to
the Celery broker, both at once, and answers within about
READINESS_TIMEOUT_SECONDS however the two fail (refused, dropped packets, a
server that accepts and never answers).
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Callable
from concurrent.futures import Future, wait
from urllib.parse import urlsplit

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.http import HttpRequest, JsonResponse
from kombu import Connection

from common.api import JsonAnswer
from common.logging import scrub

logger = logging.getLogger(__name__)

OK = "ok"
# A check's error is shown to whoever asks: one line, this long at most.
_MAX_ERROR_CHARS = 200
# Transports that take the redis-py socket timeouts as transport options.
_REDIS_SCHEMES = frozenset({"redis", "rediss", "redis+socket", "sentinel"})

Check = Callable[[float], None]


class CheckFailed(Exception):
    """A check's own verdict, worded for operators (not a library's exception)."""


def check_database(timeout: float) -> None:
    """Run `SELECT 1` over the default database connection, the statement bounded by `timeout` seconds.

    Connecting is bounded by the connection's own settings (libpq's
    connect_timeout, DATABASE_CONNECT_TIMEOUT); `readyz` does not wait longer
    than `timeout` for either.
    """
    connection = connections[DEFAULT_DB_ALIAS]
    try:
        # LOCAL: the limit ends with this transaction, so whatever uses
        # the connection next is not bound by it.
        with transaction.atomic(using=DEFAULT_DB_ALIAS), connection.cursor() as cursor:
            cursor.execute(f"SET LOCAL statement_timeout = {max(1, int(timeout * 1000))}")
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception:
        # A broken connection would fail every later check too: drop it, so
        # the next check connects afresh.
        with contextlib.suppress(Exception):
            connection.close()
        raise


def check_broker(timeout: float) -> None:
    """Connect to settings.CELERY_BROKER_URL (for the `filesystem://` broker: check its folders)."""
    url: str = settings.CELERY_BROKER_URL
    options = dict(settings.CELERY_BROKER_TRANSPORT_OPTIONS)
    if url.startswith("filesystem://"):
        _check_broker_folders(options)
        return
    if urlsplit(url).scheme in _REDIS_SCHEMES:
        # Connecting is bounded by socket_connect_timeout, but the PING that
        # proves Redis answers would wait for ever on a server that accepts
        # and never replies without socket_timeout.
        options.update(socket_connect_timeout=timeout, socket_timeout=timeout)
    with Connection(url, connect_timeout=timeout, transport_options=options) as broker:
        # One attempt (kombu's default is to retry for ever), bounded by the
        # timeouts above.
        broker.ensure_connection(max_retries=0)


def _check_broker_folders(options: dict[str, object]) -> None:
    folders = {str(options[key]) for key in ("data_folder_in", "data_folder_out") if options.get(key)}
    if not folders:
        raise CheckFailed("no queue folder configured")
    for folder in sorted(folders):
        if not os.path.isdir(folder):
            raise CheckFailed(f"queue folder {folder} is missing")
        if not os.access(folder, os.W_OK | os.X_OK):
            raise CheckFailed(f"queue folder {folder} is not writable")


CHECKS: dict[str, Check] = {"database": check_database, "broker": check_broker}


def run_checks(checks: dict[str, Check], timeout: float) -> dict[str, str]:
    """Run every check at once, each in a thread of its own; "ok" or a short error for each.

    A check still running after `timeout` seconds is reported as timed out
    and left to end on its own (each bounds its own I/O).
    """
    futures = {name: _start(name, check, timeout) for name, check in checks.items()}
    wait(futures.values(), timeout=timeout)
    results: dict[str, str] = {}
    for name, future in futures.items():
        if not future.done():
            results[name] = f"timed out after {timeout:g} s"
            continue
        error = future.exception()
        results[name] = OK if error is None else describe(error)
    return results


def _start(name: str, check: Check, timeout: float) -> Future[None]:
    future: Future[None] = Future()

    def run() -> None:
        error: Exception | None = None
        try:
            check(timeout)
        except Exception as exc:
            error = exc
        finally:
            # A fresh thread gets fresh database connections (Django's are
            # per thread), so each check proves a new connection can be made
            # (max_connections reached is a real outage); close them before
            # answering, so none outlives its check.
            with contextlib.suppress(Exception):
                connections.close_all()
        if error is None:
            future.set_result(None)
        else:
            future.set_exception(error)

    threading.Thread(target=run, name=f"readyz-{name}", daemon=True).start()
    return future


def describe(error: BaseException) -> str:
    """One short line about a failed check, with no credentials in it."""
    if isinstance(error, CheckFailed):
        return scrub(str(error))[:_MAX_ERROR_CHARS]
    lines = str(error).strip().splitlines()
    text = f"{type(error).__name__}: {lines[0].strip()}" if lines else type(error).__name__
    for secret in _passwords():
        text = text.replace(secret, "***")
    return scrub(text)[:_MAX_ERROR_CHARS]


def _passwords() -> list[str]:
    # scrub() masks user:password@ in URLs; a driver might also quote the
    # password alone (or a URL with an empty user name, redis://:pw@host).
    secrets = [str(settings.DATABASES[DEFAULT_DB_ALIAS].get("PASSWORD") or "")]
    with contextlib.suppress(ValueError):
        secrets.append(urlsplit(settings.CELERY_BROKER_URL).password or "")
    return [secret for secret in secrets if len(secret) >= 3]


def readyz(request: HttpRequest) -> JsonResponse:
    """200 when the database and the broker both answer, else 503 naming what failed. No authentication."""
    timeout: float = settings.READINESS_TIMEOUT_SECONDS
    checks = run_checks(CHECKS, timeout)
    failed = [name for name, result in checks.items() if result != OK]
    if not failed:
        response = JsonAnswer({"status": "ready", "checks": checks})
    else:
        logger.warning("not ready", extra={"checks": checks})
        detail = f"{' and '.join(failed)} unreachable"
        response = JsonAnswer({"error": "not_ready", "detail": detail, "checks": checks}, status=503)
    # Each answer is the state now: no cache may keep it.
    response["Cache-Control"] = "no-store"
    return response
