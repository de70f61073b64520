"""ACL lines and if/unless conditions, parsed into the model."""

from __future__ import annotations

import ipaddress
import re

import pytest

from stack.config.conditions import PREDEFINED, parse_acl, parse_condition, split_condition
from stack.config.errors import Invalid
from stack.config.model import Acl, IntPattern, MatchMethod, Origin

ORIGIN = Origin("t.ini", 7, "frontend web", "acl x")
M = MatchMethod


def acl(text: str, name: str = "x") -> Acl:
    return parse_acl(name, text.split(), ORIGIN)


@pytest.mark.parametrize(
    ("text", "fetch", "arg", "method", "patterns"),
    [
        ("path /a /b", "path", None, M.STR, (b"/a", b"/b")),
        ("path_beg /static", "path", None, M.BEG, (b"/static",)),
        ("path_dir app1", "path", None, M.DIR, (b"app1",)),
        ("path_end .png", "path", None, M.END, (b".png",)),
        ("path_sub admin", "path", None, M.SUB, (b"admin",)),
        ("url /x", "url", None, M.STR, (b"/x",)),
        ("url_beg /x", "url", None, M.BEG, (b"/x",)),
        ("url_sub q=", "url", None, M.SUB, (b"q=",)),
        ("hdr(Host) www.example.com", "hdr", "host", M.STR, (b"www.example.com",)),
        ("req.hdr(host) a", "hdr", "host", M.STR, (b"a",)),
        ("hdr_beg(host) www.", "hdr", "host", M.BEG, (b"www.",)),
        ("hdr_end(host) .com", "hdr", "host", M.END, (b".com",)),
        ("hdr_sub(user-agent) curl", "hdr", "user-agent", M.SUB, (b"curl",)),
        ("hdr_dom(host) example.com", "hdr", "host", M.DOM, (b"example.com",)),
        ("method GET HEAD", "method", None, M.STR, (b"GET", b"HEAD")),
        ("ssl_fc", "ssl_fc", None, M.BOOL, ()),
        ("always_true", "always_true", None, M.BOOL, ()),
        ("always_false", "always_false", None, M.BOOL, ()),
        ("nbsrv(app1) ge 1", "nbsrv", "app1", M.INT, (IntPattern("ge", 1),)),
        ("nbsrv(App_1) lt 2", "nbsrv", "App_1", M.INT, (IntPattern("lt", 2),)),
        ("nbsrv(b) 3", "nbsrv", "b", M.INT, (IntPattern("eq", 3),)),
        (
            "nbsrv(b) eq 1 ne 2 gt 3 le 4 5",
            "nbsrv",
            "b",
            M.INT,
            tuple(
                IntPattern(op, v)
                for op, v in [("eq", 1), ("ne", 2), ("gt", 3), ("le", 4), ("eq", 5)]
            ),
        ),
        ("path -m beg /x", "path", None, M.BEG, (b"/x",)),
        ("hdr(x-a) -m found", "hdr", "x-a", M.FOUND, ()),
        ("path_beg -- -dash", "path", None, M.BEG, (b"-dash",)),
    ],
)
def test_criteria(
    text: str, fetch: str, arg: str | None, method: MatchMethod, patterns: tuple[object, ...]
) -> None:
    parsed = acl(text)
    assert (parsed.fetch, parsed.fetch_arg, parsed.method, parsed.patterns) == (
        fetch,
        arg,
        method,
        patterns,
    )
    assert parsed.name == "x"
    assert parsed.origin == ORIGIN
    assert not parsed.ignore_case


def test_ignore_case_lowercases_string_patterns() -> None:
    parsed = acl("hdr(host) -i WWW.Example.COM")
    assert parsed.ignore_case
    assert parsed.patterns == (b"www.example.com",)


def test_regex_compiled_once_with_flags() -> None:
    parsed = acl(r"path_reg ^/img/.*\.png$")
    (pattern,) = parsed.patterns
    assert isinstance(pattern, re.Pattern)
    assert pattern.search(b"/img/a.png")
    assert not pattern.search(b"/IMG/a.png")
    insensitive = acl(r"url_reg -i ^/IMG/").patterns[0]
    assert isinstance(insensitive, re.Pattern)
    assert insensitive.flags & re.IGNORECASE
    assert insensitive.search(b"/img/x")
    assert acl("hdr_reg(host) ^www").method is M.REG
    assert acl("path -m reg ^/a").method is M.REG


def test_src_networks() -> None:
    parsed = acl("src 10.0.0.0/8 192.168.1.7 ::1 10.1.2.3/16")
    assert parsed.method is M.IP
    assert parsed.patterns == (
        ipaddress.ip_network("10.0.0.0/8"),
        ipaddress.ip_network("192.168.1.7/32"),
        ipaddress.ip_network("::1/128"),
        ipaddress.ip_network("10.1.0.0/16"),  # host bits are dropped (strict=False)
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "needs a criterion"),
        ("path_beginning /x", "unknown ACL criterion 'path_beginning'; did you mean 'path_beg'?"),
        ("hdr_cnt(host) 1", "unknown ACL criterion 'hdr_cnt'"),
        ("hdr /x", "'hdr' needs an argument in parentheses, as in 'hdr(host)'"),
        ("nbsrv ge 1", "'nbsrv' needs an argument in parentheses, as in 'nbsrv(app1)'"),
        ("hdr(host,1) x", "only one argument"),
        ("path(x) /a", "'path' takes no argument"),
        ("path_beg", "'path_beg' needs at least one pattern"),
        ("ssl_fc 1", "'ssl_fc' takes no pattern"),
        ("ssl_fc -m str", "'ssl_fc' takes no '-m' match method"),
        ("path -m ip 10.0.0.1", "'-m ip' cannot be used with 'path'"),
        ("src -m beg 10.", "'-m beg' cannot be used with 'src'"),
        ("path -m", "'-m' needs a match method"),
        ("path -f /etc/list", "'-f' (patterns from a file) is not supported yet"),
        ("path -x /a", "unknown ACL flag '-x'"),
        ("path_reg ([", "invalid regular expression '(['"),
        ("src 10.0.0.300", "'10.0.0.300' is not an IP address or network"),
        ("src example.com", "is not an IP address or network"),
        ("nbsrv(b) ge", "operator 'ge' is not followed by a number"),
        ("nbsrv(b) ge lt 1", "operator 'ge' is not followed by a number"),
        ("nbsrv(b) one", "'one' is not an integer"),
        ("nbsrv(b) 1:3", "integer ranges such as '1:3' are not supported yet"),
    ],
)
def test_acl_errors(text: str, message: str) -> None:
    with pytest.raises(Invalid, match=re.escape(message)):
        acl(text)


# --- conditions ----------------------------------------------------------------------------------

DEFINED = {
    "a": (acl("path_beg /a", "a"),),
    "b": (acl("path_beg /b", "b"),),
    "c": (acl("path_beg /c", "c"), acl("path_end .c", "c")),  # two lines: ORed
}


def lookup(name: str) -> tuple[Acl, ...] | None:
    return DEFINED.get(name) or PREDEFINED.get(name)


def cond(text: str):  # type: ignore[no-untyped-def]
    return parse_condition(text.split(), lookup, ORIGIN)


def shape(text: str) -> list[list[tuple[bool, list[str]]]]:
    """Groups of (negate, ACL names) for compact assertions."""
    return [[(t.negate, [a.name for a in t.acls]) for t in group] for group in cond(text).groups]


def test_and_within_a_group() -> None:
    c = cond("if a b")
    assert not c.negate
    assert c.text == "if a b"
    assert shape("if a b") == [[(False, ["a"]), (False, ["b"])]]


def test_or_between_groups() -> None:
    assert shape("if a || b c") == [[(False, ["a"])], [(False, ["b"]), (False, ["c", "c"])]]
    assert shape("if a or b") == shape("if a || b")
    assert shape("if a OR b") == shape("if a || b")


def test_acl_lines_sharing_a_name_are_one_term() -> None:
    (group,) = cond("if c").groups
    (term,) = group
    assert [a.patterns for a in term.acls] == [(b"/c",), (b".c",)]


def test_negation_both_spellings() -> None:
    assert shape("if !a") == [[(True, ["a"])]]
    assert shape("if ! a") == shape("if !a")
    assert shape("if a !b") == [[(False, ["a"]), (True, ["b"])]]


def test_unless() -> None:
    c = cond("unless a")
    assert c.negate
    assert c.text == "unless a"


def test_anonymous_acls() -> None:
    c = cond("if !{ ssl_fc }")
    ((term,),) = c.groups
    assert term.negate
    (anonymous,) = term.acls
    assert (anonymous.fetch, anonymous.method, anonymous.name) == ("ssl_fc", M.BOOL, "{ ssl_fc }")
    c = cond("if { path_beg /dead } b")
    first, second = c.groups[0]
    assert first.acls[0].patterns == (b"/dead",)
    assert not first.negate
    assert second.acls == DEFINED["b"]
    assert shape("if ! { ssl_fc } || a")[1] == [(False, ["a"])]


def test_predefined_acls() -> None:
    for name in ["TRUE", "FALSE", "LOCALHOST", "METH_GET", "METH_POST", "METH_PUT"]:
        assert cond(f"if {name}").groups[0][0].acls == PREDEFINED[name]
    for name in ["METH_DELETE", "METH_HEAD", "METH_OPTIONS", "METH_CONNECT", "METH_TRACE"]:
        assert PREDEFINED[name][0].patterns == (name[5:].encode(),)
    assert PREDEFINED["METH_GET"][0].patterns == (b"GET", b"HEAD")
    assert PREDEFINED["LOCALHOST"][0].patterns == (
        ipaddress.ip_network("127.0.0.0/8"),
        ipaddress.ip_network("::1"),
    )
    assert (PREDEFINED["HTTP_1.0"][0].fetch, PREDEFINED["HTTP_1.0"][0].patterns) == (
        "req.ver",
        (b"1.0",),
    )
    assert PREDEFINED["HTTP_1.1"][0].patterns == (b"1.1",)
    assert PREDEFINED["HTTP"][0].fetch == "always_true"
    assert PREDEFINED["TRUE"][0].fetch == "always_true"
    assert PREDEFINED["FALSE"][0].fetch == "always_false"


def test_a_section_acl_shadows_a_predefined_one() -> None:
    mine = (acl("path /true", "TRUE"),)

    def shadowing(name: str) -> tuple[Acl, ...] | None:
        return mine if name == "TRUE" else PREDEFINED.get(name)

    assert parse_condition(["if", "TRUE"], shadowing, ORIGIN).groups[0][0].acls == mine


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("if", "'if' is not followed by a condition"),
        ("when a", "expected 'if' or 'unless'"),
        ("if nope", "ACL 'nope' is not defined in this section (nor predefined)"),
        ("if a nope b other", "ACLs 'nope', 'other' are not defined"),
        ("if || a", "'||' must separate two groups"),
        ("if a ||", "the condition ends with 'or'/'||'"),
        ("if a && b", "'&&' is not HAProxy syntax"),
        ("if !", "'!' must be followed by an ACL"),
        ("if !!a", "'!' must be followed by an ACL"),
        ("if { ssl_fc", "no '}' closes"),
        ("if { }", "'{ }' is empty"),
        ("if }", "'}' closes no anonymous ACL"),
        ("if { path_beg { x } }", "cannot be nested"),
        ("if { bogus 1 }", "unknown ACL criterion 'bogus'"),
    ],
)
def test_condition_errors(text: str, message: str) -> None:
    with pytest.raises(Invalid, match=re.escape(message)):
        cond(text)


def test_split_condition() -> None:
    assert split_condition(["set-header", "X", "if", "if", "a"], 3) == (
        ["set-header", "X", "if"],
        ["if", "a"],
    )
    assert split_condition(["x", "y"]) == (["x", "y"], None)
