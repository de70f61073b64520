"""ACLs and ``if``/``unless`` conditions, parsed once at load time into the model's objects.

Everything that can go wrong with an ACL (a mistyped criterion, a bad regular expression, a
network that is not one, an ACL name nobody defined) is found here, so the request path only
compares already-converted patterns. Semantics follow HAProxy (haproxy.md §1.8):

* ``acl NAME CRITERION [-i] [-m METHOD] [--] PATTERN...``: the derived keywords
  (``path_beg``, ``hdr_dom(host)``...) are their base fetch plus a match method, and ``-m``
  overrides the method;
* a condition is terms separated by spaces (AND), groups separated by ``||`` or ``or`` (OR),
  a ``!`` negates a term, and ``{ CRITERION ... }`` is an anonymous ACL;
* the predefined ACLs (``TRUE``, ``LOCALHOST``, ``METH_GET``...) need no definition.
"""

from __future__ import annotations

import difflib
import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass

from .errors import Invalid
from .model import Acl, Condition, IntPattern, MatchMethod, Origin, Term
from .words import join_words

# The characters HAProxy allows in ACL, proxy and server names (its invalid_char()).
NAME_RE = re.compile(r"[A-Za-z0-9_.:-]+")

_STRING = "string"
_IP = "ip"
_INT = "int"
_BOOL = "bool"

_METHODS_BY_KIND = {
    _STRING: {"str", "beg", "end", "sub", "dir", "dom", "reg", "found"},
    _IP: {"ip", "found"},
    _INT: {"int"},
    _BOOL: set(),
}
_INT_OPERATORS = ("eq", "ne", "ge", "gt", "le", "lt")


@dataclass(frozen=True)
class _Criterion:
    fetch: str  # the base sample fetch stored in the model
    method: MatchMethod  # the match method when there is no -m
    kind: str  # what the patterns are: strings, networks, integers or nothing
    needs_arg: bool = False  # hdr(NAME), nbsrv(BACKEND)


def _string(fetch: str, method: MatchMethod, needs_arg: bool = False) -> _Criterion:
    return _Criterion(fetch, method, _STRING, needs_arg)


M = MatchMethod
CRITERIA: dict[str, _Criterion] = {
    "path": _string("path", M.STR),
    "path_beg": _string("path", M.BEG),
    "path_dir": _string("path", M.DIR),
    "path_end": _string("path", M.END),
    "path_reg": _string("path", M.REG),
    "path_sub": _string("path", M.SUB),
    "url": _string("url", M.STR),
    "url_beg": _string("url", M.BEG),
    "url_reg": _string("url", M.REG),
    "url_sub": _string("url", M.SUB),
    "hdr": _string("hdr", M.STR, needs_arg=True),
    "req.hdr": _string("hdr", M.STR, needs_arg=True),
    "hdr_beg": _string("hdr", M.BEG, needs_arg=True),
    "hdr_end": _string("hdr", M.END, needs_arg=True),
    "hdr_sub": _string("hdr", M.SUB, needs_arg=True),
    "hdr_reg": _string("hdr", M.REG, needs_arg=True),
    "hdr_dom": _string("hdr", M.DOM, needs_arg=True),
    "method": _string("method", M.STR),
    "req.ver": _string("req.ver", M.STR),
    "src": _Criterion("src", M.IP, _IP),
    "nbsrv": _Criterion("nbsrv", M.INT, _INT, needs_arg=True),
    "ssl_fc": _Criterion("ssl_fc", M.BOOL, _BOOL),
    "always_true": _Criterion("always_true", M.BOOL, _BOOL),
    "always_false": _Criterion("always_false", M.BOOL, _BOOL),
}

_CRITERION_RE = re.compile(r"([A-Za-z0-9_.]+)(?:\((.*)\))?")

# ACLs that HAProxy defines for every proxy (src/acl.c default_acl_list), in the subset of
# fetches stack evaluates.
PREDEFINED_ORIGIN_FILE = "<predefined>"


def _predefined(
    name: str, fetch: str, method: MatchMethod, patterns: tuple[object, ...]
) -> tuple[Acl, ...]:
    origin = Origin(PREDEFINED_ORIGIN_FILE, 0, "predefined", name)
    return (Acl(name, fetch, None, method, patterns, False, origin),)


def _methods(*names: str) -> tuple[object, ...]:
    return tuple(n.encode() for n in names)


PREDEFINED: dict[str, tuple[Acl, ...]] = {
    "TRUE": _predefined("TRUE", "always_true", M.BOOL, ()),
    "FALSE": _predefined("FALSE", "always_false", M.BOOL, ()),
    "HTTP": _predefined("HTTP", "always_true", M.BOOL, ()),  # stack is HTTP mode only
    "LOCALHOST": _predefined(
        "LOCALHOST",
        "src",
        M.IP,
        (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128")),
    ),
    "HTTP_1.0": _predefined("HTTP_1.0", "req.ver", M.STR, (b"1.0",)),
    "HTTP_1.1": _predefined("HTTP_1.1", "req.ver", M.STR, (b"1.1",)),
    "HTTP_URL_ABS": _predefined("HTTP_URL_ABS", "url", M.REG, (re.compile(rb"^[^/:]*://"),)),
    "HTTP_URL_SLASH": _predefined("HTTP_URL_SLASH", "url", M.BEG, (b"/",)),
    "HTTP_URL_STAR": _predefined("HTTP_URL_STAR", "url", M.STR, (b"*",)),
    "METH_CONNECT": _predefined("METH_CONNECT", "method", M.STR, _methods("CONNECT")),
    "METH_DELETE": _predefined("METH_DELETE", "method", M.STR, _methods("DELETE")),
    "METH_GET": _predefined("METH_GET", "method", M.STR, _methods("GET", "HEAD")),
    "METH_HEAD": _predefined("METH_HEAD", "method", M.STR, _methods("HEAD")),
    "METH_OPTIONS": _predefined("METH_OPTIONS", "method", M.STR, _methods("OPTIONS")),
    "METH_POST": _predefined("METH_POST", "method", M.STR, _methods("POST")),
    "METH_PUT": _predefined("METH_PUT", "method", M.STR, _methods("PUT")),
    "METH_TRACE": _predefined("METH_TRACE", "method", M.STR, _methods("TRACE")),
}


def check_name(name: str, what: str) -> None:
    """Reject names HAProxy would reject, so a config moves between the two unchanged."""
    if not name:
        raise Invalid(f"{what} name is empty")
    if NAME_RE.fullmatch(name) is None:
        bad = next(c for c in name if NAME_RE.fullmatch(c) is None)
        raise Invalid(
            f"character {bad!r} is not permitted in {what} name {name!r} "
            "(use letters, digits, '-', '_', '.' and ':')"
        )


def suggest(word: str, choices: list[str]) -> str:
    """A "; did you mean 'X'?" tail for a message, or nothing when no choice is close."""
    close = difflib.get_close_matches(word, choices, n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


def parse_acl(name: str, words: list[str], origin: Origin) -> Acl:
    """One ACL line: ``words`` is ``CRITERION [flags] PATTERN...``."""
    if not words:
        raise Invalid("an ACL needs a criterion such as 'path_beg /static'")
    criterion_text, rest = words[0], words[1:]
    match = _CRITERION_RE.fullmatch(criterion_text)
    keyword = match.group(1) if match else criterion_text
    criterion = CRITERIA.get(keyword)
    if match is None or criterion is None:
        raise Invalid(f"unknown ACL criterion {keyword!r}" + suggest(keyword, sorted(CRITERIA)))
    arg = match.group(2)
    fetch_arg: str | None = None
    if criterion.needs_arg:
        if not arg:
            example = "hdr(host)" if criterion.fetch == "hdr" else "nbsrv(app1)"
            raise Invalid(f"{keyword!r} needs an argument in parentheses, as in {example!r}")
        if "," in arg:
            raise Invalid(f"{criterion_text!r}: only one argument is supported")
        fetch_arg = arg.lower() if criterion.fetch == "hdr" else arg
    elif arg is not None:
        raise Invalid(f"{keyword!r} takes no argument in parentheses")

    ignore_case = False
    method = criterion.method
    while rest and rest[0].startswith("-"):
        flag = rest.pop(0)
        if flag == "--":
            break
        if flag == "-i":
            ignore_case = True
        elif flag == "-m":
            if not rest:
                raise Invalid("'-m' needs a match method (str, beg, end, sub, dir, dom, reg ...)")
            method_name = rest.pop(0)
            if method_name not in _METHODS_BY_KIND[criterion.kind]:
                allowed = sorted(_METHODS_BY_KIND[criterion.kind])
                if not allowed:
                    raise Invalid(f"{keyword!r} takes no '-m' match method")
                raise Invalid(
                    f"'-m {method_name}' cannot be used with {keyword!r} "
                    f"(use one of: {', '.join(allowed)})"
                )
            method = MatchMethod(method_name)
        elif flag == "-f":
            raise Invalid("'-f' (patterns from a file) is not supported yet")
        else:
            raise Invalid(
                f"unknown ACL flag {flag!r} (stack knows -i, -m and --; write '--' before a "
                "pattern that starts with '-')"
            )
    patterns = _patterns(keyword, criterion, method, rest, ignore_case)
    return Acl(name, criterion.fetch, fetch_arg, method, patterns, ignore_case, origin)


def _patterns(
    keyword: str,
    criterion: _Criterion,
    method: MatchMethod,
    words: list[str],
    ignore_case: bool,
) -> tuple[object, ...]:
    if method in (M.BOOL, M.FOUND):
        if words:
            raise Invalid(f"{keyword!r} takes no pattern, but got {join_words(words)!r}")
        return ()
    if not words:
        raise Invalid(f"{keyword!r} needs at least one pattern")
    if method is M.IP:
        return tuple(_network(w) for w in words)
    if method is M.INT:
        return _int_patterns(words)
    if method is M.REG:
        flags = re.IGNORECASE if ignore_case else 0
        compiled = []
        for w in words:
            try:
                compiled.append(re.compile(w.encode(), flags))
            except re.error as exc:
                raise Invalid(f"invalid regular expression {w!r}: {exc}") from None
        return tuple(compiled)
    return tuple(w.encode().lower() if ignore_case else w.encode() for w in words)


def _network(word: str) -> object:
    try:
        return ipaddress.ip_network(word, strict=False)
    except ValueError:
        raise Invalid(f"{word!r} is not an IP address or network (such as 10.0.0.0/8)") from None


def _int_patterns(words: list[str]) -> tuple[object, ...]:
    patterns: list[object] = []
    op = "eq"
    pending = False
    for word in words:
        if word in _INT_OPERATORS:
            if pending:
                raise Invalid(f"operator {op!r} is not followed by a number")
            op, pending = word, True
            continue
        if ":" in word:
            raise Invalid(f"integer ranges such as {word!r} are not supported yet; use 'ge'/'le'")
        try:
            value = int(word)
        except ValueError:
            raise Invalid(
                f"{word!r} is not an integer (write 'ge 1', 'lt 2', 'eq 3' or a bare number)"
            ) from None
        patterns.append(IntPattern(op, value))
        op, pending = "eq", False
    if pending:
        raise Invalid(f"operator {op!r} is not followed by a number")
    return tuple(patterns)


AclLookup = Callable[[str], "tuple[Acl, ...] | None"]


def split_condition(words: list[str], first: int = 0) -> tuple[list[str], list[str] | None]:
    """Split ``words`` at the first ``if``/``unless`` found from index ``first``."""
    for i in range(first, len(words)):
        if words[i] in ("if", "unless"):
            return words[:i], words[i:]
    return words, None


def parse_condition(words: list[str], lookup: AclLookup, origin: Origin) -> Condition:
    """``if|unless TERMS``: the named ACLs are resolved through ``lookup``."""
    keyword, rest = words[0], words[1:]
    if keyword not in ("if", "unless"):
        raise Invalid(f"expected 'if' or 'unless' before the condition, not {keyword!r}")
    if not rest:
        raise Invalid(f"{keyword!r} is not followed by a condition")
    groups: list[tuple[Term, ...]] = []
    current: list[Term] = []
    unknown: list[str] = []
    i = 0
    while i < len(rest):
        word = rest[i]
        i += 1
        if word in ("||",) or word.lower() == "or":
            if not current:
                raise Invalid(f"{word!r} must separate two groups of ACLs")
            groups.append(tuple(current))
            current = []
            continue
        if word == "&&":
            raise Invalid("'&&' is not HAProxy syntax: terms separated by spaces are ANDed")
        negate = False
        if word.startswith("!"):
            negate = True
            word = word[1:]
            if not word:
                if i >= len(rest):
                    raise Invalid("'!' must be followed by an ACL")
                word = rest[i]
                i += 1
            if word.startswith("!") or word in ("||", "or"):
                raise Invalid("'!' must be followed by an ACL")
        if word == "{":
            try:
                end = rest.index("}", i)
            except ValueError:
                raise Invalid("'{' opens an anonymous ACL that no '}' closes") from None
            inner = rest[i:end]
            if not inner:
                raise Invalid("'{ }' is empty: write '{ CRITERION PATTERN... }'")
            if "{" in inner:
                raise Invalid("anonymous ACLs cannot be nested")
            i = end + 1
            acl = parse_acl("{ " + join_words(inner) + " }", inner, origin)
            current.append(Term((acl,), negate))
            continue
        if word == "}":
            raise Invalid("'}' closes no anonymous ACL")
        acls = lookup(word)
        if acls is None:
            unknown.append(word)
            continue
        current.append(Term(acls, negate))
    if unknown:
        if len(unknown) == 1:
            raise Invalid(f"ACL {unknown[0]!r} is not defined in this section (nor predefined)")
        names = ", ".join(repr(u) for u in unknown)
        raise Invalid(f"ACLs {names} are not defined in this section (nor predefined)")
    if not current:
        raise Invalid("the condition ends with 'or'/'||'")
    groups.append(tuple(current))
    return Condition(tuple(groups), keyword == "unless", join_words(words))


def condition_acls(condition: Condition) -> list[Acl]:
    """Every ACL a condition uses (named and anonymous), for the loader's cross-checks."""
    return [acl for group in condition.groups for term in group for acl in term.acls]
