"""The typed, immutable configuration model every tier reads.

The loader (``stack.config.loader``) turns an INI file into these objects and is the only place
that validates; every tier can therefore trust what it gets here: references resolve, numbers are
in range, durations are seconds. Names follow the HAProxy directive an operator would look for.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from ipaddress import IPv4Address, IPv4Interface, IPv6Address, IPv6Interface


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
    to ``http_request`` and then ``client``, ``client_fin`` to ``client``, as HAProxy does.
    ``client_fin`` bounds a connection we are closing: a TLS peer that never answers our
    close_notify (gone, or cut off by a VIP move) is aborted then instead of held forever.
    """

    connect: float | None = None
    client: float | None = None
    server: float | None = None
    http_request: float | None = None
    http_keep_alive: float | None = None
    queue: float | None = None
    client_fin: float | None = None


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

    ``action`` is ``set-header``, ``add-header``, ``del-header`` or ``replace-header``, or one
    of the request-line actions ``set-path``, ``replace-path`` and ``replace-uri`` (then ``name``
    is empty); ``name`` is lowercased bytes; ``value`` is the format (``None`` for del-header);
    ``regex`` is the compiled ``re.Pattern[bytes]`` of replace-header/-path/-uri (``value`` then
    holds the replacement with ``\\1`` references).
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
class ServerTls:
    """``ssl [verify none|required] [ca-file F] [sni EXPR] [crt F]`` on a server line: the
    connection to the server is TLS. ``sni`` keeps HAProxy's expression text (``str(NAME)``
    gives a fixed name, ``req.hdr(host)`` the client's Host)."""

    verify: bool = True
    ca_file: str | None = None
    sni: str | None = None
    crt: str | None = None


@dataclass(frozen=True, slots=True)
class Server:
    """``server NAME ADDRESS [weight N] [maxconn N] [maxqueue N] [backup] [disabled]
    [cookie V] [check] [inter T] [fastinter T] [downinter T] [rise N] [fall N] [port N]
    [check-ssl] [ssl ...] [slowstart T] [redir PREFIX]``.

    Check timers are seconds; ``fastinter``/``downinter`` are ``None`` when not given (HAProxy
    then uses ``inter``). ``check_ssl``: checks run over TLS, set by ``check-ssl`` or by ``ssl``
    when the checks go to the server's own port (HAProxy's rule; the loader resolves it).
    """

    name: str
    address: Endpoint
    weight: int = 1
    maxconn: int = 0  # 0: unlimited
    maxqueue: int = 0  # 0: unlimited
    backup: bool = False
    disabled: bool = False
    origin: Origin | None = None
    cookie: str | None = None
    check: bool = False
    inter: float = 2.0
    fastinter: float | None = None
    downinter: float | None = None
    rise: int = 2
    fall: int = 3
    check_port: int | None = None
    check_ssl: bool = False
    tls: ServerTls | None = None
    slowstart: float = 0.0
    redir: str | None = None


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


class CookieMode(Enum):
    """``cookie NAME [rewrite|insert|prefix]``; no mode given is HAProxy's passive mode (the
    cookie is matched, never set or changed)."""

    PASSIVE = "passive"
    INSERT = "insert"
    REWRITE = "rewrite"
    PREFIX = "prefix"


@dataclass(frozen=True, slots=True)
class CookiePersistence:
    """``cookie NAME [mode] [indirect] [nocache] [postonly] [preserve] [httponly] [secure]
    [domain D]* [maxidle T] [maxlife T] [attr V]*``; ``maxidle``/``maxlife`` are whole
    seconds, 0 when not set."""

    name: str
    mode: CookieMode = CookieMode.PASSIVE
    indirect: bool = False
    nocache: bool = False
    postonly: bool = False
    preserve: bool = False
    httponly: bool = False
    secure: bool = False
    domains: tuple[str, ...] = ()
    maxidle: int = 0
    maxlife: int = 0
    attrs: tuple[str, ...] = ()
    origin: Origin | None = None


@dataclass(frozen=True, slots=True)
class HttpCheckExpect:
    """``http-check expect [!] status|rstatus|string|rstring PATTERN``.

    ``statuses`` holds inclusive ranges for ``status`` (``200``, ``200-399``, ``200,302``);
    ``regex`` a compiled ``re.Pattern[bytes]`` for the r-forms; ``text`` the ``string``.
    """

    kind: str
    negate: bool = False
    statuses: tuple[tuple[int, int], ...] = ()
    regex: object | None = None
    text: bytes = b""


@dataclass(frozen=True, slots=True)
class HttpCheck:
    """``option httpchk [METHOD URI [VERSION]]`` with ``http-check send`` / ``expect``.

    HAProxy 2.6's defaults are ``OPTIONS / HTTP/1.0`` with no header. The legacy form that
    appends ``\\r\\nHeader:\\ value`` to the version (seeds 003 and 004) gives ``headers``.
    ``expect`` ``None`` means any 2xx or 3xx passes.
    """

    method: str = "OPTIONS"
    uri: str = "/"
    version: str = "HTTP/1.0"
    headers: tuple[tuple[bytes, bytes], ...] = ()
    body: bytes = b""
    expect: HttpCheckExpect | None = None


class StickTableType(Enum):
    IP = "ip"  # IPv4 (HAProxy: ip = ipv4)
    IPV6 = "ipv6"
    INTEGER = "integer"
    STRING = "string"


@dataclass(frozen=True, slots=True)
class StickTable:
    """``stick-table type T [len N] size N [expire T] [nopurge] [peers NAME]``; ``size`` is an
    entry count (``30k`` = 30720), ``expire`` seconds or ``None``; ``key_len`` is ``len``, the
    most bytes a string key keeps (31 without ``len``: HAProxy's key size 32 minus the NUL);
    longer keys are cut."""

    type: StickTableType
    size: int
    key_len: int = 31
    expire: float | None = None
    nopurge: bool = False
    peers: str | None = None


@dataclass(frozen=True, slots=True)
class Sample:
    """A sample fetch such as ``req.cook(JSESSIONID)``: ``fetch`` is the canonical name
    (``req.cook``, ``res.cook``, ``src``, ``req.hdr``, ``url_param``), ``arg`` its argument."""

    fetch: str
    arg: str | None
    text: str


@dataclass(frozen=True, slots=True)
class StickRule:
    """``stick on|match|store-request|store-response SAMPLE [table NAME] [if|unless COND]``;
    ``table`` ``None`` is the backend's own table."""

    kind: str
    sample: Sample
    table: str | None
    condition: Condition | None
    origin: Origin


@dataclass(frozen=True, slots=True)
class Redirect:
    """``redirect scheme|prefix|location TARGET [code N] [drop-query] [append-slash]
    [set-cookie NAME[=V]] [clear-cookie NAME] [if|unless COND]`` (also the same words after
    ``http-request redirect``)."""

    kind: str
    target: LogFormat
    code: int = 302
    drop_query: bool = False
    append_slash: bool = False
    set_cookie: str | None = None
    clear_cookie: str | None = None
    condition: Condition | None = None
    origin: Origin | None = None


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
    cookie: CookiePersistence | None = None
    persist: bool = False  # option persist
    allbackups: bool = False  # option allbackups
    httpchk: HttpCheck | None = None
    log_health_checks: bool = False  # option log-health-checks
    check_timeout: float | None = None  # timeout check
    stick_table: StickTable | None = None
    stick_rules: tuple[StickRule, ...] = ()
    redirects: tuple[Redirect, ...] = ()
    stats: StatsPage | None = None
    # What the loader translated from an obsolete form (``appsession``), said once at start.
    notices: tuple[str, ...] = ()


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
    redirects: tuple[Redirect, ...] = ()
    stats: StatsPage | None = None


@dataclass(frozen=True, slots=True)
class StatsPage:
    """The ``stats`` lines of a proxy: HAProxy's statistics page.

    A request whose path starts with ``uri`` is answered by the page instead of a server.
    ``users`` are the ``stats auth USER:PASSWORD`` pairs (none: no authentication, which the
    balancer warns about at start); ``admin`` is the ``stats admin if COND`` condition that
    enables the drain/maint/ready buttons (``None``: read-only). ``refresh`` is the
    ``stats refresh`` period in seconds.
    """

    uri: str = "/haproxy?stats"  # include/haproxy/defaults.h STATS_DEFAULT_URI
    realm: str = "HAProxy Statistics"  # STATS_DEFAULT_REALM
    users: tuple[tuple[str, str], ...] = ()
    refresh: float | None = None
    admin: Condition | None = None
    hide_version: bool = False
    show_node: str | None = None  # stats show-node [NAME]: "" means the global node name
    show_legends: bool = False
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
    """The ``[global]`` section.

    ``state_dir`` is where stack keeps what must survive a restart (the ``certificate = auto``
    CA and leaf); ``dh_param`` is HAProxy's ``tune.ssl.default-dh-param``, accepted and checked
    but without effect: the Mozilla profiles the edge offers have no DHE cipher suites.
    """

    maxconn: int = 4096
    logs: tuple[LogTarget, ...] = ()
    node: str = ""
    spread_checks: int = 0  # percent of random jitter on check intervals
    limits: Limits = field(default_factory=Limits)
    state_dir: str = "/var/lib/stack"
    dh_param: int = 2048
    stats_sockets: tuple[StatsSocket, ...] = ()
    localpeer: str = ""  # the local peer's name in every [peers] section (HAProxy: hostname)
    workers: int = 1  # processes sharing the listeners (stack's nbproc)
    hard_stop_after: float = 30.0  # seconds requests in flight get at a stop or a reload


@dataclass(frozen=True, slots=True)
class StatsSocket:
    """``stats socket PATH [mode OCTAL] [level user|operator|admin]``: HAProxy's runtime API
    on a unix socket. ``level`` bounds what commands sent on it may do."""

    path: str
    mode: int | None = None  # file mode of the socket; None: the umask's
    level: str = "operator"  # HAProxy 2.6's default (src/cli.c)
    origin: Origin | None = None


# --- the HTTPS edge (Apache's role) ---------------------------------------------------------------


class TlsProfile(Enum):
    """Mozilla Server Side TLS configurations the edge offers (guideline 6.0)."""

    INTERMEDIATE = "intermediate"  # TLS 1.2 + 1.3, ECDHE AEAD suites
    MODERN = "modern"  # TLS 1.3 only


@dataclass(frozen=True, slots=True)
class EdgeCertificate:
    """``certificate = FILE [key FILE] [chain FILE]``: Apache's SSLCertificateFile,
    SSLCertificateKeyFile and SSLCertificateChainFile on one line. The names it serves come
    from the certificate itself (its subjectAltNames), as with HAProxy's ``crt``."""

    cert: str
    key: str | None = None
    chain: str | None = None
    origin: Origin | None = None


@dataclass(frozen=True, slots=True)
class ProxyPass:
    """``proxy-pass = PREFIX TARGET``: requests whose path starts with ``prefix`` go to a
    ``[frontend]`` of the same file (``frontend``; in memory when both tiers run in one
    process, else to its first ``bind``) or to an ``http://`` URL (Apache's ProxyPass: the
    prefix is replaced by the URL's path). ``host``/``port``/``path`` are where the request
    goes on the network, and what ProxyPassReverse maps back."""

    prefix: str
    frontend: str | None
    host: str
    port: int
    path: str
    origin: Origin | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}{self.path}"


@dataclass(frozen=True, slots=True)
class EdgeCache:
    """The edge's HTTP cache: mod_cache + mod_cache_disk + htcacheclean in one.

    ``prefixes`` are CacheEnable's URL spaces and ``disabled`` CacheDisable's; durations are
    seconds. ``directory`` is CacheRoot (``state-dir/cache/EDGE`` unless written), ``size``
    the limit htcacheclean's ``-l`` would keep, cleaned every ``clean_interval``. Bodies up to
    ``max_object`` bytes are stored, and kept in memory as well while ``memory`` allows.
    ``name`` identifies this cache in ``Cache-Status`` (RFC 9211) and is the device token
    ``Surrogate-Control`` directives may target.
    """

    prefixes: tuple[str, ...] = ("/",)
    disabled: tuple[str, ...] = ()
    directory: str = ""
    size: int = 300 << 20
    clean_interval: float = 120.0
    max_object: int = 1_000_000
    memory: int = 64 << 20
    default_expire: float = 3600.0
    max_expire: float = 86400.0
    min_expire: float = 0.0
    last_modified_factor: float = 0.1
    ignore_no_last_mod: bool = False
    ignore_cache_control: bool = False
    ignore_query_string: bool = False
    ignore_headers: tuple[str, ...] = ()  # lowercase names never stored
    stale_on_error: bool = True
    lock: bool = True
    lock_max_age: float = 5.0
    lock_max_waiters: int = 1024
    name: str = "stack"


@dataclass(frozen=True, slots=True)
class Edge:
    """An ``[edge NAME]`` section: one HTTPS virtual host and its port-80 twin.

    Keys are Apache's directives in stack's spelling (docs/edge.md has the table):
    ``binds`` take TLS, ``redirect_binds`` answer plain HTTP with a redirect to
    ``https://NAME[:https_port]``; ``certificates`` empty means ``certificate = auto``.
    """

    name: str
    binds: tuple[Endpoint, ...]
    redirect_binds: tuple[Endpoint, ...] = ()
    server_name: str = "localhost"
    server_aliases: tuple[str, ...] = ()
    https_port: int = 443
    redirect_code: int = 301
    slash_redirects: tuple[str, ...] = ()
    certificates: tuple[EdgeCertificate, ...] = ()
    tls_profile: TlsProfile = TlsProfile.INTERMEDIATE
    session_cache: bool = True
    session_tickets: bool = True
    hsts: str | None = None
    proxy_pass: tuple[ProxyPass, ...] = ()
    proxy_pass_reverse: tuple[tuple[str, str], ...] = ()  # (public prefix, internal URL)
    cookie_paths: tuple[tuple[str, str], ...] = ()  # (internal, public)
    cookie_domains: tuple[tuple[str, str], ...] = ()  # (internal, public)
    preserve_host: bool = False
    forwarded: bool = True
    trusted_proxies: tuple[str, ...] = ()
    via: bool = False
    access_log: str | None = None
    access_log_tls: bool = False
    error_log: str | None = None
    log_level: str = "warn"
    timeouts: Timeouts = field(default_factory=Timeouts)
    maxconn: int = 0
    cache: EdgeCache | None = None
    origin: Origin | None = None

    @property
    def names(self) -> tuple[str, ...]:
        """ServerName then ServerAlias: the names redirects may point to."""
        return (self.server_name, *self.server_aliases)


@dataclass(frozen=True, slots=True)
class DemoServer:
    """A built-in demo origin (``[demo NAME]``): ``app`` is ``site`` or ``films``."""

    name: str
    app: str
    bind: Endpoint
    origin: Origin | None = None


# --- the VRRP announcer (keepalived's role) -------------------------------------------------------

IpAddress = IPv4Address | IPv6Address


@dataclass(frozen=True, slots=True)
class VirtualAddress:
    """One line of ``virtual_ipaddress``: ``ADDRESS[/LEN] [dev IFNAME] [label LABEL]``.

    ``dev`` ``None`` means the instance's ``interface``. The prefix length defaults to 32
    (128 for IPv6), as in keepalived.
    """

    interface: IPv4Interface | IPv6Interface
    dev: str | None = None
    label: str | None = None
    origin: Origin | None = None

    @property
    def address(self) -> IpAddress:
        return self.interface.ip


@dataclass(frozen=True, slots=True)
class VrrpScript:
    """A ``[vrrp_script NAME]`` section: keepalived's ``vrrp_script`` block.

    Either ``command`` (``script = ...``, split like a shell line, run without a shell) or
    ``check`` (stack's built-in check of its own tiers, ``check = edge balancer``: every
    listening address of those tiers accepts a connection). Exit status 0 is success.
    ``timeout`` ``None`` means ``interval``; ``weight`` 0 means a failure puts the tracking
    instances in FAULT, otherwise it is added to their priority (keepalived's rules).
    """

    name: str
    command: tuple[str, ...] = ()
    check: tuple[str, ...] = ()
    interval: float = 1.0
    timeout: float | None = None
    weight: int = 0
    rise: int = 1
    fall: int = 1
    user: str | None = None
    init_fail: bool = False
    origin: Origin | None = None


@dataclass(frozen=True, slots=True)
class TrackScript:
    """One line of an instance's ``track_script``: ``NAME [weight N]`` (``None``: the
    script's own weight)."""

    name: str
    weight: int | None = None
    origin: Origin | None = None


@dataclass(frozen=True, slots=True)
class TrackInterface:
    """One line of ``track_interface``: ``IFNAME [weight N] [reverse]``. Weight 0: the
    interface going down means FAULT."""

    name: str
    weight: int = 0
    reverse: bool = False
    origin: Origin | None = None


@dataclass(frozen=True, slots=True)
class UnicastPeer:
    """One line of ``unicast_peer``: ``ADDRESS [min_ttl N] [max_ttl N]``."""

    address: IpAddress
    min_ttl: int = 0
    max_ttl: int = 255
    origin: Origin | None = None


@dataclass(frozen=True, slots=True)
class VrrpInstance:
    """A ``[vrrp_instance NAME]`` section: keepalived's ``vrrp_instance`` block.

    Keys are keepalived's keywords, spelled as in keepalived.conf (docs/vrrp.md). Durations
    are seconds except ``advert_int``, kept in centiseconds (VRRPv3's unit; a v2 interval is
    a whole number of seconds). ``garp_lower_prio_*`` are already resolved to the
    ``garp_master_*`` values when not written. ``notify*`` are argument vectors.
    """

    name: str
    interface: str
    vrid: int
    priority: int = 100
    advert_int: int = 100
    version: int = 2
    state: str = "BACKUP"
    addresses: tuple[VirtualAddress, ...] = ()
    excluded_addresses: tuple[VirtualAddress, ...] = ()
    nopreempt: bool = False
    preempt_delay: float = 0.0
    garp_master_delay: float = 5.0
    garp_master_repeat: int = 5
    garp_master_refresh: float = 0.0
    garp_master_refresh_repeat: int = 1
    garp_lower_prio_delay: float = 5.0
    garp_lower_prio_repeat: int = 5
    lower_prio_no_advert: bool = False
    higher_prio_send_advert: bool = True
    down_timer_adverts: int = 3
    checksum_as_v2: bool = False
    auth_pass: bytes | None = None
    unicast_src_ip: IpAddress | None = None
    unicast_peers: tuple[UnicastPeer, ...] = ()
    mcast_src_ip: IpAddress | None = None
    track_scripts: tuple[TrackScript, ...] = ()
    track_interfaces: tuple[TrackInterface, ...] = ()
    dont_track_primary: bool = False
    notify_master: tuple[str, ...] = ()
    notify_backup: tuple[str, ...] = ()
    notify_fault: tuple[str, ...] = ()
    notify_stop: tuple[str, ...] = ()
    notify: tuple[str, ...] = ()
    origin: Origin | None = None

    @property
    def family(self) -> int:
        """4 or 6: the family of the addresses carried in adverts."""
        return self.addresses[0].interface.version if self.addresses else 4


# --- stick-table replication (HAProxy's peers) ------------------------------------------------


@dataclass(frozen=True, slots=True)
class Peer:
    """``peer NAME ADDRESS:PORT`` of a ``peers`` section. The local peer's address is where
    this process listens for the others; the remote ones are where it connects."""

    name: str
    address: Endpoint
    origin: Origin | None = None


@dataclass(frozen=True, slots=True)
class PeersSection:
    """A ``[peers NAME]`` section: the nodes that replicate the stick tables declaring
    ``peers NAME``. ``local`` is the name of this node's own peer line (``localpeer`` in
    ``[global]``, else the host name, as HAProxy chooses it)."""

    name: str
    peers: tuple[Peer, ...]
    local: str
    origin: Origin | None = None

    @property
    def local_peer(self) -> Peer:
        for peer in self.peers:
            if peer.name == self.local:
                return peer
        raise KeyError(self.local)

    @property
    def remote_peers(self) -> tuple[Peer, ...]:
        return tuple(p for p in self.peers if p.name != self.local)


@dataclass(frozen=True, slots=True)
class StackConfig:
    """The whole validated configuration."""

    path: str
    global_: Global
    frontends: tuple[Frontend, ...]
    backends: tuple[Backend, ...]
    demos: tuple[DemoServer, ...] = ()
    edges: tuple[Edge, ...] = ()
    vrrp_instances: tuple[VrrpInstance, ...] = ()
    vrrp_scripts: tuple[VrrpScript, ...] = ()
    peers: tuple[PeersSection, ...] = ()

    @property
    def tiers(self) -> tuple[str, ...]:
        """The tiers this file describes, in start order."""
        found = []
        if self.demos:
            found.append("demo")
        if self.frontends:
            found.append("balancer")
        if self.edges:
            found.append("edge")
        if self.vrrp_instances:
            found.append("vrrp")  # last: the address moves here only once the tiers serve
        return tuple(found)

    def frontend(self, name: str) -> Frontend:
        for frontend in self.frontends:
            if frontend.name == name:
                return frontend
        raise KeyError(name)

    def backend(self, name: str) -> Backend:
        for backend in self.backends:
            if backend.name == name:
                return backend
        raise KeyError(name)
