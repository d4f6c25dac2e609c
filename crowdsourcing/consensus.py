"""The most voted answer of a task's runs: a pure function, so it is tested exhaustively."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any


def canonical(answer: Any) -> str:
    """An answer as canonical JSON: equal answers, whatever their key order, give equal text."""
    return json.dumps(answer, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def contributor(run: dict[str, Any]) -> str:
    """Who gave a task run: the PYBOSSA user id, else `ext:<external_uid>`, else `ip:<address>`.

    pybossa/model/task_run.py: `user_id` is set for a signed-in user, `user_ip`
    for an anonymous one, `external_uid` for a user of an external site (a run
    may carry only that, with user_id and user_ip null).
    """
    if run.get("user_id") is not None:
        return str(run["user_id"])
    if run.get("external_uid") not in (None, ""):
        return f"ext:{run['external_uid']}"
    return f"ip:{run.get('user_ip') or 'unknown'}"


@dataclass(frozen=True)
class Consensus:
    answer: Any
    votes: list[tuple[str, int]]  # (canonical answer, count), most voted first
    task_runs: int
    agreement: Decimal
    tie: bool
    matches: dict[str, bool]  # contributor -> whether their (latest) answer is the consensus

    def info(self) -> dict[str, Any]:
        """What Tally writes into the PYBOSSA result's `info`."""
        return {
            "consensus": self.answer,
            "votes": [{"answer": json.loads(text), "count": count} for text, count in self.votes],
            "task_runs": self.task_runs,
            "agreement": float(self.agreement),
            "tie": self.tie,
            "contributors": sorted(self.matches),
            "analysed_by": "tally",
        }


def consensus(runs: list[dict[str, Any]]) -> Consensus:
    """Most votes wins; a tie goes to the smallest canonical JSON text, the same every time, and is flagged."""
    counts = Counter(canonical(run.get("info")) for run in runs)
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    if not ranked:
        return Consensus(None, [], 0, Decimal(0), False, {})
    winner, top = ranked[0]
    tie = len(ranked) > 1 and ranked[1][1] == top
    latest: dict[str, str] = {}
    for run in sorted(runs, key=lambda run: run.get("id") or 0):
        latest[contributor(run)] = canonical(run.get("info"))
    agreement = (Decimal(top) / Decimal(len(runs))).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)
    return Consensus(
        answer=json.loads(winner),
        votes=ranked,
        task_runs=len(runs),
        agreement=agreement,
        tie=tie,
        matches={who: answer == winner for who, answer in latest.items()},
    )
