"""The client side of the HTTP/1.1 engine: one ``ServerChannel`` per accepted connection.

The channel parses requests (``h1.RequestParser``), answers them strictly in order (pipelined
requests wait their turn, with reading paused), frames responses for the client's version,
applies HAProxy's client-side timeouts and hands each request to a ``RequestHandler`` as an
``Exchange``. Handlers never see bytes of framing, only heads and body data, so the edge and the
balancer share this code, and the edge can hand an ``Exchange`` to the balancer in memory.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any, Protocol

from twisted.internet.interfaces import IAddress, IPushProducer
from twisted.internet.protocol import Factory
from twisted.internet.protocol import Protocol as TwistedProtocol
from twisted.protocols.tls import TLSMemoryBIOProtocol
from twisted.python.failure import Failure
from zope.interface import implementer

from stack.config.model import Limits, Timeouts
from stack.http import h1
from stack.http.deadlines import Deadlines
from stack.http.message import Request, Response
from stack.http.tls_server import tls_facts
from stack.http.transport import direct_writer, set_nodelay
from stack.http.transport import unsent as transport_unsent

CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


class BodySink(Protocol):
    """Receives a request body (or, for a tunnel, raw client bytes)."""

    def body_data(self, data: bytes) -> None: ...
    def body_end(self) -> None: ...


class RequestHandler(Protocol):
    """What a tier plugs into the engine; the edge also hands exchanges to the balancer's
    handler through this interface when both run in one process."""

    def handle(self, exchange: Exchange) -> None:
        """Take charge of ``exchange``: answer it now or later."""

    def error_response(self, status: int) -> bytes:
        """The raw response to send for an error the engine detects itself (400, 408...)."""

    def exchange_ended(self, exchange: Exchange) -> None:
        """Called once per exchange when it is over (for logging)."""


class ResponseFilter(Protocol):
    """Rewrites what a tier behind answers before it reaches the client: the edge's
    ProxyPassReverse and HSTS, applied to responses the balancer produces in memory."""

    def response_head(self, exchange: Exchange, response: Response) -> None:
        """Rewrite ``response``'s head (before framing headers are added)."""

    def raw_response(self, exchange: Exchange, data: bytes) -> bytes:
        """Rewrite a complete pre-built response (an error page, a redirect)."""


class Exchange:
    """One request on a client connection, and its response.

    The handler reads the body with ``read_body`` (data that came before is replayed),
    answers with ``respond``/``write``/``finish`` or ``send_raw``, and may ``abort``. Timing
    fields are reactor seconds, for the access log.
    """

    # Most exchanges never change these: class-level defaults, so creating one per request
    # sets only what it must.
    response: Response | None = None
    bytes_out = 0  # on the wire, head and framing included
    body_out = 0  # response body data, without chunk framing
    finished = False
    aborted = False
    tunnel = False
    _sink: BodySink | None = None
    _body_buffer: list[bytes] | None = None  # body that came before read_body
    log: Any = None  # the handler's per-request record
    # When a tier hands the exchange to another (edge -> balancer in one process): the
    # receiving tier's record, the handler it went to, and the filter for its responses.
    front: Any = None
    handed_to: RequestHandler | None = None
    filter: ResponseFilter | None = None

    def __init__(self, channel: ServerChannel, request: Request, t_accept: float, t_request: float):
        self.channel = channel
        self.request = request
        self.t_accept = t_accept
        self.t_request = t_request
        self._body_done = not (request.has_body or request.upgrade)
        self._out: list[bytes] = []  # response bytes not yet handed to the transport

    # -- connection facts --------------------------------------------------------------------------

    @property
    def client(self) -> IAddress:
        peer = self.channel.peer
        assert peer is not None
        return peer

    @property
    def local(self) -> IAddress:
        host = self.channel.host
        assert host is not None
        return host

    @property
    def ssl(self) -> bool:
        return self.channel.is_tls

    @property
    def tls(self) -> tuple[str, str] | None:
        """(protocol, cipher) of the client connection, ``None`` for plain HTTP."""
        return self.channel.tls_facts()

    @property
    def body_complete(self) -> bool:
        return self._body_done

    # -- request body ------------------------------------------------------------------------------

    def read_body(self, sink: BodySink) -> None:
        """Deliver the request body to ``sink``; sends ``100 Continue`` if the client waits."""
        self._sink = sink
        buffered, self._body_buffer = self._body_buffer, None
        if self.request.expect_continue and not buffered and not self._body_done:
            self.channel.write(CONTINUE)
        for data in buffered or ():
            sink.body_data(data)
        if self._body_done:
            sink.body_end()
        self.channel.resume_reading(self)

    def pause_body(self) -> None:
        """Stop reading from the client until ``resume_body`` (backpressure)."""
        self.channel.pause_reading(self)

    def resume_body(self) -> None:
        self.channel.resume_reading(self)

    def _body_data(self, data: bytes) -> None:
        if self._sink is not None:
            self._sink.body_data(data)
            return
        if self._body_buffer is None:
            self._body_buffer = []
        self._body_buffer.append(data)
        if sum(map(len, self._body_buffer)) > 65536:
            self.channel.pause_reading(self)

    def _body_end(self) -> None:
        if self._body_done:
            return  # a request without a body was complete from the start
        self._body_done = True
        if self._sink is not None:
            self._sink.body_end()

    # -- response ----------------------------------------------------------------------------------

    def informational(self, response: Response) -> None:
        """Relay an interim 1xx response (HTTP/1.1 clients only)."""
        if self.request.version == b"1.1" and not self.finished:
            self.channel.write(h1.response_head(response.status, response.reason, response.headers))

    def respond(self, response: Response) -> None:
        """Send the response head; framing headers are set here from ``response``'s fields."""
        channel = self.channel
        request = self.request
        if self.filter is not None:
            self.filter.response_head(self, response)
        self.response = response
        headers = response.headers
        keep = channel.keep_alive and request.keep_alive and response.keep_alive
        if response.status == 101:
            self.tunnel = True
            keep = False
        elif response.content_length is None and not response.chunked:
            keep = False  # close-delimited body
        if response.chunked and request.version == b"1.0":
            response.chunked = False
            keep = False
        if response.chunked:
            headers.append((b"transfer-encoding", b"chunked"))
        elif response.content_length is not None and response.status >= 200:
            if response.length_header:
                pass  # forwarded in place
            elif response.status not in (204, 304) or response.content_length:
                headers.append((b"content-length", b"%d" % response.content_length))
        if not keep and not self.tunnel:
            channel.keep_alive = False
            headers.append((b"connection", b"close"))
        elif request.version == b"1.0" and keep:
            headers.append((b"connection", b"keep-alive"))
        data = h1.response_head(response.status, response.reason, headers)
        self.bytes_out += len(data)
        self._out.append(data)

    def write(self, data: bytes) -> None:
        """Queue response body data; it goes out at ``flush`` (or ``finish``), so a head and
        the body that arrived with it leave in one send."""
        response = self.response
        if self.finished or response is None or not data or self.request.method == b"HEAD":
            return
        self.body_out += len(data)
        if response.chunked:
            data = h1.chunk(data)
        self.bytes_out += len(data)
        out = self._out
        out.append(data)
        if len(out) > 16:
            self.flush()

    def flush(self) -> None:
        out = self._out
        if out:
            channel = self.channel
            if not channel._closing:
                channel._write(out[0] if len(out) == 1 else b"".join(out))
            out.clear()

    def finish(self) -> None:
        """The response is complete."""
        if self.finished:
            return
        response = self.response
        if response is not None and response.chunked and self.request.method != b"HEAD":
            self._out.append(h1.LAST_CHUNK)
            self.bytes_out += 5
        if self._out:
            self.flush()
        self.finished = True
        self.channel.exchange_finished(self)

    def send_raw(self, data: bytes, close: bool = False) -> None:
        """Send a complete pre-built response (errorfiles, redirects) and finish."""
        if self.finished:
            return
        if self.filter is not None and data:
            data = self.filter.raw_response(self, data)
        if close or b"\r\nconnection: close" in data[: data.find(b"\r\n\r\n")].lower():
            self.channel.keep_alive = False
        self.flush()
        if data:
            self.bytes_out += len(data)
            self.channel.write(data)
        else:
            self.channel.keep_alive = False
        self.finished = True
        self.channel.exchange_finished(self)

    def abort(self) -> None:
        """Give up: the client connection is closed at once."""
        if self.finished:
            return
        self.aborted = True
        self.finished = True
        self.channel.keep_alive = False
        self.channel.exchange_finished(self)

    def register_producer(self, producer: IPushProducer) -> None:
        """Pause ``producer`` while the client cannot take more response data."""
        self.channel.register_producer(producer)

    def unregister_producer(self) -> None:
        self.channel.unregister_producer()


@implementer(IPushProducer)
class ServerChannel(TwistedProtocol):
    """An accepted client connection speaking HTTP/1.1."""

    is_tls = False
    _tls_facts: tuple[str, str] | None = None
    # Set when the factory was replaced by a reload or retired: the channel checks before
    # each request whether to move or close (see ``_before_request``). A flag, so the
    # requests of a process that never reloads pay nothing for it.
    moving = False

    def __init__(
        self,
        handler: RequestHandler,
        deadlines: Deadlines,
        timeouts: Timeouts,
        limits: Limits,
        keep_alive: bool = True,
    ) -> None:
        self.handler = handler
        self.deadlines = deadlines
        self.timeouts = timeouts
        self.keep_alive = keep_alive
        self.parser = h1.RequestParser(self, limits)
        self.deadline: float | None = None
        self._exchanges: deque[Exchange] = deque()
        self._incoming: Exchange | None = None  # the exchange whose body is being parsed
        self._pausers: set[object] = set()
        self._paused = False
        self._closing = False
        self._fin_unsent = 0
        self._t_first_byte: float | None = None
        self._t_accept = 0.0
        self._read_time = 0.0
        self._producer: IPushProducer | None = None
        self.requests = 0
        self.idle = True
        self.peer: IAddress | None = None
        self.host: IAddress | None = None
        self._write: Any = None

    # -- Twisted plumbing --------------------------------------------------------------------------

    def connectionMade(self) -> None:
        transport = self.transport
        assert transport is not None
        self.peer = transport.getPeer()
        self.host = transport.getHost()
        # The facts ACLs, samples and logs read, computed once per connection.
        self.src: str = getattr(self.peer, "host", "0.0.0.0")
        self.src_port: int = getattr(self.peer, "port", 0)
        self.dst: str = getattr(self.host, "host", "0.0.0.0")
        self.dst_port: int = getattr(self.host, "port", 0)
        self.is_tls = isinstance(transport, TLSMemoryBIOProtocol)
        self._write = direct_writer(transport)
        set_nodelay(transport)
        now = self.deadlines.now()
        self._t_accept = now
        self._arm(self.timeouts.http_request, now)
        self.deadlines.watch(self)

    def _arm(self, timeout: float | None, now: float) -> None:
        self.deadline = None if timeout is None else now + timeout

    def dataReceived(self, data: bytes) -> None:
        if self._closing:
            return
        incoming = self._incoming
        if incoming is not None and incoming.tunnel:
            incoming._body_data(data)
            return
        now = self._read_time = self.deadlines.now()
        if incoming is None:
            if self._t_first_byte is None:
                self._t_first_byte = now
                if self.idle:
                    self.idle = False
                    self._arm(self.timeouts.http_request, now)
        elif self.timeouts.client is not None:
            self.deadline = now + self.timeouts.client
        try:
            self.parser.feed(data)
        except h1.ProtocolError as exc:
            self._protocol_error(exc.status)

    def connectionLost(self, reason: Failure | None = None) -> None:
        self.deadlines.unwatch(self)
        self._closing = True
        for exchange in list(self._exchanges):
            if not exchange.finished:
                exchange.aborted = True
                exchange.finished = True
                self.handler.exchange_ended(exchange)
            sink = exchange._sink
            if sink is not None and not exchange._body_done:
                abort = getattr(sink, "body_aborted", None)
                if abort is not None:
                    abort()
        self._exchanges.clear()

    def write(self, data: bytes) -> None:
        if not self._closing:
            self._write(data)

    def tls_facts(self) -> tuple[str, str] | None:
        """(protocol, cipher) as OpenSSL names them (``TLSv1.3``, ``TLS_AES_128_GCM_SHA256``),
        read once per connection for ``ssl_fc_protocol``/``ssl_fc_cipher`` and the logs."""
        if not self.is_tls:
            return None
        facts = self._tls_facts
        if facts is None:
            facts = tls_facts(self.transport.getHandle())  # type: ignore[union-attr]
            if facts[0]:  # known once the handshake is done
                self._tls_facts = facts
        return facts

    # -- parser sink -------------------------------------------------------------------------------

    def request_received(self, request: Request) -> None:
        now = self._read_time  # the read that completed the head
        t_accept = self._t_first_byte if self._t_first_byte is not None else now
        if self.requests == 0:
            t_accept = self._t_accept
        self._t_first_byte = None
        self.requests += 1
        exchange = Exchange(self, request, t_accept, now)
        self._incoming = exchange
        self._exchanges.append(exchange)
        if request.has_body and self.timeouts.client is not None:
            self.deadline = now + self.timeouts.client
        else:
            self.deadline = None
        if len(self._exchanges) == 1:
            if self.moving:
                self._before_request()
            self.handler.handle(exchange)
        else:
            self.pause_reading(self)  # pipelined: let the earlier one answer first

    def request_body(self, data: bytes) -> None:
        if self._incoming is not None:
            self._incoming._body_data(data)

    def request_complete(self) -> None:
        exchange = self._incoming
        if exchange is None:
            return
        self._incoming = None
        if not exchange.finished:
            self.deadline = None
        if not exchange._body_done:
            exchange._body_end()
        if not self._exchanges:
            self._maybe_idle()

    def _maybe_idle(self) -> None:
        """Nothing in flight: wait for the next request under ``timeout http-keep-alive``."""
        if not self._exchanges and self._incoming is None and not self._closing:
            self.idle = True
            timeout = self.timeouts.http_keep_alive
            self.deadline = None if timeout is None else self.deadlines.now() + timeout
            if self.moving and self.between_requests:
                self._before_request()

    # -- exchange lifecycle ------------------------------------------------------------------------

    def exchange_finished(self, exchange: Exchange) -> None:
        if self._producer is not None:
            self.unregister_producer()
        if exchange.aborted:
            self.handler.exchange_ended(exchange)
            self._close(abort=True)
            return
        if exchange.tunnel:
            self.handler.exchange_ended(exchange)
            self._close()
            return
        if not exchange._body_done:
            self.keep_alive = False  # the rest of the body was never read
        self.handler.exchange_ended(exchange)
        if self._exchanges and self._exchanges[0] is exchange:
            self._exchanges.popleft()
        if not self.keep_alive:
            self._close()
            return
        if self._paused:
            self.resume_reading(self)  # pipelined requests were held back while this one ran
        else:
            self._pausers.discard(self)
        if self._exchanges:
            if self.moving:
                self._before_request()
            self.handler.handle(self._exchanges[0])
        else:
            self._maybe_idle()

    def tunnel_data(self, exchange: Exchange) -> None:
        """Switch to raw mode after a 101: parser leftovers go to the tunnel sink first."""
        self._incoming = exchange
        exchange.tunnel = True
        rest = self.parser.upgraded
        if rest:
            self.parser.upgraded = b""
            exchange._body_data(rest)
        self.deadline = None

    def _before_request(self) -> None:
        """Called with no other request in flight, before one is handled (see the factory)."""

    @property
    def between_requests(self) -> bool:
        """No request in flight and none begun."""
        return (
            self.idle
            and not self._exchanges
            and self._incoming is None
            and self._t_first_byte is None
            and not self._closing
        )

    def retire(self) -> None:
        """Close now if between requests, else after the request in flight."""
        self.keep_alive = False
        if self.between_requests:
            self._close()

    def _close(self, abort: bool = False) -> None:
        if self._closing:
            return
        self._closing = True
        self.deadline = None
        transport = self.transport
        if transport is None:
            return
        if abort:
            transport.abortConnection()  # type: ignore[attr-defined]
        else:
            transport.loseConnection()
            # A TLS close waits for the peer's close_notify; a peer that is gone never sends
            # it, so 'timeout client-fin' bounds the wait (see deadline_expired).
            self._arm(self.timeouts.client_fin, self.deadlines.now())

    def _protocol_error(self, status: int) -> None:
        active = self._exchanges[0] if self._exchanges else None
        self.keep_alive = False
        if active is None or (active.response is None and not active.finished):
            data = self.handler.error_response(status)
            if data:
                self.write(data)
            if active is not None:
                active.aborted = True
                active.finished = True
                self.handler.exchange_ended(active)
        self._close()

    # -- timeouts ----------------------------------------------------------------------------------

    def deadline_expired(self, now: float) -> None:
        if self._closing:
            unsent = transport_unsent(self.transport)
            if unsent and unsent != self._fin_unsent:
                # Still handing the last response to a slow client: that is not the
                # silence 'timeout client-fin' is about; 'timeout client' bounds each stall.
                self._fin_unsent = unsent
                self._arm(self.timeouts.client or self.timeouts.client_fin, now)
                return
            self.deadline = None
            if self.transport is not None:
                self.transport.abortConnection()  # type: ignore[attr-defined]
            return
        if self.idle:
            self._close()  # keep-alive or first request never started: silent close
        elif self.parser.in_head or (self._t_first_byte is not None and not self._exchanges):
            self._protocol_error(408)
        else:
            exchange = self._incoming or (self._exchanges[0] if self._exchanges else None)
            if exchange is not None:
                sink = exchange._sink
                abort = getattr(sink, "client_timeout", None)
                if abort is not None:
                    abort()
                elif not exchange.finished:
                    exchange.abort()
            else:
                self._close()

    # -- flow control ------------------------------------------------------------------------------

    def pause_reading(self, who: object) -> None:
        self._pausers.add(who)
        if not self._paused and self.transport is not None:
            self._paused = True
            self.transport.pauseProducing()  # type: ignore[attr-defined]

    def resume_reading(self, who: object) -> None:
        self._pausers.discard(who)
        if self._paused and not self._pausers and self.transport is not None:
            self._paused = False
            self.transport.resumeProducing()  # type: ignore[attr-defined]

    def register_producer(self, producer: IPushProducer) -> None:
        if self._closing:
            return
        if self._producer is not None:
            self.unregister_producer()
        self._producer = producer
        self.transport.registerProducer(producer, True)  # type: ignore[union-attr]

    def unregister_producer(self) -> None:
        if self._producer is not None:
            self._producer = None
            if self.transport is not None:
                self.transport.unregisterProducer()  # type: ignore[attr-defined]

    # IPushProducer, so tests can treat a channel as a producer too
    def pauseProducing(self) -> None:
        self.pause_reading(self)

    def resumeProducing(self) -> None:
        self.resume_reading(self)

    def stopProducing(self) -> None:
        self._close(abort=True)


class ServerFactory(Factory):
    """Builds channels for one listening endpoint and enforces the connection ``maxconn``.

    After a reload, ``successor`` is the factory of the new configuration for the same
    endpoint: each open connection moves to it before its next request (never during one),
    so keep-alive clients are served by the new settings without being disconnected. A
    factory whose endpoint the new configuration dropped is ``retiring``: its connections
    close after their current request. ``on_empty`` is called when its last connection ends.
    """

    noisy = False

    def __init__(
        self,
        handler: RequestHandler,
        deadlines: Deadlines,
        timeouts: Timeouts,
        limits: Limits,
        keep_alive: bool = True,
        maxconn: int = 0,
    ) -> None:
        self.handler = handler
        self.deadlines = deadlines
        self.timeouts = timeouts
        self.limits = limits
        self.keep_alive = keep_alive
        self.maxconn = maxconn
        self.connections = 0
        self.ports: list[Any] = []
        self._accepting = True
        self._successor: ServerFactory | None = None
        self.retiring = False
        self.channels: set[ServerChannel] = set()
        self.on_empty: Callable[[], object] | None = None
        self.counters: Any = None  # told of each accepted connection (``accepted``), if set

    def buildProtocol(self, addr: IAddress | None) -> ServerChannel:
        channel = _CountedChannel(
            self.handler, self.deadlines, self.timeouts, self.limits, self.keep_alive
        )
        self._adopt(channel)
        counters = self.counters
        if counters is not None:  # the stats' stot/smax/conn_rate (balancer frontends)
            counters.accepted(self.connections, self.deadlines.now())
        return channel

    @property
    def successor(self) -> ServerFactory | None:
        return self._successor

    @successor.setter
    def successor(self, factory: ServerFactory | None) -> None:
        self._successor = factory
        for channel in self.channels:
            channel.moving = factory is not None or self.retiring

    def _adopt(self, channel: _CountedChannel) -> None:
        channel.factory = self
        channel.moving = self._successor is not None or self.retiring
        self.channels.add(channel)
        self.connections += 1
        if self.maxconn and self.connections >= self.maxconn and self._accepting:
            # Like HAProxy: stop accepting, excess connections wait in the kernel backlog.
            self._accepting = False
            for port in self.ports:
                port.stopReading()

    def connection_closed(self, channel: ServerChannel | None = None) -> None:
        self.channels.discard(channel)
        self.connections -= 1
        if not self._accepting and self.connections < self.maxconn:
            self._accepting = True
            for port in self.ports:
                port.startReading()
        if self.connections == 0 and self.on_empty is not None:
            self.on_empty()

    def current(self) -> ServerFactory:
        """The newest generation's factory for this endpoint (``self`` when not reloaded)."""
        factory = self
        while factory.successor is not None:
            factory = factory.successor
        return factory

    def retire(self) -> None:
        """The endpoint is gone from the configuration (or the process stops): idle
        connections close now, busy ones after their current request."""
        self.retiring = True
        for channel in list(self.channels):
            channel.moving = True
            channel.retire()

    def hand_over_idle(self) -> None:
        """After a reload: the connections between two requests move to the successor now;
        the others move when their request is over."""
        for channel in list(self.channels):
            if channel.between_requests:
                channel._before_request()

    def abort_all(self) -> None:
        for channel in list(self.channels):
            channel._close(abort=True)


class _CountedChannel(ServerChannel):
    factory: ServerFactory

    def _before_request(self) -> None:
        """Between requests, follow a reload to the new generation's factory."""
        factory = self.factory
        if factory.successor is not None:
            new = factory.current()
            factory.connection_closed(self)
            new._adopt(self)
            self.handler = new.handler
            self.timeouts = new.timeouts
            self.keep_alive = self.keep_alive and new.keep_alive
            if new.deadlines is not self.deadlines:
                self.deadlines.unwatch(self)
                self.deadlines = new.deadlines
                self.deadlines.watch(self)
            if new.retiring:
                self.keep_alive = False
        elif factory.retiring:
            self.keep_alive = False

    def connectionLost(self, reason: Failure | None = None) -> None:
        super().connectionLost(reason)
        self.factory.connection_closed(self)
