"""``http-request`` / ``http-response`` header actions and ``option forwardfor``.

Rules are compiled once into closures; on the request path they only evaluate conditions and
join the pre-split ``%[...]`` formats.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from typing import Protocol

from stack.balancer.acl import AclContext, compile_condition
from stack.config.model import ForwardFor, HeaderRule, LogFormat
from stack.http.message import Headers


class SampleContext(AclContext, Protocol):
    """What ``%[fetch]`` expressions read besides the ACL facts."""

    src_port: int
    dst: str
    dst_port: int


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


def compile_rule(rule: HeaderRule) -> HeaderAction:
    name = rule.name
    value = compile_format(rule.value) if rule.value is not None else None
    condition = compile_condition(rule.condition) if rule.condition is not None else None

    if rule.action == "del-header":

        def act(headers: Headers, ctx: SampleContext) -> None:
            headers[:] = [h for h in headers if h[0] != name]

    elif rule.action == "set-header":
        assert value is not None

        def act(headers: Headers, ctx: SampleContext) -> None:
            new = value(ctx)
            headers[:] = [h for h in headers if h[0] != name]
            headers.append((name, new))

    elif rule.action == "add-header":
        assert value is not None

        def act(headers: Headers, ctx: SampleContext) -> None:
            headers.append((name, value(ctx)))

    elif rule.action == "replace-header":
        assert value is not None
        regex = rule.regex
        assert isinstance(regex, re.Pattern)

        def act(headers: Headers, ctx: SampleContext) -> None:
            template = value(ctx)
            for i, (key, old) in enumerate(headers):
                if key == name:
                    match = regex.fullmatch(old)
                    if match is not None:
                        headers[i] = (key, match.expand(template))

    else:
        raise ValueError(f"unsupported action {rule.action!r}")

    if condition is None:
        return act

    def guarded(headers: Headers, ctx: SampleContext) -> None:
        if condition(ctx):
            act(headers, ctx)

    return guarded


def compile_rules(rules: tuple[HeaderRule, ...]) -> tuple[HeaderAction, ...]:
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
