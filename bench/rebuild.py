"""rebuild_summaries benchmark: 50,000 users x 20 results, every summary wrong, rebuilt and checked.

`make bench` runs it with the test environment. It recreates the database
`tally_bench_rebuild`, migrates it, and writes one source's results straight
with SQL (`generate_series`: users x units rows, a quarter of them failed, one
in twenty reset), plus a summary per user holding zeros, so that every summary
has drifted, and vacuums both tables (as autovacuum would after such a load). Then it times, as an operator runs them:

- `manage.py rebuild_summaries` (every summary fixed, versions bumped), with
  no destination, and again after zeroing the summaries with one destination,
  so that every fixed summary also queues a push (`--with-destination`);
- `manage.py rebuild_summaries --check` (no drift left).

It checks that each fixed summary equals an aggregate computed independently
in SQL, prints each run's time against the 10 s target, and exits 1 on a
mismatch.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the project, as in intake.py

from intake import against, django_on_fresh_database, preamble

TARGET_SECONDS = 10.0

_RESULTS_SQL = """
INSERT INTO results_result (source_id, user_id, unit_id, title, course_id, score, max_score, passed,
    attempt, completed_at, counts, first_completed_at, last_completed_at, event_id, updated_at)
SELECT %(source)s, 'u-' || u, 't-' || t, 'Test ' || t, 'c-1', (u + t) %% 11, 10, (u + t) %% 4 <> 0, 1,
    timestamptz '2026-11-01 00:00:00+00' + make_interval(mins => u %% 1000 + t),
    (u * 20 + t) %% 20 <> 7,
    timestamptz '2026-11-01 00:00:00+00' + make_interval(mins => u %% 1000 + t),
    timestamptz '2026-11-01 00:00:00+00' + make_interval(mins => u %% 1000 + t),
    NULL, now()
FROM generate_series(1, %(users)s) AS u, generate_series(1, %(units)s) AS t;
"""

_SUMMARIES_SQL = """
INSERT INTO results_summary (source_id, user_id, user_email, user_name, organization, units_completed,
    units_passed, score_total, max_score_total, percent, version, updated_at)
SELECT %(source)s, 'u-' || u, '', '', '', 0, 0, 0, 0, 0, 1, now() FROM generate_series(1, %(users)s) AS u;
"""

_ZERO_SQL = """
UPDATE results_summary SET units_completed = 0, units_passed = 0, score_total = 0, max_score_total = 0,
    percent = 0, first_activity_at = NULL, last_activity_at = NULL;
"""

# Recomputed independently of results/rebuild.py: the rows that still differ after a rebuild.
_WRONG_SQL = """
SELECT count(*) FROM results_summary s
JOIN (
    SELECT source_id, user_id, count(*) FILTER (WHERE counts) AS done,
        count(*) FILTER (WHERE counts AND passed) AS passed,
        coalesce(sum(score) FILTER (WHERE counts), 0) AS score,
        coalesce(sum(max_score) FILTER (WHERE counts), 0) AS maximum
    FROM results_result GROUP BY source_id, user_id
) r ON r.source_id = s.source_id AND r.user_id = s.user_id
WHERE (s.units_completed, s.units_passed, s.score_total, s.max_score_total) <> (r.done, r.passed, r.score, r.maximum)
"""


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=50_000)
    parser.add_argument("--units", type=int, default=20)
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL", ""))
    return parser.parse_args()


def timed_command(env: dict[str, str], *argv: str) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "manage.py", *argv], env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"manage.py {' '.join(argv)} failed:\n{done.stdout}\n{done.stderr}")
    return seconds, done.stdout.strip().splitlines()[-1]


def main() -> int:
    args = parse_args()
    preamble("rebuild benchmark", "bench/rebuild.py")
    env = django_on_fresh_database(args.database_url, "tally_bench_rebuild")
    from django.db import connection

    from deliveries.destinations import destination_create
    from webhooks.sources import source_create

    source = source_create(slug="bench-rebuild", auth_mode="none", allowed_ips=["127.0.0.1/32"]).pk
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(_RESULTS_SQL, {"source": source, "users": args.users, "units": args.units})
        cursor.execute(_SUMMARIES_SQL, {"source": source, "users": args.users})
    with connection.cursor() as cursor:  # what autovacuum does after a bulk load, done now rather than mid-run
        cursor.execute("VACUUM ANALYZE results_result")
        cursor.execute("VACUUM ANALYZE results_summary")
    rows = args.users * args.units
    print(
        f"data: {args.users:,} users x {args.units} results = {rows:,} results, written in "
        f"{time.perf_counter() - started:.1f} s; every summary holds zeros"
    )

    runs: list[tuple[str, float, str]] = []
    seconds, line = timed_command(env, "rebuild_summaries")
    runs.append(("rebuild_summaries, no destination", seconds, line))
    seconds, line = timed_command(env, "rebuild_summaries", "--check")
    runs.append(("rebuild_summaries --check (no drift)", seconds, line))
    with connection.cursor() as cursor:
        cursor.execute(_WRONG_SQL)
        wrong = cursor.fetchone()[0]
        cursor.execute(_ZERO_SQL)
    destination_create(name="bench-rebuild", url="http://127.0.0.1:9/", source_slugs=["bench-rebuild"])
    seconds, line = timed_command(env, "rebuild_summaries")
    runs.append(("rebuild_summaries, 1 destination (queues pushes)", seconds, line))
    with connection.cursor() as cursor:
        cursor.execute(_WRONG_SQL)
        wrong += cursor.fetchone()[0]
        cursor.execute("SELECT count(*) FROM deliveries_delivery")
        queued = cursor.fetchone()[0]
    connection.close()

    print(f"\n{'run':<50} {'seconds':>8} {'target':>8}")
    for name, seconds, line in runs:
        print(f"{name:<50} {seconds:>8.1f} {'≤ 10 s':>8}  {against(seconds, TARGET_SECONDS, at_most=True)}")
        print(f"  {line}")
    print(f"pushes queued by the rebuild with a destination: {queued:,}")
    print(f"summaries that differ from an independent aggregate after the rebuilds: {wrong}")
    worst = max(seconds for _, seconds, _ in runs)
    print(
        f"SUMMARY: rebuild_summaries over {args.users:,} x {args.units}: worst {worst:.1f} s (target 10 s: "
        f"{against(worst, TARGET_SECONDS, at_most=True)}); {wrong} wrong"
    )
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
