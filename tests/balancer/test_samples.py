"""Sample fetches for stick rules. Vectors marked "2.6.12" are what Debian's HAProxy 2.6.12
returned for the same request (``http-request return ... lf-string "%[req.cook(X),hex,...]"``
for the request fetches, ``http-response set-header`` for ``res.cook``); a random differential
run of a few thousand headers against it found no difference."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from stack.balancer import samples
from stack.balancer.samples import cookie_value, header_value, split_values, url_param
from stack.config import model
from stack.http.message import Request, Response


def req(target: bytes = b"/", headers: list[tuple[bytes, bytes]] | None = None) -> Request:
    return Request(b"GET", target, b"1.1", headers or [])


def res(headers: list[tuple[bytes, bytes]]) -> Response:
    return Response(200, b"OK", headers)


def sample(fetch: str, arg: str | None = None) -> model.Sample:
    text = fetch if arg is None else f"{fetch}({arg})"
    return model.Sample(fetch, arg, text)


def cookies(*lines: str) -> list[tuple[bytes, bytes]]:
    return [(b"cookie", v.encode()) for v in lines]


def set_cookies(*lines: str) -> list[tuple[bytes, bytes]]:
    return [(b"set-cookie", v.encode()) for v in lines]


# --- req.cook -------------------------------------------------------------------------------

# (Cookie header lines, req.cook(X), req.cook) -- 2.6.12
REQ_COOK = [
    (["X=1"], b"1", b"1"),
    (["X=1; X=2"], b"2", b"1"),
    (["X=1", "X=2"], b"2", b"1"),
    (["X=1, X=2"], b"2", b"1"),
    (["a=1; X=2; b=3"], b"2", b"1"),
    (["XX=1; X=2"], b"2", b"1"),
    (["XX=1"], None, b"1"),
    ([" X = v 1 ; Y=2"], b"v 1", b"v 1"),
    (['X="a;b"; Y=1'], b'"a;b"', b'"a;b"'),
    (['X="a,b"'], b'"a,b"', b'"a,b"'),
    (["$X=1"], None, None),
    (["X; Y=1"], None, b"1"),
    (["X=; Y=1"], b"", b""),
    (["X="], None, b""),  # too short to hold "X=" plus a value: HAProxy skips it
    (["Y=1; X="], b"", b"1"),
    (["x=1"], None, b"1"),
    (["X=1;X=2;"], b"2", b"1"),
    (["X=a=b"], b"a=b", b"a=b"),
    (["X=1 2"], b"1 2", b"1 2"),
    (["\tX=1"], b"1", b"1"),
    (['X="q\\"x"; Z=1'], b'"q\\"x"', b'"q\\"x"'),
    (["Y=1", "Z=2"], None, b"1"),
    ([], None, None),
]


@pytest.mark.parametrize(("lines", "named", "first"), REQ_COOK)
def test_req_cook_vectors(lines: list[str], named: bytes | None, first: bytes | None) -> None:
    r = req(headers=cookies(*lines))
    assert samples.fetch_request(sample("req.cook", "X"), r, "1.2.3.4") == named
    assert samples.fetch_request(sample("req.cook"), r, "1.2.3.4") == first


def test_req_cook_reads_only_cookie_headers() -> None:
    r = req(headers=[(b"x-cookie", b"X=1"), (b"set-cookie", b"X=2"), (b"cookie", b"Y=3")])
    assert samples.fetch_request(sample("req.cook", "X"), r, "") is None


# (Set-Cookie header lines, res.cook(X), res.cook) -- 2.6.12
RES_COOK = [
    (["X=1"], b"1", b"1"),
    (["X=1; Path=/"], b"1", b"1"),
    (["a=1; X=2"], None, b"1"),  # only the first name=value of a Set-Cookie is a cookie
    (["X=1", "X=2"], b"2", b"1"),
    (["X=1; Expires=Wed, 21 Oct 2015 07:28:00 GMT; Path=/"], b"1", b"1"),
    (["a=1, X=2"], b"2", b"1"),  # header values are split at commas first
    (["X=1, X=2; Path=/"], b"2", b"1"),
    (['X="a;b"; Path=/'], b'"a;b"', b'"a;b"'),
    (["X= v ; Path=/"], b"v", b"v"),
    (["X="], None, b""),
    (["X=; Path=/"], b"", b""),
    (["X"], None, None),
    (["$X=1"], None, None),
    (["X=1; X=2"], b"2", b"1"),
    (["a=1; Expires=Wed, 21 Oct 2015; Path=/x"], None, b"1"),
    (["Y=1", "X=2", "Z=3"], b"2", b"1"),
    ([], None, None),
]


@pytest.mark.parametrize(("lines", "named", "first"), RES_COOK)
def test_res_cook_vectors(lines: list[str], named: bytes | None, first: bytes | None) -> None:
    r = res(set_cookies(*lines))
    assert samples.fetch_response(sample("res.cook", "X"), r) == named
    assert samples.fetch_response(sample("res.cook"), r) == first


# --- req.hdr --------------------------------------------------------------------------------

# (x-h header lines, req.hdr(x-h), req.hdr(x-h,1), req.hdr(x-h,-2)) -- 2.6.12
REQ_HDR = [
    (["a"], b"a", b"a", None),
    (["a, b, c"], b"c", b"a", b"b"),
    (["a", "b,c"], b"c", b"a", b"b"),
    (['"a,b", c'], b"c", b'"a,b"', b'"a,b"'),
    (['c, "a,b"'], b'"a,b"', b"c", b"c"),
    ([""], b"", b"", None),
    (["a,"], b"", b"a", b"a"),
    ([",a"], b"a", b"", b""),
    (["a,,b"], b"b", b"a", b""),
]


@pytest.mark.parametrize(("lines", "last", "first", "before_last"), REQ_HDR)
def test_req_hdr_vectors(
    lines: list[str], last: bytes | None, first: bytes | None, before_last: bytes | None
) -> None:
    r = req(headers=[(b"x-h", v.encode()) for v in lines])
    assert samples.fetch_request(sample("req.hdr", "x-h"), r, "") == last
    assert samples.fetch_request(sample("req.hdr", "X-H,1"), r, "") == first
    assert samples.fetch_request(sample("req.hdr", "x-h,-2"), r, "") == before_last


def test_req_hdr_occurrences_and_names() -> None:
    h = [(b"x-h", b"a, b"), (b"other", b"z"), (b"x-h", b"c")]
    assert header_value(h, b"x-h", 3) == b"c"
    assert header_value(h, b"x-h", 4) is None
    assert header_value(h, b"x-h", -3) == b"a"
    assert header_value(h, b"x-h", -4) is None
    assert header_value(h, b"X-H") == b"c"
    assert header_value(h, b"") == b"c"  # an empty name is any header
    assert header_value(h, None) is None  # no argument: no sample
    many = [(b"x-h", b",".join(b"%d" % i for i in range(12)))]
    assert header_value(many, b"x-h", -10) == b"2"
    assert header_value(many, b"x-h", -11) is None  # MAX_HDR_HISTORY
    assert samples.fetch_response(sample("res.hdr", "location"), res(h)) is None
    assert samples.fetch_response(sample("res.hdr", "other"), res(h)) == b"z"


def test_split_values() -> None:
    assert split_values(b" a ,\tb ") == [b"a", b"b"]
    assert split_values(b'a, "b\\", c", d') == [b"a", b'"b\\", c"', b"d"]
    assert split_values(b"") == [b""]


# --- url_param ------------------------------------------------------------------------------

# (target, url_param(p), url_param, url_param(p,/)) -- 2.6.12
URL_PARAM = [
    (b"/x?p=1", b"1", b"1", None),
    (b"/x?p=1&p=2", b"1", b"1", b"2"),
    (b"/x?q=1;p=2", b"2", b"1", b"2"),
    (b"/x?q=1?p=2", b"2", b"1", None),
    (b"/x?ap=1&p=2", b"2", b"1", b"2"),
    (b"/x", None, None, None),
    (b"/x?p", None, None, None),
    (b"/x?p=", b"", b"", None),
    (b"/x?p=a%20b&q", b"a%20b", b"a%20b", None),
    (b"/x?=1&p=3", b"3", b"1", b"3"),
    (b"/x/p=9?q=1", None, b"1", b"9?q=1"),
    (b"/x?q&p=1=2", b"1=2", b"1=2", b"1=2"),
    (b"/x?pp=1&p=5", b"5", b"1", b"5"),
]


@pytest.mark.parametrize(("target", "named", "first", "slash"), URL_PARAM)
def test_url_param_vectors(
    target: bytes, named: bytes | None, first: bytes | None, slash: bytes | None
) -> None:
    r = req(target)
    assert samples.fetch_request(sample("url_param", "p"), r, "") == named
    assert samples.fetch_request(sample("urlp"), r, "") == first
    assert samples.fetch_request(sample("url_param", "p,/"), r, "") == slash


# --- dispatch -------------------------------------------------------------------------------


def test_src_and_directions() -> None:
    r = req(b"/?p=1", cookies("X=1"))
    assert samples.fetch_request(sample("src"), r, "10.0.0.7") == b"10.0.0.7"
    # a fetch of the other direction has nothing to read
    assert samples.fetch_request(sample("res.cook", "X"), r, "") is None
    assert samples.fetch_response(sample("req.cook", "X"), res(set_cookies("X=1"))) is None
    assert samples.fetch_response(sample("src"), res([])) is None
    assert samples.is_request_fetch(sample("cook", "X"))
    assert samples.is_response_fetch(sample("scook", "X"))


def test_aliases_and_unknown_fetches() -> None:
    r = req(b"/?sid=4", cookies("S=9"))
    assert samples.fetch_request(sample("cookie", "S"), r, "") == b"9"
    assert samples.fetch_request(sample("urlp", "sid"), r, "") == b"4"
    assert samples.canonical_fetch("hdr") == "req.hdr"
    with pytest.raises(ValueError, match="unsupported"):
        samples.fetch_request(sample("path"), r, "")
    with pytest.raises(ValueError, match="occurrence"):
        samples.compile_request(sample("req.hdr", "x,y"))


# --- properties -----------------------------------------------------------------------------

_TCHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.!#%&'*+^`|~"
TOKEN = st.text(alphabet=_TCHARS, min_size=1, max_size=8)
# RFC 6265 cookie-octets: no CTLs, whitespace, DQUOTE, comma, semicolon or backslash
COOKIE_VALUE = st.text(
    alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters='",;\\'),
    max_size=12,
)
SEP = st.sampled_from(["; ", ";", " ; ", ";\t", ", "])


@given(
    st.lists(st.tuples(TOKEN, COOKIE_VALUE), max_size=6),
    st.integers(min_value=0),
    COOKIE_VALUE.filter(bool),
    st.lists(st.integers(min_value=0, max_value=6), max_size=3),
    SEP,
)
def test_named_cookie_found_wherever_it_stands(
    others: list[tuple[str, str]],
    where: int,
    value: str,
    cuts: list[int],
    sep: str,
) -> None:
    pairs = [(n, v) for n, v in others if n != "JSESSIONID"]
    pairs.insert(where % (len(pairs) + 1), ("JSESSIONID", value))
    # spread the pairs over several Cookie headers
    bounds = sorted({0, len(pairs), *(c % (len(pairs) + 1) for c in cuts)})
    lines = [sep.join(f"{n}={v}" for n, v in pairs[a:b]) for a, b in itertools.pairwise(bounds)]
    r = req(headers=cookies(*lines))
    assert samples.fetch_request(sample("req.cook", "JSESSIONID"), r, "") == value.encode()


@given(st.lists(st.tuples(TOKEN, COOKIE_VALUE), min_size=1, max_size=6), TOKEN)
def test_req_cook_is_the_last_occurrence(pairs: list[tuple[str, str]], name: str) -> None:
    line = "; ".join(f"{n}={v}" for n, v in pairs)
    found = [v for n, v in pairs if n == name]
    expected = found[-1].encode() if found else None
    if line == f"{name}=":
        expected = None  # too short for HAProxy's loop (see the vectors)
    assert cookie_value(cookies(line), b"cookie", name.encode(), True) == expected


@given(TOKEN, COOKIE_VALUE.filter(bool), st.lists(st.text(max_size=20), max_size=3))
def test_res_cook_is_the_value_before_the_first_semicolon(
    name: str, value: str, attrs: list[str]
) -> None:
    attrs = [a.replace(",", "") for a in attrs]
    # an attribute named like the cookie would be reported too (HAProxy goes on after a hit)
    assume(all(name not in a for a in attrs))
    line = "; ".join([f"{name}={value}", *attrs])
    assert cookie_value(set_cookies(line), b"set-cookie", name.encode(), False) == value.encode()


@given(st.lists(st.binary(max_size=40), max_size=4), st.binary(max_size=6))
def test_cookie_parsers_never_crash(lines: list[bytes], name: bytes) -> None:
    h = [(b"cookie", v) for v in lines] + [(b"set-cookie", v) for v in lines]
    for header, is_list in ((b"cookie", True), (b"set-cookie", False)):
        got = cookie_value(h, header, name, is_list)
        assert got is None or any(got in v for v in lines)


PARAM_VALUE = st.text(
    alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters="&;?#"),
    max_size=10,
)


@given(
    st.lists(st.tuples(TOKEN, PARAM_VALUE), max_size=6),
    st.integers(min_value=0),
    PARAM_VALUE,
    st.sampled_from(["&", ";"]),
)
def test_url_param_found_wherever_it_stands(
    others: list[tuple[str, str]], where: int, value: str, sep: str
) -> None:
    pairs = [(n, v) for n, v in others if n != "sid"]
    pairs.insert(where % (len(pairs) + 1), ("sid", value))
    target = ("/p?" + sep.join(f"{n}={v}" for n, v in pairs)).encode()
    assert url_param(target, b"sid") == value.encode()


@given(st.binary(max_size=60), st.binary(max_size=5), st.binary(min_size=1, max_size=1))
def test_url_param_never_crashes(target: bytes, name: bytes, delim: bytes) -> None:
    got = url_param(target, name, delim)
    assert got is None or got in target


@given(st.lists(st.binary(max_size=30), max_size=4), st.integers(min_value=-12, max_value=12))
def test_req_hdr_never_crashes(lines: list[bytes], occ: int) -> None:
    got = header_value([(b"x", v) for v in lines], b"x", occ)
    assert got is None or any(got in v for v in lines)
