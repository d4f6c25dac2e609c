"""Progress chart benchmark: the cost of drawing the PNG and building the page, by number of workers.

No server and no database: jobs and workers are built in memory and passed to
the same functions the endpoints call. Prints, for each size, the median of
`--repeat` runs (after one warm-up) of: the PNG drawing, its size, and the
show page (state to JSON and HTML). See bench/README.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("DEBUG", "true")

import django

django.setup()

from django.template.loader import render_to_string  # noqa: E402

from progress.api import state_json  # noqa: E402
from progress.chart import chart_png  # noqa: E402
from progress.models import Job, Worker  # noqa: E402
from progress.selectors import JobState  # noqa: E402


def state_of(workers: int, text: str) -> JobState:
    now = datetime.now(UTC)
    job = Job(jobid="bench", description="Rebuilding summaries of every source", created=now)
    rows = [
        Worker(
            job=job,
            workid=f"worker-{n}",
            current=n % 97,
            total=97,
            text=text,
            ok=n % 41 != 0,
            updated=now - timedelta(seconds=n),
        )
        for n in range(workers)
    ]
    return JobState(job=job, workers=rows, now=now)


def median_ms(run: Callable[[], object], repeat: int) -> float:
    run()
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1,50,500", help="numbers of workers, comma-separated")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print(f"{'workers':>8} {'text':>6} {'png ms':>8} {'png KB':>8} {'page ms':>8} {'page KB':>8}")
    for size in (int(part) for part in args.sizes.split(",")):
        for text in ("chunk 12 of 40", "x" * 300):
            state = state_of(size, text)
            png = chart_png(state)

            def draw(state: JobState = state) -> bytes:
                return chart_png(state)

            def page(state: JobState = state) -> str:
                data = state_json(state)
                return render_to_string("progress/show.html", {"state": state, "data": data, "nonce": "n"})

            png_ms = median_ms(draw, args.repeat)
            page_ms = median_ms(page, args.repeat)
            print(
                f"{size:>8} {len(text):>6} {png_ms:>8.1f} {len(png) / 1024:>8.1f}"
                f" {page_ms:>8.1f} {len(page()) / 1024:>8.1f}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
