"""Intake payload validation benchmark: the cost per call of validating a native `test.completed` body.

No server and no database: a typical body (the shape bench/intake.py posts) is
decoded once, as the intake does (`parse_float=Decimal`), and validated again
and again. Prints, for each way, the median over `--repeat` rounds of `--number`
calls each (after one warm-up round), in µs per call:

- per call: a plain nested DRF serializer (the envelope with `data` nested),
  instantiated for every call and checked with `is_valid()`, then turned into
  a Completion; this is how a serializer is usually used, and every call
  builds its bound fields again;
- prebuilt: `webhooks.adapters.parse_event` as the intake calls it, which
  validates with serializer instances whose fields were built once, at import;
- fields only: building the per-call serializer's fields (nested ones too)
  without validating anything, the cost the prebuilt form saves.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("DEBUG", "true")

import django

django.setup()

import rest_framework  # noqa: E402
from intake import code_version  # noqa: E402

from webhooks.adapters import parse_event  # noqa: E402
from webhooks.adapters.base import prebuilt  # noqa: E402
from webhooks.adapters.native import EnvelopeSerializer, TestCompletedSerializer  # noqa: E402
from webhooks.models import Source  # noqa: E402
from webhooks.services import body_parse  # noqa: E402

BODY = (
    b'{"id": "evt_bench_1", "type": "test.completed", "occurred_at": "2026-11-22T10:00:00Z",'
    b' "data": {"user": {"id": "u-42", "email": "u-42@example.com", "name": "User 42"},'
    b' "organization": "org-3",'
    b' "test": {"id": "t-7", "title": "Test 7", "course_id": "c-1"},'
    b' "score": 8, "max_score": 10, "passed": true, "attempt": 1, "completed_at": "2026-11-22T09:59:30Z"}}'
)


class CompletedEventSerializer(EnvelopeSerializer):
    """The whole `test.completed` body as one nested serializer, as DRF is usually used."""

    data = TestCompletedSerializer()  # type: ignore[assignment]  # the metaclass takes fields off the class


def median_us(run: Callable[[], object], *, number: int, repeat: int) -> float:
    """Median µs per call of `run`, over `repeat` rounds of `number` calls, after one warm-up round."""
    rounds = []
    for _ in range(repeat + 1):
        started = time.perf_counter()
        for _ in range(number):
            run()
        rounds.append((time.perf_counter() - started) / number * 1e6)
    return statistics.median(rounds[1:])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--number", type=int, default=2000, help="calls per round")
    parser.add_argument("--repeat", type=int, default=15, help="rounds (the median is reported)")
    args = parser.parse_args()

    payload = body_parse(BODY)
    source = Source(slug="bench", kind=Source.Kind.NATIVE, pass_ratio=Decimal("0.5"))
    to_action = TestCompletedSerializer().to_action
    expected = parse_event(source, payload, header_id=None)

    def per_call() -> object:
        serializer = CompletedEventSerializer(data=payload)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        return to_action(data["data"], occurred_at=data.get("occurred_at"), pass_ratio=source.pass_ratio)

    def prebuilt_call() -> object:
        return parse_event(source, payload, header_id=None)

    def fields_only() -> object:
        return prebuilt(CompletedEventSerializer())

    assert per_call() == expected.action, "both ways must give the same Completion"

    print(f"intake payload validation: {' '.join(sys.argv)}")
    print(
        f"code {code_version()}, {os.cpu_count()} CPUs, {datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC,"
        f" Python {platform.python_version()}, Django {django.__version__}, DRF {rest_framework.__version__}"
    )
    print(f"median of {args.repeat} rounds of {args.number} calls\n")
    results = [
        ("per call: nested serializer, is_valid()", median_us(per_call, number=args.number, repeat=args.repeat)),
        ("prebuilt: parse_event", median_us(prebuilt_call, number=args.number, repeat=args.repeat)),
        ("fields only: building per-call fields", median_us(fields_only, number=args.number, repeat=args.repeat)),
    ]
    print(f"{'way':<42} {'µs/call':>8}")
    for name, micros in results:
        print(f"{name:<42} {micros:>8.1f}")
    print(f"\nper call / prebuilt: {results[0][1] / results[1][1]:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
