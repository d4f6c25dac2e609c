"""The analysis of a PYBOSSA task's runs, chosen per source: majority, quorum, or a callable of the project's own.

An analysis takes the task (PYBOSSA's task object) and its runs (PYBOSSA's
task-run objects, each with its `info`, `user_id`, `user_ip`, `external_uid`)
and returns an `Analysis`: the `info` Tally writes into the task's PYBOSSA
result and, for each contributor, whether their answer passes. An `info` of
None means the task is not settled (nothing is written, nobody is credited).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from django.db import DatabaseError
from django.utils.module_loading import import_string

from crowdsourcing.consensus import consensus, contributor
from webhooks.models import Source
from webhooks.sources import analysis_module_allowed

__all__ = ["Analysis", "AnalysisError", "analyse", "contributor", "majority", "quorum"]

Analyser = Callable[[dict[str, Any], list[dict[str, Any]]], Any]


class AnalysisError(Exception):
    """The source's analysis failed or answered something Tally cannot store: the event fails, with this reason."""


@dataclass(frozen=True)
class Analysis:
    info: dict[str, Any] | None  # what goes into the PYBOSSA result; None: not settled
    verdicts: Mapping[str, bool] = field(default_factory=dict)  # contributor id -> passed
    reason: str = ""  # why it is not settled, when it is not


def majority(task: dict[str, Any], runs: list[dict[str, Any]]) -> Analysis:
    """The most voted answer; a contributor passes when their latest answer is it."""
    outcome = consensus(runs)
    return Analysis(info={**outcome.info(), "analysis": "majority"}, verdicts=outcome.matches)


def quorum(task: dict[str, Any], runs: list[dict[str, Any]], *, needed: int) -> Analysis:
    """Settled only when at least `needed` runs give the same answer: then as majority, with the quorum noted."""
    outcome = consensus(runs)
    top = outcome.votes[0][1] if outcome.votes else 0
    if top < needed:
        n_answers = task.get("n_answers")
        hint = (
            f"; the task's n_answers is {n_answers}, below the quorum"
            if isinstance(n_answers, int) and n_answers < needed
            else ""
        )
        return Analysis(
            info=None,
            reason=f"no quorum: the most given answer has {top} of the {needed} runs needed "
            f"({outcome.task_runs} runs){hint}",
        )
    return Analysis(info={**outcome.info(), "analysis": "quorum", "quorum": needed}, verdicts=outcome.matches)


def _checked(answer: Any, *, name: str, runs: list[dict[str, Any]]) -> Analysis:
    """What a project's callable returned, as an Analysis: an Analysis, or an (info, verdicts) pair."""
    if isinstance(answer, tuple) and len(answer) == 2:
        answer = Analysis(info=answer[0], verdicts=answer[1])
    if not isinstance(answer, Analysis):
        raise AnalysisError(f"{name} returned {type(answer).__name__}, not an Analysis or an (info, verdicts) pair")
    if answer.info is not None:
        if not isinstance(answer.info, dict):
            raise AnalysisError(f"{name} returned an info that is a {type(answer.info).__name__}, not a dict")
        try:
            json.dumps(answer.info)
        except (TypeError, ValueError) as exc:
            raise AnalysisError(f"{name} returned an info that is not JSON: {exc}") from None
    if not isinstance(answer.verdicts, Mapping):
        raise AnalysisError(f"{name} returned verdicts that are not a mapping of contributor to bool")
    known = {contributor(run) for run in runs}
    for who, passed in answer.verdicts.items():
        if who not in known:
            raise AnalysisError(
                f"{name} gave a verdict for {who!r}, who gave no run (see crowdsourcing.analysis.contributor)"
            )
        if not isinstance(passed, bool):
            raise AnalysisError(f"{name} gave {who!r} the verdict {passed!r}, not True or False")
    if answer.info is None and answer.verdicts:
        raise AnalysisError(f"{name} gave verdicts for a task it did not settle (info None)")
    return answer


def analyse(*, source: Source, task: dict[str, Any], runs: list[dict[str, Any]]) -> Analysis:
    """Run the source's analysis on a task's runs (there is at least one)."""
    chosen = source.pybossa_analysis or Source.Analysis.MAJORITY
    if chosen == Source.Analysis.MAJORITY:
        return majority(task, runs)
    if chosen == Source.Analysis.QUORUM:
        if not source.pybossa_quorum:
            raise AnalysisError("the quorum analysis needs pybossa_quorum")
        return quorum(task, runs, needed=source.pybossa_quorum)
    if not analysis_module_allowed(chosen):  # the list changed since the source was saved
        raise AnalysisError(f"the analysis {chosen!r} is not in a module PYBOSSA_ANALYSIS_MODULES allows")
    try:
        analyser: Analyser = import_string(chosen)
    except ImportError as exc:
        raise AnalysisError(f"the analysis {chosen!r} does not import: {exc}") from None
    try:
        answer = analyser(task, runs)
    except (SoftTimeLimitExceeded, DatabaseError):
        raise  # the worker's time or the database, not the analysis: the task's own retries decide
    except Exception as exc:
        raise AnalysisError(f"{chosen} raised {type(exc).__name__}: {exc}") from None
    return _checked(answer, name=chosen, runs=runs)
