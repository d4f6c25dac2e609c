"""The baseline for bench/pushes.py: a plain Celery task that sends one signed POST per message.

This is how a push is usually written first: one broker message per push, one
task per message, `acks_late`, nothing recorded in the database. It signs like
Tally (Standard Webhooks) so the receiver gets the same bytes and headers.
`pooled=False` is the naive form, a new `requests.post` (and TCP connection)
each time; `pooled=True` reuses one module-level `requests.Session` per worker
process, with keep-alive.

The worker loads it with `celery -A config worker --include bench.baseline_tasks`.
"""

from __future__ import annotations

import time

import requests
from celery import shared_task

from common.standard_webhooks import sign

_session = requests.Session()


@shared_task(name="bench.baseline_tasks.post_one", acks_late=True, ignore_result=True)
def post_one(url: str, secret: str, msg_id: str, body: str, pooled: bool = False) -> int:
    data = body.encode()
    timestamp = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Tally-Bench-Baseline/1",
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret, msg_id=msg_id, timestamp=timestamp, body=data),
    }
    post = _session.post if pooled else requests.post
    response = post(url, data=data, headers=headers, timeout=(5, 10), allow_redirects=False)
    response.close()
    return response.status_code
