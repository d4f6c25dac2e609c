"""Deliveries API, create_destination, client tokens and the admin pages."""

from __future__ import annotations

import os
import re
import subprocess
from io import StringIO

import pytest
import yaml
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import Client

from accounts.services import api_token_create
from deliveries.models import Attempt, Delivery, Destination
from deliveries.worker import deliveries_process_due
from tests.factories import completed, make_source
from tests.servers import BIN, ROOT, database_url

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff() -> Client:
    _, raw = api_token_create(name="ops", is_staff=True)
    return Client(HTTP_AUTHORIZATION=f"Bearer {raw}")


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_deliveries_list_filters_by_status_and_destination(source, destination, post_webhook, staff):
    post_webhook(source, completed(user="u-1"))
    post_webhook(source, completed(user="u-2"))
    Delivery.objects.filter(user_id="u-1").update(status="failed")

    failed = staff.get("/api/v1/deliveries/", {"status": "failed"}).json()["results"]
    mine = staff.get("/api/v1/deliveries/", {"destination": destination.name}).json()["results"]
    nobody = staff.get("/api/v1/deliveries/", {"destination": "nope"}).json()["results"]

    assert [(d["user_id"], d["status"]) for d in failed] == [("u-1", "failed")]
    assert failed[0]["id"].startswith("dlv_")
    assert len(mine) == 2
    assert nobody == []


def test_deliveries_list_refuses_bad_filters(staff):
    response = staff.get("/api/v1/deliveries/", {"status": "lost", "since": "yesterday"})

    assert response.status_code == 400
    assert set(response.json()["detail"]) == {"status", "since"}


def test_bulk_retry_needs_a_filter(staff):
    response = staff.post("/api/v1/deliveries/retry/", {}, content_type="application/json")

    assert response.status_code == 400
    assert response.json()["error"] == "validation_error"


def test_retry_of_an_unknown_delivery_is_404(staff):
    assert staff.get("/api/v1/deliveries/").status_code == 200
    assert staff.post("/api/v1/deliveries/dlv_999_1/retry/").status_code == 404
    assert staff.post("/api/v1/deliveries/nonsense/retry/").status_code == 404


def test_replay_paths_answer_as_the_retry_paths_always_have(source, destination, post_webhook, staff):
    post_webhook(source, completed(user="u-1"))
    post_webhook(source, completed(user="u-2"))
    Delivery.objects.update(status="failed")
    first = Delivery.objects.get(user_id="u-1")

    one = staff.post(f"/api/v1/deliveries/{first.webhook_id}/replay/")
    rest = staff.post("/api/v1/deliveries/replay/", {"status": "failed"}, content_type="application/json")

    assert (one.status_code, one.json()) == (202, {"queued": 1})
    assert (rest.status_code, rest.json()) == (202, {"queued": 1})
    assert Delivery.objects.filter(status="pending", rerun=True).count() == 2
    assert staff.post("/api/v1/deliveries/replay/", {}, content_type="application/json").status_code == 400
    assert staff.post("/api/v1/deliveries/dlv_999_1/replay/").status_code == 404


def test_the_schema_names_replays_and_keeps_retry_as_a_deprecated_alias(client):
    document = yaml.safe_load(client.get("/api/schema/").content)
    paths = document["paths"]

    operations = {
        path: (paths[path]["post"]["operationId"], paths[path]["post"].get("deprecated", False))
        for path in (
            "/api/v1/deliveries/{id}/replay/",
            "/api/v1/deliveries/replay/",
            "/api/v1/deliveries/{id}/retry/",
            "/api/v1/deliveries/retry/",
        )
    }
    assert operations == {
        "/api/v1/deliveries/{id}/replay/": ("deliveries_replay_create", False),
        "/api/v1/deliveries/replay/": ("deliveries_replay_many", False),
        "/api/v1/deliveries/{id}/retry/": ("deliveries_retry_create", True),
        "/api/v1/deliveries/retry/": ("deliveries_retry_many", True),
    }
    delivery = document["components"]["schemas"]["Delivery"]["properties"]
    assert delivery["attempts"] == {"type": "integer", "maximum": 2147483647, "minimum": 0}
    assert "attempt_count" not in delivery


def test_the_admin_replays_selected_deliveries_and_a_destinations_failures(
    source, destination, post_webhook, admin_client
):
    post_webhook(source, completed(user="u-1"))
    post_webhook(source, completed(user="u-2"))
    Delivery.objects.update(status="failed")
    first = Delivery.objects.get(user_id="u-1")

    admin_client.post("/admin/deliveries/delivery/", {"action": "replay_selected", "_selected_action": [first.pk]})
    assert Delivery.objects.filter(status="pending", rerun=True).count() == 1
    admin_client.post(
        "/admin/deliveries/destination/", {"action": "replay_failed", "_selected_action": [destination.pk]}
    )

    assert Delivery.objects.filter(status="pending", rerun=True).count() == 2
    assert not Delivery.objects.filter(status="failed").exists()


def test_client_tokens_read_their_deliveries_and_only_staff_replay(source, destination):
    _, raw = api_token_create(name="client", is_staff=False, destination_id=destination.pk)
    client = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")

    assert client.get("/api/v1/deliveries/").status_code == 200
    assert client.post("/api/v1/deliveries/retry/", {"status": "failed"}).status_code == 403
    assert Client().get("/api/v1/deliveries/").status_code == 401


def test_client_token_reads_only_its_destinations_sources(source, destination, post_webhook):
    other = make_source()
    post_webhook(source, completed(user="u-1"))
    post_webhook(other, completed(user="u-1"))
    token = re.search(r"token: (\S+)", run("create_api_token", "acme", "--destination", destination.name)).group(1)
    client = Client(HTTP_AUTHORIZATION=f"Bearer {token}")

    listed = client.get("/api/v1/summaries/").json()["results"]

    assert [row["source"] for row in listed] == [source.slug]
    assert client.get(f"/api/v1/summaries/{source.slug}/u-1/").status_code == 200
    assert client.get(f"/api/v1/summaries/{other.slug}/u-1/").status_code == 404


def test_create_api_token_for_an_unknown_destination_is_refused():
    with pytest.raises(CommandError, match="No destination"):
        run("create_api_token", "acme", "--destination", "nope")


def test_create_destination_prints_its_secret_and_links_sources(receiver):
    first, second = make_source(), make_source()

    output = run(
        "create_destination",
        "acme",
        "--url",
        receiver.url,
        "--source",
        first.slug,
        "--source",
        second.slug,
        "--max-attempts",
        "5",
        "--timeout-seconds",
        "3",
    )

    secret = re.search(r"^secret: (whsec_\S+)$", output, re.M).group(1)
    destination = Destination.objects.get(name="acme")
    assert destination.secret == secret
    assert (destination.max_attempts, destination.timeout_seconds) == (5, 3)
    assert set(destination.sources.values_list("slug", flat=True)) == {first.slug, second.slug}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--url", "http://127.0.0.1/x", "--source", "nope"], "No source nope"),
        (["--url", "ftp://example.com/x", "--source", "S"], "http"),
        (["--url", "http://127.0.0.1/x", "--source", "S", "--secret", "plain"], "whsec_"),
        (["--url", "http://127.0.0.1/x", "--source", "S", "--max-attempts", "0"], "between 1 and 50"),
        (["--url", "http://127.0.0.1/x", "--source", "S", "--timeout-seconds", "600"], "between 1 and 60"),
    ],
)
def test_create_destination_refuses_bad_arguments_clearly(args, message):
    source = make_source()
    args = [source.slug if a == "S" else a for a in args]

    with pytest.raises(CommandError, match=message):
        run("create_destination", "acme", *args)
    assert not Destination.objects.exists()


def test_create_destination_refuses_private_urls_unless_allowed(settings):
    source = make_source()
    settings.DELIVERY_ALLOW_PRIVATE_NETWORKS = False

    with pytest.raises(CommandError, match="private, loopback or link-local"):
        run("create_destination", "acme", "--url", "http://10.0.0.5/hook", "--source", source.slug)


def test_destination_secret_and_headers_are_encrypted_at_rest(destination):
    destination.headers = {"Authorization": "Bearer client-credential"}
    destination.save()
    with connection.cursor() as cursor:
        cursor.execute("SELECT secret, headers FROM deliveries_destination WHERE id = %s", [destination.pk])
        secret, headers = cursor.fetchone()

    assert "whsec_" not in secret
    assert "client-credential" not in headers
    assert Destination.objects.get().headers == {"Authorization": "Bearer client-credential"}


@pytest.mark.parametrize("model", ["destination", "delivery", "attempt"])
def test_admin_pages_load(source, destination, post_webhook, receiver, model):
    user = get_user_model().objects.create_superuser("admin", "a@example.com", "pw")
    admin = Client()
    admin.force_login(user)
    post_webhook(source, completed())
    deliveries_process_due(retries=False, max_seconds=5)
    first_pk = {"destination": Destination, "delivery": Delivery, "attempt": Attempt}[model].objects.first().pk  # type: ignore[attr-defined]

    assert admin.get(f"/admin/deliveries/{model}/").status_code == 200
    assert admin.get(f"/admin/deliveries/{model}/{first_pk}/change/").status_code == 200


@pytest.mark.parametrize(
    "url",
    [
        pytest.param("https://[::1", id="unclosed-ipv6-bracket"),
        pytest.param("http://127.0.0.1:99999/hook", id="port-beyond-65535"),
        pytest.param("http://127.0.0.1:http/hook", id="port-not-a-number"),
    ],
)
def test_create_destination_with_a_malformed_url_says_so_without_a_traceback(url):
    source = make_source()

    with pytest.raises(CommandError) as excinfo:
        run("create_destination", "acme", "--url", url, "--source", source.slug)

    assert str(excinfo.value) == (
        f"Not a valid URL: {url!r}. Enter a valid http(s) URL, e.g. https://hr.acme.example/tally."
    )
    assert not Destination.objects.exists()


def test_create_destination_with_a_malformed_url_exits_1_with_one_line_on_stderr():
    source = make_source()
    env = {**os.environ, "DATABASE_URL": database_url()}

    done = subprocess.run(
        [
            str(BIN / "python"),
            "manage.py",
            "create_destination",
            "acme",
            "--url",
            "https://[::1",
            "--source",
            source.slug,
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert done.stderr.strip() == (
        "CommandError: Not a valid URL: 'https://[::1'. Enter a valid http(s) URL, e.g. https://hr.acme.example/tally."
    )


def test_create_destination_names_a_host_that_does_not_resolve(settings):
    source = make_source()
    settings.DELIVERY_ALLOW_PRIVATE_NETWORKS = False  # the guard looks the host up

    with pytest.raises(CommandError) as excinfo:
        run("create_destination", "acme", "--url", "https://hr.acme.invalid/tally", "--source", source.slug)

    assert str(excinfo.value) == "Could not resolve host hr.acme.invalid: check the URL's host name."


@pytest.mark.parametrize("url", ["not a url", "ftp://hr.acme.example/tally", "https://[::1"])
def test_the_api_says_once_that_a_destination_url_is_not_valid(staff, url):
    source = make_source()

    response = staff.post(
        "/api/v1/destinations/", {"name": "acme", "url": url, "sources": [source.slug]}, content_type="application/json"
    )

    assert response.status_code == 400
    assert response.json() == {
        "error": "validation_error",
        "detail": {"url": ["Enter a valid http(s) URL, e.g. https://hr.acme.example/tally."]},
    }


def test_replay_deliveries_lists_the_statuses_as_typed_when_another_is_given():
    with pytest.raises(CommandError) as excinfo:
        run("replay_deliveries", "--status", "pending")

    assert str(excinfo.value) == "Error: argument --status: invalid choice: 'pending' (choose from 'failed', 'dead')"


def test_replay_deliveries_takes_a_status_as_typed(source, destination, post_webhook):
    post_webhook(source, completed(user="u-1"))
    Delivery.objects.update(status="dead")

    assert "selected: 1  queued: 1" in run("replay_deliveries", "--status", "dead")
