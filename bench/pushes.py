"""Deliveries benchmark: outbox throughput against a one-POST-per-task baseline, and end-to-end latency.

Run with the test environment (see bench/README.md):

    env $(TEST_ENV) .venv/bin/python bench/pushes.py

It recreates the database `tally_bench_deliveries`, migrates it, starts its
own redis-server as the Celery broker on a free port, and a receiver on
127.0.0.1 that answers 200 at once and records when each push arrives.

1. Outbox throughput: N summaries (one event each for N users) are applied
   in this process with `webhooks.services.event_receive`, so N pending
   deliveries and the commits' wake-ups wait in the broker. Then a real
   `celery -A config worker --concurrency=2` starts and `deliver_due` pushes
   them (claims in batches, concurrent POSTs over pooled connections, one
   Attempt recorded per push). Rate = pushes / (last arrival - first).
2. Baseline: the same N bodies as one Celery message each for
   `bench.baseline_tasks.post_one`, one signed POST per task, on a fresh
   worker with the same command: first with a new `requests.post` (new TCP
   connection) per message, then with a module-level `requests.Session`.
3. End to end: gunicorn (as bench/intake.py starts it), a worker with beat
   embedded, and events posted through the HTTP intake at a fixed rate, each
   for a different user, then in bursts of several events per user. Latency
   runs from the intake's 202 (and from the scheduled send time) to the
   arrival at the receiver of a push carrying that user's version.

A sample of pushes is verified with the `standardwebhooks` library. Exit
status 1 if pushes are missing, an intake answer was not 202, or a sampled
signature does not verify. Everything started is stopped at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import math
import os
import secrets
import shutil
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the project, as in intake.py

from intake import (
    GUNICORN_OPTIONS,
    Connection,
    CpuMeter,
    against,
    cpu_text,
    database_recreate,
    event_body,
    intake_request,
    manage,
    peak_rss_mb,
    percentile,
    preamble,
    run_threads,
    server_env,
)

from tests.servers import (
    HOST,
    Handler,
    LoopbackServer,
    Process,
    RedisServer,
    Web,
    Worker,
    poll,
    start_gunicorn,
    start_worker,
)

BASELINE_TASK = "bench.baseline_tasks.post_one"
# The targets: A at least 1.5x the naive one-POST-per-task baseline B, 1.2x its pooled variant B'.
RATIO_TARGETS = {"B": 1.5, "B'": 1.2}
OK_RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok"
DATABASE_URL = f"postgres://postgres@{HOST}:5432/tally_bench_deliveries"
SAMPLE_EVERY = 97  # verify every 97th push's signature (and the first)


# --- Receiver ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Arrival:
    at: float  # time.perf_counter() when the body was read, just before answering 200
    webhook_id: str
    user: str
    version: int


class Receiver(LoopbackServer):
    """The client's server: answers 200 at once, records each push; signatures are checked on a sample."""

    backlog: ClassVar[int] = 256  # every pooled connection of both worker processes at once

    def __init__(self) -> None:
        super().__init__("/hooks")
        self.arrivals: list[Arrival] = []
        self.samples: list[tuple[dict[str, str], bytes]] = []
        self.lock = threading.Lock()
        self.start()

    def handle(self, request: Handler) -> None:
        body = request.body()
        at = time.perf_counter()
        try:
            data = json.loads(body)["data"]
            user, version = str(data["user"]["id"]), int(data["version"])
        except (ValueError, KeyError, TypeError):
            user, version = "", -1
        arrival = Arrival(at, request.headers.get("webhook-id") or "", user, version)
        with self.lock:
            if len(self.arrivals) % SAMPLE_EVERY == 0:
                self.samples.append(({k.lower(): v for k, v in request.headers.items()}, body))
            self.arrivals.append(arrival)
        request.wfile.write(OK_RESPONSE)  # status line, headers and body in one segment

    def since(self, start: int) -> list[Arrival]:
        with self.lock:
            return self.arrivals[start:]

    def count(self) -> int:
        with self.lock:
            return len(self.arrivals)

    def verify_samples(self, secret: str) -> tuple[int, int]:
        from standardwebhooks.webhooks import Webhook, WebhookVerificationError

        verified = 0
        with self.lock:
            samples = list(self.samples)
        for headers, body in samples:
            try:
                Webhook(secret).verify(body, headers)
                verified += 1
            except (WebhookVerificationError, ValueError):
                pass
        return verified, len(samples)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# --- Processes -----------------------------------------------------------------------------------


def broker_queued(url: str, queue: str) -> int:
    import redis

    return int(redis.Redis.from_url(url).llen(queue))


def worker_start(ctx: Context, name: str, *, beat: bool = False) -> Worker:
    """A worker as every run here starts it, its CPU counted as `worker`.

    Nothing waits for it to be ready: at LOG_LEVEL=WARNING it says nothing
    then, and the runs time the pushes' arrivals, not the start.
    """
    worker = start_worker(
        env=ctx.env,
        log_dir=ctx.workdir,
        name=name,
        beat=beat,
        concurrency=ctx.args.concurrency,
        queues="deliveries,deliveries_retry,celery",
        include=["bench.baseline_tasks"],
        wait=False,
    )
    ctx.meter.groups[worker.pid] = "worker"
    return worker


def stop(process: Process) -> None:
    """Stop a process group started here, and SIGKILL what outlived its leader (pool children)."""
    process.stop()
    process.kill()


def worker_stop(ctx: Context, worker: Worker) -> None:
    peaks = peak_rss_mb(worker.pid)
    if peaks:
        ctx.worker_rss[worker.name] = max(peaks.values())
    stop(worker)
    del ctx.meter.groups[worker.pid]


# --- CPU accounting ------------------------------------------------------------------------------


def user_key(user: int) -> str:
    return f"u-{user}"


# --- Throughput ----------------------------------------------------------------------------------


@dataclass
class Throughput:
    name: str
    count: int = 0  # distinct webhook ids that arrived
    first: float = math.nan
    last: float = math.nan
    started: float = math.nan  # when the worker was started
    cpu: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def seconds(self) -> float:
        return self.last - self.first

    @property
    def rate(self) -> float:
        return (self.count - 1) / self.seconds if self.count > 1 and self.seconds > 0 else math.nan


def await_pushes(
    receiver: Receiver,
    meter: CpuMeter,
    results: dict[str, Throughput],
    expected: int,
    start: int,
    timeout: float,
) -> None:
    """Follow arrivals from index `start`, by webhook-id prefix, until each result has `expected` ids.

    CPU is measured from the first push of all to the moment the last result is complete.
    """
    seen: dict[str, set[str]] = {prefix: set() for prefix in results}
    before: dict[str, float] | None = None
    began = 0.0

    def complete() -> bool:
        nonlocal start, before, began
        fresh = receiver.since(start)
        start += len(fresh)
        for arrival in fresh:
            prefix = arrival.webhook_id.partition("_")[0]
            if prefix not in results:
                continue
            result = results[prefix]
            if not seen[prefix]:
                result.first = arrival.at
                if before is None:
                    before, began = meter.sample(), time.perf_counter()
            if arrival.webhook_id not in seen[prefix]:
                seen[prefix].add(arrival.webhook_id)
                result.last = arrival.at
        for prefix, ids in seen.items():
            results[prefix].count = len(ids)
        return all(len(ids) >= expected for ids in seen.values())

    poll(complete, timeout=timeout, interval=0.005)
    if before is not None:
        cpu = CpuMeter.usage(before, meter.sample(), time.perf_counter() - began)
        for result in results.values():
            result.cpu = cpu


def database_commits() -> int:
    """Committed transactions in the bench database so far (pg_stat_database, updated within ~0.5 s)."""
    from django.db import connection

    time.sleep(0.6)  # the statistics collector's flush interval
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute("SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()")
        row = cursor.fetchone()
    return int(row[0]) if row else 0


def run_outbox(ctx: Context, count: int) -> Throughput:
    """Throughput A: N pending deliveries, then a fresh worker running Tally's `deliver_due`."""
    from deliveries.models import Attempt, Delivery
    from webhooks.services import event_receive

    result = Throughput("A  outbox: deliver_due (batched claims, concurrent pooled POSTs)")
    started = time.perf_counter()
    for i in range(count):
        outcome = event_receive(source=ctx.source, body=event_body(ctx.tag, i, i, 0), header_id=None)
        if outcome.status != "accepted":
            sys.exit(f"preload: event {i} was {outcome.status}")
    preload = time.perf_counter() - started
    pending = Delivery.objects.filter(status=Delivery.Status.PENDING).count()
    wakes = broker_queued(ctx.broker_url, "deliveries")
    print(f"  preload: {count} events in {preload:.1f} s in-process ({count / preload:.0f}/s), {pending} pending")
    print(f"  deliver_due messages waiting in the broker: {wakes}")
    mark = ctx.receiver.count()
    result.started = time.perf_counter()
    worker = worker_start(ctx, "outbox")
    commits = database_commits()
    try:
        await_pushes(ctx.receiver, ctx.meter, {"dlv": result}, count, mark, ctx.args.timeout)
        # A push is done when its attempt is recorded: wait for the last records too.
        delivered = Delivery.objects.filter(status=Delivery.Status.DELIVERED)
        counts: list[int] = []  # one a poll; each poll's query is a commit of the bench's own

        def recorded_all() -> bool:
            counts.append(delivered.count())
            return counts[-1] >= count

        poll(recorded_all, timeout=ctx.args.timeout, interval=0.01)
        done, polls = counts[-1], len(counts)
        recorded = time.perf_counter() - result.first
    finally:
        worker_stop(ctx, worker)
    commits = database_commits() - commits - polls
    durations = [float(d) for d in Attempt.objects.values_list("duration_ms", flat=True)]
    result.notes += [
        f"{done} recorded delivered {recorded:.2f} s after the first push ({done / recorded:.0f}/s); "
        f"{len(durations)} attempts; {wakes} deliver_due wake-up(s) were queued",
        f"POST as the worker timed it (Attempt.duration_ms): p50 {percentile(durations, 50):.0f} ms, "
        f"p99 {percentile(durations, 99):.0f} ms; about {commits / max(done, 1):.1f} database commits per push",
    ]
    if result.count < count:
        result.notes.append(f"worker log (tail):\n{worker.tail()}")
    return result


def run_baseline(ctx: Context, count: int) -> list[Throughput]:
    """Throughput B: the same bodies, one Celery message and one POST each, on a fresh worker."""
    from config.celery_app import app
    from deliveries.models import Delivery
    from deliveries.outbox import push_body

    rows = Delivery.objects.select_related("source").filter(status=Delivery.Status.DELIVERED).order_by("pk")
    bodies = [push_body(row).decode() for row in rows[:count]]
    variants = {
        "new": ("bnew", False, "B  plain task, new requests.post per message"),
        "pooled": ("bpool", True, "B' plain task, module-level requests.Session"),
    }
    chosen = ["new", "pooled"] if ctx.args.baseline == "both" else [ctx.args.baseline]
    results: dict[str, Throughput] = {}
    started = time.perf_counter()
    for key in chosen:
        prefix, pooled, name = variants[key]
        results[prefix] = Throughput(name)
        for i, body in enumerate(bodies):
            msg_id = f"{prefix}_{i}"
            args = [ctx.receiver.url, ctx.secret, msg_id, body, pooled]
            app.send_task(BASELINE_TASK, args=args, queue="celery")
    queued = broker_queued(ctx.broker_url, "celery")
    print(f"  queued {queued} baseline messages in {time.perf_counter() - started:.1f} s")
    mark = ctx.receiver.count()
    worker = worker_start(ctx, "baseline")
    for result in results.values():
        result.started = time.perf_counter()
    try:
        if ctx.args.baseline == "both":
            # One after the other through one queue: measure each on its own.
            await_pushes(ctx.receiver, ctx.meter, {"bnew": results["bnew"]}, len(bodies), mark, ctx.args.timeout)
            mark = next(
                (i for i, a in enumerate(ctx.receiver.since(0)) if a.webhook_id.startswith("bpool_")),
                ctx.receiver.count(),
            )
            await_pushes(ctx.receiver, ctx.meter, {"bpool": results["bpool"]}, len(bodies), mark, ctx.args.timeout)
        else:
            await_pushes(ctx.receiver, ctx.meter, results, len(bodies), mark, ctx.args.timeout)
    finally:
        worker_stop(ctx, worker)
    for result in results.values():
        if result.count < len(bodies):
            result.notes.append(f"worker log (tail):\n{worker.tail()}")
    return list(results.values())


# --- End to end ----------------------------------------------------------------------------------


@dataclass
class Sent:
    n: int
    user: int
    unit: int
    scheduled: float
    answered: float = math.nan
    status: int = 0
    error: str = ""


@dataclass
class EndToEnd:
    name: str
    rate: float
    events: list[Sent]
    from_answer: list[float] = field(default_factory=list)  # seconds
    from_schedule: list[float] = field(default_factory=list)
    pushes: int = 0
    users: int = 0
    missing: int = 0
    out_of_order: int = 0
    achieved: float = 0.0
    cpu: dict[str, float] = field(default_factory=dict)

    @property
    def accepted(self) -> list[Sent]:
        return [e for e in self.events if e.status == 202]

    @property
    def errors(self) -> Counter[str]:
        return Counter(e.error or f"HTTP {e.status}" for e in self.events if e.status != 202)


def open_loop(ctx: Context, events: list[Sent], connections: int) -> float:
    """Send each event at its scheduled time over keep-alive connections; returns the elapsed seconds."""
    slots = itertools.count()

    def client() -> None:
        conn = Connection(ctx.port, 30)
        while (i := next(slots)) < len(events):
            event = events[i]
            if (wait := event.scheduled - time.perf_counter()) > 0:
                time.sleep(wait)
            body = event_body(ctx.tag, event.n, event.user, event.unit)
            try:
                event.status, body = conn.request(intake_request(ctx.slug, ctx.token, body))
            except OSError as exc:
                conn.close()
                event.error = f"{type(exc).__name__}: {exc}"
                continue
            event.answered = time.perf_counter()
            if event.status != 202:
                event.error = f"HTTP {event.status}: {body[:200].decode(errors='replace')}"
        conn.close()

    return run_threads([client] * connections)


def schedule(first_n: int, user_base: int, rate: float, duration: float, burst: int) -> list[Sent]:
    """`burst` consecutive events per user (1: every event a new user), each for another unit."""
    start = time.perf_counter() + 0.1
    total = int(rate * duration)
    return [Sent(first_n + i, user_base + i // burst, i % burst, start + i / rate) for i in range(total)]


def final_versions(events: list[Sent]) -> dict[str, tuple[int, float, float]]:
    """Per user: the version its accepted events lead to, the last 202 and the last scheduled send."""
    found: dict[str, tuple[int, float, float]] = {}
    for event in events:
        if event.status != 202:
            continue
        key = user_key(event.user)
        version, answered, scheduled = found.get(key, (0, -math.inf, -math.inf))
        found[key] = (version + 1, max(answered, event.answered), max(scheduled, event.scheduled))
    return found


def await_versions(receiver: Receiver, targets: dict[str, tuple[int, float, float]], start: int, timeout: float) -> int:
    """Wait until each user's final version has arrived; returns how many have not."""
    waiting = {user: version for user, (version, _, _) in targets.items()}

    def arrived() -> bool:
        nonlocal start
        fresh = receiver.since(start)
        start += len(fresh)
        for arrival in fresh:
            if waiting.get(arrival.user, math.inf) <= arrival.version:
                del waiting[arrival.user]
        return not waiting

    poll(arrived, timeout=timeout, interval=0.02)
    return len(waiting)


def run_end_to_end(ctx: Context, name: str, first_n: int, user_base: int, burst: int, duration: float) -> EndToEnd:
    events = schedule(first_n, user_base, ctx.args.rate, duration, burst)
    run = EndToEnd(name, ctx.args.rate, events)
    mark = ctx.receiver.count()
    before = ctx.meter.sample()
    elapsed = open_loop(ctx, events, ctx.args.connections)
    run.cpu = CpuMeter.usage(before, ctx.meter.sample(), elapsed)
    run.achieved = len(run.accepted) / elapsed
    targets = final_versions(events)
    run.users = len(targets)
    run.missing = await_versions(ctx.receiver, targets, mark, ctx.args.drain)
    by_user: dict[str, list[Arrival]] = defaultdict(list)
    for arrival in ctx.receiver.since(mark):
        if arrival.user in targets:
            by_user[arrival.user].append(arrival)
    for user, (version, answered, scheduled) in targets.items():
        arrivals = by_user.get(user, [])
        run.pushes += len(arrivals)
        versions = [a.version for a in arrivals]
        # At least once: a repeated push repeats its version; a lower one after a higher is a fault.
        run.out_of_order += sum(1 for a, b in itertools.pairwise(versions) if b < a)
        reached = next((a.at for a in arrivals if a.version >= version), None)
        if reached is not None:
            run.from_answer.append(reached - answered)
            run.from_schedule.append(reached - scheduled)
    return run


def warm_up(ctx: Context, web: Web, worker: Worker, timeout: float) -> None:
    """A few events through the whole path, so that every process has its connections and imports."""
    events = schedule(30_000_000, 900_000, 20, 1.5, 1)
    mark = ctx.receiver.count()
    open_loop(ctx, events, 4)
    if any(e.status != 202 for e in events):
        errors = Counter(e.error for e in events if e.status != 202)
        sys.exit(f"warm-up events were refused: {errors.most_common(3)}\n{web.tail()}")
    if missing := await_versions(ctx.receiver, final_versions(events), mark, timeout):
        sys.exit(f"warm-up: {missing} pushes never arrived\n{worker.tail()}")


# --- Context and report --------------------------------------------------------------------------


@dataclass
class Context:
    args: argparse.Namespace
    env: dict[str, str]
    workdir: Path
    receiver: Receiver
    meter: CpuMeter
    broker_url: str
    tag: str
    slug: str
    token: str
    secret: str
    source: Any  # webhooks.models.Source, imported once Django is set up
    port: int = 0
    worker_rss: dict[str, float] = field(default_factory=dict)  # worker name -> peak RSS (MB) of its biggest process


def django_setup(env: dict[str, str]) -> None:
    """Configure Django in this process with the servers' environment (the preload runs here)."""
    os.environ.update(env)
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    import django

    django.setup()


def ms(values: list[float], p: float) -> str:
    return f"{percentile(values, p) * 1000:.0f}" if values else "-"


def report_throughput(results: list[Throughput]) -> None:
    print(f"\n{'throughput':<68} {'pushes':>7} {'seconds':>8} {'pushes/s':>9}")
    for result in results:
        print(f"{result.name:<68} {result.count:>7} {result.seconds:>8.2f} {result.rate:>9.0f}")
        if result.cpu:
            print(f"  {cpu_text(result.cpu)}")
        for note in result.notes:
            print(f"  {note}")


def report_memory(ctx: Context) -> None:
    if not ctx.worker_rss:
        return
    peak = max(ctx.worker_rss.values())
    shown = ", ".join(f"{name} {mb:.0f}" for name, mb in ctx.worker_rss.items())
    print(f"\npeak RSS of a Celery worker process, MB: {shown}")
    print(f"{'peak RSS of a Celery worker process':<46} {f'{peak:.0f} MB':>10} {'≤ 200 MB':>10}  ", end="")
    print(against(peak, 200, at_most=True))


def report_ratios(results: list[Throughput]) -> None:
    outbox = next((r for r in results if r.name.startswith("A ")), None)
    if outbox is not None:
        print(f"\n{'delivery ratios, same run':<46} {'measured':>10} {'target':>10}")
        for other in results:
            if other is not outbox and other.rate > 0:
                name = other.name.split()[0]
                ratio, target = outbox.rate / other.rate, RATIO_TARGETS[name]
                row = f"A / {name} ({other.name.split(',')[1].strip()})"
                print(f"{row:<46} {ratio:>9.2f}x {f'≥ {target}x':>10}  {against(ratio, target)}")


def report_end_to_end(runs: list[EndToEnd]) -> None:
    print(
        f"\n{'end to end':<34} {'events':>6} {'users':>6} {'pushes':>6} {'missing':>7} "
        f"{'p50/p95/p99 ms from 202':>24} {'from schedule':>16}"
    )
    for run in runs:
        answer = "/".join(ms(run.from_answer, p) for p in (50, 95, 99))
        sched = "/".join(ms(run.from_schedule, p) for p in (50, 95, 99))
        print(
            f"{run.name:<34} {len(run.accepted):>6} {run.users:>6} {run.pushes:>6} {run.missing:>7} "
            f"{answer:>24} {sched:>16}"
        )
        print(f"  intake {run.rate:.0f}/s scheduled, {run.achieved:.0f}/s accepted; {cpu_text(run.cpu)}")
        if run.out_of_order:
            print(f"  OUT OF ORDER: {run.out_of_order} pushes carried a lower version than the one before")
        for message, count in run.errors.most_common(5):
            print(f"  error x{count}: {message}")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add = parser.add_argument
    add("--messages", type=int, default=2000, help="throughput: pushes (distinct users); default 2000")
    add("--concurrency", type=int, default=2, help="celery worker processes (--concurrency); default 2")
    add("--delivery-concurrency", type=int, help="DELIVERY_CONCURRENCY, pushes per task at once; default 16")
    add("--baseline", choices=["both", "new", "pooled"], default="both", help="baseline variants; default both")
    add("--rate", type=float, default=200, help="end to end: intake events/s; default 200")
    add("--duration", type=float, default=12, help="end to end, one user per event: seconds; default 12")
    add("--burst", type=int, default=4, help="end to end, second run: events per user; default 4")
    add("--burst-duration", type=float, default=6, help="seconds of the burst run; default 6 (0 skips it)")
    add("--connections", type=int, default=32, help="end to end: intake connections (threads); default 32")
    add("--workers", type=int, default=2, help="gunicorn workers (WEB_CONCURRENCY); default 2")
    add("--threads", type=int, default=4, help="gunicorn threads per worker (GUNICORN_THREADS); default 4")
    add("--only", choices=["throughput", "e2e"], help="run one part only")
    add("--timeout", type=float, default=60, help="seconds to wait for one throughput run's pushes; default 60")
    add("--drain", type=float, default=30, help="seconds to wait for the last pushes after a load; default 30")
    add(
        "--database-url",
        default=os.environ.get("BENCH_DELIVERIES_DATABASE_URL", DATABASE_URL),
    )
    add("--redis-url", default=os.environ.get("BENCH_DELIVERIES_REDIS_URL", "redis://127.0.0.1:6379/9"))
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    sys.setswitchinterval(0.0005)  # client and receiver threads: hand the GIL over promptly
    began = time.perf_counter()
    preamble("deliveries benchmark", "bench/pushes.py")

    workdir = Path(tempfile.mkdtemp(prefix="tally-bench-deliveries-"))
    broker = RedisServer()  # the Celery broker, so that queue lengths and leftovers are this run's only
    started: list[Process] = []
    receiver = Receiver()
    throughput: list[Throughput] = []
    e2e: list[EndToEnd] = []
    signatures = (0, 0)
    try:
        database_recreate(args.database_url, keep=False)
        broker_process = broker.start()
        args.broker_url = broker_url = broker.url
        tag = secrets.token_hex(4)
        env = server_env(args)
        env.update(
            DELIVERY_ALLOW_PRIVATE_NETWORKS="true",  # the receiver is on loopback
            CACHE_KEY_PREFIX=f"tally-bench-{tag}",  # wake-up flags of this run only
            TELEGRAM_BOT_TOKEN="",  # alerts stay in the database
            TELEGRAM_CHAT_IDS="",
        )
        if args.delivery_concurrency:
            env["DELIVERY_CONCURRENCY"] = str(args.delivery_concurrency)
        manage(env, "migrate", "--noinput")
        django_setup(env)
        from deliveries.destinations import destination_create
        from webhooks.sources import source_create

        slug, token = f"bench-{tag}", secrets.token_urlsafe(24)
        source = source_create(slug=slug, auth_mode="token", token=token)
        destination = destination_create(name=f"receiver-{tag}", url=receiver.url, source_slugs=[slug])
        meter = CpuMeter(urlsplit(args.database_url).path.lstrip("/"), {broker_process.pid: "broker"})
        ctx = Context(args, env, workdir, receiver, meter, broker_url, tag, slug, token, destination.secret, source)
        print(f"receiver {receiver.url}, broker {broker_url}, database {meter.database}, workdir {workdir}")

        if args.only in (None, "throughput"):
            print(f"\nthroughput: {args.messages} pushes, worker --concurrency={args.concurrency}")
            throughput.append(run_outbox(ctx, args.messages))
            print(f"  A: {throughput[-1].rate:.0f} pushes/s")
            throughput += run_baseline(ctx, args.messages)
            for result in throughput[1:]:
                print(f"  {result.name.split()[0]}: {result.rate:.0f} pushes/s")

        if args.only in (None, "e2e"):
            web = start_gunicorn(
                env=env, log_dir=workdir, name="gunicorn", workers=args.workers, options=GUNICORN_OPTIONS
            )
            started.append(web)
            meter.groups[web.pid] = "gunicorn"
            ctx.port = web.port
            worker = worker_start(ctx, "e2e", beat=True)
            started.append(worker)
            warm_up(ctx, web, worker, timeout=60)
            served = f"gunicorn {args.workers}x{args.threads} on port {ctx.port}"
            print(f"\nend to end: {args.rate:.0f} events/s through {served}")
            e2e.append(run_end_to_end(ctx, "one event per user", 10_000_000, 1_000_000, 1, args.duration))
            print(f"  one event per user: {len(e2e[-1].accepted)} events, {e2e[-1].missing} missing")
            if args.burst_duration > 0 and args.burst > 1:
                name = f"{args.burst} events per user (final ver.)"
                e2e.append(run_end_to_end(ctx, name, 20_000_000, 2_000_000, args.burst, args.burst_duration))
                print(f"  {name}: {len(e2e[-1].accepted)} events, {e2e[-1].missing} missing")
        signatures = receiver.verify_samples(destination.secret)
    finally:
        for process in reversed(started):
            stop(process)
        broker.stop()
        receiver.close()
        with contextlib.suppress(Exception):
            from django.db import connections

            connections.close_all()

    if throughput:
        report_throughput(throughput)
        report_ratios(throughput)
    if e2e:
        report_end_to_end(e2e)
    report_memory(ctx)
    verified, sampled = signatures
    print(f"\nsignatures: {verified} of {sampled} sampled pushes verified with standardwebhooks")
    missing = sum(r.missing for r in e2e) + sum(max(0, args.messages - r.count) for r in throughput)
    errors = sum(sum(r.errors.values()) for r in e2e)
    disorder = sum(r.out_of_order for r in e2e)
    parts = []
    if throughput:
        outbox, *baselines = throughput
        ratios = ", ".join(
            f"A/{name} {ratio:.2f} (target {RATIO_TARGETS[name]}: {against(ratio, RATIO_TARGETS[name])})"
            for b in baselines
            if b.rate > 0 and (name := b.name.split()[0]) and (ratio := outbox.rate / b.rate)
        )
        parts.append(f"A {outbox.rate:.0f} pushes/s ({ratios})")
    for run in e2e:
        p50, p99 = ms(run.from_answer, 50), ms(run.from_answer, 99)
        parts.append(f"{run.name}: p50 {p50} ms, p99 {p99} ms at {run.rate:.0f}/s")
    parts.append(f"{missing} missing, {errors} intake errors, {time.perf_counter() - began:.0f} s total")
    print("SUMMARY: " + "; ".join(parts))
    ok = not missing and not errors and not disorder and sampled > 0 and verified == sampled
    if ok:
        shutil.rmtree(workdir, ignore_errors=True)
    else:
        print(f"logs kept in {workdir}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
