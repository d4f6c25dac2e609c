"""gunicorn settings shared by `make run` and the container. Command-line flags override them."""

from __future__ import annotations

import os

bind = f"{os.environ.get('HOST', '0.0.0.0')}:{os.environ.get('PORT', '8000')}"  # noqa: S104 - containers listen on all interfaces
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
timeout = 30
graceful_timeout = 20
keepalive = 5
accesslog = "-"
# The path without its query string: PYBOSSA puts the source token in `?token=`,
# and secrets never reach logs.
access_log_format = '%(h)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(M)sms "%({x-request-id}o)s"'
