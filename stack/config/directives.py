"""Which HAProxy directives stack reads, where, and what it says about the ones it does not.

An INI key is the HAProxy directive, plus the name for directives that name a thing
(``server s1``, ``acl want_app1``, ``use_backend app1``, ``errorfile 503``); the value is the
rest of the HAProxy line. The tables below drive both the loader and the error messages, so an
operator pasting a haproxy.cfg line learns exactly what to change: a legacy directive gets the
message HAProxy 2.6 prints, a feature planned for a later release says "not supported yet",
and a plain typo gets a "did you mean" suggestion.
"""

from __future__ import annotations

from dataclasses import dataclass

GLOBAL = "global"
DEFAULTS = "defaults"
FRONTEND = "frontend"
BACKEND = "backend"
LISTEN = "listen"
DEMO = "demo"
EDGE = "edge"
VRRP_INSTANCE = "vrrp_instance"
VRRP_SCRIPT = "vrrp_script"
PEERS = "peers"

SECTION_KINDS = (
    GLOBAL,
    DEFAULTS,
    FRONTEND,
    BACKEND,
    LISTEN,
    EDGE,
    DEMO,
    VRRP_INSTANCE,
    VRRP_SCRIPT,
    PEERS,
)
PROXY_KINDS = (FRONTEND, BACKEND, LISTEN)
SECTIONS_NOT_YET = ("stats",)
# keepalived.conf blocks other than vrrp_instance and vrrp_script, with what to do instead.
KEEPALIVED_SECTIONS: dict[str, str] = {
    "vrrp_sync_group": "is not supported yet (each vrrp_instance changes state on its own)",
    "vrrp_track_process": (
        "is not supported yet: use a [vrrp_script], such as 'script = pidof NAME'"
    ),
    "track_file": "is not supported yet: use a [vrrp_script]",
    "vrrp_track_file": "is not supported yet: use a [vrrp_script]",
    "global_defs": (
        "holds keepalived's global settings, which have no section here: vrrp_version is "
        "each [vrrp_instance]'s 'version'"
    ),
    "virtual_server": (
        "is not supported by stack (keepalived's LVS): a [backend] balances HTTP instead"
    ),
    "virtual_server_group": (
        "is not supported by stack (keepalived's LVS): a [backend] balances HTTP instead"
    ),
}
# HAProxy (and keepalived) section types stack has no plan for.
SECTIONS_UNSUPPORTED = (
    "userlist",
    "resolvers",
    "mailers",
    "program",
    "http-errors",
    "cache",
    "ring",
    "log-forward",
    "fcgi-app",
)


@dataclass(frozen=True)
class Directive:
    """One supported directive.

    ``named`` says what the word after the directive in the key is (``None``: no name);
    ``multi`` directives take one occurrence per line of a multi-line value; ``switch``
    directives are ``option X`` lines that take on/off and mean "on" when written bare.
    """

    name: str
    sections: frozenset[str]
    named: str | None = None
    multi: bool = False
    switch: bool = False


def _d(
    name: str,
    sections: str,
    *,
    named: str | None = None,
    multi: bool = False,
    switch: bool = False,
) -> Directive:
    return Directive(name, frozenset(sections.split()), named, multi, switch)


_FE = "defaults frontend listen"
_BE = "defaults backend listen"
_ANY_PROXY = "defaults frontend backend listen"
_STATS = "frontend backend listen"

DIRECTIVES: dict[str, Directive] = {
    d.name: d
    for d in (
        _d("maxconn", "global " + _FE),
        _d("log", "global " + _ANY_PROXY, multi=True),
        _d("node", "global"),
        _d("tune.bufsize", "global"),
        _d("tune.http.maxhdr", "global"),
        _d("tune.http.uri-max", "global"),
        _d("tune.ssl.default-dh-param", "global"),
        _d("state-dir", "global"),
        _d("stats socket", "global", multi=True),
        _d("localpeer", "global"),
        _d("workers", "global"),
        _d("hard-stop-after", "global"),
        _d("mode", _ANY_PROXY),
        _d("retries", _BE),
        _d("balance", _BE),
        _d("timeout connect", _BE),
        _d("timeout server", _BE),
        _d("timeout queue", _BE),
        _d("timeout client", _FE),
        _d("timeout http-request", _FE),
        _d("timeout http-keep-alive", _FE),
        _d("timeout client-fin", _FE),
        _d("option redispatch", _BE, switch=True),
        _d("option forwardfor", _ANY_PROXY),
        _d("option http-keep-alive", _ANY_PROXY, switch=True),
        _d("option http-server-close", _ANY_PROXY, switch=True),
        _d("option httpclose", _ANY_PROXY, switch=True),
        _d("option httplog", _FE, switch=True),
        _d("option dontlognull", _FE, switch=True),
        _d("option persist", _BE, switch=True),
        _d("option allbackups", _BE, switch=True),
        _d("option log-health-checks", _BE, switch=True),
        _d("option httpchk", _BE),
        _d("http-check send", _BE),
        _d("http-check expect", _BE),
        _d("timeout check", _BE),
        _d("cookie", _BE),
        _d("appsession", "backend listen"),
        _d("default-server", _BE, multi=True),
        _d("stick-table", "backend listen"),
        _d("stick on", "backend listen", multi=True),
        _d("stick match", "backend listen", multi=True),
        _d("stick store-request", "backend listen", multi=True),
        _d("stick store-response", "backend listen", multi=True),
        _d("redirect", "frontend backend listen", multi=True),
        _d("spread-checks", "global"),
        _d("errorfile", _ANY_PROXY, named="status code"),
        _d("bind", "frontend listen", multi=True),
        _d("acl", "frontend backend listen", named="ACL name", multi=True),
        _d("use_backend", "frontend listen", named="backend name", multi=True),
        _d("default_backend", "frontend listen"),
        _d("server", "backend listen", named="server name"),
        _d("http-request", "frontend backend listen", multi=True),
        _d("http-response", "frontend backend listen", multi=True),
        _d("stats enable", _STATS, switch=True),
        _d("stats uri", _STATS),
        _d("stats realm", _STATS),
        _d("stats auth", _STATS, multi=True),
        _d("stats refresh", _STATS),
        _d("stats admin", _STATS),
        _d("stats hide-version", _STATS, switch=True),
        _d("stats show-legends", _STATS, switch=True),
        _d("stats show-node", _STATS),
    )
}
# The stats lines other than 'stats socket': they make a proxy serve the statistics page.
STATS_PAGE = tuple(
    name for name in DIRECTIVES if name.startswith("stats ") and name != "stats socket"
)

# [demo NAME] sections configure stack's built-in origins, not HAProxy proxies.
DEMO_KEYS = ("app", "bind")
DEMO_APPS = ("site", "films")

# Global directives that twistd's own options replace.
TWISTD: dict[str, str] = {
    "daemon": "'daemon' is handled by twistd: run twistd without -n to daemonize",
    "user": "'user' is handled by twistd: use twistd --uid",
    "uid": "'uid' is handled by twistd: use twistd --uid",
    "group": "'group' is handled by twistd: use twistd --gid",
    "gid": "'gid' is handled by twistd: use twistd --gid",
    "pidfile": "'pidfile' is handled by twistd: use twistd --pidfile",
    "chroot": "'chroot' is handled by twistd: use twistd --chroot",
    "nbproc": "'nbproc' is written 'workers' in stack: 'workers = N' processes share the listeners",
    "nbthread": (
        "'nbthread' is not supported: stack runs one reactor per process; 'workers = N' runs "
        "N processes sharing the listeners"
    ),
    "debug": "'debug' is handled by twistd: use twistd -n to stay in the foreground",
}

_TIMEOUT_HINT = (
    "The '{kw}' directive is not supported anymore since HAProxy 2.1. Use '{new}' instead."
)
_REMOVED_21 = "The '{kw}' directive is not supported anymore since HAProxy 2.1."

# Directives HAProxy removed, with the hint HAProxy 2.x prints (src/cfgparse-listen.c).
_REMOVED_HINTS: dict[str, str | None] = {
    "block": "Use 'http-request deny' which uses the exact same syntax.",
    "cliexp": "Use 'http-request replace-path', 'http-request replace-uri' or "
    "'http-request replace-header' instead.",
    "redisp": "Use 'option redispatch'.",
    "redispatch": "Use 'option redispatch'.",
    "reqadd": "Use 'http-request add-header' instead.",
    "reqallow": "Use 'http-request allow' instead.",
    "reqdel": "Use 'http-request del-header' instead.",
    "reqdeny": "Use 'http-request deny' instead.",
    "reqiallow": "Use 'http-request allow' instead.",
    "reqidel": "Use 'http-request del-header' instead.",
    "reqideny": "Use 'http-request deny' instead.",
    "reqipass": None,
    "reqirep": "Use 'http-request replace-header' instead.",
    "reqitarpit": "Use 'http-request tarpit' instead.",
    "reqpass": None,
    "reqrep": "Use 'http-request replace-path', 'http-request replace-uri' or "
    "'http-request replace-header' instead.",
    "reqtarpit": "Use 'http-request tarpit' instead.",
    "rspadd": "Use 'http-response add-header' instead.",
    "rspdel": "Use 'http-response del-header' instead.",
    "rspdeny": "Use 'http-response deny' instead.",
    "rspidel": "Use 'http-response del-header' instead.",
    "rspideny": "Use 'http-response deny' instead.",
    "rspirep": "Use 'http-response replace-header' instead.",
    "rsprep": "Use 'http-response replace-header' instead.",
    "srvexp": "Use 'http-response replace-header' instead.",
}

LEGACY: dict[str, str] = {
    "contimeout": _TIMEOUT_HINT.format(kw="contimeout", new="timeout connect"),
    "clitimeout": _TIMEOUT_HINT.format(kw="clitimeout", new="timeout client"),
    "srvtimeout": _TIMEOUT_HINT.format(kw="srvtimeout", new="timeout server"),
    **{
        kw: _REMOVED_21.format(kw=kw) + (f" {hint}" if hint else "")
        for kw, hint in _REMOVED_HINTS.items()
    },
}

# Features that later releases of stack bring: "not supported yet", never "unknown".
NOT_YET = (
    "http-check",  # connect, comment, disable-on-404, send-state, set-var ...
    "stats",
    "monitor-uri",
    "ssl-default-bind-ciphers",
    "ssl-default-bind-options",
    "ssl-default-server-options",
    "ca-base",
    "crt-base",
)

# HAProxy directives stack does not implement, with the reason when there is one to give.
UNSUPPORTED: dict[str, str] = {
    "option nolinger": "",
    "option logasap": "",
    "option log-separate-errors": "",
    "option socket-stats": "",
    "option tcplog": "stack is an HTTP proxy",
    "option http-buffer-request": "",
    "option abortonclose": "",
    "option checkcache": "",
    "option http-pretend-keepalive": "",
    "option splice-auto": "",
    "timeout tunnel": "",
    "timeout tarpit": "",
    "timeout server-fin": "",
    "fullconn": "",
    "backlog": "",
    "hash-type": "the hash-based algorithms use HAProxy's default map-based sdbm hashing",
    "http-reuse": "",
    "capture": "",
    "tcp-request": "stack is an HTTP proxy",
    "tcp-response": "stack is an HTTP proxy",
    "log-format": "the log line is HAProxy's 'option httplog' format",
    "unique-id-format": "",
    "unique-id-header": "",
    "compression": "",
    "description": "",
    "id": "",
    "disabled": "",
    "enabled": "",
    "bind-process": "",
    "ulimit-n": "",
    "quiet": "",
    "log-send-hostname": "",
    "log-tag": "",
}


def unsupported_message(directive: str) -> str:
    reason = UNSUPPORTED[directive]
    return f"'{directive}' is not supported by stack" + (f" ({reason})" if reason else "")
