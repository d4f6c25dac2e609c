"""A total deadline for blocking socket work that per-read timeouts cannot bound.

A read timeout restarts with every byte, so a peer that drips its answer one
byte at a time can hold a thread for ever. One watchdog thread per process
keeps the deadlines in a heap and shuts down the socket of whatever is still
running at its deadline: the blocked read returns at once, and the caller sees
`expired`.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import socket
import threading
import time
from collections.abc import Iterator


class Deadline:
    """The end of one piece of work, and the socket it is blocked on (attached as it goes)."""

    def __init__(self, seconds: float) -> None:
        self.at = time.monotonic() + seconds
        self.seconds = seconds
        self.expired = False
        self._done = False
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()

    def attach(self, sock: socket.socket | None) -> None:
        """The work now runs on `sock`; cut at once if the deadline has already passed."""
        with self._lock:
            if self._done:
                return
            self._sock = sock
            if self.expired:
                self._cut()

    def expire(self) -> None:
        with self._lock:
            if self._done:
                return
            self.expired = True
            self._cut()

    def finish(self) -> None:
        """The work ended: its socket (which may go back to a pool) is no longer ours to cut."""
        with self._lock:
            self._done = True
            self._sock = None

    def _cut(self) -> None:
        # Under the lock: once `finish` returns, a pooled socket is never cut.
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.shutdown(socket.SHUT_RDWR)


class _Watchdog:
    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Deadline]] = []
        self._order = itertools.count()
        self._wakeup = threading.Condition()
        self._thread: threading.Thread | None = None

    def watch(self, deadline: Deadline) -> None:
        with self._wakeup:
            heapq.heappush(self._heap, (deadline.at, next(self._order), deadline))
            if self._thread is None or not self._thread.is_alive():
                # Started lazily, so a forked worker process gets a thread of its own.
                self._thread = threading.Thread(target=self._run, name="deadline-watchdog", daemon=True)
                self._thread.start()
            elif self._heap[0][2] is deadline:
                self._wakeup.notify()

    def _run(self) -> None:
        while True:
            with self._wakeup:
                while not self._heap:
                    self._wakeup.wait()
                at, _, deadline = self._heap[0]
                wait = at - time.monotonic()
                if wait > 0:
                    self._wakeup.wait(wait)
                    continue
                heapq.heappop(self._heap)
            deadline.expire()


_watchdog = _Watchdog()
_current = threading.local()


@contextlib.contextmanager
def deadline(seconds: float) -> Iterator[Deadline]:
    """Run the block under a total deadline; sockets attached with `attach_current` are cut when it passes."""
    watched = Deadline(seconds)
    previous = getattr(_current, "deadline", None)
    _current.deadline = watched
    _watchdog.watch(watched)
    try:
        yield watched
    finally:
        watched.finish()
        _current.deadline = previous


def attach_current(sock: socket.socket | None) -> None:
    """Tell this thread's running deadline (if any) which socket its work is blocked on."""
    watched: Deadline | None = getattr(_current, "deadline", None)
    if watched is not None:
        watched.attach(sock)
