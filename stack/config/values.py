"""Parsers for directive values: each takes HAProxy words and returns a model object.

They raise :class:`~stack.config.errors.Invalid` with a message for the operator and know
nothing about files or sections, which keeps them small and easy to test one by one.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from .conditions import check_name, split_condition, suggest
from .durations import parse_duration, parse_seconds
from .errors import Invalid
from .model import (
    SYSLOG_FACILITIES,
    SYSLOG_LEVELS,
    Algorithm,
    Balance,
    Condition,
    CookieMode,
    CookiePersistence,
    Endpoint,
    ForwardFor,
    HeaderRule,
    HttpCheck,
    HttpCheckExpect,
    LogFormat,
    LogTarget,
    Origin,
    Redirect,
    Sample,
    Server,
    ServerTls,
    StickRule,
    StickTable,
    StickTableType,
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


# Server keywords of HAProxy features that later issues bring (agent checks, PROXY protocol,
# resolvers, finer TLS settings): keyword -> number of arguments, so that every one of them can
# be named in one message.
_SERVER_NOT_YET = {
    "agent-check": 0,
    "agent-port": 1,
    "agent-inter": 1,
    "addr": 1,
    "observe": 1,
    "on-error": 1,
    "on-marked-down": 1,
    "on-marked-up": 1,
    "error-limit": 1,
    "track": 1,
    "send-proxy": 0,
    "send-proxy-v2": 0,
    "check-send-proxy": 0,
    "init-addr": 1,
    "resolvers": 1,
    "id": 1,
    "minconn": 1,
    "non-stick": 0,
    "proto": 1,
    "verifyhost": 1,
    "check-sni": 1,
    "alpn": 1,
    "check-alpn": 1,
    "ciphers": 1,
    "crl-file": 1,
    "ssl-min-ver": 1,
    "ssl-max-ver": 1,
    "no-tls-tickets": 0,
}

# Keywords without argument: the settings they change (the no-* forms undo a default-server).
_SERVER_FLAGS: dict[str, dict[str, Any]] = {
    "backup": {"backup": True},
    "no-backup": {"backup": False},
    "disabled": {"disabled": True},
    "enabled": {"disabled": False},
    "check": {"check": True},
    "no-check": {"check": False},
    "check-ssl": {"check_ssl": True},
    "no-check-ssl": {"check_ssl": False},
    "ssl": {"ssl": True},
    "no-ssl": {"ssl": False},
}
# Keywords with one argument, and what the argument is (for "needs ..." messages).
_SERVER_ARGS = {
    "weight": "a number",
    "maxconn": "a number",
    "maxqueue": "a number",
    "cookie": "a value",
    "inter": "a duration",
    "fastinter": "a duration",
    "downinter": "a duration",
    "rise": "a number",
    "fall": "a number",
    "port": "a port number",
    "verify": "'none' or 'required'",
    "ca-file": "a file",
    "sni": "an expression such as str(www.example.com) or req.hdr(host)",
    "crt": "a file",
    "slowstart": "a duration",
    "redir": "a URL prefix such as http://image1.example.com",
}
_SERVER_KEYWORDS = [*_SERVER_ARGS, *_SERVER_FLAGS]
# RFC 6265 cookie-octet: visible ASCII except '"', ',', ';' and '\'.
_COOKIE_OCTETS = frozenset(chr(c) for c in range(0x21, 0x7F)) - frozenset('",;\\')
_SNI = re.compile(r"(str)\(([^()]*)\)|(?:req\.)?hdr\(\s*([Hh][Oo][Ss][Tt])\s*\)")


@dataclass(frozen=True, slots=True)
class ServerDefaults:
    """The server settings that ``default-server`` lines give the server lines after them.

    ``check_ssl`` ``None`` means "not written": the checks then use TLS when the server does and
    no check ``port`` is set (HAProxy's rule). ``verify`` ``None`` is HAProxy's default,
    ``required``.
    """

    weight: int = 1
    maxconn: int = 0
    maxqueue: int = 0
    backup: bool = False
    disabled: bool = False
    cookie: str | None = None
    check: bool = False
    inter: float = 2.0
    fastinter: float | None = None
    downinter: float | None = None
    rise: int = 2
    fall: int = 3
    check_port: int | None = None
    check_ssl: bool | None = None
    ssl: bool = False
    verify: bool | None = None
    ca_file: str | None = None
    sni: str | None = None
    crt: str | None = None
    slowstart: float = 0.0
    redir: str | None = None


def cookie_value(text: str, what: str) -> str:
    """A cookie value as RFC 6265 allows it (no space, quote, comma, semicolon, backslash)."""
    if not text:
        raise Invalid(f"{what} is empty")
    bad = next((c for c in text if c not in _COOKIE_OCTETS), None)
    if bad is not None:
        raise Invalid(f"character {bad!r} is not permitted in {what} {text!r}")
    return text


def _server_duration(keyword: str, text: str, *, positive: bool) -> float:
    try:
        seconds = parse_duration(text)
    except Invalid as exc:
        raise Invalid(f"server keyword '{keyword}': {exc}") from None
    if positive and seconds <= 0:
        raise Invalid(f"server keyword '{keyword}' must be greater than 0, not {text!r}")
    return seconds


def _sni(text: str) -> str:
    base, converter = _split_converter(text)
    if converter:
        raise Invalid(f"converters such as {converter!r} in sni {text!r} are not supported yet")
    match = _SNI.fullmatch(base)
    if match is None:
        raise Invalid(
            f"sni expression {text!r} is not supported (use str(NAME) for a fixed name or "
            "req.hdr(host) for the client's Host header)"
        )
    if match.group(1) and not match.group(2):
        raise Invalid("sni str() needs a host name, as in str(www.example.com)")
    return text


def _redir(text: str) -> str:
    if not re.match(r"https?://[^/]", text):
        raise Invalid(
            f"redir {text!r} is not an absolute http:// or https:// URL prefix (a relative one "
            "would send the client back to this server in a loop)"
        )
    if text.endswith("/"):
        raise Invalid(
            f"redir {text!r} ends with '/': the request's path, which starts with '/', is "
            "appended as is"
        )
    return text


def _server_argument(keyword: str, text: str) -> tuple[str, object]:
    """The setting one ``keyword VALUE`` pair gives (field name, value)."""
    if keyword in ("weight", "maxconn", "maxqueue"):
        return keyword, parse_int(text, keyword, 0, 256 if keyword == "weight" else INT_MAX)
    if keyword in ("rise", "fall"):
        return keyword, parse_int(text, keyword, 1)
    if keyword == "port":
        return "check_port", parse_int(text, "check port", 1, 65535)
    if keyword in ("inter", "fastinter", "downinter"):
        return keyword, _server_duration(keyword, text, positive=True)
    if keyword == "slowstart":
        return keyword, _server_duration(keyword, text, positive=False)
    if keyword == "cookie":
        return keyword, cookie_value(text, "server cookie")
    if keyword == "verify":
        if text not in ("none", "required"):
            raise Invalid(f"unknown verify method {text!r} (only 'none' and 'required')")
        return keyword, text == "required"
    if keyword in ("ca-file", "crt"):
        if not text:
            raise Invalid(f"server keyword '{keyword}' needs a file")
        return keyword.replace("-", "_"), text
    if keyword == "sni":
        return keyword, _sni(text)
    assert keyword == "redir"
    return keyword, _redir(text)


def _server_keywords(words: list[str], settings: ServerDefaults) -> ServerDefaults:
    """Apply ``words`` (server keywords and their arguments) on top of ``settings``."""
    changes: dict[str, Any] = {}
    not_yet: list[str] = []
    rest = list(words)
    while rest:
        keyword = rest.pop(0)
        if keyword in _SERVER_FLAGS:
            changes.update(_SERVER_FLAGS[keyword])
        elif keyword in _SERVER_ARGS:
            if not rest:
                raise Invalid(f"server keyword '{keyword}' needs {_SERVER_ARGS[keyword]}")
            field_name, value = _server_argument(keyword, rest.pop(0))
            changes[field_name] = value
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
    return replace(settings, **changes)


def parse_default_server(words: list[str], settings: ServerDefaults) -> ServerDefaults:
    """One ``default-server`` line: server keywords (no address) on top of ``settings``."""
    if words and words[0] not in _SERVER_KEYWORDS and words[0] not in _SERVER_NOT_YET:
        if ":" in words[0] or re.fullmatch(r"[\d.]+", words[0]):
            raise Invalid(
                f"default-server takes no address ({words[0]!r}): write only server keywords "
                "such as 'check inter 10s'"
            )
    return _server_keywords(words, settings)


def parse_server(
    name: str, words: list[str], origin: Origin, defaults: ServerDefaults | None = None
) -> Server:
    """``ADDRESS [keyword...]`` on top of the section's ``default-server`` settings."""
    if not words:
        raise Invalid("a server needs an address: server NAME = host:port [weight N] ...")
    if words[0] in _SERVER_NOT_YET or words[0] in _SERVER_KEYWORDS:
        raise Invalid(
            f"the address is missing: the value starts with the keyword {words[0]!r} "
            "(server NAME = host:port [weight N] ...)"
        )
    address = parse_endpoint(words[0])
    s = _server_keywords(words[1:], defaults or ServerDefaults())
    # HAProxy: the checks use the server's transport unless they go to another port
    check_ssl = s.check_ssl if s.check_ssl is not None else s.ssl and s.check_port is None
    if check_ssl and not s.ssl:
        raise Invalid(
            "'check-ssl' on a server without 'ssl' is not supported yet (stack's TLS checks "
            "use the server's TLS settings: add 'ssl')"
        )
    tls = None
    if s.ssl:
        if s.verify is not False and s.ca_file is None:
            start = "verify is enabled" + (" by default" if s.verify is None else "")
            raise Invalid(
                f"{start} but no CA file specified: add 'ca-file FILE' ('ca-file @system-ca' "
                "for the system's CAs), or 'verify none' if you are certain to trust the "
                "server's certificate (HAProxy 2.6 refuses this too)"
            )
        tls = ServerTls(s.verify is not False, s.ca_file, s.sni, s.crt)
    return Server(
        name,
        address,
        weight=s.weight,
        maxconn=s.maxconn,
        maxqueue=s.maxqueue,
        backup=s.backup,
        disabled=s.disabled,
        origin=origin,
        cookie=s.cookie,
        check=s.check,
        inter=s.inter,
        fastinter=s.fastinter,
        downinter=s.downinter,
        rise=s.rise,
        fall=s.fall,
        check_port=s.check_port,
        check_ssl=check_ssl,
        tls=tls,
        slowstart=s.slowstart,
        redir=s.redir,
    )


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

LOGFORMAT_FETCHES = (
    *("src", "src_port", "dst", "dst_port"),
    *("ssl_fc", "ssl_fc_protocol", "ssl_fc_cipher", "path", "method"),
)
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
# http-request only: they rewrite the request line (the rule's name is then empty)
_REQUEST_LINE_ACTIONS = {"set-path": 1, "replace-path": 2, "replace-uri": 2}
_USAGE = {
    "set-header": "NAME VALUE",
    "add-header": "NAME VALUE",
    "del-header": "NAME",
    "replace-header": "NAME REGEX REPLACEMENT",
    "set-path": "FORMAT",
    "replace-path": "REGEX REPLACEMENT",
    "replace-uri": "REGEX REPLACEMENT",
}
_ACTIONS_NOT_YET = {
    "allow",
    "auth",
    "capture",
    "deny",
    "early-hint",
    "normalize-uri",
    "redirect",
    "reject",
    "replace-pathq",
    "replace-value",
    "return",
    "set-log-level",
    "set-method",
    "set-pathq",
    "set-query",
    "set-status",
    "set-uri",
    "set-var",
    "tarpit",
    "track-sc0",
    "track-sc1",
    "track-sc2",
    "wait-for-body",
}
# http-request use-service NAME: the services stack has (HAProxy 2.6 registers these names)
SERVICES = ("prometheus-exporter",)


def _regex(text: str) -> re.Pattern[bytes]:
    try:
        return re.compile(text.encode())
    except re.error as exc:
        raise Invalid(f"invalid regular expression {text!r}: {exc}") from None


def parse_header_rule(
    directive: str,
    words: list[str],
    condition: Callable[[list[str]], Condition],
    origin: Origin,
) -> HeaderRule:
    """One ``http-request``/``http-response`` line: a header or request-line action and its
    condition."""
    if not words:
        raise Invalid(f"{directive} needs an action such as 'set-header NAME VALUE'")
    action = words[0]
    if action == "use-service" and directive == "http-request":
        return _use_service(words, condition, origin)
    actions = dict(_HEADER_ACTIONS)
    if directive == "http-request":
        actions.update(_REQUEST_LINE_ACTIONS)
    if action not in actions:
        if action in _REQUEST_LINE_ACTIONS:
            raise Invalid(
                f"{action!r} is an http-request action (it rewrites the request line); "
                f"HAProxy has no '{directive} {action}'"
            )
        if action in _ACTIONS_NOT_YET:
            raise Invalid(f"{directive} action {action!r} is not supported yet")
        raise Invalid(f"unknown {directive} action {action!r}" + suggest(action, [*actions]))
    count = actions[action]
    args, cond_words = split_condition(words, 1 + count)
    args = args[1:]
    if len(args) < count:
        raise Invalid(f"{action} needs {_USAGE[action]}")
    if len(args) > count:
        raise Invalid(
            f"{action}: unexpected {join_words(args[count:])!r} "
            "(quote a value that contains spaces, or escape them with '\\ ')"
        )
    name = b"" if action in _REQUEST_LINE_ACTIONS else header_name(args[0])
    value: LogFormat | None = None
    regex: object | None = None
    if action in ("set-header", "add-header"):
        value = parse_logformat(args[1])
    elif action == "replace-header":
        regex = _regex(args[1])
        value = parse_logformat(args[2])
    elif action == "set-path":
        if not args[0]:
            raise Invalid("set-path needs a non-empty path")
        value = parse_logformat(args[0])
    elif action in ("replace-path", "replace-uri"):
        regex = _regex(args[0])
        value = parse_logformat(args[1])
    cond = condition(cond_words) if cond_words is not None else None
    return HeaderRule(action, name, value, regex, cond, origin)


def _use_service(
    words: list[str], condition: Callable[[list[str]], Condition], origin: Origin
) -> HeaderRule:
    """``http-request use-service NAME [if|unless COND]``: the request is answered by a
    service of stack's own (the rule's ``name`` is the service's)."""
    args, cond_words = split_condition(words, 2)
    if len(args) < 2:
        raise Invalid(f"use-service needs a service name ({', '.join(SERVICES)})")
    if len(args) > 2:
        raise Invalid(f"use-service: unexpected {join_words(args[2:])!r}")
    service = args[1]
    if service not in SERVICES:
        raise Invalid(
            f"unknown service {service!r} for use-service (stack has: {', '.join(SERVICES)})"
            + suggest(service, list(SERVICES))
        )
    cond = condition(cond_words) if cond_words is not None else None
    return HeaderRule("use-service", service.encode(), None, None, cond, origin)


# --- cookie persistence --------------------------------------------------------------------------

_COOKIE_MODES = {
    "rewrite": CookieMode.REWRITE,
    "insert": CookieMode.INSERT,
    "prefix": CookieMode.PREFIX,
}
_COOKIE_FLAGS = ("indirect", "nocache", "postonly", "preserve", "httponly", "secure")
_COOKIE_OPTIONS = [*_COOKIE_MODES, *_COOKIE_FLAGS, "domain", "maxidle", "maxlife", "attr"]
_DOMAIN = re.compile(r"[A-Za-z0-9_.-]+")


def parse_cookie(words: list[str], origin: Origin) -> CookiePersistence:
    """``NAME [rewrite|insert|prefix] [indirect] [nocache] [postonly] [preserve] [httponly]
    [secure] [domain D]* [maxidle T] [maxlife T] [attr V]*`` with HAProxy 2.6's checks."""
    if not words:
        raise Invalid("cookie needs a cookie name: cookie = NAME [insert|rewrite|prefix] ...")
    name, rest = words[0], words[1:]
    if name in _COOKIE_OPTIONS:
        raise Invalid(
            f"the cookie name is missing: the value starts with the option {name!r} "
            "(cookie = NAME insert indirect nocache ...)"
        )
    if _TOKEN.fullmatch(name) is None:
        raise Invalid(f"{name!r} is not a valid cookie name")
    modes: list[str] = []
    flags: set[str] = set()
    domains: list[str] = []
    attrs: list[str] = []
    times = {"maxidle": 0, "maxlife": 0}
    while rest:
        option = rest.pop(0)
        if option in _COOKIE_MODES:
            if option not in modes:
                modes.append(option)
        elif option in _COOKIE_FLAGS:
            flags.add(option)
        elif option in ("domain", "maxidle", "maxlife", "attr"):
            if not rest or not rest[0]:
                needs = {"domain": "a domain", "attr": "a value"}.get(option, "a duration")
                raise Invalid(f"cookie option '{option}' needs {needs}")
            arg = rest.pop(0)
            if option == "domain":
                bad = next((c for c in arg if _DOMAIN.fullmatch(c) is None), None)
                if bad is not None:
                    raise Invalid(f"character {bad!r} is not permitted in domain name {arg!r}")
                domains.append(arg)
            elif option == "attr":
                bad = next((c for c in arg if ord(c) < 0x20 or c in ";\x7f"), None)
                if bad is not None:
                    raise Invalid(f"character {bad!r} is not permitted in cookie attribute {arg!r}")
                attrs.append(arg)
            else:
                try:
                    times[option] = parse_seconds(arg)
                except Invalid as exc:
                    raise Invalid(f"cookie option '{option}': {exc}") from None
        elif option == "dynamic":
            raise Invalid("cookie option 'dynamic' is not supported yet")
        else:
            raise Invalid(
                f"unknown cookie option {option!r} (use {', '.join(_COOKIE_OPTIONS)})"
                + suggest(option, _COOKIE_OPTIONS)
            )
    # HAProxy 2.6's own checks (src/cfgparse-listen.c), with its wording
    if len(modes) > 1:
        raise Invalid("cookie 'rewrite', 'insert' and 'prefix' modes are incompatible")
    mode = _COOKIE_MODES[modes[0]] if modes else CookieMode.PASSIVE
    if mode is CookieMode.REWRITE and "indirect" in flags:
        raise Invalid("cookie 'rewrite' and 'indirect' modes are incompatible")
    if "preserve" in flags and mode is not CookieMode.INSERT and "indirect" not in flags:
        raise Invalid("cookie 'preserve' requires at least 'insert' or 'indirect'")
    for option, seconds in times.items():
        if seconds and mode is not CookieMode.INSERT:
            raise Invalid(
                f"cookie '{option}' only works with insert-mode cookies (HAProxy silently "
                "ignores it otherwise): add 'insert' or remove it"
            )
    return CookiePersistence(
        name=name,
        mode=mode,
        indirect="indirect" in flags,
        nocache="nocache" in flags,
        postonly="postonly" in flags,
        preserve="preserve" in flags,
        httponly="httponly" in flags,
        secure="secure" in flags,
        domains=tuple(domains),
        maxidle=times["maxidle"],
        maxlife=times["maxlife"],
        attrs=tuple(attrs),
        origin=origin,
    )


# --- health checks: option httpchk, http-check send / expect -------------------------------------

_CHECK_VERSIONS = ("HTTP/1.0", "HTTP/1.1")
_URI = re.compile(r"[^\x00-\x20\x7f]+")


def _check_header(name: str, value: str) -> tuple[bytes, bytes]:
    """One check request header: the name lowercased, the value with no %[fetch]."""
    if "%" in value:
        try:
            literal = parse_logformat(value).literal
        except Invalid as exc:
            raise Invalid(f"header {name!r}: {exc}") from None
        if literal is None:
            raise Invalid(f"header {name!r}: %[fetch] in check headers is not supported yet")
        encoded = literal
    else:
        encoded = value.encode()
    if any(c in value for c in "\r\n\x00"):
        raise Invalid(f"header {name!r}: the value contains a line break or NUL")
    return header_name(name), encoded


def _check_method(text: str) -> str:
    if _TOKEN.fullmatch(text) is None:
        raise Invalid(f"{text!r} is not a valid HTTP method")
    return text


def _check_uri(text: str) -> str:
    if _URI.fullmatch(text) is None:
        raise Invalid(f"{text!r} is not a valid URI (no spaces or control characters)")
    return text


def _check_version(text: str) -> str:
    if text not in _CHECK_VERSIONS:
        raise Invalid(f"unsupported check version {text!r} (use HTTP/1.0 or HTTP/1.1)")
    return text


def parse_httpchk(value: str | None, words: list[str]) -> tuple[HttpCheck | None, str | None]:
    """``option httpchk``: on/off, or ``[METHOD] [URI] [VERSION]`` as in HAProxy 2.6 (one word
    is the URI). The deprecated form that hides headers (and a body) at the end of the version,
    ``HTTP/1.0\\r\\nUser-Agent:\\ HAProxy``, is accepted; the second value returned is then
    the ``http-check send`` line that says the same today (else ``None``)."""
    if value is None:
        return HttpCheck(), None
    if len(words) == 1 and words[0].lower() in _TRUE | _FALSE:
        return (HttpCheck() if parse_switch(words[0]) else None), None
    if not words:
        raise Invalid(
            "empty value: write 'on', 'off' or HAProxy's arguments [METHOD] [URI] [VERSION]"
        )
    if len(words) > 3:
        raise Invalid(
            f"option httpchk takes at most METHOD URI VERSION, not {join_words(words)!r} "
            "(add headers with 'http-check send = hdr NAME VALUE')"
        )
    method, uri = "OPTIONS", "/"
    if len(words) == 1:
        uri = words[0]
    else:
        method, uri = words[0], words[1]
    version_text = words[2] if len(words) == 3 else "HTTP/1.0"
    version, sep, extra = version_text.partition("\r\n")
    head, body_sep, body = ("\r\n" + extra).partition("\r\n\r\n") if sep else ("", "", "")
    headers: list[tuple[bytes, bytes]] = []
    modern: list[str] = []
    for line in head.split("\r\n"):
        if not line:
            continue
        hname, colon, hvalue = line.partition(":")
        if not colon or not hname:
            raise Invalid(f"cannot parse the header {line!r} after the version (use 'Name: value')")
        hvalue = hvalue.strip(" \t")
        headers.append(_check_header(hname, hvalue))
        modern.append(join_words(["hdr", hname, hvalue]))
    if body_sep and body:
        modern.append(join_words(["body", body]))
    check = HttpCheck(
        method=_check_method(method),
        uri=_check_uri(uri),
        version=_check_version(version),
        headers=tuple(headers),
        body=body.encode() if body_sep else b"",
    )
    return check, (" ".join(modern) if modern else None)


@dataclass(frozen=True, slots=True)
class HttpCheckSend:
    """One ``http-check send`` line; ``None`` fields keep ``option httpchk``'s values."""

    method: str | None = None
    uri: str | None = None
    version: str | None = None
    headers: tuple[tuple[bytes, bytes], ...] = ()
    body: bytes | None = None


_SEND_NOT_YET = ("uri-lf", "body-lf", "comment")


def parse_http_check_send(words: list[str]) -> HttpCheckSend:
    """``[meth M] [uri U] [ver V] [hdr NAME VALUE]* [body STRING]``."""
    if not words:
        raise Invalid("http-check send needs at least one of meth, uri, ver, hdr or body")
    changes: dict[str, Any] = {}
    headers: list[tuple[bytes, bytes]] = []
    rest = list(words)
    while rest:
        option = rest.pop(0)
        if option in ("meth", "uri", "ver", "body"):
            if not rest or not rest[0]:
                raise Invalid(f"'{option}' expects a string as argument")
            arg = rest.pop(0)
            if option == "meth":
                changes["method"] = _check_method(arg)
            elif option == "uri":
                changes["uri"] = _check_uri(arg)
            elif option == "ver":
                changes["version"] = _check_version(arg)
            else:
                changes["body"] = arg.encode()
        elif option == "hdr":
            if len(rest) < 2 or not rest[0] or not rest[1]:
                raise Invalid("'hdr' expects <name> and <value> as arguments")
            hname, hvalue = rest.pop(0), rest.pop(0)
            if hname.lower() in ("content-length", "transfer-encoding"):
                continue  # HAProxy ignores them: the body sets Content-Length
            header = _check_header(hname, hvalue)
            if header[0] == b"host" and any(h[0] == b"host" for h in headers):
                raise Invalid("'host' header already defined")
            headers.append(header)
        elif option in _SEND_NOT_YET:
            raise Invalid(f"http-check send option {option!r} is not supported yet")
        else:
            raise Invalid(
                "expects 'meth', 'uri', 'ver', 'hdr' or 'body' but got "
                f"{option!r} as argument" + suggest(option, ["meth", "uri", "ver", "hdr", "body"])
            )
    return replace(HttpCheckSend(headers=tuple(headers)), **changes)


def merge_http_check(
    option: HttpCheck, send: HttpCheckSend | None, expect: HttpCheckExpect | None
) -> HttpCheck:
    """``option httpchk`` with ``http-check send`` merged in as HAProxy 2.6 does: the send's
    method, URI, version and body win, and its headers replace the option's."""
    if send is not None:
        option = HttpCheck(
            method=send.method or option.method,
            uri=send.uri or option.uri,
            version=send.version or option.version,
            headers=send.headers,
            body=send.body if send.body is not None else option.body,
        )
    return replace(option, expect=expect)


_EXPECT_OPTIONS = (
    "min-recv",
    "comment",
    "ok-status",
    "error-status",
    "tout-status",
    "on-success",
    "on-error",
    "status-code",
)
_EXPECT_MATCHES = ("status", "rstatus", "string", "rstring")


def _statuses(text: str) -> tuple[tuple[int, int], ...]:
    ranges = []
    for part in text.split(","):
        match = re.fullmatch(r"(\d{3})(?:-(\d{3}))?", part)
        low = int(match.group(1)) if match else 0
        high = int(match.group(2) or low) if match else 0
        if match is None or not 100 <= low <= high <= 599:
            raise Invalid(
                f"invalid status {part!r} in {text!r} (use codes such as 200 and ranges such as "
                "200-399, from 100 to 599, separated by commas)"
            )
        ranges.append((low, high))
    return tuple(ranges)


def parse_http_check_expect(words: list[str]) -> HttpCheckExpect:
    """``[!] status|rstatus|string|rstring PATTERN``."""
    rest = list(words)
    if not rest:
        raise Invalid("http-check expect needs a match such as 'status 200-399'")
    if rest[0] in _EXPECT_OPTIONS:
        raise Invalid(f"http-check expect option {rest[0]!r} is not supported yet")
    negate = False
    if rest[0].startswith("!"):
        negate = True
        rest[0] = rest[0][1:]
        if not rest[0]:
            rest.pop(0)
    if not rest:
        raise Invalid("'!' must be followed by a match such as 'status 500-599'")
    kind = rest.pop(0)
    if kind not in _EXPECT_MATCHES:
        if kind in ("hdr", "fhdr", "string-lf"):
            raise Invalid(f"http-check expect {kind!r} is not supported yet")
        raise Invalid(
            f"unknown http-check expect match {kind!r} (use status, rstatus, string or rstring)"
            + suggest(kind, list(_EXPECT_MATCHES))
        )
    if not rest:
        raise Invalid(f"'{kind}' needs a pattern")
    if len(rest) > 1:
        raise Invalid(
            f"'{kind}': unexpected {join_words(rest[1:])!r} (escape spaces in the pattern with "
            "'\\ ')"
        )
    pattern = rest[0]
    if kind == "status":
        return HttpCheckExpect(kind, negate, statuses=_statuses(pattern))
    if kind == "string":
        if not pattern:
            raise Invalid("'string' needs a non-empty pattern")
        return HttpCheckExpect(kind, negate, text=pattern.encode())
    return HttpCheckExpect(kind, negate, regex=_regex(pattern))


# --- stick tables and stick rules ----------------------------------------------------------------

_TABLE_TYPES = {
    "ip": StickTableType.IP,
    "ipv4": StickTableType.IP,
    "ipv6": StickTableType.IPV6,
    "integer": StickTableType.INTEGER,
    "string": StickTableType.STRING,
}
_TABLE_NOT_YET = ("store", "srvkey", "recv-only", "write-to", "brates-factor")
_SIZE = re.compile(r"(\d+)([kKmMgG]?)")
_SIZE_SHIFT = {"": 0, "k": 10, "m": 20, "g": 30}
STRING_KEY_LEN = 31  # type string without len: key_size 32, so 31 bytes kept (stick_table.c)


def parse_size(text: str, what: str) -> int:
    """HAProxy's sizes: a number with an optional k, m or g (powers of 1024)."""
    match = _SIZE.fullmatch(text)
    if match is None:
        raise Invalid(f"invalid {what} {text!r} (use a number with an optional k, m or g)")
    value = int(match.group(1)) << _SIZE_SHIFT[match.group(2).lower()]
    if not 1 <= value <= 0xFFFFFFFF:
        raise Invalid(f"{what} must be between 1 and 4294967295, not {text!r}")
    return value


def parse_stick_table(words: list[str]) -> StickTable:
    """``type ip|ipv6|integer|string [len N] size N[k|m|g] [expire T] [nopurge] [peers NAME]``."""
    table_type: StickTableType | None = None
    size: int | None = None
    key_len = STRING_KEY_LEN
    expire: float | None = None
    nopurge = False
    peers: str | None = None
    rest = list(words)
    while rest:
        option = rest.pop(0)
        if option in ("type", "size", "expire", "peers", "len") and not rest:
            raise Invalid(f"stick-table: missing argument after '{option}'")
        if option == "type":
            name = rest.pop(0)
            if name == "binary":
                raise Invalid("stick-table type 'binary' is not supported yet")
            if name not in _TABLE_TYPES:
                raise Invalid(
                    f"unknown stick-table type {name!r} (use ip, ipv6, integer or string)"
                    + suggest(name, list(_TABLE_TYPES))
                )
            table_type = _TABLE_TYPES[name]
            if table_type is StickTableType.STRING and rest and rest[0] == "len":
                rest.pop(0)
                if not rest:
                    raise Invalid("stick-table: missing argument after 'len'")
                key_len = parse_int(rest.pop(0), "stick-table len", 1, 65535)
        elif option == "len":
            raise Invalid("'len' goes right after 'type string' (only string keys have a length)")
        elif option == "size":
            size = parse_size(rest.pop(0), "stick-table size")
        elif option == "expire":
            text = rest.pop(0)
            try:
                expire = parse_duration(text) or None  # 0: entries never expire
            except Invalid as exc:
                raise Invalid(f"stick-table expire: {exc}") from None
        elif option == "nopurge":
            nopurge = True
        elif option == "peers":
            peers = rest.pop(0)
            check_name(peers, "peers section")
        elif option in _TABLE_NOT_YET:
            raise Invalid(f"stick-table option {option!r} is not supported yet")
        else:
            choices = ["type", "size", "expire", "nopurge", "peers"]
            raise Invalid(
                f"unknown stick-table argument {option!r} (use type, size, expire, nopurge, "
                "peers)" + suggest(option, choices)
            )
    if table_type is None:
        raise Invalid("stick-table: missing type (type ip, ipv6, integer or string)")
    if size is None:
        raise Invalid("stick-table: missing size (such as 'size 1m')")
    return StickTable(table_type, size, key_len, expire, nopurge, peers)


_SAMPLE = re.compile(r"([A-Za-z0-9_.-]+)(?:\((.*)\))?")
# written fetch -> canonical fetch (request side, response side)
_SAMPLE_FETCHES: dict[str, tuple[str | None, str | None]] = {
    "req.cook": ("req.cook", None),
    "cook": ("req.cook", None),
    "res.cook": (None, "res.cook"),
    "scook": (None, "res.cook"),
    "set-cookie": (None, "res.cook"),
    "cookie": ("req.cook", "res.cook"),  # HAProxy: the direction of the rule decides
    "src": ("src", None),
    "req.hdr": ("req.hdr", None),
    "hdr": ("req.hdr", "res.hdr"),
    "url_param": ("url_param", None),
}
_REQUEST_FETCHES = "req.cook(NAME), src, req.hdr(NAME) or url_param(NAME)"


def parse_sample(text: str, *, response: bool) -> Sample:
    """A stick rule's sample fetch; ``response`` for ``stick store-response``."""
    base, converter = _split_converter(text)
    if converter:
        raise Invalid(f"converters such as {converter!r} in {text!r} are not supported yet")
    match = _SAMPLE.fullmatch(base)
    name = match.group(1) if match else base
    if match is None or name not in _SAMPLE_FETCHES:
        known = sorted(_SAMPLE_FETCHES)
        raise Invalid(
            f"unknown or unsupported sample fetch {text!r} (stack's stick rules use "
            f"{_REQUEST_FETCHES}, and res.cook(NAME) in store-response)" + suggest(name, known)
        )
    request_fetch, response_fetch = _SAMPLE_FETCHES[name]
    fetch = response_fetch if response else request_fetch
    if fetch is None:
        if response:
            raise Invalid(
                f"'stick store-response' reads the response: use res.cook(NAME), not {text!r}"
            )
        raise Invalid(
            f"{text!r} reads the response: it is only usable in 'stick store-response' (use "
            f"{_REQUEST_FETCHES} here)"
        )
    if fetch == "res.hdr":
        raise Invalid(f"{text!r} in 'stick store-response' is res.hdr, not supported yet")
    arg = match.group(2)
    if fetch == "src":
        if arg is not None:
            raise Invalid("'src' takes no argument")
        return Sample(fetch, None, text)
    if not arg:
        raise Invalid(f"{name!r} needs a name in parentheses, as in {name}(JSESSIONID)")
    if "," in arg:
        raise Invalid(f"{text!r}: only one argument (the name) is supported")
    if fetch == "req.hdr":
        arg = header_name(arg).decode()
    return Sample(fetch, arg, text)


STICK_KINDS = ("on", "match", "store-request", "store-response")


def parse_stick_rule(
    kind: str,
    words: list[str],
    condition: Callable[[list[str]], Condition],
    origin: Origin,
) -> StickRule:
    """``SAMPLE [table NAME] [if|unless COND]`` after ``stick on|match|store-*``."""
    if not words:
        raise Invalid(f"'stick {kind}' needs a sample fetch such as req.cook(JSESSIONID)")
    args, cond_words = split_condition(words, 1)
    sample = parse_sample(args[0], response=kind == "store-response")
    rest = args[1:]
    table = None
    if rest and rest[0] == "table":
        if len(rest) < 2:
            raise Invalid("'table' needs the name of a backend that has a stick-table")
        table = rest[1]
        check_name(table, "table")
        rest = rest[2:]
    if rest:
        raise Invalid(
            f"unexpected {join_words(rest)!r} after the sample (expected 'table NAME', 'if' or "
            "'unless')"
        )
    cond = condition(cond_words) if cond_words is not None else None
    return StickRule(kind, sample, table, cond, origin)


# --- appsession (removed in HAProxy 1.6) ---------------------------------------------------------

APPSESSION_SIZE = 1 << 20  # "size 1m", the idiom of haproxy.md §1.3
_APPSESSION_USAGE = (
    "appsession = NAME len N timeout T [request-learn] [mode path-parameters|query-string]"
)


@dataclass(frozen=True, slots=True)
class AppSession:
    """An ``appsession`` line, to be run as its stick-table equivalent."""

    cookie: str
    table: StickTable
    query_string: bool  # mode query-string: the id may also come as a URL parameter


def parse_appsession(words: list[str]) -> AppSession:
    """``NAME len N timeout T [request-learn] [prefix] [mode ...]`` (HAProxy 1.5's syntax)."""
    if not words or words[0] in ("len", "timeout"):
        raise Invalid(f"appsession needs the application's cookie name: {_APPSESSION_USAGE}")
    cookie = words[0]
    if _TOKEN.fullmatch(cookie) is None:
        raise Invalid(f"{cookie!r} is not a valid cookie name")
    length: int | None = None
    timeout: float | None = None
    query_string = False
    rest = words[1:]
    while rest:
        option = rest.pop(0)
        if option in ("len", "timeout", "mode") and not rest:
            raise Invalid(f"appsession: missing argument for '{option}' ({_APPSESSION_USAGE})")
        if option == "len":
            length = parse_int(rest.pop(0), "appsession len", 1, 65535)
        elif option == "timeout":
            text = rest.pop(0)
            try:
                timeout = parse_duration(text)
            except Invalid as exc:
                raise Invalid(f"appsession timeout: {exc}") from None
            if not timeout:
                raise Invalid("appsession timeout must be greater than 0")
        elif option == "request-learn":
            pass  # 'stick on' learns from the request anyway
        elif option == "mode":
            mode = rest.pop(0)
            if mode not in ("path-parameters", "query-string"):
                raise Invalid(
                    f"unknown appsession mode {mode!r} (use path-parameters or query-string)"
                )
            query_string = mode == "query-string"
        elif option == "prefix":
            raise Invalid(
                "appsession option 'prefix' (cookie names that start with NAME) has no "
                "stick-table equivalent: remove it to match the cookie named NAME exactly"
            )
        else:
            raise Invalid(
                f"unknown appsession option {option!r} (use len, timeout, request-learn, mode)"
                + suggest(option, ["len", "timeout", "request-learn", "mode"])
            )
    if length is None or timeout is None:
        missing = "len" if length is None else "timeout"
        raise Invalid(f"appsession: missing '{missing}' ({_APPSESSION_USAGE})")
    table = StickTable(StickTableType.STRING, APPSESSION_SIZE, length, timeout)
    return AppSession(cookie, table, query_string)


# --- redirect ------------------------------------------------------------------------------------

_REDIRECT_TYPES = ("location", "prefix", "scheme")
_REDIRECT_CODES = (301, 302, 303, 307, 308)
_REDIRECT_OPTIONS = [
    *_REDIRECT_TYPES,
    "code",
    "drop-query",
    "append-slash",
    "set-cookie",
    "clear-cookie",
]


def _redirect_cookie(text: str, option: str) -> str:
    name, eq, value = text.partition("=")
    if _TOKEN.fullmatch(name) is None:
        raise Invalid(f"{option}: {name!r} is not a valid cookie name")
    if option == "set-cookie" and eq and value:
        cookie_value(value, "the cookie value")
    elif option == "clear-cookie" and value:
        raise Invalid(f"clear-cookie takes a cookie name (NAME or NAME=), not {text!r}")
    return text


def parse_redirect(
    words: list[str],
    condition: Callable[[list[str]], Condition],
    origin: Origin,
    *,
    logformat: bool,
) -> Redirect:
    """``scheme|prefix|location TARGET [code N] [drop-query] [append-slash]
    [set-cookie NAME[=V]] [clear-cookie NAME] [if|unless COND]``. ``logformat``: the target may
    hold %[fetch] expressions (``http-request redirect``); the ``redirect`` directive's target
    is taken literally, as in HAProxy 2.6."""
    kind: str | None = None
    target = ""
    code = 302
    flags: set[str] = set()
    cookies: dict[str, str] = {}
    cond_words: list[str] | None = None
    rest = list(words)
    while rest:
        option = rest.pop(0)
        if option in ("if", "unless"):
            cond_words = [option, *rest]
            break
        if option in (*_REDIRECT_TYPES, "code", "set-cookie", "clear-cookie") and not rest:
            raise Invalid(f"missing argument for '{option}'")
        if option in _REDIRECT_TYPES:
            if kind is not None:
                raise Invalid(f"'{option}' after '{kind}': a redirect has one type")
            kind, target = option, rest.pop(0)
            if not target:
                raise Invalid(f"missing argument for '{option}'")
        elif option == "code":
            text = rest.pop(0)
            if not text.isdigit() or int(text) not in _REDIRECT_CODES:
                raise Invalid(
                    f"'code': unsupported HTTP code {text!r} (must be one of 301, 302, 303, 307 "
                    "or 308)"
                )
            code = int(text)
        elif option in ("drop-query", "append-slash"):
            flags.add(option)
        elif option in ("set-cookie", "clear-cookie"):
            cookies[option] = _redirect_cookie(rest.pop(0), option)
        elif option == "ignore-empty":
            raise Invalid("redirect option 'ignore-empty' is not supported yet")
        else:
            raise Invalid(
                "expects 'code', 'prefix', 'location', 'scheme', 'set-cookie', 'clear-cookie', "
                f"'drop-query' or 'append-slash' (was {option!r})"
                + suggest(option, _REDIRECT_OPTIONS)
            )
    if kind is None:
        raise Invalid("redirection type expected ('prefix', 'location', or 'scheme')")
    if len(cookies) > 1:
        raise Invalid("use either set-cookie or clear-cookie in one redirect (HAProxy keeps one)")
    if kind == "scheme" and re.fullmatch(r"[A-Za-z][A-Za-z0-9+.-]*", target) is None:
        if not logformat or "%[" not in target:
            raise Invalid(f"redirect scheme {target!r} is not a URL scheme such as https")
    parsed = parse_logformat(target) if logformat else LogFormat((target.encode(),), target)
    cond = condition(cond_words) if cond_words is not None else None
    return Redirect(
        kind=kind,
        target=parsed,
        code=code,
        drop_query="drop-query" in flags,
        append_slash="append-slash" in flags,
        set_cookie=cookies.get("set-cookie"),
        clear_cookie=cookies.get("clear-cookie"),
        condition=cond,
        origin=origin,
    )
