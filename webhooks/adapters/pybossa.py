"""PYBOSSA's webhook body: {"fired_at", "project_short_name", "project_id", "task_id", "result_id", "event"}.

Only the envelope is checked and keyed here; fetching task runs and computing
the consensus is the PYBOSSA worker's job, which is not built yet, so these
events are stored as `ignored` for now (see docs/intake.md).
"""

from __future__ import annotations

from typing import Any

from webhooks.adapters.base import FieldErrors, ParsedEvent, PayloadInvalid, read_datetime, read_string


def _read_id(errors: FieldErrors, payload: dict[str, Any], key: str) -> int | None:
    value: object = payload.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        errors.add(key, "Expected a whole number." if value is not None else "This field is required.")
        return None
    return value


def parse(payload: Any, *, header_id: str | None) -> ParsedEvent:
    if not isinstance(payload, dict):
        raise PayloadInvalid({"non_field_errors": ["Expected a JSON object."]})
    errors = FieldErrors()
    project_id = _read_id(errors, payload, "project_id")
    task_id = _read_id(errors, payload, "task_id")
    result_id = _read_id(errors, payload, "result_id")
    event = read_string(errors, payload, "event", max_length=100)
    read_datetime(errors, payload, "fired_at", required=False)
    errors.raise_if_any()
    return ParsedEvent(key=f"{project_id}:{task_id}:{result_id}", type=str(event), action=None)
