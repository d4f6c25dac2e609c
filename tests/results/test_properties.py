"""Property: for any sequence of events, the kept summary equals a rebuild and a one-by-one model."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from results.models import Summary
from results.rebuild import summaries_rebuild
from tests.factories import BASE_TIME, completed, dumps, make_source, reset
from tests.strategies import UNITS, USERS, bodies, deleting, duplicate, resetting
from webhooks.services import event_receive


@dataclass
class Unit:
    at: datetime
    attempt: int
    is_counted: bool
    score: Decimal
    max_score: Decimal
    passed: bool


class Model:
    """The rules of SPEC §3, applied one event at a time, in plain Python."""

    def __init__(self) -> None:
        self.units: dict[tuple[str, str], Unit] = {}
        self.first: dict[str, datetime] = {}
        self.last: dict[str, datetime] = {}
        self.seen: set[str] = set()

    def apply(self, body: dict[str, Any]) -> None:
        if body["id"] in self.seen:
            return
        self.seen.add(body["id"])
        data = body["data"]
        user = data["user"]["id"]
        if body["type"] == "user.deleted":
            self.units = {k: v for k, v in self.units.items() if k[0] != user}
            self.first.pop(user, None)
            self.last.pop(user, None)
            return
        key = (user, data["test"]["id"])
        current = self.units.get(key)
        if body["type"] == "test.reset":
            at = datetime.fromisoformat(body["occurred_at"])
            if current is None:
                self.units[key] = Unit(at, 0, False, Decimal(0), Decimal(0), False)
            elif at >= current.at:
                current.at, current.is_counted = at, False
            return
        at = datetime.fromisoformat(data["completed_at"])
        self.first[user] = min(self.first.get(user, at), at)
        self.last[user] = max(self.last.get(user, at), at)
        new = Unit(at, data["attempt"], True, Decimal(str(data["score"])), Decimal(10), data["passed"])
        if current is None or (at, new.attempt) >= (current.at, current.attempt):
            self.units[key] = new

    def summary(self, user: str) -> tuple[Any, ...]:
        counted = [u for (owner, _), u in self.units.items() if owner == user and u.is_counted]
        score = sum((u.score for u in counted), Decimal("0.00"))
        maximum = sum((u.max_score for u in counted), Decimal("0.00"))
        percent = (score * 100 / maximum).quantize(Decimal("0.01"), ROUND_HALF_UP) if maximum else Decimal("0.00")
        return (
            len(counted),
            sum(1 for u in counted if u.passed),
            score,
            maximum,
            percent,
            self.first.get(user),
            self.last.get(user),
        )


completion = st.builds(
    lambda user, unit, minute, attempt, score, passed: completed(
        user=user, unit=unit, minutes=minute, attempt=attempt, score=float(score), passed=passed
    ),
    st.sampled_from(USERS),
    st.sampled_from(UNITS),
    st.integers(0, 6),
    st.integers(1, 2),
    st.decimals(min_value=0, max_value=10, places=2),
    st.booleans(),
)

operations = st.lists(
    st.one_of(completion, completion, completion, resetting, duplicate, deleting), min_size=1, max_size=25
)


@pytest.mark.django_db
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=operations)
def test_incremental_summaries_equal_rebuild_and_one_by_one_replay(ops):
    source = make_source()
    model = Model()
    for body in bodies(ops):
        event_receive(source=source, body=dumps(body), header_id=None)
        model.apply(body)

    for user in USERS:
        summary = Summary.objects.filter(source=source, user_id=user, deleted_at__isnull=True).first()
        expected = model.summary(user)
        if summary is None:
            assert expected[0] == 0
            continue
        actual = (
            summary.units_completed,
            summary.units_passed,
            summary.score_total,
            summary.max_score_total,
            summary.percent,
            summary.first_activity_at,
            summary.last_activity_at,
        )
        assert actual == expected

    report = summaries_rebuild(source_id=source.pk, check=True)
    assert (report.drifted, report.missing) == (0, 0), report.samples


def test_model_agrees_with_a_hand_worked_case():
    model = Model()
    model.apply(completed(event_id="1", score=4, minutes=0, passed=False))
    model.apply(completed(event_id="2", score=9, minutes=5, attempt=2))
    model.apply(completed(event_id="3", score=1, minutes=1))
    model.apply(reset(event_id="4", unit="b", minutes=2))

    assert model.summary("u-42")[:5] == (1, 1, Decimal("9"), Decimal("10"), Decimal("90.00"))
    assert model.summary("u-42")[5] == BASE_TIME + timedelta(minutes=0)
