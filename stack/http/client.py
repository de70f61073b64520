"""The server side of the HTTP/1.1 engine: backend connections and their keep-alive pool.

A ``BackendConnection`` carries one exchange at a time and goes back to its ``ConnectionPool``
when the response ended cleanly with keep-alive; reusing connections is what keeps a Python
proxy within reach of HAProxy (a connect per request costs more than the whole exchange).

A TLS connection (``server ... ssl``) is the same protocol under Twisted's TLS layer. As in
HAProxy, it counts as connected only once the handshake is done: a refused or failed handshake
(bad certificate, wrong name) is a connect failure, retried and redispatched as one, and the
handshake shares the ``timeout connect`` budget. Idle TLS connections are pooled apart from
plain ones and from each other by their connection creator, which ``stack.http.tls`` caches
per server and SNI, so a connection is only reused for the same name it was verified for.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from twisted.internet.interfaces import (
    IAddress,
    IHandshakeListener,
    IOpenSSLClientConnectionCreator,
    IReactorTCP,
)
from twisted.internet.protocol import ClientFactory
from twisted.internet.protocol import Protocol as TwistedProtocol
from twisted.protocols.tls import TLSMemoryBIOFactory
from twisted.python.failure import Failure
from zope.interface import implementer

from stack.http import h1
from stack.http.deadlines import Deadlines
from stack.http.message import Response
from stack.http.transport import direct_writer, set_nodelay


class ResponseListener(Protocol):
    """The exchange a backend connection currently serves."""

    def response_received(self, response: Response) -> None: ...
    def response_body(self, data: bytes) -> None: ...
    def response_complete(self) -> None: ...
    def server_failed(self, status: int, reason: str, before_response: bool) -> None: ...
    def server_timeout(self) -> None: ...
    def flush(self) -> None: ...


class BackendConnection(TwistedProtocol):
    """One connection to one server."""

    def __init__(self, pool: ConnectionPool, key: PoolKey) -> None:
        self.pool = pool
        self.key = key
        self.parser = h1.ResponseParser(self)
        self.listener: ResponseListener | None = None
        self.deadline: float | None = None
        self.server_timeout: float | None = None
        self.reused = False
        self.got_bytes = False
        self.reusable = True
        self.lost = False
        self.tunnel = False
        self.read_time = 0.0  # reactor time of the latest read (or of the close)
        self._write: Any = None

    # -- use by a transaction ----------------------------------------------------------------------

    def start(
        self,
        listener: ResponseListener,
        head: bytes,
        is_head: bool,
        timeout: float | None,
        now: float,
    ) -> None:
        """Send a request head and route the response to ``listener``."""
        self.listener = listener
        self.server_timeout = timeout
        self.got_bytes = False
        self.parser.expect_response(head=is_head)
        self.deadline = None if timeout is None else now + timeout
        self._write(head)

    def write(self, data: bytes) -> None:
        self._write(data)

    def release(self, reusable: bool, now: float | None = None) -> None:
        """The exchange is over (at ``now``, when the caller knows): back to the pool, or
        closed."""
        self.listener = None
        self.deadline = None
        if reusable and self.reusable and not self.lost and not self.tunnel:
            self.pool.put_idle(self, self.pool.deadlines.now() if now is None else now)
        else:
            self.close()

    def close(self) -> None:
        self.reusable = False
        self.listener = None
        if not self.lost and self.transport is not None:
            self.transport.loseConnection()

    def abort(self) -> None:
        self.reusable = False
        self.listener = None
        if not self.lost and self.transport is not None:
            self.transport.abortConnection()  # type: ignore[attr-defined]

    # -- Twisted plumbing --------------------------------------------------------------------------

    def dataReceived(self, data: bytes) -> None:
        listener = self.listener
        if listener is None:
            # Bytes on an idle connection: the server broke keep-alive rules, never reuse it.
            self.pool.forget(self)
            self.abort()
            return
        self.got_bytes = True
        now = self.read_time = self.pool.deadlines.now()
        if self.tunnel:
            listener.response_body(data)
            listener.flush()
            return
        timeout = self.server_timeout
        if timeout is not None:
            self.deadline = now + timeout
        try:
            self.parser.feed(data)
        except h1.ProtocolError as exc:
            self.reusable = False
            current = self.listener
            self.abort()
            if current is not None:
                current.server_failed(exc.status, exc.reason, before_response=False)
            return
        # What this read produced for the client leaves in one send (a response that ended
        # here was sent as it finished, and the connection released).
        if self.listener is listener:
            listener.flush()

    def connectionLost(self, reason: Failure | None = None) -> None:
        self.read_time = self.pool.deadlines.now()
        self.lost = True
        self.reusable = False
        self.pool.deadlines.unwatch(self)
        self.pool.forget(self)
        listener = self.listener
        if listener is None:
            return
        if self.tunnel:
            self.listener = None
            listener.response_complete()
            return
        if self.parser.eof():
            return
        self.listener = None
        listener.server_failed(
            502, "server closed the connection", before_response=not self.got_bytes
        )

    def deadline_expired(self, now: float) -> None:
        listener = self.listener
        if listener is None:
            self.pool.forget(self)
            self.close()  # idle too long in the pool
            return
        self.reusable = False
        listener.server_timeout()

    # -- ResponseSink: relay to the listener ------------------------------------------------------

    def response_received(self, response: Response) -> None:
        if not response.keep_alive:
            self.reusable = False
        if response.status == 101:
            self.tunnel = True
            self.reusable = False
        if self.listener is not None:
            self.listener.response_received(response)

    def response_body(self, data: bytes) -> None:
        if self.listener is not None:
            self.listener.response_body(data)

    def response_complete(self) -> None:
        if self.tunnel:
            return
        if self.listener is not None:
            self.listener.response_complete()


# (host, port, TLS connection creator or None): which idle connections can serve a request.
PoolKey = tuple[str, int, IOpenSSLClientConnectionCreator | None]


class ConnectAttempt(ClientFactory):
    noisy = False

    def __init__(
        self,
        pool: ConnectionPool,
        key: PoolKey,
        ready: Callable[[BackendConnection], None],
        failed: Callable[[str], None],
        connect_timeout: float,
    ) -> None:
        self.pool = pool
        self.key = key
        self.ready = ready
        self.failed = failed
        self.connect_timeout = connect_timeout
        self.cancelled = False
        self.connector: Any = None

    def buildProtocol(self, addr: IAddress | None) -> BackendConnection:
        conn: _ReadyOnConnect
        if self.key[2] is None:
            conn = _ReadyOnConnect(self.pool, self.key)
        else:
            conn = _ReadyOnHandshake(self.pool, self.key)
        conn.factory = self
        return conn

    def clientConnectionFailed(self, connector: Any, reason: Failure) -> None:
        if not self.cancelled:
            self.failed(reason.getErrorMessage())

    def cancel(self) -> None:
        self.cancelled = True
        if self.connector is not None and self.connector.state == "connecting":
            self.connector.stopConnecting()


class _ReadyOnConnect(BackendConnection):
    factory: ConnectAttempt

    def connectionMade(self) -> None:
        self._write = direct_writer(self.transport)
        self.pool.deadlines.watch(self)
        set_nodelay(self.transport)
        attempt = self.factory
        if attempt.cancelled:
            self.close()
            return
        attempt.ready(self)


@implementer(IHandshakeListener)
class _ReadyOnHandshake(_ReadyOnConnect):
    """A TLS connection: ready once the handshake is done, within what is left of
    ``timeout connect``; a connection lost before that is a failed connect."""

    handshaking = True
    _timed_out = False

    def connectionMade(self) -> None:
        self._write = direct_writer(self.transport)  # the TLS layer's own write
        self.pool.deadlines.watch(self)
        set_nodelay(getattr(self.transport, "transport", None))  # the TCP connection below
        if self.factory.cancelled:
            self.close()
            return
        self.deadline = self.pool.deadlines.now() + self.factory.connect_timeout

    def handshakeCompleted(self) -> None:
        self.handshaking = False
        self.deadline = None
        attempt = self.factory
        if attempt.cancelled:
            self.close()
            return
        attempt.ready(self)

    def deadline_expired(self, now: float) -> None:
        if self.handshaking:
            self._timed_out = True
            self.abort()  # connectionLost reports the timeout
            return
        super().deadline_expired(now)

    def connectionLost(self, reason: Failure | None = None) -> None:
        if not self.handshaking:
            super().connectionLost(reason)
            return
        self.lost = True
        self.reusable = False
        self.pool.deadlines.unwatch(self)
        attempt = self.factory
        if attempt.cancelled:
            return
        if self._timed_out:
            attempt.failed("SSL handshake timeout")
        else:
            detail = reason.getErrorMessage() if reason is not None else "connection lost"
            attempt.failed(f"SSL handshake failure ({detail})")


class ConnectionPool:
    """Idle keep-alive connections per server address, most recently used first."""

    def __init__(
        self,
        reactor: IReactorTCP,
        deadlines: Deadlines,
        idle_timeout: float = 10.0,
        max_idle_per_server: int = 64,
    ) -> None:
        self.reactor = reactor
        self.deadlines = deadlines
        self.idle_timeout = idle_timeout
        self.max_idle = max_idle_per_server
        self._idle: dict[PoolKey, list[BackendConnection]] = {}

    def take_idle(
        self, host: str, port: int, tls: IOpenSSLClientConnectionCreator | None = None
    ) -> BackendConnection | None:
        """The most recently used idle connection to ``host:port`` (over TLS made by ``tls``),
        if any."""
        idle = self._idle.get((host, port, tls))
        while idle:
            conn = idle.pop()
            if not conn.lost:
                conn.reused = True
                return conn
        return None

    def connect(
        self,
        host: str,
        port: int,
        connect_timeout: float | None,
        ready: Callable[[BackendConnection], None],
        failed: Callable[[str], None],
        tls: IOpenSSLClientConnectionCreator | None = None,
    ) -> ConnectAttempt:
        """Open a new connection (TLS made by ``tls`` when given): ``ready(conn)`` once
        connected, else ``failed(reason)``.

        Returns a handle whose ``cancel()`` abandons the attempt.
        """
        timeout = connect_timeout if connect_timeout is not None else 30.0
        attempt = ConnectAttempt(self, (host, port, tls), ready, failed, timeout)
        factory: Any = attempt
        if tls is not None:
            factory = TLSMemoryBIOFactory(tls, True, attempt)
        attempt.connector = self.reactor.connectTCP(host, port, factory, timeout=timeout)
        return attempt

    def put_idle(self, conn: BackendConnection, now: float) -> None:
        """Keep ``conn`` for reuse; ``now`` is the time its last exchange ended."""
        idle = self._idle.setdefault(conn.key, [])
        if len(idle) >= self.max_idle:
            conn.close()
            return
        conn.deadline = now + self.idle_timeout
        idle.append(conn)

    def forget(self, conn: BackendConnection) -> None:
        idle = self._idle.get(conn.key)
        if idle and conn in idle:
            idle.remove(conn)

    def idle_count(
        self, host: str, port: int, tls: IOpenSSLClientConnectionCreator | None = None
    ) -> int:
        return len(self._idle.get((host, port, tls), ()))

    def close_all(self) -> None:
        for idle in self._idle.values():
            for conn in list(idle):
                conn.close()
        self._idle.clear()
