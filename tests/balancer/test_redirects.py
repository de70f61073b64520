"""``redirect`` responses, byte for byte as HAProxy 2.6 sends them (haproxy.md §1.10,
src/http_ana.c ``http_apply_redirect_rule``, src/mux_h1.c)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from stack.balancer.acl import compile_condition
from stack.balancer.redirects import RedirectRules, server_redirect, wants_close
from stack.config import model
from stack.config.conditions import parse_condition
from stack.config.values import parse_logformat, parse_redirect
from stack.config.words import split_words
from stack.http.message import Headers, Request

ORIGIN = model.Origin("test.cfg", 1, "frontend fe", "redirect")


@dataclass
class Ctx:
    request: Request
    ssl: bool = False
    src: str = "192.0.2.7"
    src_port: int = 40000
    dst: str = "127.0.0.1"
    dst_port: int = 80

    def nbsrv(self, backend: str) -> int:
        return 1


def evaluator() -> Any:
    cache: dict[int, Any] = {}

    def evaluate(condition: model.Condition, ctx: Any) -> bool:
        fn = cache.get(id(condition))
        if fn is None:
            fn = cache[id(condition)] = compile_condition(condition)
        return bool(fn(ctx))

    return evaluate


def redirect(kind: str, target: str, condition: str | None = None, **kw: Any) -> model.Redirect:
    cond = parse_condition(condition.split(), lambda n: None, ORIGIN) if condition else None
    return model.Redirect(kind, parse_logformat(target), condition=cond, **kw)


def request(
    target: bytes = b"/redir/a?b=c",
    headers: Headers | None = None,
    version: bytes = b"1.1",
    method: bytes = b"GET",
    content_length: int | None = 0,
    chunked: bool = False,
) -> Request:
    headers = list(headers or [])
    tokens = {t.strip().lower() for n, v in headers if n == b"connection" for t in v.split(b",")}
    # as the parser reads it: HTTP/1.1 keeps alive unless "close", HTTP/1.0 only if asked
    keep_alive = b"close" not in tokens and (version == b"1.1" or b"keep-alive" in tokens)
    return Request(
        method,
        target,
        version,
        headers,
        keep_alive=keep_alive,
        content_length=content_length,
        chunked=chunked,
    )


def apply(
    rules: list[model.Redirect], req: Request, ssl: bool = False, httpclose: bool = False
) -> bytes | None:
    compiled = RedirectRules(rules, evaluator(), httpclose=httpclose)
    return compiled.apply(Ctx(req, ssl=ssl), req, ssl)


HOST = [(b"host", b"www.example.com")]
CANONICAL = [redirect("scheme", "https", "if !{ ssl_fc }")]


# --- the canonical case, observed with HAProxy 2.6.12 ------------------------------------------


def test_scheme_https_http11() -> None:
    assert apply(CANONICAL, request(headers=HOST)) == (
        b"HTTP/1.1 302 Found\r\n"
        b"content-length: 0\r\n"
        b"location: https://www.example.com/redir/a?b=c\r\n"
        b"cache-control: no-cache\r\n"
        b"\r\n"
    )


def test_scheme_https_http10_without_host() -> None:
    response = apply(CANONICAL, request(version=b"1.0"))
    assert response == (
        b"HTTP/1.1 302 Found\r\n"
        b"content-length: 0\r\n"
        b"location: https:///redir/a?b=c\r\n"
        b"cache-control: no-cache\r\n"
        b"connection: close\r\n"
        b"\r\n"
    )
    assert response is not None and wants_close(response)


def test_canonical_line_through_the_config_parser() -> None:
    line = "scheme https if !{ ssl_fc }"
    parsed = parse_redirect(
        split_words(line),
        lambda words: parse_condition(words, lambda n: None, ORIGIN),
        ORIGIN,
        logformat=False,
    )
    assert apply([parsed], request(headers=HOST)) == (
        b"HTTP/1.1 302 Found\r\ncontent-length: 0\r\n"
        b"location: https://www.example.com/redir/a?b=c\r\ncache-control: no-cache\r\n\r\n"
    )
    assert apply([parsed], request(headers=HOST), ssl=True) is None


def test_scheme_not_applied_over_tls() -> None:
    assert apply(CANONICAL, request(headers=HOST), ssl=True) is None


def test_host_verbatim_with_port() -> None:
    response = apply(CANONICAL, request(headers=[(b"host", b"Example.COM:8080")]))
    assert response is not None
    assert b"\r\nlocation: https://Example.COM:8080/redir/a?b=c\r\n" in response


def test_host_first_header_first_value() -> None:
    headers = [(b"host", b"a.example,  b.example"), (b"host", b"c.example")]
    response = apply(CANONICAL, request(headers=headers))
    assert response is not None and b"location: https://a.example/redir" in response


def test_asterisk_target_is_slash() -> None:
    response = apply(CANONICAL, request(target=b"*", method=b"OPTIONS", headers=HOST))
    assert response is not None and b"location: https://www.example.com/\r\n" in response


# --- codes ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "status_line", "no_cache"),
    [
        (301, b"HTTP/1.1 301 Moved Permanently\r\n", False),
        (302, b"HTTP/1.1 302 Found\r\n", True),
        (303, b"HTTP/1.1 303 See Other\r\n", True),
        (307, b"HTTP/1.1 307 Temporary Redirect\r\n", True),
        (308, b"HTTP/1.1 308 Permanent Redirect\r\n", False),
    ],
)
def test_codes(code: int, status_line: bytes, no_cache: bool) -> None:
    response = apply([redirect("location", "/new", code=code)], request())
    expected = status_line + b"content-length: 0\r\nlocation: /new\r\n"
    if no_cache:
        expected += b"cache-control: no-cache\r\n"
    assert response == expected + b"\r\n"


# --- prefix and location ------------------------------------------------------------------------


def test_prefix_keeps_path_and_query() -> None:
    response = apply([redirect("prefix", "https://new.example")], request())
    assert response is not None
    assert b"\r\nlocation: https://new.example/redir/a?b=c\r\n" in response


def test_prefix_drop_query() -> None:
    response = apply([redirect("prefix", "https://n", drop_query=True)], request())
    assert response is not None and b"\r\nlocation: https://n/redir/a\r\n" in response


def test_prefix_append_slash() -> None:
    rules = [redirect("prefix", "https://n", drop_query=True, append_slash=True)]
    response = apply(rules, request(target=b"/app1?x=1"))
    assert response is not None and b"\r\nlocation: https://n/app1/\r\n" in response
    response = apply(rules, request(target=b"/app1/"))
    assert response is not None and b"\r\nlocation: https://n/app1/\r\n" in response


def test_append_slash_after_a_kept_query() -> None:
    # HAProxy looks at the last byte of the whole Location, query included
    response = apply([redirect("prefix", "https://n", append_slash=True)], request(b"/a?b"))
    assert response is not None and b"\r\nlocation: https://n/a?b/\r\n" in response


def test_scheme_drop_query_append_slash() -> None:
    rules = [redirect("scheme", "https", drop_query=True, append_slash=True)]
    response = apply(rules, request(b"/app1?x", headers=HOST))
    assert response is not None
    assert b"\r\nlocation: https://www.example.com/app1/\r\n" in response


def test_prefix_slash_is_self_redirection() -> None:
    response = apply([redirect("prefix", "/", code=301)], request(b"/x?y"))
    assert response is not None and b"\r\nlocation: /x?y\r\n" in response


def test_location_as_is() -> None:
    rules = [redirect("location", "https://h/fixed", drop_query=True, append_slash=True)]
    response = apply(rules, request(b"/x?y"))
    assert response is not None and b"\r\nlocation: https://h/fixed\r\n" in response


def test_location_log_format() -> None:
    rules = [redirect("location", "https://%[req.hdr(host)]%[path]?from=%[src]")]
    response = apply(rules, request(b"/p?q", headers=HOST))
    assert response is not None
    assert b"\r\nlocation: https://www.example.com/p?from=192.0.2.7\r\n" in response


def test_first_matching_rule_wins() -> None:
    rules = [
        redirect("location", "/one", "if { path_beg /one }"),
        redirect("location", "/two", "unless { path_beg /one }"),
        redirect("location", "/three"),
    ]
    assert b"location: /one\r\n" in (apply(rules, request(b"/one/x")) or b"")
    assert b"location: /two\r\n" in (apply(rules, request(b"/x")) or b"")
    assert apply([redirect("location", "/x", "if { path_beg /nope }")], request()) is None


def test_empty_rules() -> None:
    rules = RedirectRules([], evaluator())
    assert not rules and rules.apply(None, request(), False) is None


# --- cookies ------------------------------------------------------------------------------------


def test_set_cookie() -> None:
    response = apply([redirect("location", "/", code=301, set_cookie="SEEN=1")], request())
    assert response == (
        b"HTTP/1.1 301 Moved Permanently\r\n"
        b"content-length: 0\r\n"
        b"location: /\r\n"
        b"set-cookie: SEEN=1; path=/;\r\n"
        b"\r\n"
    )


def test_clear_cookie() -> None:
    response = apply([redirect("location", "/", clear_cookie="SEEN=")], request())
    assert response == (
        b"HTTP/1.1 302 Found\r\n"
        b"content-length: 0\r\n"
        b"location: /\r\n"
        b"cache-control: no-cache\r\n"
        b"set-cookie: SEEN=; path=/; Max-Age=0;\r\n"
        b"\r\n"
    )


# --- connection header --------------------------------------------------------------------------

LOCATION = [redirect("location", "/")]


@pytest.mark.parametrize(
    ("version", "headers", "kw", "expected"),
    [
        (b"1.1", [], {}, b""),
        (b"1.1", [(b"connection", b"keep-alive")], {}, b""),
        (b"1.1", [(b"connection", b"Close")], {}, b"connection: close\r\n"),
        (b"1.1", [(b"connection", b"te, close")], {}, b"connection: close\r\n"),
        (b"1.0", [], {}, b"connection: close\r\n"),
        (b"1.0", [(b"connection", b"Keep-Alive")], {}, b"connection: keep-alive\r\n"),
        (b"1.1", [], {"content_length": 5}, b"connection: close\r\n"),
        (b"1.1", [], {"content_length": None, "chunked": True}, b"connection: close\r\n"),
        (b"1.0", [(b"connection", b"keep-alive")], {"content_length": 3}, b"connection: close\r\n"),
    ],
)
def test_connection_header(
    version: bytes, headers: Headers, kw: dict[str, Any], expected: bytes
) -> None:
    response = apply(LOCATION, request(b"/", headers, version, **kw))
    assert response == (
        b"HTTP/1.1 302 Found\r\ncontent-length: 0\r\nlocation: /\r\n"
        b"cache-control: no-cache\r\n" + expected + b"\r\n"
    )
    assert wants_close(response) == (expected == b"connection: close\r\n")


def test_option_httpclose_closes() -> None:
    response = apply(LOCATION, request(b"/"), httpclose=True)
    assert response is not None and response.endswith(b"\r\nconnection: close\r\n\r\n")


def test_unknown_code_is_302() -> None:
    response = apply([redirect("location", "/", code=399)], request())
    assert response is not None and response.startswith(b"HTTP/1.1 302 Found\r\n")


# --- server redir ---------------------------------------------------------------------------------


def test_server_redirect_bytes_as_haproxy_2_6_sends_them() -> None:
    page = server_redirect(b"http://img.example.com", request(b"/a/b?c=d", method=b"GET"))
    assert page == (
        b"HTTP/1.1 302 Found\r\ncache-control: no-cache\r\ncontent-length: 0\r\n"
        b"location: http://img.example.com/a/b?c=d\r\nconnection: close\r\n\r\n"
    )
    assert wants_close(page)


def test_server_redirect_only_for_get_and_head_with_a_path() -> None:
    assert server_redirect(b"http://i", request(b"/h", method=b"HEAD")) is not None
    for method in (b"POST", b"PUT", b"DELETE", b"OPTIONS"):
        assert server_redirect(b"http://i", request(b"/p", method=method)) is None
    assert server_redirect(b"http://i", request(b"*", method=b"GET")) is None


def test_server_redirect_prefix_slash_keeps_the_url() -> None:
    page = server_redirect(b"/", request(b"/x?y", method=b"GET"))
    assert page is not None and b"\r\nlocation: /x?y\r\n" in page
