"""Hostile query strings and URL ids on the read API: 2xx, 400 or 404 with a JSON body, never a 5xx.

Requests run in autocommit in production (no ATOMIC_REQUESTS), and `common.api.Cursor` relies on
that: a forged cursor whose time has an offset PostgreSQL refuses (beyond ±15:59) fails in the
database, is caught as an invalid cursor, and leaves the connection usable. Inside the usual test
transaction that failed statement would abort the transaction and every later request of the test
would answer 503, so the tests that send cursors run with `transaction=True`, as production does.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from django.test import Client
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from deliveries.models import Delivery
from tests.api.conftest import Tenant
from webhooks.models import Event

pytestmark = pytest.mark.django_db

# DRF puts a forged cursor's position into the query as it stands: a time without a zone reaches
# DateTimeField.get_prep_value, which warns and reads it in TIME_ZONE (a 200, not a crash, in
# production). The suite turns RuntimeWarnings into errors, so the cursor tests let this one pass.
NAIVE_CURSOR_TIME = "ignore:DateTimeField .* received a naive datetime:RuntimeWarning"

FUZZ = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

ERROR_CODES = {400: {"validation_error", "bad_request"}, 404: {"not_found"}}
LISTS = ["/api/v1/summaries/", "/api/v1/results/", "/api/v1/events/", "/api/v1/deliveries/"]

Query = Sequence[tuple[str, str]]

# --- Building requests -------------------------------------------------------------------------------


def utf8(text: str) -> bytes:
    """The bytes a client would send for `text`; a lone surrogate becomes its (invalid) 3-byte form."""
    return text.encode("utf-8", "surrogatepass")


def percent_encoded(query: Query) -> str:
    return "&".join(f"{quote(utf8(key), safe='')}={quote(utf8(value), safe='')}" for key, value in query)


def raw(query: Query) -> str:
    """The query as unescaped bytes, the way a careless client sends it (WSGI hands them over as latin-1)."""
    return "&".join(f"{key}={value}" for key, value in query).encode("utf-8", "surrogatepass").decode("latin-1")


def get(client: Client, path: str, query: Query = (), *, encoding: str = "percent") -> Any:
    if encoding == "raw":
        return client.get(path, QUERY_STRING=raw(query))
    return client.get(f"{path}?{percent_encoded(query)}" if query else path)


def cursor(**tokens: str) -> str:
    """A cursor in DRF's own format (base64 of a query string), holding whatever tokens are given."""
    return base64.b64encode(urlencode({k: utf8(v) for k, v in tokens.items()}).encode()).decode()


def path_segment(value: str, *, safe: str = "") -> str:
    return quote(utf8(value), safe=safe)


# --- Checking answers --------------------------------------------------------------------------------


def shown(response: Any) -> str:
    request = response.request
    sent = f"GET {request['PATH_INFO']}?{request.get('QUERY_STRING', '')}"
    return f"{sent} -> {response.status_code} {response.content[:500]!r}"


def json_answer(response: Any) -> Any:
    """Assert the answer is a 2xx, 400 or 404 with a JSON body (errors in the API's shape); return the body."""
    status = response.status_code
    assert status < 500, shown(response)
    assert 200 <= status < 300 or status in ERROR_CODES, shown(response)
    assert response["Content-Type"].split(";")[0] == "application/json", shown(response)
    body = json.loads(response.content)
    if status in ERROR_CODES:
        assert isinstance(body, dict), shown(response)
        assert set(body) == {"error", "detail"}, shown(response)
        assert body["error"] in ERROR_CODES[status], shown(response)
        assert body["detail"], shown(response)
    else:
        assert isinstance(body, dict), shown(response)
    return body


def list_answer(response: Any) -> Any:
    body = json_answer(response)
    if response.status_code == 200:
        assert set(body) == {"next", "previous", "results"}, shown(response)
        assert isinstance(body["results"], list), shown(response)
    return body


# --- Strategies --------------------------------------------------------------------------------------


def either(*choices: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """One of `choices`, each as likely (st.one_of flattens nested one_ofs and weighs their leaves)."""
    return st.sampled_from(choices).flatmap(lambda chosen: chosen)


NASTY_TEXT = [
    "",
    " ",
    "\x00",
    "a\x00b",
    "\ud800",
    "x\udfff",
    "\ufffd",
    "%00",
    "%",
    "%zz",
    "&",
    "=",
    "+",
    "#",
    "?",
    "/",
    "..",
    "null",
    "-1",
    str(2**63),
    "9" * 5000,
    "é" * 300,
    "x" * 10_000,
]

texts = either(
    st.text(max_size=40),
    st.text(st.sampled_from(["\x00", "\ud800", "\udfff", "\ufffd", "%", "/", "é", "a", "0"]), min_size=1, max_size=8),
    st.text(st.characters(codec="utf-8"), max_size=10),
    st.text(st.characters(categories=["Cs"]), min_size=1, max_size=3),
    st.sampled_from(NASTY_TEXT),
)


@st.composite
def iso_like(draw: st.DrawFn) -> str:
    """Time-shaped text: years, fields and offsets in and out of range (+18:51, -99:99, year 0, 10000...)."""
    year = draw(
        either(
            st.integers(0, 10_000).map(lambda y: f"{y:04d}"),
            st.sampled_from(["0000", "0001", "9999", "10000", "-0001", "+2026", "99999"]),
        )
    )
    month, day = draw(st.integers(0, 13)), draw(st.integers(0, 32))
    hour, minute, second = draw(st.integers(0, 25)), draw(st.integers(0, 61)), draw(st.integers(0, 61))
    fraction = draw(st.sampled_from(["", ".5", ".123456", ".1234567890123"]))
    separator = draw(st.sampled_from(["T", " ", "t"]))
    offset = draw(
        either(
            st.sampled_from(
                ["", "Z", "z", "+00:00", "+18:51", "-99:99", "+15:59", "+16:00", "-23:59", "+24:00", "+0530"]
            ),
            st.builds(
                lambda s, h, m: f"{s}{h:02d}:{m:02d}", st.sampled_from("+-"), st.integers(0, 99), st.integers(0, 99)
            ),
        )
    )
    return f"{year}-{month:02d}-{day:02d}{separator}{hour:02d}:{minute:02d}:{second:02d}{fraction}{offset}"


# Valid ISO 8601, anywhere from year 1 to 9999 at any offset Python allows (±23:59).
valid_times = st.builds(
    lambda moment, minutes: moment.replace(tzinfo=timezone(timedelta(minutes=minutes))).isoformat(),
    st.datetimes(),
    st.integers(-(24 * 60 - 1), 24 * 60 - 1),
)
# The first and last days Python can hold, at large offsets: many of them are not a time in UTC.
edge_times = st.builds(
    lambda moment, minutes: moment.replace(tzinfo=timezone(timedelta(minutes=minutes))).isoformat(),
    either(st.datetimes(max_value=datetime(1, 1, 1, 23, 59)), st.datetimes(min_value=datetime(9999, 12, 31))),
    either(st.integers(-(24 * 60 - 1), -12 * 60), st.integers(12 * 60, 24 * 60 - 1)),
)
times = either(iso_like(), valid_times, edge_times, texts)

integer_text = either(
    st.integers(-(2**70), 2**70).map(str),
    st.sampled_from([str(2**63), str(2**63 - 1), str(-(2**63) - 1), str(2**64), "9" * 19, "0", "-0", "1e3", "1.5"]),
    st.text(st.characters(categories=["Nd"]), min_size=1, max_size=20),
)
page_sizes = either(integer_text, texts)

# A cursor's position as DRF writes it (str() of the last row's value), or forged: any time, a time
# without a zone, one at an offset Python allows but PostgreSQL refuses (beyond ±15:59), any id.
positions = either(
    st.datetimes(timezones=st.just(UTC)).map(str),
    st.datetimes().map(str),
    st.builds(
        lambda moment, minutes: str(moment.replace(tzinfo=timezone(timedelta(minutes=minutes)))),
        st.datetimes(),
        either(st.integers(-(24 * 60 - 1), -16 * 60), st.integers(16 * 60, 24 * 60 - 1)),
    ),
    times,
    integer_text,
    texts,
)

# DRF's format with forged tokens: o (offset), r (reverse) and p (the position: a time for summaries
# and results, an id for the others) go into the query as they stand.
forged_cursors = st.builds(
    lambda o, r, p: cursor(**{k: v for k, v in {"o": o, "r": r, "p": p}.items() if v is not None}),
    either(st.none(), st.none(), integer_text, texts),
    either(st.none(), st.sampled_from(["0", "1", "2", "-1", "x", ""])),
    either(positions, positions, positions, st.none()),
)
cursors = either(
    forged_cursors,
    forged_cursors,
    texts,
    st.binary(max_size=60).map(lambda b: base64.b64encode(b).decode()),
    st.binary(max_size=60).map(lambda b: base64.urlsafe_b64encode(b).decode().rstrip("=")),
    texts.map(lambda t: base64.b64encode(utf8(t)).decode()),
)


def query(params: dict[str, st.SearchStrategy[str]]) -> st.SearchStrategy[list[tuple[str, str]]]:
    """A query string's pairs: the endpoint's own parameters (repeated at times) and some arbitrary ones."""
    pair = st.one_of(
        *[st.tuples(st.just(name), values) for name, values in params.items()],
        st.tuples(texts, texts),
    )
    return st.lists(pair, min_size=1, max_size=4)


COMMON = {"cursor": cursors, "page_size": page_sizes, "limit": page_sizes, "offset": page_sizes}
SUMMARIES = {"updated_since": times, "source": texts, "user": texts, **COMMON}
EVENTS = {
    "source": texts,
    "status": either(st.sampled_from([s.value for s in Event.Status]), texts),
    "type": texts,
    "since": times,
    "until": times,
    **COMMON,
}
DELIVERIES = {
    "status": either(st.sampled_from([s.value for s in Delivery.Status]), texts),
    "destination": either(st.sampled_from(["acme", "globex"]), texts),
    "since": times,
    "until": times,
    **COMMON,
}
encodings = st.sampled_from(["percent", "percent", "raw"])


def reader(tenants: tuple[Tenant, Tenant], staff: Client, who: str) -> Client:
    return staff if who == "staff" else tenants[0].client


# --- Properties --------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.filterwarnings(NAIVE_CURSOR_TIME)
@pytest.mark.parametrize("path", ["/api/v1/summaries/", "/api/v1/results/"])
@FUZZ
@given(params=query(SUMMARIES), encoding=encodings, who=st.sampled_from(["staff", "client"]))
def test_any_summary_or_result_query_is_answered_with_json_and_never_a_5xx(
    tenants: tuple[Tenant, Tenant], staff: Client, path: str, params: list[tuple[str, str]], encoding: str, who: str
) -> None:
    response = get(reader(tenants, staff, who), path, params, encoding=encoding)
    list_answer(response)
    event(f"answered {response.status_code}")


@pytest.mark.django_db(transaction=True)
@pytest.mark.filterwarnings(NAIVE_CURSOR_TIME)
@FUZZ
@given(params=query(EVENTS), encoding=encodings)
def test_any_event_query_is_answered_with_json_and_never_a_5xx(
    tenants: tuple[Tenant, Tenant], staff: Client, params: list[tuple[str, str]], encoding: str
) -> None:
    response = get(staff, "/api/v1/events/", params, encoding=encoding)
    list_answer(response)
    event(f"answered {response.status_code}")


@pytest.mark.django_db(transaction=True)
@pytest.mark.filterwarnings(NAIVE_CURSOR_TIME)
@FUZZ
@given(params=query(DELIVERIES), encoding=encodings, who=st.sampled_from(["staff", "client"]))
def test_any_delivery_query_is_answered_with_json_and_never_a_5xx(
    tenants: tuple[Tenant, Tenant], staff: Client, params: list[tuple[str, str]], encoding: str, who: str
) -> None:
    response = get(reader(tenants, staff, who), "/api/v1/deliveries/", params, encoding=encoding)
    list_answer(response)
    event(f"answered {response.status_code}")


# One time filter per list (all are UtcDateTimeFilter): events stand for `since`, deliveries for `until`.
TIME_FILTERS = [
    ("/api/v1/summaries/", "updated_since"),
    ("/api/v1/results/", "updated_since"),
    ("/api/v1/events/", "since"),
    ("/api/v1/deliveries/", "until"),
]


@pytest.mark.parametrize(("path", "field"), TIME_FILTERS)
@FUZZ
@given(value=times)
def test_any_time_filter_value_is_a_page_or_a_400_naming_the_field(
    tenants: tuple[Tenant, Tenant], staff: Client, path: str, field: str, value: str
) -> None:
    response = get(staff, path, [(field, value)])

    body = list_answer(response)
    if response.status_code == 400:
        assert body["error"] == "validation_error", shown(response)
        assert field in body["detail"], shown(response)
    event(f"answered {response.status_code}")


@pytest.mark.django_db(transaction=True)
@pytest.mark.filterwarnings(NAIVE_CURSOR_TIME)
@pytest.mark.parametrize("path", LISTS)
@FUZZ
@given(forged=either(forged_cursors, forged_cursors, forged_cursors, cursors), page_size=st.none() | page_sizes)
def test_any_cursor_on_any_list_is_a_page_or_a_404_invalid_cursor_never_a_5xx(
    tenants: tuple[Tenant, Tenant], staff: Client, path: str, forged: str, page_size: str | None
) -> None:
    params = [("cursor", forged)] + ([("page_size", page_size)] if page_size is not None else [])
    response = get(staff, path, params)

    body = list_answer(response)
    if response.status_code == 404:
        assert body == {"error": "not_found", "detail": "Invalid cursor"}, shown(response)
    event(f"answered {response.status_code}")


ids = either(
    texts,
    st.builds(lambda before, after: f"{before}\x00{after}", texts, texts),  # sent as %00
    st.integers(-(2**80), 2**80).map(str),
    st.integers(2**63, 2**200).map(str),
    st.text(st.characters(categories=["Nd"]), min_size=1, max_size=25),
    st.builds(lambda row, version: f"dlv_{row}_{version}", integer_text, integer_text),
)


DETAILS = [
    "/api/v1/deliveries/{}/",
    "/api/v1/events/{}/",
    "/api/v1/sources/{}/",
    "/api/v1/destinations/{}/",
    "/api/v1/summaries/{source}/{}/",
    "/api/v1/summaries/{}/u-1/",
]


@pytest.mark.parametrize("template", DETAILS)
@FUZZ
@given(data=st.data(), safe=st.sampled_from(["", "/"]))
def test_any_id_in_a_detail_url_is_answered_with_json_and_never_a_5xx(
    tenants: tuple[Tenant, Tenant], staff: Client, template: str, data: st.DataObject, safe: str
) -> None:
    acme, _ = tenants
    existing = {  # ids that are there, so the serialisers run too
        "/api/v1/deliveries/{}/": [d.webhook_id for d in Delivery.objects.all()],
        "/api/v1/events/{}/": [str(pk) for pk in Event.objects.values_list("pk", flat=True)],
        "/api/v1/sources/{}/": [acme.source.slug],
        "/api/v1/destinations/{}/": [str(acme.destination.pk)],
        "/api/v1/summaries/{source}/{}/": ["u-1", "u-2"],
        "/api/v1/summaries/{}/u-1/": [acme.source.slug],
    }[template]
    ident = data.draw(either(ids, ids, st.sampled_from(existing)), label="id")

    response = staff.get(template.format(path_segment(ident, safe=safe), source=acme.source.slug))

    json_answer(response)
    event(f"answered {response.status_code}")


# --- Known poisons, pinned ---------------------------------------------------------------------------

UNSTORABLE_TIMES = [
    "0001-01-01T00:00:00+01:00",  # before year 1 in UTC
    "9999-12-31T23:59:59-01:00",  # after year 9999 in UTC
    "10000-01-01T00:00:00Z",
    "-2026-01-01T00:00:00Z",
    "2026-01-01T00:00:00-99:99",
    "2026-13-40T99:99:99Z",
    "\x00",
    "\ud800",
    "x" * 10_000,
]


@pytest.mark.parametrize("value", UNSTORABLE_TIMES)
@pytest.mark.parametrize(("path", "field"), TIME_FILTERS)
def test_a_time_filter_that_cannot_be_a_utc_time_is_a_400_naming_the_field(
    staff: Client, path: str, field: str, value: str
) -> None:
    body = json_answer(get(staff, path, [(field, value)]))

    assert body["error"] == "validation_error"
    assert field in body["detail"]


@pytest.mark.parametrize(
    "value", ["2020-01-01T00:00:00+18:51", "2020-01-01T00:00:00-23:59", "0002-01-01T00:00:00+23:59"]
)
@pytest.mark.parametrize(("path", "field"), [("/api/v1/summaries/", "updated_since"), ("/api/v1/events/", "since")])
def test_an_offset_iso_allows_but_postgresql_does_not_is_normalised_to_utc(
    tenants: tuple[Tenant, Tenant], staff: Client, path: str, field: str, value: str
) -> None:
    response = get(staff, path, [(field, value)])

    assert response.status_code == 200, shown(response)
    assert list_answer(response)["results"], "every row changed after that time"


@pytest.mark.parametrize("value", ["\x00", "a\x00b"])
@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/api/v1/summaries/", "source"),
        ("/api/v1/summaries/", "user"),
        ("/api/v1/results/", "user"),
        ("/api/v1/events/", "type"),
        ("/api/v1/deliveries/", "destination"),
        ("/api/v1/deliveries/", "status"),
    ],
)
def test_a_nul_in_a_text_filter_is_a_400_not_a_database_error(staff: Client, path: str, field: str, value: str) -> None:
    body = json_answer(get(staff, path, [(field, value)]))

    assert body["error"] == "validation_error"
    assert field in body["detail"]


FORGED_CURSORS = [
    cursor(p="2026-01-01 00:00:00+18:51"),  # refused by PostgreSQL, not by Python
    cursor(p="2026-01-01 00:00:00+16:00"),
    cursor(p="2026-01-01 00:00:00-99:99"),
    cursor(p="\x00"),
    cursor(p="\ud800"),
    cursor(p="1.5"),
    cursor(p="x" * 100_000),
    cursor(o="-1"),
    cursor(o="9" * 5000),
    cursor(r="x"),
]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("path", ["/api/v1/summaries/", "/api/v1/results/", "/api/v1/deliveries/"])
def test_a_forged_cursor_is_a_404_invalid_cursor_and_the_next_request_still_works(
    tenants: tuple[Tenant, Tenant], staff: Client, path: str
) -> None:
    for forged in FORGED_CURSORS:
        response = get(staff, path, [("cursor", forged)])
        assert json_answer(response) == {"error": "not_found", "detail": "Invalid cursor"}, shown(response)

        assert list_answer(get(staff, path))["results"], f"a request after {shown(response)}"


ODD_CURSORS = [
    cursor(p=str(2**63)),
    cursor(p=str(-(2**63) - 1), r="1"),
    cursor(p="9" * 30),
    cursor(p="2026-01-01"),  # no zone
    cursor(p="0001-01-01 00:00:00+01:00"),
    cursor(p="9999-12-31 23:59:59-01:00", r="1"),
    cursor(o="1000000", p="1"),
    "!!!",
    "%00",
    base64.b64encode(b"\xff\xfe\x00").decode(),
]


@pytest.mark.django_db(transaction=True)
@pytest.mark.filterwarnings(NAIVE_CURSOR_TIME)
@pytest.mark.parametrize("path", [*LISTS, "/api/v1/sources/", "/api/v1/destinations/"])
def test_a_cursor_out_of_any_columns_range_is_a_page_or_a_404_never_a_5xx(
    tenants: tuple[Tenant, Tenant], staff: Client, path: str
) -> None:
    for odd in ODD_CURSORS:
        list_answer(get(staff, path, [("cursor", odd)]))


NASTY_IDS = [
    str(2**63),
    str(2**64),
    str(10**30),
    "9" * 19,
    "-1",
    "0",
    "abc",
    "\x00",  # sent as %00
    "1\x00",
    "\ud800",  # sent as %ED%A0%80, which is not UTF-8
    "\uff19" * 18,  # fullwidth nines: the route's \d takes them and int() reads them
    "٩" * 19,
    "²",
    "é" * 1000,
    "x" * 100_000,
    "dlv_" + "9" * 19 + "_1",
    "dlv__",
]


@pytest.mark.parametrize("ident", NASTY_IDS)
@pytest.mark.parametrize("template", DETAILS)
def test_a_detail_url_with_an_id_no_row_can_have_is_a_json_404(staff: Client, template: str, ident: str) -> None:
    response = staff.get(template.format(path_segment(ident), source="acme-lms"))

    assert response.status_code == 404, shown(response)
    assert json_answer(response)["error"] == "not_found"


@pytest.mark.parametrize("value", ["xml", "api", "\x00", "json\x00", "x" * 1000])
def test_an_unknown_format_is_a_json_404(staff: Client, value: str) -> None:
    response = get(staff, "/api/v1/summaries/", [("format", value)])

    assert response.status_code == 404, shown(response)
    json_answer(response)


@pytest.mark.parametrize("query_string", ["a=1&" * 1500, "&" * 5000])
def test_more_query_fields_than_django_reads_is_a_json_400(staff: Client, query_string: str) -> None:
    response = staff.get("/api/v1/summaries/", QUERY_STRING=query_string)

    assert response.status_code == 400, shown(response)
    assert json_answer(response)["error"] == "bad_request"


@pytest.mark.parametrize(
    "query_string",
    ["updated_since=\xed\xa0\x80", "source=\xff\xfe", "cursor=\xc0\x80", "user=%C0%80", "user=%ED%A0%80"],
)
def test_a_query_string_that_is_not_utf8_is_a_json_answer(staff: Client, query_string: str) -> None:
    list_answer(staff.get("/api/v1/summaries/", QUERY_STRING=query_string))


@pytest.mark.parametrize("path", [*LISTS, "/api/v1/sources/", "/api/v1/destinations/"])
def test_the_fuzzed_lists_have_rows_to_serialise(tenants: tuple[Tenant, Tenant], staff: Client, path: str) -> None:
    """The properties above reach the serialisers too: a plain request answers rows."""
    assert list_answer(staff.get(path))["results"]
