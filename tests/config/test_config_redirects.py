"""Redirects (redirect and http-request redirect) and the request-line actions set-path,
replace-path and replace-uri."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from stack.config.errors import Invalid
from stack.config.model import Condition, HeaderRule, LogFormat, Origin, Redirect, StackConfig
from stack.config.values import parse_header_rule, parse_redirect
from stack.config.words import split_words

ORIGIN = Origin("t.ini", 3, "frontend f", "redirect")
Load = Callable[[str], StackConfig]
Problems = Callable[[str], list[str]]


def _condition(words: list[str]) -> Condition:
    return Condition((), words[0] == "unless", " ".join(words))


def redirect(text: str, *, logformat: bool = False) -> Redirect:
    return parse_redirect(split_words(text), _condition, ORIGIN, logformat=logformat)


# --- parse_redirect ------------------------------------------------------------------------------


def test_redirect_scheme_seed_003() -> None:
    r = redirect("scheme https if !{ ssl_fc }")
    assert (r.kind, r.target, r.code, r.drop_query, r.append_slash) == (
        "scheme",
        LogFormat((b"https",), "https"),
        302,
        False,
        False,
    )
    assert r.condition is not None and r.condition.text == "if !{ ssl_fc }"
    assert (r.set_cookie, r.clear_cookie, r.origin) == (None, None, ORIGIN)


def test_redirect_every_option() -> None:
    r = redirect(
        "prefix https://www.example.com code 301 drop-query append-slash set-cookie SEEN=1"
    )
    assert (r.kind, r.target.text, r.code, r.drop_query, r.append_slash, r.set_cookie) == (
        "prefix",
        "https://www.example.com",
        301,
        True,
        True,
        "SEEN=1",
    )
    r = redirect("location /maintenance.html code 307 clear-cookie SESSION unless TRUE")
    assert (r.kind, r.code, r.clear_cookie, r.set_cookie) == ("location", 307, "SESSION", None)
    assert r.condition is not None and r.condition.negate
    assert redirect("location /x clear-cookie SESSION=").clear_cookie == "SESSION="
    assert redirect("prefix / set-cookie FLAG").set_cookie == "FLAG"
    for code in (301, 302, 303, 307, 308):
        assert redirect(f"scheme https code {code}").code == code


def test_redirect_targets_literal_or_log_format() -> None:
    # the redirect directive takes its target literally (HAProxy 2.6), http-request redirect
    # parses %[...]
    assert redirect("location /a%[src]").target == LogFormat((b"/a%[src]",), "/a%[src]")
    assert redirect("location /a%[src]", logformat=True).target == LogFormat(
        (b"/a", "src"), "/a%[src]"
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "redirection type expected ('prefix', 'location', or 'scheme')"),
        ("code 301", "redirection type expected ('prefix', 'location', or 'scheme')"),
        ("if TRUE", "redirection type expected"),
        ("scheme", "missing argument for 'scheme'"),
        ('location ""', "missing argument for 'location'"),
        ("scheme https code", "missing argument for 'code'"),
        (
            "scheme https code 304",
            "'code': unsupported HTTP code '304' (must be one of 301, 302, 303, 307 or 308)",
        ),
        ("scheme https code x", "'code': unsupported HTTP code 'x'"),
        ("scheme https prefix /x", "'prefix' after 'scheme': a redirect has one type"),
        ("scheme ht/tps", "redirect scheme 'ht/tps' is not a URL scheme such as https"),
        ("location /x set-cookie", "missing argument for 'set-cookie'"),
        ("location /x set-cookie a;b=1", "set-cookie: 'a;b' is not a valid cookie name"),
        ("location /x set-cookie a=b;c", "character ';' is not permitted in the cookie value"),
        ("location /x clear-cookie a=1", "clear-cookie takes a cookie name (NAME or NAME=)"),
        (
            "location /x set-cookie a=1 clear-cookie b",
            "use either set-cookie or clear-cookie in one redirect (HAProxy keeps one)",
        ),
        ("location /x ignore-empty", "redirect option 'ignore-empty' is not supported yet"),
        (
            "location /x drop-qurey",
            "expects 'code', 'prefix', 'location', 'scheme', 'set-cookie', 'clear-cookie', "
            "'drop-query' or 'append-slash' (was 'drop-qurey'); did you mean 'drop-query'?",
        ),
    ],
)
def test_redirect_errors(text: str, message: str) -> None:
    with pytest.raises(Invalid, match=re.escape(message)):
        redirect(text)


def test_http_request_redirect_target_errors() -> None:
    with pytest.raises(Invalid, match=re.escape("unknown fetch 'capture.req.uri'")):
        redirect("location https://%[hdr(host)]%[capture.req.uri]", logformat=True)
    # a log-format scheme is not checked as a literal scheme
    assert redirect("scheme %[hdr(x-proto)]", logformat=True).target.parts == ("req.hdr(x-proto)",)


# --- in the loader -------------------------------------------------------------------------------


def test_redirects_in_the_loader(load_ini: Load) -> None:
    cfg = load_ini(
        """\
        [frontend f]
        bind = 127.0.0.1:8000
        acl old = path_beg /old
        redirect =
            scheme https if !{ ssl_fc }
            prefix /new code 301 if old
        http-request =
            set-header X-A 1
            redirect location /%[path] code 303 if { path_end .php }
        default_backend = b

        [backend b]
        redirect = location http://maintenance.example.com/ code 307

        [listen l]
        bind = 127.0.0.1:8001
        redirect = scheme https
        """
    )
    f = cfg.frontends[0]
    # http-request redirect rules first, then redirect rules, each in file order
    assert [(r.kind, r.code, r.origin.line, r.origin.key) for r in f.redirects] == [
        ("location", 303, 9, "http-request"),
        ("scheme", 302, 5, "redirect"),
        ("prefix", 301, 6, "redirect"),
    ]
    assert f.redirects[0].target == LogFormat((b"/", "path"), "/%[path]")
    old = f.redirects[2].condition
    assert old is not None and old.groups[0][0].acls[0].name == "old"
    # the redirect line is not a header rule
    assert [r.action for r in f.http_request] == ["set-header"]
    (b,) = [be for be in cfg.backends if be.name == "b"]
    assert [(r.kind, r.target.text) for r in b.redirects] == [
        ("location", "http://maintenance.example.com/")
    ]
    # a listen's redirects belong to its backend half, as its http-request rules do
    listen_front = cfg.frontends[1]
    assert listen_front.redirects == ()
    assert [r.kind for r in cfg.backend("l").redirects] == ["scheme"]


def test_redirect_errors_are_located(problems_of: Problems) -> None:
    assert problems_of(
        """\
        [frontend f]
        bind = :1
        redirect =
            scheme https if !{ ssl_fc }
            scheme https code 418
            location /x if nothere
        http-request = redirect prefix
        http-response = redirect location /x
        """
    ) == [
        "t.ini:5: [frontend f] redirect: 'code': unsupported HTTP code '418' (must be one of "
        "301, 302, 303, 307 or 308)",
        "t.ini:6: [frontend f] redirect: ACL 'nothere' is not defined in this section (nor "
        "predefined)",
        "t.ini:7: [frontend f] http-request: missing argument for 'prefix'",
        "t.ini:8: [frontend f] http-response: http-response action 'redirect' is not supported yet",
    ]


# --- set-path, replace-path, replace-uri ---------------------------------------------------------


def rule(text: str, directive: str = "http-request") -> HeaderRule:
    origin = Origin("t.ini", 3, "backend b", directive)
    return parse_header_rule(directive, split_words(text), _condition, origin)


def test_replace_path_seed_004() -> None:
    r = rule(r"replace-path ^/app1/(.*) /\1")
    assert (r.action, r.name, r.condition) == ("replace-path", b"", None)
    assert isinstance(r.regex, re.Pattern)
    assert r.regex.pattern == rb"^/app1/(.*)"
    assert r.value == LogFormat((rb"/\1",), r"/\1")
    assert r.regex.sub(r.value.parts[0], b"/app1/x/y.php") == b"/x/y.php"


def test_set_path_and_replace_uri() -> None:
    r = rule("set-path /static%[path] if TRUE")
    assert (r.action, r.name, r.regex) == ("set-path", b"", None)
    assert r.value == LogFormat((b"/static", "path"), "/static%[path]")
    assert r.condition is not None and r.condition.text == "if TRUE"
    r = rule(r"replace-uri ^http://[^/]+(/.*) \1")
    assert (r.action, r.name) == ("replace-uri", b"")
    assert isinstance(r.regex, re.Pattern)
    assert r.regex.pattern == rb"^http://[^/]+(/.*)"


@pytest.mark.parametrize(
    ("text", "directive", "message"),
    [
        ("set-path", "http-request", "set-path needs FORMAT"),
        ('set-path ""', "http-request", "set-path needs a non-empty path"),
        ("replace-path ^/a", "http-request", "replace-path needs REGEX REPLACEMENT"),
        ("replace-uri ([ x", "http-request", "invalid regular expression '(['"),
        ("replace-path ^/a /b /c", "http-request", "replace-path: unexpected '/c'"),
        ("set-path /%[nope]", "http-request", "unknown fetch 'nope'"),
        (
            "replace-path ^/a /b",
            "http-response",
            "'replace-path' is an http-request action (it rewrites the request line); HAProxy "
            "has no 'http-response replace-path'",
        ),
        ("set-uri /x", "http-request", "http-request action 'set-uri' is not supported yet"),
        ("replace-pathq ^/a /b", "http-request", "action 'replace-pathq' is not supported yet"),
    ],
)
def test_request_line_action_errors(text: str, directive: str, message: str) -> None:
    with pytest.raises(Invalid, match=re.escape(message)):
        rule(text, directive)


def test_request_line_actions_in_the_loader(load_ini: Load) -> None:
    cfg = load_ini(
        r"""
        [backend app1]
        http-request =
            replace-path ^/app1/(.*) /\1
            set-path /index.html if { path / }
            replace-uri ^/old(.*) /new\1
        http-response = replace-header Set-Cookie (.*[Pp]ath=)([^;]*)(.*) \1/app1\2\3
        """
    )
    (b,) = cfg.backends
    assert [(r.action, r.name) for r in b.http_request] == [
        ("replace-path", b""),
        ("set-path", b""),
        ("replace-uri", b""),
    ]
    (cookie,) = b.http_response
    assert isinstance(cookie.regex, re.Pattern)
    assert cookie.value is not None
    part = cookie.value.parts[0]
    assert isinstance(part, bytes)
    assert cookie.regex.sub(part, b"SRVID=a; path=/; HttpOnly") == b"SRVID=a; path=/app1/; HttpOnly"
