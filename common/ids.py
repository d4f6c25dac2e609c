"""Row ids read from text: URLs, bot commands, command lines."""

from __future__ import annotations

# Every number of 18 digits fits a bigint (PostgreSQL's, up to 2⁶³ - 1); 19 may not.
MAX_DIGITS = 18
# The same rule for a URL pattern (a router's lookup_value_regex): "\d" would match "٣" too.
ID_PATTERN = rf"[0-9]{{1,{MAX_DIGITS}}}"


def parse_id(text: str, *, prefix: str | None = None) -> int | None:
    """The row id `text` names, or None: 1 to 18 ASCII digits, or with `prefix` `[<prefix>]<digits>[_<anything>]`.

    The form with a prefix is a public id such as a delivery's `dlv_42_7`: the
    prefix may be left out, and what follows the row's number (its version) is
    not the row's.
    """
    raw = text.removeprefix(prefix).split("_")[0] if prefix is not None else text
    # isascii: "²" and "٣" are digits to str.isdigit(), and int() reads "٣" as 3.
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= MAX_DIGITS else None
