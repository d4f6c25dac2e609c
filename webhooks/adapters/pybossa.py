"""PYBOSSA's webhook body: {"fired_at", "project_short_name", "project_id", "task_id", "result_id", "event"}.

Only the envelope is checked and keyed here; fetching task runs and computing
the consensus is the PYBOSSA worker's job, which is not built yet, so these
events are stored as `ignored` for now (see docs/intake.md).
"""

from __future__ import annotations

from typing import Any

from rest_framework.exceptions import ValidationError

from webhooks.adapters.base import ParsedEvent, PayloadInvalid, PayloadSerializer, dotted_errors, json_object, prebuilt
from webhooks.adapters.fields import TextField, TimestampField, WholeNumberField


class PybossaBodySerializer(PayloadSerializer):
    """The body PYBOSSA posts when a task is completed."""

    project_id = WholeNumberField()
    task_id = WholeNumberField()
    result_id = WholeNumberField()
    event = TextField(max_length=100)
    fired_at = TimestampField(required=False)


# Built once and shared by all requests and threads: see the note in base.py.
_BODY = prebuilt(PybossaBodySerializer())


def parse(payload: Any, *, header_id: str | None) -> ParsedEvent:
    """Validate a PYBOSSA webhook and key it by project, task and result; every bad field is named."""
    try:
        body = _BODY.run_validation(json_object(payload))
    except ValidationError as exc:
        raise PayloadInvalid(dotted_errors(exc.detail)) from None
    return ParsedEvent(
        key=f"{body['project_id']}:{body['task_id']}:{body['result_id']}", type=body["event"], action=None
    )
