"""The MWA progress endpoints: create, update, show (HTML and JSON), errors and the write token."""

from __future__ import annotations

import logging
import re
import subprocess
from urllib.parse import urlencode

import pytest
import requests
from django.test import Client
from django.utils import timezone

from common.logging import JsonFormatter
from progress.models import Job, Worker

pytestmark = pytest.mark.django_db


def workers(jobid: str) -> dict[str, tuple[float, float, str, bool]]:
    return {w.workid: (w.current, w.total, w.text, w.ok) for w in Worker.objects.filter(job__jobid=jobid)}


def curl_get(url: str, action: str, **params: str) -> subprocess.CompletedProcess[str]:
    """`curl -G --data-urlencode name=value ...`, the MWA shell client's way of calling."""
    args = ["curl", "-sS", "-G", "-w", "\n%{http_code}"]
    for name, value in params.items():
        args += ["--data-urlencode", f"{name}={value}"]
    return subprocess.run([*args, f"{url}/progress/{action}"], capture_output=True, text=True, timeout=20, check=True)


@pytest.mark.django_db(transaction=True)
def test_mwa_shell_and_python_clients_create_a_job_and_move_its_bars(live_server):
    url = live_server.url
    created = curl_get(url, "create", jobid="night run #7", desc="Calibrate obs 1234/5", maxage="86400")
    assert created.stdout.rsplit("\n", 1)[1] == "200", created.stdout
    sent = curl_get(url, "update", jobid="night run #7", workid="node 1/a", current="3", total="12", desc="tile 3 ok")
    assert sent.stdout.rsplit("\n", 1)[1] == "200", sent.stdout

    params: dict[str, str | int] = {"jobid": "night run #7", "workid": "node&2", "current": 5, "total": 10}
    python = requests.get(
        f"{url}/progress/update",
        params={**params, "desc": "50% done", "ok": 0},
        timeout=10,
    )
    form = requests.post(
        f"{url}/progress/update",
        data={"jobid": "night run #7", "workid": "node 3", "current": "1", "total": "4", "desc": "via form"},
        timeout=10,
    )

    assert (python.status_code, form.status_code) == (200, 200), (python.text, form.text)
    job = Job.objects.get(jobid="night run #7")
    assert (job.description, job.maxage) == ("Calibrate obs 1234/5", 86400)
    assert workers("night run #7") == {
        "node 1/a": (3, 12, "tile 3 ok", True),
        "node&2": (5, 10, "50% done", False),
        "node 3": (1, 4, "via form", True),
    }
    page = requests.get(f"{url}/progress/show", params={"jobid": "night run #7"}, timeout=10)
    assert "25.0 %" in page.text
    assert "50.0 %" in page.text
    assert "node&amp;2" in page.text


def test_create_on_an_existing_job_drops_its_workers_and_later_updates_land(call):
    call("create", jobid="j", desc="first")
    call("update", jobid="j", workid="w1", current=5, total=10)

    again = call("create", jobid="j", desc="second run")
    after = call("update", jobid="j", workid="w2", current=1, total=2)

    assert again.json() == {"jobid": "j", "status": "reset"}
    assert after.status_code == 200
    assert workers("j") == {"w2": (1, 2, "", True)}
    assert Job.objects.get(jobid="j").description == "second run"


def test_update_keeps_the_workers_text_when_desc_is_left_out_and_ok_defaults_to_true(call):
    call("create", jobid="j")
    call("update", jobid="j", workid="w", current=1, total=3, desc="reading", ok=0)
    call("update", jobid="j", workid="w", current=2, total=3)

    assert workers("j") == {"w": (2, 3, "reading", True)}


def test_numbers_near_the_float_limit_are_stored_and_shown(call):
    call("create", jobid="j")

    response = call("update", jobid="j", workid="w", current="1e308", total="1e308")

    assert response.json()["percent"] == 100.0
    assert call("show", jobid="j", format="json").json()["workers"][0]["percent_text"] == "100.0 %"
    assert call("render", jobid="j").status_code == 200


def test_trailing_slash_and_post_with_query_string_work_like_the_plain_paths(client: Client):
    assert client.post("/progress/create/?" + urlencode({"jobid": "j"})).status_code == 200
    response = client.post("/progress/update?jobid=j", {"workid": "w", "current": "0.5", "total": "2"})

    assert response.json() == {"jobid": "j", "workid": "w", "percent": 25.0}


@pytest.mark.parametrize(
    ("params", "field", "says"),
    [
        ({"workid": "w", "current": 1, "total": 2}, "jobid", "required: the job's name"),
        ({"jobid": "", "workid": "w", "current": 1, "total": 2}, "jobid", "blank: the job's name"),
        ({"jobid": "j", "current": 1, "total": 2}, "workid", "required: the worker's name"),
        ({"jobid": "j", "workid": "", "current": 1, "total": 2}, "workid", "blank: the worker's name"),
        ({"jobid": "j", "workid": "w", "total": 2}, "current", "required: a number"),
        ({"jobid": "j", "workid": "w", "current": "lots", "total": 2}, "current", "got 'lots'"),
        ({"jobid": "j", "workid": "w", "current": "", "total": 2}, "current", "got ''"),
        ({"jobid": "j", "workid": "w", "current": "nan", "total": 2}, "current", "finite number"),
        ({"jobid": "j", "workid": "w", "current": "True", "total": 2}, "current", "got 'True'"),
        ({"jobid": "j", "workid": "w", "current": 1, "total": "ten"}, "total", "got 'ten'"),
        ({"jobid": "j", "workid": "w", "current": 0, "total": "inf"}, "total", "finite number"),
        ({"jobid": "j", "workid": "w", "current": 0, "total": "1e999"}, "total", "got '1e999'"),
        ({"jobid": "j", "workid": "w" * 201, "current": 1, "total": 2}, "workid", "never cut"),
        ({"jobid": "j", "workid": "w\x00", "current": 1, "total": 2}, "workid", "Null characters"),
    ],
)
def test_update_refuses_only_what_cannot_be_drawn_with_a_400_naming_the_parameter(call, params, field, says):
    call("create", jobid="j")

    response = call("update", **params)

    assert response.status_code == 400
    assert response.json()["error"] == "validation_error"
    assert list(response.json()["detail"]) == [field]
    assert says in response.json()["detail"][field][0]
    assert not Worker.objects.exists()


@pytest.mark.parametrize("maxage", ["0", "-3", "soon", "1e3", str(2**31)])
def test_create_with_a_bad_maxage_is_a_400_naming_it(call, maxage):
    response = call("create", jobid="j", maxage=maxage)

    assert response.status_code == 400
    assert list(response.json()["detail"]) == ["maxage"]
    assert not Job.objects.exists()


@pytest.mark.parametrize("action", ["show", "render"])
def test_show_and_render_need_a_jobid(call, action):
    response = call(action)

    assert response.status_code == 400
    assert response.json() == {
        "error": "validation_error",
        "detail": {"jobid": ["This field is required: the job's name."]},
    }


@pytest.mark.parametrize("action", ["show", "render"])
def test_show_and_render_of_an_unknown_job_are_a_404_saying_so(call, action):
    response = call(action, jobid="nope")

    assert response.status_code == 404
    assert response.json() == {
        "error": "unknown_job",
        "detail": "No progress job 'nope': nobody created it or reported to it, or it expired.",
    }


def test_other_methods_are_refused_in_the_api_error_shape(client: Client):
    response = client.delete("/progress/create?jobid=j")

    assert response.status_code == 405
    assert response.json()["error"] == "method_not_allowed"


def test_show_json_has_every_worker_sorted_naturally_with_percentages(call):
    call("create", jobid="j", desc="Backfill")
    for workid, current in [("w10", 10), ("w2", 1), ("w1", 4)]:
        call("update", jobid="j", workid=workid, current=current, total=10, desc=f"at {current}")

    state = call("show", jobid="j", format="json").json()

    assert [w["workid"] for w in state["workers"]] == ["w1", "w2", "w10"]
    assert [w["percent_text"] for w in state["workers"]] == ["40.0 %", "10.0 %", "100.0 %"]
    assert state["desc"] == "Backfill"
    assert state["percent"] == pytest.approx(50.0)
    assert state["headline"] == "3 workers, 1 done, 50.0 % overall"


def test_show_html_holds_every_bar_without_scripts_and_loads_nothing_from_elsewhere(call):
    call("create", jobid="j", desc="<b>Rebuild</b>")
    call("update", jobid="j", workid="alpha", current=1, total=4, desc="going")
    call("update", jobid="j", workid="beta", current=3, total=4, desc="stuck", ok=0)

    response = call("show", jobid="j")
    html = response.content.decode()

    assert response["Content-Type"].startswith("text/html")
    assert "&lt;b&gt;Rebuild&lt;/b&gt;" in html
    assert "<b>Rebuild" not in html
    assert 'data-workid="alpha"' in html
    assert 'style="width: 25.00%"' in html
    assert 'data-workid="beta" class="failing"' in html
    assert "75.0 %" in html
    assert "stuck" in html
    assert "http://" not in html
    assert "https://" not in html
    assert " src=" not in html
    assert "default-src 'none'" in response["Content-Security-Policy"]
    assert "X-Frame-Options" not in response, "the read-only page may be framed by another site"


@pytest.mark.parametrize("action", ["create", "update"])
def test_with_a_write_token_create_and_update_need_it(call, settings, action):
    Job.objects.create(jobid="j", created=timezone.now())
    settings.PROGRESS_WRITE_TOKEN = "s3cret-progress-token"
    params = {"jobid": "j", "workid": "w", "current": 1, "total": 2}

    missing = call(action, **params)
    wrong = call(action, **params, token="guess")
    right = call(action, **params, token="s3cret-progress-token")

    assert (missing.status_code, wrong.status_code, right.status_code) == (401, 401, 200)
    assert wrong.json()["error"] == "bad_token"


def test_with_a_write_token_show_and_render_stay_open(call, settings):
    call("create", jobid="j")
    settings.PROGRESS_WRITE_TOKEN = "s3cret-progress-token"

    assert call("show", jobid="j").status_code == 200
    assert call("render", jobid="j").status_code == 200


def test_the_write_token_is_accepted_in_a_form_body_and_as_a_bearer_header(client: Client, settings):
    settings.PROGRESS_WRITE_TOKEN = "s3cret-progress-token"

    form = client.post("/progress/create", {"jobid": "a", "token": "s3cret-progress-token"})
    header = client.get("/progress/create?jobid=b", HTTP_AUTHORIZATION="Bearer s3cret-progress-token")

    assert (form.status_code, header.status_code) == (200, 200)


@pytest.mark.parametrize(
    ("given", "ok"),
    [
        ("0", False),
        ("0.0", False),
        ("False", False),
        ("false", False),
        ("no", False),
        ("off", False),
        ("1", True),
        ("2", True),
        ("-1", True),
        ("True", True),
        ("yes", True),
        ("", True),
        ("maybe", True),
    ],
)
def test_any_ok_other_than_0_or_a_no_is_green(call, given, ok):
    call("create", jobid="j")

    assert call("update", jobid="j", workid="w", current=1, total=2, ok=given).status_code == 200
    assert workers("j")["w"][3] is ok


@pytest.mark.parametrize("maxage", [1, 2**31 - 1])
def test_maxage_accepts_its_whole_range(call, maxage):
    assert call("create", jobid="j", maxage=maxage).status_code == 200
    assert Job.objects.get().maxage == maxage


def test_ids_are_kept_exactly_as_sent(call):
    call("create", jobid=" a ")
    call("create", jobid="a")
    call("update", jobid=" a ", workid=" w", current=1, total=2, desc="  indented")

    assert set(Job.objects.values_list("jobid", flat=True)) == {" a ", "a"}
    assert workers(" a ") == {" w": (1, 2, "  indented", True)}


def test_show_format_html_is_the_page_and_an_unknown_format_is_a_400(call):
    call("create", jobid="j")

    assert call("show", jobid="j", format="html")["Content-Type"].startswith("text/html")
    bad = call("show", jobid="j", format="xml")
    assert bad.status_code == 400
    assert list(bad.json()["detail"]) == ["format"]


def test_a_format_parameter_does_not_change_how_writes_answer(call):
    assert call("create", jobid="j", format="xml").json() == {"jobid": "j", "status": "created"}


def test_hostile_worker_ids_and_texts_stay_text_in_the_page(call):
    call("create", jobid="j")
    call("update", jobid="j", workid='"><script>alert(1)</script>', current=1, total=2, desc="<img src=x>")

    response = call("show", jobid="j")
    html = response.content.decode()

    assert "<script>alert(1)" not in html
    assert "<img src=x>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    nonce = re.search(r"script-src 'nonce-([^']+)'", response["Content-Security-Policy"])
    assert nonce is not None
    assert html.count("<script") == 1
    assert f'<script nonce="{nonce.group(1)}">' in html


def test_the_write_token_never_reaches_the_logs(call, settings, caplog):
    settings.PROGRESS_WRITE_TOKEN = "s3cret-progress-token"

    with caplog.at_level(logging.DEBUG):
        call("create", jobid="j", token="wrong-guess-token")
        call("create", jobid="j", token="s3cret-progress-token")
        call("update", jobid="j", workid="w", current=1, total=2, token="s3cret-progress-token")

    assert caplog.records, "the refused request is logged"
    logged = "\n".join(JsonFormatter().format(record) for record in caplog.records)
    assert "s3cret-progress-token" not in logged
    assert "wrong-guess-token" not in logged
