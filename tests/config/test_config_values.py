"""Directive values: addresses, log targets, balance, servers, forwardfor, formats, rules."""

from __future__ import annotations

import ipaddress
import re

import pytest

from stack.config.conditions import PREDEFINED, parse_condition
from stack.config.errors import Invalid
from stack.config.model import (
    Algorithm,
    Balance,
    Condition,
    Endpoint,
    ForwardFor,
    LogFormat,
    Origin,
)
from stack.config.values import (
    overlaps,
    parse_balance,
    parse_bind,
    parse_endpoint,
    parse_forwardfor,
    parse_header_rule,
    parse_int,
    parse_log_target,
    parse_logformat,
    parse_server,
    parse_switch,
)
from stack.config.words import split_words

ORIGIN = Origin("t.ini", 3, "backend b", "k")


# --- numbers and switches ------------------------------------------------------------------------


def test_parse_int() -> None:
    assert parse_int("42", "n") == 42
    assert parse_int("0", "n") == 0
    with pytest.raises(Invalid, match="n must be a whole number, not '4x'"):
        parse_int("4x", "n")
    with pytest.raises(Invalid, match="n must be between 1 and 5, not 6"):
        parse_int("6", "n", 1, 5)


@pytest.mark.parametrize("text", [None, "on", "ON", "yes", "true", "1"])
def test_switch_on(text: str | None) -> None:
    assert parse_switch(text) is True


@pytest.mark.parametrize("text", ["off", "no", "false", "0", "Off"])
def test_switch_off(text: str) -> None:
    assert parse_switch(text) is False


def test_switch_errors() -> None:
    with pytest.raises(Invalid, match="empty value"):
        parse_switch("")
    with pytest.raises(Invalid, match="expected on or off"):
        parse_switch("maybe")


# --- addresses -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "endpoint"),
    [
        ("127.0.0.1:8080", Endpoint("127.0.0.1", 8080)),
        ("*:80", Endpoint("", 80)),
        (":80", Endpoint("", 80)),
        ("[::]:443", Endpoint("::", 443)),
        ("[::1]:8443", Endpoint("::1", 8443)),
        ("[2001:DB8:0:0::1]:80", Endpoint("2001:db8::1", 80)),
        ("0.0.0.0:1", Endpoint("0.0.0.0", 1)),
        ("localhost:65535", Endpoint("localhost", 65535)),
    ],
)
def test_bind_endpoints(text: str, endpoint: Endpoint) -> None:
    assert parse_endpoint(text, wildcard=True) == endpoint


def test_bind_lists() -> None:
    assert parse_bind([":80,:443"]) == [Endpoint("", 80), Endpoint("", 443)]
    with pytest.raises(
        Invalid, match=re.escape("bind option 'ssl crt /etc/x.pem' is not supported yet")
    ):
        parse_bind(["*:443", "ssl", "crt", "/etc/x.pem"])
    with pytest.raises(Invalid, match="empty address"):
        parse_bind([":80,"])
    with pytest.raises(Invalid, match="needs an address"):
        parse_bind([])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("10.0.0.1", "has no port"),
        ("10.0.0.1:0", "invalid port '0'"),
        ("10.0.0.1:65536", "invalid port '65536'"),
        ("10.0.0.1:http", "invalid port 'http'"),
        ("10.0.0.300:80", "'10.0.0.300' is not an IPv4 address"),
        ("*:80", "a host is required here"),
        (":80", "a host is required here"),
        ("::1:80", "write an IPv6 address in brackets"),
        ("[::1:80", "no ']' closes"),
        ("[10.0.0.1]:80", "brackets are for IPv6"),
        ("[::1]80", "expected ':port'"),
        ("[fe80::zz]:80", "is not an IPv6 address"),
        ("bad_host!:80", "is not an IP address or a host name"),
        ("ipv4@10.0.0.1:80", "address prefix 'ipv4@' is not supported"),
    ],
)
def test_server_endpoint_errors(text: str, message: str) -> None:
    with pytest.raises(Invalid, match=re.escape(message)):
        parse_endpoint(text)


def test_server_hostnames_are_not_resolved() -> None:
    assert parse_endpoint("app1.internal:8080") == Endpoint("app1.internal", 8080)


def test_overlaps() -> None:
    assert overlaps(Endpoint("127.0.0.1", 80), Endpoint("127.0.0.1", 80))
    assert overlaps(Endpoint("", 80), Endpoint("127.0.0.1", 80))
    assert overlaps(Endpoint("::", 80), Endpoint("10.0.0.1", 80))
    assert overlaps(Endpoint("LocalHost", 80), Endpoint("localhost", 80))
    assert not overlaps(Endpoint("127.0.0.1", 80), Endpoint("127.0.0.2", 80))
    assert not overlaps(Endpoint("", 80), Endpoint("", 81))


# --- log targets ---------------------------------------------------------------------------------


def test_log_targets() -> None:
    t = parse_log_target(["stdout"], ORIGIN)
    assert (t.stream, t.facility, t.level, t.address, t.path) == (
        "stdout",
        "local0",
        "info",
        None,
        None,
    )
    t = parse_log_target(["stderr", "daemon", "notice"], ORIGIN)
    assert (t.stream, t.facility, t.level) == ("stderr", "daemon", "notice")
    t = parse_log_target(["127.0.0.1:15514", "local0", "info"], ORIGIN)
    assert t.address == Endpoint("127.0.0.1", 15514)
    t = parse_log_target(["loghost", "local7"], ORIGIN)
    assert (t.address, t.level) == (Endpoint("loghost", 514), "info")
    t = parse_log_target(["[::1]", "local1"], ORIGIN)
    assert t.address == Endpoint("::1", 514)
    t = parse_log_target(["/dev/log", "local7"], ORIGIN)
    assert (t.path, t.facility, t.origin) == ("/dev/log", "local7", ORIGIN)


@pytest.mark.parametrize(
    ("words", "message"),
    [
        ([], "log needs a target"),
        (["10.0.0.1"], "needs a facility"),
        (["/dev/log"], "needs a facility"),
        (["stdout", "local8"], "unknown syslog facility 'local8'; did you mean 'local7'?"),
        (["stdout", "local0", "verbose"], "unknown syslog level 'verbose'"),
        (["stdout", "local0", "info", "err"], "a minimum level is not supported"),
        (["stdout", "format", "raw", "local0"], "log option 'format' is not supported yet"),
    ],
)
def test_log_target_errors(words: list[str], message: str) -> None:
    with pytest.raises(Invalid, match=re.escape(message)):
        parse_log_target(words, ORIGIN)


# --- balance -------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["roundrobin", "static-rr", "leastconn", "first", "source", "uri"])
def test_balance_algorithms(name: str) -> None:
    assert parse_balance([name]) == Balance(Algorithm(name))


def test_balance_uri_options() -> None:
    assert parse_balance(["uri", "whole", "len", "10", "depth", "3", "path-only"]) == Balance(
        Algorithm.URI, uri_whole=True, uri_len=10, uri_depth=3, uri_path_only=True
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "needs an algorithm"),
        ("random", "balance algorithm 'random' is not supported"),
        ("hdr(host)", "balance algorithm 'hdr(host)' is not supported"),
        ("roundrobbin", "unknown balance algorithm 'roundrobbin'; did you mean 'roundrobin'?"),
        ("source whole", "'balance source' takes no option"),
        ("uri len", "'len' needs a number"),
        ("uri depth 0", "between 1 and"),
        ("uri deep 1", "unknown 'balance uri' option 'deep'"),
    ],
)
def test_balance_errors(text: str, message: str) -> None:
    with pytest.raises(Invalid, match=re.escape(message)):
        parse_balance(text.split())


# --- servers -------------------------------------------------------------------------------------


def test_server_defaults_and_keywords() -> None:
    s = parse_server("s1", ["10.0.0.1:80"], ORIGIN)
    assert (s.name, s.address, s.weight, s.maxconn, s.maxqueue, s.backup, s.disabled) == (
        "s1",
        Endpoint("10.0.0.1", 80),
        1,
        0,
        0,
        False,
        False,
    )
    assert s.origin == ORIGIN
    s = parse_server(
        "s2",
        ["[::1]:81", "weight", "3", "maxconn", "64", "maxqueue", "8", "backup", "disabled"],
        ORIGIN,
    )
    assert (s.address, s.weight, s.maxconn, s.maxqueue, s.backup, s.disabled) == (
        Endpoint("::1", 81),
        3,
        64,
        8,
        True,
        True,
    )
    assert parse_server("s", ["h:1", "weight", "0"], ORIGIN).weight == 0
    assert parse_server("s", ["h:1", "weight", "256"], ORIGIN).weight == 256


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "a server needs an address"),
        ("10.0.0.1:80 weight 257", "weight must be between 0 and 256, not 257"),
        ("10.0.0.1:80 weight -1", "weight must be between 0 and 256, not -1"),
        ("10.0.0.1:80 maxconn -1", "maxconn must be between 0 and"),
        ("10.0.0.1:80 maxconn lots", "maxconn must be a whole number, not 'lots'"),
        ("10.0.0.1:80 maxqueue", "server keyword 'maxqueue' needs a number"),
        ("10.0.0.1:80 wieght 2", "unknown server keyword 'wieght'; did you mean 'weight'?"),
        ("10.0.0.1:80 agent-check", "server keyword 'agent-check' is not supported yet"),
        (
            "10.0.0.1:80 check send-proxy observe layer7 track b/s",
            "server keywords 'send-proxy', 'observe', 'track' are not supported yet",
        ),
        (
            "cookie app1_1 check",
            "the address is missing: the value starts with the keyword 'cookie'",
        ),
        ("10.0.0.1", "'10.0.0.1' has no port"),
    ],
)
def test_server_errors(text: str, message: str) -> None:
    with pytest.raises(Invalid, match=re.escape(message)):
        parse_server("s", text.split(), ORIGIN)


# --- option forwardfor ---------------------------------------------------------------------------


def test_forwardfor() -> None:
    assert parse_forwardfor(None, []) == ForwardFor()
    assert parse_forwardfor("on", ["on"]) == ForwardFor()
    assert parse_forwardfor("off", ["off"]) is None
    ff = parse_forwardfor("x", ["except", "127.0.0.1", "header", "X-Client-IP", "if-none"])
    assert ff == ForwardFor(b"x-client-ip", ipaddress.ip_network("127.0.0.1/32"), True)
    ff = parse_forwardfor("x", ["except", "10.0.0.0/8"])
    assert ff is not None
    assert ff.except_net == ipaddress.ip_network("10.0.0.0/8")
    assert ff.header == b"x-forwarded-for"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty value"),
        ("except", "'except' needs a network"),
        ("except nowhere", "'nowhere' is not an IP address or network"),
        ("header", "'header' needs a header name"),
        ("header bad:name", "'bad:name' is not a valid header name"),
        ("if-none if-none", "'if-none' is given twice"),
        ("proto", "unknown forwardfor argument 'proto'"),
    ],
)
def test_forwardfor_errors(text: str, message: str) -> None:
    with pytest.raises(Invalid, match=re.escape(message)):
        parse_forwardfor(text, text.split())


# --- log-format strings --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "parts"),
    [
        ("", ()),
        ("https", (b"https",)),
        ("%[src]", ("src",)),
        (
            "for=%[src]:%[src_port];by=%[dst]:%[dst_port]",
            (
                b"for=",
                "src",
                b":",
                "src_port",
                b";by=",
                "dst",
                b":",
                "dst_port",
            ),
        ),
        ("%[ssl_fc]%[path]%[method]", ("ssl_fc", "path", "method")),
        ("%[hdr(Host)]", ("req.hdr(host)",)),
        ("%[req.hdr(X-Forwarded-Proto)]", ("req.hdr(x-forwarded-proto)",)),
        ("100%%", (b"100%",)),
        ("%%[src]", (b"%[src]",)),
        ("\u00e9t\u00e9", ("\u00e9t\u00e9".encode(),)),
    ],
)
def test_logformat(text: str, parts: tuple[bytes | str, ...]) -> None:
    fmt = parse_logformat(text)
    assert fmt == LogFormat(parts, text)


def test_logformat_literal() -> None:
    assert parse_logformat("abc").literal == b"abc"
    assert parse_logformat("").literal == b""
    assert parse_logformat("a%[src]").literal is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("%[hostname]", "unknown fetch 'hostname' in %[hostname]"),
        ("%[src", "'%[' in '%[src' is not closed"),
        ("%ci", "only %[fetch] expressions and %% are supported"),
        ("50%", "only %[fetch] expressions and %% are supported"),
        ("%[src,ipmask(24)]", "converters such as 'ipmask(24)'"),
        ("%[hdr(host,1)]", "only one argument"),
        ("%[hdr(bad:name)]", "is not a valid header name"),
    ],
)
def test_logformat_errors(text: str, message: str) -> None:
    with pytest.raises(Invalid, match=re.escape(message)):
        parse_logformat(text)


# --- header rules --------------------------------------------------------------------------------


def _condition(words: list[str]) -> Condition:
    return parse_condition(words, PREDEFINED.get, ORIGIN)


def rule(text: str, directive: str = "http-request"):  # type: ignore[no-untyped-def]
    return parse_header_rule(directive, split_words(text), _condition, ORIGIN)


def test_set_header() -> None:
    r = rule("set-header X-Forwarded-Proto https if { ssl_fc }")
    assert (r.action, r.name, r.value, r.regex) == (
        "set-header",
        b"x-forwarded-proto",
        LogFormat((b"https",), "https"),
        None,
    )
    assert r.condition is not None
    assert r.condition.groups[0][0].acls[0].fetch == "ssl_fc"
    assert r.origin == ORIGIN


def test_add_header_quoted_and_escaped_values() -> None:
    r = rule(r'add-header X-Via "stack lb1" unless LOCALHOST')
    assert r.value == LogFormat((b"stack lb1",), "stack lb1")
    assert r.condition is not None
    assert r.condition.negate
    r = rule(r"add-header X-Via stack\ lb1")
    assert r.value is not None
    assert r.value.literal == b"stack lb1"
    assert r.condition is None


def test_del_header() -> None:
    r = rule("del-header Server", "http-response")
    assert (r.action, r.name, r.value, r.regex, r.condition) == (
        "del-header",
        b"server",
        None,
        None,
        None,
    )


def test_replace_header() -> None:
    r = rule(r"replace-header Location ^http://internal(.*) https://public\1", "http-response")
    assert r.name == b"location"
    assert isinstance(r.regex, re.Pattern)
    assert r.regex.pattern == rb"^http://internal(.*)"
    assert r.value == LogFormat((rb"https://public\1",), r"https://public\1")
    assert r.regex.sub(r.value.parts[0], b"http://internal/x/y") == b"https://public/x/y"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "http-request needs an action"),
        ("deny if TRUE", "http-request action 'deny' is not supported yet"),
        ("set-pathq /x", "http-request action 'set-pathq' is not supported yet"),
        (
            "set-headers X 1",
            "unknown http-request action 'set-headers'; did you mean 'set-header'?",
        ),
        ("set-header X", "set-header needs NAME VALUE"),
        ("del-header", "del-header needs NAME"),
        ("replace-header Location ^x", "replace-header needs NAME REGEX REPLACEMENT"),
        ("set-header X a b", "set-header: unexpected 'b' (quote a value that contains spaces"),
        ("set-header Bad:Name 1", "'Bad:Name' is not a valid header name"),
        ("replace-header X ([ y", "invalid regular expression '(['"),
        ("set-header X %[nope]", "unknown fetch 'nope'"),
        ("set-header X 1 if", "'if' is not followed by a condition"),
        ("set-header X 1 if undefined_acl", "ACL 'undefined_acl' is not defined"),
    ],
)
def test_header_rule_errors(text: str, message: str) -> None:
    with pytest.raises(Invalid, match=re.escape(message)):
        rule(text)
