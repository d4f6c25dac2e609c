"""The progress chart drawn as a PNG, for embedding where no script runs."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import io
import json
import time

from django.conf import settings
from django.core.cache import cache
from PIL import Image, ImageDraw, ImageFont

from progress.selectors import JobState, format_number, format_percent

WIDTH = 820
TITLE_SIZE = 15
TEXT_SIZE = 11
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

# How long a job's last drawing is kept for reuse while its state is unchanged.
KEEP_SECONDS = 300
# Rows drawn at most; past them one line says how many more there are.
MAX_ROWS = 500

Font = ImageFont.FreeTypeFont | ImageFont.ImageFont


@functools.cache
def _font(size: int) -> Font:
    # Pillow's bundled font: nothing to install, nothing fetched.
    return ImageFont.load_default(size=size)


@functools.lru_cache(maxsize=4096)
def _advance(size: int, char: str) -> float:
    return float(_font(size).getlength(char))


def _clip(text: str, size: int, width: float) -> str:
    """The text on one line, cut with an ellipsis to fit `width` pixels.

    Widths are summed per character (cached), not measured per candidate
    string: a 500-row chart of long texts would otherwise spend most of its
    time measuring. Kerning is ignored; the columns leave room for it.
    """
    text = " ".join(text.split())
    ellipsis = _advance(size, "…")
    used, keep = 0.0, 0
    for index, char in enumerate(text):
        used += _advance(size, char)
        if used > width:
            return text[:keep] + "…"
        if used + ellipsis <= width:
            keep = index + 1
    return text


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
    drawn = state.workers[:MAX_ROWS]
    hidden = len(state.workers) - len(drawn)
    rows = max(1, len(drawn)) + (1 if hidden else 0)
    image = Image.new("RGB", (WIDTH, HEADER + rows * ROW + PAD), BACKGROUND)
    draw = ImageDraw.Draw(image)
    title, small = _font(TITLE_SIZE), _font(TEXT_SIZE)

    draw.text((PAD, 6), _clip(state.job.description or state.job.jobid, TITLE_SIZE, WIDTH - 2 * PAD), INK, title)
    draw.text((PAD, 26), _clip(state.headline, TEXT_SIZE, WIDTH - 2 * PAD), MUTED, small)
    overall = WIDTH - 2 * PAD
    draw.rectangle((PAD, 43, PAD + overall, 49), fill=TRACK)
    if state.percent > 0:
        draw.rectangle((PAD, 43, PAD + round(overall * state.percent / 100), 49), fill=OVERALL)

    if not state.workers:
        draw.text((PAD, HEADER), "No worker has reported yet.", MUTED, small)
    percent_right = PAD + LABEL_WIDTH + BAR_WIDTH + PERCENT_WIDTH
    count_right = percent_right + COUNT_WIDTH
    text_x = count_right + 10
    if hidden:
        more = f"… and {hidden} more worker{'' if hidden == 1 else 's'}: see the page for every bar."
        draw.text((PAD, HEADER + len(drawn) * ROW + 2), more, MUTED, small)
    for index, worker in enumerate(drawn):
        top = HEADER + index * ROW
        draw.text((PAD, top + 2), _clip(worker.workid, TEXT_SIZE, LABEL_WIDTH - 8), INK, small)
        bar_top = top + (ROW - BAR_HEIGHT) // 2
        left = PAD + LABEL_WIDTH
        # A failing worker is framed in red even before it has made progress.
        frame = TRACK if worker.ok else RED
        draw.rectangle((left, bar_top, left + BAR_WIDTH, bar_top + BAR_HEIGHT), fill=TRACK, outline=frame)
        filled = round(BAR_WIDTH * worker.percent / 100)
        if filled > 0:
            draw.rectangle((left, bar_top, left + filled, bar_top + BAR_HEIGHT), fill=GREEN if worker.ok else RED)
        count = _clip(f"{format_number(worker.current)}/{format_number(worker.total)}", TEXT_SIZE, COUNT_WIDTH - 6)
        draw.text((percent_right, top + 2), format_percent(worker.percent), INK, small, anchor="ra")
        draw.text((count_right, top + 2), count, MUTED, small, anchor="ra")
        draw.text((text_x, top + 2), _clip(worker.text, TEXT_SIZE, WIDTH - PAD - text_x), INK, small)

    out = io.BytesIO()
    # A chart has a few flat colours: a 64-colour palette makes the PNG about
    # six times smaller, and quicker to compress than the RGB original.
    image.quantize(colors=64, method=Image.Quantize.FASTOCTREE).save(out, format="PNG")
    return out.getvalue()


def chart_png_cached(state: JobState) -> bytes:
    """The chart, redrawn only when it changed, and at most once per PROGRESS_RENDER_CACHE_SECONDS.

    One cache entry per job holds its last drawing and the state it shows.
    A busy job whose drawing is younger than the setting gets that drawing
    even if a worker has reported since, so a wall of embeds or a fast
    poller never redraws 500 bars on every request. A cache outage costs a
    redraw, never the image.
    """
    key = f"progress:png:{hashlib.sha256(state.job.jobid.encode()).hexdigest()}"
    shown = chart_key(state)
    with contextlib.suppress(Exception):
        entry = cache.get(key)
        if isinstance(entry, tuple) and len(entry) == 3:
            drawn_for, drawn_at, png = entry
            if drawn_for == shown or time.time() - drawn_at < settings.PROGRESS_RENDER_CACHE_SECONDS:
                return bytes(png)
    png = chart_png(state)
    with contextlib.suppress(Exception):
        cache.set(key, (shown, time.time(), png), KEEP_SECONDS)
    return png
