"""JSON log lines carrying the id of the request that caused them."""

from __future__ import annotations

import contextlib
import json
import logging
import logging.config
import re
import uuid
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from django.http import HttpRequest, HttpResponse

request_id_var: ContextVar[str] = ContextVar("request_id", default="-")

_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")

# Anything that looks like a credential is masked before a line is written,
# whatever a caller passed in: signing secrets, bearer tokens, signatures.
_SECRET_PATTERNS = [
    (re.compile(r"whsec_[A-Za-z0-9+/=]+"), "whsec_***"),
    (re.compile(r"(?i)(bearer\s+)[^\s\"']+"), r"\1***"),
    (re.compile(r"v1,[A-Za-z0-9+/=]{20,}"), "v1,***"),
    (re.compile(r"(?i)(token=)[^&\s\"']+"), r"\1***"),
    (re.compile(r"(?i)(api_key=)[^&\s\"']+"), r"\1***"),
    (re.compile(r"/bot\d+:[A-Za-z0-9_-]+"), "/bot***"),
    # Credentials written into a URL: scheme://user:password@host
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s:@\"']*:[^/\s@\"']+@"), r"\1***@"),
]


def redact(text: str) -> str:
    """Mask secrets, tokens and signatures in a piece of text."""
    for pattern, replacement in _SECRET_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


_QUERY = re.compile(r"\?[^\s'\")]*")


def scrub(text: str) -> str:
    """Text fit to store or show to operators: secrets masked, query strings dropped.

    A URL's query may carry a credential Tally does not recognise as one
    (PYBOSSA-style `?token=`, or a receiver's own), so it is dropped whole.
    """
    return redact(_QUERY.sub("?…", text))


class RequestIdMiddleware:
    """Take X-Request-ID from the proxy (or make one) and echo it on the response."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request_id = request_id_clean(request.headers.get("X-Request-ID")) or uuid.uuid4().hex
        token = request_id_var.set(request_id)
        try:
            response = self.get_response(request)
        finally:
            request_id_var.reset(token)
        response["X-Request-ID"] = request_id
        return response


def request_id_clean(value: object) -> str | None:
    """A request id fit to carry on (from a header, a task, a row), or None."""
    return value if isinstance(value, str) and _REQUEST_ID_RE.fullmatch(value) else None


def current_request_id() -> str:
    """The id of the request whose work is in hand, or "" outside any."""
    request_id = request_id_var.get()
    return "" if request_id == "-" else request_id


@contextlib.contextmanager
def request_context(request_id: str | None) -> Iterator[None]:
    """Log lines (and alerts) inside the block carry this request id: work done later for a request."""
    token = request_id_var.set(request_id_clean(request_id) or "-")
    try:
        yield
    finally:
        request_id_var.reset(token)


class RequestIdFilter(logging.Filter):
    """Stamps each record with the current request id, unless the caller named one."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "request_id", None):
            record.request_id = request_id_var.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line, secrets masked."""

    _STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "request_id"}

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", "-"),
        }
        for key, value in record.__dict__.items():
            if key not in self._STANDARD and not key.startswith("_"):
                line[key] = value
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return redact(json.dumps(line, default=str))


def configure(config: dict[str, Any]) -> None:
    """Django's LOGGING_CONFIG (and Celery's, see config.celery_app): the dict, and Python warnings as log lines."""
    logging.config.dictConfig(config)
    logging.captureWarnings(True)
