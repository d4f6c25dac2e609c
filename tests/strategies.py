"""Hypothesis strategies for sequences of events, shared by the property tests."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from hypothesis import strategies as st

from tests.factories import reset, user_deleted

USERS = ["u-1", "u-2"]
UNITS = ["a", "b", "c"]

resetting = st.builds(
    lambda user, unit, minute: reset(user=user, unit=unit, minutes=minute),
    st.sampled_from(USERS),
    st.sampled_from(UNITS),
    st.integers(0, 6),
)
deleting = st.builds(lambda user: user_deleted(user=user), st.sampled_from(USERS))
# An index into what was sent so far: that event is sent again.
duplicate = st.integers(min_value=0, max_value=1000)


def bodies(ops: Sequence[dict[str, Any] | int]) -> Iterator[dict[str, Any]]:
    """The bodies to send for drawn operations, a repeat standing for an event already sent."""
    sent: list[dict[str, Any]] = []
    for op in ops:
        if isinstance(op, int) and not sent:
            continue
        body = sent[op % len(sent)] if isinstance(op, int) else op
        sent.append(body)
        yield body
