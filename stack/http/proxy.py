"""Forwarding one exchange over one backend connection, streaming both ways.

Bodies are never buffered whole: request data goes to the server as it arrives, response data
to the client, each side pausing the other through Twisted's producer/consumer when its
transport's buffer is full. What to do on failure (retry, redispatch, which error page) belongs
to the tier: its per-request object subclasses ``ProxyTransaction`` and overrides the hooks.
"""

from __future__ import annotations

from twisted.internet.interfaces import IPushProducer
from zope.interface import implementer

from stack.http import h1
from stack.http.client import BackendConnection
from stack.http.errors import builtin_error
from stack.http.message import IDEMPOTENT_METHODS, Headers, Response
from stack.http.server import Exchange


@implementer(IPushProducer)
class _ClientReader:
    """Pauses reading from the client while the server cannot take more request body."""

    def __init__(self, exchange: Exchange) -> None:
        self.exchange = exchange

    def pauseProducing(self) -> None:
        self.exchange.pause_body()

    def resumeProducing(self) -> None:
        self.exchange.resume_body()

    def stopProducing(self) -> None:
        self.exchange.abort()


def prepare_request_headers(exchange: Exchange) -> Headers:
    """The client's headers minus hop-by-hop ones, with the framing the server needs."""
    request = exchange.request
    headers = h1.strip_hop_by_hop(request.headers, keep_upgrade=request.upgrade is not None)
    if request.chunked:
        headers.append((b"transfer-encoding", b"chunked"))
    if request.upgrade is not None:
        headers.append((b"connection", b"upgrade"))
    return headers


class ProxyTransaction:
    """The exchange's request going to a server and its response coming back.

    A tier's own per-request object subclasses it (one object per request, no owner to call
    through) and supplies the three hooks: ``on_response_head`` (rewrite the head before it
    goes to the client), ``on_server_failure`` (the server failed before a response started:
    answer or retry) and ``on_done`` (the exchange is over, ``server_termination`` says how).
    Per-attempt fields are class-level defaults, so a request that is never forwarded, or
    forwarded once, only sets what it uses; ``forward`` resets them for a retry.
    """

    conn: BackendConnection | None = None
    response: Response | None = None
    t_response = -1.0
    t_end = -1.0
    server_termination = "--"
    _request_done = False
    _producer_registered = False
    _response_producer = False

    def __init__(self, exchange: Exchange) -> None:
        self.exchange = exchange

    # -- hooks -----------------------------------------------------------------------------------

    def on_response_head(self, response: Response) -> None:
        """Rewrite the response head before it goes to the client (http-response rules)."""

    def on_server_failure(self, status: int, before_response: bool) -> None:
        """The server failed before a response started; answer or retry."""
        self.exchange.send_raw(builtin_error(status))

    def on_done(self) -> None:
        """The exchange is over (``server_termination`` says how)."""

    def may_replay(self, before_response: bool) -> bool:
        """Whether a failure may be retried on a fresh connection: nothing came back on a
        kept-alive connection the server had already closed, and the request is idempotent
        and bodiless, so sending it again cannot do anything twice (RFC 9110 §9.2.2)."""
        conn = self.conn
        request = self.exchange.request
        return (
            before_response
            and conn is not None
            and conn.reused
            and request.method in IDEMPOTENT_METHODS
            and not request.has_body
            and not self.exchange.finished
        )

    # -- forwarding ------------------------------------------------------------------------------

    def forward(
        self, conn: BackendConnection, headers: Headers, server_timeout: float | None, now: float
    ) -> None:
        """Send the request over ``conn`` (``now``: reactor time) and relay the response."""
        if self.conn is not None:  # a retry on a fresh connection: a new attempt
            self.response = None
            self.t_response = self.t_end = -1.0
            self.server_termination = "--"
            self._request_done = self._producer_registered = self._response_producer = False
        self.conn = conn
        exchange = self.exchange
        request = exchange.request
        head = h1.request_head(request, headers)
        conn.start(self, head, request.method == b"HEAD", server_timeout, now)
        if request.has_body or request.upgrade:
            conn.transport.registerProducer(_ClientReader(exchange), True)  # type: ignore[union-attr]
            self._producer_registered = True
            exchange.read_body(self)
        else:
            self._request_done = True

    # -- request body (BodySink) -----------------------------------------------------------------

    def body_data(self, data: bytes) -> None:
        conn = self.conn
        assert conn is not None
        if self.exchange.tunnel or not self.exchange.request.chunked:
            conn.write(data)
        else:
            conn.write(h1.chunk(data))

    def body_end(self) -> None:
        conn = self.conn
        assert conn is not None
        if self.exchange.request.chunked:
            conn.write(h1.LAST_CHUNK)
        self._request_done = True
        self._drop_request_producer()

    def body_aborted(self) -> None:
        """The client went away in the middle of the exchange."""
        self._fail("CD" if self.response is not None else "CH")

    def client_timeout(self) -> None:
        self._fail("cD" if self.response is not None else "cH")
        self.exchange.abort()

    def _drop_request_producer(self) -> None:
        if self._producer_registered:
            self._producer_registered = False
            conn = self.conn
            if conn is not None and not conn.lost:
                conn.transport.unregisterProducer()  # type: ignore[union-attr]

    # -- response (ResponseListener) -------------------------------------------------------------

    def response_received(self, response: Response) -> None:
        exchange = self.exchange
        status = response.status
        if status < 200 and status != 101:
            exchange.informational(response)
            return
        conn = self.conn
        assert conn is not None
        self.t_response = conn.read_time
        self.response = response
        # The server's Content-Length stays where it was, as in HAProxy; a chunked response
        # (which may not carry one) is re-framed by the engine.
        response.headers = h1.strip_hop_by_hop(
            response.headers,
            keep_upgrade=status == 101,
            drop=b"" if response.length_header else b"content-length",
        )
        if status == 101:
            response.headers.append((b"connection", b"upgrade"))
        elif response.content_length is None and not response.chunked:
            response.chunked = True  # close-delimited from the server, chunked to the client
        response.keep_alive = True
        self.on_response_head(response)
        exchange.respond(response)
        if status == 101:
            exchange.channel.tunnel_data(exchange)
            exchange.read_body(self)

    def response_body(self, data: bytes) -> None:
        self.exchange.write(data)

    def flush(self) -> None:
        """End of one read from the server: send what it produced, and if the response goes
        on, let a slow client pause the server (most responses end in their first read and
        never need the producer registration)."""
        exchange = self.exchange
        exchange.flush()
        if self.response is not None and self.t_end < 0 and not self._response_producer:
            self._response_producer = True
            exchange.register_producer(self.conn.transport)  # type: ignore[union-attr,arg-type]

    def response_complete(self) -> None:
        conn = self.conn
        assert conn is not None
        self.t_end = now = conn.read_time
        exchange = self.exchange
        if self._producer_registered:
            self._drop_request_producer()
        conn.release(self._request_done and not exchange.aborted, now)
        exchange.finish()
        self.on_done()

    def server_failed(self, status: int, reason: str, before_response: bool) -> None:
        self._drop_request_producer()
        if self.response is None:
            self._attempt_failed()
            self.on_server_failure(status, before_response and not self.exchange.tunnel)
            return
        self._fail("SD")

    def server_timeout(self) -> None:
        self._drop_request_producer()
        if self.response is None:
            self._attempt_failed()
            self.server_termination = "sH"
            self.on_server_failure(504, False)
            return
        self._fail("sD")

    def _attempt_failed(self) -> None:
        """No response came: this attempt is over (the hook may retry with ``forward``)."""
        conn = self.conn
        assert conn is not None
        self.t_end = conn.pool.deadlines.now()
        conn.abort()

    def _fail(self, termination: str) -> None:
        if self.t_end >= 0:
            return
        conn = self.conn
        assert conn is not None
        self.server_termination = termination
        self.t_end = conn.pool.deadlines.now()
        self._drop_request_producer()
        conn.abort()
        self.exchange.abort()
        self.on_done()
