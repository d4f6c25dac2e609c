"""One busy user: the 10,001st event of a user costs about what a new user's first does.

`make bench` runs it with the test environment. It recreates the database
`tally_bench_busy_user`, migrates it, creates a source with one destination
(so that every accepted event also builds the push's snapshot), and writes
10,000 maximal results (score = max_score = 9,999,999,999.99, the largest
the intake takes) for the user `busy` straight with SQL, with the summary
they add up to. Then it posts events through Tally's intake view in this
process (Django's test client: no HTTP, so only Tally's own work is timed),
alternating a new result of `busy` with one of `fresh`, who starts with
none, and compares the median time of each.

The target: `busy`'s median within 1.5x of `fresh`'s. Before pushes were
bounded (DELIVERY_MAX_RESULTS), each event of `busy` rebuilt a push listing
all 10,000 results. It also checks that the totals are exact (no overflow).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the project, as in intake.py

from intake import against, django_on_fresh_database, preamble

TARGET_RATIO = 1.5
MAX = Decimal("9999999999.99")

_RESULTS_SQL = """
INSERT INTO results_result (source_id, user_id, unit_id, title, course_id, score, max_score, passed,
    attempt, completed_at, counts, first_completed_at, last_completed_at, event_id, updated_at)
SELECT %(source)s, 'busy', 'seed-' || t, 'Test ' || t, 'c-1', %(max)s, %(max)s, true, 1,
    timestamptz '2026-01-01 00:00:00+00' + make_interval(mins => t), true,
    timestamptz '2026-01-01 00:00:00+00' + make_interval(mins => t),
    timestamptz '2026-01-01 00:00:00+00' + make_interval(mins => t), NULL, now()
FROM generate_series(1, %(results)s) AS t;
"""

_SUMMARY_SQL = """
INSERT INTO results_summary (source_id, user_id, user_email, user_name, organization, units_completed,
    units_passed, score_total, max_score_total, percent, first_activity_at, last_activity_at, version, updated_at)
SELECT %(source)s, 'busy', '', '', '', count(*), count(*), sum(score), sum(max_score), 100,
    min(completed_at), max(completed_at), 1, now()
FROM results_result WHERE source_id = %(source)s AND user_id = 'busy';
"""


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results", type=int, default=10_000, help="results `busy` starts with")
    parser.add_argument("--events", type=int, default=300, help="events timed per user")
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL", ""))
    return parser.parse_args()


def event(user: str, n: int) -> bytes:
    return json.dumps(
        {
            "id": f"evt-{user}-{n}",
            "type": "test.completed",
            "occurred_at": "2026-12-01T10:00:00Z",
            "data": {
                "user": {"id": user, "email": f"{user}@example.com", "name": user},
                "test": {"id": f"t-{n}", "title": f"Test {n}"},
                "score": float(MAX),  # 9999999999.99 exactly, as JSON writes it
                "max_score": float(MAX),
                "completed_at": f"2026-12-01T10:{n // 60 % 60:02d}:{n % 60:02d}Z",
            },
        }
    ).encode()


def main() -> int:
    args = parse_args()
    preamble("busy-user benchmark", "bench/busy_user.py")
    django_on_fresh_database(args.database_url, "tally_bench_busy_user", ALLOWED_HOSTS="testserver")
    from django.db import connection
    from django.test import Client

    from deliveries.destinations import destination_create
    from deliveries.models import Delivery
    from results.models import Summary
    from webhooks.sources import source_create

    source = source_create(slug="bench-busy", auth_mode="none", allowed_ips=["127.0.0.1/32"])
    destination_create(name="bench-busy", url="http://127.0.0.1:9/", source_slugs=["bench-busy"])
    with connection.cursor() as cursor:
        cursor.execute(_RESULTS_SQL, {"source": source.pk, "results": args.results, "max": MAX})
        cursor.execute(_SUMMARY_SQL, {"source": source.pk})
        cursor.execute("VACUUM ANALYZE results_result")
        cursor.execute("VACUUM ANALYZE results_summary")
    print(f"data: user `busy` holds {args.results:,} results of {MAX} each; user `fresh` none")

    client = Client()
    path = f"/api/v1/webhooks/{source.slug}/"
    times: dict[str, list[float]] = {"busy": [], "fresh": []}
    for _ in range(20):  # warm-up: connections, caches, plans
        client.get(path)
    for n in range(args.events):
        for user in ("busy", "fresh"):
            started = time.perf_counter()
            answer = client.post(path, event(user, n), content_type="application/json")
            times[user].append(time.perf_counter() - started)
            if answer.status_code != 202:
                sys.exit(f"{user} event {n}: {answer.status_code} {answer.content!r}")

    busy = Summary.objects.get(source=source, user_id="busy")
    expected = MAX * (args.results + args.events)
    exact = busy.score_total == expected and busy.units_completed == args.results + args.events
    snapshot = Delivery.objects.filter(source=source, user_id="busy").latest("id").snapshot
    listed = len(snapshot["results"])
    connection.close()

    median = {user: statistics.median(values) * 1000 for user, values in times.items()}
    p95 = {user: statistics.quantiles(values, n=20)[-1] * 1000 for user, values in times.items()}
    ratio = median["busy"] / median["fresh"]
    print(f"\n{'user':<40} {'median ms':>10} {'p95 ms':>8}")
    print(f"{'fresh (results 1..' + str(args.events) + ')':<40} {median['fresh']:>10.2f} {p95['fresh']:>8.2f}")
    label = f"busy (results {args.results + 1:,}..{args.results + args.events:,})"
    print(f"{label:<40} {median['busy']:>10.2f} {p95['busy']:>8.2f}")
    count, complete = snapshot["results_count"], snapshot["results_complete"]
    print(f"busy's push lists {listed} results of {count:,} (complete: {complete})")
    print(f"busy's score_total {busy.score_total} ({'exact' if exact else f'WRONG, expected {expected}'})")
    print(
        f"SUMMARY: one busy user: the event after {args.results:,} results costs {ratio:.2f}x a new user's "
        f"(target ≤ {TARGET_RATIO}x: {against(ratio, TARGET_RATIO, at_most=True)}); "
        f"totals {'exact' if exact else 'WRONG'}"
    )
    return 0 if exact else 1


if __name__ == "__main__":
    sys.exit(main())
