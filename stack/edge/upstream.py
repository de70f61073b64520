"""ProxyPass over the network: the edge's connection to a balancer in another process (or to
any ``http://`` URL), with kept-alive connections reused as mod_proxy's pool does.

When the balancer runs in the same process the edge hands it the exchange instead (see
``stack.edge.handler``); this module is the ``--tier edge`` case and the URL targets.
"""

from __future__ import annotations

from collections.abc import Callable

from stack.edge.pages import error_page
from stack.http.client import BackendConnection, ConnectAttempt, ConnectionPool
from stack.http.proxy import ProxyTransaction, prepare_request_headers
from stack.http.server import Exchange

ErrorLog = Callable[[str, Exchange], None]


class NetworkUpstream:
    """A ``RequestHandler`` that forwards to ``host:port`` over pooled connections."""

    def __init__(
        self,
        host: str,
        port: int,
        pool: ConnectionPool,
        connect_timeout: float | None,
        server_timeout: float | None,
        error_log: ErrorLog,
    ) -> None:
        self.host = host
        self.port = port
        self.pool = pool
        self.connect_timeout = connect_timeout
        self.server_timeout = server_timeout
        self.error_log = error_log

    def handle(self, exchange: Exchange) -> None:
        txn = UpstreamTransaction(self, exchange)
        exchange.log = txn
        txn.connect()

    def exchange_ended(self, exchange: Exchange) -> None:
        txn = exchange.log
        if isinstance(txn, UpstreamTransaction):
            exchange.log = None
            txn.ended()

    def error_response(self, status: int) -> bytes:
        return error_page(status, close=True)


class UpstreamTransaction(ProxyTransaction):
    """One request on its way to the upstream; Apache's answers when that fails: 503 when
    no connection could be made, 502 when the connection broke before a response, 504 when
    the response did not come in time."""

    _attempt: ConnectAttempt | None = None
    _ended = False

    def __init__(self, upstream: NetworkUpstream, exchange: Exchange) -> None:
        super().__init__(exchange)
        self.upstream = upstream

    def connect(self) -> None:
        upstream = self.upstream
        conn = upstream.pool.take_idle(upstream.host, upstream.port)
        if conn is not None:
            self._send(conn)
            return
        self._attempt = upstream.pool.connect(
            upstream.host,
            upstream.port,
            upstream.connect_timeout,
            self._connected,
            self._connect_failed,
        )

    def _connected(self, conn: BackendConnection) -> None:
        self._attempt = None
        if self._ended or self.exchange.finished:
            conn.release(reusable=True)
            return
        self._send(conn)

    def _send(self, conn: BackendConnection) -> None:
        upstream = self.upstream
        headers = prepare_request_headers(self.exchange)
        self.forward(conn, headers, upstream.server_timeout, upstream.pool.deadlines.now())

    def _connect_failed(self, reason: str) -> None:
        self._attempt = None
        upstream = self.upstream
        upstream.error_log(
            f"AH00957: http: attempt to connect to {upstream.host}:{upstream.port} failed "
            f"({reason})",
            self.exchange,
        )
        self._answer(503)

    def on_server_failure(self, status: int, before_response: bool) -> None:
        if self.may_replay(before_response) and not self._ended:
            self.connect()
            return
        upstream = self.upstream
        what = "timed out" if status == 504 else "closed the connection"
        upstream.error_log(
            f"AH01102: error reading status line from {upstream.host}:{upstream.port}: "
            f"the upstream {what}",
            self.exchange,
        )
        self._answer(status)

    def _answer(self, status: int) -> None:
        exchange = self.exchange
        if not exchange.finished:
            request = exchange.request
            exchange.send_raw(error_page(status, close=not request.keep_alive))

    def ended(self) -> None:
        if self._ended:
            return
        self._ended = True
        if self._attempt is not None:
            self._attempt.cancel()
            self._attempt = None
        if self.conn is not None and self.t_end < 0 and self.exchange.aborted:
            self.body_aborted()
