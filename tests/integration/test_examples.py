"""The example configurations end to end: each ``etc/examples/seed-*.ini`` runs under
``twistd -n stack`` on loopback and shows the behaviour its seed's haproxy.cfg article asks for.

Each example is loaded as it is, with only its fixed ports (binds 18000-18099, servers and
demos 9300-9499) moved to free ones. Where the built-in demo apps cannot show a behaviour (a
server that sets JSESSIONID, a Location header, what a server received), the server's port is
pointed at a recording origin (tests/integration/origin.py) instead of the demo's.
"""

from __future__ import annotations

import http.client
import json
import re
import shutil
import time
from pathlib import Path
from urllib.parse import quote

import pytest
from conftest import ROOT, free_port, raw_exchange, wait_for
from test_backend_tls import TlsOrigin, pki  # noqa: F401  (pki is a fixture)
from test_balancer import get

pytestmark = pytest.mark.integration

EXAMPLES = ROOT / "etc" / "examples"
_ADDR = re.compile(r"127\.0\.0\.1:(\d+)")


def _fixed(port: int) -> bool:
    return 18000 <= port <= 18099 or 9300 <= port <= 9499


class Example:
    """An example's text with its fixed ports moved: ``port(18000)`` is where 18000 went.

    ``origins`` maps a fixed server port to a recording origin's port: the ``server`` lines
    point there, and the ``[demo]`` that listened on it moves to a free port of its own.
    """

    def __init__(self, name: str, origins: dict[int, int] | None = None) -> None:
        text = (EXAMPLES / name).read_text()
        self.ports: dict[int, int] = dict(origins or {})
        used = set(self.ports.values())

        def fresh() -> int:
            port = free_port()
            while port in used:
                port = free_port()
            used.add(port)
            return port

        for found in _ADDR.findall(text):
            old = int(found)
            if _fixed(old) and old not in self.ports:
                self.ports[old] = fresh()
        moved_demos = {old: fresh() for old in origins or {}}
        lines = []
        for line in text.splitlines(keepends=True):
            table = moved_demos if line.startswith("bind") else {}

            def move(m: re.Match, table: dict[int, int] = table) -> str:
                old = int(m.group(1))
                if not _fixed(old):
                    return m.group(0)
                return f"127.0.0.1:{table.get(old, self.ports[old])}"

            lines.append(_ADDR.sub(move, line))
        # certificate = auto keeps its CA in the test's directory, not the repository's var/
        self.text = re.sub(r"(?m)^state-dir = .*$", "state-dir = var", "".join(lines))

    def port(self, fixed: int) -> int:
        return self.ports[fixed]


def start(run_stack, example: Example, bind: int):
    """``twistd -n stack -c <example>``: every tier the file describes (balancer and demos)."""
    return run_stack(example.text, example.port(bind), tiers=())


def set_cookies(r: http.client.HTTPResponse) -> list[str]:
    return [v for k, v in r.getheaders() if k.lower() == "set-cookie"]


def header_values(r: http.client.HTTPResponse, name: str) -> list[str]:
    return [v for k, v in r.getheaders() if k.lower() == name.lower()]


def seen_headers(record: dict) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for k, v in record["headers"]:
        out.setdefault(k.lower(), []).append(v)
    return out


def hdrs_query(headers: dict[str, str]) -> str:
    return "hdrs=" + quote(json.dumps(headers))


# -- seed 000: ACL routing, round robin, PHP sessions kept by appsession -------------------------


def test_seed000_two_clients_each_keep_their_own_films_list(run_stack) -> None:
    ex = Example("seed-000-films.ini")
    stack = start(run_stack, ex, 18000)
    port = ex.port(18000)

    # Everything outside /fun reaches backend "site", balanced over websrv1 and websrv2.
    site = [get(port, f"/index{i}.php") for i in range(4)]
    assert [r.status for r, _ in site] == [200] * 4
    assert [r.getheader("X-Served-By") for r, _ in site] == ["websrv1", "websrv2"] * 2
    assert b"<h1>site</h1> served by websrv1" in site[0][1]
    assert b"path: /index0.php" in site[0][1]

    class Client:
        def __init__(self) -> None:
            self.cookie: str | None = None
            self.servers: list[str] = []

        def fav(self, film: str) -> str:
            headers = {"Cookie": self.cookie} if self.cookie else {}
            r, body = get(port, f"/fun/films.php?fav={film}", headers=headers)
            assert r.status == 200
            for value in set_cookies(r):
                assert self.cookie is None, "the session was started again"
                assert re.fullmatch(r"PHPSESSID=[0-9a-f]{32}; path=/", value)
                self.cookie = value.split(";")[0]
            self.servers.append(r.getheader("X-Served-By"))
            m = re.search(rb"My Favourite Films: ([^<\n]*)", body)
            assert m, body
            return m.group(1).decode()

    one, two = Client(), Client()
    # The article's requests, interleaved so that plain round robin would have moved each
    # client to the other films server (and lost its session) at least once.
    assert one.fav("avengers") == "avengers"
    assert two.fav("race3") == "race3"
    assert one.fav("jurassicworld") == "avengers , jurassicworld"
    assert one.fav("gold") == "avengers , jurassicworld , gold"
    assert two.fav("gold") == "race3 , gold"
    assert two.fav("dangal") == "race3 , gold , dangal"
    assert one.fav("up") == "avengers , jurassicworld , gold , up"
    # /fun reaches only backend "films"; each client stayed on the server of its session.
    assert set(one.servers) | set(two.servers) <= {"webserver3", "webserver4"}
    assert len(set(one.servers)) == 1 and len(set(two.servers)) == 1
    assert one.servers[0] != two.servers[0]
    assert one.cookie != two.cookie
    # Requests without a session are still balanced over both films servers.
    anon = {get(port, f"/fun/films.php?fav=x{i}")[0].getheader("X-Served-By") for i in range(4)}
    assert anon == {"webserver3", "webserver4"}
    assert wait_for(lambda: "fav=x3" in stack.log_text())
    log = stack.log_text()
    assert "httptraffic films/webserver3" in log and "httptraffic site/websrv1" in log


def test_seed000_ssl_termination_by_the_edge(origins, run_stack, tmp_path: Path) -> None:
    """The article's SSL part: http redirected to https (302, as ``redirect scheme``), TLS
    terminated in front of the frontend, X-Forwarded-Proto/-Port reaching the servers."""
    import ssl

    site = origins("site")
    ex = Example("seed-000-films.ini", {9300: site.port, 9301: site.port})
    run_stack(ex.text, ex.port(18043), tiers=())
    https_port, plain_port = ex.port(18043), ex.port(18080)
    out, _closed = raw_exchange(
        plain_port, b"GET /index.php?x=1 HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    assert out.startswith(b"HTTP/1.1 302 Found\r\n")
    assert f"\r\nLocation: https://127.0.0.1:{https_port}/index.php?x=1\r\n".encode() in out
    ca = tmp_path / "var" / "tls" / "ca.pem"
    conn = http.client.HTTPSConnection(
        "127.0.0.1", https_port, context=ssl.create_default_context(cafile=str(ca)), timeout=10
    )
    conn.request("GET", "/index.php", headers={"Host": f"127.0.0.1:{https_port}"})
    response = conn.getresponse()
    record = json.loads(response.read())
    conn.close()
    assert response.status == 200
    sent = {k.lower(): v for k, v in record["headers"]}
    assert sent["x-forwarded-proto"] == "https"
    assert sent["x-forwarded-port"] == str(https_port)


def test_seed000_session_of_an_unavailable_server_is_redispatched(killable, run_stack) -> None:
    web3, web4 = killable("webserver3"), killable("webserver4")
    ex = Example("seed-000-films.ini", {9302: web3.port, 9303: web4.port})
    stack = start(run_stack, ex, 18000)
    port = ex.port(18000)
    session = "0123456789abcdef0123456789abcdef"
    hdrs = hdrs_query({"Set-Cookie": f"PHPSESSID={session}; path=/"})
    first, _ = get(port, f"/fun/films.php?fav=avengers&{hdrs}")
    assert first.status == 200
    home = first.getheader("X-Served-By")
    dead, live = (web3, web4) if home == "webserver3" else (web4, web3)
    cookie = {"Cookie": f"PHPSESSID={session}"}
    for i in range(3):  # round robin alone would alternate
        r, _ = get(port, f"/fun/films.php?fav=f{i}", headers=cookie)
        assert r.getheader("X-Served-By") == home
    # The session's server goes away: "HAProxy should be free to route requests with that
    # same session id to a different active server instance" (option redispatch, retries 3).
    dead.kill()
    r, _ = get(port, "/fun/films.php?fav=jurassicworld", headers=cookie)
    assert r.status == 200
    assert r.getheader("X-Served-By") == live.name
    assert live.requests[-1]["target"] == "/fun/films.php?fav=jurassicworld"

    def line() -> str:
        found = [x for x in stack.log_text().splitlines() if "fav=jurassicworld" in x]
        return found[-1] if found else ""

    assert wait_for(lambda: line() != "")
    # logged as a redispatch ("+" before the retries count) to the live server
    assert f"films/{live.name} " in line() and re.search(r"/\+\d+ ", line())


# -- seed 001: cookie SRVNAME insert -------------------------------------------------------------


def test_seed001_new_users_stick_to_server_a_or_b(run_stack) -> None:
    ex = Example("seed-001-sticky.ini")
    start(run_stack, ex, 18010)
    port = ex.port(18010)
    by_cookie = {"SA": "ServerA", "SB": "ServerB"}
    users = []
    for _ in range(2):
        r, body = get(port, "/")
        assert r.status == 200
        [cookie] = set_cookies(r)
        m = re.fullmatch(r"SRVNAME=(SA|SB); path=/", cookie)
        assert m, cookie
        assert r.getheader("X-Served-By") == by_cookie[m.group(1)]
        # option forwardfor
        assert b"X-Forwarded-For: 127.0.0.1" in body
        users.append(m.group(1))
    assert sorted(users) == ["SA", "SB"]  # new users are balanced (round robin)
    # option http-keep-alive: each user's requests on one connection stay on its server.
    for value in users:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        for i in range(4):
            c.request("GET", f"/page{i}", headers={"Cookie": f"SRVNAME={value}"})
            r = c.getresponse()
            r.read()
            assert r.status == 200
            assert r.getheader("X-Served-By") == by_cookie[value]
            assert set_cookies(r) == []  # the client's cookie is valid: nothing to insert
            assert c.sock is not None  # the balancer kept the connection open
        c.close()


def test_seed001_server_receives_the_srvname_cookie(origins, run_stack) -> None:
    a, b = origins("ServerA"), origins("ServerB")
    ex = Example("seed-001-sticky.ini", {9310: a.port, 9311: b.port})
    start(run_stack, ex, 18010)
    port = ex.port(18010)
    for _ in range(3):
        r, _ = get(port, "/cart", headers={"Cookie": "SRVNAME=SB; lang=en"})
        assert r.getheader("X-Served-By") == "ServerB"
    # Without "indirect", the server sees the persistence cookie as the client sent it.
    assert seen_headers(b.requests[-1])["cookie"] == ["SRVNAME=SB; lang=en"]
    assert seen_headers(b.requests[-1])["x-forwarded-for"] == ["127.0.0.1"]
    assert all(r["target"] != "/cart" for r in a.requests)


# -- seed 002: cookie SERVERNAME insert indirect nocache; cookie JSESSIONID prefix ----------------


def test_seed002_servername_cookie_sticks_and_connection_closes(run_stack) -> None:
    ex = Example("seed-002-apache.ini")
    start(run_stack, ex, 18020)
    port = ex.port(18020)
    r, body = get(port, "/")
    [cookie] = set_cookies(r)
    m = re.fullmatch(r"SERVERNAME=(s1|s2); path=/", cookie)
    assert m, cookie
    server = {"s1": "apache-1", "s2": "apache-2"}[m.group(1)]
    assert r.getheader("X-Served-By") == server
    assert b"X-Forwarded-For: 127.0.0.1" in body
    # The demo answers Cache-Control: no-store: not cacheable, so nocache adds nothing.
    assert header_values(r, "Cache-Control") == ["no-store"]
    for i in range(4):
        r2, _ = get(port, f"/next{i}", headers={"Cookie": m.group(0)})
        assert r2.getheader("X-Served-By") == server
        assert set_cookies(r2) == []
    # option httpclose: the client connection ends after each response.
    out, closed = raw_exchange(
        port, f"GET /ka HTTP/1.1\r\nHost: lb\r\nCookie: {m.group(0)}\r\n\r\n".encode()
    )
    assert out.startswith(b"HTTP/1.1 200") and closed


def test_seed002_indirect_cookie_hidden_and_private_when_cacheable(origins, run_stack) -> None:
    a, b = origins("apache-1"), origins("apache-2")
    ex = Example("seed-002-apache.ini", {9320: a.port, 9321: b.port})
    start(run_stack, ex, 18020)
    port = ex.port(18020)
    lm = hdrs_query({"Last-Modified": "Wed, 21 Oct 2015 07:28:00 GMT"})
    r, _ = get(port, f"/static?{lm}")
    assert r.getheader("X-Served-By") == "apache-1"
    assert set_cookies(r) == ["SERVERNAME=s1; path=/"]
    # "It is going to append a Cache-Control" to a response a cache could keep (HAProxy 2.6:
    # "private", only when the response is cacheable).
    assert header_values(r, "Cache-Control") == ["private"]
    r, _ = get(port, "/plain")
    assert r.getheader("X-Served-By") == "apache-2"
    assert set_cookies(r) == ["SERVERNAME=s2; path=/"]
    assert header_values(r, "Cache-Control") == []
    r, _ = get(port, "/again", headers={"Cookie": "theme=dark; SERVERNAME=s1; lang=en"})
    assert r.getheader("X-Served-By") == "apache-1" and set_cookies(r) == []
    seen = seen_headers(a.requests[-1])
    assert seen["cookie"] == ["theme=dark; lang=en"]  # indirect: HAProxy's cookie removed
    assert seen["x-forwarded-for"] == ["127.0.0.1"]
    r, _ = get(port, "/only", headers={"Cookie": "SERVERNAME=s1"})
    assert r.getheader("X-Served-By") == "apache-1"
    assert "cookie" not in seen_headers(a.requests[-1])


def test_seed002_jsessionid_prefix_round_trip(origins, run_stack) -> None:
    a, b = origins("apache-1"), origins("apache-2")
    ex = Example("seed-002-apache.ini", {9322: a.port, 9323: b.port})
    start(run_stack, ex, 18021)
    port = ex.port(18021)
    sessions = {"s1": "1494bcc481ede09b753b714879f3fe10", "s2": "58b7757a43f3f765b0f8d611552c5c9a"}
    names = {"s1": "apache-1", "s2": "apache-2"}
    for value in ("s1", "s2"):  # round robin: the first new client to s1, the second to s2
        r, _ = get(port, "/login?" + hdrs_query({"Set-Cookie": f"JSESSIONID={sessions[value]}"}))
        assert r.getheader("X-Served-By") == names[value]
        # "Set-Cookie: JSESSIONID=s1~1494bcc481ede09b753b714879f3fe10"
        assert set_cookies(r) == [f"JSESSIONID={value}~{sessions[value]}"]
    for i in range(3):
        for value in ("s1", "s2"):
            r, _ = get(
                port, f"/work{i}", headers={"Cookie": f"JSESSIONID={value}~{sessions[value]}"}
            )
            assert r.status == 200
            assert r.getheader("X-Served-By") == names[value]
            origin = a if value == "s1" else b
            # "HAProxy will clean it up on the fly to set it up back like the origin"
            assert seen_headers(origin.requests[-1])["cookie"] == [f"JSESSIONID={sessions[value]}"]
    # "indirect" with "prefix": on a request that came with a valid cookie, the server's
    # cookie update is removed (HAProxy's manual warns about this combination).
    r, _ = get(
        port,
        "/renew?" + hdrs_query({"Set-Cookie": "JSESSIONID=newsession; Path=/; HttpOnly"}),
        headers={"Cookie": f"JSESSIONID=s2~{sessions['s2']}"},
    )
    assert r.getheader("X-Served-By") == "apache-2"
    assert set_cookies(r) == []


# -- seed 003: SERVERID insert with maxidle/maxlife, persist/redispatch, JSESSIONID stick table ----


def _dates(cookie: str) -> tuple[str, int, int]:
    from stack.balancer.cookies import decode_date

    m = re.fullmatch(r"SERVERID=([^|;]+)\|([A-Za-z0-9+/]{5})\|([A-Za-z0-9+/]{5}); path=/", cookie)
    assert m, cookie
    last, first = decode_date(m.group(2)), decode_date(m.group(3))
    assert last is not None and first is not None
    return m.group(1), last, first


def _serverid(server: str, last: float, first: float) -> str:
    from stack.balancer.cookies import encode_date

    return f"SERVERID={server}|{encode_date(int(last))}|{encode_date(int(first))}"


SEED3_SERVERS = {"ip-10-22-1-18", "ip-10-22-2-34"}


def test_seed003_serverid_cookie_with_dates_keeps_the_client(run_stack) -> None:
    ex = Example("seed-003-sticky-tls.ini")
    stack = start(run_stack, ex, 18031)
    port = ex.port(18031)
    now = time.time()
    r, body = get(port, "/app")
    assert r.status == 200
    [cookie] = set_cookies(r)
    server, last, first = _dates(cookie)
    assert server == r.getheader("X-Served-By") and server in SEED3_SERVERS
    assert abs(last - now) <= 8 and abs(first - now) <= 8
    # forwardfor except 127.0.0.1: this client is 127.0.0.1, so no X-Forwarded-For.
    assert b"X-Forwarded-For: (none)" in body
    # A fresh cookie keeps the client on its server (a date refresh names the same server).
    for i in range(4):
        r, _ = get(port, f"/app/{i}", headers={"Cookie": cookie.split(";")[0]})
        assert r.status == 200 and r.getheader("X-Served-By") == server
        for again in set_cookies(r):
            assert _dates(again)[0] == server
    other = (SEED3_SERVERS - {server}).pop()
    r, _ = get(port, "/app/x", headers={"Cookie": _serverid(other, now, now)})
    assert r.getheader("X-Served-By") == other
    assert wait_for(lambda: '"GET /app/x HTTP/1.1"' in stack.log_text())
    assert f"https-in https-in/{other} " in stack.log_text()


@pytest.mark.parametrize("kind", ["maxidle", "maxlife"])
def test_seed003_expired_serverid_cookie_is_replaced(run_stack, kind: str) -> None:
    ex = Example("seed-003-sticky-tls.ini")
    stack = start(run_stack, ex, 18031)
    port = ex.port(18031)
    home = "ip-10-22-1-18"
    served = []
    for i in range(4):
        now = time.time()
        if kind == "maxidle":  # last seen 31 minutes ago (maxidle 30m)
            stale = _serverid(home, now - 31 * 60, now - 40 * 60)
        else:  # seen just now, but first issued 9 hours ago (maxlife 8h)
            stale = _serverid(home, now, now - 9 * 3600)
        r, _ = get(port, f"/stale{i}", headers={"Cookie": stale})
        assert r.status == 200
        server = r.getheader("X-Served-By")
        served.append(server)
        # The expired cookie counts as absent: the client is balanced again and gets a new
        # cookie, for the server that answered, with both dates starting again.
        [cookie] = set_cookies(r)
        name, last, first = _dates(cookie)
        assert name == server
        assert abs(last - now) <= 8 and abs(first - now) <= 8
    assert set(served) == SEED3_SERVERS  # leastconn with no load spreads them
    flag = "E" if kind == "maxidle" else "O"

    def lines() -> list[str]:
        return [x for x in stack.log_text().splitlines() if "/stale" in x]

    assert wait_for(lambda: len(lines()) == 4)
    lines = lines()
    assert all(re.search(rf" --{flag}I ", x) for x in lines), lines


def test_seed003_health_check_and_redispatch_of_a_dead_server(killable, run_stack) -> None:
    a, b = killable("ip-10-22-1-18"), killable("ip-10-22-2-34")
    ex = Example("seed-003-sticky-tls.ini", {9330: a.port, 9331: b.port})
    stack = start(run_stack, ex, 18031)
    port = ex.port(18031)
    # option httpchk GET /resource/hc/application HTTP/1.1\r\nHost:\ myhost.mydomain.com
    assert wait_for(lambda: any(r["target"] == "/resource/hc/application" for r in a.requests))
    check = next(r for r in a.requests if r["target"] == "/resource/hc/application")
    assert (check["method"], check["version"]) == ("GET", "HTTP/1.1")
    assert seen_headers(check)["host"] == ["myhost.mydomain.com"]
    now = time.time()
    cookie = {"Cookie": _serverid("ip-10-22-1-18", now, now)}
    r, _ = get(port, "/before", headers=cookie)
    assert r.getheader("X-Served-By") == "ip-10-22-1-18" and set_cookies(r) == []
    assert "cookie" not in seen_headers(a.requests[-1])  # indirect
    # "but redispatch the session to the other server if that one is down"
    a.kill()
    r, _ = get(port, "/after", headers=cookie)
    assert r.status == 200
    assert r.getheader("X-Served-By") == "ip-10-22-2-34"
    [new] = set_cookies(r)
    assert _dates(new)[0] == "ip-10-22-2-34"
    assert wait_for(lambda: '"GET /after HTTP/1.1"' in stack.log_text())
    line = next(x for x in stack.log_text().splitlines() if '"GET /after HTTP/1.1"' in x)
    assert "https-in/ip-10-22-2-34 " in line and re.search(r"/\+\d+ ", line)


def test_seed003_article_tls_servers(pki, run_stack) -> None:  # noqa: F811
    """The article's own server lines (``ssl verify none ... check inter 2s``, shown commented
    in the example) against TLS origins: traffic and health checks go over TLS, and the
    SERVERID cookie keeps the client on its server."""
    d, cert = pki
    a, b = TlsOrigin("ip-10-22-1-18", cert, d), TlsOrigin("ip-10-22-2-34", cert, d)
    try:
        ex = Example("seed-003-sticky-tls.ini")
        text = ex.text
        for origin, address in ((a, "10.22.1.18:443"), (b, "10.22.2.34:443")):
            name = origin.name
            plain = next(x for x in text.splitlines() if x.startswith(f"server {name} = "))
            tls = f"# server {name} = {address} "
            commented = next(x for x in text.splitlines() if x.startswith(tls))
            article = commented[2:].replace(address, f"127.0.0.1:{origin.port}")
            text = text.replace(plain, article)
        ex.text = text
        start(run_stack, ex, 18031)
        port = ex.port(18031)
        assert wait_for(lambda: any(r["target"] == "/resource/hc/application" for r in a.requests))
        first, _ = get(port, "/login")
        server = first.getheader("X-Served-By")
        [cookie] = set_cookies(first)
        for i in range(3):
            r, _ = get(port, f"/page{i}", headers={"Cookie": cookie.split(";")[0]})
            assert r.status == 200 and r.getheader("X-Served-By") == server
        assert a.handshake_failures == 0 and b.handshake_failures == 0
        assert None in a.sni  # no sni keyword: none sent
    finally:
        a.close()
        b.close()


def test_seed003_tomcats_stick_on_the_jsessionid_cookie(origins, run_stack) -> None:
    t1, t2 = origins("tomcat1"), origins("tomcat2")
    ex = Example("seed-003-sticky-tls.ini", {9332: t1.port, 9333: t2.port})
    start(run_stack, ex, 18030)
    port = ex.port(18030)
    ids = ["58B7757A43F3F765B0F8D611552C5C9A", "04939656BF230A8B1A26C70E996AEC86"]
    home = {}
    for sid in ids:
        r, _ = get(port, "/myapi/login?" + hdrs_query({"Set-Cookie": f"JSESSIONID={sid}; Path=/"}))
        assert r.status == 200
        home[sid] = r.getheader("X-Served-By")
        # The application's cookie goes through untouched (no HAProxy cookie here).
        assert set_cookies(r) == [f"JSESSIONID={sid}; Path=/"]
    assert set(home.values()) == {"tomcat1", "tomcat2"}
    for i in range(3):
        for sid in ids:
            r, _ = get(port, f"/myapi/workspace/{i}", headers={"Cookie": f"JSESSIONID={sid}"})
            assert r.getheader("X-Served-By") == home[sid]
    # Requests without a session id (static content) are served by any server.
    anon = {get(port, f"/static/{i}.css")[0].getheader("X-Served-By") for i in range(4)}
    assert anon == {"tomcat1", "tomcat2"}


# -- seed 004: /appN/ routing, replace-path and replace-header, SRVID, errorfiles ----------------


def test_seed004_app_prefix_stripped_and_put_back(origins, run_stack, tmp_path: Path) -> None:
    shutil.copytree(EXAMPLES / "errors", tmp_path / "errors")  # errorfile paths are relative
    app1 = [origins(f"app1_{i}") for i in (1, 2, 3)]
    ex = Example(
        "seed-004-balancer.ini", {9411: app1[0].port, 9412: app1[1].port, 9413: app1[2].port}
    )
    start(run_stack, ex, 18040)
    port = ex.port(18040)
    hdrs = hdrs_query(
        {
            "Location": "http://backend.example/login?next=1",
            "Set-Cookie": "APPSESSION=abc; path=/; HttpOnly",
        }
    )
    r, body = get(port, f"/app1/x?{hdrs}", headers={"Host": "www.example.com"})
    assert r.status == 200
    # The server sees the request relative to /.
    seen = json.loads(body)
    assert seen["target"] == f"/x?{hdrs}"
    server = r.getheader("X-Served-By")
    assert server == "app1_1"
    # The Location and the application's cookie path come back under /app1/.
    assert r.getheader("Location") == "http://backend.example/app1/login?next=1"
    cookies = set_cookies(r)
    assert "APPSESSION=abc; path=/app1/; HttpOnly" in cookies
    assert len(cookies) == 2
    r, body = get(port, "/app1/", headers={"Cookie": "SRVID=app1_1"})
    assert json.loads(body)["target"] == "/"
    # The SRVID cookie keeps the client on its server and never reaches the server.
    for i in range(4):
        r, body = get(port, f"/app1/page{i}", headers={"Cookie": "SRVID=app1_3; a=b"})
        seen = json.loads(body)
        assert r.getheader("X-Served-By") == "app1_3" and seen["target"] == f"/page{i}"
        assert seen_headers(seen)["cookie"] == ["a=b"]
        assert set_cookies(r) == []
    # The other applications go to their own backends (demo servers), also seen under /.
    r, body = get(port, "/app2/hello")
    assert r.getheader("X-Served-By") in {"app2_1", "app2_2", "app2_3"}
    assert b"path: /hello" in body
    assert re.match(r"SRVID=app2_[123]; ", set_cookies(r)[0])  # its path: see the end
    r, body = get(port, "/app3/a/b?c=d")
    assert r.getheader("X-Served-By") in {"app3_1", "app3_2", "app3_3"}
    assert b"path: /a/b?c=d" in body
    # No application matches: the frontend has no default backend, so the 503 errorfile.
    r, body = get(port, "/app4/x")
    assert r.status == 503
    page = (EXAMPLES / "errors" / "503.http").read_bytes()
    assert body == page.split(b"\r\n\r\n", 1)[1]

    # option httpchk GET / HTTP/1.0\r\nUser-Agent:\ HAProxy: the first server's first check
    # runs at start, so the servers can leave the checks out of their logs.
    def checks() -> list[dict]:
        return [
            x
            for x in app1[0].requests
            if seen_headers(x).get("user-agent") == ["HAProxy"] and x["target"] == "/"
        ]

    assert wait_for(checks)
    assert (checks()[0]["method"], checks()[0]["version"]) == ("GET", "HTTP/1.0")
    # HAProxy runs the http-response rules before it inserts its own cookie
    # (http_process_res_common), so the SRVID cookie keeps path=/ and is not rewritten.
    assert "SRVID=app1_1; path=/" in cookies, cookies
