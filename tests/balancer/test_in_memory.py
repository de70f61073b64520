"""Whole exchanges through the balancer tier in memory: client bytes in, backend bytes out.

The balancer service runs on a ``MemoryReactorClock``; client connections and backend
connections are Twisted protocols on ``StringTransport``s, so every byte each side sees is
checked without a socket, and time moves only when the test says so.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path

import pytest
from twisted.internet.address import IPv4Address
from twisted.internet.testing import MemoryReactorClock, StringTransportWithDisconnection
from twisted.python.failure import Failure

from stack.balancer.service import BalancerService
from stack.config import load
from stack.http.client import BackendConnection
from stack.http.server import ServerChannel

CONFIG = """\
[defaults]
mode = http
timeout connect = 5s
timeout client = 50s
timeout server = 50s
timeout http-keep-alive = 2s

[frontend web]
bind = 127.0.0.1:18080
default_backend = app

[backend app]
balance = roundrobin
server s1 = 10.0.0.1:8001
server s2 = 10.0.0.2:8002
"""

RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nServer: origin\r\n\r\nhello"


class Balancer:
    """The service, plus helpers to open client connections and complete backend connects."""

    def __init__(self, tmp_path: Path) -> None:
        path = tmp_path / "stack.ini"
        path.write_text(CONFIG)
        self.reactor = MemoryReactorClock()
        self.reactor.advance(1000.0)
        self.service = BalancerService(load(str(path)), self.reactor)
        self.factory = self.service.handlers["web"].factory
        self.backends: list[tuple[BackendConnection, StringTransportWithDisconnection]] = []

    def client(self) -> tuple[ServerChannel, StringTransportWithDisconnection]:
        channel = self.factory.buildProtocol(None)
        transport = StringTransportWithDisconnection(
            hostAddress=IPv4Address("TCP", "127.0.0.1", 18080),
            peerAddress=IPv4Address("TCP", "192.0.2.7", 40000 + len(self.backends)),
        )
        transport.protocol = channel
        channel.makeConnection(transport)
        return channel, transport

    def accept_connects(self) -> list[tuple[BackendConnection, StringTransportWithDisconnection]]:
        """Complete every connect the balancer started since the last call."""
        new = []
        while self.reactor.tcpClients:
            host, port, factory, _timeout, _bind = self.reactor.tcpClients.pop(0)
            conn = factory.buildProtocol(IPv4Address("TCP", host, port))
            transport = StringTransportWithDisconnection(
                hostAddress=IPv4Address("TCP", "127.0.0.1", 50000 + len(self.backends)),
                peerAddress=IPv4Address("TCP", host, port),
            )
            transport.protocol = conn
            conn.makeConnection(transport)
            self.backends.append((conn, transport))
            new.append((conn, transport))
        return new


@pytest.fixture
def lb(tmp_path: Path) -> Iterator[Balancer]:
    balancer = Balancer(tmp_path)
    yield balancer
    balancer.service.pool.close_all()


def request(path: str = "/", extra: str = "") -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: example.test\r\n{extra}\r\n".encode()


def test_request_and_response_cross_in_memory(lb: Balancer) -> None:
    _, client = lb.client()
    client_channel = client.protocol
    client_channel.dataReceived(request("/a?x=1", "Connection: keep-alive\r\nTE: trailers\r\n"))
    [(conn, server)] = lb.accept_connects()
    assert server.getPeer().port == 8001  # roundrobin starts with s1
    head = server.value()
    assert head.startswith(b"GET /a?x=1 HTTP/1.1\r\nhost: example.test\r\n")
    assert b"keep-alive" not in head.lower() and b"te:" not in head
    server.clear()
    conn.dataReceived(RESPONSE)
    # the server's Content-Length stays in its place, as HAProxy forwards it
    assert client.value() == (
        b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\nserver: origin\r\n\r\nhello"
    )


def test_backend_connection_is_reused_and_servers_alternate(lb: Balancer) -> None:
    _, client = lb.client()
    peers = []
    for _ in range(4):
        client.clear()
        client.protocol.dataReceived(request())
        lb.accept_connects()
        conn, server = next((c, t) for c, t in lb.backends if c.listener is not None)
        peers.append(server.getPeer().port)
        server.clear()
        conn.dataReceived(RESPONSE)
        assert client.value().endswith(b"hello")
    assert peers == [8001, 8002, 8001, 8002]
    assert len(lb.backends) == 2  # one connection per server, each used twice
    assert all(c.reused for c, _ in lb.backends)


def test_finished_requests_leave_no_cyclic_garbage(lb: Balancer) -> None:
    """Everything a request allocates is freed by reference counting when it ends; a cycle
    would leave the cyclic GC to run on the hot path."""
    _, client = lb.client()

    def one() -> None:
        client.protocol.dataReceived(request())
        lb.accept_connects()
        conn = next(c for c, _ in lb.backends if c.listener is not None)
        conn.dataReceived(RESPONSE)

    one()
    one()  # both backend connections exist and are idle
    gc.collect()
    gc.disable()
    try:
        for _ in range(20):
            one()
        assert gc.collect() == 0
    finally:
        gc.enable()


def test_idle_connection_closed_by_server_is_retried_on_a_fresh_one(lb: Balancer) -> None:
    _, client = lb.client()
    client.protocol.dataReceived(request())
    [(conn, _server)] = lb.accept_connects()
    conn.dataReceived(RESPONSE)
    client.clear()
    client.protocol.dataReceived(request())  # s2: a new connection
    [(conn2, _)] = lb.accept_connects()
    conn2.dataReceived(RESPONSE)
    client.clear()
    # The third request reuses s1's idle connection, which the server closed meanwhile.
    client.protocol.dataReceived(request("/again"))
    assert conn.listener is not None and conn.reused
    conn.connectionLost(Failure(ConnectionResetError("reset by peer")))
    [(fresh, fresh_server)] = lb.accept_connects()
    assert fresh_server.getPeer().port == 8001
    assert fresh_server.value().startswith(b"GET /again HTTP/1.1\r\n")
    fresh.dataReceived(RESPONSE)
    assert client.value().startswith(b"HTTP/1.1 200 OK\r\n")
    assert client.value().endswith(b"hello")


def test_keep_alive_deadline_starts_when_the_response_ends(lb: Balancer) -> None:
    channel, client = lb.client()
    channel.dataReceived(request())
    [(conn, _)] = lb.accept_connects()
    lb.reactor.advance(1.5)
    conn.dataReceived(RESPONSE)
    assert channel.idle
    assert channel.deadline == pytest.approx(lb.reactor.seconds() + 2.0)
    lb.reactor.advance(1.8)
    assert client.connected
    lb.reactor.advance(0.3)
    assert not client.connected  # closed silently, like HAProxy
