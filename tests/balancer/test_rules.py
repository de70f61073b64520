"""``http-request``/``http-response`` actions: header rewrites and the request-line actions
``set-path``, ``replace-path`` and ``replace-uri`` with HAProxy 2.6 semantics (haproxy.md §1.9,
src/http_act.c, src/regex.c ``exp_replace``)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from stack.balancer.rules import (
    compile_rules,
    expand,
    parse_replacement,
    set_path,
    split_path,
)
from stack.config import model
from stack.config.conditions import parse_condition
from stack.config.loader import load
from stack.config.values import parse_logformat
from stack.http.message import Headers, Request

ORIGIN = model.Origin("test.cfg", 1, "backend be", "http-request")


@dataclass
class Ctx:
    request: Request
    src: str = "192.0.2.7"
    src_port: int = 40000
    dst: str = "127.0.0.1"
    dst_port: int = 8080
    ssl: bool = False

    def nbsrv(self, backend: str) -> int:
        return 1


def ctx(target: bytes = b"/", headers: Headers | None = None, **kw: object) -> Ctx:
    return Ctx(Request(b"GET", target, b"1.1", list(headers or [])), **kw)  # type: ignore[arg-type]


def cond(text: str) -> model.Condition:
    return parse_condition(text.split(), lambda name: None, ORIGIN)


def rule(
    action: str,
    name: bytes = b"",
    regex: bytes | None = None,
    value: str | None = None,
    condition: str | None = None,
) -> model.HeaderRule:
    return model.HeaderRule(
        action,
        name,
        parse_logformat(value) if value is not None else None,
        re.compile(regex) if regex is not None else None,
        cond(condition) if condition else None,
        ORIGIN,
    )


def run(rules: list[model.HeaderRule], c: Ctx, headers: Headers | None = None) -> Headers:
    out = list(headers or [])
    for compiled in compile_rules(tuple(rules)):
        compiled(out, c)
    return out


# --- seed 004: reqirep/rspirep as HAProxy 2.6 writes them --------------------------------------

SEED_004 = [
    # reqirep ^([^\ ]*)\ /app1/([^\ ]*)\ (.*)$  \1\ /\2\ \3
    rule("replace-path", regex=rb"^/app1/(.*)", value=r"/\1"),
]
SEED_004_RESPONSE = [
    # rspirep ^(Location:)\ http://([^/]*)/(.*)$  \1\ http://\2/app1/\3
    rule("replace-header", b"location", rb"^http://([^/]*)/(.*)$", r"http://\1/app1/\2"),
    # rspirep ^(Set-Cookie:.*\ path=)([^\ ]+)(.*)$  \1/app1\2\3
    rule("replace-header", b"set-cookie", rb"^(.*\ path=)([^\ ]+)(.*)$", r"\1/app1\2\3"),
]


def test_seed_004_request_path_loses_the_application_name() -> None:
    c = ctx(b"/app1/x")
    run(SEED_004, c)
    assert c.request.target == b"/x" and c.request.path == b"/x"


def test_seed_004_query_is_kept() -> None:
    c = ctx(b"/app1/x/y?a=1&b=/app1/")
    run(SEED_004, c)
    assert c.request.target == b"/x/y?a=1&b=/app1/"
    assert c.request.path == b"/x/y" and c.request.query == b"a=1&b=/app1/"


def test_seed_004_other_paths_untouched() -> None:
    for target in (b"/app2/x", b"/x/app1/y", b"/app1"):
        c = ctx(target)
        run(SEED_004, c)
        assert c.request.target == target


def test_seed_004_location_gets_the_application_name() -> None:
    out = run(SEED_004_RESPONSE, ctx(), [(b"location", b"http://host/y")])
    assert out == [(b"location", b"http://host/app1/y")]


def test_seed_004_location_with_port_and_query() -> None:
    out = run(SEED_004_RESPONSE, ctx(), [(b"location", b"http://host:8443/a/b?c=d")])
    assert out == [(b"location", b"http://host:8443/app1/a/b?c=d")]


def test_seed_004_relative_location_untouched() -> None:
    out = run(SEED_004_RESPONSE, ctx(), [(b"location", b"/y")])
    assert out == [(b"location", b"/y")]


def test_seed_004_set_cookie_path_goes_under_the_application() -> None:
    headers = [
        (b"set-cookie", b"S=1; path=/z"),
        (b"content-type", b"text/plain"),
        (b"set-cookie", b"T=2; path=/; HttpOnly"),
        (b"set-cookie", b"U=3"),
    ]
    out = run(SEED_004_RESPONSE, ctx(), headers)
    assert out == [
        (b"set-cookie", b"S=1; path=/app1/z"),
        (b"content-type", b"text/plain"),
        (b"set-cookie", b"T=2; path=/app1/; HttpOnly"),
        (b"set-cookie", b"U=3"),  # no match: unchanged
    ]


# --- §1.9's observed example (HAProxy 2.6.12) ---------------------------------------------------


def test_observed_replace_path_and_headers() -> None:
    c = ctx(b"/xff/foo/bar?q=1&loc=x")
    run([rule("replace-path", regex=rb"/xff/(.*)", value=r"/app/\1")], c)
    assert c.request.target == b"/app/foo/bar?q=1&loc=x"
    out = run(
        [
            rule("replace-header", b"location", rb"^http://internal(.*)", r"https://public\1"),
            rule("replace-header", b"set-cookie", rb"(.*)Path=/app(.*)", r"\1Path=/xff\2"),
        ],
        c,
        [(b"location", b"http://internal/x/y"), (b"set-cookie", b"S=1; Path=/app/z")],
    )
    assert out == [(b"location", b"https://public/x/y"), (b"set-cookie", b"S=1; Path=/xff/z")]


# --- replace-header details -----------------------------------------------------------------------


def test_replace_header_search_not_anchored_and_whole_value_replaced() -> None:
    # exp_replace builds the whole new value from the format, not just the matched part
    out = run([rule("replace-header", b"x-a", rb"b+", r"<\0>")], ctx(), [(b"x-a", b"abbbc")])
    assert out == [(b"x-a", b"<bbb>")]


def test_replace_header_is_case_sensitive() -> None:
    r = rule("replace-header", b"location", rb"^http://internal(.*)", r"https://public\1")
    out = run([r], ctx(), [(b"location", b"HTTP://INTERNAL/x")])
    assert out == [(b"location", b"HTTP://INTERNAL/x")]


def test_replace_header_only_named_header() -> None:
    r = rule("replace-header", b"x-a", rb"(.*)", r"[\1]")
    out = run([r], ctx(), [(b"x-b", b"1"), (b"x-a", b"2"), (b"x-a", b"3")])
    assert out == [(b"x-b", b"1"), (b"x-a", b"[2]"), (b"x-a", b"[3]")]


def test_replace_header_fetch_in_format() -> None:
    r = rule("replace-header", b"x-a", rb"(.*)", r"\1 from %[src]:%[src_port]")
    out = run([r], ctx(), [(b"x-a", b"v")])
    assert out == [(b"x-a", b"v from 192.0.2.7:40000")]


def test_replace_header_condition() -> None:
    rules = [rule("replace-header", b"x-a", rb"(.*)", r"tls-\1", condition="if { ssl_fc }")]
    assert run(rules, ctx(), [(b"x-a", b"v")]) == [(b"x-a", b"v")]
    assert run(rules, ctx(ssl=True), [(b"x-a", b"v")]) == [(b"x-a", b"tls-v")]
    rules = [rule("replace-header", b"x-a", rb"(.*)", r"plain-\1", condition="unless { ssl_fc }")]
    assert run(rules, ctx(), [(b"x-a", b"v")]) == [(b"x-a", b"plain-v")]
    assert run(rules, ctx(ssl=True), [(b"x-a", b"v")]) == [(b"x-a", b"v")]


def test_replace_header_trailing_backslash_leaves_value() -> None:
    out = run([rule("replace-header", b"x-a", rb"(.*)", "x\\")], ctx(), [(b"x-a", b"v")])
    assert out == [(b"x-a", b"v")]


# --- exp_replace ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        (rb"\1-\2", b"ab-cd"),
        (rb"\0", b"ab-cd!"),
        (rb"\3", b""),  # an optional group that did not match
        (rb"\9", b""),  # a group the regex does not have
        (rb"\x41\x7a", b"Az"),
        (rb"\\ \  \q", b"\\   q"),
        (rb"\12", b"ab2"),  # one digit only
        (b"plain", b"plain"),
        (b"", b""),
    ],
)
def test_exp_replace(template: bytes, expected: bytes) -> None:
    match = re.search(rb"(ab)-(cd)(x)?!", b"zz ab-cd! zz")
    assert match is not None
    parsed = parse_replacement(template)
    assert parsed is not None
    assert expand(parsed, match) == expected


@pytest.mark.parametrize("template", [b"\\", b"a\\", b"\\x", b"\\x4"])
def test_exp_replace_refused(template: bytes) -> None:
    assert parse_replacement(template) is None


# --- request line -------------------------------------------------------------------------------


def test_set_path_keeps_query() -> None:
    c = ctx(b"/old/p?x=1")
    run([rule("set-path", value="/new")], c)
    assert c.request.target == b"/new?x=1" and c.request.path == b"/new"


def test_set_path_keeps_empty_query_mark() -> None:
    c = ctx(b"/old?")
    run([rule("set-path", value="/new")], c)
    assert c.request.target == b"/new?"


def test_set_path_with_fetches() -> None:
    c = ctx(b"/p?x=1", [(b"host", b"example.com")])
    run([rule("set-path", value="/%[req.hdr(host)]%[path]")], c)
    assert c.request.target == b"/example.com/p?x=1"


def test_set_path_condition() -> None:
    rules = [rule("set-path", value="/tls", condition="if { ssl_fc }")]
    c = ctx(b"/a?b")
    run(rules, c)
    assert c.request.target == b"/a?b"
    c = ctx(b"/a?b", ssl=True)
    run(rules, c)
    assert c.request.target == b"/tls?b"


def test_replace_path_does_not_see_query() -> None:
    c = ctx(b"/a/b?c=/a/d")
    run([rule("replace-path", regex=rb"^(.*)$", value=r"/x\1")], c)
    assert c.request.target == b"/x/a/b?c=/a/d"
    c = ctx(b"/a/b?q")
    run([rule("replace-path", regex=rb"q", value=r"/no")], c)
    assert c.request.target == b"/a/b?q"


def test_replace_path_whole_path_becomes_replacement() -> None:
    c = ctx(b"/pre/a/post?q")
    run([rule("replace-path", regex=rb"/a/", value=r"/Z\0Z")], c)
    assert c.request.target == b"/Z/a/Z?q"


def test_replace_path_chained_as_path_and_pathq_vtc() -> None:
    # reg-tests/http-rules/path_and_pathq.vtc: set-path then replace-path, origin-form
    c = ctx(b"/regtest/foo/fred?q=1")
    run(
        [
            rule("replace-path", regex=rb"/regtest/(.*)", value=r"/\1"),
            rule("replace-path", regex=rb"/foo/(.*)", value=r"/bar/\1"),
        ],
        c,
    )
    assert c.request.target == b"/bar/fred?q=1"


def test_replace_path_asterisk_untouched() -> None:
    c = Ctx(Request(b"OPTIONS", b"*", b"1.1", []))
    run([rule("replace-path", regex=rb".*", value="/x")], c)
    assert c.request.target == b"*"


def test_replace_uri_sees_query() -> None:
    c = ctx(b"/a?x=1")
    run([rule("replace-uri", regex=rb"^/a\?x=(.*)", value=r"/b?y=\1")], c)
    assert c.request.target == b"/b?y=1" and c.request.query == b"y=1"


def test_replace_uri_absolute_result_updates_host() -> None:
    c = ctx(b"/a", [(b"host", b"old"), (b"x", b"y"), (b"host", b"old2")])
    headers: Headers = [(b"host", b"old"), (b"x", b"y"), (b"host", b"old2")]
    out = run([rule("replace-uri", regex=rb"^(.*)", value=r"http://u@new:81\1")], c, headers)
    assert c.request.target == b"http://u@new:81/a"
    assert out == [(b"host", b"new:81"), (b"x", b"y"), (b"host", b"new:81")]


def test_replace_uri_absolute_without_authority_fails() -> None:
    c = ctx(b"/a", [(b"host", b"h")])
    out = run([rule("replace-uri", regex=rb".*", value="http:///a")], c, [(b"host", b"h")])
    assert c.request.target == b"/a" and out == [(b"host", b"h")]


def test_set_header_sees_rewritten_path() -> None:
    c = ctx(b"/app1/x?q")
    out = run(
        [
            rule("replace-path", regex=rb"^/app1/(.*)", value=r"/\1"),
            rule("set-header", b"x-path", value="%[path]"),
        ],
        c,
    )
    assert out == [(b"x-path", b"/x")]


def test_regexes_compiled_once(monkeypatch: pytest.MonkeyPatch) -> None:
    compiled = compile_rules(tuple(SEED_004))

    def refuse(*args: object, **kw: object) -> None:
        raise AssertionError("regex compiled on the request path")

    monkeypatch.setattr(re, "compile", refuse)
    c = ctx(b"/app1/x")
    for r in compiled:
        r([], c)
    assert c.request.target == b"/x"


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        (b"/a?b", (b"", b"/a?b")),
        (b"*", None),
        (b"", None),
        (b"host:443", None),
        (b"http://h:1/p?q", (b"http://h:1", b"/p?q")),
        (b"http://h", None),
    ],
)
def test_split_path(uri: bytes, expected: tuple[bytes, bytes] | None) -> None:
    assert split_path(uri) == expected


def test_set_path_on_absolute_target_keeps_authority() -> None:
    r = Request(b"GET", b"http://h/a?q", b"1.1", [])
    set_path(r, b"/b")
    assert r.target == b"http://h/b?q"


def test_seed_004_from_the_configuration_file(tmp_path: Path) -> None:
    """The rewrite lines as an operator writes them in the INI file, through the loader."""
    path = tmp_path / "seed.ini"
    path.write_text(
        "[defaults]\nmode = http\n\n"
        "[frontend web]\nbind = 127.0.0.1:18040\ndefault_backend = app1\n\n"
        "[backend app1]\n"
        "http-request = replace-path ^/app1/(.*) /\\1\n"
        "http-response =\n"
        "    replace-header Location ^http://([^/]*)/(.*)$ http://\\1/app1/\\2\n"
        "    replace-header Set-Cookie ^(.*\\ path=)([^\\ ]+)(.*)$ \\1/app1\\2\\3\n"
        "server app1_1 = 127.0.0.1:9411\n"
    )
    backend = load(str(path)).backend("app1")
    c = ctx(b"/app1/x?q=1")
    run(list(backend.http_request), c)
    assert c.request.target == b"/x?q=1"
    out = run(
        list(backend.http_response),
        c,
        [(b"location", b"http://host/y"), (b"set-cookie", b"S=1; path=/z")],
    )
    assert out == [(b"location", b"http://host/app1/y"), (b"set-cookie", b"S=1; path=/app1/z")]
