"""The progress chart drawn as a PNG, for embedding where no script runs."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import io
import json

from django.conf import settings
from django.core.cache import cache
from PIL import Image, ImageDraw, ImageFont

from progress.selectors import JobState, format_number, format_percent

WIDTH = 820
PAD = 10
HEADER = 58
ROW = 18
LABEL_WIDTH = 140
BAR_WIDTH = 300
PERCENT_WIDTH = 52
COUNT_WIDTH = 84
BAR_HEIGHT = 12

BACKGROUND = (255, 255, 255)
INK = (33, 37, 41)
MUTED = (108, 117, 125)
TRACK = (226, 230, 234)
OVERALL = (59, 110, 190)
GREEN = (46, 160, 67)
RED = (207, 34, 46)

# How long one state's drawing is kept for reuse.
STATE_CACHE_SECONDS = 300

Font = ImageFont.FreeTypeFont | ImageFont.ImageFont


@functools.cache
def _font(size: int) -> Font:
    # Pillow's bundled font: nothing to install, nothing fetched.
    return ImageFont.load_default(size=size)


def _clip(draw: ImageDraw.ImageDraw, text: str, font: Font, width: float) -> str:
    """The text, cut with an ellipsis to fit `width` pixels."""
    # No glyph is narrower than a quarter of the font size: measuring more text
    # than could ever fit would only cost time.
    longest = int(width * 4 / font.size) + 1 if isinstance(font, ImageFont.FreeTypeFont) else len(text)
    text = " ".join(text[: longest * 2].split())[:longest]
    if draw.textlength(text, font=font) <= width:
        return text
    low, high = 0, len(text)  # the longest prefix that fits with the ellipsis
    while low < high:
        middle = (low + high + 1) // 2
        if draw.textlength(text[:middle] + "…", font=font) <= width:
            low = middle
        else:
            high = middle - 1
    return text[:low] + "…"


def chart_key(state: JobState) -> str:
    """A digest of everything the chart shows: equal keys draw equal images."""
    shown = [
        state.job.jobid,
        state.job.description,
        state.job.created.isoformat(),
        [[w.workid, w.current, w.total, w.text, w.ok] for w in state.workers],
    ]
    return hashlib.sha256(json.dumps(shown).encode()).hexdigest()


def chart_png(state: JobState) -> bytes:
    """One bar per worker (green, red when it reported ok=0), under the job's title and overall progress."""
    rows = max(1, len(state.workers))
    image = Image.new("RGB", (WIDTH, HEADER + rows * ROW + PAD), BACKGROUND)
    draw = ImageDraw.Draw(image)
    title, small = _font(15), _font(11)

    draw.text((PAD, 6), _clip(draw, state.job.description or state.job.jobid, title, WIDTH - 2 * PAD), INK, title)
    draw.text((PAD, 26), _clip(draw, state.headline, small, WIDTH - 2 * PAD), MUTED, small)
    overall = WIDTH - 2 * PAD
    draw.rectangle((PAD, 43, PAD + overall, 49), fill=TRACK)
    if state.percent > 0:
        draw.rectangle((PAD, 43, PAD + round(overall * state.percent / 100), 49), fill=OVERALL)

    if not state.workers:
        draw.text((PAD, HEADER), "No worker has reported yet.", MUTED, small)
    percent_right = PAD + LABEL_WIDTH + BAR_WIDTH + PERCENT_WIDTH
    count_right = percent_right + COUNT_WIDTH
    text_x = count_right + 10
    for index, worker in enumerate(state.workers):
        top = HEADER + index * ROW
        draw.text((PAD, top + 2), _clip(draw, worker.workid, small, LABEL_WIDTH - 8), INK, small)
        bar_top = top + (ROW - BAR_HEIGHT) // 2
        left = PAD + LABEL_WIDTH
        # A failing worker is framed in red even before it has made progress.
        frame = TRACK if worker.ok else RED
        draw.rectangle((left, bar_top, left + BAR_WIDTH, bar_top + BAR_HEIGHT), fill=TRACK, outline=frame)
        filled = round(BAR_WIDTH * worker.percent / 100)
        if filled > 0:
            draw.rectangle((left, bar_top, left + filled, bar_top + BAR_HEIGHT), fill=GREEN if worker.ok else RED)
        count = _clip(draw, f"{format_number(worker.current)}/{format_number(worker.total)}", small, COUNT_WIDTH - 6)
        draw.text((percent_right, top + 2), format_percent(worker.percent), INK, small, anchor="ra")
        draw.text((count_right, top + 2), count, MUTED, small, anchor="ra")
        draw.text((text_x, top + 2), _clip(draw, worker.text, small, WIDTH - PAD - text_x), INK, small)

    out = io.BytesIO()
    # A chart has a few flat colours: a 64-colour palette makes the PNG about
    # six times smaller, and quicker to compress than the RGB original.
    image.quantize(colors=64, method=Image.Quantize.FASTOCTREE).save(out, format="PNG")
    return out.getvalue()


def chart_png_cached(state: JobState) -> bytes:
    """The chart, drawn at most once per PROGRESS_RENDER_CACHE_SECONDS for a busy job.

    Each state's image is kept for a few minutes; while a job's last drawing
    is younger than the setting, it is served even if a worker has reported
    since, so a wall of embeds or a fast poller never redraws 500 bars on
    every request. A cache outage costs a redraw, never the image.
    """
    latest_key = f"progress:png-latest:{hashlib.sha256(state.job.jobid.encode()).hexdigest()}"
    state_key = f"progress:png:{chart_key(state)}"
    with contextlib.suppress(Exception):
        recent = cache.get(latest_key)
        for key in (recent, state_key) if isinstance(recent, str) else (state_key,):
            cached = cache.get(key)
            if isinstance(cached, bytes):
                return cached
    png = chart_png(state)
    with contextlib.suppress(Exception):
        cache.set(state_key, png, STATE_CACHE_SECONDS)
        cache.set(latest_key, state_key, settings.PROGRESS_RENDER_CACHE_SECONDS)
    return png
