"""Parsers for directive values: each takes HAProxy words and returns a model object.

They raise :class:`~stack.config.errors.Invalid` with a message for the operator and know
nothing about files or sections, which keeps them small and easy to test one by one.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable

from .conditions import split_condition, suggest
from .errors import Invalid
from .model import (
    SYSLOG_FACILITIES,
    SYSLOG_LEVELS,
    Algorithm,
    Balance,
    Condition,
    Endpoint,
    ForwardFor,
    HeaderRule,
    LogFormat,
    LogTarget,
    Origin,
    Server,
)
from .words import join_words

# --- numbers and switches ------------------------------------------------------------------------

INT_MAX = 2_147_483_647  # HAProxy stores these in C ints
_TRUE = {"on", "yes", "true", "1"}
_FALSE = {"off", "no", "false", "0"}


def parse_int(text: str, what: str, low: int = 0, high: int = INT_MAX) -> int:
    """A whole number in ``[low, high]`` (HAProxy's atol() would accept garbage; stack won't)."""
    if not re.fullmatch(r"-?\d+", text):
        raise Invalid(f"{what} must be a whole number, not {text!r}")
    value = int(text)
    if not low <= value <= high:
        raise Invalid(f"{what} must be between {low} and {high}, not {value}")
    return value


def parse_switch(value: str | None) -> bool:
    """``on``/``off`` for options; a bare ``option redispatch`` line (no ``=``) is on."""
    if value is None:
        return True
    lowered = value.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    if not value:
        raise Invalid("empty value: write 'on' or 'off'")
    raise Invalid(f"expected on or off (or yes/no, true/false, 1/0), not {value!r}")


# --- addresses -----------------------------------------------------------------------------------

_HOSTNAME = re.compile(
    r"(?=.{1,253}\Z)[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?"
    r"(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)*\.?"
)
WILDCARDS = frozenset({"", "0.0.0.0", "::"})


def _host(text: str, *, wildcard: bool) -> str:
    if text in ("", "*"):
        if not wildcard:
            raise Invalid("a host is required here ('*' and an empty host only make sense to bind)")
        return ""
    if ":" in text:
        try:
            return ipaddress.IPv6Address(text).compressed
        except ValueError:
            raise Invalid(f"{text!r} is not an IPv6 address") from None
    if re.fullmatch(r"[\d.]+", text):
        try:
            return str(ipaddress.IPv4Address(text))
        except ValueError:
            raise Invalid(f"{text!r} is not an IPv4 address") from None
    if _HOSTNAME.fullmatch(text) is None:
        raise Invalid(f"{text!r} is not an IP address or a host name")
    return text


def _port(text: str, address: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise Invalid(f"invalid port {text!r} in {address!r} (use 1 to 65535)")
    return int(text)


def parse_endpoint(
    text: str, *, wildcard: bool = False, default_port: int | None = None
) -> Endpoint:
    """``host:port``, ``[v6]:port``, and for binds ``*:port`` / ``:port``.

    Host names are kept as written and not resolved: the runtime connects by name.
    """
    what = "address"
    if "@" in text:
        prefix = text.split("@", 1)[0]
        raise Invalid(f"address prefix '{prefix}@' is not supported (write host:port)")
    if text.startswith("["):
        close = text.find("]")
        if close < 0:
            raise Invalid(f"{text!r}: '[' opens an IPv6 address that no ']' closes")
        host_text, rest = text[1:close], text[close + 1 :]
        if ":" not in host_text:
            raise Invalid(f"{text!r}: brackets are for IPv6 addresses only")
        if rest and not rest.startswith(":"):
            raise Invalid(f"{text!r}: expected ':port' after ']'")
        port_text: str | None = rest[1:] if rest else None
    elif text.count(":") > 1:
        if default_port is None:
            raise Invalid(f"{text!r}: write an IPv6 {what} in brackets, as in [::1]:80")
        host_text, port_text = text, None
    elif ":" in text:
        host_text, port_text = text.split(":")
    else:
        if text.isdigit() and default_port is None:
            hint = f"*:{text} or 127.0.0.1:{text}" if wildcard else f"127.0.0.1:{text}"
            raise Invalid(f"{text!r} has no host: write {hint}")
        host_text, port_text = text, None
    host = _host(host_text, wildcard=wildcard)
    if port_text is None:
        if default_port is None:
            raise Invalid(f"{text!r} has no port (write host:port)")
        return Endpoint(host, default_port)
    return Endpoint(host, _port(port_text, text))


def parse_bind(words: list[str]) -> list[Endpoint]:
    """One ``bind`` line: comma-separated addresses; TLS and other options come later."""
    if not words:
        raise Invalid("bind needs an address such as 127.0.0.1:8080, *:80 or [::]:80")
    if len(words) > 1:
        raise Invalid(f"bind option {join_words(words[1:])!r} is not supported yet")
    endpoints = []
    for part in words[0].split(","):
        if not part:
            raise Invalid(f"empty address in {words[0]!r}")
        endpoints.append(parse_endpoint(part, wildcard=True))
    return endpoints


def overlaps(a: Endpoint, b: Endpoint) -> bool:
    """Whether two listening sockets would fight over the same port.

    A wildcard (``*``, ``0.0.0.0``, ``::``) takes the port on every address, so it clashes with
    any other bind on that port (Twisted listens dual-stack on ``::``).
    """
    if a.port != b.port:
        return False
    if a.host in WILDCARDS or b.host in WILDCARDS:
        return True
    return a.host.lower() == b.host.lower()


# --- log targets ---------------------------------------------------------------------------------

FACILITIES = SYSLOG_FACILITIES
LEVELS = SYSLOG_LEVELS


def parse_log_target(words: list[str], origin: Origin) -> LogTarget:
    """``stdout|stderr [FACILITY [LEVEL]]``, ``HOST[:PORT] FACILITY [LEVEL]`` (UDP syslog,
    port 514 by default) or ``/path/to/socket FACILITY [LEVEL]`` (unix datagram)."""
    if not words:
        raise Invalid("log needs a target: stdout, stderr, HOST:PORT or /path/to/socket")
    target, rest = words[0], words[1:]
    if rest and rest[0] in ("len", "format", "sample", "profile"):
        raise Invalid(f"log option {rest[0]!r} is not supported yet")
    stream = path = None
    address = None
    if target in ("stdout", "stderr"):
        stream = target
    elif target.startswith("/"):
        path = target
    else:
        address = parse_endpoint(target, default_port=514)
    if not rest and stream is None:
        raise Invalid(f"log target {target!r} needs a facility such as local0")
    facility = rest[0] if rest else "local0"
    if facility not in FACILITIES:
        raise Invalid(f"unknown syslog facility {facility!r}" + suggest(facility, list(FACILITIES)))
    level = rest[1] if len(rest) > 1 else "info"
    if level not in LEVELS:
        raise Invalid(f"unknown syslog level {level!r} (use one of: {', '.join(LEVELS)})")
    if len(rest) > 2:
        raise Invalid(f"unexpected {join_words(rest[2:])!r} (a minimum level is not supported)")
    return LogTarget(address, path, stream, facility, level, origin)


# --- balance and servers -------------------------------------------------------------------------

_UNSUPPORTED_ALGORITHMS = {"random", "url_param", "hdr", "rdp-cookie", "hash"}


def parse_balance(words: list[str]) -> Balance:
    """``balance ALGO``, and ``balance uri [whole] [len N] [depth N] [path-only]``."""
    if not words:
        raise Invalid("balance needs an algorithm such as roundrobin")
    name, rest = words[0], words[1:]
    known = [a.value for a in Algorithm]
    if name not in known:
        base = name.split("(", 1)[0]
        if base in _UNSUPPORTED_ALGORITHMS:
            raise Invalid(f"balance algorithm {name!r} is not supported (use {', '.join(known)})")
        raise Invalid(f"unknown balance algorithm {name!r}" + suggest(name, known))
    algorithm = Algorithm(name)
    if algorithm is not Algorithm.URI:
        if rest:
            raise Invalid(f"'balance {name}' takes no option, but got {join_words(rest)!r}")
        return Balance(algorithm)
    whole = path_only = False
    length = depth = 0
    while rest:
        option = rest.pop(0)
        if option == "whole":
            whole = True
        elif option == "path-only":
            path_only = True
        elif option in ("len", "depth"):
            if not rest:
                raise Invalid(f"'{option}' needs a number")
            number = parse_int(rest.pop(0), f"'balance uri {option}'", 1)
            if option == "len":
                length = number
            else:
                depth = number
        else:
            raise Invalid(
                f"unknown 'balance uri' option {option!r} (use whole, len N, depth N, path-only)"
            )
    return Balance(algorithm, whole, length, depth, path_only)


# Server keywords of HAProxy features that later issues bring (health checks, cookies, TLS):
# keyword -> number of arguments, so that every one of them can be named in one message.
_SERVER_NOT_YET = {
    "check": 0,
    "cookie": 1,
    "inter": 1,
    "fastinter": 1,
    "downinter": 1,
    "rise": 1,
    "fall": 1,
    "ssl": 0,
    "check-ssl": 0,
    "verify": 1,
    "sni": 1,
    "ca-file": 1,
    "crt": 1,
    "slowstart": 1,
    "agent-check": 0,
    "port": 1,
    "addr": 1,
    "observe": 1,
    "on-error": 1,
    "error-limit": 1,
    "track": 1,
    "redir": 1,
    "send-proxy": 0,
    "init-addr": 1,
    "resolvers": 1,
    "id": 1,
}
_SERVER_KEYWORDS = ["weight", "maxconn", "maxqueue", "backup", "disabled"]


def parse_server(name: str, words: list[str], origin: Origin) -> Server:
    """``ADDRESS [weight N] [maxconn N] [maxqueue N] [backup] [disabled]``."""
    if not words:
        raise Invalid("a server needs an address: server NAME = host:port [weight N] ...")
    if words[0] in _SERVER_NOT_YET or words[0] in _SERVER_KEYWORDS:
        raise Invalid(
            f"the address is missing: the value starts with the keyword {words[0]!r} "
            "(server NAME = host:port [weight N] ...)"
        )
    address = parse_endpoint(words[0])
    weight, maxconn, maxqueue = 1, 0, 0
    backup = disabled = False
    not_yet: list[str] = []
    rest = words[1:]
    while rest:
        keyword = rest.pop(0)
        if keyword in ("weight", "maxconn", "maxqueue"):
            if not rest:
                raise Invalid(f"server keyword '{keyword}' needs a number")
            number = rest.pop(0)
            if keyword == "weight":
                weight = parse_int(number, "weight", 0, 256)
            elif keyword == "maxconn":
                maxconn = parse_int(number, "maxconn")
            else:
                maxqueue = parse_int(number, "maxqueue")
        elif keyword == "backup":
            backup = True
        elif keyword == "disabled":
            disabled = True
        elif keyword in _SERVER_NOT_YET:
            not_yet.append(keyword)
            del rest[: _SERVER_NOT_YET[keyword]]
        else:
            raise Invalid(
                f"unknown server keyword {keyword!r}" + suggest(keyword, _SERVER_KEYWORDS)
            )
    if not_yet:
        names = ", ".join(repr(k) for k in not_yet)
        if len(not_yet) == 1:
            raise Invalid(f"server keyword {names} is not supported yet")
        raise Invalid(f"server keywords {names} are not supported yet")
    return Server(name, address, weight, maxconn, maxqueue, backup, disabled, origin)


# --- option forwardfor ---------------------------------------------------------------------------

_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


def header_name(text: str) -> bytes:
    """A header name as the model stores it: lowercased bytes, checked to be an HTTP token."""
    if _TOKEN.fullmatch(text) is None:
        raise Invalid(f"{text!r} is not a valid header name")
    return text.lower().encode("ascii")


def parse_forwardfor(value: str | None, words: list[str]) -> ForwardFor | None:
    """``on``/``off``, or HAProxy's arguments ``[except NET] [header NAME] [if-none]``."""
    if value is None:
        return ForwardFor()
    if len(words) == 1 and words[0].lower() in _TRUE | _FALSE:
        return ForwardFor() if parse_switch(words[0]) else None
    if not words:
        raise Invalid("empty value: write 'on', 'off' or HAProxy's arguments (except, header)")
    header = b"x-forwarded-for"
    except_net: object | None = None
    if_none = False
    seen: set[str] = set()
    rest = list(words)
    while rest:
        word = rest.pop(0)
        if word in seen:
            raise Invalid(f"{word!r} is given twice")
        seen.add(word)
        if word == "except":
            if not rest:
                raise Invalid("'except' needs a network such as 127.0.0.1 or 10.0.0.0/8")
            net = rest.pop(0)
            try:
                except_net = ipaddress.ip_network(net, strict=False)
            except ValueError:
                raise Invalid(f"{net!r} is not an IP address or network") from None
        elif word == "header":
            if not rest:
                raise Invalid("'header' needs a header name")
            header = header_name(rest.pop(0))
        elif word == "if-none":
            if_none = True
        else:
            raise Invalid(f"unknown forwardfor argument {word!r} (use except, header, if-none)")
    return ForwardFor(header, except_net, if_none)


# --- log-format strings (%[fetch]) ---------------------------------------------------------------

LOGFORMAT_FETCHES = ("src", "src_port", "dst", "dst_port", "ssl_fc", "path", "method")
_HDR_ARG = re.compile(r"(?:req\.)?hdr\(([^()]+)\)")


def parse_logformat(text: str) -> LogFormat:
    """Split ``text`` into literal bytes and fetch names once, so no parsing is left to do
    per request. ``%%`` is a literal ``%``."""
    parts: list[bytes | str] = []
    literal: list[str] = []
    i = 0
    while i < len(text):
        c = text[i]
        if c != "%":
            literal.append(c)
            i += 1
            continue
        nxt = text[i + 1 : i + 2]
        if nxt == "%":
            literal.append("%")
            i += 2
            continue
        if nxt != "[":
            shown = text[i : i + 3] if nxt else "%"
            raise Invalid(
                f"{shown!r} in {text!r}: only %[fetch] expressions and %% are supported "
                "(write %% for a literal percent sign)"
            )
        end = text.find("]", i + 2)
        if end < 0:
            raise Invalid(f"'%[' in {text!r} is not closed by ']'")
        if literal:
            parts.append("".join(literal).encode())
            literal = []
        parts.append(_fetch(text[i + 2 : end]))
        i = end + 1
    if literal:
        parts.append("".join(literal).encode())
    return LogFormat(tuple(parts), text)


def _fetch(expression: str) -> str:
    base, converter = _split_converter(expression)
    match = _HDR_ARG.fullmatch(base)
    if base in LOGFORMAT_FETCHES:
        fetch = base
    elif match:
        if "," in match.group(1):
            raise Invalid(f"%[{expression}]: only one argument (the header name) is supported")
        fetch = f"req.hdr({header_name(match.group(1).strip()).decode()})"
    else:
        known = ", ".join([*LOGFORMAT_FETCHES, "req.hdr(NAME)", "hdr(NAME)"])
        raise Invalid(f"unknown fetch {base!r} in %[{expression}] (stack knows: {known})")
    if converter:
        raise Invalid(f"converters such as {converter!r} in %[{expression}] are not supported")
    return fetch


def _split_converter(expression: str) -> tuple[str, str]:
    """``fetch(args),conv1,conv2`` -> (``fetch(args)``, ``conv1,conv2``)."""
    depth = 0
    for i, c in enumerate(expression):
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
        elif c == "," and depth == 0:
            return expression[:i], expression[i + 1 :]
    return expression, ""


# --- http-request / http-response header rules ---------------------------------------------------

# action -> number of arguments before the optional condition
_HEADER_ACTIONS = {"set-header": 2, "add-header": 2, "del-header": 1, "replace-header": 3}
_ACTIONS_NOT_YET = {
    "allow",
    "auth",
    "capture",
    "deny",
    "early-hint",
    "normalize-uri",
    "redirect",
    "reject",
    "replace-path",
    "replace-pathq",
    "replace-uri",
    "replace-value",
    "return",
    "set-log-level",
    "set-method",
    "set-path",
    "set-pathq",
    "set-query",
    "set-status",
    "set-uri",
    "set-var",
    "tarpit",
    "track-sc0",
    "track-sc1",
    "track-sc2",
    "use-service",
    "wait-for-body",
}


def parse_header_rule(
    directive: str,
    words: list[str],
    condition: Callable[[list[str]], Condition],
    origin: Origin,
) -> HeaderRule:
    """One ``http-request``/``http-response`` line: a header action and its condition."""
    if not words:
        raise Invalid(f"{directive} needs an action such as 'set-header NAME VALUE'")
    action = words[0]
    if action not in _HEADER_ACTIONS:
        if action in _ACTIONS_NOT_YET:
            raise Invalid(f"{directive} action {action!r} is not supported yet")
        raise Invalid(
            f"unknown {directive} action {action!r}" + suggest(action, [*_HEADER_ACTIONS])
        )
    count = _HEADER_ACTIONS[action]
    args, cond_words = split_condition(words, 1 + count)
    args = args[1:]
    if len(args) < count:
        usage = {
            1: "NAME",
            2: "NAME VALUE",
            3: "NAME REGEX REPLACEMENT",
        }[count]
        raise Invalid(f"{action} needs {usage}")
    if len(args) > count:
        raise Invalid(
            f"{action}: unexpected {join_words(args[count:])!r} "
            "(quote a value that contains spaces, or escape them with '\\ ')"
        )
    name = header_name(args[0])
    value: LogFormat | None = None
    regex: object | None = None
    if action in ("set-header", "add-header"):
        value = parse_logformat(args[1])
    elif action == "replace-header":
        try:
            regex = re.compile(args[1].encode())
        except re.error as exc:
            raise Invalid(f"invalid regular expression {args[1]!r}: {exc}") from None
        value = parse_logformat(args[2])
    cond = condition(cond_words) if cond_words is not None else None
    return HeaderRule(action, name, value, regex, cond, origin)
