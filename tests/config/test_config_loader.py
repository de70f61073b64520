"""The loader: the shipped config, inheritance, cross-checks, and every error path's location."""

from __future__ import annotations

import ipaddress
import os
import tempfile
import textwrap
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stack.config import ConfigError, load, summary
from stack.config.model import (
    Algorithm,
    Balance,
    ConnectionMode,
    Endpoint,
    ForwardFor,
    IntPattern,
    MatchMethod,
    Timeouts,
)

REPO = Path(__file__).resolve().parents[2]

# A valid file to add lines to: the smallest frontend + backend pair.
BASE = """\
[frontend f]
bind = 127.0.0.1:8000
default_backend = b

[backend b]
server s = 127.0.0.1:9000
"""


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Work in tmp_path so messages name the file 't.ini', as an operator would see it."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def write(text: str, name: str = "t.ini") -> str:
    Path(name).write_text(textwrap.dedent(text))
    return name


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load(write(text))
    assert str(info.value) == "\n".join(info.value.problems)
    return info.value.problems


# --- the shipped configuration -------------------------------------------------------------------


def test_etc_stack_ini_loads_as_written() -> None:
    path = str(REPO / "etc" / "stack.ini")
    cfg = load(path)
    assert cfg.path == path
    assert summary(cfg) == (
        f"Configuration file is valid: {path} (1 edge, 2 frontends, 3 backends, 4 servers, "
        "4 demo servers)"
    )
    assert cfg.tiers == ("demo", "balancer", "edge")
    # the statistics page on loopback, without auth, and the runtime API socket
    page = cfg.frontend("stats").stats
    assert page is not None and page.uri == "/stats" and page.users == ()
    (sock,) = cfg.global_.stats_sockets
    assert sock.path == str(REPO / "var" / "run" / "stack.sock") and sock.level == "admin"

    g = cfg.global_
    assert g.maxconn == 4096
    ((log),) = g.logs
    assert (log.stream, log.facility, log.level, log.origin.line) == (
        "stdout",
        "local0",
        "info",
        14,
    )
    assert (g.limits.max_request_line, g.limits.max_header_bytes, g.limits.max_headers) == (
        8192,
        16384,
        101,
    )

    web, stats = cfg.frontends
    assert (web.name, stats.name) == ("web", "stats")
    assert stats.binds == (Endpoint("127.0.0.1", 8082),)
    assert web.binds == (Endpoint("127.0.0.1", 8081),)
    assert web.forwardfor == ForwardFor()
    assert web.default_backend == "site"
    (is_fun,) = web.acls
    assert (is_fun.name, is_fun.fetch, is_fun.method, is_fun.patterns) == (
        "is_fun",
        "path",
        MatchMethod.BEG,
        (b"/fun",),
    )
    (rule,) = web.use_backends
    assert rule.backend == "films"
    assert rule.condition is not None
    assert rule.condition.text == "if is_fun"
    assert rule.condition.groups[0][0].acls == (is_fun,)
    assert str(rule.origin) == f"{path}:55: [frontend web] use_backend films"
    assert web.httplog and web.dontlognull
    assert web.logs == g.logs  # log = global
    assert web.maxconn == 0
    timeouts = Timeouts(
        connect=5.0,
        client=50.0,
        server=50.0,
        http_request=10.0,
        http_keep_alive=2.0,
        queue=30.0,
        client_fin=50.0,
    )
    assert web.timeouts == timeouts
    assert web.connection_mode is ConnectionMode.KEEP_ALIVE

    stats_backend, site, films = cfg.backends
    assert stats_backend.name == "stats" and stats_backend.servers == ()
    assert (site.name, site.balance, films.name, films.balance) == (
        "site",
        Balance(Algorithm.ROUNDROBIN),
        "films",
        Balance(Algorithm.SOURCE),
    )
    assert [(s.name, s.address, s.weight, s.maxconn) for s in site.servers] == [
        ("site1", Endpoint("127.0.0.1", 9101), 1, 64),
        ("site2", Endpoint("127.0.0.1", 9102), 1, 64),
    ]
    assert [(s.name, s.address, s.weight, s.maxconn) for s in films.servers] == [
        ("films1", Endpoint("127.0.0.1", 9103), 1, 64),
        ("films2", Endpoint("127.0.0.1", 9104), 1, 64),
    ]
    for backend in (site, films):
        assert backend.retries == 3
        assert backend.redispatch
        assert backend.timeouts == timeouts
        assert backend.forwardfor is None  # option forwardfor is the frontend's only
    assert cfg.backend("films") is films

    assert [(d.name, d.app, d.bind) for d in cfg.demos] == [
        ("site1", "site", Endpoint("127.0.0.1", 9101)),
        ("site2", "site", Endpoint("127.0.0.1", 9102)),
        ("films1", "films", Endpoint("127.0.0.1", 9103)),
        ("films2", "films", Endpoint("127.0.0.1", 9104)),
    ]


def test_summary_counts_and_plurals(in_tmp: Path) -> None:
    cfg = load(write(BASE))
    assert summary(cfg) == (
        "Configuration file is valid: t.ini (1 frontend, 1 backend, 1 server, 0 demo servers)"
    )
    cfg = load(write("[demo d]\napp = site\nbind = 127.0.0.1:9100\n"))
    assert summary(cfg).endswith("(0 frontends, 0 backends, 0 servers, 1 demo server)")


def test_config_error_is_an_exception_with_problem_lines(in_tmp: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load(write("[global]\nmaxconn = 0\nnbproc = 2\n"))
    err = info.value
    assert isinstance(err, Exception)
    assert err.problems == [
        "t.ini:2: [global] maxconn: maxconn must be between 1 and 2147483647, not 0",
        "t.ini:3: [global] nbproc: 'nbproc' is written 'workers' in stack: 'workers = N' "
        "processes share the listeners",
    ]
    assert str(err) == "\n".join(err.problems)


# --- every error names file:line, section and key ------------------------------------------------

CASES = [
    # file-level
    (
        "[global]\n",
        "t.ini: nothing to run: no [edge], [frontend], [listen], [demo] or [vrrp_instance] section",
    ),
    (
        "maxconn = 1\n",
        "t.ini:1: 'maxconn = 1' comes before any section header: the file must start with a "
        "section such as [global]",
    ),
    # section headers
    (
        "[frontend]\n",
        "t.ini:1: [frontend] a frontend section needs a name: [frontend NAME]",
    ),
    (
        "[backend a b]\n",
        "t.ini:1: [backend a b] a section name is one word: [backend a]",
    ),
    (
        "[listen admin_stats *:8000]\n",
        "t.ini:1: [listen admin_stats *:8000] the address goes in a key: write [listen "
        "admin_stats] and 'bind = *:8000'",
    ),
    (
        "[defaults web]\n",
        "t.ini:1: [defaults web] named defaults sections are not supported: write [defaults]",
    ),
    (
        "[global x]\n",
        "t.ini:1: [global x] [global] takes no name",
    ),
    (
        "[backend a/b]\n",
        "t.ini:1: [backend a/b] character '/' is not permitted in backend name 'a/b' (use "
        "letters, digits, '-', '_', '.' and ':')",
    ),
    (
        "[frontend f] x\nbind = :1\n",
        "t.ini:1: [frontend f] unexpected 'x' after the section header",
    ),
    (
        "[ ]\n",
        "t.ini:1: [] empty section header",
    ),
    (
        "[peers lb]\n",
        "t.ini:1: [peers lb] a peers section needs 'peer NAME = ADDRESS:PORT' lines, one per "
        "node (this one included)",
    ),
    (
        "[edge e]\n",
        "t.ini:1: [edge e] an edge needs 'bind = ADDRESS' (the HTTPS address it listens on)",
    ),
    (
        "[vrrp_instance v]\ninterface = eth0\nvirtual_router_id = 1\n",
        "t.ini:1: [vrrp_instance v] a vrrp_instance needs 'virtual_ipaddress =' with at least "
        "one address (the address that moves)",
    ),
    (
        "[vrrp_sync_group g]\n",
        "t.ini:1: [vrrp_sync_group g] keepalived's vrrp_sync_group is not supported yet (each "
        "vrrp_instance changes state on its own)",
    ),
    (
        "[stats s]\n",
        "t.ini:1: [stats s] section type 'stats' is not supported yet",
    ),
    (
        "[userlist u]\n",
        "t.ini:1: [userlist u] section type 'userlist' is not supported by stack",
    ),
    (
        "[DEFAULT]\n",
        "t.ini:1: [DEFAULT] unknown section type 'DEFAULT' (use global, defaults, edge, "
        "frontend, backend, listen, peers, demo, vrrp_instance or vrrp_script); did you mean "
        "'defaults'?",
    ),
    (
        "[fronted f]\n",
        "t.ini:1: [fronted f] unknown section type 'fronted' (use global, defaults, edge, "
        "frontend, backend, listen, peers, demo, vrrp_instance or vrrp_script); did you mean "
        "'frontend'?",
    ),
    # ini syntax
    (
        "[global]\n= 1\n",
        "t.ini:2: [global] '= 1' has no key before '='",
    ),
    (
        "[global]\n[backend\n",
        "t.ini:2: [global] [backend: this looks like a section header without its closing ']'",
    ),
    (
        "[global]\nmaxconn = 1\nmaxconn = 2\n",
        "t.ini:3: [global] maxconn: duplicate key (first at line 2)",
    ),
    (
        "[global]\n[global]\n",
        "t.ini:2: [global] duplicate section [global] (first at line 1)",
    ),
    (
        "[global]\nmaxconn = 1\n  2\n",
        "t.ini:3: [global] maxconn: 'maxconn' takes a single value; only bind, log, acl, "
        "use_backend, http-request, http-response, redirect, default-server, stats socket and the "
        "stick rules take one per line (unindent this line if it is a new key)",
    ),
    # [global]
    (
        "[global]\nmaxconn = 0\n",
        "t.ini:2: [global] maxconn: maxconn must be between 1 and 2147483647, not 0",
    ),
    (
        "[global]\nmaxconn = many\n",
        "t.ini:2: [global] maxconn: maxconn must be a whole number, not 'many'",
    ),
    (
        "[global]\nmaxconn\n",
        "t.ini:2: [global] maxconn: 'maxconn' needs a value: 'maxconn = ...'",
    ),
    (
        "[global]\nmaxconn =\n",
        "t.ini:2: [global] maxconn: 'maxconn' needs a value",
    ),
    (
        "[global]\nmaxconn = 1 2\n",
        "t.ini:2: [global] maxconn: 'maxconn' takes one value, not '1 2'",
    ),
    (
        '[global]\nnode = "lb 1\n',
        't.ini:2: [global] node: unterminated " quote',
    ),
    (
        "[global]\ntune.bufsize = 512\n",
        "t.ini:2: [global] tune.bufsize: tune.bufsize must be between 1024 and 2147483647, not 512",
    ),
    (
        "[global]\ntune.http.maxhdr = 0\n",
        "t.ini:2: [global] tune.http.maxhdr: tune.http.maxhdr must be between 1 and 32767, not 0",
    ),
    (
        "[global]\ntune.http.uri-max = 8\n",
        "t.ini:2: [global] tune.http.uri-max: tune.http.uri-max must be between 16 and "
        "2147483647, not 8",
    ),
    (
        "[global]\nlog = global\n",
        "t.ini:2: [global] log: 'log global' is for proxy sections; here give a target",
    ),
    (
        "[global]\nlog = 10.0.0.1:514\n",
        "t.ini:2: [global] log: log target '10.0.0.1:514' needs a facility such as local0",
    ),
    (
        "[global]\nlog =\n  stdout\n  stdout local9\n",
        "t.ini:4: [global] log: unknown syslog facility 'local9'; did you mean 'local7'?",
    ),
    (
        "[global]\ndaemon\n",
        "t.ini:2: [global] daemon: 'daemon' is handled by twistd: run twistd without -n to "
        "daemonize",
    ),
    (
        "[global]\nuser = haproxy\n",
        "t.ini:2: [global] user: 'user' is handled by twistd: use twistd --uid",
    ),
    (
        "[global]\ngroup = haproxy\n",
        "t.ini:2: [global] group: 'group' is handled by twistd: use twistd --gid",
    ),
    (
        "[global]\npidfile = /run/x.pid\n",
        "t.ini:2: [global] pidfile: 'pidfile' is handled by twistd: use twistd --pidfile",
    ),
    (
        "[global]\nchroot = /var/empty\n",
        "t.ini:2: [global] chroot: 'chroot' is handled by twistd: use twistd --chroot",
    ),
    (
        "[global]\nnbthread = 4\n",
        "t.ini:2: [global] nbthread: 'nbthread' is not supported: stack runs one reactor per "
        "process; 'workers = N' runs N processes sharing the listeners",
    ),
    (
        "[global]\nspread-checks = 51\n",
        "t.ini:2: [global] spread-checks: spread-checks must be between 0 and 50, not 51",
    ),
    (
        "[global]\nstats timeout = 30s\n",
        "t.ini:2: [global] stats timeout: 'stats timeout' is not supported yet",
    ),
    (
        "[global]\nssl-default-bind-ciphers = HIGH\n",
        "t.ini:2: [global] ssl-default-bind-ciphers: 'ssl-default-bind-ciphers' is not supported "
        "yet",
    ),
    (
        "[global]\ntimeout connect = 5s\n",
        "t.ini:2: [global] timeout connect: 'timeout connect' is not allowed in a global section "
        "(only in: defaults, backend, listen)",
    ),
    (
        "[global]\nmaxcon = 5\n",
        "t.ini:2: [global] maxcon: unknown key 'maxcon' in [global]; did you mean 'maxconn'?",
    ),
    # [defaults]
    (
        "[defaults]\nmode = tcp\n",
        "t.ini:2: [defaults] mode: mode tcp is not supported (stack is an HTTP proxy)",
    ),
    (
        "[defaults]\nmode = health\n",
        "t.ini:2: [defaults] mode: 'mode health' doesn't exist anymore. Please use 'http-request "
        "return status 200' instead.",
    ),
    (
        "[defaults]\nmode = udp\n",
        "t.ini:2: [defaults] mode: unknown proxy mode 'udp' (stack supports mode http)",
    ),
    (
        "[defaults]\nretries = -1\n",
        "t.ini:2: [defaults] retries: retries must be between 0 and 2147483647, not -1",
    ),
    (
        "[defaults]\ntimeout connect = 5x\n",
        "t.ini:2: [defaults] timeout connect: invalid duration '5x' (use a number with us, ms, s, "
        "m, h or d; a bare number is milliseconds)",
    ),
    (
        "[defaults]\ntimeout client = 30d\n",
        "t.ini:2: [defaults] timeout client: duration '30d' is too large (at most 2147483647ms, "
        "about 24.8 days)",
    ),
    (
        "[defaults]\ntimeout check = 5x\n",
        "t.ini:2: [defaults] timeout check: invalid duration '5x' (use a number with us, ms, s, "
        "m, h or d; a bare number is milliseconds)",
    ),
    (
        "[defaults]\ntimeout tunnel = 1h\n",
        "t.ini:2: [defaults] timeout tunnel: 'timeout tunnel' is not supported by stack",
    ),
    (
        "[defaults]\noption httpclose = maybe\n",
        "t.ini:2: [defaults] option httpclose: expected on or off (or yes/no, true/false, 1/0), "
        "not 'maybe'",
    ),
    (
        "[defaults]\noption httplog =\n",
        "t.ini:2: [defaults] option httplog: empty value: write 'on' or 'off'",
    ),
    (
        "[defaults]\noption forwardfor = except\n",
        "t.ini:2: [defaults] option forwardfor: 'except' needs a network such as 127.0.0.1 or "
        "10.0.0.0/8",
    ),
    (
        "[defaults]\noption httpclose\noption http-keep-alive\n",
        "t.ini:3: [defaults] option http-keep-alive: 'option http-keep-alive' conflicts with "
        "'option httpclose' (line 2): choose one",
    ),
    (
        "[defaults]\noption forwardfro = on\n",
        "t.ini:2: [defaults] option forwardfro: unknown key 'option forwardfro' in [defaults]; "
        "did you mean 'option forwardfor'?",
    ),
    (
        "[defaults]\noption nolinger\n",
        "t.ini:2: [defaults] option nolinger: 'option nolinger' is not supported by stack",
    ),
    (
        "[defaults]\noption httpchk = GET / HTTP/2\n",
        "t.ini:2: [defaults] option httpchk: unsupported check version 'HTTP/2' (use HTTP/1.0 or "
        "HTTP/1.1)",
    ),
    (
        "[defaults]\noption persist = sometimes\n",
        "t.ini:2: [defaults] option persist: expected on or off (or yes/no, true/false, 1/0), not "
        "'sometimes'",
    ),
    (
        "[defaults]\nbalance = random\n",
        "t.ini:2: [defaults] balance: balance algorithm 'random' is not supported (use "
        "roundrobin, static-rr, leastconn, first, source, uri)",
    ),
    (
        "[defaults]\nno option httpclose\n",
        "t.ini:2: [defaults] no option httpclose: HAProxy's 'no option httpclose' is written "
        "'option httpclose = off'",
    ),
    (
        "[defaults]\nacl a = path /\n",
        "t.ini:2: [defaults] acl a: 'acl' is not allowed in a defaults section (only in: "
        "frontend, backend, listen)",
    ),
    (
        "[defaults]\nerrorfile 999 = /dev/null\n",
        "t.ini:2: [defaults] errorfile 999: the errorfile status code must be between 100 and "
        "599, not 999",
    ),
    (
        "[defaults]\nerrorfile 418 = /dev/null\n",
        "t.ini:2: [defaults] errorfile 418: errorfile 418 is not an error stack generates (use "
        "200, 400, 401, 403, 404, 405, 407, 408, 410, 413, 414, 425, 429, 431, 500, 501, 502, "
        "503, 504)",
    ),
    (
        "[defaults]\nerrorfile = /dev/null\n",
        "t.ini:2: [defaults] errorfile: 'errorfile' needs a status code in the key: 'errorfile "
        "NAME = ...'",
    ),
    (
        "[defaults]\nerrorfile 503 = /no/such/file.http\n",
        "t.ini:2: [defaults] errorfile 503: cannot read '/no/such/file.http': No such file or "
        "directory",
    ),
    (
        "[defaults]\nerrorfile 503 = a b\n",
        "t.ini:2: [defaults] errorfile 503: 'errorfile' takes one value, not 'a b'",
    ),
    # legacy directives: HAProxy 2.6's messages
    (
        "[defaults]\ncontimeout = 5000\n",
        "t.ini:2: [defaults] contimeout: The 'contimeout' directive is not supported anymore "
        "since HAProxy 2.1. Use 'timeout connect' instead.",
    ),
    (
        "[defaults]\nclitimeout = 5000\n",
        "t.ini:2: [defaults] clitimeout: The 'clitimeout' directive is not supported anymore "
        "since HAProxy 2.1. Use 'timeout client' instead.",
    ),
    (
        "[defaults]\nsrvtimeout = 5000\n",
        "t.ini:2: [defaults] srvtimeout: The 'srvtimeout' directive is not supported anymore "
        "since HAProxy 2.1. Use 'timeout server' instead.",
    ),
    (
        "[backend b]\nreqrep = ^x y\n",
        "t.ini:2: [backend b] reqrep: The 'reqrep' directive is not supported anymore since "
        "HAProxy 2.1. Use 'http-request replace-path', 'http-request replace-uri' or "
        "'http-request replace-header' instead.",
    ),
    (
        "[backend b]\nreqadd = X-A:\\ 1\n",
        "t.ini:2: [backend b] reqadd: The 'reqadd' directive is not supported anymore since "
        "HAProxy 2.1. Use 'http-request add-header' instead.",
    ),
    (
        "[backend b]\nreqdel = ^X-A:\n",
        "t.ini:2: [backend b] reqdel: The 'reqdel' directive is not supported anymore since "
        "HAProxy 2.1. Use 'http-request del-header' instead.",
    ),
    (
        "[backend b]\nrsprep = ^x y\n",
        "t.ini:2: [backend b] rsprep: The 'rsprep' directive is not supported anymore since "
        "HAProxy 2.1. Use 'http-response replace-header' instead.",
    ),
    (
        "[backend b]\nrspirep = ^x y\n",
        "t.ini:2: [backend b] rspirep: The 'rspirep' directive is not supported anymore since "
        "HAProxy 2.1. Use 'http-response replace-header' instead.",
    ),
    (
        "[backend b]\nrspadd = X-A:\\ 1\n",
        "t.ini:2: [backend b] rspadd: The 'rspadd' directive is not supported anymore since "
        "HAProxy 2.1. Use 'http-response add-header' instead.",
    ),
    (
        "[backend b]\nrspdel = ^Server:\n",
        "t.ini:2: [backend b] rspdel: The 'rspdel' directive is not supported anymore since "
        "HAProxy 2.1. Use 'http-response del-header' instead.",
    ),
    (
        "[defaults]\nappsession = JSESSIONID len 52 timeout 3h\n",
        "t.ini:2: [defaults] appsession: 'appsession' is not allowed in a defaults section (only "
        "in: backend, listen)",
    ),
    (
        "[backend b]\ncookie SRVID = insert indirect nocache\n",
        "t.ini:2: [backend b] cookie SRVID: the cookie name is the first word of the value: write "
        "'cookie = SRVID insert indirect nocache'",
    ),
    (
        "[backend b]\ncookie SRVID insert indirect nocache\n",
        "t.ini:2: [backend b] cookie SRVID insert indirect nocache: missing '=': write 'cookie = "
        "SRVID insert indirect nocache' (the key is the directive, the value the rest of the "
        "HAProxy line)",
    ),
    (
        "[backend b]\nstick-table = type ip\n",
        "t.ini:2: [backend b] stick-table: stick-table: missing size (such as 'size 1m')",
    ),
    (
        "[backend b]\nstick on = src\n",
        "t.ini:2: [backend b] stick on: no stick-table in [backend b]: add 'stick-table = type ... "
        "size ...' here, or name another backend's with 'table NAME'",
    ),
    (
        "[backend b]\nstick store = src\n",
        "t.ini:2: [backend b] stick store: 'stick' is followed by 'on', 'match', 'store-request' "
        "or 'store-response' in the key, as in 'stick on = req.cook(JSESSIONID)' (HAProxy's "
        "'stick store' is 'stick store-request')",
    ),
    (
        "[frontend f]\nbind = :1\nstick-table = type ip size 1m\n",
        "t.ini:3: [frontend f] stick-table: 'stick-table' is not allowed in a frontend section "
        "(only in: backend, listen)",
    ),
    (
        "[backend b]\nhttp-check expect = status 200\n",
        "t.ini:2: [backend b] http-check expect: 'http-check expect' has no effect without 'option "
        "httpchk' (in this section or in [defaults]): the checks are plain connections",
    ),
    # later issues: "not supported yet"
    (
        "[backend b]\noption httpchk\nhttp-check disable-on-404\n",
        "t.ini:3: [backend b] http-check disable-on-404: 'http-check disable-on-404' is not "
        "supported yet",
    ),
    (
        "[listen l]\nbind = 127.0.0.1:8000\nstats scope = .\n",
        "t.ini:3: [listen l] stats scope: 'stats scope' is not supported yet",
    ),
    (
        "[backend b]\npeers = mypeers\n",
        "t.ini:2: [backend b] peers: 'peers' is an option of the stick-table line ('stick-table "
        "= type ip size 1m peers NAME'), with the nodes in a [peers NAME] section",
    ),
    (
        "[frontend f]\nbind = :1\nredirect = scheme https code 305\n",
        "t.ini:3: [frontend f] redirect: 'code': unsupported HTTP code '305' (must be one of 301, "
        "302, 303, 307 or 308)",
    ),
    (
        "[defaults]\nredirect = scheme https\n",
        "t.ini:2: [defaults] redirect: 'redirect' is not allowed in a defaults section (only in: "
        "frontend, backend, listen)",
    ),
    # frontend keys
    (
        "[frontend f]\n",
        "t.ini:1: [frontend f] no 'bind': a frontend needs at least one address to listen on "
        "(bind = host:port)",
    ),
    (
        "[frontend f]\nbind = *:443 ssl crt /etc/x.pem\n",
        "t.ini:2: [frontend f] bind: bind option 'ssl crt /etc/x.pem' is not supported yet",
    ),
    (
        "[frontend f]\nbind = :8000\n  localhost\n",
        "t.ini:3: [frontend f] bind: 'localhost' has no port (write host:port)",
    ),
    (
        "[frontend f]\nbind =\n  :8000\n  mode = http\n",
        "t.ini:4: [frontend f] bind: bind option '= http' is not supported yet (this indented "
        "line continues the value above; unindent it if it is a new key)",
    ),
    (
        "[frontend f]\nbind\n",
        "t.ini:2: [frontend f] bind: 'bind' needs a value",
    ),
    (
        "[frontend f]\nbind = :8000\nserver s = h:1\n",
        "t.ini:3: [frontend f] server s: 'server' is not allowed in a frontend section (only in: "
        "backend, listen)",
    ),
    (
        "[frontend f]\nbind = :8000\nbalance = roundrobin\n",
        "t.ini:3: [frontend f] balance: 'balance' is not allowed in a frontend section (only in: "
        "defaults, backend, listen)",
    ),
    (
        "[frontend f]\nbind = :8000\ntimeout server = 1s\n",
        "t.ini:3: [frontend f] timeout server: 'timeout server' is not allowed in a frontend "
        "section (only in: defaults, backend, listen)",
    ),
    (
        "[frontend f]\nbind = :8000\ntimout connect = 1s\n",
        "t.ini:3: [frontend f] timout connect: unknown key 'timout connect' in [frontend f]; did "
        "you mean 'timeout connect'?",
    ),
    (
        "[frontend f]\nbind = :8000\nuse-backend b = if TRUE\n",
        "t.ini:3: [frontend f] use-backend b: unknown key 'use-backend b' in [frontend f]; did "
        "you mean 'use_backend'?",
    ),
    (
        "[frontend f]\nbind = :8000\nfoo = bar\n",
        "t.ini:3: [frontend f] foo: unknown key 'foo' in [frontend f]",
    ),
    (
        "[frontend f]\nbind = :8000\n\n  zzz = 1\n",
        "t.ini:4: [frontend f] zzz: unknown key 'zzz' in [frontend f] (an indented line continues "
        "the value above it only when no blank or comment line comes in between)",
    ),
    (
        "[frontend f]\nbind = :8000\ndefault_backend = nope\n",
        "t.ini:3: [frontend f] default_backend: no backend named 'nope'",
    ),
    (
        "[frontend f]\nbind = :8000\ndefault_backend = a b\n",
        "t.ini:3: [frontend f] default_backend: 'default_backend' takes one value, not 'a b'",
    ),
    (
        "[frontend f]\nbind = :8000\nuse_backend nope = if TRUE\n",
        "t.ini:3: [frontend f] use_backend nope: no backend named 'nope'",
    ),
    (
        "[frontend f]\nbind = :8000\nuse_backend = if TRUE\n",
        "t.ini:3: [frontend f] use_backend: 'use_backend' needs a backend name in the key: "
        "'use_backend NAME = ...'",
    ),
    (
        "[frontend f]\nbind = :8000\nuse_backend %[path] = if TRUE\n",
        "t.ini:3: [frontend f] use_backend %[path]: dynamic backend names (%[...]) are not "
        "supported yet",
    ),
    (
        "[frontend f]\nbind = :8000\nuse_backend b = when TRUE\n[backend b]\n",
        "t.ini:3: [frontend f] use_backend b: expected 'if' or 'unless' before the condition, not "
        "'when'",
    ),
    (
        "[frontend f]\nbind = :8000\nuse_backend b = if nothere\n[backend b]\n",
        "t.ini:3: [frontend f] use_backend b: ACL 'nothere' is not defined in this section (nor "
        "predefined)",
    ),
    (
        "[frontend f]\nbind = :8000\nuse_backend b = if { nbsrv(gone) lt 1 }\n[backend b]\n",
        "t.ini:3: [frontend f] use_backend b: nbsrv(gone): no backend named 'gone'",
    ),
    (
        "[frontend f]\nbind = :8000\nacl down = nbsrv(bb) lt 1\n[backend b]\n",
        "t.ini:3: [frontend f] acl down: nbsrv(bb): no backend named 'bb'; did you mean 'b'?",
    ),
    (
        "[frontend f]\nbind = :8000\nacl a = path_beginning /x\n",
        "t.ini:3: [frontend f] acl a: unknown ACL criterion 'path_beginning'; did you mean "
        "'path_beg'?",
    ),
    (
        "[frontend f]\nbind = :8000\nacl a =\n  path_beg /a\n  path_reg ([\n",
        "t.ini:5: [frontend f] acl a: invalid regular expression '([': unterminated character set "
        "at position 1",
    ),
    (
        "[frontend f]\nbind = :8000\nacl a/b = path /\n",
        "t.ini:3: [frontend f] acl a/b: character '/' is not permitted in ACL name 'a/b' (use "
        "letters, digits, '-', '_', '.' and ':')",
    ),
    (
        "[frontend f]\nbind = :8000\nacl or = path /\n",
        "t.ini:3: [frontend f] acl or: 'or' cannot name an ACL: it separates groups in conditions",
    ),
    (
        "[frontend f]\nbind = :8000\noption redispatch = on\n",
        "t.ini:3: [frontend f] option redispatch: 'option redispatch' is not allowed in a "
        "frontend section (only in: defaults, backend, listen)",
    ),
    (
        "[frontend f]\nbind = :8000\noption httpclose = on\noption http-keep-alive = on\n",
        "t.ini:4: [frontend f] option http-keep-alive: 'option http-keep-alive' conflicts with "
        "'option httpclose' (line 3): choose one",
    ),
    (
        "[frontend f]\nbind = :8000\nhttp-request = set-header X %[foo]\n",
        "t.ini:3: [frontend f] http-request: unknown fetch 'foo' in %[foo] (stack knows: src, "
        "src_port, dst, dst_port, ssl_fc, ssl_fc_protocol, ssl_fc_cipher, path, method, "
        "req.hdr(NAME), hdr(NAME))",
    ),
    (
        "[frontend f]\nbind = :8000\nhttp-request =\n  set-header X 1\n  deny if TRUE\n",
        "t.ini:5: [frontend f] http-request: http-request action 'deny' is not supported yet",
    ),
    (
        "[frontend f]\nbind = :8000\nhttp-response = del-header Server if is_static\n",
        "t.ini:3: [frontend f] http-response: ACL 'is_static' is not defined in this section (nor "
        "predefined)",
    ),
    # backend keys
    (
        "[backend b]\nserver s1 = h:1\nserver  s1 = h:2\n",
        "t.ini:3: [backend b] server s1: duplicate server name 's1' (first at line 2)",
    ),
    (
        "[backend b]\nserver = h:1\n",
        "t.ini:2: [backend b] server: 'server' needs a server name in the key: 'server NAME = ...'",
    ),
    (
        "[backend b]\nserver s1\n",
        "t.ini:2: [backend b] server s1: 'server' needs a value: 'server s1 = ...'",
    ),
    (
        "[backend b]\nserver s! = h:1\n",
        "t.ini:2: [backend b] server s!: character '!' is not permitted in server name 's!' (use "
        "letters, digits, '-', '_', '.' and ':')",
    ),
    (
        "[backend b]\nserver s = 10.0.0.1:80 weight 257\n",
        "t.ini:2: [backend b] server s: weight must be between 0 and 256, not 257",
    ),
    (
        "[backend b]\nserver s = 10.0.0.1:80 maxconn -5\n",
        "t.ini:2: [backend b] server s: maxconn must be between 0 and 2147483647, not -5",
    ),
    (
        "[backend b]\nserver s = 10.0.0.1:80 check agent-check\n",
        "t.ini:2: [backend b] server s: server keyword 'agent-check' is not supported yet",
    ),
    (
        "[backend b]\nserver s = 10.0.0.1\n",
        "t.ini:2: [backend b] server s: '10.0.0.1' has no port (write host:port)",
    ),
    (
        "[backend b]\nbind = :80\n",
        "t.ini:2: [backend b] bind: 'bind' is not allowed in a backend section (only in: "
        "frontend, listen)",
    ),
    (
        "[backend b]\nuse_backend c = if TRUE\n",
        "t.ini:2: [backend b] use_backend c: 'use_backend' is not allowed in a backend section "
        "(only in: frontend, listen)",
    ),
    (
        "[backend b]\ndefault_backend = b\n",
        "t.ini:2: [backend b] default_backend: 'default_backend' is not allowed in a backend "
        "section (only in: frontend, listen)",
    ),
    (
        "[backend b]\noption httplog\n",
        "t.ini:2: [backend b] option httplog: 'option httplog' is not allowed in a backend "
        "section (only in: defaults, frontend, listen)",
    ),
    (
        "[backend b]\nmaxconn = 10\n",
        "t.ini:2: [backend b] maxconn: 'maxconn' is not allowed in a backend section (only in: "
        "global, defaults, frontend, listen)",
    ),
    (
        "[backend b]\nbalance = uri depth x\n",
        "t.ini:2: [backend b] balance: 'balance uri depth' must be a whole number, not 'x'",
    ),
    (
        "[backend b]\nhttp-request = set-header X 1 if is_x\nacl is_y = path /\n",
        "t.ini:2: [backend b] http-request: ACL 'is_x' is not defined in this section (nor "
        "predefined)",
    ),
    # demo
    (
        "[demo d]\napp = site\nbind = 127.0.0.1:9100\n  127.0.0.1:9101\n",
        "t.ini:4: [demo d] bind: 'bind' takes a single value (unindent this line if it is a new "
        "key)",
    ),
    (
        "[demo d]\napp = site\n",
        "t.ini:1: [demo d] bind: missing: a demo needs 'bind = ...'",
    ),
    (
        "[demo d]\napp = movies\nbind = 127.0.0.1:9100\n",
        "t.ini:2: [demo d] app: unknown demo app 'movies' (use site or films)",
    ),
    (
        "[demo d]\napp = site\nbind = 127.0.0.1:9100\nport = 1\n",
        "t.ini:4: [demo d] port: unknown key 'port' in [demo d]",
    ),
    (
        "[demo d]\napp = site\nbnd = 127.0.0.1:9100\n",
        "t.ini:3: [demo d] bnd: unknown key 'bnd' in [demo d]; did you mean 'bind'?",
    ),
    (
        "[demo d]\napp = site\nbind = 9100\n",
        "t.ini:3: [demo d] bind: '9100' has no host: write *:9100 or 127.0.0.1:9100",
    ),
    # pasted haproxy.cfg lines: the key is the directive, the value the rest
    (
        "[defaults]\ntimeout connect 5s\n",
        "t.ini:2: [defaults] timeout connect 5s: missing '=': write 'timeout connect = 5s' (the "
        "key is the directive, the value the rest of the HAProxy line)",
    ),
    (
        "[backend b]\nserver s1 10.0.0.1:80 weight 3\n",
        "t.ini:2: [backend b] server s1 10.0.0.1:80 weight 3: missing '=': write 'server s1 = "
        "10.0.0.1:80 weight 3' (the key is the directive, the value the rest of the HAProxy line)",
    ),
    (
        "[frontend f]\nbind = :1\nacl want_app1 path_dir app1\n",
        "t.ini:3: [frontend f] acl want_app1 path_dir app1: missing '=': write 'acl want_app1 = "
        "path_dir app1' (the key is the directive, the value the rest of the HAProxy line)",
    ),
    (
        "[frontend f]\nbind = :1\nuse_backend app1 if want_app1 app1_avail\n",
        "t.ini:3: [frontend f] use_backend app1 if want_app1 app1_avail: missing '=': write "
        "'use_backend app1 = if want_app1 app1_avail' (the key is the directive, the value the "
        "rest of the HAProxy line)",
    ),
    (
        "[defaults]\noption forwardfor except 127.0.0.1\n",
        "t.ini:2: [defaults] option forwardfor except 127.0.0.1: missing '=': write 'option "
        "forwardfor = except 127.0.0.1' (the key is the directive, the value the rest of the "
        "HAProxy line)",
    ),
    (
        "[defaults]\ntimeout connect x = 5s\n",
        "t.ini:2: [defaults] timeout connect x: unexpected 'x' in the key (did you mean 'timeout "
        "connect'?)",
    ),
]


@pytest.mark.parametrize(("text", "expected"), CASES, ids=[c[1][:70] for c in CASES])
def test_error_locations(in_tmp: Path, text: str, expected: str) -> None:
    found = problems(text)
    assert expected in found, "\n".join(found)


def test_all_problems_are_reported_in_file_order(in_tmp: Path) -> None:
    found = problems(
        """\
        [frontend web]
        bind = :8000
        default_backend = app9
        acl a = path_beg /a
        use_backend app1 = if a
          if b
        timeout connect = 5x

        [defaults]
        contimeout = 5000

        [backend app1]
        server s1 = 10.0.0.1:80 weight 300
        server s2 = 10.0.0.2 check
        """
    )
    assert found == [
        "t.ini:3: [frontend web] default_backend: no backend named 'app9'; did you mean 'app1'?",
        "t.ini:6: [frontend web] use_backend app1: ACL 'b' is not defined in this section "
        "(nor predefined)",
        "t.ini:7: [frontend web] timeout connect: 'timeout connect' is not allowed in a frontend "
        "section (only in: defaults, backend, listen)",
        "t.ini:10: [defaults] contimeout: The 'contimeout' directive is not supported anymore "
        "since HAProxy 2.1. Use 'timeout connect' instead.",
        "t.ini:13: [backend app1] server s1: weight must be between 0 and 256, not 300",
        "t.ini:14: [backend app1] server s2: '10.0.0.2' has no port (write host:port)",
    ]


def test_unreadable_files(in_tmp: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load("missing.ini")
    assert info.value.problems == [
        "missing.ini: cannot read the configuration file: No such file or directory"
    ]
    Path("latin1.ini").write_bytes(b"[global]\n# caf\xe9\n")
    with pytest.raises(ConfigError) as info:
        load("latin1.ini")
    assert info.value.problems == ["latin1.ini:2: the file is not valid UTF-8 text"]


def test_crlf_and_bom_are_accepted(in_tmp: Path) -> None:
    Path("t.ini").write_bytes(b"\xef\xbb\xbf" + BASE.replace("\n", "\r\n").encode())
    assert load("t.ini").frontends[0].binds == (Endpoint("127.0.0.1", 8000),)


def test_no_traceback_even_on_an_internal_error(
    in_tmp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from stack.config import loader

    def broken(*args: object) -> object:
        raise RuntimeError("boom")

    monkeypatch.setattr(loader, "parse_balance", broken)
    found = problems(BASE + "balance = roundrobin\n")
    assert found == [
        "t.ini: internal error while checking the configuration (RuntimeError: boom); "
        "please report it with this file"
    ]


# --- [defaults] and inheritance ------------------------------------------------------------------


def test_defaults_apply_wherever_they_are_written(in_tmp: Path) -> None:
    cfg = load(
        write(
            BASE
            + """
            [defaults]
            maxconn = 2000
            retries = 5
            balance = leastconn
            option redispatch
            option httplog = on
            timeout connect = 2s
            timeout server = 1m
            """
        )
    )
    (f,) = cfg.frontends
    (b,) = cfg.backends
    assert f.maxconn == 2000
    assert f.httplog
    assert (b.retries, b.balance, b.redispatch) == (5, Balance(Algorithm.LEASTCONN), True)
    assert (b.timeouts.connect, b.timeouts.server, b.timeouts.queue) == (2.0, 60.0, 2.0)


def test_a_sections_own_value_wins(in_tmp: Path) -> None:
    cfg = load(
        write(
            """
            [defaults]
            retries = 5
            balance = leastconn
            option redispatch = on
            option dontlognull = on
            maxconn = 2000
            timeout connect = 2s

            [frontend f]
            bind = :8000
            maxconn = 10
            option dontlognull = off
            default_backend = b

            [backend b]
            retries = 0
            balance = first
            option redispatch = no
            timeout connect = 100ms
            """
        )
    )
    (f,) = cfg.frontends
    (b,) = cfg.backends
    assert (f.maxconn, f.dontlognull) == (10, False)
    assert (b.retries, b.balance.algorithm, b.redispatch, b.timeouts.connect) == (
        0,
        Algorithm.FIRST,
        False,
        0.1,
    )


def test_builtin_defaults(in_tmp: Path) -> None:
    cfg = load(write(BASE))
    (f,) = cfg.frontends
    (b,) = cfg.backends
    assert cfg.global_.maxconn == 4096
    assert cfg.global_.logs == ()
    assert (f.maxconn, f.httplog, f.dontlognull, f.logs, f.forwardfor) == (
        0,
        False,
        False,
        (),
        None,
    )
    assert f.timeouts == Timeouts()
    assert (b.retries, b.balance, b.redispatch, b.forwardfor) == (3, Balance(), False, None)
    assert b.connection_mode is ConnectionMode.KEEP_ALIVE


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        ("timeout connect = 5s", Timeouts(connect=5.0, queue=5.0)),
        ("timeout connect = 5s\ntimeout queue = 30s", Timeouts(connect=5.0, queue=30.0)),
        ("timeout client = 50s", Timeouts(client=50.0, http_keep_alive=50.0, client_fin=50.0)),
        (
            "timeout client = 50s\ntimeout http-request = 10s",
            Timeouts(client=50.0, http_request=10.0, http_keep_alive=10.0, client_fin=50.0),
        ),
        (
            "timeout client = 50s\ntimeout http-request = 10s\ntimeout http-keep-alive = 2s",
            Timeouts(client=50.0, http_request=10.0, http_keep_alive=2.0, client_fin=50.0),
        ),
        (
            "timeout client = 50s\ntimeout client-fin = 1s",
            Timeouts(client=50.0, http_keep_alive=50.0, client_fin=1.0),
        ),
        ("timeout server = 0", Timeouts()),  # 0 means no timeout, as in HAProxy
        ("timeout connect = 1s\ntimeout queue = 0", Timeouts(connect=1.0, queue=1.0)),
        ("timeout http-keep-alive = 15", Timeouts(http_keep_alive=0.015)),
    ],
)
def test_timeout_fallbacks(in_tmp: Path, lines: str, expected: Timeouts) -> None:
    cfg = load(write("[defaults]\n" + lines + "\n" + BASE))
    assert cfg.frontends[0].timeouts == expected
    assert cfg.backends[0].timeouts == expected


def test_fallbacks_apply_after_inheritance(in_tmp: Path) -> None:
    cfg = load(
        write(
            "[defaults]\ntimeout connect = 5s\ntimeout queue = 30s\n"
            + BASE
            + "timeout connect = 1s\n"
        )
    )
    assert (cfg.backends[0].timeouts.connect, cfg.backends[0].timeouts.queue) == (1.0, 30.0)


def test_connection_modes(in_tmp: Path) -> None:
    cfg = load(
        write(
            """
            [defaults]
            option http-server-close

            [frontend f]
            bind = :8000
            default_backend = b

            [backend b]
            option httpclose = on

            [backend c]
            option http-server-close = off
            """
        )
    )
    (f,) = cfg.frontends
    b, c = cfg.backends
    assert f.connection_mode is ConnectionMode.SERVER_CLOSE  # inherited
    assert b.connection_mode is ConnectionMode.CLOSE  # own choice
    assert c.connection_mode is ConnectionMode.KEEP_ALIVE  # inherited one turned off


def test_forwardfor_is_stored_per_proxy(in_tmp: Path) -> None:
    cfg = load(
        write(
            """
            [frontend f]
            bind = :8000
            option forwardfor = except 127.0.0.0/8 if-none
            default_backend = b

            [backend b]
            option forwardfor = header X-Client-IP

            [backend c]
            """
        )
    )
    (f,) = cfg.frontends
    b, c = cfg.backends
    assert f.forwardfor == ForwardFor(
        b"x-forwarded-for", ipaddress.ip_network("127.0.0.0/8"), if_none=True
    )
    assert b.forwardfor == ForwardFor(b"x-client-ip")
    assert c.forwardfor is None


def test_forwardfor_inherited_and_turned_off(in_tmp: Path) -> None:
    cfg = load(write("[defaults]\noption forwardfor\n" + BASE + "option forwardfor = off\n"))
    assert cfg.frontends[0].forwardfor == ForwardFor()
    assert cfg.backends[0].forwardfor is None


def test_logs(in_tmp: Path) -> None:
    cfg = load(
        write(
            """
            [global]
            log =
              127.0.0.1:514 local0
              /dev/log local7 notice

            [defaults]
            log = global

            [frontend inherits]
            bind = :8000
            default_backend = b

            [frontend own]
            bind = :8001
            log =
              global
              stderr daemon err
            default_backend = b

            [backend b]
            log = stdout
            """
        )
    )
    g = cfg.global_.logs
    assert [(t.address, t.path, t.facility, t.level) for t in g] == [
        (Endpoint("127.0.0.1", 514), None, "local0", "info"),
        (None, "/dev/log", "local7", "notice"),
    ]
    inherits, own = cfg.frontends
    assert inherits.logs == g
    assert own.logs[:2] == g
    assert (own.logs[2].stream, own.logs[2].origin.line) == ("stderr", 18)
    assert [t.stream for t in cfg.backends[0].logs] == ["stdout"]


def test_global_tuning(in_tmp: Path) -> None:
    cfg = load(
        write(
            "[global]\nmaxconn = 100\nnode = lb1\ntune.bufsize = 32768\n"
            "tune.http.maxhdr = 64\ntune.http.uri-max = 2048\n" + BASE
        )
    )
    g = cfg.global_
    assert (g.maxconn, g.node) == (100, "lb1")
    assert (g.limits.max_header_bytes, g.limits.max_headers, g.limits.max_request_line) == (
        32768,
        64,
        2048,
    )


# --- routing ------------------------------------------------------------------------------------


def test_use_backend_rules_keep_file_order(in_tmp: Path) -> None:
    cfg = load(
        write(
            """\
            [frontend f]
            bind = :8000
            acl a = path_beg /a
            acl b = path_beg /b
            use_backend two = unless a
            use_backend one = if a
              if b !a
            use_backend three
            default_backend = three

            [backend one]
            [backend two]
            [backend three]
            """
        )
    )
    rules = cfg.frontends[0].use_backends
    assert [(r.backend, r.origin.line) for r in rules] == [
        ("two", 5),
        ("one", 6),
        ("one", 7),
        ("three", 8),
    ]
    texts = [r.condition.text if r.condition else None for r in rules]
    assert texts == ["unless a", "if a", "if b !a", None]
    assert [str(r.origin) for r in rules][:2] == [
        "t.ini:5: [frontend f] use_backend two",
        "t.ini:6: [frontend f] use_backend one",
    ]


def test_use_backend_order_interleaved_between_keys(in_tmp: Path) -> None:
    cfg = load(
        write(
            """
            [frontend f]
            bind = :8000
            use_backend one = if { path_beg /1 }
            use_backend two = if { path_beg /2 }
            use_backend three = if { path_beg /3 }
            [backend one]
            [backend two]
            [backend three]
            """
        )
    )
    assert [r.backend for r in cfg.frontends[0].use_backends] == ["one", "two", "three"]


def test_acl_lines_sharing_a_name(in_tmp: Path) -> None:
    cfg = load(
        write(
            """
            [frontend f]
            bind = :8000
            acl static =
              path_beg /static /img
              path_end .css
            use_backend b = if static
            [backend b]
            """
        )
    )
    f = cfg.frontends[0]
    assert [a.patterns for a in f.acls] == [(b"/static", b"/img"), (b".css",)]
    assert [a.origin.line for a in f.acls] == [5, 6]
    cond = f.use_backends[0].condition
    assert cond is not None
    assert cond.groups[0][0].acls == f.acls


def test_acl_scope_is_the_section(in_tmp: Path) -> None:
    found = problems(
        """
        [frontend f]
        bind = :8000
        use_backend b = if backend_acl
        [backend b]
        acl backend_acl = path /
        http-request = set-header X-Seen yes if backend_acl
        """
    )
    assert found == [
        "t.ini:4: [frontend f] use_backend b: ACL 'backend_acl' is not defined in this section "
        "(nor predefined)"
    ]


def test_header_rules(in_tmp: Path) -> None:
    cfg = load(
        write(
            r"""
            [frontend f]
            bind = :8000
            acl api = path_beg /api
            http-request =
              set-header X-Forwarded-Proto https if { ssl_fc }
              add-header X-Via "stack lb1" if api !LOCALHOST
            http-response = del-header Server
            default_backend = b

            [backend b]
            http-response = replace-header Location ^http://internal(.*) https://public\1
            """
        )
    )
    f = cfg.frontends[0]
    assert [(r.action, r.name, r.origin.line) for r in f.http_request] == [
        ("set-header", b"x-forwarded-proto", 6),
        ("add-header", b"x-via", 7),
    ]
    via = f.http_request[1]
    assert via.value is not None
    assert via.value.literal == b"stack lb1"
    assert via.condition is not None
    assert [[(t.negate, t.acls[0].name) for t in g] for g in via.condition.groups] == [
        [(False, "api"), (True, "LOCALHOST")]
    ]
    assert [(r.action, r.name) for r in f.http_response] == [("del-header", b"server")]
    (replace,) = cfg.backends[0].http_response
    assert replace.name == b"location"


def test_errorfiles(in_tmp: Path) -> None:
    Path("errors").mkdir()
    Path("errors/503.http").write_bytes(b"HTTP/1.1 503 Busy\r\nContent-Length: 0\r\n\r\n")
    Path("errors/400.http").write_bytes(b"HTTP/1.0 400 Bad\n\n")
    cfg = load(
        write(
            """
            [defaults]
            errorfile 503 = errors/503.http
            errorfile 400 = errors/400.http

            [frontend f]
            bind = :8000
            errorfile 400 = /dev/null
            default_backend = b

            [backend b]
            """
        )
    )
    f = cfg.frontends[0]
    b = cfg.backends[0]
    assert [(e.status, e.path, e.response) for e in f.errorfiles] == [
        (400, "/dev/null", b""),
        (503, "errors/503.http", b"HTTP/1.1 503 Busy\r\nContent-Length: 0\r\n\r\n"),
    ]
    assert [e.status for e in b.errorfiles] == [400, 503]
    assert b.errorfiles[0].response == b"HTTP/1.0 400 Bad\n\n"


def test_errorfile_paths_are_relative_to_the_config_file(in_tmp: Path) -> None:
    Path("conf/errors").mkdir(parents=True)
    Path("conf/errors/503.http").write_bytes(b"HTTP/1.1 503 X\r\n\r\n")
    write("[defaults]\nerrorfile 503 = errors/503.http\n" + BASE, "conf/t.ini")
    cfg = load("conf/t.ini")
    assert cfg.frontends[0].errorfiles[0].path == os.path.join("conf", "errors/503.http")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            b"<html>oops</html>",
            "is not a raw HTTP response: it must start with a status line such as "
            "'HTTP/1.1 503 Service Unavailable'",
        ),
        (b"HTTP/1.1 503 X\r\nContent-Length: 0\r\n", "has no empty line after its headers"),
        (b"HTTP/1.1 503 X\r\n\r\n" + b"x" * 20000, "is larger than tune.bufsize (16384 bytes)"),
    ],
)
def test_errorfile_content_errors(in_tmp: Path, content: bytes, message: str) -> None:
    Path("e.http").write_bytes(content)
    found = problems("[defaults]\nerrorfile 503 = e.http\n" + BASE)
    assert found == [f"t.ini:2: [defaults] errorfile 503: 'e.http' {message}"]


# --- listen ----------------------------------------------------------------------------------


def test_listen_is_a_frontend_and_a_backend(in_tmp: Path) -> None:
    cfg = load(
        write(
            """
            [listen app]
            bind = :8000
            balance = source
            acl internal = src 10.0.0.0/8
            http-request = set-header X-Internal 1 if internal
            option forwardfor
            server a = 127.0.0.1:9001
            server b = 127.0.0.1:9002 backup
            """
        )
    )
    (f,) = cfg.frontends
    (b,) = cfg.backends
    assert (f.name, b.name, f.default_backend) == ("app", "app", "app")
    assert f.binds == (Endpoint("", 8000),)
    assert [s.name for s in b.servers] == ["a", "b"]
    assert b.servers[1].backup
    assert b.balance.algorithm is Algorithm.SOURCE
    assert f.acls == b.acls
    assert f.forwardfor == b.forwardfor == ForwardFor()
    # its rules run once, as the backend half
    assert f.http_request == ()
    assert [r.name for r in b.http_request] == [b"x-internal"]


def test_listen_default_backend_may_be_explicit(in_tmp: Path) -> None:
    cfg = load(write("[listen l]\nbind = :8000\ndefault_backend = b\n[backend b]\n"))
    assert cfg.frontends[0].default_backend == "b"


def test_listen_name_conflicts(in_tmp: Path) -> None:
    found = problems("[listen x]\nbind = :8000\n[backend x]\n[frontend x]\nbind = :8001\n")
    assert found == [
        "t.ini:3: [backend x] [backend x] has the same name as [listen x] (line 1); a listen "
        "is both a frontend and a backend",
        "t.ini:4: [frontend x] [frontend x] has the same name as [listen x] (line 1); a listen "
        "is both a frontend and a backend",
    ]


def test_a_frontend_and_a_backend_may_share_a_name(in_tmp: Path) -> None:
    cfg = load(write("[frontend web]\nbind = :8000\ndefault_backend = web\n[backend web]\n"))
    assert cfg.frontends[0].default_backend == cfg.backends[0].name == "web"


def test_listen_without_bind(in_tmp: Path) -> None:
    found = problems("[listen l]\nserver s = h:1\n")
    assert found == [
        "t.ini:1: [listen l] no 'bind': a listen needs at least one address to listen on "
        "(bind = host:port)"
    ]


# --- binds ------------------------------------------------------------------------------------


def test_bind_conflicts(in_tmp: Path) -> None:
    found = problems(
        """
        [frontend a]
        bind = 127.0.0.1:8000,127.0.0.1:8001
        default_backend = b

        [frontend c]
        bind =
          127.0.0.1:8000
          *:8001
          [::1]:8002
        default_backend = b

        [backend b]

        [demo d]
        app = site
        bind = [::1]:8002
        """
    )
    assert found == [
        "t.ini:8: [frontend c] bind: 127.0.0.1:8000 is already bound by [frontend a] line 3 "
        "(127.0.0.1:8000)",
        "t.ini:9: [frontend c] bind: *:8001 is already bound by [frontend a] line 3 "
        "(127.0.0.1:8001)",
        "t.ini:17: [demo d] bind: [::1]:8002 is already bound by [frontend c] line 10 ([::1]:8002)",
    ]


def test_binds_on_different_ports_and_addresses(in_tmp: Path) -> None:
    cfg = load(
        write(
            "[frontend f]\nbind = 127.0.0.1:8000,127.0.0.2:8000,[::1]:8000\n"
            "default_backend = b\n[backend b]\n"
        )
    )
    assert len(cfg.frontends[0].binds) == 3


def test_unused_backends_are_fine(in_tmp: Path) -> None:
    cfg = load(write(BASE + "[backend spare]\nserver s = 10.0.0.9:80\n"))
    assert [b.name for b in cfg.backends] == ["b", "spare"]


def test_nbsrv_references(in_tmp: Path) -> None:
    cfg = load(
        write(
            """
            [frontend f]
            bind = :8000
            acl app1_avail = nbsrv(app1) ge 1
            use_backend app1 = if app1_avail
            use_backend spare = if { nbsrv(app1) lt 1 }
            [backend app1]
            [backend spare]
            """
        )
    )
    avail = cfg.frontends[0].acls[0]
    assert (avail.fetch, avail.fetch_arg, avail.patterns) == (
        "nbsrv",
        "app1",
        (IntPattern("ge", 1),),
    )


# --- robustness: whatever the file says, the operator gets problem lines, never a traceback -------

_SECTIONS = ["[global]", "[defaults]", "[frontend f]", "[backend b]", "[listen l]", "[demo d]"]
_KEYS = [
    "maxconn",
    "log",
    "timeout connect",
    "option forwardfor",
    "option httpclose",
    "balance",
    "bind",
    "acl a",
    "use_backend b",
    "default_backend",
    "server s1",
    "http-request",
    "errorfile 503",
    "app",
    "contimeout",
    "cookie C",
    "cookie",
    "appsession",
    "stick-table",
    "stick on",
    "stick store-response",
    "default-server",
    "redirect",
    "option httpchk",
    "http-check send",
    "http-check expect",
    "bogus",
]
_TOKENS = [
    *("127.0.0.1:80", ":80", "[::1]:82", "if", "unless", "a", "!a", "{", "}", "||", "path_beg"),
    *("/x", "nbsrv(b)", "ge", "1", "-i", "-m", "([", "src", "ssl_fc", "set-header", "X-A"),
    *("%[src]", "%", "weight", "300", "roundrobin", "uri", "len", "stdout", "local0", "global"),
    *("/dev/null", "5s", "on", "except", '"q q"', "'x", "\\", "site", "TRUE", "--", "\x00"),
    *("insert", "prefix", "maxidle", "table", "type", "string", "size", "req.cook(x)", "check"),
    *("ssl", "verify", "none", "inter", "scheme", "code", "status", "hdr", "GET", "timeout"),
]
_LINE = st.one_of(
    st.sampled_from(_SECTIONS),
    st.builds(
        lambda k, v: f"{k} = {' '.join(v)}",
        st.sampled_from(_KEYS),
        st.lists(st.sampled_from(_TOKENS), max_size=5),
    ),
    st.sampled_from(_KEYS),
    st.builds(
        lambda v: "  " + " ".join(v), st.lists(st.sampled_from(_TOKENS), min_size=1, max_size=4)
    ),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_LINE, max_size=20))
def test_any_file_gives_problems_not_a_traceback(lines: list[str]) -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "t.ini")
        Path(path).write_text("\n".join(lines) + "\n")
        try:
            load(path)
        except ConfigError as err:
            assert err.problems
            for problem in err.problems:
                assert problem.startswith(path + ":")
                assert "internal error" not in problem
