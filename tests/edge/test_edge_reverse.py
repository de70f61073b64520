"""ProxyPassReverse and its cookie directives (edge.md §3.2; proxy_util.c
``ap_proxy_location_reverse_map``, ``ap_proxy_cookie_reverse_map``)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stack.edge.reverse import ReverseRewriter
from stack.http.message import Headers

BASE = b"https://edge.test:8444"

# The set-up of edge.md §3: ProxyPass(Reverse) /app/ http://127.0.0.1:8100/internal/,
# ProxyPassReverseCookiePath /internal/ /app/, ProxyPassReverseCookieDomain backend.local edge.test
OBSERVED = ReverseRewriter(
    [("/app/", "http://127.0.0.1:8100/internal/")],
    [("/internal/", "/app/")],
    [("backend.local", "edge.test")],
)


def rewritten(rewriter: ReverseRewriter, name: bytes, value: bytes, base: bytes = BASE) -> bytes:
    headers: Headers = [(name, value)]
    rewriter.rewrite(headers, base)
    return headers[0][1]


@pytest.mark.parametrize("name", [b"location", b"content-location", b"uri", b"destination"])
def test_observed_location_headers(name: bytes) -> None:
    value = rewritten(OBSERVED, name, b"http://127.0.0.1:8100/internal/landing")
    assert value == b"https://edge.test:8444/app/landing"


def test_observed_cookie() -> None:
    value = rewritten(OBSERVED, b"set-cookie", b"sid=1; Path=/internal/; Domain=backend.local")
    assert value == b"sid=1; Path=/app/; Domain=edge.test"


def test_seed_mapping() -> None:
    rewriter = ReverseRewriter([("/app1/", "http://localhost:8080/app1/")])
    assert rewritten(rewriter, b"location", b"http://localhost:8080/app1/login?next=/") == (
        b"https://edge.test:8444/app1/login?next=/"
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (b"HTTP://LocalHost:8080/app1/x", b"https://edge.test:8444/app1/x"),
        (b"http://localhost:8080/app1/", b"https://edge.test:8444/app1/"),
        (b"http://localhost:8080/app1/#frag", b"https://edge.test:8444/app1/#frag"),
        # the path is case-sensitive (Apache compares it case-insensitively: a FIXME there)
        (b"http://localhost:8080/APP1/x", b"http://localhost:8080/APP1/x"),
        # another port, host or scheme is another server
        (b"http://localhost:80/app1/x", b"http://localhost:80/app1/x"),
        (b"http://localhost:80800/app1/x", b"http://localhost:80800/app1/x"),
        (b"http://localhost/app1/x", b"http://localhost/app1/x"),
        (b"https://localhost:8080/app1/x", b"https://localhost:8080/app1/x"),
        (b"http://otherhost:8080/app1/x", b"http://otherhost:8080/app1/x"),
        (b"http://user@localhost:8080/app1/x", b"http://user@localhost:8080/app1/x"),
        # the prefix is matched whole, trailing slash included, as Apache does
        (b"http://localhost:8080/app1", b"http://localhost:8080/app1"),
        (b"http://localhost:8080/app10/x", b"http://localhost:8080/app10/x"),
        # relative values do not match an absolute internal URL, in Apache either
        (b"/app1/x", b"/app1/x"),
        (b"app1/x", b"app1/x"),
    ],
)
def test_absolute_internal_url(value: bytes, expected: bytes) -> None:
    rewriter = ReverseRewriter([("/app1/", "http://localhost:8080/app1/")])
    assert rewritten(rewriter, b"location", value) == expected


def test_default_ports_are_implied() -> None:
    http = ReverseRewriter([("/a/", "http://b.test/x/")])
    assert rewritten(http, b"location", b"http://b.test:80/x/1") == b"https://edge.test:8444/a/1"
    assert rewritten(http, b"location", b"http://b.test:/x/1") == b"https://edge.test:8444/a/1"
    https = ReverseRewriter([("/a/", "https://b.test:443/x/")])
    assert rewritten(https, b"location", b"https://B.TEST/x/1") == b"https://edge.test:8444/a/1"
    assert rewritten(https, b"location", b"http://b.test/x/1") == b"http://b.test/x/1"


def test_ipv6_internal_url() -> None:
    rewriter = ReverseRewriter([("/v6/", "http://[::1]:8100/")])
    assert (
        rewritten(rewriter, b"location", b"http://[::1]:8100/p") == b"https://edge.test:8444/v6/p"
    )
    assert rewritten(rewriter, b"location", b"http://[::2]:8100/p") == b"http://[::2]:8100/p"


def test_internal_url_without_path_matches_any_path() -> None:
    rewriter = ReverseRewriter([("/app", "http://b.test:8080")])
    assert rewritten(rewriter, b"location", b"http://b.test:8080/x?y") == (
        b"https://edge.test:8444/app/x?y"
    )
    assert rewritten(rewriter, b"location", b"http://b.test:8080") == b"https://edge.test:8444/app"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        # a bare-path internal URL maps relative values, made absolute (ap_construct_url)...
        (b"/internal/x", b"https://edge.test:8444/app/x"),
        (b"/internal/", b"https://edge.test:8444/app/"),
        # ...and the path of absolute ones, whatever their host, as Apache does
        (b"http://anything.example:81/internal/x?q", b"https://edge.test:8444/app/x?q"),
        (b"/other/x", b"/other/x"),
        (b"/internalx", b"/internalx"),
        (b"http://anything.example", b"http://anything.example"),
        (b"http://anything.example?/internal/", b"http://anything.example?/internal/"),
    ],
)
def test_bare_path_internal_url(value: bytes, expected: bytes) -> None:
    rewriter = ReverseRewriter([("/app/", "/internal/")])
    assert rewritten(rewriter, b"location", value) == expected


def test_first_mapping_wins_and_absolute_public_prefix() -> None:
    rewriter = ReverseRewriter(
        [
            ("https://public.example/one/", "http://b.test/x/"),
            ("/two/", "http://b.test/x/"),
            ("/three/", "http://b.test/"),
        ]
    )
    assert rewritten(rewriter, b"location", b"http://b.test/x/y") == b"https://public.example/one/y"
    assert rewritten(rewriter, b"location", b"http://b.test/z") == b"https://edge.test:8444/three/z"


def test_only_the_reverse_headers_every_occurrence() -> None:
    internal = b"http://127.0.0.1:8100/internal/p"
    headers: Headers = [
        (b"link", b"<" + internal + b">; rel=next"),
        (b"refresh", b"0; url=" + internal),
        (b"location", internal),
        (b"x-location", internal),
        (b"content-location", internal),
        (b"content-location", internal),
    ]
    OBSERVED.rewrite(headers, BASE)
    public = b"https://edge.test:8444/app/p"
    assert headers == [
        (b"link", b"<" + internal + b">; rel=next"),
        (b"refresh", b"0; url=" + internal),
        (b"location", public),
        (b"x-location", internal),
        (b"content-location", public),
        (b"content-location", public),
    ]


@pytest.mark.parametrize(
    ("cookie", "expected"),
    [
        # the whole path becomes the public one: "the cookie path will be replaced"
        (b"a=1; Path=/internal/deep/er", b"a=1; Path=/app/"),
        (b"a=1; path=/internal/; HttpOnly", b"a=1; path=/app/; HttpOnly"),
        (b"a=1;PATH=/internal/;Secure", b"a=1;PATH=/app/;Secure"),
        (b"a=1; Path= /internal/x ; Secure", b"a=1; Path= /app/ ; Secure"),
        # case-sensitive prefix
        (b"a=1; Path=/Internal/", b"a=1; Path=/Internal/"),
        (b"a=1; Path=/internal", b"a=1; Path=/internal"),
        (b"a=1; Path=/", b"a=1; Path=/"),
        # domain: whole value, case-insensitive, no special leading dot
        (b"a=1; Domain=BACKEND.local", b"a=1; Domain=edge.test"),
        (b"a=1; domain=backend.local ; Path=/internal/", b"a=1; domain=edge.test ; Path=/app/"),
        (b"a=1; Domain=.backend.local", b"a=1; Domain=.backend.local"),
        (b"a=1; Domain=backend.localhost", b"a=1; Domain=backend.localhost"),
        (b"a=1; Domain=", b"a=1; Domain="),
        # attributes only: a cookie called "path" or "domain" keeps its value
        (b"path=/internal/; Max-Age=5", b"path=/internal/; Max-Age=5"),
        (b"domain=backend.local", b"domain=backend.local"),
        # "Path =" is not the Path attribute to Apache
        (b"a=1; Path =/internal/", b"a=1; Path =/internal/"),
        (b"a=x;;  Path=/internal/a;Expires=Wed, 21 Oct 2026 07:28:00 GMT", None),
    ],
)
def test_cookies(cookie: bytes, expected: bytes | None) -> None:
    if expected is None:
        expected = b"a=x;;  Path=/app/;Expires=Wed, 21 Oct 2026 07:28:00 GMT"
    assert rewritten(OBSERVED, b"set-cookie", cookie) == expected


def test_first_cookie_path_rule_wins() -> None:
    rewriter = ReverseRewriter(cookie_paths=[("/", "/first/"), ("/internal/", "/second/")])
    assert rewritten(rewriter, b"set-cookie", b"a=1; Path=/internal/") == b"a=1; Path=/first/"


def test_cookie_rules_alone_leave_locations_alone() -> None:
    rewriter = ReverseRewriter(cookie_domains=[("b.local", "e.test")])
    headers: Headers = [(b"location", b"http://b.local/x"), (b"set-cookie", b"a; Domain=b.local")]
    rewriter.rewrite(headers, BASE)
    assert headers == [(b"location", b"http://b.local/x"), (b"set-cookie", b"a; Domain=e.test")]


def test_mappings_alone_leave_cookies_alone() -> None:
    rewriter = ReverseRewriter([("/app/", "/internal/")])
    headers: Headers = [(b"set-cookie", b"a=1; Path=/internal/")]
    rewriter.rewrite(headers, BASE)
    assert headers == [(b"set-cookie", b"a=1; Path=/internal/")]


def test_nothing_configured() -> None:
    rewriter = ReverseRewriter()
    assert not rewriter.active
    assert OBSERVED.active
    headers: Headers = [(b"location", b"/internal/x")]
    rewriter.rewrite(headers, BASE)
    assert headers == [(b"location", b"/internal/x")]


@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        (("app/", "http://b/"), "public path"),
        (("/app/", "b.test/x"), "internal URL"),
        (("/app/", "http://"), "internal URL"),
        (("/app/", "http://b.test?x"), "query"),
        (("/app/\r\nX-Evil: 1", "http://b/"), "public path"),
        (("/app/", "http://b/\n"), "internal URL"),
        (("/caf\xe9/", "http://b/"), "public path"),
    ],
)
def test_mappings_are_checked(mapping: tuple[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ReverseRewriter([mapping])


@pytest.mark.parametrize(
    "rule", [("", "/a/"), ("/a/", ""), ("/a;b", "/c/"), ("/a/", "/b c/"), ("/\xe9/", "/a/")]
)
def test_cookie_rules_are_checked(rule: tuple[str, str]) -> None:
    with pytest.raises(ValueError, match="cookie path"):
        ReverseRewriter(cookie_paths=[rule])
    with pytest.raises(ValueError, match="cookie domain"):
        ReverseRewriter(cookie_domains=[rule])


_NAMES = st.sampled_from(
    [b"location", b"content-location", b"uri", b"set-cookie", b"link", b"x-other", b"host"]
)
_VALUES = st.one_of(
    st.binary(max_size=60),
    st.builds(
        lambda a, b: a + b,
        st.sampled_from([b"http://b.test:8080", b"http://c.test", b"/", b"x=1; Path=", b""]),
        st.binary(max_size=30),
    ),
)


@given(st.lists(st.tuples(_NAMES, _VALUES), max_size=8))
def test_untouched_when_nothing_matches(headers: Headers) -> None:
    # The internal side names things no value above can hold.
    rewriter = ReverseRewriter(
        [("/app/", "http://never.invalid:9/zz/"), ("/p/", "/\x7enever/")],
        [("/\x7enever/", "/app/")],
        [("never.invalid", "edge.test")],
    )
    before = list(headers)
    rewriter.rewrite(headers, BASE)
    assert headers == before


@given(st.binary(max_size=40), st.binary(max_size=40))
def test_cookie_rewrite_changes_only_the_path(pair: bytes, tail: bytes) -> None:
    rewriter = ReverseRewriter(cookie_paths=[("/internal/", "/app/")])
    pair = b"n=" + pair.replace(b";", b"")
    tail = tail.replace(b";", b"")
    cookie = pair + b"; Path=/internal/" + tail + b"; Secure"
    assert rewritten(rewriter, b"set-cookie", cookie) == (
        pair + b"; Path=/app/" + tail[len(tail.rstrip()) :] + b"; Secure"
    )
