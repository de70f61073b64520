"""Persistence and redirects end to end: cookies, stick tables, ``redirect`` through twistd."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from conftest import free_port, raw_exchange
from test_balancer import get, ini

pytestmark = pytest.mark.integration


def test_insert_cookie_keeps_each_client_on_its_server(origins, run_stack) -> None:
    a, b = origins("s1"), origins("s2")
    port = free_port()
    stack = run_stack(
        ini(
            port,
            f"""[backend be]
balance = roundrobin
cookie = SRVNAME insert indirect nocache
server s1 = 127.0.0.1:{a.port} cookie SA
server s2 = 127.0.0.1:{b.port} cookie SB
""",
            "default_backend = be",
        ),
        port,
    )
    first, _ = get(port, "/")
    cookie = first.getheader("Set-Cookie")
    assert cookie in ("SRVNAME=SA; path=/", "SRVNAME=SB; path=/")
    value = cookie.split(";")[0]
    server = first.getheader("X-Served-By")
    for i in range(4):
        r, _ = get(port, f"/again{i}", headers={"Cookie": f"a=1; {value}; b=2"})
        assert r.getheader("X-Served-By") == server
        assert r.getheader("Set-Cookie") is None
    seen = (a if server == "s1" else b).requests[-1]
    # indirect: the persistence cookie is stripped, the others kept in order
    assert ("cookie", "a=1; b=2") in [tuple(h) for h in seen["headers"]]
    assert "--VN" in stack.log_text() and "--NI" in stack.log_text()


def test_appsession_sticks_a_php_session_to_its_server(origins, run_stack) -> None:
    a, b = origins("s1"), origins("s2")
    port = free_port()
    hdrs = '{"Set-Cookie": "PHPSESSID=abc123; path=/"}'
    run_stack(
        ini(
            port,
            f"""[backend be]
balance = roundrobin
appsession = PHPSESSID len 32 timeout 1h
server s1 = 127.0.0.1:{a.port}
server s2 = 127.0.0.1:{b.port}
""",
            "default_backend = be",
        ),
        port,
    )
    first, _ = get(port, f"/login?hdrs={quote(hdrs)}")
    server = first.getheader("X-Served-By")
    for i in range(4):
        r, _ = get(port, f"/page{i}", headers={"Cookie": "PHPSESSID=abc123"})
        assert r.getheader("X-Served-By") == server
    others = {get(port, f"/anon{i}")[0].getheader("X-Served-By") for i in range(4)}
    assert others == {"s1", "s2"}  # requests without the session are balanced


def test_redirect_scheme_https(origins, run_stack) -> None:
    a = origins("s1")
    port = free_port()
    run_stack(
        ini(
            port,
            f"[backend be]\nserver s1 = 127.0.0.1:{a.port}\n",
            "default_backend = be\nredirect = scheme https if !{ ssl_fc }",
        ),
        port,
    )
    r, body = get(port, "/redir/a?b=c", headers={"Host": "www.example.com"})
    assert r.status == 302 and body == b""
    assert r.getheader("Location") == "https://www.example.com/redir/a?b=c"
    assert r.getheader("Cache-Control") == "no-cache"
    assert not a.requests


def test_server_redir_answers_get_and_head_and_lets_post_through(origins, run_stack) -> None:
    """``server ... redir PREFIX``: GET and HEAD get HAProxy's 302 (for the server the balancer
    picked, logged ``LC--``) and the connection closes; other methods reach the server."""
    a = origins("s1")
    port = free_port()
    stack = run_stack(
        ini(
            port,
            f"[backend be]\nserver s1 = 127.0.0.1:{a.port} redir http://img.example.com\n",
            "default_backend = be",
        ),
        port,
    )
    out, closed = raw_exchange(port, b"GET /a/b?c=d HTTP/1.1\r\nHost: x\r\n\r\n")
    assert out == (
        b"HTTP/1.1 302 Found\r\ncache-control: no-cache\r\ncontent-length: 0\r\n"
        b"location: http://img.example.com/a/b?c=d\r\nconnection: close\r\n\r\n"
    )
    assert closed
    r, _ = get(port, "/form", method="POST", body=b"x=1")
    assert r.status == 200 and r.getheader("X-Served-By") == "s1"
    assert [req["method"] for req in a.requests] == ["POST"]
    log = stack.log_text()
    assert " be/s1 0/0/-1/-1/" in log and " 302 126 - - LC-- " in log  # as HAProxy 2.6.12
