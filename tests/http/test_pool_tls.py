"""The connection pool's TLS connections on fakes: ready only after the handshake, a stalled or
failed handshake is a connect failure, and idle TLS connections are kept apart per creator."""

from __future__ import annotations

from twisted.internet import ssl
from twisted.internet.error import ConnectionDone
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.python.failure import Failure

from stack.http.client import BackendConnection, ConnectionPool
from stack.http.deadlines import Deadlines


def _pool() -> tuple[MemoryReactorClock, ConnectionPool]:
    reactor = MemoryReactorClock()
    return reactor, ConnectionPool(reactor, Deadlines(reactor))


def _start(reactor: MemoryReactorClock, pool: ConnectionPool, tls: object, timeout: float):
    ready: list[BackendConnection] = []
    failed: list[str] = []
    pool.connect("127.0.0.1", 8443, timeout, ready.append, failed.append, tls)  # type: ignore[arg-type]
    factory = reactor.tcpClients[-1][2]
    protocol = factory.buildProtocol(None)
    transport = StringTransport()
    protocol.makeConnection(transport)
    return protocol, transport, ready, failed


def test_a_stalled_handshake_fails_within_the_connect_timeout() -> None:
    reactor, pool = _pool()
    creator = ssl.CertificateOptions()
    protocol, transport, ready, failed = _start(reactor, pool, creator, timeout=2.0)
    assert transport.value().startswith(b"\x16\x03")  # the ClientHello left at once
    reactor.advance(1.5)
    assert (ready, failed) == ([], [])
    reactor.advance(0.7)  # past 2 s, on the deadline ticker's next 0.1 s tick
    assert transport.disconnecting  # aborted
    protocol.connectionLost(Failure(ConnectionDone()))  # what the reactor reports next
    assert ready == []
    assert failed == ["SSL handshake timeout"]


def test_a_connection_lost_during_the_handshake_is_a_connect_failure() -> None:
    reactor, pool = _pool()
    protocol, transport, ready, failed = _start(reactor, pool, ssl.CertificateOptions(), 5.0)
    protocol.dataReceived(b"HTTP/1.1 400 Bad Request\r\n\r\n")  # not TLS: the handshake fails
    assert transport.disconnecting
    protocol.connectionLost(Failure(ConnectionDone()))
    assert ready == []
    assert len(failed) == 1 and failed[0].startswith("SSL handshake failure (")


def test_plain_and_tls_idle_connections_are_pooled_apart() -> None:
    _, pool = _pool()
    creator = ssl.CertificateOptions()
    plain = BackendConnection(pool, ("127.0.0.1", 8443, None))
    secure = BackendConnection(pool, ("127.0.0.1", 8443, creator))  # type: ignore[arg-type]
    pool.put_idle(plain, 0.0)
    pool.put_idle(secure, 0.0)
    assert pool.take_idle("127.0.0.1", 8443, creator) is secure  # type: ignore[arg-type]
    assert pool.take_idle("127.0.0.1", 8443, creator) is None  # type: ignore[arg-type]
    assert pool.take_idle("127.0.0.1", 8443) is plain
