"""Intake benchmark: Tally's intake and its ceilings, measured in the same run on loopback.

`make bench` runs it with the test environment. It recreates the database
`tally_bench`, migrates it, creates token sources, and then:

- captures Tally's statements for one accepted `test.completed` from a real
  intake and writes them as a pgbench script (bench/baselines/pgbench.py);
- starts gunicorn twice on free 127.0.0.1 ports, with the same command and
  settings: Tally, and a plain DRF + ORM view of the same event
  (bench/baselines/, `DJANGO_SETTINGS_MODULE=bench.baselines.settings`);
- closed loops: at each client count, Tally then the DRF view; N keep-alive
  clients post distinct events as fast as the server answers, from requests
  built before the run; reports accepted events/s and latency percentiles;
- open loop (Tally): a fixed rate with scheduled send times; latency is
  measured from the scheduled time, so a stalled server cannot hide its queue
  (no coordinated omission); bounded in time, what is still unsent then is
  dropped and counted at a lower bound;
- pgbench of the captured script, at each client count;
- prints each figure, Tally's ratio to each ceiling and the targets (`met`,
  or `missed by Nx`).

Every answer must be 202, every stored event must match a 202, and pgbench
must not fail a transaction; anything else is an error, printed, and the exit
status is 1. `--no-ceilings` measures Tally's intake only. See bench/README.md.
"""

from __future__ import annotations

import argparse
import itertools
import math
import os
import resource
import secrets
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

# `python bench/intake.py` puts only bench/ on the path: the project (and tests.servers) come first.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psycopg2
from baselines import pgbench
from psycopg2 import sql

from tests.servers import HOST, ROOT, Web, start_gunicorn

TICKS = os.sysconf("SC_CLK_TCK")
# The access log is still formatted, as in production; only its output is dropped.
GUNICORN_OPTIONS = ("--access-logfile", "/dev/null")
# Closed loops send requests built before the run, up to this many a second (beyond it, built on the fly).
PREBUILT_PER_SECOND = 4000

# A native test.completed envelope; %-placeholders keep per-request cost low.
BODY = (
    '{"id": "evt_%(tag)s_%(n)d", "type": "test.completed", "occurred_at": "2026-11-22T%(at)s",'
    ' "data": {"user": {"id": "u-%(user)d", "email": "u-%(user)d@example.com", "name": "User %(user)d"},'
    ' "organization": "org-%(org)d",'
    ' "test": {"id": "t-%(unit)d", "title": "Test %(unit)d", "course_id": "c-%(course)d"},'
    ' "score": %(score)d, "max_score": 10, "passed": %(passed)s, "attempt": 1, "completed_at": "2026-11-22T%(at)s"}}'
)


# --- Setup ---------------------------------------------------------------------------------------


def database_recreate(url: str, *, keep: bool) -> None:
    """Drop and create the bench database (or only create it when missing, with `keep`)."""
    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin = psycopg2.connect(urlunsplit(parts._replace(path="/postgres")))
    admin.autocommit = True
    try:
        with admin.cursor() as cursor:
            if not keep:
                cursor.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
            cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
            if cursor.fetchone() is None:
                cursor.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    finally:
        admin.close()


def code_version() -> str:
    """The commit measured, `-dirty` when the working tree has changes."""
    git = ["git", "-C", str(ROOT), "describe", "--always", "--dirty"]
    done = subprocess.run(git, capture_output=True, text=True, check=False)
    return done.stdout.strip() or "unknown"


def preamble(title: str, script: str) -> None:
    """Print what runs, on which code and machine; warn when the machine is busy before the run."""
    command = " ".join([f"env $(TEST_ENV) .venv/bin/python {script}", shlex.join(sys.argv[1:])]).strip()
    print(f"{title}: {command}")
    print(f"code {code_version()}, {os.cpu_count()} CPUs, {time.strftime('%Y-%m-%d %H:%M:%S %Z')}")
    idle_check = machine_busy()
    time.sleep(1)
    if (background := (machine_busy() - idle_check) * 100) > 20:
        print(f"WARNING: the machine was already {background:.0f}% busy (of one core) before the run")


def server_env(args: argparse.Namespace) -> dict[str, str]:
    """The environment of the processes a benchmark starts (gunicorn's workers: `start_gunicorn`'s)."""
    env = dict(os.environ)
    env.update(
        DEBUG="false",
        DATABASE_URL=args.database_url,
        REDIS_URL=args.redis_url,
        CELERY_BROKER_URL=args.broker_url,
        LOG_LEVEL="WARNING",
        ALLOWED_HOSTS=HOST,
        GUNICORN_THREADS=str(args.threads),
    )
    # `make bench` passes the test keys; run by hand, throwaway ones will do.
    env.setdefault("SECRET_KEY", secrets.token_urlsafe(48))
    if not env.get("FIELD_ENCRYPTION_KEYS"):
        from cryptography.fernet import Fernet

        env["FIELD_ENCRYPTION_KEYS"] = Fernet.generate_key().decode()
    return env


def django_on_fresh_database(database_url: str, name: str, **env_extra: str) -> dict[str, str]:
    """Recreate the database `name` beside `database_url`'s, migrate it, and set up Django on it in this process.

    Returns the environment a command of the benchmark runs with.
    """
    url = f"{database_url.rsplit('/', 1)[0]}/{name}"
    database_recreate(url, keep=False)
    env = server_env(
        argparse.Namespace(
            database_url=url,
            redis_url=os.environ.get("REDIS_URL", ""),
            broker_url=os.environ.get("CELERY_BROKER_URL", ""),
            threads=1,
        )
    )
    env.update(env_extra)
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput"], env=env, check=True, capture_output=True)
    os.environ.update(env)
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    import django

    django.setup()
    return env


def manage(env: dict[str, str], *argv: str) -> str:
    done = subprocess.run([sys.executable, "manage.py", *argv], cwd=ROOT, env=env, capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"manage.py {argv[0]} failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    return done.stdout


# --- HTTP client ---------------------------------------------------------------------------------


class Closed(ConnectionError):
    """The server closed the connection before a full response."""


class Connection:
    """One keep-alive HTTP/1.1 connection over a raw socket; responses need a Content-Length."""

    def __init__(self, port: int, timeout: float) -> None:
        self.port = port
        self.timeout = timeout
        self.sock: socket.socket | None = None
        self.buf = b""

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
        self.sock, self.buf = None, b""

    def request(self, payload: bytes) -> tuple[int, bytes]:
        reused = self.sock is not None
        try:
            return self._exchange(payload)
        except (Closed, ConnectionResetError, BrokenPipeError):
            self.close()
            if not reused:
                raise
        # A kept-alive connection the server had just closed: resend once on a new one.
        return self._exchange(payload)

    def _exchange(self, payload: bytes) -> tuple[int, bytes]:
        if self.sock is None:
            self.sock = socket.create_connection((HOST, self.port), timeout=self.timeout)
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.sendall(payload)
        buf = self.buf
        while (end := buf.find(b"\r\n\r\n")) < 0:
            buf += self._recv()
        head = buf[:end].lower()
        start = head.find(b"\r\ncontent-length:")
        if start < 0:
            raise Closed("response without Content-Length")
        line_end = head.find(b"\r\n", start + 2)
        length = int(head[start + 17 : line_end if line_end >= 0 else None])
        stop = end + 4 + length
        while len(buf) < stop:
            buf += self._recv()
        self.buf = buf[stop:]
        if b"\r\nconnection: close" in head:
            self.close()
        return int(head[9:12]), buf[end + 4 : stop]

    def _recv(self) -> bytes:
        assert self.sock is not None
        chunk = self.sock.recv(65536)
        if not chunk:
            raise Closed("connection closed by the server")
        return chunk


def event_body(tag: str, n: int, user: int, unit: int) -> bytes:
    """The n-th distinct test.completed body of a run."""
    second = n % 86400
    return (
        BODY
        % {
            "tag": tag,
            "n": n,
            "user": user,
            "org": user % 50,
            "unit": unit,
            "course": unit % 5,
            "score": n % 11,
            "passed": "true" if n % 11 >= 6 else "false",
            "at": f"{second // 3600:02d}:{second // 60 % 60:02d}:{second % 60:02d}Z",
        }
    ).encode()


@dataclass
class Target:
    port: int
    slug: str
    token: str
    tag: str
    users: int
    units: int
    timeout: float
    first: int = 0  # the number of ready[0]
    ready: list[bytes] = field(default_factory=list)  # requests built before the run

    def build(self, n: int) -> bytes:
        user, unit = n % self.users, (n // self.users) % self.units
        return intake_request(self.slug, self.token, event_body(self.tag, n, user, unit))

    def prebuild(self, numbers: itertools.count[int], count: int) -> None:
        """Build the next `count` requests now, so that the load generator only sends them."""
        self.first = next(numbers) + 1
        self.ready = [self.build(n) for n in range(self.first, self.first + count)]

    def request(self, n: int) -> bytes:
        i = n - self.first
        return self.ready[i] if 0 <= i < len(self.ready) else self.build(n)


def intake_request(slug: str, token: str, body: bytes) -> bytes:
    """A keep-alive POST of `body` to the source's intake, with its token."""
    head = (
        f"POST /api/v1/webhooks/{slug}/ HTTP/1.1\r\nHost: {HOST}\r\n"
        f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


# --- Load ----------------------------------------------------------------------------------------


@dataclass
class Stats:
    latencies: list[float] = field(default_factory=list)  # seconds, accepted requests only
    lags: list[float] = field(default_factory=list)  # open loop: actual send minus scheduled time
    errors: Counter[str] = field(default_factory=Counter)
    elapsed: float = 0.0
    cpu: dict[str, float] = field(default_factory=dict)  # % of one core, by process group
    known: dict[int, float] = field(default_factory=dict)  # percentiles given by wrk, seconds
    known_accepted: int = 0
    # Open loop: requests still unsent at the deadline, each as (deadline - scheduled time), a lower bound.
    unsent: list[float] = field(default_factory=list)

    def merge(self, other: Stats) -> None:
        self.latencies += other.latencies
        self.lags += other.lags
        self.errors.update(other.errors)
        self.unsent += other.unsent

    @property
    def accepted(self) -> int:
        return self.known_accepted or len(self.latencies)

    @property
    def rate(self) -> float:
        return self.accepted / self.elapsed if self.elapsed else 0.0

    def ms(self, p: int) -> float:
        """The p-th latency percentile in milliseconds."""
        if p in self.known:
            return self.known[p] * 1000
        # Unsent requests waited at least their bound: with them, the percentiles are lower bounds.
        return percentile(self.latencies + self.unsent, p) * 1000


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def send(target: Target, conn: Connection, n: int, stats: Stats, since: float) -> None:
    """One POST; its latency counts from `since` (the send or the scheduled time)."""
    try:
        status, body = conn.request(target.request(n))
    except OSError as exc:
        conn.close()
        stats.errors[f"{type(exc).__name__}: {exc}"] += 1
        return
    if status == 202:
        stats.latencies.append(time.perf_counter() - since)
    else:
        stats.errors[f"HTTP {status}: {body[:200].decode(errors='replace')}"] += 1


def run_threads(works: Sequence[Callable[[], None]]) -> float:
    """Run each of `works` on a thread of its own, all at once; the seconds until the last one is done."""
    threads = [threading.Thread(target=work) for work in works]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - start


def run_clients(count: int, client: Callable[[Stats], None]) -> Stats:
    """`count` clients at once, each with Stats of its own; all their Stats together."""
    parts = [Stats() for _ in range(count)]
    total = Stats(elapsed=run_threads([partial(client, part) for part in parts]))
    for part in parts:
        total.merge(part)
    return total


def closed_loop(target: Target, numbers: itertools.count[int], clients: int, duration: float) -> Stats:
    stop = time.perf_counter() + duration

    def client(stats: Stats) -> None:
        conn = Connection(target.port, target.timeout)
        while (now := time.perf_counter()) < stop:
            send(target, conn, next(numbers), stats, now)
        conn.close()

    return run_clients(clients, client)


def open_loop(
    target: Target, numbers: itertools.count[int], rate: float, duration: float, conns: int, grace: float
) -> Stats:
    """`rate` requests/s for `duration` s; nothing is sent after `duration + grace` s (the run is bounded in time).

    A request still unsent then is not sent: it counts in the percentiles with
    the time it had waited for its turn by the deadline, a lower bound.
    """
    total = int(rate * duration)
    slots = itertools.count()
    first = time.perf_counter() + 0.05
    deadline = first + duration + grace

    def client(stats: Stats) -> None:
        conn = Connection(target.port, target.timeout)
        while (i := next(slots)) < total:
            scheduled = first + i / rate
            if (wait := scheduled - time.perf_counter()) > 0:
                time.sleep(wait)
            if time.perf_counter() > deadline:
                stats.unsent += [deadline - (first + j / rate) for j in [i, *itertools.takewhile(total.__gt__, slots)]]
                break
            stats.lags.append(time.perf_counter() - scheduled)
            send(target, conn, next(numbers), stats, scheduled)
        conn.close()

    return run_clients(conns, client)


WRK_SCRIPT = """
local threads, counter = {}, 0
local path, token, tag = "/api/v1/webhooks/%(slug)s/", "%(token)s", "%(tag)s"
function setup(thread) table.insert(threads, thread); thread:set("tid", #threads) end
function init(args) accepted, errors = 0, 0 end
function request()
  counter = counter + 1
  local n = tid * 100000000 + counter
  local user, unit, score = n %% %(users)d, math.floor(n / %(users)d) %% %(units)d, n %% 11
  local at = os.date("!%%H:%%M:%%SZ", n %% 86400)
  local body = string.format('{"id": "evt_%%s_wrk_%%d", "type": "test.completed", "occurred_at": "2026-11-22T%%s",'
    .. ' "data": {"user": {"id": "u-%%d", "email": "u-%%d@example.com", "name": "User %%d"}, "organization": "org-%%d",'
    .. ' "test": {"id": "t-%%d", "title": "Test %%d", "course_id": "c-%%d"}, "score": %%d, "max_score": 10,'
    .. ' "passed": %%s, "attempt": 1, "completed_at": "2026-11-22T%%s"}}',
    tag, n, at, user, user, user, user %% 50, unit, unit, unit %% 5, score, score >= 6 and "true" or "false", at)
  return wrk.format("POST", path, {["Authorization"] = "Bearer " .. token,
    ["Content-Type"] = "application/json"}, body)
end
function response(status, headers, body)
  if status == 202 then accepted = accepted + 1 else
    errors = errors + 1
    if errors <= 3 then io.stderr:write("HTTP " .. status .. ": " .. string.sub(body, 1, 200) .. "\\n") end
  end
end
function done(summary, latency, requests)
  local acc, err = 0, 0
  for _, t in ipairs(threads) do acc = acc + t:get("accepted"); err = err + t:get("errors") end
  local e = summary.errors
  io.write(string.format("BENCH %%d %%d %%d %%d %%d %%d\\n", acc, err + e.connect + e.read + e.write + e.timeout,
    summary.duration, latency:percentile(50), latency:percentile(95), latency:percentile(99)))
end
"""


def closed_loop_wrk(target: Target, clients: int, duration: float, workdir: Path) -> Stats:
    """The closed loop driven by wrk (2 threads); latency percentiles come from wrk's histogram."""
    script = workdir / "intake.lua"
    script.write_text(WRK_SCRIPT % {**vars(target), "slug": target.slug})
    command = ["wrk", "-t2", f"-c{clients}", f"-d{duration:.0f}s", "--timeout", f"{target.timeout:.0f}s", "-s"]
    done = subprocess.run([*command, str(script), f"http://{HOST}:{target.port}"], capture_output=True, text=True)
    line = next((x for x in done.stdout.splitlines() if x.startswith("BENCH ")), None)
    if line is None:
        sys.exit(f"wrk failed:\n{done.stdout}\n{done.stderr}")
    accepted, errors, micros, p50, p95, p99 = (int(x) for x in line.split()[1:])
    known = {50: p50 / 1e6, 95: p95 / 1e6, 99: p99 / 1e6}
    stats = Stats(elapsed=micros / 1e6, known=known, known_accepted=accepted)
    if errors:
        stats.errors[f"wrk: {done.stderr.strip()[:300]}"] = errors
    return stats


# --- CPU accounting ------------------------------------------------------------------------------


def machine_busy() -> float:
    """CPU seconds all cores have spent busy since boot."""
    with open("/proc/stat") as fh:
        fields = [int(x) for x in fh.readline().split()[1:]]
    return (sum(fields) - fields[3] - fields[4]) / TICKS


@dataclass
class CpuMeter:
    """CPU seconds by process group (gunicorn, workers, broker), PostgreSQL (this database) and this process.

    `groups` maps a process group id to its name; the processes a benchmark
    starts each lead a session of their own, so their children count with them.
    With `count_children`, children this process has reaped (wrk) count as its own.
    """

    database: str
    groups: dict[int, str] = field(default_factory=dict)
    own: str = "bench"
    count_children: bool = False

    def sample(self) -> dict[str, float]:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        own = usage.ru_utime + usage.ru_stime
        if self.count_children:
            children = resource.getrusage(resource.RUSAGE_CHILDREN)
            own += children.ru_utime + children.ru_stime
        sample = {self.own: own, "postgres": 0.0}
        sample.update({name: 0.0 for name in self.groups.values()})
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                with open(f"/proc/{pid}/stat") as fh:
                    text = fh.read()
                comm = text[text.index("(") + 1 : text.rindex(")")]
                rest = text[text.rindex(")") + 2 :].split()
                group = self.groups.get(int(rest[2]))
                if group is None and comm == "postgres":
                    with open(f"/proc/{pid}/cmdline") as fh:
                        title = fh.read()
                    # Client backends show their database; other databases' are unrelated load.
                    group = "postgres" if "(" not in title or f" {self.database} " in title else None
            except (OSError, ValueError, IndexError):
                continue
            if group:
                sample[group] += (int(rest[11]) + int(rest[12])) / TICKS
        sample["machine"] = machine_busy()
        return sample

    @staticmethod
    def usage(before: dict[str, float], after: dict[str, float], seconds: float) -> dict[str, float]:
        """% of one core by group over `seconds`; `other` is the rest of the machine's busy time."""
        used = {key: (after.get(key, 0.0) - before.get(key, 0.0)) / seconds * 100 for key in after}
        used["other"] = used.pop("machine") - sum(used.values())
        return {key: value for key, value in used.items() if value >= 0.5 or key == "other"}

    def measure(self, run: Callable[[], Stats]) -> Stats:
        before = self.sample()
        stats = run()
        stats.cpu = self.usage(before, self.sample(), stats.elapsed)
        return stats


def peak_rss_mb(group: int) -> dict[int, float]:
    """Peak resident memory (VmHWM, MB) of each live process in a process group, by pid.

    Read before the group is stopped: the kernel keeps each process' peak
    for its lifetime, so this is the most each one held during the run.
    """
    peaks: dict[int, float] = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/stat") as fh:
                text = fh.read()
            if int(text[text.rindex(")") + 2 :].split()[2]) != group:
                continue
            with open(f"/proc/{pid}/status") as fh:
                for line in fh:
                    if line.startswith("VmHWM:"):
                        peaks[int(pid)] = int(line.split()[1]) / 1024
        except (OSError, ValueError, IndexError):
            continue
    return peaks


def cpu_text(used: dict[str, float]) -> str:
    shown = ", ".join(f"{key} {value:.0f}%" for key, value in used.items())
    return f"CPU, % of one core: {shown}; total {sum(used.values()):.0f}% of {(os.cpu_count() or 1) * 100}%"


# --- Report --------------------------------------------------------------------------------------


def report_row(name: str, stats: Stats) -> str:
    p50, p95, p99 = (stats.ms(p) for p in (50, 95, 99))
    errors = sum(stats.errors.values())
    return f"{name:<32} {stats.accepted:>8} {stats.rate:>10.0f} {p50:>8.1f} {p95:>8.1f} {p99:>8.1f} {errors:>7}"


def stored_events(url: str, slug: str) -> dict[str, int]:
    conn = psycopg2.connect(url)
    try:
        with conn.cursor() as cursor:
            cursor.execute(
                "SELECT e.status, count(*) FROM webhooks_event e JOIN webhooks_source s ON s.id = e.source_id"
                " WHERE s.slug = %s GROUP BY e.status",
                [slug],
            )
            return {status: count for status, count in cursor.fetchall()}
    finally:
        conn.close()


def counts(text: str) -> list[int]:
    """`16,64` -> [16, 64]."""
    values = [int(part) for part in text.split(",") if part.strip()]
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected positive numbers separated by commas, not {text!r}")
    return values


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add = parser.add_argument
    add("--workers", type=int, default=2, help="gunicorn workers (WEB_CONCURRENCY); default 2")
    add("--threads", type=int, default=4, help="threads per worker (GUNICORN_THREADS); default 4")
    add("--clients", type=counts, default=[16, 64], help="closed loops: keep-alive clients, one run each; 16,64")
    add("--duration", type=float, default=8, help="closed loop: seconds per run; default 8")
    add("--rate", type=float, default=500, help="open loop: events/s; default 500 (0 skips the open loop)")
    add("--open-duration", type=float, default=10, help="open loop: seconds; default 10")
    add("--connections", type=int, default=32, help="open loop: connections (threads); default 32")
    add("--open-grace", type=float, default=2, help="open loop: seconds after its end until nothing is sent; 2")
    add("--warmup", type=float, default=3, help="seconds of closed-loop load before measuring a server; default 3")
    add("--users", type=int, default=5000, help="distinct user ids in the events; default 5000")
    add("--units", type=int, default=20, help="distinct units (tests) per user; default 20")
    add("--timeout", type=float, default=30, help="socket timeout per request, seconds; default 30")
    add("--wrk", action="store_true", help="drive the closed loops with wrk (apt-get install wrk) instead of Python")
    add(
        "--ceilings",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also measure the plain DRF view and pgbench in this run, and print the ratios (default)",
    )
    add("--pgbench-clients", type=counts, default=[4, 8], help="pgbench: clients, one run each; default 4,8")
    add("--pgbench-duration", type=float, default=5, help="pgbench: seconds per run; default 5")
    add("--show-script", action="store_true", help="print the pgbench script of Tally's statements")
    add("--keep-db", action="store_true", help="reuse the bench database instead of recreating it")
    add("--database-url", default=os.environ.get("BENCH_DATABASE_URL", f"postgres://postgres@{HOST}:5432/tally_bench"))
    add("--redis-url", default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/9"))
    add("--broker-url", default=os.environ.get("BENCH_BROKER_URL", "redis://127.0.0.1:6379/8"))
    args = parser.parse_args()
    if args.wrk and shutil.which("wrk") is None:
        parser.error("--wrk needs wrk on PATH (apt-get install -y wrk)")
    if args.ceilings and pgbench.available() is None:
        parser.error("the ceilings need pgbench on PATH (postgresql-client), or pass --no-ceilings")
    return args


# --- Servers and runs ----------------------------------------------------------------------------


def django_setup(env: dict[str, str]) -> None:
    """Django in this process, on the bench database: sources are created and the pgbench capture runs here."""
    os.environ.update(env)
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    os.environ["ALLOWED_HOSTS"] = f"{HOST},testserver"  # the capture goes through Django's test client
    os.environ["INTAKE_COUNTER_FLUSH_SECONDS"] = "86400"  # a flush is once a second per process, not per request
    import django

    django.setup()


def sources_create(tag: str, token: str) -> dict[str, str]:
    """The run's token sources, by role: Tally's HTTP runs, the pgbench capture, the plain DRF view."""
    from webhooks.sources import source_create

    slugs = {"tally": f"bench-{tag}", "pgbench": f"bench-{tag}-pgbench", "drf": f"bench-{tag}-drf"}
    for slug in slugs.values():
        source_create(slug=slug, auth_mode="token", token=token)
    return slugs


@dataclass
class Server:
    """One server under load (Tally's intake or the plain DRF view) and what was measured on it."""

    label: str
    target: Target
    web: Web
    warm: Stats = field(default_factory=Stats)
    closed: dict[int, Stats] = field(default_factory=dict)  # clients -> run
    opened: Stats | None = None
    stored: dict[str, int] = field(default_factory=dict)
    peak_rss: dict[int, float] = field(default_factory=dict)  # pid -> MB, the master and its workers

    @property
    def errors(self) -> Counter[str]:
        found = self.warm.errors.copy()
        for stats in [*self.closed.values(), *([self.opened] if self.opened else [])]:
            found.update(stats.errors)
        return found

    def accepted(self) -> int:
        runs = [self.warm, *self.closed.values(), *([self.opened] if self.opened else [])]
        return sum(stats.accepted for stats in runs)


def load(
    servers: list[Server], args: argparse.Namespace, numbers: itertools.count[int], workdir: Path, db: str
) -> None:
    """Warm-ups, then each closed loop on every server in turn (Tally, then its baseline, at one client count
    before the next), then Tally's open loop; every server is stopped after.

    Both servers run throughout, so that a change in the machine's speed during the run does not fall on one of
    them only; the idle one's CPU is shown apart ("idle server").
    """
    meters = {
        id(server): CpuMeter(
            db,
            {server.web.pid: "gunicorn", **{other.web.pid: "idle server" for other in servers if other is not server}},
            own="load generator",
            count_children=True,
        )
        for server in servers
    }
    try:
        for server in servers:
            server.warm = closed_loop(server.target, numbers, args.clients[0], args.warmup)
        for clients in args.clients:
            for server in servers:
                target, meter = server.target, meters[id(server)]
                if args.wrk:  # wrk's Lua script builds its own requests
                    stats = meter.measure(partial(closed_loop_wrk, target, clients, args.duration, workdir))
                else:
                    target.prebuild(numbers, int(args.duration * PREBUILT_PER_SECOND))
                    stats = meter.measure(partial(closed_loop, target, numbers, clients, args.duration))
                server.closed[clients] = stats
                time.sleep(0.5)
        tally = servers[0]
        if tally.opened is not None and args.rate > 0:
            tally.target.prebuild(numbers, int(args.rate * args.open_duration))
            run = partial(
                open_loop, tally.target, numbers, args.rate, args.open_duration, args.connections, args.open_grace
            )
            tally.opened = meters[id(tally)].measure(run)
    finally:
        for server in servers:
            server.peak_rss = peak_rss_mb(server.web.pid)
            server.web.stop()
            server.target.ready = []
    for server in servers:
        server.stored = stored_events(args.database_url, server.target.slug)


def pgbench_runs(args: argparse.Namespace, script_path: Path, db: str) -> list[pgbench.Result]:
    """pgbench at each client count; CPU is sampled while it runs (its backends are gone once it exits)."""
    results = []
    for clients in args.pgbench_clients:
        seconds = max(1, round(args.pgbench_duration))
        process = pgbench.start(args.database_url, script_path, clients=clients, seconds=seconds)
        meter = CpuMeter(db, {process.pid: "pgbench"})
        time.sleep(min(0.5, seconds / 4))  # connected and running
        before, began = meter.sample(), time.perf_counter()
        time.sleep(max(0.2, seconds - 1))
        cpu = CpuMeter.usage(before, meter.sample(), time.perf_counter() - began)
        result = pgbench.finish(process, clients=clients, seconds=seconds)
        result.cpu = cpu
        results.append(result)
        time.sleep(0.5)
    return results


# --- Report --------------------------------------------------------------------------------------


def against(value: float, target: float, *, at_most: bool = False) -> str:
    """`met`, or `missed by Nx` (how far the value is from the target, as a factor)."""
    if value != value or value <= 0:  # NaN or nothing measured
        return "not measured"
    if (value <= target) if at_most else (value >= target):
        return "met"
    factor = value / target if at_most else target / value
    return f"missed by {factor:.1f}x"


def report_server(server: Server, args: argparse.Namespace) -> None:
    wrk = " wrk" if args.wrk else ""
    for clients, stats in server.closed.items():
        print(report_row(f"{server.label}, closed {clients} clients{wrk}", stats))
        print(f"  {cpu_text(stats.cpu)}")
    if server.peak_rss:
        master = server.peak_rss.get(server.web.pid, 0.0)
        workers = ", ".join(f"{mb:.0f}" for pid, mb in sorted(server.peak_rss.items()) if pid != server.web.pid)
        print(f"  peak RSS, MB: gunicorn master {master:.0f}, workers {workers}")
    if server.opened is not None:
        print(report_row(f"{server.label}, open {args.rate:.0f}/s", server.opened))
        print(f"  {cpu_text(server.opened.cpu)}")
        lag = percentile(server.opened.lags, 99) * 1000
        print(f"  open loop: {server.opened.rate:.0f}/s achieved, send lag p99 {lag:.1f} ms")
        if unsent := len(server.opened.unsent):
            print(
                f"  open loop: {unsent} of {int(args.rate * args.open_duration)} requests were still unsent "
                f"{args.open_grace:g} s after its end and were dropped; they count at the time they had waited, "
                "so the percentiles are lower bounds"
            )


def consistent(server: Server, args: argparse.Namespace) -> bool:
    """The server stored exactly the events the client saw answered 202 (wrk may leave some in flight)."""
    sent_ok = server.accepted()
    print(f"  {server.label} stored events: {server.stored} (client saw {sent_ok} x 202, warm-up included)")
    # wrk stops with requests in flight: those are stored, but their answers are not counted.
    in_flight = sum(args.clients) if args.wrk else 0
    same = 0 <= server.stored.get("accepted", 0) - sent_ok <= in_flight and set(server.stored) <= {"accepted"}
    if not same:
        print(f"  MISMATCH: {server.label} stored other events than the client saw accepted")
    return same


def report_pgbench(results: list[pgbench.Result]) -> None:
    print(f"\n{'pgbench, Tally statements':<32} {'transactions':>12} {'tx/s':>8} {'latency ms':>11} {'failed':>7}")
    for r in results:
        name = f"{r.clients} clients, {r.seconds:.0f} s"
        print(f"{name:<32} {r.transactions:>12} {r.tps:>8.0f} {r.latency_ms:>11.2f} {r.failed:>7}")
        print(f"  {cpu_text(r.cpu)}")
        for line in r.errors:
            print(f"  error: {line}")


def report_ceilings(
    tally: Server, drf: Server | None, runs: list[pgbench.Result], args: argparse.Namespace
) -> list[str]:
    """The ratio table and the targets; returns the SUMMARY's parts for them."""
    best = max(runs, key=lambda r: r.tps) if runs else None
    if drf is not None or best is not None:
        print(f"\n{'ceilings, same run':<46} {'Tally/s':>8} {'ceiling/s':>10} {'Tally / ceiling':>16}")
    ratios_drf: list[float] = []
    for clients, stats in tally.closed.items():
        if drf is not None and clients in drf.closed:
            ceiling = drf.closed[clients].rate
            ratio = stats.rate / ceiling if ceiling else math.nan
            ratios_drf.append(ratio)
            name = f"{clients} connections: plain DRF + ORM view"
            print(f"{name:<46} {stats.rate:>8.0f} {ceiling:>10.0f} {ratio:>16.2f}")
    for clients, stats in tally.closed.items():
        if best is not None and best.tps:
            name = f"{clients} connections: pgbench ({best.clients} clients)"
            print(f"{name:<46} {stats.rate:>8.0f} {best.tps:>10.0f} {stats.rate / best.tps:>16.2f}")
    low, high = min(args.clients), max(args.clients)
    span = f"{low}-{high} conns (worst)" if low != high else f"{low} conns"
    worst_rate = min(stats.rate for stats in tally.closed.values())
    rows = []
    if ratios_drf:
        worst = min(ratios_drf)
        rows.append((f"intake / plain DRF view, {span}", f"{worst:.2f}x", "≥ 2x", against(worst, 2)))
    rows.append((f"accepted events/s, {span}", f"{worst_rate:.0f}", "≥ 1,500", against(worst_rate, 1500)))
    if tally.opened is not None:
        p99 = tally.opened.ms(99)
        bound = "≥ " if tally.opened.unsent else ""  # dropped requests count at a lower bound
        verdict = against(p99, 50, at_most=True).replace("by ", f"by {bound}")
        rows.append((f"p99 at {args.rate:.0f} events/s, open loop", f"{bound}{p99:.0f} ms", "≤ 50 ms", verdict))
        if args.rate != 500:
            rows[-1] = (*rows[-1][:3], "target is at 500/s")
    workers = [mb for pid, mb in tally.peak_rss.items() if pid != tally.web.pid]
    if workers:
        peak = max(workers)
        rows.append(("peak RSS of a gunicorn worker", f"{peak:.0f} MB", "≤ 120 MB", against(peak, 120, at_most=True)))
    print(f"\n{'targets':<46} {'measured':>10} {'target':>10}")
    for name, measured, target, verdict in rows:
        print(f"{name:<46} {measured:>10} {target:>10}  {verdict}")
    parts = []
    if ratios_drf:
        parts.append(f"intake/DRF {min(ratios_drf):.2f}x (target 2x)")
    if best is not None and best.tps:
        parts.append(f"intake/pgbench {worst_rate / best.tps:.2f}x of {best.tps:.0f} tx/s")
    return parts


def main() -> int:
    args = parse_args()
    sys.setswitchinterval(0.0005)  # many I/O-bound client threads: hand the GIL over promptly
    started = time.perf_counter()
    preamble("intake benchmark", "bench/intake.py")

    database_recreate(args.database_url, keep=args.keep_db)
    env = server_env(args)
    manage(env, "migrate", "--noinput")
    tag = secrets.token_hex(4)
    token = secrets.token_urlsafe(24)
    django_setup(env)
    slugs = sources_create(tag, token)
    db = urlsplit(args.database_url).path.lstrip("/")
    workdir = Path(tempfile.mkdtemp(prefix="tally-bench-"))

    script_path = workdir / "intake.sql"
    if args.ceilings:
        found = pgbench.capture(slug=slugs["pgbench"], token=token, make_body=partial(event_body, tag))
        if found.status != 202:
            sys.exit(f"the captured intake answered {found.status}")
        script_path.write_text(pgbench.script(found, users=args.users))
        added = " (+ SELECT 1, the health check)" if found.health_check else ""
        print(f"pgbench script: {len(found.statements)} statements captured from one intake{added}")
        if args.show_script:
            print(script_path.read_text())
    from django.db import connections

    connections.close_all()

    numbers = itertools.count()
    web = start_gunicorn(env=env, log_dir=workdir, name="gunicorn", workers=args.workers, options=GUNICORN_OPTIONS)
    print(f"server: {shlex.join(web.argv)} ({args.workers} workers x {args.threads} threads, port {web.port})")
    tally = Server("Tally", Target(web.port, slugs["tally"], token, tag, args.users, args.units, args.timeout), web)
    if args.rate > 0:
        tally.opened = Stats()
    servers = [tally]
    drf: Server | None = None
    runs: list[pgbench.Result] = []
    try:
        if args.ceilings:
            # The same gunicorn command and settings; only the Django settings module differs.
            drf_env = {**env, "DJANGO_SETTINGS_MODULE": "bench.baselines.settings"}
            web = start_gunicorn(
                env=drf_env, log_dir=workdir, name="drf", workers=args.workers, options=GUNICORN_OPTIONS
            )
            print(f"baseline: the same, DJANGO_SETTINGS_MODULE=bench.baselines.settings (port {web.port})")
            target = Target(web.port, slugs["drf"], token, tag, args.users, args.units, args.timeout)
            drf = Server("plain DRF", target, web)
            servers.append(drf)
    except BaseException:
        tally.web.stop()
        raise
    load(servers, args, numbers, workdir, db)
    if args.ceilings:
        runs = pgbench_runs(args, script_path, db)

    print()
    print(f"{'run':<32} {'accepted':>8} {'events/s':>10} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'errors':>7}")
    for server in servers:
        report_server(server, args)
    errors: Counter[str] = Counter()
    for server in servers:
        errors.update({f"{server.label}: {message}": n for message, n in server.errors.items()})
    for message, count in errors.most_common(10):
        print(f"  error x{count}: {message}")
    same = all([consistent(server, args) for server in servers])
    if errors or not same:
        for server in servers:
            print(f"{server.label} gunicorn log (tail):\n{server.web.tail()}")
    if runs:
        report_pgbench(runs)
    ceilings = report_ceilings(tally, drf, runs, args)

    first = min(tally.closed)
    closed = tally.closed[first]
    summary = (
        f"SUMMARY: {closed.rate:.0f} accepted events/s closed-loop at {first} clients "
        f"(p99 {closed.ms(99):.1f} ms, {args.workers}x{args.threads} gthread)"
    )
    if tally.opened is not None:
        bound = "≥ " if tally.opened.unsent else ""
        summary += f"; p99 {bound}{tally.opened.ms(99):.1f} ms at {args.rate:.0f}/s open-loop"
    parts = [summary, *ceilings]
    pg_errors = sum(len(r.errors) + r.failed for r in runs)
    total = sum(errors.values()) + pg_errors
    print(f"{'; '.join(parts)}; {total} errors; {time.perf_counter() - started:.0f} s total")
    if not errors and same and not pg_errors:
        shutil.rmtree(workdir, ignore_errors=True)
        return 0
    print(f"logs kept in {workdir}")
    return 1


if __name__ == "__main__":
    sys.exit(main())
