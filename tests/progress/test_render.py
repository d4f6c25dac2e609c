"""/progress/render: the chart as a PNG, sized to the workers, red only for failing ones."""

from __future__ import annotations

import hashlib
import io

import pytest
from django.core.cache import cache
from django.utils import timezone
from PIL import Image

from progress.chart import HEADER, MAX_ROWS, PAD, ROW, chart_key
from progress.models import Job, Worker
from progress.selectors import job_state

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _draw_each_state(settings):
    """Serve every new state at once; the per-job reuse window has a test of its own."""
    settings.PROGRESS_RENDER_CACHE_SECONDS = 0


def png(call, jobid: str) -> Image.Image:
    response = call("render", jobid=jobid)
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    image = Image.open(io.BytesIO(response.content))
    image.load()
    assert image.format == "PNG"
    return image.convert("RGB")


def pixels(image: Image.Image) -> list[tuple[int, int, int]]:
    return list(image.get_flattened_data())  # type: ignore[arg-type]


def red_pixels(image: Image.Image) -> int:
    return sum(1 for r, g, b in pixels(image) if r > 170 and g < 90 and b < 90)


def green_pixels(image: Image.Image) -> int:
    return sum(1 for r, g, b in pixels(image) if g > 130 and r < 90 and b < 110)


def test_render_is_a_png_whose_height_grows_with_the_number_of_workers(call):
    call("create", jobid="j")
    call("update", jobid="j", workid="w1", current=1, total=2)
    one = png(call, "j")
    for n in range(2, 31):
        call("update", jobid="j", workid=f"w{n}", current=1, total=2)
    thirty = png(call, "j")

    assert one.width == thirty.width
    assert thirty.height > one.height + 29 * 10


def test_render_has_red_pixels_only_when_a_worker_reported_not_ok(call):
    call("create", jobid="j", desc="All well")
    call("update", jobid="j", workid="a", current=3, total=4)
    call("update", jobid="j", workid="b", current=1, total=4, desc="Red text is not a failure")
    healthy = png(call, "j")

    call("update", jobid="j", workid="b", current=1, total=4, ok=0)
    failing = png(call, "j")

    assert green_pixels(healthy) > 0
    assert red_pixels(healthy) == 0
    assert red_pixels(failing) > 0


def test_a_failing_worker_shows_red_even_before_it_made_progress(call):
    call("create", jobid="j")
    call("update", jobid="j", workid="a", current=0, total=4, ok=0)

    assert red_pixels(png(call, "j")) > 0


def test_a_job_without_workers_still_renders(call):
    call("create", jobid="empty")

    assert png(call, "empty").height > 40


def test_the_drawing_of_a_state_is_reused_until_what_it_shows_changes(call):
    call("create", jobid="j")
    call("update", jobid="j", workid="a", current=1, total=4)
    first = call("render", jobid="j").content
    state = job_state(jobid="j")
    assert state is not None
    key = f"progress:png:{hashlib.sha256(b'j').hexdigest()}"

    drawn_for, _, png = cache.get(key)
    assert (drawn_for, png) == (chart_key(state), first)
    cache.set(key, (drawn_for, 0.0, b"cached"), 60)
    assert call("render", jobid="j").content == b"cached", "the same state is served from the cache"

    call("update", jobid="j", workid="a", current=2, total=4)
    redrawn = call("render", jobid="j").content
    assert redrawn.startswith(b"\x89PNG"), "a new state is drawn again"
    assert redrawn != first


def test_a_busy_job_is_redrawn_at_most_once_per_render_cache_window(call, settings):
    settings.PROGRESS_RENDER_CACHE_SECONDS = 60
    call("create", jobid="j")
    call("update", jobid="j", workid="a", current=1, total=4)
    first = call("render", jobid="j").content

    call("update", jobid="j", workid="a", current=2, total=4)
    call("update", jobid="j", workid="a", current=3, total=4, ok=0)

    assert call("render", jobid="j").content == first
    assert call("render", jobid="other").status_code == 404


def test_past_max_rows_the_chart_says_how_many_workers_it_leaves_out(call):
    call("create", jobid="j")
    job = Job.objects.get()
    now = timezone.now()
    Worker.objects.bulk_create(
        Worker(job=job, workid=f"w{n}", current=1, total=2, updated=now) for n in range(MAX_ROWS + 20)
    )

    image = png(call, "j")

    assert image.height == HEADER + (MAX_ROWS + 1) * ROW + PAD


@pytest.mark.parametrize(("count", "height"), [(0, 86), (1, 86), (3, 122), (30, 608)])
def test_render_height_is_58_plus_18_per_worker_plus_10_as_the_docs_say(call, count, height):
    call("create", jobid="j")
    for n in range(count):
        call("update", jobid="j", workid=f"w{n}", current=1, total=2)

    image = png(call, "j")

    assert (image.width, image.height) == (820, height)
