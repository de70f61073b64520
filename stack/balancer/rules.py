"""``http-request`` / ``http-response`` actions on headers and on the request line, and
``option forwardfor``.

Rules are compiled once into closures; on the request path they only evaluate conditions, join
the pre-split ``%[...]`` formats and run the regexes the loader compiled.

HAProxy 2.6 semantics (src/http_act.c, src/http_htx.c, src/regex.c ``exp_replace``):

* ``replace-header NAME REGEX FMT``: for *every* occurrence of the header, the regex is searched
  (not anchored: write ``^``/``$``) in the whole value, case-sensitively; on a match the *whole
  value* becomes FMT with ``\\N`` references expanded. This is what rewrites ``Location`` and
  ``Set-Cookie`` (haproxy.md §1.9).
* ``replace-path REGEX FMT``: the same on the path only, from the first ``/`` to before ``?``;
  the query is kept as it was. ``replace-uri REGEX FMT``: on the whole URI as the start line
  holds it (origin-form here, since absolute-form requests were split by the parser); a result
  in absolute-form also replaces the value of every ``Host`` header with its authority.
  ``set-path FMT``: the path becomes FMT, the query is kept.
* FMT is rendered (``%[fetch]``) first, then expanded: ``\\0``-``\\9`` are the groups (a group
  that did not take part, or that the regex lacks, is empty), ``\\xHH`` a byte, ``\\`` before any
  other character that character. A FMT ending in a lone backslash is a failed rewrite: HAProxy
  counts it and, in its default strict mode, answers 500; here the value is left unchanged.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from typing import Protocol

from stack.balancer.acl import AclContext, compile_condition
from stack.config.model import ForwardFor, HeaderRule, LogFormat
from stack.http.message import Headers, Request


class SampleContext(AclContext, Protocol):
    """What ``%[fetch]`` expressions read besides the ACL facts."""

    src_port: int
    dst: str
    dst_port: int

    @property
    def tls(self) -> tuple[str, str] | None:
        """(protocol, cipher) of the client's TLS connection, ``None`` over plain HTTP."""


HeaderAction = Callable[[Headers, SampleContext], None]


def _fetch(name: str) -> Callable[[SampleContext], bytes]:
    if name == "src":
        return lambda ctx: ctx.src.encode()
    if name == "src_port":
        return lambda ctx: b"%d" % ctx.src_port
    if name == "dst":
        return lambda ctx: ctx.dst.encode()
    if name == "dst_port":
        return lambda ctx: b"%d" % ctx.dst_port
    if name == "ssl_fc":
        return lambda ctx: b"1" if ctx.ssl else b"0"
    if name in ("ssl_fc_protocol", "ssl_fc_cipher"):
        index = 0 if name == "ssl_fc_protocol" else 1

        def tls_fact(ctx: SampleContext) -> bytes:
            facts = ctx.tls
            return facts[index].encode() if facts is not None else b""

        return tls_fact
    if name == "path":
        return lambda ctx: ctx.request.path
    if name == "method":
        return lambda ctx: ctx.request.method
    if name.startswith("req.hdr(") and name.endswith(")"):
        header = name[8:-1].lower().encode()
        return lambda ctx: ctx.request.header(header) or b""
    raise ValueError(f"unsupported fetch {name!r}")  # the loader rejects these first


def compile_format(fmt: LogFormat) -> Callable[[SampleContext], bytes]:
    literal = fmt.literal
    if literal is not None:
        return lambda ctx: literal
    parts = [(p, None) if isinstance(p, bytes) else (b"", _fetch(p)) for p in fmt.parts]

    def evaluate(ctx: SampleContext) -> bytes:
        return b"".join(fetch(ctx) if fetch is not None else text for text, fetch in parts)

    return evaluate


# --- replacement strings (src/regex.c exp_replace) ------------------------------------------------

# A parsed replacement: literal bytes and group numbers, in order.
Replacement = tuple[bytes | int, ...]


def parse_replacement(template: bytes) -> Replacement | None:
    """Split ``template`` into literals and ``\\N`` group references as HAProxy's
    ``exp_replace`` reads it; ``None`` for a template HAProxy refuses (a trailing backslash, or
    ``\\x`` without two characters after it)."""
    pieces: list[bytes | int] = []
    literal = bytearray()
    i, end = 0, len(template)
    while i < end:
        c = template[i]
        i += 1
        if c != 0x5C:  # backslash
            literal.append(c)
            continue
        if i >= end:
            return None
        c = template[i]
        i += 1
        if 0x30 <= c <= 0x39:
            if literal:
                pieces.append(bytes(literal))
                literal.clear()
            pieces.append(c - 0x30)
        elif c == 0x78:  # \xHH, with HAProxy's unchecked hex arithmetic
            if i + 2 > end:
                return None
            literal.append(((_hex_nibble(template[i]) << 4) + _hex_nibble(template[i + 1])) & 0xFF)
            i += 2
        else:
            literal.append(c)
    if literal:
        pieces.append(bytes(literal))
    return tuple(pieces)


def _hex_nibble(c: int) -> int:
    if 0x61 <= c <= 0x7A:  # toupper() in the C locale
        c -= 0x20
    value = (c - 0x30) & 0xFF
    if value > 9:
        value = (value - 7) & 0xFF  # 'A' - '9' - 1
    return value


def expand(replacement: Replacement, match: re.Match[bytes]) -> bytes:
    """The replacement with ``match``'s groups substituted (missing groups are empty)."""
    out: list[bytes] = []
    groups = match.re.groups
    for piece in replacement:
        if isinstance(piece, bytes):
            out.append(piece)
        elif piece <= groups:
            out.append(match.group(piece) or b"")
    return b"".join(out)


def compile_replacement(fmt: LogFormat) -> Callable[[SampleContext], Replacement | None]:
    """A format whose rendering is then read as a replacement: parsed once when literal."""
    literal = fmt.literal
    if literal is not None:
        parsed = parse_replacement(literal)
        return lambda ctx: parsed
    render = compile_format(fmt)
    return lambda ctx: parse_replacement(render(ctx))


# --- request-line helpers -------------------------------------------------------------------------

_SCHEME_CHARS = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+-.")


def split_path(uri: bytes) -> tuple[bytes, bytes] | None:
    """``uri`` as (scheme and authority, path with query), as HAProxy's ``http_parse_path``
    finds the path; ``None`` when there is none (``*``, authority-form, empty, or an absolute
    URI that stops after its authority)."""
    if not uri or uri[0] == 0x2A:  # '*'
        return None
    if uri[0] == 0x2F:  # '/'
        return b"", uri
    colon = uri.find(b"://")
    if colon <= 0 or not uri[0:1].isalpha() or any(c not in _SCHEME_CHARS for c in uri[:colon]):
        return None  # authority-form
    slash = uri.find(b"/", colon + 3)
    if slash < 0:
        return None
    return uri[:slash], uri[slash:]


def _authority(uri: bytes) -> bytes | None:
    """The authority of an absolute-form ``uri`` (user info dropped), else ``None``."""
    if not uri or uri[0] in b"/*":
        return None
    colon = uri.find(b"://")
    if colon <= 0:
        return None
    rest = uri[colon + 3 :]
    for stop in (b"/", b"?", b"#"):
        at = rest.find(stop)
        if at >= 0:
            rest = rest[:at]
    return rest.rpartition(b"@")[2]


def set_path(request: Request, path: bytes) -> None:
    """HAProxy's ``http_replace_req_path`` without the query: the path part of the target
    becomes ``path``; what preceded it (an absolute URI's scheme and authority) and what
    followed it (``?`` and the query) stay."""
    target = request.target
    split = split_path(target)
    head, old = split if split is not None else (b"", target)
    q = old.find(b"?")
    request.set_target(head + path + (old[q:] if q >= 0 else b""))


# --- rules ----------------------------------------------------------------------------------------


def compile_rule(rule: HeaderRule) -> HeaderAction:
    name = rule.name
    condition = compile_condition(rule.condition) if rule.condition is not None else None
    act: HeaderAction

    if rule.action == "del-header":

        def act(headers: Headers, ctx: SampleContext) -> None:
            headers[:] = [h for h in headers if h[0] != name]

    elif rule.action == "set-header":
        assert rule.value is not None
        value = compile_format(rule.value)

        def act(headers: Headers, ctx: SampleContext) -> None:
            new = value(ctx)
            headers[:] = [h for h in headers if h[0] != name]
            headers.append((name, new))

    elif rule.action == "add-header":
        assert rule.value is not None
        value = compile_format(rule.value)

        def act(headers: Headers, ctx: SampleContext) -> None:
            headers.append((name, value(ctx)))

    elif rule.action == "replace-header":
        act = _replace_header(rule)
    elif rule.action == "set-path":
        assert rule.value is not None
        value = compile_format(rule.value)

        def act(headers: Headers, ctx: SampleContext) -> None:
            set_path(ctx.request, value(ctx))

    elif rule.action == "replace-path":
        act = _replace_path(rule)
    elif rule.action == "replace-uri":
        act = _replace_uri(rule)
    elif rule.action == "use-service":
        # the frontend answers with the service (prometheus-exporter) once the rules ran;
        # the first matching use-service wins, as it ends HAProxy's evaluation
        service = rule.name

        def act(headers: Headers, ctx: SampleContext) -> None:
            if getattr(ctx, "service", None) is None:
                ctx.service = service  # type: ignore[attr-defined]

    else:
        raise ValueError(f"unsupported action {rule.action!r}")

    if condition is None:
        return act

    def guarded(headers: Headers, ctx: SampleContext) -> None:
        if condition(ctx):
            act(headers, ctx)

    return guarded


def _regex_and_replacement(
    rule: HeaderRule,
) -> tuple[re.Pattern[bytes], Callable[[SampleContext], Replacement | None]]:
    regex = rule.regex
    assert isinstance(regex, re.Pattern) and isinstance(regex.pattern, bytes)
    assert rule.value is not None
    return regex, compile_replacement(rule.value)


def _replace_header(rule: HeaderRule) -> HeaderAction:
    name = rule.name
    regex, replacement = _regex_and_replacement(rule)

    def act(headers: Headers, ctx: SampleContext) -> None:
        parsed: Replacement | None = None
        rendered = False
        for i, (key, old) in enumerate(headers):
            if key != name:
                continue
            match = regex.search(old)
            if match is None:
                continue
            if not rendered:  # HAProxy renders the format once per rule
                parsed, rendered = replacement(ctx), True
            if parsed is None:
                return  # failed rewrite
            headers[i] = (key, expand(parsed, match))

    return act


def _replace_path(rule: HeaderRule) -> HeaderAction:
    regex, replacement = _regex_and_replacement(rule)

    def act(headers: Headers, ctx: SampleContext) -> None:
        request = ctx.request
        split = split_path(request.target)
        if split is None:
            return
        head, pathq = split
        q = pathq.find(b"?")
        path = pathq if q < 0 else pathq[:q]
        if not path:
            return
        match = regex.search(path)
        if match is None:
            return
        parsed = replacement(ctx)
        if parsed is None:
            return
        request.set_target(head + expand(parsed, match) + (pathq[q:] if q >= 0 else b""))

    return act


def _replace_uri(rule: HeaderRule) -> HeaderAction:
    regex, replacement = _regex_and_replacement(rule)

    def act(headers: Headers, ctx: SampleContext) -> None:
        request = ctx.request
        uri = request.target
        if not uri:
            return
        match = regex.search(uri)
        if match is None:
            return
        parsed = replacement(ctx)
        if parsed is None:
            return
        new = expand(parsed, match)
        authority = _authority(new)
        if authority is not None:
            if not authority:
                return  # HAProxy fails the rewrite: an absolute URI needs an authority
            for i, (key, _) in enumerate(headers):
                if key == b"host":
                    headers[i] = (key, authority)
        request.set_target(new)

    return act


def compile_rules(rules: tuple[HeaderRule, ...]) -> tuple[HeaderAction, ...]:
    """Each rule as ``rule(headers, ctx) -> None``: header actions change ``headers`` (the
    list that will be sent), request-line actions change ``ctx.request`` through
    ``Request.set_target``."""
    return tuple(compile_rule(r) for r in rules)


def forwardfor_action(
    frontend: ForwardFor | None, backend: ForwardFor | None
) -> HeaderAction | None:
    """``option forwardfor`` for a frontend/backend pair: either side enables it, the backend's
    header name wins, ``if-none`` applies only if both sides say it (haproxy.md §1.5)."""
    if frontend is None and backend is None:
        return None
    primary = backend or frontend
    assert primary is not None
    name = primary.header
    if_none = (frontend is None or frontend.if_none) and (backend is None or backend.if_none)
    excepts = [f.except_net for f in (frontend, backend) if f is not None and f.except_net]

    def act(headers: Headers, ctx: SampleContext) -> None:
        if excepts:
            addr = ipaddress.ip_address(ctx.src)
            if any(addr in net for net in excepts):  # type: ignore[operator]
                return
        if if_none and any(h[0] == name for h in headers):
            return
        headers.append((name, ctx.src.encode()))

    return act
