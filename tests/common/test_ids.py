"""parse_id: row ids from text are ASCII digits that fit a bigint, or public ids with a prefix."""

from __future__ import annotations

import re

import pytest

from common.ids import ID_PATTERN, parse_id


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("42", 42),
        ("0", 0),
        ("007", 7),
        ("9" * 18, int("9" * 18)),
        ("9" * 19, None),
        ("0" * 19, None),
        ("", None),
        (" 42", None),
        ("42 ", None),
        ("4 2", None),
        ("-1", None),
        ("+1", None),
        ("1_000", None),
        ("42_7", None),
        ("dlv_42_7", None),
        ("1e3", None),
        ("4.0", None),
        ("0x1f", None),
        ("²", None),
        ("٣", None),
        ("\uff11\uff12", None),  # fullwidth 12
        ("42\n", None),
    ],
)
def test_a_bare_id_is_one_to_eighteen_ascii_digits(text, expected):
    assert parse_id(text) == expected
    assert (re.fullmatch(ID_PATTERN, text) is not None) == (expected is not None), "the URL pattern agrees"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("dlv_42_7", 42),
        ("dlv_42", 42),
        ("dlv_42_", 42),
        ("dlv_42_7_9", 42),
        ("dlv_42_anything", 42),
        ("42_7", 42),
        ("42", 42),
        ("dlv_007_1", 7),
        ("dlv_" + "9" * 18 + "_1", int("9" * 18)),
        ("dlv_" + "9" * 19 + "_1", None),
        ("dlv_", None),
        ("dlv__7", None),
        ("_42", None),
        ("", None),
        ("DLV_42_7", None),
        ("dlv-42-7", None),
        ("dlv_x_7", None),
        ("dlv_dlv_42_7", None),
        ("dlv_٣_1", None),
        ("dlv_-1_1", None),
        (" dlv_42_7", None),
    ],
)
def test_a_public_id_is_an_optional_prefix_the_row_and_what_follows_an_underscore(text, expected):
    assert parse_id(text, prefix="dlv_") == expected
