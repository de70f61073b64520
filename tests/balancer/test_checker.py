"""``HealthChecker``: checks on the wire, their schedule and what they report.

Most tests run on a ``MemoryReactorClock``: each connect the checker starts is completed (or
refused) by the test on a ``StringTransport``, so the request bytes, the close and the timing of
every check are checked exactly, with time moving only when the test says. The last tests run a
real reactor on loopback against a small origin (plain and TLS) whose answers they switch.
"""

from __future__ import annotations

import datetime
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from OpenSSL import SSL
from twisted.internet import error, ssl
from twisted.internet.address import IPv4Address
from twisted.internet.interfaces import IAddress
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.testing import MemoryReactorClock, StringTransportWithDisconnection
from twisted.protocols.tls import TLSMemoryBIOFactory
from twisted.python.failure import Failure

from stack.balancer.checker import HealthChecker
from stack.config.model import (
    Backend,
    Endpoint,
    HttpCheck,
    HttpCheckExpect,
    Server,
    ServerTls,
    Timeouts,
)
from stack.reactor import StackReactor

BE_CHK_REQUEST = b"GET /health HTTP/1.1\r\nhost: www.example.com\r\nconnection: close\r\n\r\n"
BE_CHK = HttpCheck(
    "GET",
    "/health",
    "HTTP/1.1",
    ((b"Host", b"www.example.com"),),
    expect=HttpCheckExpect("status", statuses=((200, 200),)),
)
OK = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"
UNAVAILABLE = b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n"


def server(name: str = "c1", port: int = 18091, **kw: Any) -> Server:
    return Server(name=name, address=Endpoint("127.0.0.1", port), check=kw.pop("check", True), **kw)


@dataclass(eq=False)
class Srv:
    """What the balancer hands the checker: ``name``, ``config`` and its load figures."""

    name: str
    config: Server
    served: int = 0
    queue: list[object] = field(default_factory=list)


class FixedRandom(random.Random):
    def __init__(self, value: float) -> None:
        super().__init__()
        self.value = value

    def random(self) -> float:
        return self.value


class Conn:
    def __init__(self, protocol: Protocol, transport: StringTransportWithDisconnection) -> None:
        self.protocol = protocol
        self.transport = transport

    def sent(self) -> bytes:
        return self.transport.value()

    def respond(self, data: bytes) -> None:
        self.protocol.dataReceived(data)

    @property
    def closed(self) -> bool:
        return not self.transport.connected or bool(self.transport.disconnecting)


class Harness:
    def __init__(self, backend: Backend, spread: int = 0, **kw: Any) -> None:
        self.reactor = MemoryReactorClock()
        self.reactor.advance(1000.0)
        self.servers = [Srv(s.name, s) for s in backend.servers]
        self.changes: list[tuple[str, bool, str]] = []
        self.lines: list[str] = []
        self.requeued = 0
        rng = kw.pop("rng", None)
        self.checker = HealthChecker(
            backend, self.servers, self.reactor, spread, self._changed, self.lines.append, rng, **kw
        )

    def _changed(self, srv: Srv, up: bool, reason: str) -> int:
        self.changes.append((srv.name, up, reason))
        return self.requeued

    def start(self) -> None:
        self.checker.start()
        self.reactor.advance(0)

    @property
    def pending(self) -> list[tuple[str, int]]:
        return [(c[0], c[1]) for c in self.reactor.tcpClients]

    def accept(self, tls: bool = False) -> Conn:
        """Complete the oldest connect. For a TLS check the checker's own protocol is
        connected under the TLS wrapper, and the test says when the handshake is done."""
        entry: Any = self.reactor.tcpClients.pop(0)
        host, port, factory = entry[0], entry[1], entry[2]
        assert isinstance(factory, TLSMemoryBIOFactory) is tls
        if tls:
            factory = factory.wrappedFactory
        protocol = factory.buildProtocol(IPv4Address("TCP", host, port))
        transport = StringTransportWithDisconnection(peerAddress=IPv4Address("TCP", host, port))
        transport.protocol = protocol
        protocol.makeConnection(transport)
        return Conn(protocol, transport)

    def refuse(self) -> None:
        entry: Any = self.reactor.tcpClients.pop(0)
        factory = entry[2]
        failure = Failure(error.ConnectionRefusedError(111, "Connection refused"))
        factory.clientConnectionFailed(None, failure)

    def forget_stopped(self) -> None:
        """The connect the checker gave up on (``stopConnecting``) leaves the list."""
        assert self.reactor.connectors[-1].stoppedConnecting
        self.reactor.tcpClients.pop(0)

    def exchange(self, response: bytes, after: float = 0.0) -> Conn:
        conn = self.accept()
        self.reactor.advance(after)
        conn.respond(response)
        return conn

    def wait_for_connect(self, delay: float) -> None:
        """The next connect comes exactly ``delay`` seconds from now, not a millisecond sooner."""
        assert not self.pending
        self.reactor.advance(delay - 0.001)
        assert not self.pending
        self.reactor.advance(0.001)
        assert len(self.pending) == 1


# -- the observed HAProxy 2.6 run ------------------------------------------------------------------


def test_observed_be_chk_sequence_with_its_timing() -> None:
    """be_chk (rise 2 fall 3, inter 1s fastinter 250ms downinter 3s, log-health-checks): 503
    -> 0/2 DOWN at once, 3 s later 200 -> 1/2 DOWN, 250 ms later 200 -> 3/3 UP, then 1 s."""
    config = server(inter=1.0, fastinter=0.25, downinter=3.0, rise=2, fall=3)
    h = Harness(Backend("be_chk", (config,), httpchk=BE_CHK, log_health_checks=True))
    h.start()
    assert h.pending == [("127.0.0.1", 18091)]
    conn = h.exchange(UNAVAILABLE, after=0.001)
    assert conn.sent() == BE_CHK_REQUEST
    assert conn.closed
    assert h.lines == [
        "Health check for server be_chk/c1 failed, reason: Layer7 wrong status, code: 503, "
        'info: "Service Unavailable", check duration: 1ms, status: 0/2 DOWN.',
        "Server be_chk/c1 is DOWN. 0 active and 0 backup servers left. 0 sessions active, "
        "0 requeued, 0 remaining in queue.",
        "backend be_chk has no server available!",
    ]
    assert h.changes == [
        (
            "c1",
            False,
            'Layer7 wrong status, code: 503, info: "Service Unavailable", check duration: 1ms',
        )
    ]
    h.lines.clear()

    h.wait_for_connect(3.0)  # downinter
    assert h.exchange(OK, after=0.001).sent() == BE_CHK_REQUEST
    assert h.lines == [
        "Health check for server be_chk/c1 succeeded, reason: Layer7 check passed, code: 200, "
        "check duration: 1ms, status: 1/2 DOWN."
    ]
    h.lines.clear()

    h.wait_for_connect(0.25)  # fastinter
    h.exchange(OK, after=0.001)
    assert h.lines == [
        "Health check for server be_chk/c1 succeeded, reason: Layer7 check passed, code: 200, "
        "check duration: 1ms, status: 3/3 UP.",
        "Server be_chk/c1 is UP. 1 active and 0 backup servers online. 0 sessions requeued, "
        "0 total in queue.",
    ]
    assert h.changes[-1] == ("c1", True, "Layer7 check passed, code: 200, check duration: 1ms")
    h.lines.clear()

    h.wait_for_connect(1.0)  # inter
    h.exchange(OK)
    assert h.lines == []  # fully up and passing: nothing to say
    state = h.checker.state(h.servers[0])
    assert state is not None and state.status_text() == "3/3 UP"
    result, duration = h.checker.last_result(h.servers[0])
    assert result is not None and result.status == "L7OK" and duration == 0


def test_refused_connections_take_a_server_down_and_rise_successes_bring_it_back() -> None:
    """be_dead-like L4 check without log-health-checks: the DOWN line carries the reason."""
    config = server("d1", 18099, inter=0.5, rise=2, fall=2)
    h = Harness(Backend("be_dead", (config,)))
    h.start()
    h.refuse()
    assert h.lines == [
        'Server be_dead/d1 is DOWN, reason: Layer4 connection problem, info: "Connection '
        'refused", check duration: 0ms. 0 active and 0 backup servers left. 0 sessions active, '
        "0 requeued, 0 remaining in queue.",
        "backend be_dead has no server available!",
    ]
    assert h.changes == [
        ("d1", False, 'Layer4 connection problem, info: "Connection refused", check duration: 0ms')
    ]
    h.lines.clear()
    h.wait_for_connect(0.5)
    h.refuse()  # still down: no new line
    assert h.lines == []
    h.wait_for_connect(0.5)
    conn = h.accept()
    assert conn.sent() == b"" and conn.closed  # a connect-only check closes at once
    assert h.lines == [] and len(h.changes) == 1  # 1/2: still DOWN
    h.wait_for_connect(0.5)
    h.accept()
    assert h.changes[-1] == ("d1", True, "Layer4 check passed, check duration: 0ms")
    assert h.lines == [
        "Server be_dead/d1 is UP, reason: Layer4 check passed, check duration: 0ms. 1 active "
        "and 0 backup servers online. 0 sessions requeued, 0 total in queue."
    ]


def test_a_fully_up_server_goes_down_after_fall_503s() -> None:
    config = server("s1", 8080, inter=1.0, rise=2, fall=3)
    h = Harness(Backend("be", (config,), httpchk=HttpCheck()))
    h.start()
    conn = h.exchange(OK)
    assert conn.sent() == b"OPTIONS / HTTP/1.0\r\n\r\n"
    for expected in ("2/3 UP", "1/3 UP"):
        h.wait_for_connect(1.0)
        h.exchange(UNAVAILABLE)
        state = h.checker.state(h.servers[0])
        assert state is not None and state.status_text() == expected
        assert h.changes == [] and h.lines == []
    h.wait_for_connect(1.0)
    h.exchange(UNAVAILABLE)
    assert [c[:2] for c in h.changes] == [("s1", False)]
    assert h.lines[0].startswith(
        'Server be/s1 is DOWN, reason: Layer7 wrong status, code: 503, info: "Service '
        'Unavailable", check duration: 0ms. 0 active'
    )


def test_body_expect_reads_across_segments_and_closes_when_decided() -> None:
    check = HttpCheck(expect=HttpCheckExpect("string", text=b"alive"))
    h = Harness(Backend("be", (server(),), httpchk=check, log_health_checks=True))
    h.start()
    conn = h.accept()
    conn.respond(b"HTTP/1.1 200 OK\r\ncontent-length: 20\r\n\r\nI am al")
    assert h.lines == [] and not conn.closed
    conn.respond(b"ive")
    assert conn.closed
    assert h.lines == [
        "Health check for server be/c1 succeeded, reason: Layer7 check passed, code: 200, "
        "check duration: 0ms, status: 3/3 UP."
    ]


def test_a_reset_before_the_response_is_a_socket_error() -> None:
    h = Harness(Backend("be", (server(inter=1.0),), httpchk=HttpCheck()))
    h.start()
    conn = h.accept()
    conn.protocol.connectionLost(Failure(error.ConnectionLost()))
    assert h.changes == [
        ("c1", False, 'Socket error, info: "Connection reset by peer", check duration: 0ms')
    ]


# -- timeouts --------------------------------------------------------------------------------------


def test_inter_bounds_the_whole_check_without_timeout_check() -> None:
    h = Harness(Backend("be", (server(inter=2.0, rise=1, fall=1),), httpchk=HttpCheck()))
    h.start()
    h.reactor.advance(1.999)
    assert h.changes == []
    h.reactor.advance(0.001)
    assert h.changes == [("c1", False, "Layer4 timeout, check duration: 2000ms")]
    h.forget_stopped()
    # Next check (downinter = inter): connected at +0.5, silent server: L7 timeout at +2.
    h.wait_for_connect(2.0)
    h.reactor.advance(0.5)
    conn = h.accept()
    h.reactor.advance(1.499)
    assert not conn.closed
    h.reactor.advance(0.001)
    assert conn.closed
    assert h.checker.last_result(h.servers[0])[1] == 2000
    result = h.checker.last_result(h.servers[0])[0]
    assert result is not None and result.status == "L7TOUT"


def test_timeout_check_splits_connect_and_response_timeouts() -> None:
    backend = Backend(
        "be",
        (server(inter=3.0, rise=1, fall=1),),
        httpchk=HttpCheck(),
        timeouts=Timeouts(connect=1.0),
        check_timeout=5.0,
    )
    h = Harness(backend)
    h.start()
    h.reactor.advance(1.0)  # min(inter, timeout connect)
    assert h.changes == [("c1", False, "Layer4 timeout, check duration: 1000ms")]
    h.forget_stopped()
    h.wait_for_connect(3.0)
    h.reactor.advance(0.5)
    conn = h.accept()
    h.reactor.advance(4.999)  # past inter: timeout check counts from the connection
    assert not conn.closed
    h.reactor.advance(0.001)
    assert conn.closed
    result, duration = h.checker.last_result(h.servers[0])
    assert result is not None and result.status == "L7TOUT" and duration == 5500


# -- scheduling ------------------------------------------------------------------------------------


def test_first_checks_are_spread_over_the_interval() -> None:
    backend = Backend("be", (server("a", 1, inter=10.0), server("b", 2, inter=10.0)))
    h = Harness(backend)
    h.start()
    assert h.pending == [("127.0.0.1", 1)]
    h.reactor.advance(4.999)
    assert h.pending == [("127.0.0.1", 1)]
    h.reactor.advance(0.001)
    assert h.pending == [("127.0.0.1", 1), ("127.0.0.1", 2)]


def test_first_delays_can_come_from_the_whole_process() -> None:
    backend = Backend("be", (server("a", 1), server("b", 2)))
    h = Harness(backend, first_delays=[1.0, 0.5])
    h.start()
    assert h.pending == []
    h.reactor.advance(0.5)
    assert h.pending == [("127.0.0.1", 2)]


def test_spread_checks_jitters_each_next_check() -> None:
    h = Harness(Backend("be", (server(inter=2.0, rise=1, fall=1),)), spread=50, rng=FixedRandom(0))
    h.start()
    h.accept()
    h.wait_for_connect(3.0)  # 2 s + 50 %


def test_disabled_servers_are_not_checked_and_unchecked_servers_count_as_up() -> None:
    backend = Backend(
        "be",
        (
            server("s1", 1, inter=1.0),
            server("s2", 2, check=False),
            server("off", 3, disabled=True),
            server("b1", 4, backup=True, inter=1.0),
        ),
    )
    h = Harness(backend, first_delays=[0.0, 0.0, 0.0])
    h.start()
    assert sorted(h.pending) == [("127.0.0.1", 1), ("127.0.0.1", 4)]
    h.refuse()
    assert h.lines[0].endswith(
        "1 active and 1 backup servers left. 0 sessions active, 0 requeued, 0 remaining in queue."
    )


def test_running_on_backup_and_the_requeued_count_from_on_change() -> None:
    backend = Backend("be", (server("s1", 1), server("b1", 2, backup=True, check=False)))
    h = Harness(backend)
    h.servers[0].served = 3
    h.requeued = 2
    h.start()
    h.refuse()
    assert h.lines == [
        'Server be/s1 is DOWN, reason: Layer4 connection problem, info: "Connection refused", '
        "check duration: 0ms. 0 active and 1 backup servers left. Running on backup. 3 sessions "
        "active, 2 requeued, 0 remaining in queue."
    ]


def test_backup_server_lines() -> None:
    backend = Backend("be", (server("b1", 2, backup=True),), log_health_checks=True)
    h = Harness(backend, kind="proxy")
    h.start()
    h.refuse()
    assert h.lines == [
        "Health check for backup server be/b1 failed, reason: Layer4 connection problem, info: "
        '"Connection refused", check duration: 0ms, status: 0/2 DOWN.',
        "Backup Server be/b1 is DOWN. 0 active and 0 backup servers left. 0 sessions active, "
        "0 requeued, 0 remaining in queue.",
        "proxy be has no server available!",
    ]


def test_stop_cancels_timers_and_running_checks() -> None:
    backend = Backend("be", (server("a", 1, inter=1.0), server("b", 2, inter=1.0)))
    h = Harness(backend)
    h.start()
    h.checker.stop()
    assert h.reactor.connectors[-1].stoppedConnecting
    h.reactor.advance(60)
    h.reactor.tcpClients.clear()
    assert h.changes == [] and h.lines == [] and not h.reactor.getDelayedCalls()


# -- TLS -------------------------------------------------------------------------------------------


def test_tls_check_is_layer6_once_the_handshake_is_done() -> None:
    config = server(check_ssl=True, tls=ServerTls(verify=False), rise=1, fall=1)
    h = Harness(Backend("be", (config,), log_health_checks=True))
    h.start()
    conn = h.accept(tls=True)
    assert h.lines == [] and not conn.closed
    conn.protocol.handshakeCompleted()  # type: ignore[attr-defined]
    assert conn.closed
    assert h.lines == [
        "Health check for server be/c1 succeeded, reason: Layer6 check passed, check duration: "
        "0ms, status: 1/1 UP."
    ]


def test_http_check_over_tls_sends_after_the_handshake() -> None:
    config = server(check_ssl=True, rise=1, fall=1, inter=1.0)
    h = Harness(Backend("be", (config,), httpchk=HttpCheck()))
    h.start()
    conn = h.accept(tls=True)
    assert conn.sent() == b""
    conn.protocol.handshakeCompleted()  # type: ignore[attr-defined]
    assert conn.sent() == b"OPTIONS / HTTP/1.0\r\n\r\n"
    conn.respond(UNAVAILABLE)
    assert h.changes[-1][:2] == ("c1", False)


def test_tls_handshake_failures_and_timeouts() -> None:
    config = server(check_ssl=True, tls=ServerTls(verify=False), rise=1, fall=1, inter=2.0)
    h = Harness(Backend("be", (config,)))
    h.start()
    conn = h.accept(tls=True)
    conn.protocol.connectionLost(Failure(SSL.Error([("SSL routines", "", "bad")])))
    assert h.changes == [
        ("c1", False, 'Layer6 invalid response, info: "SSL handshake failure", check duration: 0ms')
    ]
    h.wait_for_connect(2.0)
    h.accept(tls=True)
    h.reactor.advance(2.0)
    result = h.checker.last_result(h.servers[0])[0]
    assert result is not None and result.status == "L6TOUT"


# -- slowstart -------------------------------------------------------------------------------------


def test_slowstart_ramps_the_weight_after_coming_back_up() -> None:
    config = server(slowstart=4.0, rise=1, fall=1, inter=100.0)
    weights: list[float] = []
    h = Harness(Backend("be", (config,)), on_weight=lambda s, f: weights.append(f))
    h.start()
    h.accept()  # UP at start: no slowstart
    assert weights == []
    h.wait_for_connect(100.0)
    h.refuse()
    h.wait_for_connect(100.0)
    h.accept()
    assert weights == [1 / 16]
    assert h.checker.weight_factor(h.servers[0]) == 1 / 16
    for _ in range(4):
        h.reactor.advance(1.0)
    # (16 * t + 4) // 4 sixteenths each second, then full weight and the task stops.
    assert weights == [1 / 16, 5 / 16, 9 / 16, 13 / 16, 1.0]
    assert h.checker.weight_factor(h.servers[0]) == 1.0
    assert len(h.reactor.getDelayedCalls()) == 1  # only the next check


# -- a real reactor on loopback --------------------------------------------------------------------


class Origin(Protocol):
    """Reads one request head, records it and answers ``factory.status``; TLS hellos sent to
    a plain port get a 400, as an HTTP server would."""

    factory: OriginFactory

    def __init__(self) -> None:
        self.buffer = b""

    def dataReceived(self, data: bytes) -> None:
        self.buffer += data
        if self.buffer.startswith(b"\x16"):
            self.transport.write(b"HTTP/1.1 400 Bad Request\r\n\r\n")  # type: ignore[union-attr]
            self.transport.loseConnection()  # type: ignore[union-attr]
            return
        if b"\r\n\r\n" in self.buffer:
            self.factory.requests.append(self.buffer)
            status = self.factory.status
            reason = {200: b"OK", 503: b"Service Unavailable"}[status]
            self.transport.write(  # type: ignore[union-attr]
                b"HTTP/1.1 %d %s\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                % (status, reason)
            )
            self.transport.loseConnection()  # type: ignore[union-attr]


class OriginFactory(Factory):
    def __init__(self) -> None:
        self.status = 200
        self.requests: list[bytes] = []

    def buildProtocol(self, addr: IAddress | None) -> Any:
        protocol = Origin()
        protocol.factory = self
        return protocol


def spin(reactor: StackReactor, until: Callable[[], bool], limit: float = 10.0) -> None:
    deadline = reactor.seconds() + limit
    while not until():
        if reactor.seconds() > deadline:
            raise AssertionError("condition not reached")
        reactor.iterate(0.005)


@pytest.fixture
def loop() -> Iterator[StackReactor]:
    reactor = StackReactor()
    yield reactor
    reactor.disconnectAll()
    for call in reactor.getDelayedCalls():
        call.cancel()
    reactor._poller.close()


def _self_signed() -> ssl.CertificateOptions:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "origin.test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .sign(key, hashes.SHA256())
    )
    # pyOpenSSL takes cryptography objects (its own types are deprecated).
    options: Any = {"privateKey": key, "certificate": cert}
    return ssl.CertificateOptions(**options)


def test_loopback_503_down_rise_up_then_refused_down(loop: StackReactor) -> None:
    origin = OriginFactory()
    port = loop.listenTCP(0, origin, interface="127.0.0.1")
    number = port.getHost().port
    config = server("c1", number, inter=0.05, rise=2, fall=2)
    backend = Backend("be_chk", (config,), httpchk=BE_CHK, log_health_checks=True)
    srv = Srv("c1", config)
    changes: list[tuple[bool, str]] = []
    lines: list[str] = []
    checker = HealthChecker(
        backend, [srv], loop, 0, lambda s, up, r: changes.append((up, r)), lines.append
    )
    checker.start()
    spin(loop, lambda: len(origin.requests) >= 2)
    assert changes == []  # 200s keep a fresh server UP
    origin.status = 503
    spin(loop, lambda: len(changes) == 1)
    assert changes[0][0] is False and changes[0][1].startswith(
        'Layer7 wrong status, code: 503, info: "Service Unavailable", check duration: '
    )
    origin.status = 200
    spin(loop, lambda: len(changes) == 2)
    assert changes[1][0] is True
    assert set(origin.requests) == {BE_CHK_REQUEST}
    port.stopListening()
    spin(loop, lambda: len(changes) == 3, limit=10.0)
    assert changes[2][0] is False
    assert changes[2][1].startswith('Layer4 connection problem, info: "Connection refused"')
    assert "Server be_chk/c1 is UP. 1 active and 0 backup servers online." in "".join(lines)
    assert "backend be_chk has no server available!" in lines
    checker.stop()


def test_loopback_tls_checks(loop: StackReactor) -> None:
    tls_origin = OriginFactory()
    # TLS wrapped by hand so that its write batching runs on this reactor, not the global one.
    tls_factory = TLSMemoryBIOFactory(_self_signed(), False, tls_origin, clock=loop)
    tls_port = loop.listenTCP(0, tls_factory, interface="127.0.0.1")
    plain_origin = OriginFactory()
    plain_port = loop.listenTCP(0, plain_origin, interface="127.0.0.1")
    tls = ServerTls(verify=False)
    servers = [
        server("tcp", tls_port.getHost().port, check_ssl=True, tls=tls, rise=1, fall=1),
        server("plain", plain_port.getHost().port, check_ssl=True, tls=tls, rise=1, fall=1),
    ]
    results: dict[str, str] = {}
    lines: list[str] = []
    srvs = [Srv(s.name, s) for s in servers]
    connect_only = HealthChecker(
        Backend("be", tuple(servers), log_health_checks=True),
        srvs,
        loop,
        0,
        lambda s, up, r: results.__setitem__(s.name, r),
        lines.append,
        first_delays=[0.0, 0.0],
    )
    connect_only.start()
    spin(loop, lambda: "plain" in results and len(lines) >= 3)
    connect_only.stop()
    assert any(
        line.startswith("Health check for server be/tcp succeeded, reason: Layer6 check passed")
        for line in lines
    )
    assert results["plain"].startswith('Layer6 invalid response, info: "SSL handshake failure"')

    http_srv = Srv("tcp", servers[0])
    changes: list[bool] = []
    over_tls = HealthChecker(
        Backend("be", (servers[0],), httpchk=BE_CHK),
        [http_srv],
        loop,
        0,
        lambda s, up, r: changes.append(up),
        None,
    )
    tls_origin.status = 503
    over_tls.start()
    spin(loop, lambda: changes == [False])
    assert tls_origin.requests[-1] == BE_CHK_REQUEST
    over_tls.stop()
    tls_port.stopListening()
    plain_port.stopListening()


def test_check_port_and_a_failing_callback_keep_the_checks_going() -> None:
    config = server(check_port=9999, inter=1.0, rise=1, fall=1)
    reactor = MemoryReactorClock()

    def broken(server: object, up: bool, reason: str) -> None:
        raise RuntimeError("balancer bug")

    checker = HealthChecker(Backend("be", (config,)), [Srv("c1", config)], reactor, 0, broken, None)
    checker.start()
    reactor.advance(0)
    entry: Any = reactor.tcpClients.pop(0)
    assert (entry[0], entry[1]) == ("127.0.0.1", 9999)
    with pytest.raises(RuntimeError):
        entry[2].clientConnectionFailed(None, Failure(error.ConnectionRefusedError(111, "x")))
    reactor.advance(1.0)
    assert len(reactor.tcpClients) == 1
