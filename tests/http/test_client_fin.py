"""``timeout client-fin``: a connection we are closing does not wait forever for its peer.

Twisted's TLS layer, asked to close, sends close_notify and then waits for the peer's before
it closes the TCP connection. A client that has gone (or whose packets now reach the other
load balancer, after a VIP move) never answers, and without a bound the connection is held
until the kernel gives up, which also holds a graceful stop."""

from __future__ import annotations

import contextlib

from cryptography import x509
from OpenSSL import SSL, crypto
from pki import issue, make_ca
from twisted.internet.address import IPv4Address
from twisted.internet.interfaces import IOpenSSLServerConnectionCreator
from twisted.internet.protocol import Factory
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.protocols.tls import TLSMemoryBIOFactory
from zope.interface import directlyProvides

from stack.config.model import Limits, Timeouts
from stack.http.deadlines import Deadlines
from stack.http.server import ServerChannel
from tests.http.fakes import EchoHandler

CLOSE = b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"


class HoldingTransport(StringTransport):
    """A TCP transport whose close waits (as a real one waits for a TLS peer or a full
    buffer); ``pending`` stands for bytes still in Twisted's write buffer."""

    def __init__(self) -> None:
        super().__init__(
            hostAddress=IPv4Address("TCP", "127.0.0.1", 443),
            peerAddress=IPv4Address("TCP", "127.0.0.1", 40000),
        )
        self.aborted = False
        self.dataBuffer = b""

    def abortConnection(self) -> None:
        self.aborted = True
        self.disconnecting = True


def channel_on(transport: StringTransport, timeouts: Timeouts) -> tuple[ServerChannel, Clock]:
    clock = Clock()
    channel = ServerChannel(EchoHandler(), Deadlines(clock), timeouts, Limits())  # type: ignore[arg-type]
    channel.makeConnection(transport)
    return channel, clock


def test_a_closing_connection_is_aborted_after_client_fin() -> None:
    transport = HoldingTransport()
    channel, clock = channel_on(transport, Timeouts(client=30.0, client_fin=1.0))
    channel.dataReceived(CLOSE)
    # answered, then the close starts and waits
    assert transport.value().startswith(b"HTTP/1.1 200 OK\r\n")
    assert transport.disconnecting and not transport.aborted
    clock.advance(0.8)
    assert not transport.aborted
    clock.advance(0.4)
    assert transport.aborted


def test_without_client_fin_the_close_waits() -> None:
    transport = HoldingTransport()
    channel, clock = channel_on(transport, Timeouts(client=None, client_fin=None))
    channel.dataReceived(CLOSE)
    clock.advance(3600)
    assert transport.disconnecting and not transport.aborted


def test_a_slow_reader_of_the_last_response_is_not_cut_while_it_reads() -> None:
    """Bytes still to send are the last response being delivered: 'timeout client' bounds
    each stall, as for any write; the connection is aborted only when nothing moves."""
    transport = HoldingTransport()
    channel, clock = channel_on(transport, Timeouts(client=10.0, client_fin=1.0))
    channel.dataReceived(CLOSE)
    transport.dataBuffer = b"x" * 50_000  # the kernel took only part of it
    clock.advance(1.1)
    assert not transport.aborted  # at client-fin: still delivering, so wait on
    transport.dataBuffer = b"x" * 20_000  # the client read some
    clock.advance(10.1)
    assert not transport.aborted  # progress since the last look
    clock.advance(10.1)
    assert transport.aborted  # ten seconds without a byte taken


# --- the real TLS layer -------------------------------------------------------------------------


def _tls_pair(
    timeouts: Timeouts,
) -> tuple[SSL.Connection, StringTransport, Clock, HoldingTransport]:
    ca = make_ca("Fin Test Root")
    leaf = issue(ca, "fin.example", [x509.DNSName("fin.example")])
    context = SSL.Context(SSL.TLS_METHOD)
    context.use_certificate(crypto.load_certificate(crypto.FILETYPE_PEM, leaf.cert_pem()))
    context.use_privatekey(crypto.load_privatekey(crypto.FILETYPE_PEM, leaf.key_pem()))

    class Creator:
        def serverConnectionForTLS(self, protocol: object) -> SSL.Connection:
            return SSL.Connection(context, None)

    creator = Creator()
    directlyProvides(creator, IOpenSSLServerConnectionCreator)
    clock = Clock()
    holder: dict[str, ServerChannel] = {}

    def build(addr: object) -> ServerChannel:
        holder["channel"] = ServerChannel(EchoHandler(), Deadlines(clock), timeouts, Limits())  # type: ignore[arg-type]
        return holder["channel"]

    inner = Factory.forProtocol(build)  # type: ignore[arg-type]
    inner.buildProtocol = build  # type: ignore[method-assign]
    tls_factory = TLSMemoryBIOFactory(creator, False, inner)
    tcp = HoldingTransport()
    tls = tls_factory.buildProtocol(tcp.getPeer())
    assert tls is not None
    tls.makeConnection(tcp)

    client = SSL.Connection(SSL.Context(SSL.TLS_METHOD), None)
    client.set_connect_state()
    client.set_tlsext_host_name(b"fin.example")
    for _ in range(10):
        try:
            client.do_handshake()
            break
        except SSL.WantReadError:
            pass
        finally:
            _pump(client, tls, tcp)
    _pump(client, tls, tcp)
    return client, tls, clock, tcp  # type: ignore[return-value]


def _pump(client: SSL.Connection, tls: object, tcp: StringTransport) -> None:
    try:
        out = client.bio_read(1 << 20)
    except SSL.WantReadError:
        out = b""
    if out:
        tls.dataReceived(out)  # type: ignore[attr-defined]
    back = tcp.value()
    tcp.clear()
    if back:
        client.bio_write(back)


def test_a_tls_client_that_never_answers_close_notify_is_let_go() -> None:
    client, tls, clock, tcp = _tls_pair(Timeouts(client=30.0, client_fin=2.0))
    client.send(CLOSE)
    _pump(client, tls, tcp)
    answer = client.recv(65536)
    assert answer.startswith(b"HTTP/1.1 200 OK\r\n")
    # the server sent its close_notify and, as Twisted does, waits for the client's
    with contextlib.suppress(SSL.ZeroReturnError):
        client.recv(1)
    assert not tcp.disconnecting
    clock.advance(1.5)
    assert not tcp.aborted
    clock.advance(1.0)
    assert tcp.aborted  # nothing was left to send, so nothing was lost
