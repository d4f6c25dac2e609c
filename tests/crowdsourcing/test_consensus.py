"""The consensus of a task's runs: most votes, canonical JSON, deterministic ties."""

from __future__ import annotations

from decimal import Decimal

from crowdsourcing.consensus import consensus


def run(n, answer, user=None, ip=None):
    return {"id": n, "user_id": user if user is not None or ip else n, "user_ip": ip, "info": answer}


def test_the_most_voted_answer_wins_and_answers_compare_as_canonical_json():
    runs = [run(1, {"a": 1, "b": 2}), run(2, {"b": 2, "a": 1}), run(3, {"a": 2})]

    outcome = consensus(runs)

    assert outcome.answer == {"a": 1, "b": 2}
    assert outcome.votes == [('{"a":1,"b":2}', 2), ('{"a":2}', 1)]
    assert (outcome.task_runs, outcome.agreement, outcome.tie) == (3, Decimal("0.6667"), False)
    assert outcome.matches == {"1": True, "2": True, "3": False}


def test_a_tie_goes_to_the_same_answer_whatever_the_order_and_is_flagged():
    forward = [run(1, "dog"), run(2, "cat"), run(3, "emu"), run(4, "cat"), run(5, "dog")]

    outcomes = [consensus(forward), consensus(list(reversed(forward)))]

    assert [o.answer for o in outcomes] == ["cat", "cat"]
    assert all(o.tie for o in outcomes)
    assert outcomes[0].info()["votes"] == [
        {"answer": "cat", "count": 2},
        {"answer": "dog", "count": 2},
        {"answer": "emu", "count": 1},
    ]


def test_anonymous_contributors_are_known_by_address_and_a_repeat_counts_its_latest_answer():
    runs = [run(1, "cat", ip="10.0.0.9"), run(2, "dog", user=7), run(3, "cat", user=7), run(4, "cat", user=8)]

    outcome = consensus(runs)

    assert outcome.matches == {"ip:10.0.0.9": True, "7": True, "8": True}
    assert outcome.info()["contributors"] == ["7", "8", "ip:10.0.0.9"]


def test_no_runs_is_no_consensus():
    outcome = consensus([])

    assert (outcome.answer, outcome.task_runs, outcome.matches) == (None, 0, {})
