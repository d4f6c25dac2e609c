"""PYBOSSA's webhook body: {"fired_at", "project_short_name", "project_id", "task_id", "result_id", "event"}.

A `task_completed` webhook asks Tally to settle that task after the request:
fetch its task runs, write the consensus into PYBOSSA's result, credit each
contributor. PYBOSSA re-sends a webhook with `?rerun=True` to have a task
settled again; that is a new event, never a duplicate.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from rest_framework.exceptions import ValidationError

from webhooks.adapters.base import (
    ParsedEvent,
    PayloadInvalid,
    PayloadSerializer,
    Settle,
    dotted_errors,
    json_object,
    prebuilt,
)
from webhooks.adapters.fields import TextField, TimestampField, WholeNumberField

if TYPE_CHECKING:
    from webhooks.models import Source

TASK_COMPLETED = "task_completed"
# pybossa/jobs.py `webhook()` re-sends with `params['rerun'] = True`, which requests writes `rerun=True`.
RERUN_VALUES = {"true", "1", "yes"}
# A re-run's key is the task's key, this, and something unique: `1:7:1007:rerun:<hex>`.
RERUN_SEPARATOR = ":rerun:"


class PybossaBodySerializer(PayloadSerializer):
    """The body PYBOSSA posts when a task is completed."""

    project_id = WholeNumberField()
    task_id = WholeNumberField()
    result_id = WholeNumberField()
    event = TextField(max_length=100)
    project_short_name = TextField(max_length=255, required=False)
    fired_at = TimestampField(required=False)


# Built once and shared by all requests and threads: see the note in base.py.
_BODY = prebuilt(PybossaBodySerializer())


def task_key(project_id: int, task_id: int, result_id: int) -> str:
    """The idempotency key of a task's (first) settlement."""
    return f"{project_id}:{task_id}:{result_id}"


def parse(payload: Any, *, source: Source, header_id: str | None, query: Mapping[str, str]) -> ParsedEvent:
    """Validate a PYBOSSA webhook and key it by project, task and result; every bad field is named."""
    try:
        body = _BODY.run_validation(json_object(payload))
    except ValidationError as exc:
        raise PayloadInvalid(dotted_errors(exc.detail)) from None
    key = task_key(body["project_id"], body["task_id"], body["result_id"])
    if str(query.get("rerun", "")).lower() in RERUN_VALUES:
        # Each re-run is a settlement of its own: a new key, so never a duplicate.
        key = f"{key}{RERUN_SEPARATOR}{uuid.uuid4().hex[:16]}"
    if body["event"] != TASK_COMPLETED:
        return ParsedEvent(key=key, type=body["event"], action=None)
    return ParsedEvent(
        key=key,
        type=body["event"],
        action=Settle(project_id=body["project_id"], task_id=body["task_id"], result_id=body["result_id"]),
    )
