"""The balancer tier end to end: ``twistd -n stack`` in a subprocess, real sockets on loopback."""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from urllib.parse import quote

import pytest
from conftest import free_port, raw_exchange

pytestmark = pytest.mark.integration


def ini(port: int, backends: str, frontend_extra: str = "", defaults_extra: str = "") -> str:
    return f"""
[global]
log = stdout local0 info

[defaults]
mode = http
log = global
option httplog = on
timeout connect = 2s
timeout client = 10s
timeout server = 5s
timeout http-request = 2s
timeout http-keep-alive = 2s
timeout queue = 2s
{defaults_extra}

[frontend fe]
bind = 127.0.0.1:{port}
{frontend_extra}

{backends}
"""


def get(port: int, path: str, headers: dict | None = None, method: str = "GET", body=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request(method, path, body=body, headers=headers or {})
    r = c.getresponse()
    data = r.read()
    c.close()
    return r, data


@pytest.fixture
def two(origins, run_stack):
    a, b = origins("s1"), origins("s2")
    port = free_port()
    stack = run_stack(
        ini(
            port,
            f"""[backend be]
balance = roundrobin
option forwardfor = on
server s1 = 127.0.0.1:{a.port}
server s2 = 127.0.0.1:{b.port}
""",
            "default_backend = be",
        ),
        port,
    )
    return stack, a, b


def test_round_robin_alternates_and_reuses_connections(two) -> None:
    stack, a, b = two
    c = http.client.HTTPConnection("127.0.0.1", stack.port, timeout=10)
    served = []
    for _ in range(6):
        c.request("GET", "/x")
        r = c.getresponse()
        r.read()
        served.append(r.getheader("X-Served-By"))
    c.close()
    assert served == ["s1", "s2", "s1", "s2", "s1", "s2"]
    # Keep-alive to the servers: one connection each for six requests.
    assert (a.connections, b.connections) == (1, 1)


def test_forwardfor_and_hop_by_hop_stripped_both_ways(two) -> None:
    stack, _a, _b = two
    r, data = get(
        stack.port,
        "/h?hdrs="
        + quote(json.dumps({"Connection": "X-Secret", "X-Secret": "1", "Keep-Alive": "5"})),
        {"Connection": "X-Hop", "X-Hop": "1", "TE": "trailers", "X-Keep": "yes"},
    )
    seen = {k.lower(): v for k, v in json.loads(data)["headers"]}
    assert "x-hop" not in seen and "te" not in seen
    assert seen["x-keep"] == "yes"
    assert seen["x-forwarded-for"] == "127.0.0.1"
    assert r.getheader("X-Secret") is None and r.getheader("Keep-Alive") is None


def test_connection_named_xff_is_dropped_then_added(two) -> None:
    stack, a, b = two
    out, closed = raw_exchange(
        stack.port,
        b"GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 1.2.3.4\r\n"
        b"Connection: close, X-Forwarded-For\r\n\r\n",
    )
    assert out.startswith(b"HTTP/1.1 200")
    assert closed
    record = (a.requests + b.requests)[-1]
    xff = [v for k, v in record["headers"] if k.lower() == "x-forwarded-for"]
    assert xff == ["127.0.0.1"]


def test_h2c_upgrade_not_forwarded(two) -> None:
    stack, a, b = two
    out, _ = raw_exchange(
        stack.port,
        b"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n"
        b"Connection: Upgrade, HTTP2-Settings\r\n\r\n",
        timeout=1,
    )
    assert out.startswith(b"HTTP/1.1 200")
    names = {k.lower() for k, _ in (a.requests + b.requests)[-1]["headers"]}
    assert not names & {"upgrade", "http2-settings"}


def test_pipelined_requests_answered_in_order(two) -> None:
    stack, _a, _b = two
    reqs = b"".join(
        b"GET /p%d?sleep=%s HTTP/1.1\r\nHost: a\r\n\r\n" % (i, b"0.2" if i == 0 else b"0")
        for i in range(4)
    )
    out, _ = raw_exchange(
        stack.port, reqs + b"GET /last HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
    )
    targets = [
        json.loads(part.split(b"\r\n\r\n", 1)[1][: part.split(b"\r\n\r\n", 1)[1].rfind(b"}") + 1])[
            "target"
        ]
        for part in out.split(b"HTTP/1.1 ")[1:]
    ]
    assert targets == ["/p0?sleep=0.2", "/p1?sleep=0", "/p2?sleep=0", "/p3?sleep=0", "/last"]


def test_expect_100_continue(two) -> None:
    stack, a, b = two
    s = socket.create_connection(("127.0.0.1", stack.port))
    s.settimeout(5)
    s.sendall(b"POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
    first = s.recv(100)
    assert first == b"HTTP/1.1 100 Continue\r\n\r\n"
    s.sendall(b"hello")
    rest = s.recv(65536)
    assert rest.startswith(b"HTTP/1.1 200")
    s.close()
    assert (a.requests + b.requests)[-1]["body_len"] == 5


def test_large_bodies_stream_both_ways(two) -> None:
    stack, _a, _b = two
    body = b"y" * (8 * 1024 * 1024)
    r, data = get(stack.port, "/big", method="POST", body=body)
    assert r.status == 200 and json.loads(data)["body_len"] == len(body)
    r, data = get(stack.port, "/big?size=9000000&chunked=1")
    assert r.status == 200 and len(data) == 9000000


def test_chunked_request_body(two) -> None:
    stack, a, b = two
    out, _ = raw_exchange(
        stack.port,
        b"POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        b"3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n",
    )
    assert out.startswith(b"HTTP/1.1 200")
    assert (a.requests + b.requests)[-1]["body_len"] == 7


def test_http10_client_and_close_delimited_server(two) -> None:
    stack, _a, _b = two
    out, closed = raw_exchange(stack.port, b"GET /old?closedelim=1 HTTP/1.0\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 200")
    assert closed
    head, _, body = out.partition(b"\r\n\r\n")
    assert b"transfer-encoding" not in head.lower()
    assert json.loads(body)["target"] == "/old?closedelim=1"


def test_head_response_keeps_connection_usable(two) -> None:
    stack, _a, _b = two
    c = http.client.HTTPConnection("127.0.0.1", stack.port, timeout=10)
    for method in ("HEAD", "GET", "HEAD", "GET"):
        c.request(method, "/h")
        r = c.getresponse()
        data = r.read()
        assert r.status == 200
        assert (data == b"") == (method == "HEAD")
    c.close()


def test_httplog_line(two) -> None:
    stack, _a, _b = two
    get(stack.port, "/logme?x=1")
    time.sleep(0.3)
    lines = [line for line in stack.log_text().splitlines() if "/logme" in line]
    assert lines, stack.log_text()
    assert " fe be/s" in lines[0]
    # actconn/feconn: the logging client's own connection is counted.
    assert " 1/1/" in lines[0]
    assert " 200 " in lines[0] and "---- " in lines[0]
    assert lines[0].endswith('"GET /logme?x=1 HTTP/1.1"')


def test_no_server_available_is_haproxy_503(origins, run_stack) -> None:
    port = free_port()
    run_stack(ini(port, "[backend empty]\n", "default_backend = empty"), port)
    out, _ = raw_exchange(port, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", timeout=1)
    assert out == (
        b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 107\r\ncache-control: no-cache\r\n"
        b"content-type: text/html\r\n\r\n<html><body><h1>503 Service Unavailable</h1>\n"
        b"No server is available to handle this request.\n</body></html>\n"
    )


def test_errorfile_replaces_503(origins, run_stack, tmp_path) -> None:
    page = tmp_path / "503.http"
    page.write_bytes(b"HTTP/1.1 503 Busy\r\ncontent-length: 4\r\n\r\nbusy")
    port = free_port()
    run_stack(
        ini(port, "[backend empty]\n", f"default_backend = empty\nerrorfile 503 = {page}"), port
    )
    out, _ = raw_exchange(port, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", timeout=1)
    assert out == b"HTTP/1.1 503 Busy\r\ncontent-length: 4\r\n\r\nbusy"


def test_maxconn_queue_then_503(origins, run_stack) -> None:
    a = origins("s1")
    port = free_port()
    run_stack(
        ini(
            port,
            f"[backend be]\ntimeout queue = 1s\nserver s1 = 127.0.0.1:{a.port} maxconn 1\n",
            "default_backend = be",
        ),
        port,
    )
    results: dict[int, int] = {}

    def one(i: int) -> None:
        r, _ = get(port, f"/q{i}?sleep=0.7")
        results[i] = r.status

    threads = [threading.Thread(target=one, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
        time.sleep(0.05)
    for t in threads:
        t.join()
    # One is served at once, one waits 0.7 s in the queue and is served, the third would wait
    # 1.4 s: past timeout queue (1 s), so 503.
    assert sorted(results.values()) == [200, 200, 503]


def test_redispatch_to_live_server(origins, run_stack) -> None:
    a = origins("live")
    dead = free_port()
    port = free_port()
    run_stack(
        ini(
            port,
            f"""[backend be]
balance = roundrobin
retries = 2
option redispatch = on
server dead = 127.0.0.1:{dead}
server live = 127.0.0.1:{a.port}
""",
            "default_backend = be",
        ),
        port,
    )
    statuses = [get(port, "/r")[0] for _ in range(2)]
    assert [r.status for r in statuses] == [200, 200]
    assert {r.getheader("X-Served-By") for r in statuses} == {"live"}


def test_retries_exhausted_is_503(origins, run_stack) -> None:
    dead = free_port()
    port = free_port()
    run_stack(
        ini(
            port,
            f"[backend be]\nretries = 1\nserver dead = 127.0.0.1:{dead}\n",
            "default_backend = be",
        ),
        port,
    )
    start = time.monotonic()
    r, _ = get(port, "/")
    assert r.status == 503
    assert 0.9 < time.monotonic() - start < 3  # one retry after HAProxy's 1 s turnaround


def test_server_timeout_is_504(origins, run_stack) -> None:
    a = origins("slow")
    port = free_port()
    run_stack(
        ini(
            port,
            f"[backend be]\ntimeout server = 500ms\nserver s = 127.0.0.1:{a.port}\n",
            "default_backend = be",
        ),
        port,
    )
    r, data = get(port, "/?sleep=2")
    assert r.status == 504
    assert b"The server didn't respond in time." in data


def test_slowloris_gets_408_and_others_are_served(two) -> None:
    stack, _a, _b = two
    slow = socket.create_connection(("127.0.0.1", stack.port))
    slow.sendall(b"GET / HTTP/1.1\r\nHost: a\r\nX-Slow: ")
    start = time.monotonic()
    # Meanwhile other clients get through.
    for _ in range(3):
        assert get(stack.port, "/ok")[0].status == 200
    slow.settimeout(5)
    for _ in range(15):
        time.sleep(0.1)
        try:
            slow.send(b"a")
        except OSError:
            break
    data = b""
    try:
        while True:
            chunk = slow.recv(4096)
            if not chunk:
                break
            data += chunk
    except OSError:
        pass
    elapsed = time.monotonic() - start
    assert data.startswith(b"HTTP/1.1 408 Request Time-out")
    assert 1.8 < elapsed < 4  # timeout http-request = 2s, counted from the first byte


def test_websocket_is_tunnelled(two) -> None:
    stack, _a, _b = two
    s = socket.create_connection(("127.0.0.1", stack.port))
    s.settimeout(5)
    s.sendall(
        b"GET /ws?upgrade=1 HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    head = b""
    while b"\r\n\r\n" not in head:
        head += s.recv(4096)
    assert head.startswith(b"HTTP/1.1 101")
    s.sendall(b"hello tunnel")
    got = b""
    while len(got) < 12:
        got += s.recv(4096)
    assert got == b"HELLO TUNNEL"
    s.close()


def test_header_rules(origins, run_stack) -> None:
    a = origins("s1")
    port = free_port()
    run_stack(
        ini(
            port,
            f"""[backend be]
http-request =
    set-header X-Port %[dst_port]
    del-header X-Drop
http-response =
    set-header X-Via stack
    replace-header Location ^http://internal(.*) https://public\\1
server s1 = 127.0.0.1:{a.port}
""",
            "default_backend = be",
        ),
        port,
    )
    r, data = get(
        port, "/x?hdrs=" + quote(json.dumps({"Location": "http://internal/a/b"})), {"X-Drop": "1"}
    )
    seen = {k.lower(): v for k, v in json.loads(data)["headers"]}
    assert seen["x-port"] == str(port) and "x-drop" not in seen
    assert r.getheader("X-Via") == "stack"
    assert r.getheader("Location") == "https://public/a/b"
