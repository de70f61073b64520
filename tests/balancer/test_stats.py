"""stats.py, statspage.py and prometheus.py on an in-memory balancer (MemoryReactorClock,
StringTransports): the figures after known traffic, HAProxy 2.6's formats, the page's auth and
admin POST. Formats captured from HAProxy 2.6.12 are compared byte for byte."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from twisted.internet.address import IPv4Address
from twisted.internet.testing import MemoryReactorClock, StringTransportWithDisconnection

from stack.balancer import prometheus, statspage
from stack.balancer.backend import ADMIN_FDRAIN, ADMIN_FMAINT
from stack.balancer.checks import CheckResult, HealthState
from stack.balancer.frontend import htx_request_size
from stack.balancer.service import BalancerService
from stack.balancer.stats import (
    CSV_HEADER,
    FIELD_NAMES,
    StatsSource,
    format_csv,
    register_stats_commands,
    server_status,
    value,
)
from stack.config import load
from stack.http.message import Request
from stack.runtime.api import RuntimeApi

REFERENCE = Path("/work/shared/reference/haproxy-stats-csv-header.txt")
ROOT = Path(__file__).resolve().parents[2]

CONFIG = """\
[global]
stats socket = {tmp}/s.sock level admin
maxconn = 1000

[defaults]
mode = http
timeout connect = 5s
timeout client = 50s
timeout server = 50s

[frontend web]
bind = 127.0.0.1:18080
default_backend = app

[backend app]
balance = roundrobin
cookie = SRV insert indirect nocache
server s1 = 10.0.0.1:8001 cookie a weight 3
server s2 = 10.0.0.2:8002 maxconn 10 maxqueue 5
server s3 = 10.0.0.3:8003 disabled
server s4 = 10.0.0.4:8004 backup

[listen stats]
bind = 127.0.0.1:18081
stats uri = /haproxy?stats
stats realm = Test\\ Realm
stats auth = admin:secret
stats refresh = 5s
stats admin = if TRUE
http-request = use-service prometheus-exporter if {{ path /metrics }}
"""

RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nServer: origin\r\n\r\nhello"
AUTH = "Authorization: Basic " + base64.b64encode(b"admin:secret").decode() + "\r\n"


class Lab:
    def __init__(self, tmp_path: Path) -> None:
        path = tmp_path / "stack.ini"
        path.write_text(CONFIG.format(tmp=tmp_path))
        self.reactor = MemoryReactorClock()
        self.reactor.advance(1_000_000.0)
        self.service = BalancerService(load(str(path)), self.reactor)
        self.api = RuntimeApi()
        self.source = register_stats_commands(self.api, self.service, self.service.config)
        self.source.started = self.reactor.seconds()
        self.backends: list[tuple[object, StringTransportWithDisconnection]] = []

    def client(self, frontend: str = "web") -> StringTransportWithDisconnection:
        factory = self.service.handlers[frontend].factory
        channel = factory.buildProtocol(None)
        transport = StringTransportWithDisconnection(
            hostAddress=IPv4Address("TCP", "127.0.0.1", 18080),
            peerAddress=IPv4Address("TCP", "192.0.2.7", 40000),
        )
        transport.protocol = channel
        channel.makeConnection(transport)
        return transport

    def get(self, path: str, frontend: str = "web", extra: str = "") -> bytes:
        client = self.client(frontend)
        client.protocol.dataReceived(
            f"GET {path} HTTP/1.1\r\nHost: x\r\n{extra}\r\n".encode()  # type: ignore[union-attr]
        )
        while self.reactor.tcpClients:
            host, port, factory, _t, _b = self.reactor.tcpClients.pop(0)
            conn = factory.buildProtocol(IPv4Address("TCP", host, port))
            transport = StringTransportWithDisconnection(
                hostAddress=IPv4Address("TCP", "127.0.0.1", 50000),
                peerAddress=IPv4Address("TCP", host, port),
            )
            transport.protocol = conn
            conn.makeConnection(transport)
            self.backends.append((conn, transport))
        for conn, _transport in self.backends:
            if getattr(conn, "listener", None) is not None:  # waiting for a response
                self.reactor.advance(0.004)
                conn.dataReceived(RESPONSE)  # type: ignore[attr-defined]
        return client.value()

    def post(self, body: str, path: str = "/haproxy?stats", auth: str = AUTH) -> bytes:
        client = self.client("stats")
        client.protocol.dataReceived(  # type: ignore[union-attr]
            (
                f"POST {path} HTTP/1.1\r\nHost: x\r\n{auth}"
                "Content-Type: application/x-www-form-urlencoded\r\n"
                f"Content-Length: {len(body)}\r\n\r\n{body}"
            ).encode()
        )
        return client.value()

    def row(self, pxname: str, svname: str) -> list:  # type: ignore[type-arg]
        for row in self.source.rows():
            if value(row, "pxname") == pxname and value(row, "svname") == svname:
                return row
        raise AssertionError(f"no row {pxname}/{svname}")


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    made = Lab(tmp_path)
    yield made
    made.service.pool.close_all()


def test_csv_header_is_haproxy_26_byte_for_byte() -> None:
    expected = REFERENCE.read_text().splitlines()[-1] + "\n"
    assert expected == CSV_HEADER
    assert len(FIELD_NAMES) == 103 + 24


def test_rows_in_config_order_with_haproxy_ids(lab: Lab) -> None:
    out = lab.api.execute("show stat", "admin")
    lines = out.splitlines()
    assert lines[0] + "\n" == CSV_HEADER
    ids = [tuple(line.split(",")[i] for i in (0, 1, 27, 28, 32)) for line in lines[1:] if line]
    assert ids == [
        ("web", "FRONTEND", "2", "0", "0"),  # iid 2: the stats socket's CLI proxy has 1
        ("app", "s1", "3", "1", "2"),
        ("app", "s2", "3", "2", "2"),
        ("app", "s3", "3", "3", "2"),
        ("app", "s4", "3", "4", "2"),
        ("app", "BACKEND", "3", "0", "1"),
        ("stats", "FRONTEND", "4", "0", "0"),
        ("stats", "BACKEND", "4", "0", "1"),
    ]
    assert all(line.count(",") == len(FIELD_NAMES) + 1 for line in lines[1:] if line)


def test_counters_after_traffic(lab: Lab) -> None:
    for path in ("/a", "/b", "/c"):
        assert lab.get(path).endswith(b"hello")
    request = Request(b"GET", b"/a", b"1.1", [(b"host", b"x")])
    size = htx_request_size(request)
    assert size == 20 + 3 + 2 + 8 + 5 + 1  # HAProxy's HTX count (bin) of this request
    fe = lab.row("web", "FRONTEND")
    # three client connections, all still open
    assert value(fe, "stot") == 3 and value(fe, "conn_tot") == 3 and value(fe, "smax") == 3
    assert value(fe, "scur") == 3
    assert value(fe, "req_tot") == 3 and value(fe, "hrsp_2xx") == 3
    assert value(fe, "bin") == 3 * size
    # bout: what the server sent as HTX: start line block, headers, EOH, body
    out = 20 + 8 + 3 + 2 + 1 + len("content-length5serverorigin") + 5
    assert value(fe, "bout") == 3 * out
    assert value(fe, "slim") == 1000 and value(fe, "status") == "OPEN"
    assert value(fe, "rate") == 3 and value(fe, "req_rate") == 3
    be = lab.row("app", "BACKEND")
    assert value(be, "lbtot") == 3 and value(be, "stot") == 3 and value(be, "req_tot") == 3
    assert value(be, "hrsp_2xx") == 3 and value(be, "bin") == 3 * size
    assert value(be, "slim") == 100  # fullconn: (1000 + 9) // 10
    assert value(be, "cookie") == "SRV" and value(be, "algo") == "roundrobin"
    assert value(be, "weight") == 4 and value(be, "uweight") == 4  # s1 (3) + s2 (1)
    assert (value(be, "act"), value(be, "bck")) == (2, 1)
    s1, s2 = lab.row("app", "s1"), lab.row("app", "s2")
    picked = (value(s1, "stot"), value(s2, "stot"))
    assert sum(picked) == 3 and picked[0] >= 2  # weights 3 and 1
    assert (value(s1, "lbtot"), value(s2, "lbtot")) == picked
    assert (value(s1, "req_tot"), value(s2, "req_tot")) == picked
    # 4 ms between connect and response (truncated to ms like the log's Tr), averaged
    assert value(s1, "rtime") in (3, 4) and value(s1, "rtime_max") in (3, 4)
    assert value(s1, "ctime") == 0 and value(s1, "qtime") == 0
    assert value(s1, "addr") == "10.0.0.1:8001" and value(s1, "cookie") == "a"
    assert value(s2, "slim") == 10 and value(s2, "qlimit") == 5
    assert value(lab.row("app", "s3"), "status") == "MAINT"
    assert value(lab.row("app", "s4"), "bck") == 1
    assert value(s1, "status") == "no check" and value(s1, "check_status") is None
    # lastsess: seconds since the last request
    lab.reactor.advance(7)
    assert value(lab.row("app", "s1"), "lastsess") == 7
    assert value(lab.row("app", "s3"), "lastsess") == -1


class FakeChecker:
    def __init__(self, servers: list, states: dict) -> None:  # type: ignore[type-arg]
        self._tracked = [type("T", (), {"server": s}) for s in servers]
        self.states = states

    def state(self, server: object) -> HealthState:
        return self.states[id(server)][0]  # type: ignore[no-any-return]

    def last_result(self, server: object) -> tuple[CheckResult, int]:
        return self.states[id(server)][1], 2


def _health(rise: int, fall: int, health: int) -> HealthState:
    state = HealthState(rise, fall)
    state.health = health
    return state


def test_server_status_strings(lab: Lab) -> None:
    backend = lab.service.backends["app"]
    s1, s2, _s3, s4 = backend.servers
    checker = FakeChecker(
        [s1, s2],
        {
            id(s1): (_health(2, 3, 3), CheckResult("L7STS", 503, "Service Unavailable")),
            id(s2): (_health(2, 3, 1), CheckResult("L4CON", None, "Connection refused")),
        },
    )
    lab.source._checkers = {id(s1): checker, id(s2): checker}
    s2.up = False
    row1, row2 = lab.row("app", "s1"), lab.row("app", "s2")
    assert value(row1, "status") == "UP 2/3"  # health 3 of rise 2 + fall 3 - 1
    assert value(row1, "check_status") == "L7STS" and value(row1, "check_code") == 503
    assert value(row1, "check_desc") == "Layer7 wrong status"
    assert value(row1, "last_chk") == "Service Unavailable"
    assert (value(row1, "check_rise"), value(row1, "check_fall")) == (2, 3)
    assert value(row2, "status") == "DOWN 1/2" and value(row2, "check_code") is None
    assert value(row2, "check_duration") == 2
    s1.admin |= ADMIN_FDRAIN
    assert value(lab.row("app", "s1"), "status") == "DRAIN 2/3"
    s1.admin |= ADMIN_FMAINT
    row1 = lab.row("app", "s1")
    assert value(row1, "status") == "MAINT" and value(row1, "check_status") is None
    assert server_status(s4, None) == "no check"
    s4.up = False
    assert server_status(s4, None) == "DOWN"
    # nothing usable: the backend is DOWN
    s1.admin = ADMIN_FMAINT
    assert value(lab.row("app", "BACKEND"), "status") == "DOWN"


def test_show_stat_filters_typed_and_json(lab: Lab) -> None:
    lab.get("/")
    servers = lab.api.execute("show stat app 4 -1", "admin").splitlines()[1:-1]
    assert [line.split(",")[1] for line in servers] == ["s1", "s2", "s3", "s4"]
    one = lab.api.execute("show stat 3 -1 2", "admin").splitlines()[1:-1]
    assert [line.split(",")[1] for line in one] == ["s2"]
    backends = lab.api.execute("show stat -1 2 -1", "admin").splitlines()[1:-1]
    assert [line.split(",")[:2] for line in backends] == [["app", "BACKEND"], ["stats", "BACKEND"]]
    lab.service.backends["app"].servers[1].up = False
    up = lab.api.execute("show stat app 4 -1 up", "admin")
    assert ",s2," not in up and ",s3," not in up
    assert lab.api.execute("show stat no-maint", "admin").count(",s3,") == 0
    typed = lab.api.execute("show stat typed", "admin").splitlines()
    assert typed[:3] == [
        "F.2.0.0.pxname.1:KNS:str:web",
        "F.2.0.1.svname.1:KNS:str:FRONTEND",
        "F.2.0.4.scur.1:MGP:u32:1",  # the client connection of lab.get, still open
    ]
    assert "S.3.1.28.sid.1:KGS:u32:1" in typed
    assert "B.3.0.33.rate.1:MGP:u32:1" in typed  # backends' rate is an untagged gauge in 2.6
    assert "F.2.0.103.ssl_sess.1:MCP:u64:0" in typed  # module fields numbered after the "-"
    desc = lab.api.execute("show stat typed desc", "admin").splitlines()
    assert desc[0] == 'F.2.0.0.pxname.1:KNS:str:web:"Proxy name"'
    rows = json.loads(lab.api.execute("show stat json", "admin"))
    first = rows[0][0]
    assert first == {
        "objType": "Frontend",
        "proxyId": 2,
        "id": 0,
        "field": {"pos": 0, "name": "pxname"},
        "processNum": 1,
        "tags": {"origin": "Key", "nature": "Name", "scope": "Service"},
        "value": {"type": "str", "value": "web"},
    }
    assert [r[1]["value"]["value"] for r in rows][:2] == ["FRONTEND", "s1"]


def test_show_stat_reads_its_filter_as_haproxy_26(lab: Lab) -> None:
    """src/stats.c: any three words are a filter, a proxy's name or else C's atoi of the
    word; fewer words are options only, and unknown words are ignored."""
    everything = lab.api.execute("show stat", "admin")
    assert lab.api.execute("show stat app 4", "admin") == everything  # two words: no filter
    assert lab.api.execute("show stat typed desc up", "admin") == "No such proxy.\n\n"
    assert lab.api.execute("show stat nosuch -1 -1", "admin") == "No such proxy.\n\n"
    by_number = lab.api.execute("show stat 3x 4 2y", "admin").splitlines()[1:-1]
    assert [line.split(",")[:2] for line in by_number] == [["app", "s2"]]
    assert lab.api.execute("show stat app x -1", "admin").splitlines()[1:-1] == []  # type 0
    assert lab.api.execute("show stat domain dns", "admin") == "Invalid statistics domain.\n\n"


def test_show_info_names_and_order(lab: Lab) -> None:
    text = lab.api.execute("show info", "admin")
    names = [line.split(":", 1)[0] for line in text.splitlines() if line]
    lines = (ROOT / "tests" / "balancer" / "haproxy26_show_info_names.txt").read_text()
    captured = lines.splitlines()[1].split()
    captured = [
        n.replace("_", " ") if n in ("Unstoppable_Jobs", "Build_info") else n for n in captured
    ]
    assert names == captured
    assert "Name: HAProxy\n" in text and "Version: 2.6.12-stack-" in text
    typed = [line for line in lab.api.execute("show info typed", "admin").splitlines() if line]
    assert typed[0] == "0.Name.1:POS:str:HAProxy"
    assert typed[-1] == "71.Tainted.1:SGP:str:0"
    info = json.loads(lab.api.execute("show info json", "admin"))
    assert info[3]["field"] == {"pos": 3, "name": "Nbthread"}
    assert info[3]["tags"] == {"origin": "Config", "nature": "Gauge", "scope": "Service"}


def test_stats_page_needs_auth_and_answers_401_as_haproxy(lab: Lab) -> None:
    answer = lab.get("/haproxy?stats", frontend="stats", extra="Connection: close\r\n")
    assert answer == (  # captured from HAProxy 2.6.12
        b"HTTP/1.1 401 Unauthorized\r\ncontent-length: 112\r\ncache-control: no-cache\r\n"
        b'content-type: text/html\r\nwww-authenticate: Basic realm="Test Realm"\r\n'
        b"connection: close\r\n\r\n<html><body><h1>401 Unauthorized</h1>\n"
        b"You need a valid user and password to access this content.\n</body></html>\n"
    )
    wrong = "Authorization: Basic " + base64.b64encode(b"admin:nope").decode() + "\r\n"
    assert lab.get("/haproxy?stats", frontend="stats", extra=wrong).startswith(b"HTTP/1.1 401")
    fe = lab.row("stats", "FRONTEND")
    assert value(fe, "intercepted") == 2 and value(fe, "hrsp_4xx") == 2


def test_stats_page_formats(lab: Lab) -> None:
    lab.get("/")
    csv = lab.get("/haproxy?stats;csv", frontend="stats", extra=AUTH)
    head, _, body = csv.partition(b"\r\n\r\n")
    assert head == (
        b"HTTP/1.1 200 OK\r\ncache-control: no-cache\r\ncontent-type: text/plain\r\n"
        b"refresh: 5\r\ntransfer-encoding: chunked"
    )
    size, _, rest = body.partition(b"\r\n")
    text = rest[: int(size, 16)].decode()
    assert text.startswith(CSV_HEADER) and "\napp,s1," in text
    assert rest[int(size, 16) :] == b"\r\n0\r\n\r\n"
    norefresh = lab.get("/haproxy?stats;json;norefresh", frontend="stats", extra=AUTH)
    assert b"content-type: application/json" in norefresh and b"refresh:" not in norefresh
    page = lab.get("/haproxy?stats", frontend="stats", extra=AUTH).decode()
    assert "<title>Statistics Report for HAProxy</title>" in page
    assert 'value="s1"' in page and "no check" in page and 'class="st maint">MAINT' in page
    assert "http://" not in page and "https://" not in page  # no external asset
    typed = lab.get("/haproxy?stats;typed;up", frontend="stats", extra=AUTH)
    assert b"S.3.3." not in typed  # s3 is in maintenance: hidden by ;up


def test_html_escapes_names(lab: Lab) -> None:
    page = statspage.render_html(
        lab.service.config.frontends[1].stats,  # type: ignore[arg-type]
        lab.source,
        [],
        statspage.Options(lab.service.config.frontends[1].stats, b"/haproxy?stats"),  # type: ignore[arg-type]
        True,
        '<b>"x"</b>',
        lab.reactor.seconds(),
    )
    assert "<b>" not in page and "&lt;b&gt;&quot;x&quot;&lt;/b&gt;" in page


def test_admin_post_changes_server_state_and_redirects(lab: Lab) -> None:
    s2 = lab.service.backends["app"].servers[1]
    answer = lab.post("s=s2&action=maint&b=app")
    assert answer == (  # HAProxy 2.6.12's answer, byte for byte
        b"HTTP/1.1 303 See Other\r\ncache-control: no-cache\r\ncontent-type: text/plain\r\n"
        b"content-length: 0\r\nlocation: /haproxy?stats;st=DONE\r\nconnection: close\r\n\r\n"
    )
    assert s2.admin & ADMIN_FMAINT and value(lab.row("app", "s2"), "status") == "MAINT"
    assert b"st=DONE" in lab.post("s=s2&action=drain&b=%233")  # #<iid>
    assert s2.draining and not s2.disabled
    assert b"st=DONE" in lab.post("s=s2&action=ready&b=app")
    assert not s2.admin
    assert b"st=ERRP" in lab.post("s=s2&action=bogus&b=app")
    assert b"st=ERRP" in lab.post("s=nope&action=maint&b=app")
    assert b"st=NONE" in lab.post("action=maint&b=app")
    assert b"st=PART" in lab.post("s=s2&s=nope&action=maint&b=app")
    assert b"location: /haproxy?stats;st=DONE;up;norefresh\r\n" in lab.post(
        "s=s2&action=ready&b=app", path="/haproxy?stats;up;norefresh"
    )
    assert lab.post("s=s2&action=maint&b=app", auth="").startswith(b"HTTP/1.1 401")


def test_admin_post_denied_without_admin_condition(lab: Lab) -> None:
    page = lab.service.config.frontends[1].stats
    assert page is not None
    assert statspage.post_result(b"s=s2&action=maint&b=app", lab.source, admin=False) == "DENY"
    assert not lab.service.backends["app"].servers[1].admin


def test_basic_auth_parsing() -> None:
    from stack.config.model import StatsPage

    page = StatsPage(users=(("a", "p:w"), ("b", "x")))

    def req(header: bytes | None) -> Request:
        headers = [(b"authorization", header)] if header is not None else []
        return Request(b"GET", b"/", b"1.1", headers)

    good = b"Basic " + base64.b64encode(b"a:p:w")
    assert statspage.authorized(page, req(good))
    assert statspage.authorized(page, req(b"basic " + base64.b64encode(b"b:x")))
    assert not statspage.authorized(page, req(b"Basic " + base64.b64encode(b"b:p:w")))
    assert not statspage.authorized(page, req(b"Basic !!!"))
    assert not statspage.authorized(page, req(b"Bearer abc"))
    assert not statspage.authorized(page, req(None))
    assert statspage.authorized(StatsPage(), req(None))  # no users: open


def test_prometheus_exporter(lab: Lab) -> None:
    lab.get("/")
    answer = lab.get("/metrics", frontend="stats")
    head, _, body = answer.partition(b"\r\n\r\n")
    assert b"content-type: text/plain; version=0.0.4\r\n" in head
    text = body.decode()
    assert "# TYPE haproxy_frontend_http_responses_total counter\n" in text
    assert 'haproxy_frontend_http_responses_total{proxy="web",code="2xx"} 1\n' in text
    assert 'haproxy_server_status{proxy="app",server="s3",state="MAINT"} 1\n' in text
    assert 'haproxy_server_limit_sessions{proxy="app",server="s1"} NaN\n' in text
    assert 'haproxy_backend_status{proxy="app",state="UP"} 1\n' in text
    assert "haproxy_process_build_info{version=" in text
    only = prometheus.render(lab.source, {"server"}, {"haproxy_server_weight"})
    assert only.splitlines() == [
        "# HELP haproxy_server_weight Server's effective weight, or sum of active servers' "
        "effective weights for a backend",
        "# TYPE haproxy_server_weight gauge",
        'haproxy_server_weight{proxy="app",server="s1"} 3',
        'haproxy_server_weight{proxy="app",server="s2"} 1',
        'haproxy_server_weight{proxy="app",server="s3"} 1',
        'haproxy_server_weight{proxy="app",server="s4"} 1',
    ]
    assert prometheus.parse_query(b"/metrics?scope=backend&scope=server") == (
        {"backend", "server"},
        None,
    )
    fe = lab.row("stats", "FRONTEND")
    assert value(fe, "intercepted") == 1


def test_open_page_warning(tmp_path: Path) -> None:
    path = tmp_path / "s.ini"
    path.write_text(
        "[listen open]\nbind = 127.0.0.1:18099\nstats uri = /st\nstats admin = if TRUE\n"
    )
    warnings = statspage.open_page_warnings(load(str(path)))
    assert len(warnings) == 1
    assert "the stats page /st has no 'stats auth'" in warnings[0]
    assert "'stats admin' lets them change server states" in warnings[0]


def test_csv_quotes_values_holding_commas() -> None:
    row = [None] * len(FIELD_NAMES)
    row[0] = ("KNS", "str", 'a,"b"')
    row[1] = ("KNS", "str", "x")
    line = format_csv([row], header=False)  # type: ignore[list-item]
    assert line.startswith('"a,""b""",x,')


def test_source_without_traffic_reports_zero_rates(lab: Lab) -> None:
    source: StatsSource = lab.source
    fe = lab.row("web", "FRONTEND")
    assert value(fe, "rate") == 0 and value(fe, "rate_max") == 0
    assert source.fullconn("app") == 100
