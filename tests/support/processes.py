"""Free ports, waiting, and the programs tests and benchmarks start, each in a process group of its own."""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[2]
BIN = ROOT / ".venv" / "bin"
HOST = "127.0.0.1"
# Every queue Tally sends to.
QUEUES = "celery,deliveries,deliveries_retry,pybossa"

P = TypeVar("P", bound="Process")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on just now."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def poll(condition: Callable[[], Any], *, timeout: float, interval: float = 0.05) -> Any:
    """Call `condition()` until it returns something truthy or `timeout` s have passed; return its last value."""
    deadline = time.monotonic() + timeout
    while not (value := condition()) and time.monotonic() < deadline:
        time.sleep(interval)
    return value


def wait_until(
    condition: Callable[[], Any],
    *,
    timeout: float = 20,
    interval: float = 0.05,
    what: str = "",
    detail: Callable[[], str] | None = None,
) -> Any:
    """Poll until `condition()` is truthy and return its value; fail with `what` (and `detail()`) if it never is."""
    value = poll(condition, timeout=timeout, interval=interval)
    if not value:
        more = f"; {detail()}" if detail is not None else ""
        raise AssertionError(f"timed out after {timeout} s waiting for {what or condition}{more}")
    return value


def answers_ok(url: str, timeout: float = 2) -> bool:
    """Whether a GET of `url` answers 200; False while nothing listens there."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or HOST, parts.port, timeout=timeout)
    try:
        conn.request("GET", parts.path + (f"?{parts.query}" if parts.query else ""))
        return conn.getresponse().status == 200
    except (OSError, http.client.HTTPException):
        return False
    finally:
        conn.close()


def database_url() -> str:
    """The database Django is connected to (under pytest, the test database), for the processes a test starts."""
    from django.db import connection

    database = connection.settings_dict
    return f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/{database['NAME']}"


@dataclass
class Process:
    """A program started in a session of its own, so that it and its children are one process group."""

    name: str
    argv: list[str]
    process: subprocess.Popen[bytes]
    log: Path  # its stderr, and its stdout unless that is kept apart

    @property
    def pid(self) -> int:
        """The program's pid, which is also its process group's id."""
        return self.process.pid

    def running(self) -> bool:
        return self.process.poll() is None

    def output(self) -> str:
        """The log so far."""
        return self.log.read_text(errors="replace")

    def tail(self) -> str:
        return self.output()[-3000:]

    def wait_for(self, condition: Callable[[], Any], *, timeout: float, interval: float = 0.05, what: str) -> Any:
        """`wait_until(condition)`, failing at once, with the log's tail, if the program exits meanwhile."""

        def check() -> Any:
            assert self.running(), f"{self.name} exited with {self.process.returncode}:\n{self.tail()}"
            return condition()

        return wait_until(
            check, timeout=timeout, interval=interval, what=what, detail=lambda: f"{self.name} logged:\n{self.tail()}"
        )

    def wait_for_line(self, text: str, *, timeout: float, what: str) -> None:
        """Wait until `text` appears in the log."""
        self.wait_for(lambda: text in self.output(), timeout=timeout, what=what)

    def group_ended(self, *, timeout: float = 0) -> bool:
        """Whether every process of the group has exited, waiting up to `timeout` s for it."""

        def ended() -> bool:
            try:
                os.killpg(self.pid, 0)
            except ProcessLookupError:
                return True
            return False

        return bool(poll(ended, timeout=timeout))

    def signal_group(self, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, sig)

    def kill(self) -> None:
        """SIGKILL the whole process group: the program and its children, as a crash would."""
        self.signal_group(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self, *, sig: signal.Signals = signal.SIGTERM, timeout: float = 20) -> bool:
        """Send `sig` to the process group, and SIGKILL it if the program has not exited within `timeout` s.

        Returns whether the program exited without the SIGKILL (or had already exited).
        """
        if not self.running():
            return True
        self.signal_group(sig)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return False
        return True


def _popen(argv: list[str], env: Mapping[str, str], *, log: Path, out: Path | None) -> subprocess.Popen[bytes]:
    """`argv` started in the project folder in a session of its own: stderr to `log`, stdout to `out` or `log`."""
    with contextlib.ExitStack() as files:
        err = files.enter_context(log.open("wb"))
        stdout = files.enter_context(out.open("wb")) if out is not None else err
        return subprocess.Popen(argv, cwd=ROOT, env=env, stdout=stdout, stderr=err, start_new_session=True)


def start_process(name: str, argv: Sequence[str], *, env: Mapping[str, str], log: Path) -> Process:
    """Start `argv` in the project folder, in a session of its own, its output to `log`."""
    return Process(name, list(argv), _popen(list(argv), env, log=log, out=None), log)


def _started(process: P, condition: Callable[[], Any], *, timeout: float, what: str) -> P:
    """`process` once `condition()` holds; killed, and the failure raised, if it never does."""
    try:
        process.wait_for(condition, timeout=timeout, what=what)
    except BaseException:
        process.kill()
        raise
    return process


class RedisServer:
    """A throwaway redis-server on its own port, which a test may stop and start again."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://{HOST}:{self.port}/0"
        self.process: Process | None = None

    def start(self) -> Process:
        argv = ["redis-server", "--port", str(self.port), "--bind", HOST, "--save", "", "--appendonly", "no"]
        process = start_process("redis-server", argv, env=os.environ, log=Path(os.devnull))
        self.process = _started(process, self.answers, timeout=10, what="redis-server to answer")
        return self.process

    def answers(self) -> bool:
        try:
            with socket.create_connection((HOST, self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
            self.process = None


class Worker(Process):
    """A real `celery worker` process (with beat embedded when asked)."""


def start_worker(
    *,
    env: Mapping[str, str],
    log_dir: Path,
    name: str,
    beat: bool = False,
    concurrency: int = 2,
    queues: str = QUEUES,
    include: Iterable[str] = (),
    wait: bool = True,
) -> Worker:
    """Start node `name`@host, logging to `log_dir/<name>.log`; with `wait`, return once it logs that it is ready."""
    argv = [
        str(BIN / "celery"),
        "-A",
        "config",
        "--quiet",  # no banner: every line is a JSON log line
        "worker",
        "-Q",
        queues,
        f"--concurrency={concurrency}",
        # Tally's logging follows LOG_LEVEL (config/celery_app.py); the flag says the same.
        f"--loglevel={env.get('LOG_LEVEL', 'INFO')}",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
        f"--hostname={name}@%h",
        *(f"--include={module}" for module in include),
    ]
    if beat:
        argv += ["--beat", f"--schedule={log_dir / (name + '-beat')}"]
    log = log_dir / f"{name}.log"
    worker = Worker(name, argv, _popen(argv, env, log=log, out=None), log)
    if not wait:
        return worker
    return _started(worker, lambda: "ready." in worker.output(), timeout=60, what=f"worker {name} to start")


@dataclass
class Web(Process):
    """gunicorn serving Tally (config/gunicorn.py): its stdout (the access log) in `out`, its stderr in `err`."""

    url: str
    out: Path

    @property
    def err(self) -> Path:
        return self.log

    @property
    def port(self) -> int:
        return int(self.url.rpartition(":")[2])


def start_gunicorn(
    *, env: Mapping[str, str], log_dir: Path, name: str = "web", workers: int = 1, options: Sequence[str] = ()
) -> Web:
    """Start gunicorn on a free port with `workers` workers; return once it answers /healthz."""
    port = free_port()
    argv = [str(BIN / "gunicorn"), "config.wsgi", "-c", "config/gunicorn.py", *options]
    env = {**env, "HOST": HOST, "PORT": str(port), "WEB_CONCURRENCY": str(workers)}
    out, err = log_dir / f"{name}.out", log_dir / f"{name}.err"
    web = Web(name, argv, _popen(argv, env, log=err, out=out), err, f"http://{HOST}:{port}", out)
    return _started(web, lambda: answers_ok(f"{web.url}/healthz"), timeout=30, what="gunicorn to answer /healthz")
