"""Progress of Tally's own long commands: a job anyone can watch, and a bar in the terminal."""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.core.management.base import BaseCommand, OutputWrapper
from django.db import DatabaseError, transaction
from django.urls import reverse
from django.utils import timezone
from tqdm import tqdm

from progress.services import job_create, worker_update

logger = logging.getLogger(__name__)

# tqdm's own layout glues the unit to the number (`0deliveries`, `12.5deliveries/s`)
# and turns a slow rate into seconds per unit; this one reads
# `summaries:  30%|███      | 300/1000 summaries [00:02<00:04, 150.00 summaries/s]`.
BAR_FORMAT = "{l_bar}{bar}| {n_fmt}/{total_fmt}{unit} [{elapsed}<{remaining}, {rate_noinv_fmt}{postfix}]"
NOTHING_TO_DO = "nothing to do"


def show_url(jobid: str) -> str:
    return f"{settings.TALLY_BASE_URL.rstrip('/')}{reverse('progress-show')}?{urlencode({'jobid': jobid})}"


class _BarStream:
    """A command's stream for tqdm.

    Django's OutputWrapper would end every redraw with a newline; and where
    nobody watches a terminal (cron, CI logs) each redraw becomes a line of
    its own instead of a `\r`-joined run on one giant line.
    """

    def __init__(self, out: OutputWrapper) -> None:
        self.out = out
        self.tty = out.isatty()

    def write(self, text: str) -> None:
        if not self.tty:
            text = "".join(f"{line.strip()}\n" for line in text.replace("\r", "\n").split("\n") if line.strip())
        if text:
            self.out.write(text, style_func=str, ending="")

    def flush(self) -> None:
        self.out.flush()

    def isatty(self) -> bool:
        return self.out.isatty()


class CommandProgress:
    """Reports one command's progress straight to the database, never over HTTP.

    Reporting is best effort: a write that fails is logged once and the
    command goes on without it; writes are spaced by `interval` seconds, but
    the last report (and a failure) is always written.

        with CommandProgress(self, description="Rebuilding summaries", workid="summaries") as progress:
            progress.update(500, 2000, text="...")
    """

    def __init__(
        self,
        command: BaseCommand,
        *,
        description: str,
        workid: str = "main",
        unit: str = "items",
        interval: float = 0.5,
    ) -> None:
        name = type(command).__module__.rsplit(".", 1)[-1]
        self.jobid = f"{name}-{timezone.now():%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"
        self.description = description
        self.workid = workid
        self.interval = interval
        self._stdout = command.stdout
        self._stderr = _BarStream(command.stderr)
        self._unit = f" {unit}"
        self._bar: tqdm[Any] | None = None
        self._broken = False
        self._written_at = 0.0
        self._last: tuple[int, int, str] | None = None
        self._pending = False

    def __enter__(self) -> CommandProgress:
        self._write(job_create, jobid=self.jobid, description=self.description)
        if not self._broken:
            self._stdout.write(f"progress: {show_url(self.jobid)}\n")
        return self

    def update(self, current: int, total: int, *, text: str = "") -> None:
        if self._bar is None:
            # Drawn from the first report on, when the total is known.
            every = 0.2 if self._stderr.tty else 5.0  # off a terminal, a line every few seconds is plenty
            self._bar = tqdm(
                desc=self.workid,
                total=total,
                file=self._stderr,
                unit=self._unit,
                bar_format=BAR_FORMAT,
                mininterval=every,
                dynamic_ncols=True,
            )
        self._bar.total = total
        self._bar.update(current - self._bar.n)  # redraws no more often than mininterval
        self._last = (current, total, text)
        self._pending = True
        if 0 < total <= current or time.monotonic() - self._written_at >= self.interval:
            self._flush(ok=True)

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if exc_type is not None:
            current, total, _ = self._last or (0, 0, "")
            self._last = (current, total, f"stopped: {exc_type.__name__}")
            self._pending = True
        elif self._last is not None and self._last[1] <= 0:
            # A total of 0 is drawn empty; a run that had nothing to do is finished, and shows full.
            self._last = (1, 1, NOTHING_TO_DO)
            self._pending = True
        self._flush(ok=exc_type is None)
        if self._bar is not None:
            self._bar.close()

    def _flush(self, *, ok: bool) -> None:
        if not self._pending or self._last is None:
            return
        current, total, text = self._last
        self._pending = False
        self._written_at = time.monotonic()
        self._write(
            worker_update,
            jobid=self.jobid,
            workid=self.workid,
            current=current,
            total=total,
            text=text,
            ok=ok,
        )

    def _write(self, write: Callable[..., object], **kwargs: Any) -> None:
        if self._broken:
            return
        try:
            # A savepoint when the command holds a transaction: a failed
            # report must not poison the command's own work.
            with transaction.atomic():
                write(**kwargs)
        except DatabaseError:
            self._broken = True
            logger.warning("progress reporting stopped", exc_info=True, extra={"jobid": self.jobid})
