"""Every etc/examples/*.ini loads, and says what its seed's haproxy.cfg says.

The examples are the seeds' haproxy.cfg files translated to INI (docs/config.md). They must stay
runnable on loopback as they are: 127.0.0.1 only, servers on 9300-9499 and binds on
18000-18099, no bind port shared between two files.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from stack.config import load, summary
from stack.config.model import (
    Algorithm,
    ConnectionMode,
    CookieMode,
    CookiePersistence,
    Endpoint,
    ForwardFor,
    HttpCheck,
    Origin,
    Sample,
    StackConfig,
    StickTable,
    StickTableType,
)
from stack.config.values import parse_server
from stack.config.words import split_words

EXAMPLES = Path(__file__).resolve().parents[2] / "etc" / "examples"
# haproxy.cfg translations; seed-004-keepalived.ini (keepalived.conf) is test_config_vrrp's
FILES = sorted(p for p in EXAMPLES.glob("*.ini") if not p.name.endswith("-keepalived.ini"))


def example(name: str) -> StackConfig:
    return load(str(EXAMPLES / name))


def test_there_is_one_example_per_seed() -> None:
    assert [f.name[:8] for f in FILES] == [f"seed-00{n}" for n in range(5)]


@pytest.mark.parametrize("path", FILES, ids=[f.name for f in FILES])
def test_every_example_loads(path: Path) -> None:
    cfg = load(str(path))
    assert summary(cfg).startswith(f"Configuration file is valid: {path} (")
    assert cfg.frontends and cfg.backends and cfg.demos
    # runnable on loopback: every bind, server and demo on 127.0.0.1, in the agreed ranges
    for frontend in cfg.frontends:
        for bind in frontend.binds:
            assert bind.host == "127.0.0.1" and 18000 <= bind.port <= 18099
    demo_ports = {demo.bind.port for demo in cfg.demos}
    for backend in cfg.backends:
        for server in backend.servers:
            assert server.address.host == "127.0.0.1" and 9300 <= server.address.port <= 9499
            assert server.address.port in demo_ports  # a demo origin answers for each server
            assert server.tls is None  # the example runs without TLS servers
    # every file starts with a comment saying what was translated and what was left out
    text = path.read_text()
    assert text.startswith("# ")
    assert "Translated" in text and "Left out" in text


def test_no_two_examples_share_a_port() -> None:
    seen: dict[int, str] = {}
    for path in FILES:
        cfg = load(str(path))
        ports = {b.port for f in cfg.frontends for b in f.binds}
        ports |= {d.bind.port for d in cfg.demos}
        for port in ports:
            assert port not in seen, f"{path.name} and {seen[port]} both use port {port}"
            seen[port] = path.name


def test_seed_000_films() -> None:
    cfg = example("seed-000-films.ini")
    (web,) = cfg.frontends
    assert web.binds == (Endpoint("127.0.0.1", 18000),)
    assert [(r.backend, r.condition.text if r.condition else None) for r in web.use_backends] == [
        ("films", "if url_fun")
    ]
    assert web.default_backend == "site"
    site, films = cfg.backends
    assert [(s.weight, s.maxconn) for s in site.servers] == [(1, 64), (1, 64)]
    assert films.redispatch  # option redispatch, from [defaults]
    # appsession PHPSESSID len 32 timeout 1h, run as a stick table
    assert films.stick_table == StickTable(StickTableType.STRING, 1 << 20, 32, 3600.0)
    assert [(r.kind, r.sample) for r in films.stick_rules] == [
        ("on", Sample("req.cook", "PHPSESSID", "req.cook(PHPSESSID)")),
        ("store-response", Sample("res.cook", "PHPSESSID", "res.cook(PHPSESSID)")),
    ]
    (notice,) = films.notices
    assert "HAProxy removed 'appsession' in 1.6" in notice
    assert site.notices == () and site.stick_table is None
    assert [d.app for d in cfg.demos] == ["site", "site", "films", "films"]


def test_seed_001_sticky() -> None:
    cfg = example("seed-001-sticky.ini")
    (front,) = cfg.frontends
    (back,) = cfg.backends
    assert (front.name, front.maxconn, front.default_backend) == (
        "my_website_name",
        40000,
        back.name,
    )
    assert front.connection_mode is ConnectionMode.KEEP_ALIVE
    assert back.forwardfor == ForwardFor()
    assert back.cookie is not None
    assert back.cookie == CookiePersistence("SRVNAME", CookieMode.INSERT, origin=back.cookie.origin)
    assert [(s.name, s.cookie, s.check) for s in back.servers] == [
        ("ServerA", "SA", True),
        ("ServerB", "SB", True),
    ]
    assert back.timeouts.connect == back.timeouts.client == back.timeouts.server == 30.0


def test_seed_002_apache() -> None:
    cfg = example("seed-002-apache.ini")
    insert, prefix = cfg.backends
    assert insert.cookie is not None and prefix.cookie is not None
    assert (
        insert.cookie.name,
        insert.cookie.mode,
        insert.cookie.indirect,
        insert.cookie.nocache,
    ) == (
        "SERVERNAME",
        CookieMode.INSERT,
        True,
        True,
    )
    assert (prefix.cookie.name, prefix.cookie.mode, prefix.cookie.indirect) == (
        "JSESSIONID",
        CookieMode.PREFIX,
        True,
    )
    assert insert.connection_mode is ConnectionMode.CLOSE
    for backend in (insert, prefix):
        assert [(s.name, s.cookie, s.check) for s in backend.servers] == [
            ("apache-1", "s1", True),
            ("apache-2", "s2", True),
        ]
    assert [f.binds[0].port for f in cfg.frontends] == [18020, 18021]


def test_seed_003_sticky_tls() -> None:
    cfg = example("seed-003-sticky-tls.ini")
    http_in, https_in = cfg.frontends
    assert http_in.default_backend == "tomcats"
    assert https_in.binds == (Endpoint("127.0.0.1", 18031),)
    assert http_in.redirects == ()  # the https redirect waits for the edge's TLS
    listen = cfg.backend("https-in")
    assert listen.balance.algorithm is Algorithm.LEASTCONN
    assert listen.persist and listen.redispatch
    assert listen.forwardfor is not None and listen.forwardfor.header == b"x-forwarded-for"
    assert str(listen.forwardfor.except_net) == "127.0.0.1/32"
    assert listen.httpchk == HttpCheck(
        "GET", "/resource/hc/application", "HTTP/1.1", ((b"host", b"myhost.mydomain.com"),)
    )
    (notice,) = listen.notices
    assert "'http-check send = hdr Host myhost.mydomain.com'" in notice
    assert listen.cookie is not None
    assert (listen.cookie.mode, listen.cookie.maxidle, listen.cookie.maxlife) == (
        CookieMode.INSERT,
        1800,
        28800,
    )
    assert listen.check_timeout == 60.0  # timeout check, from [defaults]
    assert [(s.maxconn, s.cookie, s.check, s.inter) for s in listen.servers] == [
        (200, "ip-10-22-1-18", True, 2.0),
        (200, "ip-10-22-2-34", True, 2.0),
    ]
    assert listen.timeouts.http_keep_alive == 0.015  # "timeout http-keep-alive 15": 15 ms
    tomcats = cfg.backend("tomcats")
    assert tomcats.stick_table == StickTable(StickTableType.STRING, 30 * 1024, 32, 3600.0)
    assert [(r.kind, r.sample.fetch, r.sample.arg) for r in tomcats.stick_rules] == [
        ("store-response", "res.cook", "JSESSIONID"),
        ("on", "req.cook", "JSESSIONID"),
    ]
    assert tomcats.notices == ()


def test_seed_003_tls_server_lines_parse() -> None:
    # the commented TLS server lines of the example are valid stack (and HAProxy 2.6) lines
    text = (EXAMPLES / "seed-003-sticky-tls.ini").read_text()
    tls_lines = [
        line[2:] for line in text.splitlines() if line.startswith("# server ") and " ssl " in line
    ]
    assert len(tls_lines) == 2
    origin = Origin("seed-003-sticky-tls.ini", 0, "listen https-in", "server")
    for line in tls_lines:
        key, _, value = line.partition(" = ")
        server = parse_server(key.split()[1], split_words(value), origin)
        assert server.tls is not None and not server.tls.verify
        assert server.check_ssl and server.address.port == 443


def test_seed_004_balancer() -> None:
    cfg = example("seed-004-balancer.ini")
    assert cfg.global_.spread_checks == 5
    for n, backend in enumerate(cfg.backends, start=1):
        assert backend.cookie is not None and backend.cookie.name == "SRVID"
        assert backend.httpchk is not None
        assert backend.httpchk.headers == ((b"user-agent", b"HAProxy"),)
        assert [r.action for r in backend.http_request] == ["replace-path"]
        assert [r.name for r in backend.http_response] == [b"location", b"set-cookie"]
        assert {(s.check, s.inter, s.rise, s.fall) for s in backend.servers} == {(True, 10.0, 2, 2)}
        assert [s.cookie for s in backend.servers] == [f"app{n}_{i}" for i in (1, 2, 3)]
