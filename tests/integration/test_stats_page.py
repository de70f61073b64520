"""The statistics of ``twistd -n stack`` beside the real HAProxy 2.6, and its stats page.

Both run the same proxies on loopback (a frontend, a backend of two servers on one origin and
a ``listen stats`` with auth, admin and the Prometheus exporter), get the same requests, and
answer ``show stat``/``show info``/``show stat json`` on their stats sockets; the header, the
identity and config columns and the counters that the same traffic makes deterministic must be
equal. Then the page itself: 401, CSV, JSON, HTML and an admin POST that drains a server.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import time
from pathlib import Path

import pytest
from conftest import require_system
from haproxy_run import HAPROXY, free_port, start_haproxy, start_stack
from origin import Origin

AUTH = "Basic " + base64.b64encode(b"admin:secret").decode()

# Columns equal byte for byte after the same traffic. Left out: times and rates (they depend
# on timing), scur/smax/lastchg/lastsess, connect/reuse and the h1 module (stack keeps server
# connections alive where HAProxy's "http-reuse safe" opens a new one for a first request),
# and slim of frontends (HAProxy derives its default from ulimit; both set maxconn here).
COMPARED = [
    "pxname",
    "svname",
    "qcur",
    "qmax",
    "slim",
    "stot",
    "bin",
    "bout",
    "dreq",
    "dresp",
    "ereq",
    "econ",
    "eresp",
    "wretr",
    "wredis",
    "status",
    "weight",
    "act",
    "bck",
    "chkfail",
    "chkdown",
    "qlimit",
    "pid",
    "iid",
    "sid",
    "throttle",
    "lbtot",
    "tracked",
    "type",
    "rate_lim",
    "check_status",
    "check_code",
    "hrsp_1xx",
    "hrsp_2xx",
    "hrsp_3xx",
    "hrsp_4xx",
    "hrsp_5xx",
    "hrsp_other",
    "hanafail",
    "req_tot",
    "cli_abrt",
    "srv_abrt",
    "comp_in",
    "comp_out",
    "comp_byp",
    "comp_rsp",
    "last_chk",
    "last_agt",
    "agent_status",
    "check_desc",
    "check_rise",
    "check_fall",
    "addr",
    "cookie",
    "mode",
    "algo",
    "conn_tot",
    "intercepted",
    "dcon",
    "dses",
    "wrew",
    "cache_lookups",
    "cache_hits",
    "eint",
    "uweight",
    "agg_server_status",
    "agg_server_check_status",
    "agg_check_status",
    "ssl_sess",
    "ssl_reused_sess",
    "ssl_failed_handshake",
]


def _haproxy_cfg(sock: Path, port: int, stats_port: int, origin: int) -> str:
    return f"""global
    stats socket {sock} level admin
    maxconn 1000

defaults
    mode http
    timeout connect 2s
    timeout client 10s
    timeout server 5s

frontend fe
    bind 127.0.0.1:{port}
    default_backend be

backend be
    balance roundrobin
    cookie SRV insert indirect nocache
    server s1 127.0.0.1:{origin} cookie a weight 3
    server s2 127.0.0.1:{origin} maxconn 10 maxqueue 5
    server s3 127.0.0.1:{origin} disabled

listen stats
    bind 127.0.0.1:{stats_port}
    stats enable
    stats uri /haproxy?stats
    stats realm Test\\ Realm
    stats auth admin:secret
    stats refresh 5s
    stats admin if TRUE
    http-request use-service prometheus-exporter if {{ path /metrics }}
"""


def _stack_ini(sock: Path, port: int, stats_port: int, origin: int) -> str:
    return f"""[global]
stats socket = {sock} level admin
maxconn = 1000

[defaults]
mode = http
timeout connect = 2s
timeout client = 10s
timeout server = 5s

[frontend fe]
bind = 127.0.0.1:{port}
default_backend = be

[backend be]
balance = roundrobin
cookie = SRV insert indirect nocache
server s1 = 127.0.0.1:{origin} cookie a weight 3
server s2 = 127.0.0.1:{origin} maxconn 10 maxqueue 5
server s3 = 127.0.0.1:{origin} disabled

[listen stats]
bind = 127.0.0.1:{stats_port}
stats enable = on
stats uri = /haproxy?stats
stats realm = Test\\ Realm
stats auth = admin:secret
stats refresh = 5s
stats admin = if TRUE
http-request = use-service prometheus-exporter if {{ path /metrics }}
"""


def cli(sock: Path, command: str) -> str:
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(5)
    s.connect(str(sock))
    s.sendall(command.encode() + b"\n")
    out = b""
    while chunk := s.recv(65536):
        out += chunk
    s.close()
    return out.decode()


def http(port: int, raw: bytes) -> bytes:
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(raw)
    out = b""
    try:
        while chunk := s.recv(65536):
            out += chunk
    except TimeoutError:
        pass
    s.close()
    return out


def get(port: int, target: str, auth: bool = False) -> bytes:
    extra = f"Authorization: {AUTH}\r\n" if auth else ""
    return http(
        port, f"GET {target} HTTP/1.1\r\nHost: x\r\n{extra}Connection: close\r\n\r\n".encode()
    )


def dechunk(body: bytes) -> bytes:
    out = b""
    while body:
        size, _, rest = body.partition(b"\r\n")
        n = int(size, 16)
        if n == 0:
            break
        out += rest[:n]
        body = rest[n + 2 :]
    return out


def _rows(csv: str) -> tuple[list[str], dict[tuple[str, str], dict[str, str]]]:
    lines = [line for line in csv.splitlines() if line]
    header = lines[0][2:].split(",")
    rows = {}
    for line in lines[1:]:
        cells = dict(zip(header, line.split(","), strict=False))
        rows[(cells["pxname"], cells["svname"])] = cells
    return header, rows


@pytest.fixture
def pair(tmp_path: Path):  # type: ignore[no-untyped-def]
    if not os.path.exists(HAPROXY):
        require_system("haproxy (Debian package) is not installed")
    origin = Origin("o")
    procs = []
    try:
        h_dir, s_dir = tmp_path / "h", tmp_path / "s"
        h_dir.mkdir()
        s_dir.mkdir()
        ports = {k: free_port() for k in ("hp", "hs", "sp", "ss")}
        h_sock, s_sock = h_dir / "h.sock", s_dir / "s.sock"
        procs.append(
            start_haproxy(
                _haproxy_cfg(h_sock, ports["hp"], ports["hs"], origin.port), ports["hp"], h_dir
            )
        )
        procs.append(
            start_stack(
                _stack_ini(s_sock, ports["sp"], ports["ss"], origin.port), ports["sp"], s_dir
            )
        )
        yield {
            "haproxy": (ports["hp"], ports["hs"], h_sock),
            "stack": (ports["sp"], ports["ss"], s_sock),
        }
    finally:
        for p in procs:
            p.stop()
        origin.close()


# Counters compared as the change the test's own traffic made: the start-up probes (a
# connect without a request, which HAProxy counts as a failed request) come before.
COUNTERS = frozenset(
    [
        "stot",
        "bin",
        "bout",
        "dreq",
        "dresp",
        "ereq",
        "econ",
        "eresp",
        "wretr",
        "wredis",
        "lbtot",
        "hrsp_1xx",
        "hrsp_2xx",
        "hrsp_3xx",
        "hrsp_4xx",
        "hrsp_5xx",
        "hrsp_other",
        "req_tot",
        "cli_abrt",
        "srv_abrt",
        "conn_tot",
        "intercepted",
    ]
)


def _delta(before: dict[str, str], after: dict[str, str], column: str) -> str:
    if column in COUNTERS and after[column] and before[column]:
        return str(int(after[column]) - int(before[column]))
    return after[column]


def test_show_stat_matches_haproxy(pair) -> None:  # type: ignore[no-untyped-def]
    before = {kind: _rows(cli(sock, "show stat"))[1] for kind, (_p, _s, sock) in pair.items()}
    for port, _stats, _sock in pair.values():
        for path in ("/a", "/b", "/c", "/d", "/e"):
            assert get(port, path).startswith(b"HTTP/1.1 200")
        assert b"x-served-by: o" in get(port, "/haproxy?stats")  # no page here: proxied
    time.sleep(0.2)
    h_csv = cli(pair["haproxy"][2], "show stat")
    s_csv = cli(pair["stack"][2], "show stat")
    assert s_csv.splitlines()[0] == h_csv.splitlines()[0]  # the header, byte for byte
    _h_header, h_rows = _rows(h_csv)
    _s_header, s_rows = _rows(s_csv)
    assert list(s_rows) == list(h_rows)  # the same rows in the same order
    for key, h_row in h_rows.items():
        s_row = s_rows[key]
        h_was, s_was = before["haproxy"][key], before["stack"][key]
        diff = {
            c: (_delta(h_was, h_row, c), _delta(s_was, s_row, c))
            for c in COMPARED
            if _delta(h_was, h_row, c) != _delta(s_was, s_row, c)
        }
        assert not diff, f"{key}: (haproxy, stack) {diff}"
    # the HTML/typed/json views agree with the CSV on both
    h_json = json.loads(cli(pair["haproxy"][2], "show stat json"))
    s_json = json.loads(cli(pair["stack"][2], "show stat json"))
    assert len(h_json) == len(s_json)
    for h_row, s_row in zip(h_json, s_json, strict=True):
        h_fields = {f["field"]["pos"]: f for f in h_row}
        s_fields = {f["field"]["pos"]: f for f in s_row}
        for pos in set(h_fields) & set(s_fields):
            h, s = h_fields[pos], s_fields[pos]
            same = ("objType", "proxyId", "id", "field", "processNum", "tags")
            assert {k: s[k] for k in same} == {k: h[k] for k in same}
            assert s["value"]["type"] == h["value"]["type"], h["field"]
        # fields HAProxy fills that stack leaves empty: only the ones it has no figure for
        missing = {h_fields[p]["field"]["name"] for p in set(h_fields) - set(s_fields)}
        assert missing <= {"h1_open_streams", "h1_bytes_in", "h1_bytes_out", "h1_open_connections"}
    h_typed = cli(pair["haproxy"][2], "show stat typed").splitlines()
    s_typed = cli(pair["stack"][2], "show stat typed").splitlines()
    assert [line.split(":")[0] for line in s_typed][:20] == [
        line.split(":")[0] for line in h_typed
    ][:20]


def test_show_info_names_match_haproxy(pair) -> None:  # type: ignore[no-untyped-def]
    names = {}
    for kind, (_port, _stats, sock) in pair.items():
        text = cli(sock, "show info")
        names[kind] = [line.split(":", 1)[0] for line in text.splitlines() if line]
    assert names["stack"] == names["haproxy"]
    h_info = json.loads(cli(pair["haproxy"][2], "show info json"))
    s_info = json.loads(cli(pair["stack"][2], "show info json"))
    assert [(i["field"], i["tags"], i["value"]["type"]) for i in s_info] == [
        (i["field"], i["tags"], i["value"]["type"]) for i in h_info
    ]


def test_page_answers_as_haproxy(pair) -> None:  # type: ignore[no-untyped-def]
    answers = {}
    for kind, (_port, stats, _sock) in pair.items():
        answers[kind] = {
            "401": get(stats, "/haproxy?stats"),
            "csv": get(stats, "/haproxy?stats;csv", auth=True),
            "post": http(
                stats,
                (
                    "POST /haproxy?stats HTTP/1.1\r\nHost: x\r\n"
                    f"Authorization: {AUTH}\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                    "Content-Length: 22\r\nConnection: close\r\n\r\ns=s2&action=drain&b=be"
                ).encode(),
            ),
            "metrics": get(stats, "/metrics?scope=server"),
        }
    h, s = answers["haproxy"], answers["stack"]
    assert s["401"] == h["401"]
    assert s["post"] == h["post"]
    assert s["csv"].split(b"\r\n\r\n")[0] == h["csv"].split(b"\r\n\r\n")[0]
    assert s["metrics"].split(b"\r\n\r\n")[0] == h["metrics"].split(b"\r\n\r\n")[0]
    for kind in ("haproxy", "stack"):
        csv = dechunk(answers[kind]["csv"].split(b"\r\n\r\n", 1)[1]).decode()
        assert csv.startswith("# pxname,svname,")
        _header, rows = _rows(cli(pair[kind][2], "show stat"))
        assert rows[("be", "s2")]["status"] == "DRAIN"
    h_names = [
        line.split()[2]
        for line in dechunk(h["metrics"].split(b"\r\n\r\n", 1)[1]).decode().splitlines()
        if line.startswith("# TYPE")
    ]
    s_names = [
        line.split()[2]
        for line in dechunk(s["metrics"].split(b"\r\n\r\n", 1)[1]).decode().splitlines()
        if line.startswith("# TYPE")
    ]
    assert s_names == h_names


def test_stats_listen_page_json_and_log(run_stack, origins, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    o = origins("o")
    port, stats = free_port(), free_port()
    ini = _stack_ini(tmp_path / "s.sock", port, stats, o.port)
    ini = ini.replace(
        "[defaults]\n", "[defaults]\nlog = stdout local0 info\noption httplog = on\n", 1
    )
    ini = ini.replace("[global]\n", "[global]\nlog = stdout local0 info\n", 1)
    stack = run_stack(ini, port)
    assert get(port, "/x").startswith(b"HTTP/1.1 200")
    page = get(stats, "/haproxy?stats", auth=True)
    assert page.startswith(b"HTTP/1.1 200 OK\r\n") and b"refresh: 5\r\n" in page
    html = dechunk(page.split(b"\r\n\r\n", 1)[1]).decode()
    assert '<section id="be">' in html and 'value="s1"' in html and "MAINT" in html
    data = json.loads(
        dechunk(get(stats, "/haproxy?stats;json", auth=True).split(b"\r\n\r\n", 1)[1])
    )
    names = [(r[0]["value"]["value"], r[1]["value"]["value"]) for r in data]
    assert names[:2] == [("fe", "FRONTEND"), ("be", "s1")]
    deadline = time.monotonic() + 5
    while "stats/<STATS>" not in stack.log_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    line = next(li for li in stack.log_text().splitlines() if "stats/<STATS>" in li)
    assert " LR-- " in line and '"GET /haproxy?stats HTTP/1.1"' in line
    assert "has no 'stats auth'" not in stack.log_text()
