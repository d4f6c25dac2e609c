"""A terminal progress bar for long management commands."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class ProgressBar:
    """Redraws one line: `label [#####-----]  50%  500/1000  12.3/s`."""

    def __init__(self, label: str, *, stream: TextIO | None = None, width: int = 30) -> None:
        self.label = label
        self.stream = stream or sys.stderr
        self.width = width
        self.started = time.monotonic()
        self._drawn = False

    def update(self, current: int, total: int) -> None:
        fraction = 1.0 if total <= 0 else min(1.0, current / total)
        filled = int(self.width * fraction)
        rate = current / max(time.monotonic() - self.started, 1e-6)
        line = (
            f"{self.label} [{'#' * filled}{'-' * (self.width - filled)}] {fraction * 100:5.1f}%  "
            f"{current}/{total}  {rate:.1f}/s"
        )
        end = "\r" if self.stream.isatty() else "\n"
        self.stream.write(line + end)
        self.stream.flush()
        self._drawn = True

    def close(self) -> None:
        if self._drawn and self.stream.isatty():
            self.stream.write("\n")
            self.stream.flush()
