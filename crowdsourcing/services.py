"""Settling a PYBOSSA task: its runs fetched, the consensus written back, each contributor credited."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from crowdsourcing.analysis import AnalysisError, analyse
from crowdsourcing.client import PybossaClient, PybossaPermanentError, PybossaTransientError
from crowdsourcing.consensus import contributor
from crowdsourcing.selectors import TaskHistory
from notifications.services import admin_link, alert_raise
from results.models import Result
from results.services import Completion, UserRef, result_record_completion, result_record_reset
from webhooks.adapters.pybossa import RERUN_SEPARATOR, TASK_COMPLETED, task_key
from webhooks.models import Event, Source

logger = logging.getLogger(__name__)

# Longer than the settle task's hard time limit, so a lock never expires under a live settlement.
LOCK_SECONDS = 330
# An accepted event whose task the analysis did not settle (no quorum): nothing written back, nobody credited.
NOT_SETTLED = "pybossa_not_settled"
SUPERSEDED = "pybossa_superseded"
ONE = Decimal(1)
ZERO = Decimal(0)


class NoTaskRunsError(PybossaTransientError):
    """PYBOSSA says the task is completed but lists none of its runs: tried again, never settled as empty."""

    code = "pybossa_no_task_runs"


@dataclass(frozen=True)
class TaskRef:
    project_id: int
    task_id: int
    result_id: int


def client_for(source: Source, *, max_sleep: float | None = None) -> PybossaClient:
    return PybossaClient(base_url=source.pybossa_url, api_key=source.pybossa_api_key, max_sleep=max_sleep)


def unit_id(ref: TaskRef) -> str:
    return f"pybossa:{ref.project_id}:{ref.task_id}"


def _task_ref(event: Event) -> TaskRef:
    body = json.loads(event.body)
    return TaskRef(project_id=body["project_id"], task_id=body["task_id"], result_id=body["result_id"])


def _finished(run: dict[str, object], default: datetime) -> datetime:
    value = run.get("finish_time")
    try:
        parsed = parse_datetime(value) if isinstance(value, str) else None
    except ValueError:  # well-formed but impossible, such as 30 February
        parsed = None
    if parsed is None:
        return default
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def contributions_record(
    *, source: Source, event: Event, ref: TaskRef, runs: list[dict[str, object]], verdicts: Mapping[str, bool]
) -> None:
    """One result per contributor for the task's unit: score 1 and passed when they matched the consensus.

    Recorded through the same path as native events, so summaries, versions
    and pushes follow; a later settlement of the same task replaces these.
    """
    finished: dict[str, datetime] = {}
    for run in runs:
        who = contributor(run)
        at = _finished(run, event.received_at)
        finished[who] = max(at, finished.get(who, at))
    for who, matched in sorted(verdicts.items()):
        result_record_completion(
            source_id=source.pk,
            event_id=event.pk,
            completion=Completion(
                user=UserRef(id=who),
                unit_id=unit_id(ref),
                score=ONE if matched else ZERO,
                max_score=ONE,
                passed=matched,
                attempt=1,
                completed_at=finished[who],
                title=f"Task {ref.task_id} of project {ref.project_id}",
            ),
        )
    # A contributor whose run is gone since the last settlement no longer counts for the task.
    gone = (
        Result.objects.filter(source=source, unit_id=unit_id(ref), is_counted=True)
        .exclude(user_id__in=list(verdicts))
        .values_list("user_id", flat=True)
    )
    for who in list(gone):
        result_record_reset(
            source_id=source.pk, event_id=event.pk, user_id=who, unit_id=unit_id(ref), reset_at=timezone.now()
        )


def event_settle(
    *,
    event_id: int,
    client: PybossaClient | None = None,
    task: dict[str, object] | None = None,
    alert: bool = True,
) -> str:
    """Settle one `processing` event; returns its status.

    Raises PybossaTransientError (NoTaskRunsError among them) to be tried
    again, and PybossaRateLimited to be tried once PYBOSSA's window ends.
    `client` (default: one for the source) and `task` (already read, as by a
    backfill) save calls; `alert=False` fails an event without an alert.
    """
    event = Event.objects.select_related("source").get(pk=event_id)
    if event.status != Event.Status.PROCESSING:
        return event.status  # settled already: a redelivered task does nothing
    source = event.source
    ref = _task_ref(event)
    with task_lock(source=source, ref=ref):
        return _settle(event=event, source=source, ref=ref, client=client or client_for(source), task=task, alert=alert)


@contextmanager
def task_lock(*, source: Source, ref: TaskRef) -> Iterator[None]:
    """One settlement of a task at a time, from fetching its runs to recording its credits.

    Each settlement reads the task's runs as they are when it holds the lock,
    so the one that records last records the newest runs: an older settlement
    can never write over a newer re-run's consensus.
    """
    key = f"pybossa:settling:{source.pk}:{ref.project_id}:{ref.task_id}"
    token = uuid.uuid4().hex
    if not cache.add(key, token, timeout=LOCK_SECONDS):
        raise PybossaTransientError(f"task {ref.task_id} is being settled by another worker")
    try:
        yield
    finally:
        if cache.get(key) == token:
            cache.delete(key)


def _settle(
    *, event: Event, source: Source, ref: TaskRef, client: PybossaClient, task: dict[str, object] | None, alert: bool
) -> str:
    try:
        if task is None or task.get("id") != ref.task_id:
            task = client.task(ref.task_id)
        if task.get("project_id") != ref.project_id:
            raise PybossaPermanentError(
                f"task {ref.task_id} belongs to project {task.get('project_id')}, not {ref.project_id}"
            )
        # A result is made from the runs the task had then (pybossa/model/event_listeners.py
        # create_result: `task_run_ids`). Once the owner raises n_answers, the task completes
        # again into a new result, and a re-send of the old webhook names the old one: it is
        # analysed from its own runs, and only the latest result credits contributors.
        result = client.result(ref.result_id)
        if result.get("task_id") != ref.task_id:
            raise PybossaPermanentError(f"result {ref.result_id} is not a result of task {ref.task_id}")
        own = result.get("task_run_ids")
        superseded = result.get("last_version") is False
        runs = client.task_runs(ref.task_id)
        if isinstance(own, list) and own:
            runs = [run for run in runs if run.get("id") in set(own)]
        if not runs:
            # A completed task has runs: an empty list is PYBOSSA not showing them (an older
            # PYBOSSA scoping lists to the key's own projects, a replica behind), never "no answers".
            raise NoTaskRunsError(
                f"PYBOSSA listed no task runs for completed task {ref.task_id} of project {ref.project_id} "
                "(asked with all=1; does the API key's user still own or co-own the project?)"
            )
        try:
            analysis = analyse(source=source, task=task, runs=runs)
        except AnalysisError as exc:
            return event_fail(event_id=event.pk, error=str(exc), code="pybossa_analysis_failed", alert=alert)
        if analysis.info is not None:
            client.result_put_info(ref.result_id, analysis.info)
    except PybossaPermanentError as exc:
        return event_fail(event_id=event.pk, error=str(exc), code=f"pybossa_{exc.status or 'refused'}", alert=alert)
    with transaction.atomic():
        locked = Event.objects.select_for_update().get(pk=event.pk)
        if locked.status != Event.Status.PROCESSING:
            return locked.status
        locked.status, locked.processed_at = Event.Status.ACCEPTED, timezone.now()
        if analysis.info is None:
            # Not settled (no quorum): nothing written back, credits left as they are.
            locked.error_code, locked.error_detail = NOT_SETTLED, {"reason": analysis.reason}
        elif superseded:
            reason = (
                f"result {ref.result_id} was superseded by a newer result of task {ref.task_id}: its own "
                f"{len(runs)} runs were analysed and written back; the newer result credits contributors"
            )
            locked.error_code, locked.error_detail = SUPERSEDED, {"reason": reason}
        else:
            contributions_record(source=source, event=event, ref=ref, runs=runs, verdicts=analysis.verdicts)
            locked.error_code, locked.error_detail = "", None
        locked.save(update_fields=["status", "processed_at", "error_code", "error_detail"])
    logger.info(
        "pybossa task settled" if analysis.info is not None else "pybossa task not settled",
        extra={"source": source.slug, "task": ref.task_id, "runs": len(runs), "reason": analysis.reason},
    )
    return Event.Status.ACCEPTED


def event_fail(*, event_id: int, error: str, code: str = "pybossa_unreachable", alert: bool = True) -> str:
    """Give up on an event: it ends `failed` with the error, and one alert names the source, task and answer.

    `alert=False` (a backfill, which reports its failures itself) raises none.
    """
    with transaction.atomic():
        event = Event.objects.select_for_update().select_related("source").get(pk=event_id)
        if event.status != Event.Status.PROCESSING:
            return event.status
        event.status, event.processed_at = Event.Status.FAILED, timezone.now()
        event.error_code, event.error_detail = code, error[:2000]
        event.save(update_fields=["status", "processed_at", "error_code", "error_detail"])
    if not alert:
        return Event.Status.FAILED
    ref = _task_ref(event)
    alert_raise(
        fingerprint=f"pybossa_failed:{event.source.slug}:{ref.task_id}",
        title=f"PYBOSSA task {ref.task_id} of {event.source.slug} could not be settled",
        details={"source": event.source.slug, "project": ref.project_id, "task": ref.task_id, "error": error},
        admin_url=admin_link(event),
    )
    return Event.Status.FAILED


def event_for_task(*, source: Source, ref: TaskRef, rerun: bool, history: TaskHistory | None) -> Event | None:
    """A `processing` event for a task found by a backfill; None when it is settled or being settled (unless rerun).

    `history` is the task's, from `task_histories`: its latest event decides,
    whether the webhook, a re-send with `?rerun=True` or a backfill made it.
    A task whose latest settlement failed is tried again.
    """
    body = {"event": TASK_COMPLETED, "project_id": ref.project_id, "task_id": ref.task_id, "result_id": ref.result_id}
    key = task_key(ref.project_id, ref.task_id, ref.result_id)
    if history is not None:
        if history.latest in (Event.Status.ACCEPTED, Event.Status.PROCESSING) and not rerun:
            return None  # settled, or being settled
        if history.first_key_taken:
            key = f"{key}{RERUN_SEPARATOR}backfill-{timezone.now():%Y%m%dT%H%M%S%f}"
    try:
        with transaction.atomic():
            return Event.objects.create(
                source=source,
                idempotency_key=key,
                type=TASK_COMPLETED,
                status=Event.Status.PROCESSING,
                body=json.dumps(body),
                received_at=timezone.now(),
            )
    except IntegrityError:
        return None  # its webhook arrived meanwhile: that event settles it


def events_stuck(*, older_than: timedelta) -> list[int]:
    """Events still `processing` that came longer ago than `older_than`."""
    cutoff = timezone.now() - older_than
    stuck = Event.objects.filter(status=Event.Status.PROCESSING, received_at__lt=cutoff).order_by("pk")
    return list(stuck.values_list("pk", flat=True)[:1000])
