"""rows_claim: due rows in order, the ones another worker holds skipped, the lease written in the same transaction."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.contrib.auth.models import Group, User
from django.db import OperationalError, connection, transaction
from django.db.models import F, QuerySet, Value
from django.db.models.functions import Concat

from common.claims import rows_claim

# Locks only show between two connections, so the rows must be committed.
pytestmark = pytest.mark.django_db(transaction=True)

MARK = {"name": Concat(F("name"), Value("!"))}


@pytest.fixture
def rows() -> list[Group]:
    return [Group.objects.create(name=name) for name in ("c", "a", "e", "b", "d")]


def names() -> list[str]:
    return sorted(Group.objects.values_list("name", flat=True))


def elsewhere(work: Callable[[], Any]) -> Any:
    """Run `work` in another thread, and so on another database connection; return or raise what it did."""
    done: dict[str, Any] = {}

    def run() -> None:
        try:
            done["value"] = work()
        except Exception as exc:
            done["error"] = exc
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(10)
    if "error" in done:
        raise done["error"]
    return done.get("value")


def test_the_first_due_rows_are_taken_in_order_and_come_back_as_they_were_read(rows):
    taken = rows_claim(due=Group.objects.order_by("name"), lease=MARK, limit=2)

    assert [group.name for group in taken] == ["a", "b"]
    assert names() == ["a!", "b!", "c", "d", "e"]


def test_one_row_is_taken_unless_a_limit_says_otherwise(rows):
    assert [group.name for group in rows_claim(due=Group.objects.order_by("-name"), lease=MARK)] == ["e"]


def test_only_rows_of_the_query_are_taken(rows):
    taken = rows_claim(due=Group.objects.filter(name__in=["b", "d"]).order_by("name"), lease=MARK, limit=5)

    assert [group.name for group in taken] == ["b", "d"]
    assert names() == ["a", "b!", "c", "d!", "e"]


def test_nothing_due_takes_nothing_and_writes_nothing(rows):
    assert rows_claim(due=Group.objects.filter(name="z"), lease=MARK, limit=3) == []
    assert names() == ["a", "b", "c", "d", "e"]


def test_pick_chooses_among_the_first_scan_rows(rows):
    seen: list[list[str]] = []

    def vowels_and_d(free: list[Group]) -> list[Group]:
        seen.append([group.name for group in free])
        return [group for group in free if group.name in {"a", "d", "e"}]

    taken = rows_claim(due=Group.objects.order_by("name"), lease=MARK, limit=5, scan=4, pick=vowels_and_d)

    assert seen == [["a", "b", "c", "d"]]
    assert [group.name for group in taken] == ["a", "d"]
    assert names() == ["a!", "b", "c", "d!", "e"]


def test_no_more_than_limit_rows_are_taken_whatever_pick_returns(rows):
    taken = rows_claim(due=Group.objects.order_by("name"), lease=MARK, limit=2, scan=5, pick=lambda free: free)

    assert [group.name for group in taken] == ["a", "b"]
    assert names() == ["a!", "b!", "c", "d", "e"]


@pytest.fixture
def held(rows) -> Iterator[None]:
    """Row "a" locked by another worker's open transaction until the test is done."""
    locked, release = threading.Event(), threading.Event()

    def hold() -> None:
        try:
            with transaction.atomic():
                Group.objects.select_for_update().get(name="a")
                locked.set()
                release.wait(10)
        finally:
            connection.close()

    thread = threading.Thread(target=hold)
    thread.start()
    assert locked.wait(10)
    yield
    release.set()
    thread.join(10)


def lock_at_once(rows: QuerySet[Any]) -> list[Any]:
    with transaction.atomic():
        return list(rows.select_for_update(nowait=True))


def test_a_row_another_transaction_holds_is_passed_over_not_waited_for(held):
    taken = rows_claim(due=Group.objects.order_by("name"), lease=MARK, limit=2)

    assert [group.name for group in taken] == ["b", "c"]


def test_the_taken_rows_stay_locked_until_the_callers_transaction_ends_and_joined_rows_stay_free(db):
    ops = Group.objects.create(name="ops")
    user = User.objects.create(username="worker")
    user.groups.add(ops)

    with transaction.atomic():
        [taken] = rows_claim(due=User.objects.filter(groups__name="ops"), lease={"first_name": "claimed"})

        assert taken.pk == user.pk
        with pytest.raises(OperationalError, match="lock"):
            elsewhere(lambda: lock_at_once(User.objects.filter(pk=user.pk)))
        assert elsewhere(lambda: lock_at_once(Group.objects.filter(pk=ops.pk))) == [ops]
    assert User.objects.get(pk=user.pk).first_name == "claimed"
