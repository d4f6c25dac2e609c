"""The webhook URL as real senders use it, over real HTTP to gunicorn as `make run` serves it (development mode).

Each test sends the exact request a real client sends. PYBOSSA's are quoted
from its source (Scifabric/pybossa v4.0.2):

pybossa/jobs.py, webhook():
    headers = {'Content-type': 'application/json', 'Accept': 'text/plain'}
    ...
        params = dict()
        if rerun:
            params['rerun'] = True
        response = requests.post(url, params=params,
                                 data=json.dumps(payload),
                                 headers=headers)
    ...
    if project.published and webhook.response_status_code != 200 and current_app.config.get('ADMINS'):
        subject = "Broken: %s webhook failed" % project.name

pybossa/model/event_listeners.py, push_webhook():
    payload = dict(event="task_completed",
                   project_short_name=project_obj['short_name'],
                   project_id=project_obj['id'],
                   task_id=task_id,
                   result_id=result_id,
                   fired_at=datetime.utcnow().strftime("%Y-%m-%d %H:%M:%S"))

pybossa/forms/validator.py, class Webhook (run when the owner saves the URL):
    r = requests.get(field.data)
    if r.status_code != 200:
        raise ValidationError(self.message)
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests

from tests.factories import TOKEN, completed, dumps, make_source
from tests.servers import RedisServer, Web, start_gunicorn
from tests.support.processes import database_url
from webhooks.models import Event, Source

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

MAX_BODY = 4096


@pytest.fixture(scope="module")
def web(django_db_setup: None, django_db_blocker, broker: RedisServer, tmp_path_factory) -> Iterator[Web]:
    """gunicorn in development mode, the way `make run` serves Tally (where Django would draw HTML pages)."""
    env = {
        **os.environ,
        "DEBUG": "true",
        "DATABASE_URL": database_url(),
        "CELERY_BROKER_URL": broker.url,
        "WEBHOOK_MAX_BODY_BYTES": str(MAX_BODY),
    }
    server = start_gunicorn(env=env, log_dir=Path(tmp_path_factory.mktemp("web")))
    yield server
    server.stop()


def pybossa_post(url: str, payload: dict[str, object], *, rerun: bool = False) -> requests.Response:
    """What pybossa/jobs.py webhook() sends, line for line."""
    headers = {"Content-type": "application/json", "Accept": "text/plain"}
    params = {}
    if rerun:
        params["rerun"] = True
    return requests.post(url, params=params, data=json.dumps(payload), headers=headers, timeout=10)


def pybossa_payload(*, task_id: int = 1201, result_id: int = 88) -> dict[str, object]:
    """What pybossa/model/event_listeners.py push_webhook() builds."""
    return dict(
        event="task_completed",
        project_short_name="birds",
        project_id=3,
        task_id=task_id,
        result_id=result_id,
        fired_at=datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S"),
    )


def _pybossa_source() -> Source:
    # Nothing answers at this address: the settlement is queued, and no worker runs in these tests.
    return make_source(kind="pybossa", pybossa_url="http://127.0.0.1:9", pybossa_api_key="key-0123456789")


def test_pybossa_webhook_as_pybossa_sends_it_answers_200_json_and_is_stored(web: Web):
    source = _pybossa_source()
    url = f"{web.url}/api/v1/webhooks/{source.slug}/?token={TOKEN}"

    answer = pybossa_post(url, pybossa_payload())

    assert answer.status_code == 200, answer.text  # anything else is "Broken: ... webhook failed" to PYBOSSA
    assert answer.headers["Content-Type"] == "application/json"
    assert answer.json()["status"] == "processing"
    event = Event.objects.get(source=source)
    assert event.idempotency_key == "3:1201:88"


def test_pybossa_rerun_from_its_webhook_page_answers_200_and_is_processed_again(web: Web):
    source = _pybossa_source()
    url = f"{web.url}/api/v1/webhooks/{source.slug}/?token={TOKEN}"
    payload = pybossa_payload()

    first = pybossa_post(url, payload)
    again = pybossa_post(url, payload)
    rerun = pybossa_post(url, payload, rerun=True)

    assert [first.status_code, again.status_code, rerun.status_code] == [200, 200, 200]
    assert again.json()["status"] == "duplicate"
    assert rerun.json()["status"] == "processing"
    assert Event.objects.filter(source=source).count() == 2


def test_pybossa_url_check_refuses_a_wrong_token_so_the_owner_sees_it_when_saving(web: Web):
    source = _pybossa_source()
    base = f"{web.url}/api/v1/webhooks/{source.slug}/"

    right = requests.get(f"{base}?token={TOKEN}", timeout=10)
    wrong = requests.get(f"{base}?token=not-the-token-of-this-source", timeout=10)
    bare = requests.get(base, timeout=10)

    assert right.status_code == 200, right.text
    assert wrong.status_code == 401, wrong.text
    assert wrong.json()["error"] == "bad_token"
    assert bare.status_code == 200, "without credentials the check only says the source exists"


def test_a_native_webhook_asking_for_text_plain_still_gets_json(web: Web):
    source = make_source()

    answer = requests.post(
        f"{web.url}/api/v1/webhooks/{source.slug}/",
        data=dumps(completed()),
        headers={"Content-Type": "application/json", "Accept": "text/plain", "Authorization": f"Bearer {TOKEN}"},
        timeout=10,
    )

    assert answer.status_code == 202, answer.text
    assert answer.headers["Content-Type"] == "application/json"
    assert answer.json()["status"] == "accepted"


def test_webhook_refusals_are_json_whatever_accept_asks(web: Web):
    source = make_source()

    answer = requests.post(
        f"{web.url}/api/v1/webhooks/{source.slug}/",
        data=b"{}",
        headers={"Content-Type": "application/json", "Accept": "text/html", "Authorization": "Bearer wrong-token"},
        timeout=10,
    )

    assert answer.status_code == 401
    assert answer.headers["Content-Type"] == "application/json"
    assert answer.json()["error"] == "bad_token"


def test_a_webhook_posted_without_the_trailing_slash_is_taken_in(web: Web):
    source = make_source()

    answer = requests.post(
        f"{web.url}/api/v1/webhooks/{source.slug}?token={TOKEN}",
        data=dumps(completed()),
        headers={"Content-Type": "application/json"},
        timeout=10,
    )

    assert answer.status_code == 202, answer.text
    assert answer.json()["status"] == "accepted"


def test_unknown_api_urls_answer_a_json_404_in_development_too(web: Web):
    answers = [
        requests.get(f"{web.url}/api/v1/no-such-thing/", timeout=10),
        requests.post(f"{web.url}/api/v1/sources", json={}, timeout=10),
        requests.get(f"{web.url}/api/v2/", timeout=10),
    ]

    for answer in answers:
        assert answer.status_code == 404, answer.text
        assert answer.headers["Content-Type"] == "application/json", answer.text[:200]
        assert answer.json()["error"] == "not_found"
    assert "/api/v1/sources/" in answers[1].json()["detail"], "a missing slash is named"


def test_a_get_without_the_trailing_slash_is_redirected_to_it(web: Web):
    answer = requests.get(f"{web.url}/api/v1/sources?page_size=5", allow_redirects=False, timeout=10)

    assert answer.status_code == 301
    assert answer.headers["Location"] == "/api/v1/sources/?page_size=5"


def test_json_answers_end_with_a_newline(web: Web):
    source = make_source()

    check = requests.get(f"{web.url}/api/v1/webhooks/{source.slug}/", timeout=10)
    missing = requests.get(f"{web.url}/api/v1/nothing-here/", timeout=10)
    health = requests.get(f"{web.url}/healthz", timeout=10)

    for answer in (check, missing, health):
        assert answer.content.endswith(b"}\n"), answer.content


def _chunks(body: bytes, size: int = 100) -> Iterator[bytes]:
    for start in range(0, len(body), size):
        yield body[start : start + size]


def test_a_chunked_body_is_read_like_one_with_a_content_length(web: Web):
    source = make_source()
    body = dumps(completed())

    # A generator makes requests stream the body: Transfer-Encoding: chunked, no Content-Length.
    answer = requests.post(
        f"{web.url}/api/v1/webhooks/{source.slug}/",
        data=_chunks(body),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"},
        timeout=10,
    )

    assert answer.request.headers.get("Transfer-Encoding") == "chunked"
    assert "Content-Length" not in answer.request.headers
    assert answer.status_code == 202, answer.text
    assert Event.objects.get(source=source).status == Event.Status.ACCEPTED


def test_a_chunked_body_over_the_limit_answers_413_and_raises_no_alert(web: Web):
    from notifications.models import Alert

    source = make_source()
    body = dumps(completed(padding="x" * (MAX_BODY * 3)))

    answer = requests.post(
        f"{web.url}/api/v1/webhooks/{source.slug}/",
        data=_chunks(body, 1000),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"},
        timeout=10,
    )

    assert answer.status_code == 413, answer.text
    assert answer.json()["error"] == "payload_too_large"
    assert not Event.objects.filter(source=source).exists()
    assert not Alert.objects.exists()


def test_a_redirect_to_the_trailing_slash_keeps_an_escaped_user_id_escaped(web: Web):
    # A user id may hold `?` or `#`: the redirect must not turn them into a query or a fragment.
    answer = requests.get(f"{web.url}/api/v1/summaries/src/a%3Fb?x=1", allow_redirects=False, timeout=10)

    assert answer.status_code == 301
    assert answer.headers["Location"] == "/api/v1/summaries/src/a%3Fb/?x=1"


def test_a_get_with_a_proxys_basic_auth_is_still_only_an_existence_check(web: Web):
    from tests.factories import WHSEC

    signed = make_source(auth_mode=Source.AuthMode.STANDARD, secret=WHSEC, token=None)

    answer = requests.get(f"{web.url}/api/v1/webhooks/{signed.slug}/", auth=("proxy", "pass"), timeout=10)

    assert answer.status_code == 200, answer.text
