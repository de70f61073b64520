"""The cache's policy core (RFC 9111, RFC 9211, RFC 9213, W3C Surrogate-Control), case by case.

Where a case comes from http-cache-tests 0.4.5 (the suite the edge is judged by, edge.md §1)
its test id is the parametrize id; the others are named after the RFC rule they pin down.
"""

from __future__ import annotations

import calendar
import math
from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stack.config.model import EdgeCache
from stack.edge.cache.policy import (
    HEURISTIC_STATUSES,
    MAX_DELTA,
    SAFE_METHODS,
    UNDERSTOOD_STATUSES,
    RequestRules,
    ResponseRules,
    cache_key,
    cache_status,
    client_headers,
    format_http_date,
    freshness_lifetime,
    has_validator,
    initial_age,
    invalidates,
    invalidation_targets,
    merge_304,
    not_modified,
    parse_age,
    parse_directives,
    parse_http_date,
    request_rules,
    response_rules,
    revalidation_headers,
    secondary_key,
    storable,
    stored_headers,
    surrogate_capability,
    vary_fields,
)
from stack.http.message import Headers

R = ResponseRules
NAME = b"stack"
SETTINGS = EdgeCache()
NOW = 1_700_000_000.0  # Tue, 14 Nov 2023 22:13:20 GMT
T2050 = float(calendar.timegm((2050, 8, 18, 2, 1, 18, 0, 0, 0)))


def h(*pairs: tuple[str, str]) -> Headers:
    return [(name.lower().encode(), value.encode("latin-1")) for name, value in pairs]


def cc(value: str) -> Headers:
    return h(("Cache-Control", value))


def date(offset: float) -> str:
    return format_http_date(NOW + offset).decode()


# -- dates ---------------------------------------------------------------------------------------

VALID_DATES = [
    pytest.param(b"Sun, 06 Nov 1994 08:49:37 GMT", 784111777.0, id="imf-fixdate"),
    pytest.param(b"Sunday, 06-Nov-94 08:49:37 GMT", 784111777.0, id="rfc850"),
    pytest.param(b"Sun Nov  6 08:49:37 1994", 784111777.0, id="asctime"),
    pytest.param(b"Sun Nov 16 08:49:37 1994", 784975777.0, id="asctime-two-digit-day"),
    pytest.param(b"  Sun, 06 Nov 1994 08:49:37 GMT\t", 784111777.0, id="surrounding-ows"),
    pytest.param(b"Thu, 18 Aug 2050 02:01:18 GMT", T2050, id="freshness-expires-future-ish"),
    pytest.param(b"Thursday, 18-Aug-50 02:01:18 GMT", T2050, id="freshness-expires-rfc850"),
    pytest.param(b"Thu Aug 18 02:01:18 2050", T2050, id="freshness-expires-ansi-c"),
    pytest.param(
        b"THU, 18 Aug 2050 02:01:18 GMT", T2050, id="freshness-expires-wrong-case-weekday"
    ),
    pytest.param(b"Thu, 18 AUG 2050 02:01:18 GMT", T2050, id="freshness-expires-wrong-case-month"),
    pytest.param(b"Thu, 18 Aug 2050 02:01:18 gMT", T2050, id="freshness-expires-wrong-case-tz"),
    pytest.param(b"Tue, 19 Jan 2038 03:14:08 GMT", 2147483648.0, id="past-32-bits"),
    pytest.param(b"Sun, 21 Nov 2286 04:46:39 GMT", 10000039599.0, id="far-future"),
    pytest.param(b"Thu, 01 Jan 1970 00:00:00 GMT", 0.0, id="epoch"),
    pytest.param(b"Wed, 31 Dec 1969 23:59:59 GMT", -1.0, id="before-epoch"),
    pytest.param(b"Tue, 29 Feb 2000 00:00:00 GMT", 951782400.0, id="leap-day"),
    pytest.param(b"Sat, 31 Dec 2016 23:59:60 GMT", 1483228800.0, id="leap-second"),
]


@pytest.mark.parametrize(("value", "expected"), VALID_DATES)
def test_parse_http_date_accepts_the_three_formats(value: bytes, expected: float) -> None:
    assert parse_http_date(value, now=NOW) == expected


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(b"Thu, 18 Aug 2050 02:01:18 UTC", id="freshness-expires-invalid-utc"),
        pytest.param(b"Thu, 18 Aug 2050 02:01:18 AEST", id="freshness-expires-invalid-aest"),
        pytest.param(b"Thu, 18 Aug 50 02:01:18 GMT", id="freshness-expires-invalid-2-digit-year"),
        pytest.param(b"Thu 18 Aug 2050 02:01:18 GMT", id="freshness-expires-invalid-no-comma"),
        pytest.param(b"Tue 19 Jan 2038 14:14:08 GMT", id="freshness-expires-32bit"),
        pytest.param(
            b"Thu, 18  Aug  2050 02:01:18 GMT", id="freshness-expires-invalid-multiple-spaces"
        ),
        pytest.param(b"Thu, 18-Aug-2050 02:01:18 GMT", id="freshness-expires-invalid-date-dashes"),
        pytest.param(b"Thu, 18 Aug 2050 02.01.18 GMT", id="freshness-expires-invalid-time-periods"),
        pytest.param(b"Thu, 18 Aug 2050 2:01:18 GMT", id="freshness-expires-invalid-1-digit-hour"),
        pytest.param(b"0", id="freshness-expires-invalid"),
        pytest.param(b"foo", id="freshness-expires-invalid-date"),
        pytest.param(b"", id="empty"),
        pytest.param(b"Xyz, 18 Aug 2050 02:01:18 GMT", id="unknown-weekday"),
        pytest.param(b"Thu, 18 Auh 2050 02:01:18 GMT", id="unknown-month"),
        pytest.param(b"Thu, 31 Feb 2050 02:01:18 GMT", id="no-such-day"),
        pytest.param(b"Thu, 00 Aug 2050 02:01:18 GMT", id="day-zero"),
        pytest.param(b"Thu, 18 Aug 2050 24:01:18 GMT", id="hour-24"),
        pytest.param(b"Thu, 18 Aug 2050 02:60:18 GMT", id="minute-60"),
        pytest.param(b"Thu, 18 Aug 0000 02:01:18 GMT", id="year-zero"),
        pytest.param(b"Thu, 18 Aug 2050 02:01:18 GMT x", id="trailing-garbage"),
        pytest.param(b"Thursday, 18-Aug-50 02:01:18", id="rfc850-without-gmt"),
        pytest.param(b"Thurs, 18-Aug-50 02:01:18 GMT", id="rfc850-short-weekday"),
        pytest.param(b"Thu Aug 8 02:01:18 2050", id="asctime-unpadded-day"),
        pytest.param(b"Thu, 18 Aug 2050 02:01:18 GMT, Fri", id="list"),
    ],
)
def test_parse_http_date_rejects_everything_else(value: bytes) -> None:
    assert parse_http_date(value, now=NOW) is None


@pytest.mark.parametrize(
    ("two_digits", "now_year", "year"),
    [
        pytest.param(b"50", 2026, 2050, id="24-years-ahead"),
        pytest.param(b"76", 2026, 2076, id="exactly-50-years-ahead"),
        pytest.param(b"77", 2026, 1977, id="51-years-ahead-is-the-past"),
        pytest.param(b"94", 2026, 1994, id="rfc-example"),
        pytest.param(b"01", 2099, 2101, id="next-century"),
    ],
)
def test_rfc850_two_digit_year_is_within_50_years(
    two_digits: bytes, now_year: int, year: int
) -> None:
    now = float(calendar.timegm((now_year, 6, 1, 0, 0, 0, 0, 0, 0)))
    parsed = parse_http_date(b"Sunday, 06-Nov-" + two_digits + b" 08:49:37 GMT", now=now)
    assert parsed == calendar.timegm((year, 11, 6, 8, 49, 37, 0, 0, 0))


def test_format_http_date() -> None:
    assert format_http_date(784111777.9) == b"Sun, 06 Nov 1994 08:49:37 GMT"
    assert format_http_date(-1) == b"Wed, 31 Dec 1969 23:59:59 GMT"


_TIMES = st.integers(min_value=-2_000_000_000, max_value=250_000_000_000)


@given(_TIMES)
def test_format_then_parse_is_identity(when: int) -> None:
    assert parse_http_date(format_http_date(when)) == when


@given(_TIMES)
def test_the_three_formats_agree(when: int) -> None:
    imf = format_http_date(when)
    day, number, month, year, clock = imf[:3], imf[5:7], imf[8:11], imf[12:16], imf[17:25]
    long_day = {
        b"Mon": b"Monday", b"Tue": b"Tuesday", b"Wed": b"Wednesday", b"Thu": b"Thursday",
        b"Fri": b"Friday", b"Sat": b"Saturday", b"Sun": b"Sunday",
    }[day]  # fmt: skip
    asctime = b"%s %s %2d %s %s" % (day, month, int(number), clock, year)
    rfc850 = b"%s, %s-%s-%s %s GMT" % (long_day, number, month, year[2:], clock)
    assert parse_http_date(asctime) == when
    assert parse_http_date(rfc850, now=float(when)) == when


@given(st.binary(max_size=40))
def test_parse_http_date_never_raises(value: bytes) -> None:
    parsed = parse_http_date(value)
    assert parsed is None or isinstance(parsed, float)


# -- directive lists -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        pytest.param([b"max-age=3600"], {b"max-age": b"3600"}, id="freshness-max-age"),
        pytest.param([b"MaX-aGe=3600"], {b"max-age": b"3600"}, id="freshness-max-age-case"),
        pytest.param([b'max-age="3600"'], {b"max-age": b"3600"}, id="freshness-max-age-quoted"),
        pytest.param(
            [b"max-age='3600'"], {b"max-age": b"'3600'"}, id="freshness-max-age-single-quoted"
        ),
        pytest.param(
            [b'extension="max-age=3600", max-age=1'],
            {b"extension": b"max-age=3600", b"max-age": b"1"},
            id="freshness-max-age-ignore-quoted",
        ),
        pytest.param(
            [b'max-age=1, extension="max-age=3600"'],
            {b"max-age": b"1", b"extension": b"max-age=3600"},
            id="freshness-max-age-ignore-quoted-rev",
        ),
        pytest.param(
            [b'extension="max-age=3600", max-age="1"'],
            {b"extension": b"max-age=3600", b"max-age": b"1"},
            id="freshness-max-age-ignore-quoted-all",
        ),
        pytest.param([b"max-age =3600"], {}, id="freshness-max-age-space-before-equals"),
        pytest.param([b"max-age= 3600"], {}, id="freshness-max-age-space-after-equals"),
        pytest.param(
            [b"max-age=3600, max-age=1800"],
            {b"max-age": b"3600"},
            id="freshness-max-age-multiple-directive",
        ),
        pytest.param(
            [b"max-age=1", b"max-age=1800"],
            {b"max-age": b"1"},
            id="freshness-max-age-two-stale-fresh-sepline",
        ),
        pytest.param(
            [b"foobar, max-age=3600"],
            {b"foobar": None, b"max-age": b"3600"},
            id="freshness-max-age-extension",
        ),
        pytest.param(
            [b"max-age =1, no-store, max-age=2"],
            {b"no-store": None, b"max-age": b"2"},
            id="malformed-member-skipped-alone",
        ),
        pytest.param(
            [b'no-cache="a, b", private'],
            {b"no-cache": b"a, b", b"private": None},
            id="qualified-list-keeps-its-comma",
        ),
        pytest.param([rb'x="a\"b\\c"'], {b"x": b'a"b\\c'}, id="quoted-pair"),
        pytest.param([b" , ,public,,  no-cache ,"], {b"public": None, b"no-cache": None}, id="ows"),
        pytest.param([b'a=1, b="unterminated, c=3'], {b"a": b"1"}, id="unterminated-quote"),
        pytest.param([b'a="x" y, b=2'], {b"b": b"2"}, id="garbage-after-quoted-value"),
        pytest.param([b"max-age=3600;stack, public"], {b"public": None}, id="targeted-skipped"),
        pytest.param([b"=3, max-age=4"], {b"max-age": b"4"}, id="no-name"),
        pytest.param([b"max-age=, public"], {b"public": None}, id="empty-argument"),
        pytest.param([b""], {}, id="empty-line"),
        pytest.param([], {}, id="no-lines"),
    ],
)
def test_parse_directives(lines: list[bytes], expected: dict[bytes, bytes | None]) -> None:
    assert parse_directives(lines) == expected


_TOKENS = st.text(alphabet="abcdefghijklmnopqrstuvwxyz-", min_size=1, max_size=8).map(str.encode)
_QDTEXT = st.text(alphabet='abc ,;=\\"xyz', max_size=8).map(str.encode)
_ARGUMENTS = st.one_of(
    st.none(), st.tuples(st.just("token"), _TOKENS), st.tuples(st.just("quoted"), _QDTEXT)
)
_OWS = st.sampled_from([b"", b" ", b"\t", b"  "])


def _serialise(name: bytes, argument: tuple[str, bytes] | None) -> bytes:
    if argument is None:
        return name
    kind, value = argument
    if kind == "token":
        return name + b"=" + value
    return name + b'="' + value.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'


@given(
    st.lists(st.tuples(_TOKENS, _ARGUMENTS), max_size=6),
    st.lists(_OWS, min_size=14, max_size=14),
    st.integers(min_value=1, max_value=3),
)
def test_parse_directives_round_trip(
    members: list[tuple[bytes, tuple[str, bytes] | None]], spaces: list[bytes], lines: int
) -> None:
    """Whatever the whitespace and however the members are spread over lines, the first
    occurrence of each name comes back with its value unquoted."""
    parts = [
        spaces[i] + _serialise(name, arg) + spaces[-i - 1] for i, (name, arg) in enumerate(members)
    ]
    per_line = max(1, math.ceil(len(parts) / lines))
    values = [b",".join(parts[i : i + per_line]) for i in range(0, len(parts), per_line)]
    expected: dict[bytes, bytes | None] = {}
    for name, argument in members:
        expected.setdefault(name.lower(), None if argument is None else argument[1])
    assert parse_directives(values) == expected


@given(st.lists(st.binary(max_size=30), max_size=3))
def test_parse_directives_never_raises(values: list[bytes]) -> None:
    for name, argument in parse_directives(values).items():
        assert name and name == name.lower()
        assert argument is None or isinstance(argument, bytes)


@given(st.lists(st.tuples(_TOKENS, _ARGUMENTS), min_size=1, max_size=4), st.binary(max_size=12))
def test_a_malformed_member_spoils_nothing_else(
    members: list[tuple[bytes, tuple[str, bytes] | None]], garbage: bytes
) -> None:
    good = b", ".join(_serialise(name, arg) for name, arg in members)
    bad = b"bad=" + garbage.replace(b",", b"").replace(b'"', b"") + b" x"
    assert parse_directives([bad + b", " + good]) == parse_directives([good])


# -- request directives --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "ignore", "expected"),
    [
        pytest.param(h(), False, RequestRules(), id="none"),
        pytest.param(cc("no-cache"), False, RequestRules(no_cache=True), id="ccreq-no-cache"),
        pytest.param(cc("no-store"), False, RequestRules(no_store=True), id="ccreq-no-store"),
        pytest.param(cc("max-age=0"), False, RequestRules(max_age=0.0), id="ccreq-ma0"),
        pytest.param(
            cc("max-stale=1000"), False, RequestRules(max_stale=1000.0), id="ccreq-max-stale"
        ),
        pytest.param(
            cc("max-stale"),
            False,
            RequestRules(max_stale=math.inf),
            id="bare-max-stale-is-any-staleness",
        ),
        pytest.param(
            cc("min-fresh=2000"), False, RequestRules(min_fresh=2000.0), id="ccreq-min-fresh"
        ),
        pytest.param(
            cc("only-if-cached"), False, RequestRules(only_if_cached=True), id="ccreq-oic"
        ),
        pytest.param(
            cc("max-age=abc, min-fresh=-1, max-stale=1.5"),
            False,
            RequestRules(),
            id="invalid-values-ignored",
        ),
        pytest.param(
            cc("max-age=99999999999"),
            False,
            RequestRules(max_age=MAX_DELTA),
            id="huge-max-age-capped",
        ),
        pytest.param(
            h(("Pragma", "no-cache")),
            False,
            RequestRules(no_cache=True),
            id="pragma-request-no-cache",
        ),
        pytest.param(
            h(("Pragma", "foo, No-Cache")), False, RequestRules(no_cache=True), id="pragma-list"
        ),
        pytest.param(
            h(("Pragma", "unrecognised-extension")),
            False,
            RequestRules(),
            id="pragma-request-extension",
        ),
        pytest.param(
            h(("Cache-Control", "max-age=10"), ("Pragma", "no-cache")),
            False,
            RequestRules(max_age=10.0),
            id="pragma-ignored-with-cache-control",
        ),
        pytest.param(
            cc("no-cache, max-age=0, min-fresh=5, max-stale, no-store"),
            True,
            RequestRules(no_store=True),
            id="CacheIgnoreCacheControl-keeps-no-store",
        ),
        pytest.param(
            h(("Pragma", "no-cache"), ("Cache-Control", "only-if-cached")),
            True,
            RequestRules(only_if_cached=True),
            id="CacheIgnoreCacheControl-keeps-only-if-cached",
        ),
        pytest.param(h(("Pragma", "no-cache")), True, RequestRules(), id="CacheIgnoreCacheControl"),
    ],
)
def test_request_rules(headers: Headers, ignore: bool, expected: RequestRules) -> None:
    assert request_rules(headers, ignore) == expected


# -- response directives -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        pytest.param(h(), R(), id="none"),
        pytest.param(cc("max-age=3600"), R(max_age=3600.0), id="freshness-max-age"),
        pytest.param(cc("max-age=003600"), R(max_age=3600.0), id="freshness-max-age-leading-zero"),
        pytest.param(
            cc("max-age=2147483649"), R(max_age=MAX_DELTA), id="freshness-max-age-max-plus-1"
        ),
        pytest.param(
            cc("max-age=99999999999"), R(max_age=MAX_DELTA), id="freshness-max-age-max-plus"
        ),
        pytest.param(cc("max-age=-3600"), R(max_age=0.0), id="freshness-max-age-negative"),
        pytest.param(cc("max-age='3600'"), R(max_age=0.0), id="freshness-max-age-single-quoted"),
        pytest.param(cc("max-age=3600.5"), R(max_age=0.0), id="freshness-max-age-decimal-five"),
        pytest.param(cc("max-age"), R(max_age=0.0), id="max-age-without-value"),
        pytest.param(
            cc("max-age=1, s-maxage=3600"),
            R(max_age=1.0, s_maxage=3600.0),
            id="freshness-max-age-s-maxage-shared-shorter",
        ),
        pytest.param(cc("s-maxage=x"), R(s_maxage=0.0), id="invalid-s-maxage"),
        pytest.param(
            cc("private, max-age=3600"),
            R(private=True, max_age=3600.0),
            id="cc-resp-private-shared",
        ),
        pytest.param(cc("No-StOrE"), R(no_store=True), id="cc-resp-no-store-case-insensitive"),
        pytest.param(
            cc("max-age=10000, No-CaChE"),
            R(no_cache=True, max_age=10000.0),
            id="cc-resp-no-cache-case-insensitive",
        ),
        pytest.param(
            h(("Cache-Control", 'no-cache="a, B"'), ("Cache-Control", "max-age=3600")),
            R(max_age=3600.0, no_cache_fields=(b"a", b"b")),
            id="headers-omit-headers-listed-in-Cache-Control-no-cache",
        ),
        pytest.param(
            cc('no-cache="a", no-cache'),
            R(no_cache=True, no_cache_fields=(b"a",)),
            id="unqualified-no-cache-anywhere-wins",
        ),
        pytest.param(
            cc('private="set-cookie", private=x-a'),
            R(private_fields=(b"set-cookie", b"x-a")),
            id="qualified-private-token-and-quoted",
        ),
        pytest.param(
            cc("max-age=2, must-revalidate"),
            R(max_age=2.0, must_revalidate=True),
            id="cc-resp-must-revalidate-stale",
        ),
        pytest.param(
            cc("max-age=2, proxy-revalidate"),
            R(max_age=2.0, must_revalidate=True),
            id="stale-close-proxy-revalidate",
        ),
        pytest.param(
            cc("max-age=3600, public"),
            R(max_age=3600.0, public=True),
            id="other-authorization-public",
        ),
        pytest.param(
            cc("max-age=3600, must-understand"),
            R(max_age=3600.0, must_understand=True),
            id="status-599-must-understand",
        ),
        pytest.param(
            cc("max-age=1, stale-while-revalidate=60, stale-if-error=x"),
            R(max_age=1.0, stale_while_revalidate=60.0),
            id="rfc5861",
        ),
        pytest.param(
            h(("Cache-Control", "max-age=1"), ("Pragma", "no-cache")),
            R(max_age=1.0),
            id="pragma-response-no-cache",
        ),
        # Surrogate-Control (W3C Edge Architecture)
        pytest.param(
            h(("Surrogate-Control", "max-age=3600")),
            R(max_age=3600.0, targeted=True),
            id="surrogate-max-age",
        ),
        pytest.param(
            h(("Surrogate-Control", "MaX-aGe=3600")),
            R(max_age=3600.0, targeted=True),
            id="surrogate-max-age-case-insensitive",
        ),
        pytest.param(
            h(("Surrogate-Control", "max-age=3600;stack")),
            R(max_age=3600.0, targeted=True),
            id="surrogate-max-age-me-target",
        ),
        pytest.param(
            h(("Surrogate-Control", "max-age=3600;STACK")),
            R(max_age=3600.0, targeted=True),
            id="target-case-insensitive",
        ),
        pytest.param(
            h(("Surrogate-Control", "max-age=3600;not-for-you"), ("Age", "7200")),
            R(),
            id="surrogate-max-age-other-target",
        ),
        pytest.param(
            h(("Surrogate-Control", "max-age=60, max-age=5;stack")),
            R(max_age=5.0, targeted=True),
            id="targeted-overrides-unqualified",
        ),
        pytest.param(
            h(("Cache-Control", "max-age=1"), ("Surrogate-Control", "max-age=3600")),
            R(max_age=3600.0, targeted=True),
            id="surrogate-max-age-short-cc-max-age",
        ),
        pytest.param(
            h(("Cache-Control", "max-age=10000"), ("Surrogate-Control", "no-store")),
            R(no_store=True, targeted=True),
            id="surrogate-no-store-cc-fresh",
        ),
        pytest.param(
            h(("Cache-Control", "no-store"), ("Surrogate-Control", "max-age=10000;stack")),
            R(max_age=10000.0, targeted=True),
            id="surrogate-fresh-cc-nostore",
        ),
        pytest.param(
            h(("Cache-Control", "max-age=1"), ("Surrogate-Control", "max-age =100")),
            R(max_age=1.0),
            id="surrogate-max-age-space-before-equals",
        ),
        pytest.param(
            h(("Cache-Control", "max-age=10000"), ("Surrogate-Control", "foo")),
            R(max_age=10000.0),
            id="surrogate-without-caching-directive-defers",
        ),
        pytest.param(
            h(("Surrogate-Control", "max-age=60+600")),
            R(max_age=60.0, stale_if_error=600.0, targeted=True),
            id="surrogate-max-age-plus-stale",
        ),
        # CDN-Cache-Control (RFC 9213)
        pytest.param(
            h(("Cache-Control", "no-store"), ("CDN-Cache-Control", "max-age=60")),
            R(max_age=60.0, targeted=True),
            id="cdn-cache-control-replaces-cache-control",
        ),
        pytest.param(
            h(("Cache-Control", "max-age=60"), ("CDN-Cache-Control", "private")),
            R(private=True, targeted=True),
            id="cdn-private",
        ),
        pytest.param(
            h(("Cache-Control", "max-age=60"), ("CDN-Cache-Control", "max-age =1")),
            R(max_age=60.0),
            id="invalid-cdn-cache-control-ignored",
        ),
        pytest.param(
            h(
                ("Surrogate-Control", "max-age=5"),
                ("CDN-Cache-Control", "max-age=60"),
                ("Cache-Control", "max-age=600"),
            ),
            R(max_age=5.0, targeted=True),
            id="surrogate-control-before-cdn-cache-control",
        ),
        pytest.param(
            h(("CDN-Cache-Control", "max-age=60+600")),
            R(max_age=0.0, targeted=True),
            id="plus-form-is-surrogate-control-only",
        ),
    ],
)
def test_response_rules(headers: Headers, expected: ResponseRules) -> None:
    assert response_rules(headers, NAME) == expected


# -- storing -------------------------------------------------------------------------------------

FRESH = cc("max-age=3600")
LM = h(("Last-Modified", date(-86400)), ("Date", date(0)))
AUTH = h(("Authorization", "FOO"))


def _storable(
    response: Headers,
    *,
    method: bytes = b"GET",
    status: int = 200,
    request: Headers | None = None,
    settings: EdgeCache = SETTINGS,
    has_query: bool = False,
) -> str | None:
    rules = response_rules(response, NAME)
    return storable(method, status, request or [], response, rules, settings, has_query)


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        pytest.param({"response": FRESH}, None, id="freshness-max-age"),
        pytest.param({"response": FRESH, "method": b"HEAD"}, "method", id="head-not-stored"),
        pytest.param({"response": FRESH, "method": b"POST"}, "method", id="method-POST-not-stored"),
        pytest.param({"response": FRESH, "status": 206}, "status", id="partial-not-stored"),
        pytest.param({"response": FRESH, "status": 304}, "status", id="304-not-stored"),
        pytest.param({"response": FRESH, "status": 101}, "status", id="interim-not-stored"),
        pytest.param({"response": FRESH, "status": 999}, "status", id="not-a-status"),
        pytest.param({"response": FRESH, "status": 599}, None, id="status-599-fresh"),
        pytest.param({"response": FRESH, "status": 503}, None, id="status-503-fresh"),
        pytest.param({"response": FRESH, "status": 204}, None, id="status-204-fresh"),
        pytest.param(
            {"response": cc("max-age=3600, must-understand"), "status": 599},
            "must-understand",
            id="status-599-must-understand",
        ),
        pytest.param(
            {"response": cc("max-age=60, must-understand, no-store")},
            None,
            id="must-understand-overrides-no-store",
        ),
        pytest.param(
            {"response": h(("Cache-Control", "max-age=10000, no-store"), ("Expires", date(1)))},
            "no-store",
            id="cc-resp-no-store-fresh",
        ),
        pytest.param(
            {"response": FRESH, "request": cc("no-store")}, "no-store", id="request-no-store"
        ),
        pytest.param(
            {
                "response": FRESH,
                "request": cc("no-store"),
                "settings": replace(SETTINGS, ignore_cache_control=True),
            },
            "no-store",
            id="request-no-store-despite-CacheIgnoreCacheControl",
        ),
        pytest.param(
            {"response": h(("Surrogate-Control", "no-store"))}, "no-store", id="surrogate-no-store"
        ),
        pytest.param(
            {"response": cc("private, max-age=3600")}, "private", id="cc-resp-private-shared"
        ),
        pytest.param(
            {"response": cc('private="set-cookie", max-age=3600')},
            None,
            id="qualified-private-is-storable",
        ),
        pytest.param(
            {"response": h(("Expires", date(3600)), ("Date", date(0))), "request": AUTH},
            "authorization",
            id="other-authorization",
        ),
        pytest.param(
            {"response": cc("max-age=3600, public"), "request": AUTH},
            None,
            id="other-authorization-public",
        ),
        pytest.param(
            {"response": cc("max-age=3600, must-revalidate"), "request": AUTH},
            None,
            id="other-authorization-must-revalidate",
        ),
        pytest.param(
            {"response": cc("s-maxage=3600"), "request": AUTH},
            None,
            id="other-authorization-smaxage",
        ),
        pytest.param({"response": [*FRESH, (b"vary", b"*")]}, "vary-star", id="vary-star"),
        pytest.param(
            {"response": [*FRESH, (b"vary", b""), (b"vary", b"*")]},
            "vary-star",
            id="vary-syntax-empty-star-lines",
        ),
        pytest.param({"response": h()}, "no-freshness", id="freshness-none"),
        pytest.param(
            {"response": h(("ETag", '"a"'))}, None, id="validator-allows-heuristic-storage"
        ),
        pytest.param(
            {"response": h(), "settings": replace(SETTINGS, ignore_no_last_mod=True)},
            None,
            id="CacheIgnoreNoLastMod",
        ),
        pytest.param({"response": LM}, None, id="heuristic-200-cached"),
        pytest.param({"response": LM, "status": 404}, None, id="heuristic-404-cached"),
        pytest.param(
            {"response": LM, "status": 201}, "no-freshness", id="heuristic-201-not_cached"
        ),
        pytest.param(
            {"response": LM, "status": 403}, "no-freshness", id="heuristic-403-not_cached"
        ),
        pytest.param(
            {"response": LM, "status": 503}, "no-freshness", id="heuristic-503-not_cached"
        ),
        pytest.param(
            {"response": LM, "status": 599}, "no-freshness", id="heuristic-599-not_cached"
        ),
        pytest.param(
            {"response": [*LM, (b"cache-control", b"public")], "status": 599},
            None,
            id="heuristic-599-cached",
        ),
        pytest.param(
            {"response": LM, "has_query": True}, "query", id="query-needs-explicit-freshness"
        ),
        pytest.param({"response": FRESH, "has_query": True}, None, id="query-args-same"),
        pytest.param(
            {"response": h(("Expires", "0"))}, None, id="invalid-expires-is-explicit-and-stale"
        ),
        pytest.param(
            {"response": h(("Cache-Control", "max-age=10000, no-cache"), ("Expires", date(10)))},
            "no-cache",
            id="cc-resp-no-cache-without-validator",
        ),
        pytest.param(
            {"response": h(("Cache-Control", "no-cache"), ("ETag", '"abcd"'))},
            None,
            id="cc-resp-no-cache-revalidate",
        ),
        pytest.param(
            {"response": h(("Cache-Control", "no-store"), ("CDN-Cache-Control", "max-age=5"))},
            None,
            id="cdn-fresh-cc-nostore",
        ),
        pytest.param(
            {"response": h(("CDN-Cache-Control", "public"), ("Expires", date(60)))},
            "no-freshness",
            id="targeted-field-ignores-expires",
        ),
    ],
)
def test_storable(kwargs: dict[str, object], expected: str | None) -> None:
    assert _storable(**kwargs) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        pytest.param(h(("ETag", '"a"')), True, id="etag"),
        pytest.param(h(("Last-Modified", date(0))), True, id="last-modified"),
        pytest.param(h(("Date", date(0)), ("Expires", date(5))), False, id="none"),
    ],
)
def test_has_validator(headers: Headers, expected: bool) -> None:
    assert has_validator(headers) is expected


# -- freshness lifetime --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "status", "settings", "expected"),
    [
        pytest.param(FRESH, 200, SETTINGS, 3600.0, id="freshness-max-age"),
        pytest.param(
            h(("Cache-Control", "max-age=0"), ("Expires", date(3600)), ("Date", date(0))),
            200,
            SETTINGS,
            0.0,
            id="freshness-max-age-0-expires",
        ),
        pytest.param(
            h(("Cache-Control", "max-age=3600"), ("Expires", date(-7200)), ("Date", date(0))),
            200,
            SETTINGS,
            3600.0,
            id="freshness-max-age-expires",
        ),
        pytest.param(
            h(("Cache-Control", "max-age=3600"), ("Expires", "0"), ("Date", date(0))),
            200,
            SETTINGS,
            3600.0,
            id="freshness-max-age-expires-invalid",
        ),
        pytest.param(
            cc("max-age=3600, s-maxage=1"),
            200,
            SETTINGS,
            1.0,
            id="freshness-max-age-s-maxage-shared-longer",
        ),
        pytest.param(
            h(("Cache-Control", "max-age=0, s-maxage=3600"), ("Expires", date(-10))),
            200,
            SETTINGS,
            3600.0,
            id="freshness-max-age-s-maxage-shared-shorter-expires",
        ),
        pytest.param(
            cc("max-age=99999999999"), 200, SETTINGS, 86400.0, id="CacheMaxExpire-caps-explicit"
        ),
        pytest.param(
            cc("max-age=99999999999"),
            200,
            replace(SETTINGS, max_expire=math.inf),
            MAX_DELTA,
            id="freshness-max-age-max-plus",
        ),
        pytest.param(
            h(("Expires", date(30 * 86400)), ("Date", date(0))),
            200,
            replace(SETTINGS, max_expire=math.inf),
            30 * 86400.0,
            id="freshness-expires-future",
        ),
        pytest.param(
            h(("Expires", date(-30 * 86400)), ("Date", date(0))),
            200,
            SETTINGS,
            0.0,
            id="freshness-expires-past",
        ),
        pytest.param(
            h(("Expires", date(0)), ("Date", date(0))),
            200,
            SETTINGS,
            0.0,
            id="freshness-expires-present",
        ),
        pytest.param(
            h(("Expires", date(300)), ("Date", date(400))),
            200,
            SETTINGS,
            0.0,
            id="freshness-expires-old-date",
        ),
        pytest.param(
            h(("Expires", "0"), ("Date", date(0)), ("Last-Modified", date(-86400))),
            200,
            SETTINGS,
            0.0,
            id="freshness-expires-invalid",
        ),
        pytest.param(
            h(("Date", "foo"), ("Expires", date(10))),
            200,
            SETTINGS,
            10.0,
            id="freshness-expires-invalid-date",
        ),
        pytest.param(
            h(("Expires", date(10))), 200, SETTINGS, 10.0, id="expires-without-date-uses-arrival"
        ),
        pytest.param(
            h(("Expires", date(10)), ("Expires", "0")), 200, SETTINGS, 10.0, id="first-expires-line"
        ),
        pytest.param(
            h(("Surrogate-Control", "max-age=3600"), ("Expires", "0"), ("Date", date(0))),
            200,
            SETTINGS,
            3600.0,
            id="surrogate-max-age-cc-max-age-invalid-expires",
        ),
        pytest.param(
            h(("Surrogate-Control", "max-age=0"), ("Expires", date(10000)), ("Date", date(0))),
            200,
            SETTINGS,
            0.0,
            id="surrogate-max-age-0-expires",
        ),
        pytest.param(
            h(("Cache-Control", "max-age=3600"), ("Surrogate-Control", "max-age=1")),
            200,
            SETTINGS,
            1.0,
            id="surrogate-max-age-long-cc-max-age",
        ),
        pytest.param(
            h(
                ("CDN-Cache-Control", "public"),
                ("Expires", date(60)),
                ("Last-Modified", date(-100)),
            ),
            200,
            SETTINGS,
            10.0,
            id="targeted-field-ignores-expires",
        ),
        pytest.param(LM, 200, SETTINGS, 8640.0, id="heuristic-200-cached"),
        pytest.param(LM, 410, SETTINGS, 8640.0, id="heuristic-410-cached"),
        pytest.param(LM, 502, SETTINGS, 0.0, id="heuristic-502-not_cached"),
        pytest.param(LM, 599, SETTINGS, 0.0, id="heuristic-599-not_cached"),
        pytest.param(
            [*LM, (b"cache-control", b"public")], 599, SETTINGS, 8640.0, id="heuristic-599-cached"
        ),
        pytest.param(
            [*LM, (b"pragma", b"no-cache")],
            200,
            SETTINGS,
            8640.0,
            id="pragma-response-no-cache-heuristic",
        ),
        pytest.param(
            h(("Last-Modified", date(-3600 * 24 * 365)), ("Date", date(0))),
            200,
            SETTINGS,
            86400.0,
            id="heuristic-capped-by-CacheMaxExpire",
        ),
        pytest.param(
            h(("Last-Modified", date(-5)), ("Date", date(0))),
            200,
            replace(SETTINGS, min_expire=60.0),
            60.0,
            id="heuristic-raised-to-CacheMinExpire",
        ),
        pytest.param(
            h(("Last-Modified", date(-5)), ("Date", date(0))),
            200,
            SETTINGS,
            0.5,
            id="heuristic-delta-5",
        ),
        pytest.param(
            h(("Last-Modified", date(-100)), ("Date", date(0))),
            200,
            replace(SETTINGS, last_modified_factor=0.5),
            50.0,
            id="CacheLastModifiedFactor",
        ),
        pytest.param(
            h(("Last-Modified", date(100)), ("Date", date(0))),
            200,
            SETTINGS,
            0.0,
            id="future-last-modified",
        ),
        pytest.param(
            h(("Last-Modified", date(-100))), 200, SETTINGS, 10.0, id="lm-without-date-uses-arrival"
        ),
        pytest.param(
            h(("ETag", '"a"')),
            200,
            replace(SETTINGS, default_expire=90000.0),
            90000.0,
            id="CacheDefaultExpire-not-capped",
        ),
        pytest.param(
            h(("ETag", '"a"')),
            200,
            replace(SETTINGS, min_expire=7200.0),
            3600.0,
            id="CacheMinExpire-not-applied-to-default",
        ),
        pytest.param(h(("ETag", '"a"')), 503, SETTINGS, 0.0, id="no-default-for-503"),
        pytest.param(
            cc("max-age=5"),
            200,
            replace(SETTINGS, min_expire=60.0),
            5.0,
            id="CacheMinExpire-not-applied-to-explicit",
        ),
    ],
)
def test_freshness_lifetime(
    headers: Headers, status: int, settings: EdgeCache, expected: float
) -> None:
    rules = response_rules(headers, NAME)
    assert freshness_lifetime(status, headers, rules, settings, NOW) == pytest.approx(expected)


# -- age -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(None, None, id="absent"),
        pytest.param(b"30", 30.0, id="other-age-update-max-age"),
        pytest.param(b" 7 ", 7.0, id="ows"),
        pytest.param(b"0", 0.0, id="zero"),
        pytest.param(b"007", 7.0, id="leading-zeros"),
        pytest.param(b"99999999999", MAX_DELTA, id="huge-capped"),
        pytest.param(b"abc", MAX_DELTA, id="age-parse-nonnumeric"),
        pytest.param(b"-7200", MAX_DELTA, id="age-parse-negative"),
        pytest.param(b"7200.0", MAX_DELTA, id="age-parse-float"),
        pytest.param(b"1.5", MAX_DELTA, id="fraction"),
        pytest.param(b"7200,0", 7200.0, id="age-parse-suffix"),
        pytest.param(b"0,7200", 0.0, id="age-parse-prefix"),
        pytest.param(b"0, 0", MAX_DELTA, id="age-parse-dup-0"),
        pytest.param(b"3600, 3600", MAX_DELTA, id="age-parse-dup-old"),
        pytest.param(b"7200;foo=bar", MAX_DELTA, id="age-parse-parameter"),
        pytest.param(b"7200;foo=111", MAX_DELTA, id="age-parse-numeric-parameter"),
        pytest.param(b"", MAX_DELTA, id="empty"),
    ],
)
def test_parse_age(value: bytes | None, expected: float | None) -> None:
    assert parse_age(value) == expected


@pytest.mark.parametrize(
    ("headers", "request_time", "expected"),
    [
        pytest.param(h(("Date", date(0))), NOW, 0.0, id="new"),
        pytest.param(h(("Date", date(0))), NOW - 2, 2.0, id="response-delay"),
        pytest.param(h(("Date", date(-7200))), NOW, 7200.0, id="freshness-max-age-date"),
        pytest.param(h(("Date", date(10))), NOW, 0.0, id="date-in-the-future"),
        pytest.param(
            h(("Date", date(0)), ("Age", "7200")), NOW, 7200.0, id="freshness-max-age-age"
        ),
        pytest.param(
            h(("Date", date(-10)), ("Age", "25")), NOW, 25.0, id="freshness-expires-age-slow-date"
        ),
        pytest.param(h(("Date", date(-100)), ("Age", "25")), NOW, 100.0, id="apparent-age-wins"),
        pytest.param(h(("Age", "30")), NOW - 1, 31.0, id="age-plus-delay"),
        pytest.param(h(("Date", "foo"), ("Age", "5")), NOW, 5.0, id="invalid-date"),
        pytest.param(
            h(("Date", date(0)), ("Age", "7200"), ("Age", "0")),
            NOW,
            MAX_DELTA,
            id="age-parse-suffix-twoline",
        ),
        pytest.param(
            h(("Date", date(0)), ("Age", "0"), ("Age", "7200")),
            NOW,
            MAX_DELTA,
            id="age-parse-prefix-twoline",
        ),
        pytest.param(
            h(("Date", date(0)), ("Age", "0"), ("Age", "0")),
            NOW,
            MAX_DELTA,
            id="age-parse-dup-0-twoline",
        ),
        pytest.param(h(("Date", date(0)), ("Age", "abc")), NOW, MAX_DELTA, id="invalid-age"),
        pytest.param(h(), NOW + 5, 0.0, id="clock-went-back"),
    ],
)
def test_initial_age(headers: Headers, request_time: float, expected: float) -> None:
    assert initial_age(headers, request_time, NOW) == pytest.approx(expected)


# -- keys ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        pytest.param(h(), (), id="no-vary"),
        pytest.param(h(("Vary", "Foo")), (b"foo",), id="vary-match"),
        pytest.param(h(("Vary", "Foo, Bar, Baz")), (b"bar", b"baz", b"foo"), id="vary-3-match"),
        pytest.param(
            h(("Vary", "foo,  BAR"), ("Vary", "Foo"), ("Vary", "")),
            (b"bar", b"foo"),
            id="combined-deduplicated",
        ),
        pytest.param(h(("Vary", "*")), None, id="vary-syntax-star"),
        pytest.param(h(("Vary", "*, *")), None, id="vary-syntax-star-star"),
        pytest.param(h(("Vary", "*"), ("Vary", "*")), None, id="vary-syntax-star-star-lines"),
        pytest.param(h(("Vary", ", *")), None, id="vary-syntax-empty-star"),
        pytest.param(h(("Vary", ""), ("Vary", "*")), None, id="vary-syntax-empty-star-lines"),
        pytest.param(h(("Vary", "*, Foo")), None, id="vary-syntax-star-foo"),
        pytest.param(h(("Vary", "Foo, *")), None, id="vary-syntax-foo-star"),
    ],
)
def test_vary_fields(headers: Headers, expected: tuple[bytes, ...] | None) -> None:
    assert vary_fields(headers) == expected


@pytest.mark.parametrize(
    ("fields", "stored", "presented", "same"),
    [
        pytest.param((b"foo",), h(("Foo", "1")), h(("Foo", "1")), True, id="vary-match"),
        pytest.param((b"foo",), h(("Foo", "1")), h(("Foo", "2")), False, id="vary-no-match"),
        pytest.param((b"foo",), h(), h(("Foo", "1")), False, id="vary-omit-stored"),
        pytest.param((b"foo",), h(("Foo", "1")), h(), False, id="vary-omit"),
        pytest.param((b"foo",), h(("Foo", "")), h(), False, id="empty-is-not-absent"),
        pytest.param(
            (b"foo",),
            h(("Foo", "1"), ("Other", "2")),
            h(("Foo", "1"), ("Other", "3")),
            True,
            id="vary-cache-key",
        ),
        pytest.param(
            (b"bar", b"foo"),
            h(("Foo", "1"), ("Bar", "abc")),
            h(("Bar", "abc"), ("Foo", "1")),
            True,
            id="vary-2-match",
        ),
        pytest.param(
            (b"bar", b"foo"),
            h(("Foo", "1"), ("Bar", "abc")),
            h(("Foo", "2"), ("Bar", "abc")),
            False,
            id="vary-2-no-match",
        ),
        pytest.param(
            (b"bar", b"foo"), h(("Foo", "1")), h(("Foo", "1")), True, id="vary-2-match-omit-both"
        ),
        pytest.param(
            (b"bar", b"baz", b"foo"),
            h(("Foo", "1"), ("Bar", "abc4"), ("Baz", "789")),
            h(("Foo", "1"), ("Bar", "abc"), ("Baz", "789")),
            False,
            id="vary-3-order",
        ),
        pytest.param(
            (b"bar", b"baz", b"foo"),
            h(("Foo", "1"), ("Baz", "789")),
            h(("Foo", "1"), ("Baz", "789")),
            True,
            id="vary-3-omit",
        ),
        pytest.param(
            (b"foo",),
            h(("Foo", "1, 2")),
            h(("Foo", "1"), ("Foo", "2")),
            True,
            id="vary-normalise-combine",
        ),
        pytest.param(
            (b"foo",), h(("Foo", "1,2")), h(("Foo", " 1, 2 ")), True, id="vary-normalise-space"
        ),
        pytest.param((b"foo",), h(("Foo", "1, 2")), h(("Foo", "2, 1")), False, id="order-kept"),
        pytest.param((b"foo",), h(("Foo", "a")), h(("Foo", "A")), False, id="case-kept"),
        pytest.param(
            (b"foo",), h(("Foo", '"a , b"')), h(("Foo", '"a, b"')), False, id="quoted-kept"
        ),
        pytest.param(
            (b"accept-language",),
            h(("Accept-Language", "en, de")),
            h(("Accept-Language", "de, en")),
            True,
            id="vary-normalise-lang-order",
        ),
        pytest.param(
            (b"accept-language",),
            h(("Accept-Language", "en, de")),
            h(("Accept-Language", "eN, De")),
            True,
            id="vary-normalise-lang-case",
        ),
        pytest.param(
            (b"accept-language",),
            h(("Accept-Language", "en, de")),
            h(("Accept-Language", " en ,   de")),
            True,
            id="vary-normalise-lang-space",
        ),
        pytest.param(
            (b"accept-language",),
            h(("Accept-Language", "en;q=0.5, de")),
            h(("Accept-Language", "en, de;q=0.5")),
            False,
            id="lang-weights-kept",
        ),
        pytest.param(
            (b"accept-encoding",),
            h(("Accept-Encoding", "gzip, br")),
            h(("Accept-Encoding", "BR,gzip")),
            True,
            id="accept-encoding",
        ),
    ],
)
def test_secondary_key(
    fields: tuple[bytes, ...], stored: Headers, presented: Headers, same: bool
) -> None:
    assert (secondary_key(fields, stored) == secondary_key(fields, presented)) is same


def test_secondary_key_without_vary_is_empty() -> None:
    assert secondary_key((), h(("Foo", "1"))) == b""


_MEMBERS = st.lists(
    st.text(alphabet="abcXYZ019-_", min_size=1, max_size=5).map(str.encode), max_size=4
)


@given(_MEMBERS, st.lists(_OWS, min_size=8, max_size=8), st.integers(min_value=1, max_value=4))
def test_secondary_key_ignores_whitespace_and_line_splits(
    members: list[bytes], spaces: list[bytes], lines: int
) -> None:
    """The same list, however it is spaced and split into lines, selects the same variant."""
    plain = h(("Foo", ", ".join(m.decode() for m in members)), ("Other", "x"))
    padded = [spaces[i % 8] + member + spaces[-(i % 8) - 1] for i, member in enumerate(members)]
    per_line = max(1, math.ceil(len(padded) / lines))
    split: Headers = [
        (b"foo", b",".join(padded[i : i + per_line])) for i in range(0, len(padded), per_line)
    ] or [(b"foo", b"")]
    assert secondary_key((b"foo",), plain) == secondary_key((b"foo",), split)
    assert secondary_key((b"foo",), plain) != secondary_key((b"foo",), h(("Other", "x")))


@given(_MEMBERS, _MEMBERS)
def test_secondary_key_separates_different_lists(first: list[bytes], second: list[bytes]) -> None:
    a = h(("Foo", ",".join(m.decode() for m in first)))
    b = h(("Foo", ",".join(m.decode() for m in second)))
    assert (secondary_key((b"foo",), a) == secondary_key((b"foo",), b)) is (first == second)


@pytest.mark.parametrize(
    ("host", "target", "ignore_query", "expected"),
    [
        pytest.param(b"edge.test", b"/a?b=c", False, b"https://edge.test/a?b=c", id="plain"),
        pytest.param(b"Edge.TEST", b"/A", False, b"https://edge.test/A", id="host-lowercased"),
        pytest.param(b"edge.test:443", b"/", False, b"https://edge.test/", id="default-port"),
        pytest.param(b"edge.test:8443", b"/", False, b"https://edge.test:8443/", id="other-port"),
        pytest.param(b"edge.test", b"/a?b=c", True, b"https://edge.test/a", id="ignore-query"),
        pytest.param(b"[::1]:443", b"/", False, b"https://[::1]/", id="ipv6"),
    ],
)
def test_cache_key(host: bytes, target: bytes, ignore_query: bool, expected: bytes) -> None:
    assert cache_key(host, target, ignore_query) == expected


def test_query_args_different() -> None:
    assert cache_key(b"e", b"/t?test=a", False) != cache_key(b"e", b"/t?test=b", False)


# -- conditional requests ------------------------------------------------------------------------


def parse_and_rfc850(offset: float) -> bytes:
    imf = format_http_date(NOW + offset)
    return b"Tuesday, %s-%s-%s %s GMT" % (imf[5:7], imf[8:11], imf[14:16], imf[17:25])


STORED = h(("Expires", date(100000)), ("ETag", '"abcdef"'), ("Date", date(0)))


@pytest.mark.parametrize(
    ("request_headers", "stored", "expected"),
    [
        pytest.param(
            h(("If-None-Match", '"abcdef"')), STORED, True, id="conditional-etag-strong-respond"
        ),
        pytest.param(h(("If-None-Match", '"abcdeg"')), STORED, False, id="etag-differs"),
        pytest.param(
            h(("If-None-Match", '"abcdef"'), ("If-Modified-Since", date(-1))),
            [*STORED, (b"last-modified", date(-5000).encode())],
            True,
            id="conditional-etag-precedence",
        ),
        pytest.param(
            h(("If-None-Match", '"other"'), ("If-Modified-Since", date(0))),
            [*STORED, (b"last-modified", date(-5000).encode())],
            False,
            id="if-none-match-decides-alone",
        ),
        pytest.param(
            h(("If-None-Match", 'W/"abcdef"')),
            h(("ETag", 'W/"abcdef"')),
            True,
            id="conditional-etag-weak-respond",
        ),
        pytest.param(
            h(("If-None-Match", '"abcdef"')), h(("ETag", 'W/"abcdef"')), True, id="weak-comparison"
        ),
        pytest.param(
            h(("If-None-Match", 'w/"abcdef"')),
            h(("ETag", 'w/"abcdef"')),
            True,
            id="conditional-etag-weak-respond-lowercase",
        ),
        pytest.param(
            h(("If-None-Match", 'W\\"abcdef"')),
            h(("ETag", 'W\\"abcdef"')),
            True,
            id="conditional-etag-weak-respond-backslash",
        ),
        pytest.param(
            h(("If-None-Match", 'W"abcdef"')),
            h(("ETag", 'W"abcdef"')),
            True,
            id="conditional-etag-weak-respond-omit-slash",
        ),
        pytest.param(
            h(("If-None-Match", "abcdef")),
            STORED,
            True,
            id="conditional-etag-quoted-respond-unquoted",
        ),
        pytest.param(
            h(("If-None-Match", '"abcdef"')),
            h(("ETag", "abcdef")),
            True,
            id="conditional-etag-unquoted-respond-quoted",
        ),
        pytest.param(
            h(("If-None-Match", '"abcdefü"')),
            h(("ETag", '"abcdefü"')),
            True,
            id="conditional-etag-strong-respond-obs-text",
        ),
        pytest.param(
            h(("If-None-Match", '"abcdef", "1234", "5678"')),
            STORED,
            True,
            id="conditional-etag-strong-respond-multiple-first",
        ),
        pytest.param(
            h(("If-None-Match", '"1234", "abcdef", "5678"')),
            STORED,
            True,
            id="conditional-etag-strong-respond-multiple-second",
        ),
        pytest.param(
            h(("If-None-Match", '"1234"'), ("If-None-Match", '"5678", "abcdef"')),
            STORED,
            True,
            id="conditional-etag-strong-respond-multiple-last",
        ),
        pytest.param(
            h(("If-None-Match", '"a,b"')), h(("ETag", '"a,b"')), True, id="comma-inside-etag"
        ),
        pytest.param(h(("If-None-Match", "*")), STORED, True, id="star"),
        pytest.param(h(("If-None-Match", "*")), h(("Date", date(0))), True, id="star-without-etag"),
        pytest.param(h(("If-None-Match", '"x"')), h(("Date", date(0))), False, id="no-stored-etag"),
        pytest.param(
            h(("If-Modified-Since", date(-3000))),
            h(("Last-Modified", date(-3000)), ("Date", date(0))),
            True,
            id="conditional-lm-fresh",
        ),
        pytest.param(
            h(("If-Modified-Since", date(-2000))),
            h(("Last-Modified", date(-3000)), ("Date", date(0))),
            True,
            id="conditional-lm-fresh-earlier",
        ),
        pytest.param(
            h(("If-Modified-Since", date(-4000))),
            h(("Last-Modified", date(-3000)), ("Date", date(0))),
            False,
            id="modified-since",
        ),
        pytest.param(
            [(b"if-modified-since", parse_and_rfc850(-3000))],
            h(("Last-Modified", date(-3000)), ("Date", date(0))),
            True,
            id="conditional-lm-fresh-rfc850",
        ),
        pytest.param(
            h(("If-Modified-Since", date(0))), h(("Date", date(-10))), True, id="date-when-no-lm"
        ),
        pytest.param(
            h(("If-Modified-Since", date(-3000))),
            h(("Date", date(0))),
            False,
            id="conditional-lm-fresh-no-lm-is-newer",
        ),
        pytest.param(
            h(("If-Modified-Since", "yesterday")),
            h(("Last-Modified", date(-3000))),
            False,
            id="invalid-ims-ignored",
        ),
        pytest.param(
            h(("If-Modified-Since", date(0)), ("If-Modified-Since", date(0))),
            h(("Last-Modified", date(-3000))),
            False,
            id="several-ims-ignored",
        ),
        pytest.param(h(("If-Modified-Since", date(0))), h(), False, id="nothing-to-compare"),
        pytest.param(h(), STORED, False, id="unconditional"),
    ],
)
def test_not_modified(request_headers: Headers, stored: Headers, expected: bool) -> None:
    assert not_modified(request_headers, 200, stored) is expected


def test_not_modified_only_for_a_stored_200() -> None:
    assert not not_modified(h(("If-None-Match", "*")), 404, STORED)


@pytest.mark.parametrize(
    ("stored", "expected"),
    [
        pytest.param(
            STORED, h(("If-None-Match", '"abcdef"')), id="conditional-etag-strong-generate"
        ),
        pytest.param(
            h(("ETag", 'W/"abcdef"')),
            h(("If-None-Match", 'W/"abcdef"')),
            id="conditional-etag-weak-generate-weak",
        ),
        pytest.param(h(("ETag", "abcdef")), h(("If-None-Match", "abcdef")), id="sent-as-stored"),
        pytest.param(
            h(("Last-Modified", "Wed, 01 Jan 2020 00:00:00 GMT")),
            h(("If-Modified-Since", "Wed, 01 Jan 2020 00:00:00 GMT")),
            id="304-lm-use-stored-Test-Header",
        ),
        pytest.param(
            h(("Last-Modified", "Wed, 01 Jan 2020 00:00:00 GMT"), ("ETag", '"x"')),
            h(("If-None-Match", '"x"'), ("If-Modified-Since", "Wed, 01 Jan 2020 00:00:00 GMT")),
            id="both",
        ),
        pytest.param(h(("Last-Modified", "garbage")), h(), id="invalid-last-modified"),
        pytest.param(h(("Date", date(0))), h(), id="none"),
    ],
)
def test_revalidation_headers(stored: Headers, expected: Headers) -> None:
    assert revalidation_headers(stored) == expected


# -- updating stored headers ---------------------------------------------------------------------

UPDATE_STORED = h(
    ("Date", date(-10)),
    ("Cache-Control", "max-age=1"),
    ("ETag", '"abcdef"'),
    ("Content-Type", "text/plain"),
    ("Content-Length", "5"),
    ("Content-Encoding", "gzip"),
    ("Set-Cookie", "a=1"),
    ("Set-Cookie", "b=1"),
    ("Age", "30"),
    ("Test-Header", "A"),
)


@pytest.mark.parametrize(
    ("fresh", "name", "expected"),
    [
        pytest.param(
            h(("Date", date(0))), "test-header", ["A"], id="304-lm-use-stored-Test-Header"
        ),
        pytest.param(
            cc("max-age=3600"),
            "cache-control",
            ["max-age=3600"],
            id="304-etag-update-response-Cache-Control",
        ),
        pytest.param(
            h(("Content-Type", "text/plain;charset=utf-8")),
            "content-type",
            ["text/plain;charset=utf-8"],
            id="304-etag-update-response-Content-Type",
        ),
        pytest.param(
            h(("Set-Cookie", "a=c")),
            "set-cookie",
            ["a=c"],
            id="304-etag-update-response-Set-Cookie",
        ),
        pytest.param(
            h(("X-Frame-Options", "sameorigin")),
            "x-frame-options",
            ["sameorigin"],
            id="304-etag-update-response-X-Frame-Options",
        ),
        pytest.param(
            h(("ETag", '"ghijkl"')), "etag", ['"abcdef"'], id="304-etag-update-response-ETag"
        ),
        pytest.param(
            h(("Content-Length", "10")),
            "content-length",
            ["5"],
            id="304-etag-update-response-Content-Length",
        ),
        pytest.param(
            h(("Content-Encoding", "br")),
            "content-encoding",
            ["gzip"],
            id="304-etag-update-response-Content-Encoding",
        ),
        pytest.param(
            h(("Content-MD5", "N7UdGUp1E+RbVvZSTy1R8g==")),
            "content-md5",
            [],
            id="304-etag-update-response-Content-MD5",
        ),
        pytest.param(
            h(("Content-Range", "bytes 0-1/2")),
            "content-range",
            [],
            id="304-etag-update-response-Content-Range",
        ),
        pytest.param(
            h(("Connection", "x-a"), ("X-A", "1"), ("Keep-Alive", "timeout=5")),
            "x-a",
            [],
            id="connection-listed-not-taken",
        ),
        pytest.param(h(("Date", date(0))), "age", [], id="old-age-dropped"),
        pytest.param(h(("Age", "3")), "age", ["3"], id="new-age-kept"),
        pytest.param(h(("Date", date(0))), "date", [date(0)], id="other-date-update"),
    ],
)
def test_merge_304(fresh: Headers, name: str, expected: list[str]) -> None:
    merged = merge_304(UPDATE_STORED, fresh)
    assert [v.decode() for n, v in merged if n == name.encode()] == expected


def test_merge_304_replaces_in_place_and_appends() -> None:
    merged = merge_304(UPDATE_STORED, h(("New", "1"), ("Cache-Control", "max-age=5")))
    names = [n for n, _v in merged]
    assert names.index(b"cache-control") == 1
    assert names[-1] == b"new"


def test_merge_304_drops_ignored_headers_with_settings() -> None:
    settings = replace(SETTINGS, ignore_headers=("set-cookie",))
    merged = merge_304(UPDATE_STORED, h(("Set-Cookie", "a=c")), settings)
    assert [v for n, v in merged if n == b"set-cookie"] == [b"a=1", b"b=1"]


def test_merge_304_for_head_updates() -> None:
    """head-200-update / head-200-retain: a HEAD's 200 freshens the stored GET."""
    stored = h(("Cache-Control", "max-age=2"), ("Template-A", "1"), ("Content-Length", "36"))
    head = h(("Template-A", "2"), ("Cache-Control", "max-age=1000"), ("Content-Length", "0"))
    assert merge_304(stored, head) == h(
        ("Cache-Control", "max-age=1000"), ("Template-A", "2"), ("Content-Length", "36")
    )


# -- what is stored ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        pytest.param("Connection", id="headers-store-Connection"),
        pytest.param("Keep-Alive", id="headers-store-Keep-Alive"),
        pytest.param("Proxy-Authenticate", id="headers-store-Proxy-Authenticate"),
        pytest.param("Proxy-Authentication-Info", id="headers-store-Proxy-Authentication-Info"),
        pytest.param("Proxy-Authorization", id="headers-store-Proxy-Authorization"),
        pytest.param("Proxy-Connection", id="headers-store-Proxy-Connection"),
        pytest.param("TE", id="headers-store-TE"),
        pytest.param("Transfer-Encoding", id="headers-store-Transfer-Encoding"),
        pytest.param("Upgrade", id="headers-store-Upgrade"),
        pytest.param("Trailer", id="trailer"),
    ],
)
def test_stored_headers_drop_hop_by_hop(name: str) -> None:
    headers = h(("Date", date(0)), (name, "x"), ("Cache-Control", "max-age=3600"))
    assert stored_headers(headers, NAME, SETTINGS) == h(
        ("Date", date(0)), ("Cache-Control", "max-age=3600")
    )


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(name, id=f"headers-store-{name}")
        for name in (
            "Test-Header", "X-Test-Header", "Content-Foo", "X-Content-Foo", "Content-Encoding",
            "Content-Location", "Content-MD5", "Content-Range", "Content-Security-Policy",
            "Content-Type", "Clear-Site-Data", "ETag", "Expires", "Public-Key-Pins",
            "Set-Cookie", "Set-Cookie2", "X-Frame-Options", "X-XSS-Protection",
        )
    ],
)  # fmt: skip
def test_stored_headers_keep_end_to_end_fields(name: str) -> None:
    headers = h(("Date", date(0)), (name, "x"), ("Cache-Control", "max-age=3600"))
    assert stored_headers(headers, NAME, SETTINGS) == headers


@pytest.mark.parametrize(
    ("headers", "settings", "expected"),
    [
        pytest.param(
            h(("Connection", "a, b"), ("a", "1"), ("b", "2"), ("c", "3")),
            SETTINGS,
            h(("c", "3")),
            id="headers-omit-headers-listed-in-Connection",
        ),
        pytest.param(
            h(("Cache-Control", 'no-cache="a"'), ("a", "1"), ("b", "2")),
            SETTINGS,
            h(("Cache-Control", 'no-cache="a"'), ("b", "2")),
            id="headers-omit-headers-listed-in-Cache-Control-no-cache-single",
        ),
        pytest.param(
            h(("Cache-Control", 'no-cache="a, b"'), ("a", "1"), ("b", "2"), ("c", "3")),
            SETTINGS,
            h(("Cache-Control", 'no-cache="a, b"'), ("c", "3")),
            id="headers-omit-headers-listed-in-Cache-Control-no-cache",
        ),
        pytest.param(
            h(("Cache-Control", 'private="Set-Cookie", max-age=5'), ("Set-Cookie", "s=1")),
            SETTINGS,
            cc('private="Set-Cookie", max-age=5'),
            id="qualified-private",
        ),
        pytest.param(
            h(("Set-Cookie", "s=1"), ("X-Debug", "1"), ("Date", date(0))),
            replace(SETTINGS, ignore_headers=("set-cookie", "x-debug")),
            h(("Date", date(0))),
            id="CacheIgnoreHeaders",
        ),
        pytest.param(
            h(("Surrogate-Control", "max-age=60"), ("Date", date(0))),
            SETTINGS,
            h(("Surrogate-Control", "max-age=60"), ("Date", date(0))),
            id="surrogate-control-kept-for-freshness",
        ),
    ],
)
def test_stored_headers(headers: Headers, settings: EdgeCache, expected: Headers) -> None:
    assert stored_headers(headers, NAME, settings) == expected


def test_client_headers_drop_surrogate_control() -> None:
    headers = h(("Surrogate-Control", "max-age=60"), ("Cache-Control", "max-age=5"))
    assert client_headers(headers) == cc("max-age=5")


# -- invalidation --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "status", "expected"),
    [
        pytest.param(b"POST", 200, True, id="invalidate-POST"),
        pytest.param(b"PUT", 201, True, id="invalidate-PUT"),
        pytest.param(b"DELETE", 204, True, id="invalidate-DELETE"),
        pytest.param(b"M-SEARCH", 200, True, id="invalidate-M-SEARCH"),
        pytest.param(b"PATCH", 303, True, id="redirect"),
        pytest.param(b"POST", 500, False, id="invalidate-POST-failed"),
        pytest.param(b"M-SEARCH", 500, False, id="invalidate-M-SEARCH-failed"),
        pytest.param(b"POST", 404, False, id="client-error"),
        pytest.param(b"POST", 100, False, id="interim"),
        pytest.param(b"GET", 200, False, id="get"),
        pytest.param(b"HEAD", 200, False, id="head"),
        pytest.param(b"OPTIONS", 200, False, id="options"),
        pytest.param(b"PROPFIND", 207, False, id="propfind-is-safe"),
        pytest.param(b"get", 200, True, id="methods-are-case-sensitive"),
    ],
)
def test_invalidates(method: bytes, status: int, expected: bool) -> None:
    assert invalidates(method, status) is expected


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        pytest.param(h(), [b"/test/u"], id="own-url"),
        pytest.param(
            h(("Location", "/test/u/location_target")),
            [b"/test/u", b"/test/u/location_target"],
            id="invalidate-POST-location",
        ),
        pytest.param(
            h(("Content-Location", "/test/u/content_location_target")),
            [b"/test/u", b"/test/u/content_location_target"],
            id="invalidate-PUT-cl",
        ),
        pytest.param(
            h(("Location", "other?x=1"), ("Content-Location", "../up")),
            [b"/test/u", b"/test/other?x=1", b"/up"],
            id="relative-references",
        ),
        pytest.param(
            h(("Location", "https://EDGE.test:443/abs#frag")),
            [b"/test/u", b"/abs"],
            id="absolute-same-origin",
        ),
        pytest.param(
            h(("Location", "https://other.test/x"), ("Content-Location", "http://edge.test/y")),
            [b"/test/u"],
            id="other-origins-left-alone",
        ),
        pytest.param(h(("Location", "https://edge.test")), [b"/test/u", b"/"], id="empty-path"),
        pytest.param(h(("Location", "/test/u")), [b"/test/u"], id="no-duplicates"),
        pytest.param(h(("Location", "/caf\xe9")), [b"/test/u"], id="not-ascii"),
        pytest.param(h(("Location", "http://[bad")), [b"/test/u"], id="not-a-url"),
    ],
)
def test_invalidation_targets(headers: Headers, expected: list[bytes]) -> None:
    assert invalidation_targets(b"edge.test", b"/test/u", headers) == expected


# -- Cache-Status, Surrogate-Capability, constants -----------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        pytest.param({"hit": True, "ttl": 42.9}, b"stack; hit; ttl=42", id="hit"),
        pytest.param({"hit": True, "ttl": -0.5}, b"stack; hit; ttl=-1", id="stale-hit"),
        pytest.param(
            {"hit": False, "fwd": b"miss", "stored": True}, b"stack; fwd=miss; stored", id="miss"
        ),
        pytest.param(
            {"hit": False, "fwd": b"stale", "fwd_status": 304},
            b"stack; fwd=stale; fwd-status=304",
            id="revalidated",
        ),
        pytest.param(
            {"hit": False, "fwd": b"uri-miss", "collapsed": True, "detail": b"no-store"},
            b"stack; fwd=uri-miss; collapsed; detail=no-store",
            id="detail-token",
        ),
        pytest.param(
            {"hit": True, "detail": b'stale if "error"\x01'},
            b'stack; hit; detail="stale if \\"error\\""',
            id="detail-string",
        ),
    ],
)
def test_cache_status(kwargs: dict[str, object], expected: bytes) -> None:
    assert cache_status(NAME, **kwargs) == expected  # type: ignore[arg-type]


def test_cache_status_quotes_a_name_that_is_not_a_token() -> None:
    assert cache_status(b"edge 1", hit=True) == b'"edge 1"; hit'


def test_surrogate_capability() -> None:
    """The suite's origin reads the device token before ``=`` and targets it
    (``surrogate-max-age-me-target``)."""
    value = surrogate_capability(NAME)
    assert value == b'stack="Surrogate/1.0"'
    target = value.split(b"=")[0]
    rules = response_rules(h(("Surrogate-Control", f"max-age=60;{target.decode()}")), NAME)
    assert rules.max_age == 60.0


def test_constants() -> None:
    assert {b"GET", b"HEAD", b"OPTIONS", b"TRACE", b"PROPFIND"} <= SAFE_METHODS
    assert not {b"POST", b"PUT", b"DELETE", b"PATCH", b"M-SEARCH"} & SAFE_METHODS
    assert {200, 203, 204, 206, 300, 301, 308, 404, 405, 410, 414, 501} == HEURISTIC_STATUSES
    assert not {206, 304, 599, 100} & UNDERSTOOD_STATUSES
    assert {200, 301, 404, 410, 503} <= UNDERSTOOD_STATUSES
