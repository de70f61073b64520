"""ACL and condition evaluation with HAProxy 2.6 semantics, compiled once into closures.

``compile_acl`` turns one :class:`~stack.config.model.Acl` into ``f(ctx) -> bool``;
``compile_condition`` composes those for ``if``/``unless``: named ACLs in a term are ORed, ``!``
negates a term, terms of a group are ANDed, groups are ORed, ``unless`` negates the whole, all
short-circuited (``acl_exec_cond``). An ACL whose fetch yields no sample (absent header) is
false, so ``!acl`` is then true.

Everything that can be decided at load time is: patterns are encoded to bytes, lowercased for
``-i``, regexes recompiled as bytes patterns, networks turned into integer masks, and the fetch
and match are fused into one closure, so a request pays a few attribute reads and comparisons.
Samples are the raw bytes of the request, as HAProxy matches them.

Behaviour checked against HAProxy 2.6.12 where the documentation is ambiguous or wrong:

* ``-m dir`` / ``-m dom`` match a pattern that starts after a delimiter (or at the start) and
  ends before one (or at the end); delimiters around the pattern are ignored. ``dir``'s
  delimiters are ``/`` and ``?``, ``dom``'s ``/ ? . :``. So ``path_dir png`` *does* match
  ``/images/png/logo/32x32.png`` (the doc's counter-example is wrong; ``32x32`` does not match).
* ``hdr(NAME)`` values are split at commas outside double quotes and trimmed of spaces/tabs;
  each value is a sample. ``hdr()`` with an empty name iterates every header; ``hdr_sub foo``
  with no argument at all fetches nothing in 2.6, so it never matches (kept: ``fetch_arg`` None).
* ``-m int`` on a string reads an optional sign and leading digits (``"7abc"`` is 7, ``"abc"``
  is 0, ``""`` is no sample). ``-m ip`` compares IPv4 samples with IPv6 networks through
  ``::ffff:a.b.c.d`` and IPv6 samples with IPv4 networks when they are v4-mapped,
  v4-compatible (``::a.b.c.d``, so ``::1`` is ``0.0.0.1``) or 6to4.
* One deviation: HAProxy compares known methods (``GET`` ...) case-sensitively even with
  ``-i``; here ``method -i`` is a plain case-insensitive comparison, because the loader hands us
  lowercased patterns and the original spelling is gone.
"""

from __future__ import annotations

import ipaddress
import operator
import re
import socket
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Protocol

from stack.balancer.samples import read_int64
from stack.config import model
from stack.http.message import Request

__all__ = ["AclContext", "AclFn", "compile_acl", "compile_condition"]


class AclContext(Protocol):
    """What ACL fetches read. Read-only members: plain attributes satisfy them."""

    @property
    def request(self) -> Request: ...

    @property
    def src(self) -> str:
        """Client address as text (``127.0.0.1``, ``::1``)."""
        ...

    @property
    def ssl(self) -> bool:
        """The front connection is TLS."""
        ...

    def nbsrv(self, backend: str) -> int:
        """Usable servers in ``backend``."""
        ...


AclFn = Callable[[AclContext], bool]
_Match = Callable[[bytes], bool]

_LWS = b" \t"
_DIR_DELIMS = b"/?"
_DOM_DELIMS = b"/?.:"
_INT_OPS: dict[str, Callable[[int, int], bool]] = {
    "eq": operator.eq,
    "ne": operator.ne,
    "ge": operator.ge,
    "gt": operator.gt,
    "le": operator.le,
    "lt": operator.lt,
}

# fetch keyword -> (canonical fetch, sample type); the ACL derivatives (path_beg, hdr_dom ...)
# only pick a match method, which the model already carries.
_STR, _IP, _INT, _BOOL = "str", "ip", "int", "bool"
_FETCHES: dict[str, tuple[str, str]] = {
    "path": ("path", _STR),
    "url": ("url", _STR),
    "method": ("method", _STR),
    "req.ver": ("req.ver", _STR),
    "hdr": ("hdr", _STR),
    "req.hdr": ("hdr", _STR),
    "req.fhdr": ("fhdr", _STR),
    "hdr_cnt": ("hdr_cnt", _INT),
    "req.hdr_cnt": ("hdr_cnt", _INT),
    "src": ("src", _IP),
    "nbsrv": ("nbsrv", _INT),
    "ssl_fc": ("ssl_fc", _BOOL),
    "always_true": ("always_true", _BOOL),
    "always_false": ("always_false", _BOOL),
    "TRUE": ("always_true", _BOOL),
    "FALSE": ("always_false", _BOOL),
}
_DERIVED_SUFFIXES = ("_beg", "_end", "_sub", "_dir", "_dom", "_reg", "_ip", "_val")


# --- composition ------------------------------------------------------------------------------


def compile_condition(cond: model.Condition) -> AclFn:
    """``if``/``unless`` condition -> ``f(ctx) -> bool``."""
    cache: dict[int, AclFn] = {}

    def acl_fn(acl: model.Acl) -> AclFn:
        fn = cache.get(id(acl))
        if fn is None:
            fn = cache[id(acl)] = compile_acl(acl)
        return fn

    groups = [_all([_term([acl_fn(a) for a in t.acls], t.negate) for t in g]) for g in cond.groups]
    fn = _any(groups)
    if cond.negate:
        inner = fn

        def fn(ctx: AclContext) -> bool:
            return not inner(ctx)

    return fn


def _term(fns: Sequence[AclFn], negate: bool) -> AclFn:
    fn = _any(fns)
    if not negate:
        return fn

    def neg(ctx: AclContext) -> bool:
        return not fn(ctx)

    return neg


def _any(fns: Sequence[AclFn]) -> AclFn:
    if len(fns) == 1:
        return fns[0]
    if not fns:
        return _false
    items = tuple(fns)

    def any_(ctx: AclContext) -> bool:
        for f in items:  # noqa: SIM110 - no generator per request
            if f(ctx):
                return True
        return False

    return any_


def _all(fns: Sequence[AclFn]) -> AclFn:
    if len(fns) == 1:
        return fns[0]
    if not fns:
        return _true
    items = tuple(fns)

    def all_(ctx: AclContext) -> bool:
        for f in items:  # noqa: SIM110 - no generator per request
            if not f(ctx):
                return False
        return True

    return all_


def _true(ctx: AclContext) -> bool:
    return True


def _false(ctx: AclContext) -> bool:
    return False


# --- one ACL ----------------------------------------------------------------------------------


def compile_acl(acl: model.Acl) -> AclFn:
    """One ``acl`` line (or anonymous ``{ ... }``) -> ``f(ctx) -> bool``.

    Raises ``ValueError`` for a fetch or method combination it cannot evaluate, so a bad
    configuration fails at load rather than on a request.
    """
    fetch, kind = _resolve_fetch(acl.fetch)
    method = acl.method
    arg = acl.fetch_arg

    if fetch == "always_true":
        return _true if method is not model.MatchMethod.INT else _const_int(acl, 1)
    if fetch == "always_false":
        if method in (model.MatchMethod.FOUND,):
            return _true
        return _false if method is not model.MatchMethod.INT else _const_int(acl, 0)
    if fetch == "ssl_fc":
        return _ssl_fc(acl)
    if fetch == "nbsrv":
        return _nbsrv(acl, arg or "")
    if fetch == "hdr_cnt":
        return _hdr_cnt(acl, arg)
    if fetch == "src":
        return _src(acl)
    if fetch in ("hdr", "fhdr"):
        return _headers(acl, arg, split=fetch == "hdr")

    match = _str_matcher(acl)
    if fetch == "path":

        def path_(ctx: AclContext) -> bool:
            return match(ctx.request.path)

        return path_
    if fetch == "url":

        def url_(ctx: AclContext) -> bool:
            return match(ctx.request.target)

        return url_
    if fetch == "method":

        def method_(ctx: AclContext) -> bool:
            return match(ctx.request.method)

        return method_
    if fetch == "req.ver":

        def ver_(ctx: AclContext) -> bool:
            return match(ctx.request.version)

        return ver_
    raise ValueError(f"{acl.origin}: fetch {acl.fetch!r} ({kind}) is not supported")


def _resolve_fetch(name: str) -> tuple[str, str]:
    found = _FETCHES.get(name)
    if found is not None:
        return found
    for suffix in _DERIVED_SUFFIXES:
        if name.endswith(suffix):
            found = _FETCHES.get(name[: -len(suffix)])
            if found is not None:
                return found
    raise ValueError(f"unsupported ACL fetch {name!r}")


# --- string samples ---------------------------------------------------------------------------


def _str_matcher(acl: model.Acl) -> _Match:
    """Match function over a bytes sample for any method (casting as HAProxy does)."""
    m = acl.method
    M = model.MatchMethod
    icase = acl.ignore_case
    if m is M.FOUND:
        return _found
    if m is M.BOOL:
        return _str_bool
    if m is M.INT:
        int_match = _int_matcher(acl.patterns)

        def str_int(s: bytes) -> bool:
            v = read_int64(s)
            return v is not None and int_match(v)

        return str_int
    if m is M.IP:
        ip_match = _ip_matcher(acl.patterns)

        def str_ip(s: bytes) -> bool:
            try:
                parsed = _parse_ip(s.decode("ascii"))
            except (UnicodeDecodeError, OSError, ValueError):
                return False
            return ip_match(parsed)

        return str_ip
    if m is M.REG:
        return _reg_matcher(acl.patterns, icase)
    pats = tuple(_pat_bytes(p, icase) for p in acl.patterns)
    base: _Match
    if m is M.STR:
        if len(pats) == 1:
            only = pats[0]

            def base(s: bytes) -> bool:
                return s == only

        else:
            pset = frozenset(pats)

            def base(s: bytes) -> bool:
                return s in pset

    elif m is M.BEG:

        def base(s: bytes) -> bool:
            return s.startswith(pats)

    elif m is M.END:

        def base(s: bytes) -> bool:
            return s.endswith(pats)

    elif m is M.SUB:

        def base(s: bytes) -> bool:
            for p in pats:  # noqa: SIM110 - no generator per request
                if p in s:
                    return True
            return False

    elif m is M.DIR:
        base = _word_matcher(pats, _DIR_DELIMS)
    elif m is M.DOM:
        base = _word_matcher(pats, _DOM_DELIMS)
    else:  # pragma: no cover - enum exhausted
        raise ValueError(f"{acl.origin}: unsupported match method {m!r}")
    if not icase:
        return base

    def lowered(s: bytes) -> bool:
        return base(s.lower())

    return lowered


def _pat_bytes(p: object, icase: bool) -> bytes:
    if isinstance(p, str):
        b = p.encode("utf-8")
    elif isinstance(p, bytes | bytearray):
        b = bytes(p)
    else:
        b = str(p).encode("utf-8")
    return b.lower() if icase else b


def _found(s: bytes) -> bool:
    return True


def _str_bool(s: bytes) -> bool:
    v = read_int64(s)
    return bool(v)


def _word_matcher(pats: Sequence[bytes], delims: bytes) -> _Match:
    """``match_word``: the pattern, stripped of delimiters, must sit between delimiters or the
    sample's ends. A pattern made only of delimiters never matches."""
    words = tuple(w for w in (p.strip(delims) for p in pats) if w)
    dset = frozenset(delims)

    def match(s: bytes) -> bool:
        n = len(s)
        for w in words:
            wl = len(w)
            i = s.find(w)
            while i >= 0:
                if (i == 0 or s[i - 1] in dset) and (i + wl == n or s[i + wl] in dset):
                    return True
                i = s.find(w, i + 1)
        return False

    return match


def _reg_matcher(pats: Sequence[object], icase: bool) -> _Match:
    """Unanchored search (``regex_exec2``), on bytes; ``-i`` adds IGNORECASE."""
    compiled: list[re.Pattern[bytes]] = []
    fallback: list[re.Pattern[str]] = []
    for p in pats:
        if isinstance(p, re.Pattern):
            src, flags = p.pattern, p.flags
        else:
            src, flags = p, 0
        if icase:
            flags |= re.IGNORECASE
        if isinstance(src, bytes):
            compiled.append(re.compile(src, flags & ~re.UNICODE))
            continue
        text = str(src)
        try:
            compiled.append(re.compile(text.encode("utf-8"), flags & ~re.UNICODE))
        except re.error:
            fallback.append(re.compile(text, flags))
    regs = tuple(compiled)
    if not fallback:
        if len(regs) == 1:
            search = regs[0].search

            def one(s: bytes) -> bool:
                return search(s) is not None

            return one

        def many(s: bytes) -> bool:
            for r in regs:  # noqa: SIM110 - no generator per request
                if r.search(s) is not None:
                    return True
            return False

        return many
    texts = tuple(fallback)

    def mixed(s: bytes) -> bool:
        for r in regs:
            if r.search(s) is not None:
                return True
        t = s.decode("utf-8", "surrogateescape")
        return any(tr.search(t) is not None for tr in texts)

    return mixed


# --- integers ---------------------------------------------------------------------------------


def _int_matcher(pats: Sequence[object]) -> Callable[[int], bool]:
    tests: list[tuple[Callable[[int, int], bool], int]] = []
    for p in pats:
        if isinstance(p, model.IntPattern):
            op = _INT_OPS.get(p.op)
            if op is None:
                raise ValueError(f"unknown integer operator {p.op!r}")
            tests.append((op, p.value))
        elif isinstance(p, int) and not isinstance(p, bool):
            tests.append((operator.eq, p))
        else:
            raise ValueError(f"integer pattern expected, got {p!r}")
    if len(tests) == 1:
        op0, val0 = tests[0]

        def one(v: int) -> bool:
            return op0(v, val0)

        return one
    items = tuple(tests)

    def many(v: int) -> bool:
        return any(op(v, val) for op, val in items)

    return many


def _int_sample_fn(acl: model.Acl, get: Callable[[AclContext], int]) -> AclFn:
    """An ACL over an integer fetch (nbsrv, hdr_cnt, constants)."""
    M = model.MatchMethod
    m = acl.method
    if m is M.FOUND:
        return _true
    if m is M.BOOL:

        def as_bool(ctx: AclContext) -> bool:
            return get(ctx) != 0

        return as_bool
    if m is M.INT:
        match = _int_matcher(acl.patterns)

        def as_int(ctx: AclContext) -> bool:
            return match(get(ctx))

        return as_int
    smatch = _str_matcher(acl)

    def as_str(ctx: AclContext) -> bool:
        return smatch(str(get(ctx)).encode())

    return as_str


def _nbsrv(acl: model.Acl, backend: str) -> AclFn:
    def get(ctx: AclContext) -> int:
        return ctx.nbsrv(backend)

    return _int_sample_fn(acl, get)


def _const_int(acl: model.Acl, value: int) -> AclFn:
    result = _int_matcher(acl.patterns)(value)
    return _true if result else _false


def _ssl_fc(acl: model.Acl) -> AclFn:
    def get(ctx: AclContext) -> int:
        return 1 if ctx.ssl else 0

    if acl.method is model.MatchMethod.BOOL:

        def ssl_(ctx: AclContext) -> bool:
            return bool(ctx.ssl)

        return ssl_
    return _int_sample_fn(acl, get)


# --- headers ----------------------------------------------------------------------------------


def _split_values(value: bytes) -> list[bytes]:
    """Comma-separated values outside double quotes (``http_find_hdr_value_end``), trimmed."""
    if b'"' not in value:
        return [v.strip(_LWS) for v in value.split(b",")]
    out: list[bytes] = []
    start = 0
    quoted = escaped = False
    for i, c in enumerate(value):
        if escaped:
            escaped = False
        elif quoted:
            if c == 0x5C:  # backslash
                escaped = True
            elif c == 0x22:
                quoted = False
        elif c == 0x22:
            quoted = True
        elif c == 0x2C:
            out.append(value[start:i].strip(_LWS))
            start = i + 1
    out.append(value[start:].strip(_LWS))
    return out


def _headers(acl: model.Acl, name: str | None, *, split: bool) -> AclFn:
    """``hdr(NAME)`` / ``req.hdr`` (values split at commas) and ``req.fhdr`` (whole lines).

    ``name`` ``None`` (no argument) fetches nothing, ``""`` means every header.
    """
    if name is None:
        return _false
    key = name.lower().encode("ascii")
    any_name = not key
    match = _str_matcher(acl)
    if acl.method is model.MatchMethod.FOUND:

        def found(ctx: AclContext) -> bool:
            if any_name:
                return bool(ctx.request.headers)
            return any(k == key for k, _v in ctx.request.headers)

        return found

    if not split:

        def full(ctx: AclContext) -> bool:
            for k, v in ctx.request.headers:
                if (any_name or k == key) and match(v.strip(_LWS)):
                    return True
            return False

        return full

    def values(ctx: AclContext) -> bool:
        for k, v in ctx.request.headers:
            if any_name or k == key:
                if b"," not in v:
                    if match(v.strip(_LWS)):
                        return True
                    continue
                for item in _split_values(v):
                    if match(item):
                        return True
        return False

    return values


def _hdr_cnt(acl: model.Acl, name: str | None) -> AclFn:
    key = (name or "").lower().encode("ascii")

    def get(ctx: AclContext) -> int:
        n = 0
        for k, v in ctx.request.headers:
            if not key or k == key:
                n += len(_split_values(v)) if b"," in v else 1
        return n

    return _int_sample_fn(acl, get)


# --- addresses --------------------------------------------------------------------------------

_IpSample = tuple[int, int]  # (4 or 6, address as int)


@lru_cache(maxsize=4096)
def _parse_ip(text: str) -> _IpSample:
    """Client addresses repeat: parse each once. Raises ``OSError``/``ValueError``."""
    if ":" in text:
        return 6, int.from_bytes(socket.inet_pton(socket.AF_INET6, text), "big")
    return 4, int.from_bytes(socket.inet_pton(socket.AF_INET, text), "big")


def _networks(
    pats: Sequence[object],
) -> tuple[tuple[tuple[int, int], ...], tuple[tuple[int, int], ...]]:
    v4: list[tuple[int, int]] = []
    v6: list[tuple[int, int]] = []
    for p in pats:
        if isinstance(p, ipaddress.IPv4Network | ipaddress.IPv6Network):
            net: ipaddress.IPv4Network | ipaddress.IPv6Network = p
        elif isinstance(p, str | ipaddress.IPv4Address | ipaddress.IPv6Address | int):
            net = ipaddress.ip_network(p, strict=False)
        elif isinstance(p, bytes):
            net = ipaddress.ip_network(p.decode("ascii"), strict=False)
        else:
            raise ValueError(f"network pattern expected, got {p!r}")
        entry = (int(net.network_address), int(net.netmask))
        (v4 if net.version == 4 else v6).append(entry)
    return tuple(v4), tuple(v6)


_V4MAPPED = 0xFFFF << 32


def _ip_matcher(pats: Sequence[object]) -> Callable[[_IpSample], bool]:
    """``pat_match_ip``: same-family lookup first, then the cross-family conversions."""
    v4, v6 = _networks(pats)

    def match(sample: _IpSample) -> bool:
        version, addr = sample
        if version == 4:
            for net, mask in v4:
                if addr & mask == net:
                    return True
            if v6:
                mapped = _V4MAPPED | addr
                for net, mask in v6:
                    if mapped & mask == net:
                        return True
            return False
        for net, mask in v6:
            if addr & mask == net:
                return True
        if not v4:
            return False
        high96 = addr >> 32
        if high96 == 0 or high96 == 0xFFFF:  # ::a.b.c.d or ::ffff:a.b.c.d
            a4 = addr & 0xFFFFFFFF
        elif addr >> 112 == 0x2002:  # 6to4: 2002:AABB:CCDD::
            a4 = (addr >> 80) & 0xFFFFFFFF
        else:
            return False
        for net, mask in v4:  # noqa: SIM110 - no generator per request
            if a4 & mask == net:
                return True
        return False

    return match


def _src(acl: model.Acl) -> AclFn:
    M = model.MatchMethod
    m = acl.method
    if m is M.FOUND or m is M.BOOL:
        return _true
    if m is M.IP:
        match = _ip_matcher(acl.patterns)

        def src_ip(ctx: AclContext) -> bool:
            try:
                sample = _parse_ip(ctx.src)
            except (OSError, ValueError):
                return False
            return match(sample)

        return src_ip
    smatch = _str_matcher(acl)

    def src_str(ctx: AclContext) -> bool:
        return smatch(ctx.src.encode("ascii", "replace"))

    return src_str
