"""The typed, immutable configuration model every tier reads.

The loader (``stack.config.loader``) turns an INI file into these objects and is the only place
that validates; every tier can therefore trust what it gets here: references resolve, numbers are
in range, durations are seconds. Names follow the HAProxy directive an operator would look for.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a setting was written: reported with every error about it."""

    file: str
    line: int
    section: str
    key: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}: [{self.section}]"
        return f"{where} {self.key}" if self.key else where


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A ``host:port`` to bind or connect to. ``host`` is ``""`` for HAProxy's ``*``."""

    host: str
    port: int

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else (self.host or "*")
        return f"{host}:{self.port}"


@dataclass(frozen=True, slots=True)
class Timeouts:
    """HAProxy's ``timeout`` family, in seconds; ``None`` means no timeout.

    Fallbacks are resolved by the loader: ``queue`` defaults to ``connect``, ``http_keep_alive``
    to ``http_request`` and then ``client``, as HAProxy does.
    """

    connect: float | None = None
    client: float | None = None
    server: float | None = None
    http_request: float | None = None
    http_keep_alive: float | None = None
    queue: float | None = None


# --- ACLs and conditions -------------------------------------------------------------------------


class MatchMethod(Enum):
    """How an ACL compares a fetched sample to its patterns (HAProxy's ``-m``)."""

    STR = "str"  # exact string
    BEG = "beg"  # prefix
    END = "end"  # suffix
    SUB = "sub"  # substring
    DIR = "dir"  # slash-delimited portion
    DOM = "dom"  # dot-delimited portion
    REG = "reg"  # regular expression (compiled once, at load)
    IP = "ip"  # address within a network
    INT = "int"  # integer comparison (``ge 1``, ``lt 2``, ``eq 3`` ...)
    FOUND = "found"  # the sample exists
    BOOL = "bool"  # the sample is true (``ssl_fc``, ``TRUE``, ``FALSE``)


@dataclass(frozen=True, slots=True)
class IntPattern:
    """One integer comparison: ``op`` is one of eq, ne, ge, gt, le, lt."""

    op: str
    value: int


@dataclass(frozen=True, slots=True)
class Acl:
    """One ``acl NAME CRITERION [flags] PATTERN...`` line (or an anonymous ``{ ... }`` one).

    ``fetch`` is the sample fetch keyword (``path``, ``hdr``, ``src``, ``method``, ``nbsrv``,
    ``ssl_fc``, ...), ``fetch_arg`` its parenthesised argument (``host`` in ``hdr(host)``,
    the backend name in ``nbsrv(app1)``) or ``None``. ``patterns`` hold strings for string
    methods, ``ipaddress`` networks for ``IP``, ``IntPattern`` for ``INT`` and compiled
    ``re.Pattern`` objects for ``REG``. ``ignore_case`` is ``-i``.
    """

    name: str
    fetch: str
    fetch_arg: str | None
    method: MatchMethod
    patterns: tuple[object, ...]
    ignore_case: bool
    origin: Origin


@dataclass(frozen=True, slots=True)
class Term:
    """One operand of a condition: the named ACLs (ORed together, as HAProxy ORs ACL lines
    sharing a name) or one anonymous ACL, optionally negated with ``!``."""

    acls: tuple[Acl, ...]
    negate: bool


@dataclass(frozen=True, slots=True)
class Condition:
    """``if``/``unless`` followed by terms: AND within a group, OR (``||``/``or``) between
    groups. ``unless`` is stored as ``negate=True``."""

    groups: tuple[tuple[Term, ...], ...]
    negate: bool
    text: str


# --- header rules ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LogFormat:
    """A header value with HAProxy's ``%[fetch]`` expressions, split at load time.

    ``parts`` alternate literal ``bytes`` and fetch names (``str``: ``src``, ``src_port``,
    ``dst``, ``dst_port``, ``ssl_fc``, ``req.hdr(name)`` ...), so evaluation is a join with
    no parsing on the request path. A value with no ``%[`` has one literal part.
    """

    parts: tuple[bytes | str, ...]
    text: str

    @property
    def literal(self) -> bytes | None:
        """The value when it has no expression, else ``None``."""
        if len(self.parts) == 1 and isinstance(self.parts[0], bytes):
            return self.parts[0]
        if not self.parts:
            return b""
        return None


@dataclass(frozen=True, slots=True)
class HeaderRule:
    """One ``http-request`` / ``http-response`` action on headers.

    ``action`` is ``set-header``, ``add-header``, ``del-header`` or ``replace-header``;
    ``name`` is lowercased bytes; ``value`` is the format (``None`` for del-header);
    ``regex`` is the compiled pattern of replace-header (``value`` then holds the
    replacement with ``\\1`` references).
    """

    action: str
    name: bytes
    value: LogFormat | None
    regex: object | None
    condition: Condition | None
    origin: Origin


# --- logging --------------------------------------------------------------------------------------


# syslog facilities (by code) and severities, by HAProxy's names (src/log.c)
SYSLOG_FACILITIES = (
    "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news",
    "uucp", "cron", "auth2", "ftp", "ntp", "audit", "alert", "cron2",
    "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7",
)  # fmt: skip
SYSLOG_LEVELS = ("emerg", "alert", "crit", "err", "warning", "notice", "info", "debug")


@dataclass(frozen=True, slots=True)
class LogTarget:
    """A ``log`` destination: UDP syslog (``address``), a unix datagram socket (``path``), or
    ``stdout``/``stderr`` (``stream``); ``facility`` and ``level`` as in syslog."""

    address: Endpoint | None
    path: str | None
    stream: str | None
    facility: str
    level: str
    origin: Origin


# --- backends -------------------------------------------------------------------------------------


class Algorithm(Enum):
    """HAProxy's ``balance`` algorithms that stack implements."""

    ROUNDROBIN = "roundrobin"
    STATIC_RR = "static-rr"
    LEASTCONN = "leastconn"
    FIRST = "first"
    SOURCE = "source"
    URI = "uri"


@dataclass(frozen=True, slots=True)
class Balance:
    """``balance ALGO [options]``; the ``uri_*`` fields are ``balance uri``'s options."""

    algorithm: Algorithm = Algorithm.ROUNDROBIN
    uri_whole: bool = False
    uri_len: int = 0
    uri_depth: int = 0
    uri_path_only: bool = False


@dataclass(frozen=True, slots=True)
class Server:
    """``server NAME ADDRESS [weight N] [maxconn N] [maxqueue N] [backup] [disabled]``."""

    name: str
    address: Endpoint
    weight: int = 1
    maxconn: int = 0  # 0: unlimited
    maxqueue: int = 0  # 0: unlimited
    backup: bool = False
    disabled: bool = False
    origin: Origin | None = None


@dataclass(frozen=True, slots=True)
class ForwardFor:
    """``option forwardfor [except NET] [header NAME] [if-none]``."""

    header: bytes = b"x-forwarded-for"
    except_net: object | None = None  # ipaddress.IPv4Network | IPv6Network
    if_none: bool = False


class ConnectionMode(Enum):
    """``option http-keep-alive`` (default), ``http-server-close`` or ``httpclose``."""

    KEEP_ALIVE = "http-keep-alive"
    SERVER_CLOSE = "http-server-close"
    CLOSE = "httpclose"


@dataclass(frozen=True, slots=True)
class ErrorFile:
    """``errorfile CODE FILE``: ``response`` is the file's raw HTTP response, read at load
    time; empty bytes mean HAProxy's ``/dev/null`` (close without answering)."""

    status: int
    path: str
    response: bytes


@dataclass(frozen=True, slots=True)
class Backend:
    """A ``backend`` section (or the backend half of a ``listen``)."""

    name: str
    servers: tuple[Server, ...]
    balance: Balance = field(default_factory=Balance)
    timeouts: Timeouts = field(default_factory=Timeouts)
    retries: int = 3
    redispatch: bool = False
    forwardfor: ForwardFor | None = None
    connection_mode: ConnectionMode = ConnectionMode.KEEP_ALIVE
    http_request: tuple[HeaderRule, ...] = ()
    http_response: tuple[HeaderRule, ...] = ()
    errorfiles: tuple[ErrorFile, ...] = ()
    acls: tuple[Acl, ...] = ()
    origin: Origin | None = None
    logs: tuple[LogTarget, ...] = ()  # ``log`` lines, for the backend's own events


@dataclass(frozen=True, slots=True)
class UseBackend:
    """``use_backend NAME [if|unless COND]``."""

    backend: str
    condition: Condition | None
    origin: Origin


@dataclass(frozen=True, slots=True)
class Frontend:
    """A ``frontend`` section (or the frontend half of a ``listen``)."""

    name: str
    binds: tuple[Endpoint, ...]
    default_backend: str | None = None
    use_backends: tuple[UseBackend, ...] = ()
    acls: tuple[Acl, ...] = ()
    maxconn: int = 0  # 0: the global value
    timeouts: Timeouts = field(default_factory=Timeouts)
    forwardfor: ForwardFor | None = None
    connection_mode: ConnectionMode = ConnectionMode.KEEP_ALIVE
    http_request: tuple[HeaderRule, ...] = ()
    http_response: tuple[HeaderRule, ...] = ()
    errorfiles: tuple[ErrorFile, ...] = ()
    httplog: bool = False
    dontlognull: bool = False
    logs: tuple[LogTarget, ...] = ()
    origin: Origin | None = None


@dataclass(frozen=True, slots=True)
class Limits:
    """Request size limits (HAProxy's ``tune.bufsize`` role): bytes of request line and of
    the whole header block, and the number of header lines."""

    max_request_line: int = 8192
    max_header_bytes: int = 16384
    max_headers: int = 101


@dataclass(frozen=True, slots=True)
class Global:
    """The ``[global]`` section."""

    maxconn: int = 4096
    logs: tuple[LogTarget, ...] = ()
    node: str = ""
    limits: Limits = field(default_factory=Limits)


@dataclass(frozen=True, slots=True)
class DemoServer:
    """A built-in demo origin (``[demo NAME]``): ``app`` is ``site`` or ``films``."""

    name: str
    app: str
    bind: Endpoint
    origin: Origin | None = None


@dataclass(frozen=True, slots=True)
class StackConfig:
    """The whole validated configuration."""

    path: str
    global_: Global
    frontends: tuple[Frontend, ...]
    backends: tuple[Backend, ...]
    demos: tuple[DemoServer, ...] = ()

    @property
    def tiers(self) -> tuple[str, ...]:
        """The tiers this file describes, in start order."""
        found = []
        if self.demos:
            found.append("demo")
        if self.frontends:
            found.append("balancer")
        return tuple(found)

    def backend(self, name: str) -> Backend:
        for backend in self.backends:
            if backend.name == name:
                return backend
        raise KeyError(name)
