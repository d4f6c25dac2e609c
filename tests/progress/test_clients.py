"""Real MWA clients fire and forget: every update that can be drawn is kept.

The real client read for these tests is vcstools' primary-beam simulation,
CIRA-Pulsars-and-Transients-Group/vcstools, scripts/pabeam.py (commit
830ad225c33e54a4673cf9007db49cd713954e1f). Every call is a GET with the
parameters in the query string, built by `requests.get(url, params={...})`,
and every answer is dropped (not assigned, not checked, no `timeout=`):

    # rank 0, once: jobid is random.randint(0, 1000), an int
    requests.get('https://ws.mwatelescope.org/progress/create',
                 params={'jobid':plot_jobid,
                         'desc':'pabeam simultation',
                         'maxage':43200}) # 12 hours

    # every MPI rank, several times: workid is the rank (an int), current
    # and total ints, no `ok` ever
    requests.get('https://ws.mwatelescope.org/progress/update',
                 params={'jobid':data['plot_jobid'],
                         'workid':rank,
                         'current':3+len(data['time']),
                         'total'  :3+len(data['time']),
                         'desc':'Done'})

`requests` writes each value with `str()`: the ints above go as `jobid=417`,
`workid=0`, `current=4`; a float would go as `current=3.0`, a bool as
`ok=True` / `ok=False`. Because the answer is never read, a refused update is
a bar that silently stops moving.
"""

from __future__ import annotations

import io
import random
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import cast

import pytest
import requests
from PIL import Image

from progress.chart import BAR_WIDTH, HEADER, LABEL_WIDTH, PAD, ROW
from progress.models import Job, Worker

TIMEOUT = 10


def send(url: str, action: str, **params: str | int | float) -> requests.Response:
    """`requests.get(url, params={...})`, as pabeam calls every endpoint."""
    return requests.get(f"{url}/progress/{action}", params=params, timeout=TIMEOUT)


def workers(jobid: str) -> dict[str, tuple[float, float, str, bool]]:
    return {w.workid: (w.current, w.total, w.text, w.ok) for w in Worker.objects.filter(job__jobid=jobid)}


def shown(url: str, jobid: str) -> dict[str, dict[str, object]]:
    state = send(url, "show", jobid=jobid, format="json").json()
    return {w["workid"]: w for w in state["workers"]}


@pytest.mark.django_db(transaction=True)
def test_pabeam_from_vcstools_creates_a_job_and_every_rank_reports_as_it_sends(live_server):
    url = live_server.url
    plot_jobid = random.randint(0, 1000)
    times = ["2019-01-01T00:00:00", "2019-01-01T00:10:00"]
    # Master: create (the answer is dropped, as pabeam drops it).
    send(url, "create", jobid=plot_jobid, desc="pabeam simultation", maxage=43200)
    # Each rank, in pabeam's order.
    for rank in range(3):
        send(
            url,
            "update",
            jobid=plot_jobid,
            workid=rank,
            current=1,
            total=3 + len(times),
            desc="WaveN_phase",
        )
        send(url, "update", jobid=plot_jobid, workid=rank, current=2, total=5, desc="Tile beam")
    for ti in range(len(times)):
        send(
            url,
            "update",
            jobid=plot_jobid,
            workid=1,
            current=3 + ti,
            total=3 + len(times),
            desc=f"{1 + ti}/{len(times)} array factor",
        )
    done = send(
        url,
        "update",
        jobid=plot_jobid,
        workid=2,
        current=3 + len(times),
        total=3 + len(times),
        desc="Done",
    )

    assert done.status_code == 200
    job = Job.objects.get(jobid=str(plot_jobid))
    assert (job.description, job.maxage) == ("pabeam simultation", 43200)
    assert workers(str(plot_jobid)) == {
        "0": (2, 5, "Tile beam", True),
        "1": (4, 5, "2/2 array factor", True),
        "2": (5, 5, "Done", True),
    }
    bars = shown(url, str(plot_jobid))
    assert [bars[w]["percent_text"] for w in ("0", "1", "2")] == ["40.0 %", "80.0 %", "100.0 %"]
    page = send(url, "show", jobid=plot_jobid)
    assert page.status_code == 200
    assert "pabeam simultation" in page.text


@pytest.mark.django_db(transaction=True)
def test_an_update_for_a_job_nobody_created_creates_it(live_server):
    url = live_server.url

    first = send(url, "update", jobid=417, workid=0, current=1, total=5, desc="WaveN_phase")
    second = send(url, "update", jobid=417, workid=1, current=2, total=5)

    assert first.status_code == 200
    assert first.json() == {"jobid": "417", "workid": "0", "percent": 20.0, "job": "created"}
    assert second.json() == {"jobid": "417", "workid": "1", "percent": 40.0}
    job = Job.objects.get(jobid="417")
    assert (job.description, job.maxage) == ("", None)
    assert workers("417") == {"0": (1, 5, "WaveN_phase", True), "1": (2, 5, "", True)}
    page = send(url, "show", jobid=417)
    assert page.status_code == 200
    assert '<h1 id="desc">417</h1>' in page.text, "a job without a description is titled by its id"
    assert send(url, "render", jobid=417).status_code == 200


@pytest.mark.django_db(transaction=True)
def test_many_ranks_reporting_at_once_to_a_job_nobody_created_all_land_in_one_job(live_server):
    url = live_server.url
    ranks = 8
    start = threading.Barrier(ranks)

    def rank(n: int) -> int:
        start.wait(timeout=TIMEOUT)
        return send(url, "update", jobid=99, workid=n, current=1, total=5, desc="WaveN_phase").status_code

    with ThreadPoolExecutor(max_workers=ranks) as pool:
        codes = list(pool.map(rank, range(ranks)))

    assert codes == [200] * ranks
    assert Job.objects.filter(jobid="99").count() == 1
    assert sorted(workers("99"), key=int) == [str(n) for n in range(ranks)]


@pytest.mark.django_db(transaction=True)
def test_an_update_above_its_total_is_kept_and_drawn_full(live_server):
    url = live_server.url
    send(url, "create", jobid="j")

    over = send(url, "update", jobid="j", workid="w", current=7, total=5)

    assert over.status_code == 200
    assert over.json()["percent"] == 100.0
    assert workers("j") == {"w": (7, 5, "", True)}, "kept as sent, not cut to the total"
    bar = shown(url, "j")["w"]
    assert (bar["percent"], bar["percent_text"], bar["count_text"]) == (100.0, "100.0 %", "7/5")
    state = send(url, "show", jobid="j", format="json").json()
    assert state["headline"] == "1 worker, 1 done, 100.0 % overall"
    page = send(url, "show", jobid="j").text
    assert 'style="width: 100.00%"' in page


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("current", "total"), [(0, 0), (3, 0), (-2, 10), (4, -5)])
def test_an_update_with_a_total_of_0_or_a_negative_number_is_kept_and_drawn_empty(live_server, current, total):
    url = live_server.url
    send(url, "create", jobid="j")

    sent = send(url, "update", jobid="j", workid="w", current=current, total=total)

    assert sent.status_code == 200
    assert sent.json()["percent"] == 0.0
    assert workers("j") == {"w": (current, total, "", True)}
    bar = shown(url, "j")["w"]
    assert (bar["percent"], bar["percent_text"]) == (0.0, "0.0 %")
    state = send(url, "show", jobid="j", format="json").json()
    assert state["headline"] == "1 worker, 0 done, 0.0 % overall"


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("ok", "green"),
    [(2, True), (True, True), ("yes", True), (-1, True), (False, False), (0, False), (0.0, False)],
)
def test_any_ok_a_python_client_sends_other_than_0_or_false_is_kept_and_green(live_server, ok, green):
    url = live_server.url
    send(url, "create", jobid="j")

    sent = send(url, "update", jobid="j", workid="w", current=1, total=4, ok=ok)

    assert sent.status_code == 200
    assert workers("j")["w"][3] is green
    assert shown(url, "j")["w"]["ok"] is green


@pytest.mark.django_db(transaction=True)
def test_numbers_as_python_clients_write_floats_are_kept(live_server):
    url = live_server.url
    send(url, "create", jobid="j")

    sent = send(url, "update", jobid="j", workid="w", current=3.0, total=12.0, desc=2.5)

    assert sent.request.url is not None
    assert "current=3.0&total=12.0" in sent.request.url
    assert sent.status_code == 200
    assert workers("j") == {"w": (3, 12, "2.5", True)}
    assert shown(url, "j")["w"]["count_text"] == "3/12"


@pytest.mark.django_db
def test_a_long_text_is_kept_cut_to_1000_characters_and_a_nul_in_it_is_dropped(call):
    long = call("update", jobid="j", workid="a", current=1, total=2, desc="x" * 5000)
    nul = call("update", jobid="j", workid="b", current=1, total=2, desc="disk\x00 full")
    title = call("create", jobid="k", desc="T" * 1500)

    assert (long.status_code, nul.status_code, title.status_code) == (200, 200, 200)
    assert workers("j") == {"a": (1, 2, "x" * 1000, True), "b": (1, 2, "disk full", True)}
    assert Job.objects.get(jobid="k").description == "T" * 1000


def bar_pixels(image: Image.Image, row: int) -> tuple[int, int]:
    """(green, red) pixels inside one worker's bar of the PNG."""
    top = HEADER + row * ROW
    left = PAD + LABEL_WIDTH
    box = image.convert("RGB").crop((left, top, left + BAR_WIDTH + 1, top + ROW))
    pixels = cast(list[tuple[int, int, int]], list(box.get_flattened_data()))
    green = sum(1 for r, g, b in pixels if g > 130 and r < 90 and b < 110)
    red = sum(1 for r, g, b in pixels if r > 170 and g < 90 and b < 90)
    return green, red


@pytest.mark.django_db
def test_render_draws_an_overfull_bar_full_a_total_of_0_empty_and_ok_2_green(call, settings):
    settings.PROGRESS_RENDER_CACHE_SECONDS = 0
    call("update", jobid="j", workid="a-full", current=5, total=5)
    call("update", jobid="j", workid="b-over", current=9, total=5)
    call("update", jobid="j", workid="c-zero", current=3, total=0)
    call("update", jobid="j", workid="d-ok2", current=1, total=2, ok=2)
    call("update", jobid="j", workid="e-red", current=1, total=2, ok=0)

    response = call("render", jobid="j")
    image = Image.open(io.BytesIO(response.content))

    assert response.status_code == 200
    full, over, zero, ok2, failing = (bar_pixels(image, row) for row in range(5))
    assert over == full, "above its total is drawn exactly like a full bar"
    assert full[0] > BAR_WIDTH * 10
    assert zero == (0, 0), "a total of 0 is an empty grey track"
    assert ok2[0] > 0
    assert ok2[1] == 0
    assert failing[1] > 0
