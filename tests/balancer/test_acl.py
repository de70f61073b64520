"""ACL evaluation. Cases marked "2.6.12" were checked against Debian's HAProxy 2.6.12 with the
same ACL and request (result exported through ``set-var-fmt`` + ``http-request return``)."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stack.balancer.acl import compile_acl, compile_condition
from stack.config import model
from stack.http.message import Request

M = model.MatchMethod
ORIGIN = model.Origin("test.cfg", 1, "frontend fe", "acl")


def acl(
    fetch: str,
    *patterns: object,
    method: model.MatchMethod = M.STR,
    arg: str | None = None,
    icase: bool = False,
    name: str = "a",
) -> model.Acl:
    if icase:
        patterns = tuple(p.lower() if isinstance(p, str) else p for p in patterns)
    return model.Acl(name, fetch, arg, method, tuple(patterns), icase, ORIGIN)


@dataclass
class Ctx:
    request: Request
    src: str = "127.0.0.1"
    ssl: bool = False
    servers: dict[str, int] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)

    def nbsrv(self, backend: str) -> int:
        self.calls.append(backend)
        return self.servers.get(backend, 0)


def req(
    target: bytes = b"/",
    headers: list[tuple[bytes, bytes]] | None = None,
    method: bytes = b"GET",
    version: bytes = b"1.1",
) -> Request:
    return Request(method, target, version, headers or [])


def ctx(
    target: bytes = b"/", headers: list[tuple[bytes, bytes]] | None = None, **kw: object
) -> Ctx:
    method = kw.pop("method", b"GET")
    version = kw.pop("version", b"1.1")
    return Ctx(req(target, headers, method, version), **kw)  # type: ignore[arg-type]


def ev(a: model.Acl, c: Ctx) -> bool:
    return compile_acl(a)(c)


# --- string methods ---------------------------------------------------------------------------


DOC_PATH = b"/images/png/logo/32x32.png"


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("/images", True),
        ("images/png", True),
        ("logo/32x32.png", True),
        ("32x32.png", True),
        ("png", True),  # 2.6.12: matches (the documentation's counter-example is wrong)
        ("32x32", False),
        ("/", False),
        ("/images/", True),
        ("ima", False),
        ("logo/32x32", False),
    ],
)
def test_path_dir(pattern: str, expected: bool) -> None:
    assert ev(acl("path", pattern, method=M.DIR), ctx(DOC_PATH)) is expected


def test_path_dir_question_mark_is_a_delimiter() -> None:
    assert ev(acl("url", "b", method=M.DIR), ctx(b"/a/b?x=1"))
    assert ev(acl("url_dir", "x=1", method=M.DIR), ctx(b"/a/b?x=1"))


@pytest.mark.parametrize(
    ("host", "pattern", "icase", "expected"),
    [
        (b"www.example.com", "www", False, True),  # 2.6.12
        (b"www.example.com", "example.com", False, True),  # 2.6.12
        (b"www.example.com", "ample.com", False, False),  # 2.6.12
        (b"WWW.Example.COM:80", "www", False, False),  # 2.6.12
        (b"WWW.Example.COM:80", "WWW", True, True),  # 2.6.12
        (b"wwwexample.com", "www", False, False),  # 2.6.12
        (b"www.example.com:8080", "8080", False, True),
        (b"www.example.com", ".example.", False, True),  # delimiters around the pattern ignored
    ],
)
def test_hdr_dom(host: bytes, pattern: str, icase: bool, expected: bool) -> None:
    a = acl("hdr_dom", pattern, method=M.DOM, arg="host", icase=icase)
    assert ev(a, ctx(headers=[(b"host", host)])) is expected


def test_str_beg_end_sub() -> None:
    c = ctx(b"/api/v1/users?id=3")
    assert ev(acl("path", "/api/v1/users"), c)
    assert not ev(acl("path", "/api/v1/users?id=3"), c)  # path stops at '?'
    assert ev(acl("url", "/api/v1/users?id=3"), c)
    assert ev(acl("path_beg", "/static", "/api", method=M.BEG), c)
    assert not ev(acl("path_beg", "/API", method=M.BEG), c)
    assert ev(acl("path_beg", "/API", method=M.BEG, icase=True), c)
    assert ev(acl("path_end", ".png", "users", method=M.END), c)
    assert ev(acl("path_sub", "v1", method=M.SUB), c)
    assert not ev(acl("path_sub", "id", method=M.SUB), c)
    assert ev(acl("url_sub", "?id", method=M.SUB), c)  # 2.6.12: url includes the query


def test_regex() -> None:
    c = ctx(b"/IMAGES/")
    assert ev(acl("path_reg", re.compile("^/IMAGES"), method=M.REG), c)
    assert not ev(acl("path_reg", re.compile("^/images"), method=M.REG), c)
    # 2.6.12: path_reg -i ^/IMAGES matches /images and /IMAGES/
    assert ev(acl("path_reg", re.compile("^/images"), method=M.REG, icase=True), c)
    assert ev(acl("path", re.compile(r"\d+$"), method=M.REG), ctx(b"/item/42"))  # unanchored
    assert ev(acl("path", re.compile("é"), method=M.REG), ctx("/caf\u00e9".encode()))
    assert ev(acl("path", re.compile("[é]"), method=M.REG), ctx("/caf\u00e9".encode()))


def test_method_and_version() -> None:
    get = ctx(b"/", method=b"GET")
    lower = ctx(b"/", method=b"get", version=b"1.0")
    assert ev(acl("method", "GET", "HEAD"), get)  # 2.6.12
    assert not ev(acl("method", "GET"), lower)  # 2.6.12
    assert ev(acl("method", "G", method=M.BEG), get)  # 2.6.12
    assert not ev(acl("method", "G", method=M.BEG), lower)  # 2.6.12
    assert ev(acl("req.ver", "1.1"), get)  # 2.6.12
    assert not ev(acl("req.ver", "1.1"), lower)
    one = acl("req.ver", model.IntPattern("eq", 1), method=M.INT)
    assert ev(one, get) and ev(one, lower)  # 2.6.12: "1.1" and "1.0" read as 1


# --- headers ----------------------------------------------------------------------------------

H1 = [
    (b"host", b"www.example.com"),
    (b"x-test", b"foo"),
    (b"x-list", b'a, b ,"c,d"'),
    (b"x-empty", b""),
    (b"x-num", b"7abc"),
]


def test_hdr_values_split_outside_quotes() -> None:
    c = ctx(headers=H1)
    assert ev(acl("hdr", "b", arg="x-list"), c)  # 2.6.12
    assert not ev(acl("hdr", "c", arg="x-list"), c)  # 2.6.12
    assert ev(acl("hdr", '"c,d"', arg="x-list"), c)
    assert ev(acl("hdr_sub", "c,d", method=M.SUB, arg="x-list"), c)  # 2.6.12
    assert ev(acl("req.hdr", "a", arg="X-List"), c)  # names are case-insensitive
    assert ev(acl("req.fhdr", 'a, b ,"c,d"', arg="x-list"), c)
    assert not ev(acl("req.fhdr", "b", arg="x-list"), c)


def test_hdr_every_occurrence() -> None:
    c = ctx(headers=[(b"x-a", b"1"), (b"x-b", b"2"), (b"x-a", b"3, 4")])
    assert ev(acl("hdr", "4", arg="x-a"), c)
    assert ev(acl("hdr", "1", arg="x-a"), c)
    assert not ev(acl("hdr", "2", arg="x-a"), c)


def test_hdr_without_name() -> None:
    c = ctx(headers=H1)
    # 2.6.12: "hdr_sub foo" (no argument) fetches nothing; "hdr() foo" looks at every header
    assert not ev(acl("hdr_sub", "foo", method=M.SUB, arg=None), c)
    assert ev(acl("hdr_sub", "foo", method=M.SUB, arg=""), c)
    assert ev(acl("hdr", "foo", arg=""), c)
    assert not ev(acl("hdr", "bar", arg=""), ctx(headers=[(b"foo", b"baz")]))


def test_found_and_missing() -> None:
    c = ctx(headers=H1)
    assert ev(acl("hdr", method=M.FOUND, arg="x-empty"), c)  # 2.6.12
    assert not ev(acl("hdr", method=M.FOUND, arg="x-none"), c)  # 2.6.12
    missing = acl("hdr", "foo", arg="x-none", name="missing")
    cond = model.Condition(((model.Term((missing,), negate=True),),), False, "!missing")
    assert compile_condition(cond)(c)  # 2.6.12: a missing sample negates to true


def test_hdr_int() -> None:
    gt5 = acl("hdr", model.IntPattern("gt", 5), method=M.INT, arg="x-num")
    eq0 = acl("hdr", model.IntPattern("eq", 0), method=M.INT, arg="x-num")
    assert ev(gt5, ctx(headers=[(b"x-num", b"7abc")]))  # 2.6.12
    assert not ev(gt5, ctx(headers=[(b"x-num", b"-3")]))  # 2.6.12
    assert not ev(eq0, ctx(headers=[(b"x-num", b"-3")]))  # 2.6.12
    assert ev(eq0, ctx(headers=[(b"x-num", b"abc")]))  # 2.6.12
    assert not ev(eq0, ctx(headers=[(b"x-num", b"")]))  # empty string: no integer
    assert ev(eq0, ctx(headers=[(b"x-num", b"+0")]))


def test_hdr_cnt() -> None:
    c = ctx(headers=[(b"x-a", b"1"), (b"x-a", b"2, 3")])
    assert ev(acl("hdr_cnt", model.IntPattern("eq", 3), method=M.INT, arg="x-a"), c)
    assert ev(acl("req.hdr_cnt", model.IntPattern("eq", 0), method=M.INT, arg="x-b"), c)


@pytest.mark.parametrize("op", ["eq", "ne", "ge", "gt", "le", "lt"])
@pytest.mark.parametrize("value", [0, 1, 2])
def test_int_ops(op: str, value: int) -> None:
    import operator

    a = acl("nbsrv", model.IntPattern(op, 1), method=M.INT, arg="be")
    assert ev(a, ctx(servers={"be": value})) is getattr(operator, op)(value, 1)


def test_nbsrv() -> None:
    down = acl("nbsrv", model.IntPattern("lt", 1), method=M.INT, arg="be_dead")
    assert ev(down, ctx(servers={"be_dead": 0}))
    assert not ev(down, ctx(servers={"be_dead": 2}))


# --- addresses --------------------------------------------------------------------------------


def net(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    return ipaddress.ip_network(text)


@pytest.mark.parametrize(
    ("src", "pattern", "expected"),
    [
        ("127.0.0.1", "127.0.0.0/8", True),  # 2.6.12
        ("127.0.0.1", "::ffff:127.0.0.1/128", True),  # 2.6.12: v4 sample vs mapped pattern
        ("127.0.0.1", "::1/128", False),
        ("::1", "::1/128", True),  # 2.6.12
        ("::1", "0.0.0.1/32", True),  # 2.6.12: ::a.b.c.d read as IPv4
        ("::ffff:10.1.2.3", "10.0.0.0/8", True),
        ("2002:0a01:0203::1", "10.1.2.3/32", True),  # 6to4
        ("2001:db8::1", "10.0.0.0/8", False),
        ("10.9.8.7", "10.0.0.0/16", False),
        ("192.168.1.20", "192.168.1.0/24", True),
    ],
)
def test_src_ip(src: str, pattern: str, expected: bool) -> None:
    a = acl("src", net(pattern), method=M.IP)
    assert ev(a, ctx(src=src)) is expected


def test_src_ip_several_and_bad() -> None:
    a = acl(
        "src", net("10.0.0.0/8"), ipaddress.ip_address("192.0.2.7"), "172.16.0.0/12", method=M.IP
    )
    assert ev(a, ctx(src="172.20.1.1"))
    assert ev(a, ctx(src="192.0.2.7"))
    assert not ev(a, ctx(src="192.0.2.8"))
    assert not ev(a, ctx(src="not-an-ip"))


def test_hdr_ip() -> None:
    a = acl("hdr_ip", net("10.0.0.0/8"), method=M.IP, arg="x-forwarded-for")
    assert ev(a, ctx(headers=[(b"x-forwarded-for", b"192.0.2.1, 10.2.3.4")]))
    assert not ev(a, ctx(headers=[(b"x-forwarded-for", b"192.0.2.1, junk")]))


def test_src_as_string() -> None:
    assert ev(acl("src", "127.0.0.1"), ctx(src="127.0.0.1"))


# --- booleans ---------------------------------------------------------------------------------


def test_bool_fetches() -> None:
    c = ctx()
    assert ev(acl("always_true", method=M.BOOL), c)  # 2.6.12
    assert not ev(acl("always_false", method=M.BOOL), c)
    assert not ev(acl("ssl_fc", method=M.BOOL), c)
    assert ev(acl("ssl_fc", method=M.BOOL), ctx(ssl=True))
    assert ev(acl("TRUE", method=M.BOOL), c)
    assert not ev(acl("FALSE", method=M.BOOL), c)


def test_unknown_fetch_fails_at_compile_time() -> None:
    with pytest.raises(ValueError):
        compile_acl(acl("res.hdr", "x", arg="server"))


# --- conditions -------------------------------------------------------------------------------


def term(*acls: model.Acl, negate: bool = False) -> model.Term:
    return model.Term(tuple(acls), negate)


def cond(*groups: tuple[model.Term, ...], negate: bool = False) -> model.Condition:
    return model.Condition(tuple(groups), negate, "")


def nb(backend: str) -> model.Acl:
    """An ACL that records its evaluation: true when nbsrv(backend) >= 1."""
    return acl("nbsrv", model.IntPattern("ge", 1), method=M.INT, arg=backend, name=backend)


def test_condition_logic_and_short_circuit() -> None:
    c = ctx(servers={"t1": 1, "t2": 1})  # t1, t2 true; f1, f2 false
    t1, t2, f1, f2 = nb("t1"), nb("t2"), nb("f1"), nb("f2")

    fn = compile_condition(cond((term(f1), term(t1)), (term(t1), term(t2))))
    assert fn(c)
    assert c.calls == ["f1", "t1", "t2"]  # AND stops at f1, OR stops at the second group

    c.calls.clear()
    assert not compile_condition(cond((term(t1), term(f1)), negate=False))(c)
    assert c.calls == ["t1", "f1"]

    c.calls.clear()
    assert compile_condition(cond((term(t1), term(f1)), negate=True))(c)  # unless

    c.calls.clear()
    assert compile_condition(
        cond(
            (term(f1, negate=True), term(t2)),
        )
    )(c)

    c.calls.clear()
    assert compile_condition(
        cond(
            (term(f1, f2, t1),),
        )
    )(c)  # named ACL lines ORed
    assert c.calls == ["f1", "f2", "t1"]
    c.calls.clear()
    assert not compile_condition(
        cond(
            (term(f1, f2, t1, negate=True),),
        )
    )(c)


def test_condition_use_backend_nbsrv() -> None:
    # use_backend b2 if { nbsrv(b1) lt 1 }
    a = acl("nbsrv", model.IntPattern("lt", 1), method=M.INT, arg="b1")
    fn = compile_condition(cond((term(a),)))
    assert fn(ctx(servers={"b1": 0}))
    assert not fn(ctx(servers={"b1": 1}))


def test_condition_redirect_unless_ssl() -> None:
    # redirect scheme https if !{ ssl_fc }
    fn = compile_condition(cond((term(acl("ssl_fc", method=M.BOOL), negate=True),)))
    assert fn(ctx())
    assert not fn(ctx(ssl=True))


@given(st.binary(max_size=30), st.binary(min_size=1, max_size=6))
def test_dir_matches_whole_segments(path: bytes, word: bytes) -> None:
    """Without delimiters in the pattern, ``-m dir`` is "equals one of the segments"."""
    word = word.replace(b"/", b"x").replace(b"?", b"x")
    segments = path.replace(b"?", b"/").split(b"/")
    a = model.Acl("a", "path", None, M.DIR, (word,), False, ORIGIN)  # bytes patterns accepted
    assert compile_acl(a)(Ctx(req(path))) is (word in segments)
