"""Payload validation of the intake: webhooks.adapters.parse_event, field by field.

Bodies are given as the intake's JSON decoder returns them: objects are
dicts, integers ints and other numbers Decimals (`parse_float=Decimal`).
"""

from __future__ import annotations

import copy
import json
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from results.services import Completion, UserRef
from tests.factories import BASE_TIME, completed, dumps, make_source, reset, user_deleted
from webhooks.adapters import Erase, ParsedEvent, PayloadInvalid, Reset, Settle, parse_event
from webhooks.adapters.base import json_int
from webhooks.models import Source
from webhooks.services import body_parse

NATIVE = Source(slug="native", kind=Source.Kind.NATIVE, pass_ratio=Decimal("0.8"))
PYBOSSA = Source(slug="pybossa", kind=Source.Kind.PYBOSSA)

REQUIRED = "This field is required."
NOT_A_STRING = "Expected a string."
NOT_AN_ID = "Expected a string or a whole number."
NOT_A_NUMBER = "Expected a number."
TOO_LARGE = "Too large: must be at most 9999999999.99."
NOT_AN_OBJECT = "Expected an object."
NOT_A_DATETIME = "Expected an ISO 8601 date-time, e.g. 2026-11-22T10:00:00Z."
NOT_AN_ATTEMPT = "Expected a whole number from 1 to 2147483647."
NO_ID = "Required: give the event an `id`, or send a `webhook-id` header."
NO_COMPLETED_AT = "Required when the event has no valid occurred_at: give either one."


def in_quotes(number: int) -> str:
    return f'Expected a string: put the number in quotes, e.g. "{number}".'


DROP = object()  # as a change: remove the field


def changed(body: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """A copy of `body` with each dotted path set to its value (or removed, for DROP)."""
    body = copy.deepcopy(body)
    for path, value in changes.items():
        *parents, name = path.split(".")
        target = body
        for parent in parents:
            target = target[parent]
        if value is DROP:
            target.pop(name, None)
        else:
            target[name] = value
    return body


def detail_of(source: Source, body: Any, header_id: str | None = None) -> dict[str, list[str]]:
    with pytest.raises(PayloadInvalid) as excinfo:
        parse_event(source, body, header_id=header_id)
    return excinfo.value.detail


def pybossa_body(**changes: Any) -> dict[str, Any]:
    body = {
        "fired_at": "2026-11-22 10:00:00",
        "project_short_name": "birds",
        "project_id": 12,
        "task_id": 345,
        "result_id": 6789,
        "event": "task_completed",
    }
    return changed(body, changes)


@pytest.mark.parametrize(
    ("body", "header_id", "expected"),
    [
        # The envelope
        pytest.param(changed(completed(), {"id": DROP}), None, {"id": [NO_ID]}, id="id-missing-no-header"),
        pytest.param(changed(completed(), {"id": ""}), None, {"id": [NO_ID]}, id="id-empty-no-header"),
        pytest.param(
            changed(completed(), {"id": "e" * 256}),
            None,
            {"id": ["At most 255 characters."]},
            id="id-too-long",
        ),
        pytest.param(changed(completed(), {"id": 7}), "msg_1", {"id": [in_quotes(7)]}, id="id-int-not-coerced"),
        pytest.param(changed(completed(), {"id": 5}), None, {"id": [in_quotes(5)]}, id="id-int-one-message"),
        pytest.param(changed(completed(), {"id": True}), None, {"id": [NOT_A_STRING]}, id="id-bool-one-message"),
        pytest.param(
            changed(completed(), {"id": "evt\x00"}), "msg_1", {"id": ["May not contain NUL characters."]}, id="id-nul"
        ),
        pytest.param(
            changed(completed(), {"id": DROP}),
            "m" * 256,
            {"id": ["At most 255 characters (the `webhook-id` header)."]},
            id="header-id-too-long",
        ),
        pytest.param(changed(completed(), {"type": DROP}), None, {"type": [REQUIRED]}, id="type-missing"),
        pytest.param(changed(completed(), {"type": None}), None, {"type": [REQUIRED]}, id="type-null"),
        pytest.param(changed(completed(), {"type": "  "}), None, {"type": ["May not be blank."]}, id="type-blank"),
        pytest.param(
            changed(completed(), {"type": "t" * 101}), None, {"type": ["At most 100 characters."]}, id="type-too-long"
        ),
        pytest.param(
            changed(completed(), {"type": ["test.completed"]}), None, {"type": [NOT_A_STRING]}, id="type-list"
        ),
        pytest.param(
            changed(completed(), {"occurred_at": "yesterday"}),
            None,
            {"occurred_at": [NOT_A_DATETIME]},
            id="occurred_at-not-iso",
        ),
        pytest.param(
            changed(completed(), {"occurred_at": 1763805600}),
            None,
            {"occurred_at": [NOT_A_DATETIME]},
            id="occurred_at-int",
        ),
        pytest.param(changed(completed(), {"data": DROP}), None, {"data": [REQUIRED]}, id="data-missing"),
        pytest.param(changed(completed(), {"data": [1]}), None, {"data": [NOT_AN_OBJECT]}, id="data-list"),
        # test.completed: the user
        pytest.param(changed(completed(), {"data.user": DROP}), None, {"data.user": [REQUIRED]}, id="user-missing"),
        pytest.param(changed(completed(), {"data.user": "u-42"}), None, {"data.user": [NOT_AN_OBJECT]}, id="user-str"),
        pytest.param(
            changed(completed(), {"data.user.id": DROP}), None, {"data.user.id": [REQUIRED]}, id="user.id-missing"
        ),
        pytest.param(
            changed(completed(), {"data.user.id": None}), None, {"data.user.id": [REQUIRED]}, id="user.id-null"
        ),
        pytest.param(
            changed(completed(), {"data.user.id": " "}),
            None,
            {"data.user.id": ["May not be blank."]},
            id="user.id-blank",
        ),
        pytest.param(
            changed(completed(), {"data.user.id": True}), None, {"data.user.id": [NOT_AN_ID]}, id="user.id-bool"
        ),
        pytest.param(
            changed(completed(), {"data.user.id": Decimal("4.2")}),
            None,
            {"data.user.id": [NOT_AN_ID]},
            id="user.id-decimal",
        ),
        pytest.param(
            changed(completed(), {"data.user.id": "u" * 256}),
            None,
            {"data.user.id": ["At most 255 characters."]},
            id="user.id-too-long",
        ),
        pytest.param(
            changed(completed(), {"data.user.email": "e" * 321}),
            None,
            {"data.user.email": ["At most 320 characters."]},
            id="user.email-too-long",
        ),
        pytest.param(
            changed(completed(), {"data.user.email": 5}), None, {"data.user.email": [in_quotes(5)]}, id="user.email-int"
        ),
        pytest.param(
            changed(completed(), {"data.user.name": "n" * 301}),
            None,
            {"data.user.name": ["At most 300 characters."]},
            id="user.name-too-long",
        ),
        pytest.param(
            changed(completed(), {"data.user.name": "A\x00"}),
            None,
            {"data.user.name": ["May not contain NUL characters."]},
            id="user.name-nul",
        ),
        pytest.param(
            changed(completed(), {"data.organization": "o" * 256}),
            None,
            {"data.organization": ["At most 255 characters."]},
            id="organization-too-long",
        ),
        # test.completed: the test
        pytest.param(changed(completed(), {"data.test": DROP}), None, {"data.test": [REQUIRED]}, id="test-missing"),
        pytest.param(changed(completed(), {"data.test": {}}), None, {"data.test.id": [REQUIRED]}, id="test-empty"),
        pytest.param(
            changed(completed(), {"data.test.title": "t" * 501}),
            None,
            {"data.test.title": ["At most 500 characters."]},
            id="test.title-too-long",
        ),
        pytest.param(
            changed(completed(), {"data.test.course_id": ["c-1"]}),
            None,
            {"data.test.course_id": [NOT_AN_ID]},
            id="test.course_id-list",
        ),
        # test.completed: scores
        pytest.param(changed(completed(), {"data.score": DROP}), None, {"data.score": [REQUIRED]}, id="score-missing"),
        pytest.param(changed(completed(), {"data.score": "8"}), None, {"data.score": [NOT_A_NUMBER]}, id="score-str"),
        pytest.param(changed(completed(), {"data.score": True}), None, {"data.score": [NOT_A_NUMBER]}, id="score-bool"),
        pytest.param(changed(completed(), {"data.score": 7.5}), None, {"data.score": [NOT_A_NUMBER]}, id="score-float"),
        pytest.param(
            changed(completed(), {"data.score": -1}),
            None,
            {"data.score": ["Must be 0 or greater."]},
            id="score-negative",
        ),
        pytest.param(
            changed(completed(), {"data.score": Decimal("-0.005")}),
            None,
            {"data.score": ["Must be 0 or greater."]},
            id="score-rounds-to-minus-a-cent",
        ),
        pytest.param(
            changed(completed(), {"data.score": Decimal("1E+40")}),
            None,
            {"data.score": [TOO_LARGE]},
            id="score-too-many-digits",
        ),
        pytest.param(
            changed(completed(), {"data.score": Decimal("1e30"), "data.max_score": Decimal("1e30")}),
            None,
            {"data.score": [TOO_LARGE], "data.max_score": [TOO_LARGE]},
            id="scores-1e30-too-large-not-infinite",
        ),
        pytest.param(
            changed(completed(), {"data.max_score": 10**5000}),
            None,
            {"data.max_score": [TOO_LARGE]},
            id="max_score-5000-digits-too-large",
        ),
        pytest.param(
            changed(completed(), {"data.max_score": Decimal("10000000000")}),
            None,
            {"data.max_score": [TOO_LARGE]},
            id="max_score-just-above-the-bound",
        ),
        pytest.param(
            changed(completed(), {"data.score": Decimal("-0.001")}),
            None,
            {"data.score": ["Must be 0 or greater."]},
            id="score-negative-though-it-rounds-to-0",
        ),
        pytest.param(
            changed(completed(), {"data.score": Decimal("NaN")}),
            None,
            {"data.score": ["Expected a finite number."]},
            id="score-nan-from-another-caller",
        ),
        pytest.param(
            changed(completed(), {"data.score": 0, "data.max_score": -5}),
            None,
            {"data.max_score": ["Must be greater than 0."]},
            id="max_score-negative-says-above-0",
        ),
        pytest.param(
            changed(completed(), {"data.user.id": 10**300}),
            None,
            {"data.user.id": ["Too long: at most 255 digits."]},
            id="user.id-int-too-long",
        ),
        pytest.param(
            changed(completed(), {"data.user.id": 10**5000}),
            None,
            {"data.user.id": ["Too long: at most 255 digits."]},
            id="user.id-int-beyond-pythons-text-limit",
        ),
        pytest.param(
            changed(completed(), {"data.score": Decimal("9999999999.995"), "data.max_score": Decimal("9999999999.99")}),
            None,
            {"data.score": [TOO_LARGE]},
            id="score-rounds-above-max-value",
        ),
        pytest.param(
            changed(completed(), {"data.score": 11}),
            None,
            {"data.score": ["Must not be greater than max_score."]},
            id="score-above-max_score",
        ),
        pytest.param(
            changed(completed(), {"data.max_score": 0}),
            None,
            {"data.max_score": ["Must be greater than 0."]},
            id="max_score-zero",
        ),
        pytest.param(
            changed(completed(), {"data.score": 0, "data.max_score": Decimal("0.004")}),
            None,
            {"data.max_score": ["Must be at least 0.01: scores are kept to hundredths, and this rounds to 0."]},
            id="max_score-rounds-to-zero",
        ),
        pytest.param(
            changed(completed(), {"data.max_score": None}), None, {"data.max_score": [REQUIRED]}, id="max_score-null"
        ),
        # test.completed: the rest
        pytest.param(
            changed(completed(), {"data.passed": "yes"}),
            None,
            {"data.passed": ["Expected true or false."]},
            id="passed-str",
        ),
        pytest.param(
            changed(completed(), {"data.passed": 1}),
            None,
            {"data.passed": ["Expected true or false."]},
            id="passed-int",
        ),
        pytest.param(
            changed(completed(), {"data.attempt": 0}), None, {"data.attempt": [NOT_AN_ATTEMPT]}, id="attempt-zero"
        ),
        pytest.param(
            changed(completed(), {"data.attempt": "2"}), None, {"data.attempt": [NOT_AN_ATTEMPT]}, id="attempt-str"
        ),
        pytest.param(
            changed(completed(), {"data.attempt": True}), None, {"data.attempt": [NOT_AN_ATTEMPT]}, id="attempt-bool"
        ),
        pytest.param(
            changed(completed(), {"data.attempt": Decimal("2.0")}),
            None,
            {"data.attempt": [NOT_AN_ATTEMPT]},
            id="attempt-decimal",
        ),
        pytest.param(
            changed(completed(), {"data.attempt": 2**31}),
            None,
            {"data.attempt": [NOT_AN_ATTEMPT]},
            id="attempt-too-big",
        ),
        pytest.param(
            changed(completed(), {"data.completed_at": "2026-11-22T25:00:00Z"}),
            None,
            {"data.completed_at": [NOT_A_DATETIME]},
            id="completed_at-bad-hour",
        ),
        pytest.param(
            changed(completed(), {"occurred_at": DROP, "data.completed_at": DROP}),
            None,
            {"data.completed_at": [NO_COMPLETED_AT]},
            id="completed_at-and-occurred_at-missing",
        ),
        pytest.param(
            changed(completed(), {"occurred_at": "soon", "data.completed_at": DROP}),
            None,
            {"occurred_at": [NOT_A_DATETIME], "data.completed_at": [NO_COMPLETED_AT]},
            id="completed_at-missing-and-occurred_at-bad",
        ),
        # test.reset and user.deleted
        pytest.param(
            changed(reset(), {"data.user.id": DROP}), None, {"data.user.id": [REQUIRED]}, id="reset-user.id-missing"
        ),
        pytest.param(changed(reset(), {"data.test": DROP}), None, {"data.test": [REQUIRED]}, id="reset-test-missing"),
        pytest.param(changed(reset(), {"data.test": {}}), None, {"data.test.id": [REQUIRED]}, id="reset-test-empty"),
        pytest.param(
            changed(reset(), {"data.reset_at": "noon"}),
            None,
            {"data.reset_at": [NOT_A_DATETIME]},
            id="reset-reset_at-bad",
        ),
        pytest.param(changed(user_deleted(), {"data": {}}), None, {"data.user": [REQUIRED]}, id="deleted-user-missing"),
        pytest.param(
            changed(user_deleted(), {"data.user.id": 1.5}),
            None,
            {"data.user.id": [NOT_AN_ID]},
            id="deleted-user.id-float",
        ),
        # Not an object at all
        pytest.param([completed()], None, {"non_field_errors": ["Expected a JSON object."]}, id="body-list"),
        pytest.param("text", None, {"non_field_errors": ["Expected a JSON object."]}, id="body-str"),
    ],
)
def test_native_payload_rejected_names_the_field(body, header_id, expected):
    assert detail_of(NATIVE, body, header_id) == expected


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param(pybossa_body(project_id=DROP), {"project_id": [REQUIRED]}, id="project_id-missing"),
        pytest.param(pybossa_body(task_id=None), {"task_id": [REQUIRED]}, id="task_id-null"),
        pytest.param(
            pybossa_body(result_id="6789"),
            {"result_id": ["Expected a whole number from 0 to 9223372036854775807."]},
            id="result_id-str",
        ),
        pytest.param(
            pybossa_body(project_id=-1),
            {"project_id": ["Expected a whole number from 0 to 9223372036854775807."]},
            id="project_id-negative",
        ),
        pytest.param(
            pybossa_body(task_id=True),
            {"task_id": ["Expected a whole number from 0 to 9223372036854775807."]},
            id="task_id-bool",
        ),
        pytest.param(pybossa_body(event=DROP), {"event": [REQUIRED]}, id="event-missing"),
        pytest.param(pybossa_body(event="e" * 101), {"event": ["At most 100 characters."]}, id="event-too-long"),
        pytest.param(pybossa_body(fired_at="now"), {"fired_at": [NOT_A_DATETIME]}, id="fired_at-bad"),
        pytest.param([pybossa_body()], {"non_field_errors": ["Expected a JSON object."]}, id="body-list"),
    ],
)
def test_pybossa_payload_rejected_names_the_field(body, expected):
    assert detail_of(PYBOSSA, body) == expected


def test_every_bad_field_is_named_at_once():
    body = changed(
        completed(),
        {"id": 1, "occurred_at": "x", "data.user": {}, "data.test.id": "", "data.score": 11, "data.attempt": 0},
    )

    assert detail_of(NATIVE, body) == {
        "id": [in_quotes(1)],
        "occurred_at": [NOT_A_DATETIME],
        "data.user.id": [REQUIRED],
        "data.test.id": ["May not be blank."],
        "data.score": ["Must not be greater than max_score."],
        "data.attempt": [NOT_AN_ATTEMPT],
    }


def completion(**overrides: Any) -> Completion:
    """The Completion of `completed()` with no changes."""
    values: dict[str, Any] = {
        "user": UserRef(id="u-42", email="u-42@example.com", name="U-42"),
        "unit_id": "t-7",
        "score": Decimal("8.00"),
        "max_score": Decimal("10.00"),
        "passed": True,
        "attempt": 1,
        "completed_at": BASE_TIME,
        "title": "Test t-7",
        "course_id": "c-1",
        "organization": "acme",
    }
    return Completion(**(values | overrides))


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        pytest.param({}, completion(), id="as-sent"),
        pytest.param(
            {"data.user.id": 42}, completion(user=UserRef("42", "u-42@example.com", "U-42")), id="int-user-id"
        ),
        pytest.param(
            {"data.test.id": 7, "data.test.course_id": 3}, completion(unit_id="7", course_id="3"), id="int-test-ids"
        ),
        pytest.param({"data.score": Decimal("7.995")}, completion(score=Decimal("8.00")), id="score-rounds-half-up"),
        pytest.param({"data.score": Decimal("7.994")}, completion(score=Decimal("7.99")), id="score-rounds-down"),
        pytest.param({"data.score": Decimal("0.005")}, completion(score=Decimal("0.01")), id="half-a-cent-rounds-up"),
        pytest.param(
            {"data.score": Decimal("9999999999.994"), "data.max_score": Decimal("9999999999.99")},
            completion(score=Decimal("9999999999.99"), max_score=Decimal("9999999999.99")),
            id="score-at-the-max-value",
        ),
        pytest.param({"data.score": 10}, completion(score=Decimal("10.00")), id="score-equal-to-max_score"),
        pytest.param(
            {"data.score": 0, "data.max_score": Decimal("0.005")},
            completion(score=Decimal("0.00"), max_score=Decimal("0.01"), passed=True),
            id="smallest-max_score",
        ),
        pytest.param({"data.score": Decimal("-0.0")}, completion(score=Decimal("0.00")), id="minus-zero-is-zero"),
        pytest.param(
            {"data.score": Decimal("0E+30")}, completion(score=Decimal("0.00")), id="zero-with-a-large-exponent"
        ),
        pytest.param({"data.score": 0}, completion(score=Decimal("0.00"), passed=True), id="zero-score-keeps-passed"),
        pytest.param({"data.passed": DROP}, completion(passed=True), id="passed-missing-8-of-10-passes-at-0.8"),
        pytest.param(
            {"data.passed": DROP, "data.score": Decimal("7.99")},
            completion(score=Decimal("7.99"), passed=False),
            id="passed-missing-7.99-of-10-fails-at-0.8",
        ),
        pytest.param({"data.passed": None}, completion(passed=True), id="passed-null"),
        pytest.param({"data.passed": False}, completion(passed=False), id="passed-false-is-kept"),
        pytest.param({"data.attempt": DROP}, completion(attempt=1), id="attempt-missing-is-1"),
        pytest.param({"data.attempt": None}, completion(attempt=1), id="attempt-null-is-1"),
        pytest.param({"data.attempt": 2**31 - 1}, completion(attempt=2**31 - 1), id="attempt-largest"),
        pytest.param(
            {"data.completed_at": "2026-11-22 09:59:30"},
            completion(completed_at=datetime(2026, 11, 22, 9, 59, 30, tzinfo=UTC)),
            id="completed_at-space-no-offset-is-utc",
        ),
        pytest.param(
            {"data.completed_at": "2026-11-22T11:59:30.5+02:00"},
            completion(completed_at=datetime(2026, 11, 22, 9, 59, 30, 500000, tzinfo=UTC)),
            id="completed_at-offset-to-utc",
        ),
        pytest.param(
            {"data.completed_at": DROP, "occurred_at": "2026-11-22T10:00:00Z"},
            completion(completed_at=datetime(2026, 11, 22, 10, tzinfo=UTC)),
            id="completed_at-missing-is-occurred_at",
        ),
        pytest.param({"occurred_at": DROP}, completion(), id="occurred_at-missing"),
        pytest.param(
            {"data.user.email": DROP, "data.user.name": None},
            completion(user=UserRef(id="u-42")),
            id="profile-missing",
        ),
        pytest.param(
            {"data.organization": DROP, "data.test.title": "", "data.test.course_id": None},
            completion(organization="", title="", course_id=""),
            id="optional-texts-missing-or-blank",
        ),
        pytest.param({"data.extra": {"ignored": True}}, completion(), id="unknown-fields-ignored"),
    ],
)
def test_completed_payload_accepted(changes, expected):
    body = changed(completed(event_id="evt_1"), changes)

    assert parse_event(NATIVE, body, header_id=None) == ParsedEvent("evt_1", "test.completed", expected)


def test_a_5000_digit_integer_read_with_json_int_is_named_as_too_large_or_too_long():
    digits = "9" * 5000
    text = dumps(completed(user="UID", score=0)).replace(b'"score": 0', f'"score": {digits}'.encode())
    text = text.replace(b'"id": "UID"', f'"id": {digits}'.encode())

    body = json.loads(text, parse_float=Decimal, parse_int=json_int)

    assert detail_of(NATIVE, body) == {
        "data.user.id": ["Too long: at most 255 digits."],
        "data.score": [TOO_LARGE],
    }


def test_json_int_reads_ordinary_integers_as_ints():
    assert json.loads("[0, -7, 42]", parse_int=json_int) == [0, -7, 42]
    assert all(type(n) is int for n in json.loads("[0, -7, 42]", parse_int=json_int))


def test_json_numbers_from_the_intake_decoder_are_rounded_half_up():
    body = body_parse(dumps(completed(score=0)).replace(b'"score": 0', b'"score": 2.675'))

    action = parse_event(NATIVE, body, header_id=None).action

    assert isinstance(action, Completion)
    assert action.score == Decimal("2.68")  # as a float, 2.675 would round to 2.67


@pytest.mark.parametrize(
    ("body", "header_id", "expected"),
    [
        pytest.param(
            reset(unit="t-9", event_id="evt_r"),
            None,
            ParsedEvent("evt_r", "test.reset", Reset("u-42", "t-9", BASE_TIME)),
            id="reset",
        ),
        pytest.param(
            changed(
                reset(event_id="evt_r"), {"data.user.id": 42, "data.test.id": 9, "data.reset_at": "2026-11-21 08:00"}
            ),
            None,
            ParsedEvent("evt_r", "test.reset", Reset("42", "9", datetime(2026, 11, 21, 8, tzinfo=UTC))),
            id="reset-int-ids-reset_at",
        ),
        pytest.param(
            changed(reset(event_id="evt_r"), {"occurred_at": DROP}),
            None,
            ParsedEvent("evt_r", "test.reset", Reset("u-42", "t-7", None)),
            id="reset-undated",
        ),
        pytest.param(
            user_deleted(user="u-9", event_id="evt_d"),
            None,
            ParsedEvent("evt_d", "user.deleted", Erase("u-9")),
            id="user-deleted",
        ),
        pytest.param(
            changed(completed(), {"id": DROP}),
            "msg_1",
            ParsedEvent("msg_1", "test.completed", completion()),
            id="key-from-the-header",
        ),
        pytest.param(
            changed(completed(event_id="evt_1"), {"type": "course.published", "data": "anything"}),
            None,
            ParsedEvent("evt_1", "course.published", None),
            id="other-type-ignored-data-unread",
        ),
        pytest.param(
            {"id": "evt_2", "type": "x.y"},
            None,
            ParsedEvent("evt_2", "x.y", None),
            id="other-type-without-data",
        ),
    ],
)
def test_other_native_payloads_accepted(body, header_id, expected):
    assert parse_event(NATIVE, body, header_id=header_id) == expected


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({}, id="as-sent"),
        pytest.param({"fired_at": DROP}, id="fired_at-missing"),
        pytest.param({"fired_at": "2026-11-22T10:00:00+01:00", "project_short_name": DROP}, id="fired_at-offset"),
    ],
)
def test_pybossa_payload_accepted(changes):
    body = pybossa_body(**changes)

    assert parse_event(PYBOSSA, body, header_id="ignored") == ParsedEvent(
        "12:345:6789", "task_completed", Settle(project_id=12, task_id=345, result_id=6789)
    )


def test_works_with_a_stored_source(db):
    source = make_source(kind=Source.Kind.NATIVE)

    assert parse_event(source, completed(event_id="evt_db"), header_id=None).key == "evt_db"


def test_concurrent_validations_do_not_share_state():
    """The serializers are shared module-level instances; each call must still get its own result."""
    bodies = [changed(completed(event_id=f"evt_{n}"), {"data.score": n % 12}) for n in range(400)]

    def outcome(body: dict[str, Any]) -> object:
        try:
            return parse_event(NATIVE, body, header_id=None)
        except PayloadInvalid as exc:
            return exc.detail

    serial = [outcome(body) for body in bodies]
    with ThreadPoolExecutor(max_workers=8) as pool:
        threaded = list(pool.map(outcome, bodies))

    assert threaded == serial
    assert {type(result) for result in serial} == {ParsedEvent, dict}  # scores of 11 are rejected
