"""Health checks: option httpchk (with its legacy header form), http-check send / expect,
timeout check, option log-health-checks and global spread-checks."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from stack.config.errors import Invalid
from stack.config.model import HttpCheck, HttpCheckExpect, StackConfig
from stack.config.values import (
    HttpCheckSend,
    merge_http_check,
    parse_http_check_expect,
    parse_http_check_send,
    parse_httpchk,
)
from stack.config.words import split_words

Load = Callable[[str], StackConfig]
Problems = Callable[[str], list[str]]


def httpchk(value: str) -> tuple[HttpCheck | None, str | None]:
    return parse_httpchk(value, split_words(value))


# --- option httpchk ------------------------------------------------------------------------------


def test_httpchk_defaults_are_haproxy_26s() -> None:
    assert parse_httpchk(None, []) == (HttpCheck("OPTIONS", "/", "HTTP/1.0"), None)
    assert httpchk("on") == (HttpCheck(), None)
    assert httpchk("off") == (None, None)
    assert httpchk("/health") == (HttpCheck("OPTIONS", "/health"), None)  # one word: the URI
    assert httpchk("GET /health") == (HttpCheck("GET", "/health"), None)
    assert httpchk("HEAD /health HTTP/1.1") == (HttpCheck("HEAD", "/health", "HTTP/1.1"), None)


def test_httpchk_legacy_headers_seed_003() -> None:
    check, modern = httpchk(r"GET /resource/hc/application HTTP/1.1\r\nHost:\ myhost.mydomain.com")
    assert check == HttpCheck(
        "GET", "/resource/hc/application", "HTTP/1.1", ((b"host", b"myhost.mydomain.com"),)
    )
    assert modern == "hdr Host myhost.mydomain.com"


def test_httpchk_legacy_headers_seed_004() -> None:
    check, modern = httpchk(r"GET / HTTP/1.0\r\nUser-Agent:\ HAProxy")
    assert check == HttpCheck("GET", "/", "HTTP/1.0", ((b"user-agent", b"HAProxy"),))
    assert modern == "hdr User-Agent HAProxy"


def test_httpchk_legacy_headers_and_body() -> None:
    check, modern = httpchk(
        r'POST /check HTTP/1.1\r\nHost:\ a\r\nX-A:b\r\nContent-Type:\ "text/plain"\r\n\r\nping\ me'
    )
    assert check is not None
    assert check.headers == ((b"host", b"a"), (b"x-a", b"b"), (b"content-type", b"text/plain"))
    assert check.body == b"ping me"
    assert modern == r"hdr Host a hdr X-A b hdr Content-Type text/plain body ping\ me"
    check, modern = httpchk(r"GET / HTTP/1.0\r\nUser-Agent:\ x\r\n")  # a trailing CRLF
    assert check is not None and check.headers == ((b"user-agent", b"x"),)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", "empty value: write 'on', 'off' or HAProxy's arguments [METHOD] [URI] [VERSION]"),
        (
            "GET / HTTP/1.1 www.example.com",
            "option httpchk takes at most METHOD URI VERSION, not 'GET / HTTP/1.1 "
            "www.example.com' (add headers with 'http-check send = hdr NAME VALUE')",
        ),
        ("GET / HTTP/2", "unsupported check version 'HTTP/2' (use HTTP/1.0 or HTTP/1.1)"),
        ("G(T / HTTP/1.0", "'G(T' is not a valid HTTP method"),
        ('GET "/a b"', "'/a b' is not a valid URI (no spaces or control characters)"),
        (r"GET / HTTP/1.0\r\nUser-Agent", "cannot parse the header 'User-Agent' after the version"),
        (r"GET / HTTP/1.0\r\nBad\ Name:\ x", "'Bad Name' is not a valid header name"),
        (
            r"GET / HTTP/1.0\r\nX:\ %[src]",
            "header 'X': %[fetch] in check headers is not supported yet",
        ),
    ],
)
def test_httpchk_errors(value: str, message: str) -> None:
    with pytest.raises(Invalid, match=re.escape(message)):
        httpchk(value)


# --- http-check send / expect --------------------------------------------------------------------


def send(text: str) -> HttpCheckSend:
    return parse_http_check_send(split_words(text))


def test_http_check_send() -> None:
    assert send("meth GET uri /health ver HTTP/1.1 hdr Host www.example.com body ping") == (
        HttpCheckSend("GET", "/health", "HTTP/1.1", ((b"host", b"www.example.com"),), b"ping")
    )
    assert send(r'hdr User-Agent "HAProxy check" hdr X-A 100%%') == HttpCheckSend(
        headers=((b"user-agent", b"HAProxy check"), (b"x-a", b"100%"))
    )
    # the body sets Content-Length: HAProxy ignores these two headers
    assert send("hdr Content-Length 5 hdr Transfer-Encoding chunked uri /") == HttpCheckSend(
        uri="/"
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "http-check send needs at least one of meth, uri, ver, hdr or body"),
        ("meth", "'meth' expects a string as argument"),
        ('uri ""', "'uri' expects a string as argument"),
        ("hdr Host", "'hdr' expects <name> and <value> as arguments"),
        ("hdr Host a hdr host b", "'host' header already defined"),
        ("ver HTTP/3", "unsupported check version 'HTTP/3'"),
        ("uri-lf /%[src]", "http-check send option 'uri-lf' is not supported yet"),
        ("comment x", "http-check send option 'comment' is not supported yet"),
        (
            "method GET",
            "expects 'meth', 'uri', 'ver', 'hdr' or 'body' but got 'method' as argument; did you "
            "mean 'meth'?",
        ),
        ("hdr X-A %[src]", "header 'X-A': %[fetch] in check headers is not supported yet"),
    ],
)
def test_http_check_send_errors(text: str, message: str) -> None:
    with pytest.raises(Invalid, match=re.escape(message)):
        send(text)


def test_send_merges_into_httpchk_as_haproxy_does() -> None:
    option = HttpCheck("GET", "/", "HTTP/1.0", ((b"user-agent", b"HAProxy"),), b"old")
    # the send's own fields win; its headers replace the option's, even when it has none
    assert merge_http_check(option, send("uri /health"), None) == HttpCheck(
        "GET", "/health", "HTTP/1.0", (), b"old"
    )
    assert merge_http_check(option, send("meth HEAD ver HTTP/1.1 hdr Host a body new"), None) == (
        HttpCheck("HEAD", "/", "HTTP/1.1", ((b"host", b"a"),), b"new")
    )
    expect = HttpCheckExpect("status", statuses=((200, 200),))
    assert merge_http_check(option, None, expect) == HttpCheck(
        "GET", "/", "HTTP/1.0", ((b"user-agent", b"HAProxy"),), b"old", expect
    )


def expect(text: str) -> HttpCheckExpect:
    return parse_http_check_expect(split_words(text))


def test_http_check_expect() -> None:
    assert expect("status 200") == HttpCheckExpect("status", statuses=((200, 200),))
    assert expect("status 200-399") == HttpCheckExpect("status", statuses=((200, 399),))
    assert expect("status 200,201,300-310") == HttpCheckExpect(
        "status", statuses=((200, 200), (201, 201), (300, 310))
    )
    assert expect("! status 500-599") == HttpCheckExpect("status", True, ((500, 599),))
    assert expect("!status 503") == HttpCheckExpect("status", True, ((503, 503),))
    assert expect(r"! string SQL\ Error") == HttpCheckExpect("string", True, text=b"SQL Error")
    rstatus = expect("! rstatus ^5")
    assert (rstatus.kind, rstatus.negate) == ("rstatus", True)
    assert isinstance(rstatus.regex, re.Pattern)
    assert rstatus.regex.pattern == b"^5"
    rstring = expect("rstring <!--tag:[0-9a-f]*--></html>")
    assert isinstance(rstring.regex, re.Pattern)
    assert rstring.regex.search(b"<p><!--tag:3f--></html>")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "http-check expect needs a match such as 'status 200-399'"),
        ("!", "'!' must be followed by a match such as 'status 500-599'"),
        ("status", "'status' needs a pattern"),
        ("status 2xx", "invalid status '2xx' in '2xx' (use codes such as 200 and ranges such as "
         "200-399, from 100 to 599, separated by commas)"),
        ("status 399-200", "invalid status '399-200'"),
        ("status 200,,302", "invalid status '' in '200,,302'"),
        ("status 700", "invalid status '700'"),
        ("rstatus ([", "invalid regular expression '(['"),
        ("string", "'string' needs a pattern"),
        ('string ""', "'string' needs a non-empty pattern"),
        ("string SQL Error", "'string': unexpected 'Error' (escape spaces in the pattern with "
         "'\\ ')"),
        ("hdr name x", "http-check expect 'hdr' is not supported yet"),
        ("min-recv 10 status 200", "http-check expect option 'min-recv' is not supported yet"),
        ("stauts 200", "unknown http-check expect match 'stauts' (use status, rstatus, string or "
         "rstring); did you mean 'status'?"),
    ],
)  # fmt: skip
def test_http_check_expect_errors(text: str, message: str) -> None:
    with pytest.raises(Invalid, match=re.escape(message)):
        expect(text)


# --- in the loader -------------------------------------------------------------------------------


def test_checks_in_the_loader(load_ini: Load) -> None:
    cfg = load_ini(
        r"""
        [global]
        spread-checks = 5

        [defaults]
        option httpchk = GET /health HTTP/1.1
        http-check send = hdr Host www.example.com
        timeout check = 10s
        option log-health-checks

        [backend inherits]
        server s = 10.0.0.1:80 check

        [backend own]
        option httpchk
        http-check expect = status 200-399
        timeout check = 0
        option log-health-checks = off
        server s = 10.0.0.1:80 check

        [backend none]
        option httpchk = off
        """
    )
    assert cfg.global_.spread_checks == 5
    inherits, own, none = cfg.backends
    assert inherits.httpchk == HttpCheck(
        "GET", "/health", "HTTP/1.1", ((b"host", b"www.example.com"),)
    )
    assert (inherits.check_timeout, inherits.log_health_checks) == (10.0, True)
    # own option httpchk with the inherited send, and its own expect
    assert own.httpchk == HttpCheck(
        "OPTIONS",
        "/",
        "HTTP/1.0",
        ((b"host", b"www.example.com"),),
        expect=HttpCheckExpect("status", statuses=((200, 399),)),
    )
    assert (own.check_timeout, own.log_health_checks) == (None, False)
    assert none.httpchk is None
    assert inherits.notices == own.notices == none.notices == ()


def test_builtin_check_defaults(load_ini: Load) -> None:
    cfg = load_ini("[backend b]\nserver s = 10.0.0.1:80\n")
    (b,) = cfg.backends
    assert (b.httpchk, b.check_timeout, b.log_health_checks, b.persist, b.allbackups) == (
        None,
        None,
        False,
        False,
        False,
    )
    assert (b.cookie, b.stick_table, b.stick_rules, b.redirects, b.notices) == (
        None,
        None,
        (),
        (),
        (),
    )
    assert cfg.global_.spread_checks == 0


def test_legacy_httpchk_notice(load_ini: Load) -> None:
    cfg = load_ini(
        r"""
        [defaults]
        option httpchk = GET / HTTP/1.0\r\nUser-Agent:\ HAProxy

        [backend a]
        [backend b]
        http-check send = hdr User-Agent stack
        """
    )
    a, b = cfg.backends
    assert a.httpchk is not None and a.httpchk.headers == ((b"user-agent", b"HAProxy"),)
    assert b.httpchk is not None and b.httpchk.headers == ((b"user-agent", b"stack"),)
    assert a.notices == (
        "t.ini:3: [defaults] option httpchk: headers written after the version are deprecated "
        "since HAProxy 2.2, which warns about them; stack sends them as written. The current "
        "form is 'http-check send = hdr User-Agent HAProxy'.",
    )


def test_check_errors_are_located(problems_of: Problems) -> None:
    assert problems_of(
        r"""[global]
        spread-checks = -1
        [backend a]
        http-check send = uri /health
        http-check expect = status 200
        [backend b]
        option httpchk = GET /a b c
        timeout check = soon
        [frontend f]
        bind = :1
        option httpchk
        [backend c]
        http-check connect
        http-check expect = status 2xx
        option httpchk = on
        """
    ) == [
        "t.ini:2: [global] spread-checks: spread-checks must be between 0 and 50, not -1",
        "t.ini:4: [backend a] http-check send: 'http-check send' has no effect without 'option "
        "httpchk' (in this section or in [defaults]): the checks are plain connections",
        "t.ini:5: [backend a] http-check expect: 'http-check expect' has no effect without "
        "'option httpchk' (in this section or in [defaults]): the checks are plain connections",
        "t.ini:7: [backend b] option httpchk: option httpchk takes at most METHOD URI VERSION, "
        "not 'GET /a b c' (add headers with 'http-check send = hdr NAME VALUE')",
        "t.ini:8: [backend b] timeout check: invalid duration 'soon' (use a number with us, ms, "
        "s, m, h or d; a bare number is milliseconds)",
        "t.ini:11: [frontend f] option httpchk: 'option httpchk' is not allowed in a frontend "
        "section (only in: defaults, backend, listen)",
        "t.ini:13: [backend c] http-check connect: 'http-check connect' is not supported yet",
        "t.ini:14: [backend c] http-check expect: invalid status '2xx' in '2xx' (use codes such "
        "as 200 and ranges such as 200-399, from 100 to 599, separated by commas)",
    ]
