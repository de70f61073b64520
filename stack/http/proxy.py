"""Forwarding one exchange over one backend connection, streaming both ways.

Bodies are never buffered whole: request data goes to the server as it arrives, response data
to the client, each side pausing the other through Twisted's producer/consumer when its
transport's buffer is full. What to do on failure (retry, redispatch, which error page) belongs
to the tier that owns the transaction, told through ``TransactionOwner``.
"""

from __future__ import annotations

from typing import Protocol

from twisted.internet.interfaces import IPushProducer
from zope.interface import implementer

from stack.http import h1
from stack.http.client import BackendConnection
from stack.http.message import Headers, Response
from stack.http.server import Exchange


class TransactionOwner(Protocol):
    def response_head(self, txn: ProxyTransaction, response: Response) -> None:
        """Rewrite the response head before it goes to the client (http-response rules)."""

    def transaction_done(self, txn: ProxyTransaction) -> None:
        """The exchange is over (``txn.termination`` says how)."""

    def server_failed(self, txn: ProxyTransaction, status: int, before_response: bool) -> None:
        """The server failed before a response started; the owner answers or retries."""


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
    """The exchange's request going to one server and its response coming back."""

    __slots__ = (
        "_producer_registered",
        "_request_done",
        "_response_producer",
        "conn",
        "exchange",
        "owner",
        "response",
        "t_end",
        "t_response",
        "termination",
    )

    def __init__(self, exchange: Exchange, conn: BackendConnection, owner: TransactionOwner):
        self.exchange = exchange
        self.conn = conn
        self.owner = owner
        self.response: Response | None = None
        self.t_response = -1.0
        self.t_end = -1.0
        self.termination = "--"
        self._request_done = False
        self._producer_registered = False
        self._response_producer = False

    def start(self, headers: Headers, server_timeout: float | None) -> None:
        exchange = self.exchange
        request = exchange.request
        head = h1.request_head(request, headers)
        self.conn.start(self, head, request.method == b"HEAD", server_timeout)
        if request.has_body:
            self.conn.transport.registerProducer(_ClientReader(exchange), True)  # type: ignore[union-attr]
            self._producer_registered = True
            exchange.read_body(self)
        else:
            self._request_done = True

    # -- request body (BodySink) -----------------------------------------------------------------

    def body_data(self, data: bytes) -> None:
        if self.exchange.tunnel or not self.exchange.request.chunked:
            self.conn.write(data)
        else:
            self.conn.write(h1.chunk(data))

    def body_end(self) -> None:
        if self.exchange.request.chunked:
            self.conn.write(h1.LAST_CHUNK)
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
            if not self.conn.lost:
                self.conn.transport.unregisterProducer()  # type: ignore[union-attr]

    # -- response (ResponseListener) -------------------------------------------------------------

    def response_received(self, response: Response) -> None:
        exchange = self.exchange
        status = response.status
        if status < 200 and status != 101:
            exchange.informational(response)
            return
        self.t_response = self.conn.pool.deadlines.now()
        self.response = response
        response.headers = h1.strip_hop_by_hop(
            response.headers, keep_upgrade=status == 101, drop=b"content-length"
        )
        if status == 101:
            response.headers.append((b"connection", b"upgrade"))
        elif response.content_length is None and not response.chunked:
            response.chunked = True  # close-delimited from the server, chunked to the client
        response.keep_alive = True
        self.owner.response_head(self, response)
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
            exchange.register_producer(self.conn.transport)  # type: ignore[arg-type]

    def response_complete(self) -> None:
        self.t_end = self.conn.pool.deadlines.now()
        exchange = self.exchange
        self._drop_request_producer()
        self.conn.release(reusable=self._request_done and not exchange.aborted)
        exchange.finish()
        self.owner.transaction_done(self)

    def server_failed(self, status: int, reason: str, before_response: bool) -> None:
        self._drop_request_producer()
        if self.response is None:
            self.conn.abort()
            self.owner.server_failed(self, status, before_response and not self.exchange.tunnel)
            return
        self._fail("SD")

    def server_timeout(self) -> None:
        self._drop_request_producer()
        if self.response is None:
            self.conn.abort()
            self.termination = "sH"
            self.owner.server_failed(self, 504, False)
            return
        self._fail("sD")

    def _fail(self, termination: str) -> None:
        if self.t_end >= 0:
            return
        self.termination = termination
        self.t_end = self.conn.pool.deadlines.now()
        self._drop_request_producer()
        self.conn.abort()
        self.exchange.abort()
        self.owner.transaction_done(self)
