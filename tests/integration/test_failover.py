"""Killing a server mid-run, end to end: ``twistd -n stack`` in front of three origins.

Idempotent requests keep succeeding on the other servers, the sticky clients of the healthy
servers never move, the clients of the dead one move once (with a new cookie), and the health
checks log the server going DOWN. A POST the dying server had received before it answered is
not replayed elsewhere (HAProxy retries only failed connection attempts).
"""

from __future__ import annotations

import http.client
import threading

import pytest
from conftest import free_port, wait_for
from origin import Origin
from test_balancer import ini

pytestmark = pytest.mark.integration


COOKIES = {"c1": "s1", "c2": "s2", "c3": "s3"}


def three_servers(port: int, origins: list[Origin]) -> str:
    servers = "".join(
        f"server s{i} = 127.0.0.1:{o.port} cookie c{i} check inter 200ms fastinter 100ms "
        "downinter 200ms rise 2 fall 1\n"
        for i, o in enumerate(origins, 1)
    )
    return ini(
        port,
        f"""[backend be]
balance = roundrobin
cookie = SRV insert indirect nocache
option httpchk = GET /health HTTP/1.1\\r\\nHost:\\ lb.test
option redispatch = on
retries = 3
{servers}""",
        "default_backend = be",
    )


class StickyClient:
    """A browser-like client with a cookie jar of one cookie (a new connection per request,
    so that an error can never hide behind a reconnection)."""

    def __init__(self, port: int, name: str) -> None:
        self.port = port
        self.name = name
        self.cookie: str | None = None
        # (request number, status, server that answered, Set-Cookie value or None)
        self.history: list[tuple[int, int, str | None, str | None]] = []

    def request(self, n: int) -> http.client.HTTPResponse:
        headers = {"Cookie": self.cookie} if self.cookie else {}
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=15)
        try:
            conn.request("GET", f"/{self.name}/{n}", headers=headers)
            r = conn.getresponse()
            r.read()
        finally:
            conn.close()
        set_cookie = r.getheader("Set-Cookie")
        if set_cookie:
            self.cookie = set_cookie.split(";")[0]
        self.history.append((n, r.status, r.getheader("X-Served-By"), set_cookie))
        return r


def test_killing_a_server_mid_run(killable, run_stack) -> None:
    s1, s2, s3 = killable("s1"), killable("s2"), killable("s3")
    port = free_port()
    stack = run_stack(three_servers(port, [s1, s2, s3]), port)
    clients = [StickyClient(port, f"client{i}") for i in range(6)]
    home: dict[str, str] = {}
    for c in clients:
        r = c.request(0)
        assert r.status == 200
        assert c.cookie is not None
        home[c.name] = r.getheader("X-Served-By")
        assert COOKIES[c.cookie.split("=")[1]] == home[c.name]
    # round robin: two sticky clients per server
    assert sorted(home.values()) == ["s1", "s1", "s2", "s2", "s3", "s3"]
    victim = s1
    errors: list[BaseException] = []
    stop = threading.Event()
    counter = {"n": 0}

    def loop() -> None:
        try:
            n = 1
            while not stop.is_set():
                for c in clients:
                    c.request(n)
                counter["n"] = n
                n += 1
        except BaseException as e:  # reported by the main thread
            errors.append(e)

    t = threading.Thread(target=loop, daemon=True)
    t.start()
    assert wait_for(lambda: counter["n"] >= 5, 10)
    killed_at = counter["n"]
    victim.kill()
    assert wait_for(lambda: "Server be/s1 is DOWN" in stack.log_text(), 5)
    rounds_after = counter["n"]
    assert wait_for(lambda: counter["n"] >= rounds_after + 10, 15)
    stop.set()
    t.join(20)
    assert not t.is_alive()
    assert not errors, errors

    for c in clients:
        statuses = [status for _, status, _, _ in c.history]
        # every GET answered, none with an error
        assert statuses == [200] * len(c.history), (c.name, c.history)
        assert [n for n, *_ in c.history] == list(range(len(c.history)))
        served = [server for _, _, server, _ in c.history]
        if home[c.name] != victim.name:
            # a healthy server's clients never move, and never get a new cookie
            assert set(served) == {home[c.name]}, (c.name, c.history)
            assert all(sc is None for _, _, _, sc in c.history[1:]), (c.name, c.history)
            continue
        # the dead server's clients: on it until the kill, then moved once to a live server
        moved = next(i for i, s in enumerate(served) if s != victim.name)
        assert moved >= killed_at - 1
        assert set(served[:moved]) == {victim.name}
        new_home = served[moved]
        assert new_home in {"s2", "s3"}
        assert set(served[moved:]) == {new_home}, (c.name, c.history)
        # the move came with a new cookie naming the new server, and only then
        _, _, _, new_cookie = c.history[moved]
        assert new_cookie is not None and new_cookie.startswith("SRV=")
        assert COOKIES[new_cookie.split(";")[0].split("=")[1]] == new_home
        assert all(sc is None for _, _, _, sc in c.history[moved + 1 :]), (c.name, c.history)
    log = stack.log_text()
    assert "Server be/s1 is DOWN" in log
    assert "2 active and 0 backup servers left" in log
    assert " 502 " not in log and " 503 " not in log


@pytest.mark.parametrize("body", [b"order=42", b""], ids=["with-body", "empty-body"])
def test_post_sent_to_a_dying_server_is_not_retried(killable, run_stack, body: bytes) -> None:
    s1 = killable("s1", hold="/submit")
    s2 = killable("s2")
    port = free_port()
    stack = run_stack(
        ini(
            port,
            f"""[backend be]
balance = roundrobin
cookie = SRV insert indirect nocache
option redispatch = on
retries = 3
server s1 = 127.0.0.1:{s1.port} cookie c1
server s2 = 127.0.0.1:{s2.port} cookie c2
""",
            "default_backend = be",
        ),
        port,
    )
    # A first GET leaves an idle keep-alive connection from the balancer to s1.
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
    c.request("GET", "/warm", headers={"Cookie": "SRV=c1"})
    r = c.getresponse()
    r.read()
    assert r.status == 200 and r.getheader("X-Served-By") == "s1"
    c.close()

    result: dict = {}

    def post() -> None:
        p = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
        try:
            p.request("POST", "/submit", body=body, headers={"Cookie": "SRV=c1"})
            resp = p.getresponse()
            result["status"] = resp.status
            result["server"] = resp.getheader("X-Served-By")
            resp.read()
        except Exception as e:  # reported below
            result["error"] = e
        finally:
            p.close()

    t = threading.Thread(target=post, daemon=True)
    t.start()
    # s1 has the whole POST and dies before sending a byte of its answer.
    assert s1.received.wait(5)
    s1.kill()
    t.join(15)
    assert not t.is_alive()
    # HAProxy retries only a connection that could not be established (retry-on conn-failure):
    # the request was sent, so the client (on its first request) gets a 502, and the POST is
    # replayed neither on s1 nor on s2 (with or without a body: POST is not idempotent).
    assert result.get("status") == 502, result
    posts = [r for r in s1.requests + s2.requests if r["method"] == "POST"]
    assert [(r["server"], r["target"], r["body_len"]) for r in posts] == [
        ("s1", "/submit", len(body))
    ]
    assert wait_for(lambda: '"POST /submit HTTP/1.1"' in stack.log_text())
    line = next(x for x in stack.log_text().splitlines() if '"POST /submit HTTP/1.1"' in x)
    assert " 502 " in line and " SH" in line and "be/s1 " in line
