"""Seed 004's haproxy.cfg translated to INI (etc/examples/seed-004-balancer.ini).

The seed is a real operator config: a frontend that routes /appN/ to backend appN when that
backend has a server up, and three round-robin backends with an inserted SRVID cookie, HTTP
health checks, and reqirep/rspirep lines rewritten as HAProxy 2.x's replace-path and
replace-header. Pasting the seed's raw lines must give clear messages.
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from stack.config import ConfigError, load, summary
from stack.config.model import (
    Algorithm,
    ConnectionMode,
    CookieMode,
    CookiePersistence,
    Endpoint,
    HttpCheck,
    IntPattern,
    MatchMethod,
)

EXAMPLE = Path(__file__).resolve().parents[2] / "etc" / "examples" / "seed-004-balancer.ini"
APPS = ("app1", "app2", "app3")


def test_the_example_loads() -> None:
    cfg = load(str(EXAMPLE))
    assert summary(cfg) == (
        f"Configuration file is valid: {EXAMPLE} (1 frontend, 3 backends, 9 servers, "
        "9 demo servers)"
    )
    assert cfg.global_.maxconn == 4096
    assert cfg.global_.node == "lb1"
    assert cfg.global_.spread_checks == 5


def test_routing_model() -> None:
    cfg = load(str(EXAMPLE))
    (web,) = cfg.frontends
    assert web.name == "web"
    assert web.binds == (Endpoint("127.0.0.1", 18040),)
    assert web.default_backend is None  # "If we get here ... users will get an error"
    assert web.maxconn == 2000  # from [defaults]
    assert web.dontlognull and not web.httplog
    assert [r.backend for r in web.use_backends] == list(APPS)
    for app, rule in zip(APPS, web.use_backends, strict=True):
        condition = rule.condition
        assert condition is not None
        assert not condition.negate
        assert condition.text == f"if want_{app} {app}_avail"
        (group,) = condition.groups  # one AND group: "Conditions are ANDed"
        want, avail = group
        assert not want.negate and not avail.negate
        (want_acl,) = want.acls
        assert (want_acl.name, want_acl.fetch, want_acl.method, want_acl.patterns) == (
            f"want_{app}",
            "path",
            MatchMethod.DIR,
            (app.encode(),),
        )
        (avail_acl,) = avail.acls
        assert (avail_acl.fetch, avail_acl.fetch_arg, avail_acl.method, avail_acl.patterns) == (
            "nbsrv",
            app,
            MatchMethod.INT,
            (IntPattern("ge", 1),),
        )
    assert [a.name for a in web.acls] == [
        "want_app1",
        "want_app2",
        "want_app3",
        "app1_avail",
        "app2_avail",
        "app3_avail",
    ]


def test_backends() -> None:
    cfg = load(str(EXAMPLE))
    assert [b.name for b in cfg.backends] == list(APPS)
    for n, backend in enumerate(cfg.backends, start=1):
        assert backend.balance.algorithm is Algorithm.ROUNDROBIN
        assert backend.connection_mode is ConnectionMode.CLOSE  # option httpclose
        assert backend.retries == 3
        assert backend.redispatch
        assert backend.timeouts.connect == 5.0  # contimeout 5000
        assert backend.timeouts.server == 50.0  # srvtimeout 50000
        assert backend.timeouts.client == 50.0  # clitimeout 50000
        assert [(s.name, s.address, s.weight) for s in backend.servers] == [
            (f"app{n}_{i}", Endpoint("127.0.0.1", 9400 + 10 * n + i), 1) for i in (1, 2, 3)
        ]
        # cookie SRVID insert indirect nocache
        assert backend.cookie is not None
        assert backend.cookie == CookiePersistence(
            "SRVID",
            CookieMode.INSERT,
            indirect=True,
            nocache=True,
            origin=backend.cookie.origin,
        )
        # option httpchk GET / HTTP/1.0\r\nUser-Agent:\ HAProxy
        assert backend.httpchk == HttpCheck("GET", "/", "HTTP/1.0", ((b"user-agent", b"HAProxy"),))
        (notice,) = backend.notices
        assert "'http-check send = hdr User-Agent HAProxy'" in notice
        # server appN_i <address> cookie appN_i check inter 10s rise 2 fall 2
        for i, server in enumerate(backend.servers, start=1):
            assert (server.cookie, server.check, server.inter, server.rise, server.fall) == (
                f"app{n}_{i}",
                True,
                10.0,
                2,
                2,
            )
            assert (server.tls, server.check_ssl, server.check_port) == (None, False, None)
    app3 = cfg.backend("app3")
    assert [e.status for e in app3.errorfiles] == [400, 403, 408, 500, 502, 503, 504]
    for errorfile in app3.errorfiles:
        assert errorfile.response.startswith(f"HTTP/1.0 {errorfile.status} ".encode())
    assert cfg.backend("app1").errorfiles == ()


@pytest.mark.parametrize("app", APPS)
def test_reqirep_and_rspirep_become_replace_path_and_replace_header(app: str) -> None:
    backend = load(str(EXAMPLE)).backend(app)
    (path,) = backend.http_request
    assert (path.action, path.name) == ("replace-path", b"")
    assert isinstance(path.regex, re.Pattern)
    assert path.value is not None
    # reqirep ^([^\ ]*)\ /app1/([^\ ]*)\ (.*)$ \1\ /\2\ \3: the path loses /appN
    replacement = path.value.parts[0]
    assert isinstance(replacement, bytes)
    assert path.regex.sub(replacement, f"/{app}/a/b.php".encode()) == b"/a/b.php"
    assert path.regex.sub(replacement, b"/other/x") == b"/other/x"
    location, set_cookie = backend.http_response
    assert (location.action, location.name) == ("replace-header", b"location")
    assert (set_cookie.action, set_cookie.name) == ("replace-header", b"set-cookie")
    for rule, before, after in (
        (location, b"http://lb1/x/y?z", f"http://lb1/{app}/x/y?z".encode()),
        (set_cookie, b"SRVID=a; path=/", f"SRVID=a; path=/{app}/".encode()),
        (set_cookie, b"S=1; Path=/x; HttpOnly", f"S=1; Path=/{app}/x; HttpOnly".encode()),
    ):
        assert isinstance(rule.regex, re.Pattern)
        assert rule.value is not None
        part = rule.value.parts[0]
        assert isinstance(part, bytes)
        assert rule.regex.sub(part, before) == after


# --- pasting the seed's other lines --------------------------------------------------------------


def problems_with(tmp_path: Path, section: str, line: str) -> list[str]:
    """Load the example with ``line`` added to ``section`` (a copy in tmp_path)."""
    text = EXAMPLE.read_text()
    marker = f"[{section}]\n"
    assert marker in text
    text = text.replace(marker, marker + line + "\n", 1)
    (tmp_path / "errors").symlink_to(EXAMPLE.parent / "errors")
    path = tmp_path / "seed.ini"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load(str(path))
    return [p.replace(str(path), "seed.ini") for p in info.value.problems]


def _line(section: str) -> int:
    text = EXAMPLE.read_text().splitlines()
    return text.index(f"[{section}]") + 2


def test_pasting_reqirep(tmp_path: Path) -> None:
    line = r"reqirep = ^([^\ ]*)\ /app1/([^\ ]*)\ (.*)$       \1\ /\2\ \3"
    assert problems_with(tmp_path, "backend app1", line) == [
        f"seed.ini:{_line('backend app1')}: [backend app1] reqirep: The 'reqirep' directive is "
        "not supported anymore since HAProxy 2.1. Use 'http-request replace-header' instead."
    ]


def test_pasting_reqirep_verbatim(tmp_path: Path) -> None:
    # the raw haproxy.cfg line, without "=": the directive is still recognised
    line = r"  reqirep ^([^\ ]*)\ /app1/([^\ ]*)\ (.*)$       \1\ /\2\ \3"
    (problem,) = problems_with(tmp_path, "backend app1", line.strip())
    assert problem.endswith(
        "The 'reqirep' directive is not supported anymore since HAProxy 2.1. "
        "Use 'http-request replace-header' instead."
    )


def test_pasting_rspirep(tmp_path: Path) -> None:
    line = r"rspirep = ^(Location:)\ http://([^/]*)/(.*)$    \1\ http://\2/app1/\3"
    (problem,) = problems_with(tmp_path, "backend app1", line)
    assert problem.endswith(
        "rspirep: The 'rspirep' directive is not supported anymore since HAProxy 2.1. "
        "Use 'http-response replace-header' instead."
    )


@pytest.mark.parametrize(
    ("line", "key", "new"),
    [
        ("contimeout = 5000", "contimeout", "timeout connect"),
        ("clitimeout      50000", "clitimeout 50000", "timeout client"),
        ("srvtimeout = 50000", "srvtimeout", "timeout server"),
    ],
)
def test_pasting_the_old_timeouts(tmp_path: Path, line: str, key: str, new: str) -> None:
    assert problems_with(tmp_path, "defaults", line) == [
        f"seed.ini:{_line('defaults')}: [defaults] {key}: The '{key.split()[0]}' directive is "
        f"not supported anymore since HAProxy 2.1. Use '{new}' instead."
    ]


@pytest.mark.parametrize(
    ("section", "line", "message"),
    [
        (
            "backend app1",
            "cookie SRVID insert indirect nocache",
            "missing '=': write 'cookie = SRVID insert indirect nocache'",
        ),
        (
            "backend app1",
            r"option httpchk GET / HTTP/1.0\r\nUser-Agent:\ HAProxy",
            r"missing '=': write 'option httpchk = GET / HTTP/1.0\r\nUser-Agent:\ HAProxy'",
        ),
        ("backend app1", "option nolinger", "'option nolinger' is not supported by stack"),
        (
            "backend app1",
            "server app1_4 <address> cookie app1_4 check inter 10s rise 2 fall 2",
            "missing '=': write 'server app1_4 = <address> cookie app1_4 check inter 10s rise 2 "
            "fall 2'",
        ),
        (
            "backend app1",
            "server app1_4 = cookie app1_4 check inter 10s rise 2 fall 2",
            "the address is missing: the value starts with the keyword 'cookie'",
        ),
        ("global", "spread-checks 5", "missing '=': write 'spread-checks = 5'"),
        ("global", "user = haproxy", "'user' is handled by twistd: use twistd --uid"),
        ("defaults", "maxconn 2000", "missing '=': write 'maxconn = 2000'"),
    ],
)
def test_pasting_raw_lines(tmp_path: Path, section: str, line: str, message: str) -> None:
    (problem,) = problems_with(tmp_path, section, line)
    assert problem.startswith(f"seed.ini:{_line(section)}: [{section}] ")
    assert message in problem


def test_the_stats_listen_section(tmp_path: Path) -> None:
    text = textwrap.dedent(
        r"""
        [listen admin_stats]
        bind = *:8000
        mode = http
        stats uri = /stats
        stats refresh = 10s
        stats realm = HAProxy\ Global\ stats
        stats auth = admin:admin
        """
    )
    path = tmp_path / "stats.ini"
    path.write_text(text)
    page = load(str(path)).frontend("admin_stats").stats
    assert page is not None
    assert (page.uri, page.refresh, page.realm) == ("/stats", 10.0, "HAProxy Global stats")
    assert page.users == (("admin", "admin"),)
