"""The ``[edge NAME]`` section: every key, its defaults, and the errors an operator sees."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from stack.config.model import EdgeCertificate, Endpoint, StackConfig, TlsProfile

BALANCER = """
[frontend web]
bind = 127.0.0.1:8081
default_backend = b

[backend b]
server s = 127.0.0.1:9000
"""

Load = Callable[[str], StackConfig]
Problems = Callable[[str], list[str]]


def edge(lines: str) -> str:
    return "[edge www]\nbind = 127.0.0.1:8443\n" + lines + BALANCER


def test_minimal_edge_defaults(load_ini: Load) -> None:
    config = load_ini(edge("proxy-pass = / web\n"))
    assert config.tiers == ("balancer", "edge")
    (e,) = config.edges
    assert e.binds == (Endpoint("127.0.0.1", 8443),)
    assert e.server_name == "127.0.0.1"  # the bind's address, when no server-name
    assert e.https_port == 8443
    assert e.redirect_code == 301
    assert e.certificates == ()  # certificate = auto
    assert e.tls_profile is TlsProfile.INTERMEDIATE
    assert e.session_cache and e.session_tickets
    assert e.hsts is None
    assert not e.preserve_host and e.forwarded and not e.via
    assert e.timeouts.http_keep_alive == 5.0  # Apache's KeepAliveTimeout
    # proxy-pass to a frontend resolves to its first bind: where --tier edge connects
    (pp,) = e.proxy_pass
    assert (pp.frontend, pp.host, pp.port, pp.path) == ("web", "127.0.0.1", 8081, "/")
    assert pp.url == "http://127.0.0.1:8081/"


def test_every_key(load_ini: Load, in_tmp: Path) -> None:
    (in_tmp / "site.pem").write_text("x")
    (in_tmp / "site.key").write_text("x")
    (in_tmp / "logs").mkdir()
    config = load_ini(
        edge(
            """\
redirect-bind = 127.0.0.1:8080
server-name = www.example.com
server-alias = example.com Static.Example.com
https-port = 443
redirect-code = 302
slash-redirect = /app1 /app2
certificate = site.pem key site.key
tls-profile = modern
ssl-session-cache = off
ssl-session-tickets = off
hsts = on
proxy-pass =
    /app/ http://127.0.0.1:8100/internal/
    / web
proxy-pass-reverse = /app1/ http://localhost:8080/app1/
cookie-path = /internal/ /app/
cookie-domain = backend.local www.example.com
preserve-host = on
forwarded-headers = off
trusted-proxy = 10.0.0.0/8 192.0.2.1
via = on
access-log = logs/access.log tls
error-log = logs/error.log
log-level = info
timeout = 30s
keep-alive-timeout = 15s
request-timeout = 10s
maxconn = 100
"""
        )
    )
    (e,) = config.edges
    assert e.redirect_binds == (Endpoint("127.0.0.1", 8080),)
    assert e.names == ("www.example.com", "example.com", "static.example.com")
    assert (e.https_port, e.redirect_code) == (443, 302)
    assert e.slash_redirects == ("/app1", "/app2")
    # relative to the config file's directory (here the working directory)
    assert (e.certificates[0].cert, e.certificates[0].key) == ("site.pem", "site.key")
    assert e.tls_profile is TlsProfile.MODERN
    assert not e.session_cache and not e.session_tickets
    assert e.hsts == "max-age=63072000"
    assert [p.prefix for p in e.proxy_pass] == ["/app/", "/"]
    assert e.proxy_pass[0].url == "http://127.0.0.1:8100/internal/"
    assert e.proxy_pass_reverse == (("/app1/", "http://localhost:8080/app1/"),)
    assert e.cookie_paths == (("/internal/", "/app/"),)
    assert e.cookie_domains == (("backend.local", "www.example.com"),)
    assert e.preserve_host and not e.forwarded and e.via
    assert e.trusted_proxies == ("10.0.0.0/8", "192.0.2.1")
    assert e.access_log == "logs/access.log" and e.access_log_tls
    assert e.error_log == "logs/error.log"
    assert e.log_level == "info"
    assert (e.timeouts.client, e.timeouts.http_keep_alive, e.timeouts.http_request) == (
        30.0,
        15.0,
        10.0,
    )
    assert e.maxconn == 100


def test_hsts_value_kept(load_ini: Load) -> None:
    config = load_ini(edge("hsts = max-age=300; includeSubDomains\nproxy-pass = / web\n"))
    assert config.edges[0].hsts == "max-age=300; includeSubDomains"


def test_global_state_dir_and_dh_param(load_ini: Load, in_tmp: Path) -> None:
    config = load_ini(
        "[global]\nstate-dir = var\ntune.ssl.default-dh-param = 2048\n"
        + edge("proxy-pass = / web\n")
    )
    assert config.global_.state_dir == "var"  # relative to the file's directory ("" here)
    assert config.global_.dh_param == 2048


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        ("proxy-pass = / wbe\n", "t.ini:3: [edge www] proxy-pass: no frontend named 'wbe'"),
        ("proxy-pass = / https://x/\n", "https:// upstreams are not supported yet"),
        ("proxy-pass = /app/ http://x:80/in\n", "keep trailing slashes symmetric"),
        ("proxy-pass = app web\n", "must start with '/'"),
        ("redirect-code = 200\n", "redirect-code 200 is not a redirect"),
        ("tls-profile = old\n", "'old' profile, with TLS 1.0 and 1.1, is not offered"),
        ("hsts = 2y\n", "hsts is on, off or a Strict-Transport-Security value"),
        ("slash-redirect = /app/\n", "write slash-redirect /app"),
        ("slash-redirect = app\n", "slash-redirect takes paths such as /app"),
        ("certificate = missing.pem\n", "cannot read it: No such file or directory"),
        ("certificate = auto\ncertificate2 = x\n", "unknown key 'certificate2'"),
        ("SSLCertificateFile = a.pem\n", "Apache's SSLCertificateFile is written 'certificate'"),
        ("ProxyPreserveHost = on\n", "written 'preserve-host'"),
        ("trusted-proxy = 10.0.0.300\n", "trusted-proxy '10.0.0.300' is not an address"),
        ("server-name = example.com:8443\n", "a name without a port"),
        ("log-level = loud\n", "unknown log-level 'loud'"),
        ("access-log = /nonexistent-dir/a.log\n", "the directory '/nonexistent-dir' does not"),
        ("bind = 127.0.0.1:8081\n", "127.0.0.1:8081 is already bound by [edge www] line 2"),
    ],
)
def test_errors(problems_of: Problems, lines: str, expected: str) -> None:
    text = "[edge www]\n" + ("" if lines.startswith("bind") else "bind = 127.0.0.1:8443\n")
    problems = problems_of(text + lines + BALANCER)
    assert any(expected in p for p in problems), problems


def test_edge_needs_a_bind(problems_of: Problems) -> None:
    problems = problems_of("[edge www]\nproxy-pass = / web\n" + BALANCER)
    assert problems == [
        "t.ini:1: [edge www] an edge needs 'bind = ADDRESS' (the HTTPS address it listens on)"
    ]


def test_certificate_auto_cannot_mix(problems_of: Problems, in_tmp: Path) -> None:
    (in_tmp / "a.pem").write_text("x")
    problems = problems_of(edge("certificate =\n    auto\n    a.pem\n"))
    assert any("cannot be mixed" in p for p in problems), problems


def test_certificate_lines_keep_order(load_ini: Load, in_tmp: Path) -> None:
    for name in ("a.pem", "b.pem", "chain.pem"):
        (in_tmp / name).write_text("x")
    config = load_ini(edge("certificate =\n    a.pem\n    b.pem chain chain.pem\n"))
    certs = config.edges[0].certificates
    assert [Path(c.cert).name for c in certs] == ["a.pem", "b.pem"]
    assert isinstance(certs[1], EdgeCertificate) and certs[1].chain == "chain.pem"


def test_shipped_default_runs_the_edge() -> None:
    from stack.config import load

    repo = Path(__file__).resolve().parents[2]
    config = load(str(repo / "etc" / "stack.ini"))
    (e,) = config.edges
    assert e.binds == (Endpoint("127.0.0.1", 8443),)
    assert e.redirect_binds == (Endpoint("127.0.0.1", 8080),)
    assert e.slash_redirects == ("/fun",)
    assert e.proxy_pass[0].frontend == "web"
    assert config.global_.state_dir == str(repo / "etc" / ".." / "var")


# -- the cache (mod_cache + mod_cache_disk + htcacheclean) -----------------------------------------


def test_cache_is_off_unless_written(load_ini: Load) -> None:
    (e,) = load_ini(edge("proxy-pass = / web\n")).edges
    assert e.cache is None
    (e,) = load_ini(edge("proxy-pass = / web\ncache = off\n")).edges
    assert e.cache is None


def test_cache_defaults_are_apaches(load_ini: Load, in_tmp: Path) -> None:
    (e,) = load_ini("[global]\nstate-dir = st\n" + edge("proxy-pass = / web\ncache = on\n")).edges
    cache = e.cache
    assert cache is not None
    assert cache.prefixes == ("/",)
    assert cache.directory == "st/cache/www"  # state-dir as written, made absolute by the loader
    assert (cache.default_expire, cache.max_expire, cache.min_expire) == (3600, 86400, 0)
    assert cache.last_modified_factor == 0.1
    assert cache.max_object == 1_000_000  # CacheMaxFileSize
    assert cache.size == 300 << 20  # Debian's HTCACHECLEAN_SIZE
    assert cache.stale_on_error and cache.lock
    assert not (cache.ignore_cache_control or cache.ignore_no_last_mod)
    assert cache.name == "stack"


def test_every_cache_key(load_ini: Load, in_tmp: Path) -> None:
    (e,) = load_ini(
        edge(
            """\
proxy-pass = / web
cache = /static/ /images/
cache-disable = /static/private/
cache-root = cache-dir
cache-size = 2G
cache-clean-interval = 5m
cache-max-file-size = 10M
cache-memory = 128M
cache-default-expire = 600
cache-max-expire = 2d
cache-min-expire = 10
cache-last-modified-factor = 0.5
cache-ignore-no-last-mod = on
cache-ignore-cache-control = on
cache-ignore-query-string = on
cache-ignore-headers = Set-Cookie X-Secret
cache-stale-on-error = off
cache-lock = off
cache-lock-max-age = 2
cache-lock-max-waiters = 10
cache-name = edge1
"""
        )
    ).edges
    cache = e.cache
    assert cache is not None
    assert cache.prefixes == ("/static/", "/images/")
    assert cache.disabled == ("/static/private/",)
    assert cache.directory == "cache-dir"  # relative to the config file, as written
    assert (cache.size, cache.max_object, cache.memory) == (2 << 30, 10 << 20, 128 << 20)
    assert cache.clean_interval == 300
    assert (cache.default_expire, cache.max_expire, cache.min_expire) == (600, 172800, 10)
    assert cache.last_modified_factor == 0.5
    assert cache.ignore_no_last_mod and cache.ignore_cache_control and cache.ignore_query_string
    assert cache.ignore_headers == ("set-cookie", "x-secret")
    assert not cache.stale_on_error and not cache.lock
    assert (cache.lock_max_age, cache.lock_max_waiters, cache.name) == (2, 10, "edge1")


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("cache-disable = x", "cache-disable takes on, off or URL paths such as /static/"),
        ("cache-size = 10Q", "cache-size: '10Q' is not a size (a number with an optional K,"),
        ("cache-last-modified-factor = x", "cache-last-modified-factor is a number such as 0.1"),
        ("cache-lock-max-waiters = 0", "cache-lock-max-waiters"),
        ("cache-name = a;b", "cache-name is a token"),
        ("CacheEnable = disk /", "Apache's CacheEnable is written 'cache' here"),
        ("CacheRoot = /var/cache", "Apache's CacheRoot is written 'cache-root' here"),
    ],
)
def test_cache_mistakes(problems_of: Problems, line: str, message: str) -> None:
    (problem,) = problems_of(edge(f"proxy-pass = / web\ncache = on\n{line}\n"))
    assert problem.startswith("t.ini:")
    assert message in problem


def test_cache_keys_without_cache_are_reported(problems_of: Problems) -> None:
    (problem,) = problems_of(edge("proxy-pass = / web\ncache-max-expire = 60\n"))
    assert problem == (
        "t.ini:4: [edge www] cache-max-expire: has no effect without 'cache = on' "
        "(or 'cache = PREFIX')"
    )
