"""The operations lines: ``stats`` pages of proxies, ``[peers]`` sections with ``localpeer``,
``workers`` and ``http-request use-service prometheus-exporter``."""

from __future__ import annotations

import socket
from collections.abc import Callable

import pytest

from stack.config.model import Endpoint, StackConfig, StatsPage

Load = Callable[[str], StackConfig]
Problems = Callable[[str], list[str]]

BACKEND = """
[backend be]
server s1 = 127.0.0.1:9000
"""


# --- stats pages ----------------------------------------------------------------------------------


def test_seed_004_admin_stats_listen(load_ini: Load) -> None:
    cfg = load_ini(
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
    page = cfg.frontend("admin_stats").stats
    assert page is not None
    assert (page.uri, page.realm, page.refresh) == ("/stats", "HAProxy Global stats", 10.0)
    assert page.users == (("admin", "admin"),)
    assert page.admin is None and not page.hide_version
    # a listen's page belongs to its frontend half only: it is asked for on arrival
    assert cfg.backend("admin_stats").stats is None


def test_seed_002_several_users_and_quoted_realm(load_ini: Load) -> None:
    cfg = load_ini(
        r"""
        [listen stats]
        bind = 127.0.0.1:8001
        stats enable
        stats uri = /
        stats realm = Strictly\ Private
        stats auth = A_Username:YourPassword
                     Another_User:password
        """
    )
    page = cfg.frontend("stats").stats
    assert page is not None
    assert page.realm == "Strictly Private" and page.uri == "/"
    assert page.users == (("A_Username", "YourPassword"), ("Another_User", "password"))


def test_stats_enable_alone_gives_haproxy_defaults(load_ini: Load) -> None:
    cfg = load_ini(
        """
        [frontend web]
        bind = 127.0.0.1:8000
        default_backend = be
        stats enable
        """
        + BACKEND
    )
    assert cfg.frontend("web").stats == StatsPage(origin=cfg.frontend("web").stats.origin)  # type: ignore[union-attr]
    page = cfg.frontend("web").stats
    assert page is not None and page.uri == "/haproxy?stats"
    assert page.realm == "HAProxy Statistics"


def test_any_stats_line_enables_the_page_and_enable_off_alone_does_not(load_ini: Load) -> None:
    cfg = load_ini(
        """
        [frontend a]
        bind = 127.0.0.1:8000
        default_backend = be
        stats realm = Mine

        [frontend b]
        bind = 127.0.0.1:8001
        default_backend = be
        stats enable = off
        """
        + BACKEND
    )
    assert cfg.frontend("a").stats is not None
    assert cfg.frontend("b").stats is None
    assert cfg.frontend("a").stats.realm == "Mine"  # type: ignore[union-attr]


def test_backend_page_and_admin_condition(load_ini: Load) -> None:
    cfg = load_ini(
        """
        [frontend web]
        bind = 127.0.0.1:8000
        default_backend = be

        [backend be]
        acl local = src 127.0.0.1
        stats uri = /admin
        stats admin = if local
        stats hide-version
        stats show-legends
        stats show-node
        server s1 = 127.0.0.1:9000
        """
    )
    page = cfg.backend("be").stats
    assert page is not None and page.admin is not None
    assert page.admin.text == "if local"
    assert page.hide_version and page.show_legends and page.show_node == ""
    assert cfg.frontend("web").stats is None


def test_stats_problems_name_the_line(problems_of: Problems) -> None:
    problems = problems_of(
        r"""
        [listen st]
        bind = 127.0.0.1:8000
        stats uri = stats
        stats realm = Two words
        stats auth = nopassword
        stats admin = TRUE
        stats refresh = 0
        stats scope = .
        """
    )
    text = "\n".join(problems)
    assert "t.ini:4: [listen st] stats uri: 'stats uri' is a path prefix starting with '/'" in text
    assert "t.ini:5: [listen st] stats realm: 'stats realm' is one word" in text
    assert "t.ini:6: [listen st] stats auth: 'stats auth' expects USER:PASSWORD" in text
    assert "t.ini:7: [listen st] stats admin: 'stats admin' takes a condition" in text
    assert "t.ini:8: [listen st] stats refresh: 'stats refresh' needs a period above 0" in text
    assert "t.ini:9: [listen st] stats scope: 'stats scope' is not supported yet" in text


def test_stats_user_twice_and_defaults_placement(problems_of: Problems) -> None:
    problems = problems_of(
        """
        [defaults]
        stats uri = /x

        [listen st]
        bind = 127.0.0.1:8000
        stats auth = admin:a
                     admin:b
        """
    )
    text = "\n".join(problems)
    assert "'stats uri' is not allowed in a defaults section" in text
    assert "t.ini:8: [listen st] stats auth: user 'admin' already has a password (line 7)" in text


# --- peers ----------------------------------------------------------------------------------------

PEERS = """
[global]
localpeer = lb2

[peers LB]
peer lb1 = 10.22.2.110:34181
peer lb2 = 10.22.1.175:34181

[backend tomcats]
stick-table = type string len 32 size 30k expire 60m peers LB
stick on = req.cook(JSESSIONID)
server s1 = 127.0.0.1:9000

[frontend web]
bind = 127.0.0.1:8000
default_backend = tomcats
"""


def test_seed_003_peers_section(load_ini: Load) -> None:
    cfg = load_ini(PEERS)
    (section,) = cfg.peers
    assert section.name == "LB" and section.local == "lb2"
    assert section.local_peer.address == Endpoint("10.22.1.175", 34181)
    assert [p.name for p in section.remote_peers] == ["lb1"]
    table = cfg.backend("tomcats").stick_table
    assert table is not None and table.peers == "LB"
    assert cfg.backend("tomcats").notices == ()  # replicated: no "not supported" notice


def test_local_peer_defaults_to_the_host_name(load_ini: Load) -> None:
    host = socket.gethostname()
    cfg = load_ini(
        f"""
        [peers LB]
        peer other = 127.0.0.1:34181
        peer {host} = 127.0.0.1:34182
        """
        + BACKEND
        + """
        [frontend web]
        bind = 127.0.0.1:8000
        default_backend = be
        """
    )
    assert cfg.peers[0].local == host
    assert cfg.peers[0].local_peer.address.port == 34182


def test_peers_problems(problems_of: Problems) -> None:
    problems = problems_of(
        """
        [global]
        localpeer = lbX

        [peers LB]
        peer lbA = 127.0.0.1:19000
        peer lbB = 127.0.0.1
        bind = :1234
        peer = 127.0.0.1:1

        [peers EMPTY]

        [backend be]
        stick-table = type ip size 1k peers LC
        server s1 = 127.0.0.1:9000

        [frontend web]
        bind = 127.0.0.1:8000
        default_backend = be
        """
    )
    text = "\n".join(problems)
    assert "t.ini:5: [peers LB] no peer line is the local node: 'localpeer = lbX'" in text
    assert "t.ini:7: [peers LB] peer lbB:" in text
    assert "t.ini:8: [peers LB] bind: 'bind' in a peers section is not supported yet" in text
    assert "t.ini:9: [peers LB] peer: write 'peer NAME = ADDRESS:PORT'" in text
    assert "t.ini:11: [peers EMPTY] a peers section needs 'peer NAME = ADDRESS:PORT'" in text
    assert "t.ini:14: [backend be] stick-table: 'peers LC': no [peers LC] section" in text


def test_two_sections_cannot_share_the_local_port(problems_of: Problems) -> None:
    problems = problems_of(
        """
        [global]
        localpeer = me

        [peers A]
        peer me = 127.0.0.1:19000

        [peers B]
        peer me = 127.0.0.1:19000
        """
        + BACKEND
        + """
        [frontend web]
        bind = 127.0.0.1:8000
        default_backend = be
        """
    )
    assert any("[peers B] the local peer listens on 127.0.0.1:19000" in p for p in problems)


# --- global: workers, nbproc ----------------------------------------------------------------------


@pytest.mark.parametrize(("value", "workers"), [(None, 1), ("1", 1), ("4", 4)])
def test_workers(load_ini: Load, value: str | None, workers: int) -> None:
    line = f"workers = {value}\n" if value else ""
    cfg = load_ini(
        f"[global]\n{line}" + BACKEND + "[frontend web]\nbind = 127.0.0.1:8000\n"
        "default_backend = be\n"
    )
    assert cfg.global_.workers == workers


def test_workers_bounds_and_nbproc(problems_of: Problems) -> None:
    problems = problems_of("[global]\nworkers = 0\nnbproc = 2\nnbthread = 4\n" + BACKEND)
    text = "\n".join(problems)
    assert "t.ini:2: [global] workers:" in text
    assert "'nbproc' is written 'workers' in stack" in text
    assert "'nbthread' is not supported" in text and "'workers = N'" in text


@pytest.mark.parametrize(("value", "seconds"), [(None, 30.0), ("5s", 5.0), ("2m", 120.0)])
def test_hard_stop_after(load_ini: Load, value: str | None, seconds: float) -> None:
    line = f"hard-stop-after = {value}\n" if value else ""
    cfg = load_ini(f"[global]\n{line}" + BACKEND)
    assert cfg.global_.hard_stop_after == seconds


def test_hard_stop_after_needs_a_duration(problems_of: Problems) -> None:
    text = "\n".join(problems_of("[global]\nhard-stop-after = soon\n" + BACKEND))
    assert "t.ini:2:" in text and "hard-stop-after" in text


def test_timeout_client_fin_falls_back_to_timeout_client(load_ini: Load) -> None:
    cfg = load_ini(
        "[defaults]\ntimeout client = 40s\n"
        + BACKEND
        + "[frontend a]\nbind = 127.0.0.1:8000\ndefault_backend = be\n"
        + "[frontend b]\nbind = 127.0.0.1:8001\ndefault_backend = be\n"
        + "timeout client-fin = 3s\n"
    )
    assert cfg.frontend("a").timeouts.client_fin == 40.0
    assert cfg.frontend("b").timeouts.client_fin == 3.0
    assert cfg.frontend("b").timeouts.client == 40.0


# --- use-service ----------------------------------------------------------------------------------


def test_use_service_prometheus_exporter(load_ini: Load) -> None:
    cfg = load_ini(
        """
        [frontend web]
        bind = 127.0.0.1:8000
        default_backend = be
        http-request = use-service prometheus-exporter if { path /metrics }
        """
        + BACKEND
    )
    (rule,) = cfg.frontend("web").http_request
    assert (rule.action, rule.name) == ("use-service", b"prometheus-exporter")
    assert rule.condition is not None and rule.condition.text == "if { path /metrics }"


def test_use_service_problems(problems_of: Problems) -> None:
    problems = problems_of(
        """
        [frontend web]
        bind = 127.0.0.1:8000
        default_backend = be
        http-request = use-service prometheus
                       use-service
        http-response = use-service prometheus-exporter
        """
        + BACKEND
    )
    text = "\n".join(problems)
    assert "unknown service 'prometheus' for use-service" in text
    assert "did you mean 'prometheus-exporter'?" in text
    assert "use-service needs a service name" in text
    assert "http-response action 'use-service'" in text
