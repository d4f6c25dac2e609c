"""What operators watch: /metrics moves with the work wherever it is done, and one request id follows
an event through every process's JSON logs, which hold no secret."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families
from standardwebhooks.webhooks import Webhook

from deliveries.destinations import destination_create
from deliveries.models import Delivery
from tests.conftest import RECEIVER_SECRET
from tests.factories import TOKEN, WHSEC, completed, dumps, make_source
from tests.servers import FakeTelegram, Receiver, Reply, Web, Worker, start_gunicorn, wait_until
from webhooks.models import Source

pytestmark = pytest.mark.django_db(transaction=True)

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]
BOT_TOKEN = "987654:FLOW-token_abcdefghijklmnopqrstuvw"
OPS_CHAT = "-1001"


def scrape(client: Any, **headers: str) -> Samples:
    response = client.get("/metrics", **headers)
    assert response.status_code == 200, response.content
    samples: Samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def test_metrics_count_events_by_source_and_outcome_and_time_the_intake(client, source, post_webhook):
    before = scrape(client)

    assert post_webhook(source, completed(event_id="evt_m1")).status_code == 202
    assert post_webhook(source, completed(event_id="evt_m1")).status_code == 200
    assert post_webhook(source, completed(event_id="evt_m2", score="bad")).status_code == 400
    after = scrape(client)

    for outcome in ("accepted", "duplicate", "rejected:validation_error"):
        grew = value(after, "tally_events_total", source=source.slug, outcome=outcome) - value(
            before, "tally_events_total", source=source.slug, outcome=outcome
        )
        assert grew == 1, outcome
    timed = value(after, "tally_intake_duration_seconds_count") - value(before, "tally_intake_duration_seconds_count")
    assert timed >= 3
    alerts = ("tally_alerts_total", {"severity": "warning"})
    assert value(after, alerts[0], **alerts[1]) > value(before, alerts[0], **alerts[1]), "the rejection's alert"


def test_the_outbox_backlog_and_open_deliveries_are_read_at_scrape_time(client, source, destination, post_webhook):
    post_webhook(source, completed(user="u-1"))
    post_webhook(source, completed(user="u-2"))

    samples = scrape(client)

    assert value(samples, "tally_deliveries", status="pending", destination=destination.name) == 2
    assert value(samples, "tally_outbox_backlog") == 2
    assert value(samples, "tally_outbox_oldest_due_seconds") >= 0


def test_metrics_ask_for_the_token_when_one_is_set(client, db, settings):
    settings.METRICS_TOKEN = "metrics-secret-0123"

    refused = client.get("/metrics")
    wrong = client.get("/metrics", HTTP_AUTHORIZATION="Bearer nope")

    assert refused.status_code == wrong.status_code == 401
    assert refused.json()["error"] == "not_authenticated"
    assert scrape(client, HTTP_AUTHORIZATION="Bearer metrics-secret-0123")


def test_metrics_include_pushes_made_in_a_celery_worker_process(
    client, source, destination, receiver, post_webhook, workers
):
    before = scrape(client)
    workers()

    post_webhook(source, completed())
    wait_until(lambda: Delivery.objects.filter(status="delivered").exists(), what="the push")
    after = scrape(client)

    name = destination.name
    pushed = value(after, "tally_pushes_total", destination=name, outcome="delivered") - value(
        before, "tally_pushes_total", destination=name, outcome="delivered"
    )
    timed = value(after, "tally_push_latency_seconds_count", destination=name) - value(
        before, "tally_push_latency_seconds_count", destination=name
    )
    assert pushed >= 1, "the worker's counters reach the web's /metrics"
    assert timed >= 1


# --- One request id through every process, and no secret in any log ------------------------------------------


@pytest.fixture
def telegram() -> Iterator[FakeTelegram]:
    fake = FakeTelegram(BOT_TOKEN)
    yield fake
    fake.close()


@pytest.fixture
def flow(transactional_db, worker_env, telegram, tmp_path) -> Iterator[dict[str, Any]]:
    """gunicorn and a Celery worker (with beat) as deployed, sending alerts to the fake Telegram."""
    env = {
        **worker_env,
        "TELEGRAM_BOT_TOKEN": BOT_TOKEN,
        "TELEGRAM_CHAT_IDS": OPS_CHAT,
        "TELEGRAM_API_BASE_URL": telegram.url,
    }
    web = start_gunicorn(env=env, log_dir=tmp_path)
    from tests.servers import start_worker

    worker = start_worker(env=env, log_dir=tmp_path, beat=True, name="flow")
    yield {"web": web, "worker": worker}
    web.stop()
    worker.stop()


def json_lines(path: Path) -> list[dict[str, Any]]:
    lines = []
    for line in path.read_text().splitlines():
        if line.strip():
            parsed = json.loads(line)  # every line is one JSON object
            assert {"time", "level", "logger", "message", "request_id"} <= set(parsed), line
            lines.append(parsed)
    return lines


def test_one_request_id_follows_an_event_through_every_process_and_no_secret_is_logged(flow, telegram):
    web: Web = flow["web"]
    worker: Worker = flow["worker"]
    signed: Source = make_source(auth_mode=Source.AuthMode.STANDARD, secret=WHSEC, token=None)
    by_token: Source = make_source()
    receiver = Receiver()
    receiver.secret = RECEIVER_SECRET
    # The first try is retried later (a task the sweeper wakes, no request in sight), then fails for
    # good: an alert, and a message to Telegram, which must still name the intake's request.
    receiver.answer(Reply(503, body=b"busy"), Reply(503, body=b"busy"))
    receiver.default = Reply(400, body=b"refused")
    try:
        destination_create(
            name="flow-hr",
            url=receiver.url,
            source_slugs=[signed.slug],
            secret=RECEIVER_SECRET,
            headers={"X-Api-Key": "receiver-api-key-0123456789"},
        )
        request_id = f"flow-{uuid.uuid4().hex[:12]}"
        body = dumps(completed(event_id="evt_flow"))
        timestamp = int(time.time())
        headers = {
            "Content-Type": "application/json",
            "X-Request-ID": request_id,
            "webhook-id": "msg_flow",
            "webhook-timestamp": str(timestamp),
        }
        headers["webhook-signature"] = Webhook(WHSEC).sign("msg_flow", _utc(timestamp), body.decode())
        posted = requests.post(f"{web.url}/api/v1/webhooks/{signed.slug}/", data=body, headers=headers, timeout=10)
        assert posted.status_code == 202, posted.text
        assert posted.headers["X-Request-ID"] == request_id
        by_query = requests.post(
            f"{web.url}/api/v1/webhooks/{by_token.slug}/?token={TOKEN}",
            data=dumps(completed(event_id="evt_flow_2", user="u-77")),
            headers={"Content-Type": "application/json"},
            timeout=10,
        )
        assert by_query.status_code == 202

        wait_until(
            lambda: any(request_id in text for text in telegram.texts()), timeout=60, what="the alert on Telegram"
        )
        worker.wait_for_line('"push failed"', timeout=20, what="the worker's push line")
        time.sleep(0.5)  # the last lines reach the files
        pushed_signatures = [r.headers["webhook-signature"] for r in receiver.requests]
    finally:
        receiver.close()

    logs = {"web access": json_lines(web.out), "web errors": json_lines(web.err), "worker": json_lines(worker.log)}
    ours = {name: [line for line in lines if line["request_id"] == request_id] for name, lines in logs.items()}
    assert any(line.get("path") == f"/api/v1/webhooks/{signed.slug}/" for line in ours["web access"]), "intake"
    assert any(line["message"] == "push failed" for line in ours["worker"]), "the delivery task"
    assert any(line["message"].startswith("alert: Delivery to flow-hr failed") for line in ours["worker"]), "alert"

    everything = "".join(p.read_text() for p in (web.out, web.err, worker.log))
    secrets = {
        "source secret": WHSEC.removeprefix("whsec_"),
        "source token": TOKEN,
        "destination secret": RECEIVER_SECRET.removeprefix("whsec_"),
        "destination header": "receiver-api-key-0123456789",
        "bot token": BOT_TOKEN.split(":")[1],
        "intake signature": headers["webhook-signature"].removeprefix("v1,"),
        **{f"push signature {n}": s.removeprefix("v1,") for n, s in enumerate(pushed_signatures)},
    }
    assert pushed_signatures
    leaked = [name for name, secret in secrets.items() if secret in everything]
    assert leaked == []


def _utc(timestamp: int) -> Any:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(timestamp, tz=UTC)
