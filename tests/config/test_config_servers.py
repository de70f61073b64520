"""Server keywords (cookie, health checks, TLS, slowstart, redir) and default-server."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from stack.config.errors import Invalid
from stack.config.model import Endpoint, Origin, Server, ServerTls, StackConfig
from stack.config.values import ServerDefaults, parse_default_server, parse_server

ORIGIN = Origin("t.ini", 1, "backend b", "server s")
Load = Callable[[str], StackConfig]
Problems = Callable[[str], list[str]]


def words(text: str) -> list[str]:
    return text.split()


def server(text: str, defaults: ServerDefaults | None = None) -> Server:
    return parse_server("s", text.split(), ORIGIN, defaults)


# --- parse_server --------------------------------------------------------------------------------


def test_builtin_defaults() -> None:
    s = server("10.0.0.1:80")
    assert s == Server("s", Endpoint("10.0.0.1", 80), origin=ORIGIN)
    assert (s.cookie, s.check, s.inter, s.fastinter, s.downinter, s.rise, s.fall) == (
        None,
        False,
        2.0,
        None,
        None,
        2,
        3,
    )
    assert (s.check_port, s.check_ssl, s.tls, s.slowstart, s.redir) == (
        None,
        False,
        None,
        0.0,
        None,
    )


def test_seed_004_server_line() -> None:
    s = server("10.0.0.1:80 cookie app1_1 check inter 10s rise 2 fall 2")
    assert (s.cookie, s.check, s.inter, s.rise, s.fall) == ("app1_1", True, 10.0, 2, 2)


def test_seed_003_server_line() -> None:
    s = server("10.22.1.18:443 ssl verify none maxconn 200 cookie ip-10-22-1-18 check inter 2s")
    assert s.tls == ServerTls(verify=False)
    assert (s.maxconn, s.cookie, s.check, s.inter) == (200, "ip-10-22-1-18", True, 2.0)
    assert s.check_ssl  # ssl and no check port: the checks use TLS too


def test_check_timers_and_port() -> None:
    s = server("h:80 check inter 1s fastinter 250ms downinter 3s rise 1 fall 5 port 8080")
    assert (s.inter, s.fastinter, s.downinter, s.rise, s.fall, s.check_port) == (
        1.0,
        0.25,
        3.0,
        1,
        5,
        8080,
    )
    assert server("h:80 inter 1500").inter == 1.5  # a bare number is milliseconds


def test_tls_settings() -> None:
    s = server("h:443 ssl ca-file /etc/ssl/ca.pem sni str(www.example.com) crt /etc/c.pem")
    assert s.tls == ServerTls(True, "/etc/ssl/ca.pem", "str(www.example.com)", "/etc/c.pem")
    assert server("h:443 ssl verify required ca-file @system-ca sni req.hdr(host)").tls == (
        ServerTls(True, "@system-ca", "req.hdr(host)")
    )
    assert server("h:443 ssl verify none sni hdr(Host)").tls == ServerTls(False, sni="hdr(Host)")
    # TLS settings without ssl are kept out of the model, as HAProxy ignores them
    assert server("h:80 verify none sni str(x)").tls is None


@pytest.mark.parametrize(
    ("text", "check_ssl"),
    [
        ("h:443 ssl verify none check", True),  # same port: the server's transport
        ("h:443 ssl verify none check port 8443", False),  # another port: plain, as in HAProxy
        ("h:443 ssl verify none check port 8443 check-ssl", True),
        ("h:443 ssl verify none check no-check-ssl", False),
        ("h:80 check", False),
    ],
)
def test_check_ssl_follows_haproxys_rule(text: str, check_ssl: bool) -> None:
    assert server(text).check_ssl is check_ssl


def test_slowstart_and_redir() -> None:
    s = server("h:80 slowstart 30s redir http://image1.example.com")
    assert (s.slowstart, s.redir) == (30.0, "http://image1.example.com")
    assert server("h:80 slowstart 0").slowstart == 0.0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("h:80 cookie", "server keyword 'cookie' needs a value"),
        ("h:80 cookie a;b", "character ';' is not permitted in server cookie 'a;b'"),
        ("h:80 inter", "server keyword 'inter' needs a duration"),
        ("h:80 inter 0", "server keyword 'inter' must be greater than 0, not '0'"),
        (
            "h:80 fastinter 1x",
            "server keyword 'fastinter': invalid duration '1x' (use a number with us, ms, s, m, h "
            "or d; a bare number is milliseconds)",
        ),
        ("h:80 downinter 30d", "server keyword 'downinter': duration '30d' is too large"),
        ("h:80 rise 0", "rise must be between 1 and 2147483647, not 0"),
        ("h:80 fall x", "fall must be a whole number, not 'x'"),
        ("h:80 port 70000", "check port must be between 1 and 65535, not 70000"),
        ("h:80 verify maybe", "unknown verify method 'maybe' (only 'none' and 'required')"),
        ("h:80 sni", "server keyword 'sni' needs an expression"),
        ("h:443 ssl verify none sni ssl_fc_sni", "sni expression 'ssl_fc_sni' is not supported"),
        ("h:443 ssl verify none sni req.hdr(x-host)", "sni expression 'req.hdr(x-host)'"),
        ("h:443 ssl verify none sni str()", "sni str() needs a host name"),
        (
            "h:443 ssl verify none sni req.hdr(host),lower",
            "converters such as 'lower' in sni 'req.hdr(host),lower' are not supported yet",
        ),
        (
            "h:443 ssl",
            "verify is enabled by default but no CA file specified: add 'ca-file FILE' "
            "('ca-file @system-ca' for the system's CAs), or 'verify none' if you are certain "
            "to trust the server's certificate (HAProxy 2.6 refuses this too)",
        ),
        ("h:443 ssl verify required", "verify is enabled but no CA file specified"),
        (
            "h:80 check check-ssl",
            "'check-ssl' on a server without 'ssl' is not supported yet (stack's TLS checks use "
            "the server's TLS settings: add 'ssl')",
        ),
        ("h:80 slowstart -1", "server keyword 'slowstart': invalid duration '-1'"),
        ("h:80 redir /elsewhere", "redir '/elsewhere' is not an absolute http:// or https:// URL"),
        ("h:80 redir http://img.example.com/", "redir 'http://img.example.com/' ends with '/'"),
        ("h:80 chek", "unknown server keyword 'chek'; did you mean 'check'?"),
        ("h:80 slowstrat 1s", "unknown server keyword 'slowstrat'; did you mean 'slowstart'?"),
        ("h:80 check agent-check", "server keyword 'agent-check' is not supported yet"),
        (
            "h:80 check track b/s send-proxy",
            "server keywords 'track', 'send-proxy' are not supported yet",
        ),
        ("check inter 2s", "the address is missing: the value starts with the keyword 'check'"),
    ],
)
def test_server_keyword_errors(text: str, message: str) -> None:
    with pytest.raises(Invalid, match=re.escape(message)):
        server(text)


# --- default-server ------------------------------------------------------------------------------


def test_default_server_sets_defaults_the_server_overrides() -> None:
    defaults = parse_default_server(
        words("check inter 10s rise 2 fall 2 ssl verify none"), ServerDefaults()
    )
    s = server("h:80 cookie a inter 3s no-ssl", defaults)
    assert (s.check, s.inter, s.rise, s.fall, s.cookie, s.tls) == (True, 3.0, 2, 2, "a", None)
    s = server("h:443 no-check", defaults)
    assert (s.check, s.tls, s.check_ssl) == (False, ServerTls(verify=False), True)


def test_default_server_lines_accumulate() -> None:
    first = parse_default_server(["inter", "5s"], ServerDefaults())
    second = parse_default_server(["fall", "5", "backup"], first)
    assert (second.inter, second.fall, second.backup) == (5.0, 5, True)
    assert not server("h:1 no-backup", second).backup
    assert (
        server("h:1 enabled", parse_default_server(["disabled"], ServerDefaults())).disabled
        is False
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("10.0.0.1:80 check", "default-server takes no address ('10.0.0.1:80')"),
        ("inter", "server keyword 'inter' needs a duration"),
        ("chekc", "unknown server keyword 'chekc'; did you mean 'check'?"),
        ("id 3", "server keyword 'id' is not supported yet"),
    ],
)
def test_default_server_errors(text: str, message: str) -> None:
    with pytest.raises(Invalid, match=re.escape(message)):
        parse_default_server(text.split(), ServerDefaults())


def test_default_server_applies_to_the_lines_after_it(load_ini: Load) -> None:
    cfg = load_ini(
        """
        [defaults]
        default-server = inter 10s fall 5

        [backend b]
        server before = 10.0.0.1:80 check
        default-server =
            check rise 3
            slowstart 1m
        server after = 10.0.0.2:80
        server own = 10.0.0.3:80 no-check rise 1

        [backend c]
        server plain = 10.0.0.4:80
        """
    )
    before, after, own = cfg.backend("b").servers
    assert (before.check, before.inter, before.fall, before.rise, before.slowstart) == (
        True,
        10.0,
        5,
        2,
        0.0,
    )
    assert (after.check, after.inter, after.fall, after.rise, after.slowstart) == (
        True,
        10.0,
        5,
        3,
        60.0,
    )
    assert (own.check, own.rise, own.slowstart) == (False, 1, 60.0)
    (plain,) = cfg.backend("c").servers  # [defaults]' default-server only
    assert (plain.check, plain.inter, plain.fall, plain.rise) == (False, 10.0, 5, 2)


def test_default_server_errors_are_located(problems_of: Problems) -> None:
    assert problems_of(
        """\
        [backend b]
        default-server =
            check
            inter never
        server s = 10.0.0.1:80 ssl
        default-server x = check
        [frontend f]
        bind = :1
        default-server = check
        """
    ) == [
        "t.ini:4: [backend b] default-server: server keyword 'inter': invalid duration 'never' "
        "(use a number with us, ms, s, m, h or d; a bare number is milliseconds)",
        "t.ini:5: [backend b] server s: verify is enabled by default but no CA file specified: "
        "add 'ca-file FILE' ('ca-file @system-ca' for the system's CAs), or 'verify none' if "
        "you are certain to trust the server's certificate (HAProxy 2.6 refuses this too)",
        "t.ini:6: [backend b] default-server x: unexpected 'x' in the key (did you mean "
        "'default-server'?)",
        "t.ini:9: [frontend f] default-server: 'default-server' is not allowed in a frontend "
        "section (only in: defaults, backend, listen)",
    ]


# --- TLS files -----------------------------------------------------------------------------------


def test_tls_files_are_read_relative_to_the_config(load_ini: Load, in_tmp: Path) -> None:
    Path("certs").mkdir()
    Path("certs/ca.pem").write_text("-----BEGIN CERTIFICATE-----\n")
    Path("certs/client.pem").write_text("-----BEGIN CERTIFICATE-----\n")
    cfg = load_ini(
        """
        [backend b]
        server s = 10.0.0.1:443 ssl ca-file certs/ca.pem crt certs/client.pem
        server t = 10.0.0.2:443 ssl ca-file @system-ca
        """
    )
    s, t = cfg.backend("b").servers
    assert s.tls == ServerTls(True, "certs/ca.pem", None, "certs/client.pem")
    assert t.tls == ServerTls(True, "@system-ca")


def test_missing_tls_files(problems_of: Problems) -> None:
    assert problems_of(
        """\
        [backend b]
        server s = 10.0.0.1:443 ssl ca-file /no/such/ca.pem
        server t = 10.0.0.2:443 ssl verify none crt missing.pem
        """
    ) == [
        "t.ini:2: [backend b] server s: ca-file: cannot read '/no/such/ca.pem': No such file or "
        "directory",
        "t.ini:3: [backend b] server t: crt: cannot read 'missing.pem': No such file or directory",
    ]


def test_server_keywords_in_the_loader(load_ini: Load) -> None:
    cfg = load_ini(
        """
        [backend b]
        server a = 127.0.0.1:9001 cookie A check inter 2s fastinter 500 downinter 5s port 9100
        server b = 127.0.0.1:9002 cookie B backup slowstart 10s
        """
    )
    a, b = cfg.backend("b").servers
    assert (a.cookie, a.check, a.inter, a.fastinter, a.downinter, a.check_port) == (
        "A",
        True,
        2.0,
        0.5,
        5.0,
        9100,
    )
    assert (b.cookie, b.backup, b.slowstart, b.redir) == ("B", True, 10.0, None)
    assert str(a.origin) == "t.ini:3: [backend b] server a"
