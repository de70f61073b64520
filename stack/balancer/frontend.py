"""A frontend: routes each request to a backend, gets it a server and forwards it.

``FrontendHandler`` is the ``RequestHandler`` the HTTP engine calls; each request becomes a
``Transaction`` that evaluates the rules, waits in a queue if every server is full, connects
with HAProxy's retry/redispatch rules, hands the exchange to ``ProxyTransaction`` and writes
the ``httplog`` line at the end.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from stack.balancer import prometheus, statspage
from stack.balancer.acl import compile_condition
from stack.balancer.backend import BackendRuntime, QueuedRequest, ServerRuntime
from stack.balancer.cookies import CookieDecision, CookiePersistenceRules
from stack.balancer.counters import FrontendCounters, ProxyCounters
from stack.balancer.httplog import (
    HttpLogRecord,
    format_httplog,
    htx_head_size,
    htx_page_size,
)
from stack.balancer.logsink import LogSink
from stack.balancer.redirects import RedirectRules, server_redirect
from stack.balancer.rules import compile_rules, forwardfor_action
from stack.balancer.sticktable import StickRequest, StickRules, StickTable
from stack.config.model import Condition as ConditionConfig
from stack.config.model import ConnectionMode, Frontend, Redirect, StatsPage
from stack.http.client import BackendConnection, ConnectAttempt, ConnectionPool
from stack.http.deadlines import Deadlines
from stack.http.errors import builtin_error, generated_connection
from stack.http.message import Headers, Request, Response
from stack.http.proxy import ProxyTransaction, prepare_request_headers
from stack.http.server import Exchange
from stack.http.tls import TlsFileError, server_tls_options, sni_for

Condition = Callable[[Any], bool]


class Counters:
    """Process-wide figures the log line reports: ``actconn`` is every frontend's client
    connections together."""

    def __init__(self) -> None:
        self.factories: list[Any] = []

    @property
    def connections(self) -> int:
        return sum(f.connections for f in self.factories)


class Conditions:
    """The ``if``/``unless`` conditions of a frontend's redirect and stick rules, each compiled
    once (at start, through ``compile``), then evaluated as ``conditions(condition, ctx)``."""

    def __init__(self) -> None:
        # id -> (the condition, kept so its id stays its own; the compiled test)
        self._compiled: dict[int, tuple[ConditionConfig, Condition]] = {}

    def compile(self, condition: ConditionConfig) -> Condition:
        entry = self._compiled.get(id(condition))
        if entry is None:
            entry = self._compiled[id(condition)] = (condition, compile_condition(condition))
        return entry[1]

    def __call__(self, condition: ConditionConfig, ctx: Any) -> bool:
        return self.compile(condition)(ctx)

    def redirects(self, redirects: tuple[Redirect, ...], httpclose: bool) -> RedirectRules | None:
        """A proxy's redirect rules, their conditions compiled now rather than on first use."""
        if not redirects:
            return None
        for redirect in redirects:
            if redirect.condition is not None:
                self.compile(redirect.condition)
        return RedirectRules(redirects, self, httpclose=httpclose)


class BackendRoute:
    """What a frontend applies when it sends a request to one backend."""

    def __init__(
        self,
        frontend: Frontend,
        backend: BackendRuntime,
        tables: dict[str, StickTable],
        conditions: Conditions,
    ) -> None:
        self.backend = backend
        config = backend.config
        self.stats_page = config.stats
        self.stats_admin = _admin_condition(config.stats)
        self.persist = config.persist
        self.cookies = (
            CookiePersistenceRules(config.cookie, backend.servers, config.persist)
            if config.cookie is not None
            else None
        )
        for rule in config.stick_rules:  # compiled now, not on the first request
            if rule.condition is not None:
                conditions.compile(rule.condition)
        self.stick = (
            StickRules(
                config.stick_rules,
                tables,
                config.name if config.stick_table is not None else None,
                backend.servers,
                conditions,
            )
            if config.stick_rules
            else None
        )
        closing = ConnectionMode.CLOSE in (frontend.connection_mode, config.connection_mode)
        self.redirects = conditions.redirects(config.redirects, closing)
        self.request_rules = compile_rules(config.http_request)
        self.response_rules = compile_rules(config.http_response)
        self.forwardfor = forwardfor_action(frontend.forwardfor, config.forwardfor)
        self.errorfiles = {e.status: e.response for e in frontend.errorfiles}
        self.errorfiles.update({e.status: e.response for e in config.errorfiles})
        timeouts = config.timeouts
        self.connect_timeout = timeouts.connect
        self.server_timeout = timeouts.server
        self.retries = config.retries
        self.redispatch = config.redispatch
        self.close = config.connection_mode.value != "http-keep-alive"


class FrontendHandler:
    """The balancer's entry point for one frontend."""

    def __init__(
        self,
        config: Frontend,
        backends: dict[str, BackendRuntime],
        pool: ConnectionPool,
        deadlines: Deadlines,
        log: LogSink | None,
        counters: Counters,
        reactor: Any,
        tables: dict[str, StickTable] | None = None,
    ) -> None:
        self.config = config
        self.name = config.name
        self.pool = pool
        self.deadlines = deadlines
        self.log = log if config.httplog or config.logs else None
        self.dontlognull = config.dontlognull
        self.process = counters  # process-wide: actconn
        # stot, bin, hrsp_*... of this frontend (counters.py); handed on across reloads
        self.counters = FrontendCounters()
        self.stats_page = config.stats
        self.stats_admin = _admin_condition(config.stats)
        self.stats_source: Any = None  # stats.StatsSource, set by register_stats_commands
        self.reactor = reactor
        self.backends = backends
        self.request_rules = compile_rules(config.http_request)
        self.response_rules = compile_rules(config.http_response)
        conditions = Conditions()
        self.routes_by_name = {
            name: BackendRoute(config, b, tables or {}, conditions) for name, b in backends.items()
        }
        # option httpclose: close after any response this proxy generates
        self.httpclose = config.connection_mode is ConnectionMode.CLOSE
        self.redirects = conditions.redirects(config.redirects, self.httpclose)
        self.use_backends: list[tuple[BackendRoute, Condition | None]] = [
            (
                self.routes_by_name[u.backend],
                compile_condition(u.condition) if u.condition is not None else None,
            )
            for u in config.use_backends
        ]
        self.default = (
            self.routes_by_name[config.default_backend] if config.default_backend else None
        )
        self.errorfiles = {e.status: e.response for e in config.errorfiles}
        self._factory: Any = None

    @property
    def factory(self) -> Any:
        """The ServerFactory, set by the service (feconn); it counts accepted connections into
        this frontend's counters."""
        return self._factory

    @factory.setter
    def factory(self, factory: Any) -> None:
        self._factory = factory
        if factory is not None:
            factory.counters = self.counters

    @property
    def connections(self) -> int:
        return self.factory.connections if self.factory is not None else 0

    # -- RequestHandler --------------------------------------------------------------------------

    def handle(self, exchange: Exchange) -> None:
        txn = Transaction(self, exchange)
        exchange.log = txn
        txn.start(exchange.t_request)

    def error_response(self, status: int) -> bytes:
        return self.errorfiles.get(status) or builtin_error(status)

    def exchange_ended(self, exchange: Exchange) -> None:
        txn = exchange.log
        if isinstance(txn, Transaction):
            # Break the exchange <-> transaction cycle: both are freed by reference counting
            # as soon as the request is over, instead of waiting for the cyclic GC.
            exchange.log = _ENDED
            txn.ended()
        elif txn is None:
            self.counters.failed_req += 1  # ereq: the request could not be parsed
            if self.log is not None:
                self._log_bad_request(exchange)

    def _log_bad_request(self, exchange: Exchange) -> None:
        peer = exchange.client
        now = self.deadlines.now()
        record = HttpLogRecord(
            client_ip=getattr(peer, "host", "-"),
            client_port=getattr(peer, "port", 0),
            accept_time=exchange.t_accept,
            frontend=self.name,
            backend=self.name,
            server="<NOSRV>",
            tr=int((exchange.t_request - exchange.t_accept) * 1000),
            tw=-1,
            tc=-1,
            tr_server=-1,
            ta=int((now - exchange.t_accept) * 1000),
            status=-1,
            bytes_read=exchange.bytes_out,
            termination="CR--",
            actconn=self.process.connections,
            feconn=self.connections,
            beconn=0,
            srv_conn=0,
            retries=0,
            request_line=_request_line(exchange.request),
        )
        assert self.log is not None
        self.log.emit(format_httplog(record))

    # -- routing ---------------------------------------------------------------------------------

    def route(self, txn: Transaction) -> BackendRoute | None:
        for route, condition in self.use_backends:
            if condition is None or condition(txn):
                return route
        return self.default

    def nbsrv(self, backend: str) -> int:
        runtime = self.backends.get(backend)
        return runtime.nbsrv() if runtime is not None else 0


_ENDED = "ended"  # Exchange.log once its transaction has ended


def _request_line(request: Request) -> bytes:
    return b"%s %s HTTP/%s" % (request.method, request.target, request.version)


# The transfer-encoding: chunked header the engine re-adds: part of what HAProxy counts.
_TE_CHUNKED = len(b"transfer-encoding") + len(b"chunked")


class Transaction(ProxyTransaction):
    """One request's journey through the balancer (also its ACL and sample context).

    Fields that most requests never change are class-level defaults, so creating one per
    request only sets what it must.
    """

    route: BackendRoute | None = None
    server: ServerRuntime | None = None
    queued: QueuedRequest | None = None
    retries = 0
    redispatched = False
    status = -1
    termination = "----"
    t_queue = -1.0
    t_queue_end = -1.0
    t_connect = -1.0
    t_connected = -1.0
    _slot = False
    _attempt: ConnectAttempt | None = None
    _retry_call: Any = None
    _ended = False
    cookie: CookieDecision | None = None
    stick_request: StickRequest | None = None
    local_bytes = -1  # %B of a generated response, or of a server's response head
    req_bytes = 0  # bin: the request as HAProxy counts it (its HTX message)
    service: bytes | None = None  # http-request use-service NAME
    log_server: str | None = None  # <STATS>, <PROMEX>: the proxy answered itself
    direct = False  # the server was chosen by persistence (HAProxy's SF_DIRECT)

    def __init__(self, frontend: FrontendHandler, exchange: Exchange) -> None:
        self.exchange = exchange
        self.frontend = frontend
        self.request = exchange.request
        channel = exchange.channel
        self.src: str = channel.src
        self.src_port: int = channel.src_port
        self.dst: str = channel.dst
        self.dst_port: int = channel.dst_port
        self.ssl = channel.is_tls
        self.headers: Headers = []

    # -- AclContext ------------------------------------------------------------------------------

    def nbsrv(self, backend: str) -> int:
        return self.frontend.nbsrv(backend)

    @property
    def tls(self) -> tuple[str, str] | None:
        """``ssl_fc_protocol``/``ssl_fc_cipher``: the client's TLS, terminated by this process
        (the edge handing the request over in memory)."""
        return self.exchange.tls

    # -- the request path ------------------------------------------------------------------------

    def start(self, now: float) -> None:
        """Route the request received at ``now`` (reactor time) and forward it."""
        frontend = self.frontend
        request = self.request
        counters = frontend.counters
        if now - counters.period >= 1.0:
            counters.rotate(now)
        counters.requests += 1
        self.req_bytes = htx_request_size(request)
        headers = prepare_request_headers(self.exchange)
        # One header list from here on: rules, ACLs, persistence and the server all see the
        # same fields, as in HAProxy.
        request.headers = headers
        for rule in frontend.request_rules:
            rule(headers, self)
        # HAProxy's order: http-request rules (use-service ends them), the stats page, then
        # the redirect rules; for the frontend, then again for the backend
        if (self.service is not None or frontend.stats_page is not None) and self._intercept(
            frontend.stats_page, frontend.stats_admin
        ):
            return
        if frontend.redirects is not None and self._redirect(frontend.redirects):
            return
        route = frontend.route(self) if frontend.use_backends else frontend.default
        if route is None:
            self._local_error(503, "SC")
            return
        self.route = route
        route.backend.counters.requests += 1
        for rule in route.request_rules:
            rule(headers, self)
        if (self.service is not None or route.stats_page is not None) and self._intercept(
            route.stats_page, route.stats_admin
        ):
            return
        if route.redirects is not None and self._redirect(route.redirects):
            return
        if route.forwardfor is not None:
            route.forwardfor(headers, self)
        if route.close:
            headers.append((b"connection", b"close"))
        self.headers = headers
        self.t_queue = now
        target: ServerRuntime | None = None
        if route.cookies is not None:
            self.cookie = decision = route.cookies.on_request(request, now)
            target = decision.server  # type: ignore[assignment]
        if route.stick is not None:
            # A cookie wins over a table, but the table's hits are still refreshed.
            self.stick_request = sticky = route.stick.on_request(
                self, request, self.src, now, route.persist, assigned=target is not None
            )
            if target is None:
                target = sticky.server  # type: ignore[assignment]
        if target is not None:
            self._assign_to(target, now)
        else:
            self._assign(None, now)

    def _redirect(self, rules: RedirectRules) -> bool:
        page = rules.apply(self, self.request, self.ssl)
        if page is None:
            return False
        self.status = int(page[9:12])
        self.termination = "LR--"
        self.local_bytes = htx_page_size(page)
        self.frontend.counters.intercepted += 1
        self.exchange.send_raw(page)
        return True

    # -- answers of the proxy itself: the stats page, the Prometheus exporter ---------------------

    def _intercept(self, page: StatsPage | None, admin: Condition | None) -> bool:
        """Answer here if a ``use-service`` rule matched or the request is for the stats
        page; ``False`` lets the request go on."""
        service = self.service
        if service is not None:
            if service != b"prometheus-exporter":
                return False
            self._answer_local(b"<PROMEX>", None, None)
            return True
        if page is None or not statspage.matches(page, self.request.target):
            return False
        self._answer_local(b"<STATS>", page, admin)
        return True

    def _answer_local(self, kind: bytes, page: StatsPage | None, admin: Condition | None) -> None:
        frontend = self.frontend
        request = self.request
        self.log_server = kind.decode()
        self.termination = "LR--"
        frontend.counters.intercepted += 1
        source = frontend.stats_source
        connection = generated_connection(request, frontend.httpclose)
        if source is None:  # not wired (a unit test without register_stats_commands)
            self._send_local(builtin_error(503, connection))
            return
        if page is None:
            self._send_local(prometheus.answer(source, request, connection))
            return
        if not statspage.authorized(page, request):
            self._send_local(statspage.unauthorized(page, connection))
            return
        allowed = admin(self) if admin is not None else False
        if request.method == b"POST":
            self.exchange.read_body(_PostBody(self, page, source, connection, allowed))
            return
        name = self.route.backend.name if self.route is not None else frontend.name
        self._send_local(statspage.answer_get(page, request, source, connection, allowed, name))

    def _send_local(self, data: bytes) -> None:
        self.status = int(data[9:12])
        self.local_bytes = htx_page_size(data)
        self.exchange.send_raw(data)

    def _server_redirect(self, page: bytes) -> None:
        """``server ... redir PREFIX``: HAProxy answers for the server it picked, logs it with
        that server and ``LC--`` (a local answer, at the connect stage), then closes."""
        self.status = 302
        self.termination = "LC--"
        # HAProxy builds this one's Connection: close into the message, so %B counts it
        self.local_bytes = htx_page_size(page) + len(b"connection") + len(b"close")
        self._release_slot()
        self.exchange.send_raw(page, close=True)

    def _assign_to(self, server: ServerRuntime, now: float) -> None:
        """Persistence named ``server``: wait for it if it is full."""
        assert self.route is not None
        self.direct = True
        result = self.route.backend.assign_server(self, server)
        if isinstance(result, ServerRuntime):
            self._slot = True
            self.server = result
            self.t_queue_end = now
            self._connect(now)
        else:
            self.queued = result

    def _assign(self, exclude: ServerRuntime | None, now: float) -> None:
        assert self.route is not None
        result = self.route.backend.assign(self, self.src, self.request.target, exclude)
        if result is None:
            self._local_error(503, "SC")
        elif isinstance(result, ServerRuntime):
            self._slot = True
            self.server = result
            self.t_queue_end = now
            self._connect(now)
        else:
            self.queued = result

    # Waiter
    def server_assigned(self, server: ServerRuntime) -> None:
        self.queued = None
        self._slot = True
        self.server = server
        now = self.frontend.deadlines.now()
        self.t_queue_end = now
        self._connect(now)

    def queue_timeout(self) -> None:
        self.queued = None
        self._local_error(503, "sQ")

    def _connect(self, now: float) -> None:
        server = self.server
        route = self.route
        assert server is not None and route is not None
        config = server.config
        if config.redir is not None:
            page = server_redirect(config.redir.encode(), self.request)
            if page is not None:
                self._server_redirect(page)
                return
        self.t_connect = now
        address = server.address
        host = address.host or "127.0.0.1"
        pool = self.frontend.pool
        tls = config.tls
        creator = None
        if tls is not None:
            try:
                creator = server_tls_options(tls, host, sni_for(tls, self.request.header(b"host")))
            except (TlsFileError, ValueError) as exc:
                self._connect_failed(str(exc))
                return
        conn = pool.take_idle(host, address.port, creator)
        if conn is not None:
            server.counters.reuse += 1
            route.backend.counters.reuse += 1
            self._connected(conn, now)
        else:
            server.counters.connect += 1
            route.backend.counters.connect += 1
            self._attempt = pool.connect(
                host,
                address.port,
                route.connect_timeout,
                self._new_connection,
                self._connect_failed,
                creator,
            )

    def _new_connection(self, conn: BackendConnection) -> None:
        self._attempt = None
        self._connected(conn, self.frontend.deadlines.now())

    def _connected(self, conn: BackendConnection, now: float) -> None:
        if self._ended or self.exchange.finished:
            conn.release(reusable=True)
            return
        route = self.route
        assert route is not None
        self.t_connected = now
        if self.server is not None:
            self.server.counters.requests += 1
        self.forward(conn, self.headers, route.server_timeout, now)

    def _connect_failed(self, reason: str) -> None:
        """A connect (or TLS handshake) failed: HAProxy 2.6's ``back_handle_st_cer`` and
        ``stream_choose_redispatch``. Each failure uses one of ``retries``; with ``option
        redispatch`` the request leaves its server when that server is not UP, on the last
        retry, or at once when it was not sent there by persistence and a round-robin
        algorithm has another active server. A retry waits min(``timeout connect``, 1 s)
        unless it moves to another server under round robin with more than one active."""
        self._attempt = None
        if self._ended or self.exchange.finished:
            return
        route = self.route
        assert route is not None
        server = self.server
        backend = route.backend
        backend.counters.failed_conns += 1  # econ: every failed attempt
        if server is not None:
            server.counters.failed_conns += 1
        if self.retries >= route.retries:
            self._local_error(503, "SC")
            return
        self.retries += 1
        backend.counters.retries += 1
        if server is not None:
            server.counters.retries += 1
        actives = backend.usable_actives()
        delay = min(route.connect_timeout or 1.0, 1.0)
        if (
            route.redispatch
            and server is not None
            and (
                not server.usable()
                or self.retries == route.retries
                or (not self.direct and actives > 1 and backend.round_robin)
            )
        ):
            self._release_slot()
            self.direct = False
            if backend.round_robin and actives > 1:
                self._redispatch(server)
            else:
                self._retry_call = self.frontend.reactor.callLater(delay, self._redispatch, server)
            return
        self._retry_call = self.frontend.reactor.callLater(delay, self._retry)

    def _redispatch(self, previous: ServerRuntime) -> None:
        self._retry_call = None
        if self._ended or self.exchange.finished:
            return
        self._assign(previous, self.frontend.deadlines.now())
        if self.server is not previous and self.server is not None:
            self.redispatched = True  # the log's "+" before the retries
            self.server.counters.redispatches += 1
            if self.route is not None:
                self.route.backend.counters.redispatches += 1
            route = self.route
            if self.cookie is not None and route is not None and route.cookies is not None:
                route.cookies.redispatched(self.cookie, self.server)

    def _retry(self) -> None:
        self._retry_call = None
        if not self._ended and not self.exchange.finished:
            self._connect(self.frontend.deadlines.now())

    # -- ProxyTransaction hooks ------------------------------------------------------------------

    def on_response_head(self, response: Response) -> None:
        self.status = response.status
        route = self.route
        headers = response.headers
        # %B and bout: HAProxy counts the response as it came from the server, before any
        # rule or inserted cookie (its byte counter runs on the input side)
        self.local_bytes = htx_head_size(response.status, response.reason, headers) + (
            _TE_CHUNKED if response.chunked else 0
        )
        # HAProxy's order: stick store-response (its own analyser, on the server's headers),
        # then the http-response rules of the backend and of the frontend, then the server's
        # cookies and the inserted persistence cookie, which the rules therefore never touch.
        if route is None:
            for rule in self.frontend.response_rules:
                rule(headers, self)
            return
        server = self.server
        if route.stick is not None and server is not None and route.stick.has_store_rules:
            stores = self.stick_request.stores if self.stick_request is not None else ()
            route.stick.on_response(self, response, server, self.t_response, stores, src=self.src)
        for rule in route.response_rules:
            rule(headers, self)
        for rule in self.frontend.response_rules:
            rule(headers, self)
        if route.cookies is not None and self.cookie is not None:
            route.cookies.on_response(self.cookie, server, self.request, response, self.t_response)

    def on_server_failure(self, status: int, before_response: bool) -> None:
        if self.may_replay(before_response) and not self._ended:
            self._connect(self.frontend.deadlines.now())
            return
        if status == 504:
            self._local_error(504, "sH")
        else:
            self._local_error(502, "SH" if before_response else "PH")

    def on_done(self) -> None:
        if self.server_termination != "--":
            self.termination = self.server_termination + "--"
        if self._slot:
            self._release_slot()

    # -- endings ---------------------------------------------------------------------------------

    def _local_error(self, status: int, termination: str) -> None:
        self.status = status
        self.termination = termination + "--"
        self._release_slot()
        exchange = self.exchange
        if exchange.finished:
            return
        route = self.route
        page = None
        if route is not None:
            page = route.errorfiles.get(status)
        if page is None:
            page = self.frontend.errorfiles.get(status)
        if page is None:
            page = builtin_error(
                status, generated_connection(self.request, self.frontend.httpclose)
            )
        self.local_bytes = htx_page_size(page)
        exchange.send_raw(page)

    def _log_bytes(self) -> int:
        """``%B`` as HAProxy counts it (``httplog.htx_response_size``): the head as received
        (or the page generated), then the body's data and the end of a chunked body."""
        response = self.response
        if response is None:
            return max(self.local_bytes, 0)
        exchange = self.exchange
        ended = response.chunked and exchange.finished and not exchange.aborted
        return self.local_bytes + exchange.body_out + (1 if ended else 0)

    def _release_slot(self) -> None:
        if self._slot:
            self._slot = False
            server = self.server
            assert server is not None and self.route is not None
            self.route.backend.release(server)

    def ended(self) -> None:
        """The client side is over (normally or not): clean up and log once."""
        if self._ended:
            return
        self._ended = True
        exchange = self.exchange
        if self.queued is not None:
            self.queued.cancel()
            self.queued = None
            self.termination = "CQ--"
        if self._attempt is not None:
            self._attempt.cancel()
            self._attempt = None
            self.termination = "CC--"
        if self._retry_call is not None and self._retry_call.active():
            self._retry_call.cancel()
        if self.conn is not None and self.t_end < 0 and exchange.aborted:
            self.body_aborted()
        if self._slot:
            self._release_slot()
        self._count(exchange)
        log = self.frontend.log
        if log is not None:
            if self.frontend.dontlognull and exchange.bytes_out == 0 and self.status < 0:
                return
            log.emit(format_httplog(self._record()))

    def _termination(self) -> str:
        """HAProxy's four characters: how it ended, then the persistence cookie's flags."""
        route = self.route
        if route is None or route.cookies is None:
            return self.termination
        if self.cookie is None:
            return self.termination[:2] + "NN"
        return self.termination[:2] + route.cookies.flags(self.cookie)

    def _record(self) -> HttpLogRecord:
        exchange = self.exchange
        frontend = self.frontend
        now = frontend.deadlines.now()
        t0 = exchange.t_accept

        def ms(start: float, end: float) -> int:
            return int((end - start) * 1000) if start >= 0 and end >= 0 else -1

        route = self.route
        server = self.server
        backend = route.backend if route is not None else None
        return HttpLogRecord(
            client_ip=self.src,
            client_port=self.src_port,
            accept_time=exchange.t_accept,
            frontend=frontend.name,
            backend=backend.name if backend is not None else frontend.name,
            server=(
                self.log_server or (server.name if server is not None else "<NOSRV>")
            ),  # assigned, as HAProxy
            tr=ms(t0, exchange.t_request),
            tw=ms(self.t_queue, self.t_queue_end if self.t_queue_end >= 0 else -1.0),
            tc=ms(self.t_connect, self.t_connected),
            tr_server=ms(self.t_connected, self.t_response),
            ta=ms(t0, now),
            status=self.status,
            bytes_read=self._log_bytes(),
            termination=self._termination(),
            actconn=frontend.process.connections,
            feconn=frontend.connections,
            beconn=backend.active if backend is not None else 0,
            srv_conn=server.served if server is not None else 0,
            retries=self.retries,
            redispatched=self.redispatched,
            srv_queue=len(server.queue) if server is not None else 0,
            backend_queue=len(backend.queue) if backend is not None else 0,
            request_line=_request_line(self.request),
        )

    def _count(self, exchange: Exchange) -> None:
        """Add this request to the frontend's, backend's and server's figures (once, as it
        ends): bytes as HAProxy counts them, the status class, aborts, and the times. Plain
        int additions: this runs for every request."""
        out = self._log_bytes()
        req = self.req_bytes
        status = self.status
        index = status // 100 if 100 <= status < 600 else 0
        counters = self.frontend.counters
        counters.bytes_in += req
        counters.bytes_out += out
        counters.wire_out += exchange.bytes_out
        if status > 0:
            counters.responses[index] += 1
        route = self.route
        if route is None:
            return
        backend: ProxyCounters = route.backend.counters
        backend.bytes_in += req
        backend.bytes_out += out
        if status > 0:
            backend.responses[index] += 1
        server = self.server
        sc: ProxyCounters | None = None
        if server is not None and self.t_connect >= 0:
            sc = server.counters
            sc.bytes_in += req
            sc.bytes_out += out
            if status > 0 and (self.response is not None or status >= 500):
                sc.responses[index] += 1
        termination = self.termination
        if termination != "----":
            _count_ending(termination, backend, sc)
        t_connected = self.t_connected
        if t_connected >= 0 and self.t_response >= 0:
            t_connect = self.t_connect
            t_queue, t_queued = self.t_queue, self.t_queue_end
            q_ms = int((t_queued - t_queue) * 1000) if t_queue >= 0 and t_queued >= 0 else 0
            c_ms = int((t_connected - t_connect) * 1000)
            d_ms = int((self.t_response - t_connected) * 1000)
            t_ms = int((self.frontend.deadlines.now() - exchange.t_accept) * 1000)
            backend.times.add(backend.requests, q_ms, c_ms, d_ms, t_ms)
            if sc is not None:
                sc.times.add(sc.requests, q_ms, c_ms, d_ms, t_ms)


def _count_ending(termination: str, backend: ProxyCounters, server: ProxyCounters | None) -> None:
    """The aborts and response errors a termination state means (HAProxy's cli_abrt,
    srv_abrt and eresp), for the backend and the server."""
    cause, phase = termination[0], termination[1]
    if phase not in "HD":
        return
    for c in (backend, server):
        if c is None:
            continue
        if cause in "Cc":
            c.cli_aborts += 1
        elif cause == "S" and phase == "D":
            c.srv_aborts += 1
        elif phase == "H" and cause in "SsP":
            c.failed_resp += 1


class _PostBody:
    """Collects an admin POST's body (bounded), then answers it."""

    def __init__(
        self, txn: Transaction, page: StatsPage, source: Any, connection: bytes, admin: bool
    ) -> None:
        self.txn = txn
        self.page = page
        self.source = source
        self.connection = connection
        self.admin = admin
        self.parts: list[bytes] = []
        self.size = 0

    def body_data(self, data: bytes) -> None:
        self.size += len(data)
        if self.size <= statspage.MAX_POST + 1:
            self.parts.append(data)

    def body_end(self) -> None:
        txn = self.txn
        if txn._ended or txn.exchange.finished:
            return
        body = b"".join(self.parts)
        txn._send_local(
            statspage.answer_post(
                self.page, txn.request, body, self.source, self.connection, self.admin
            )
        )

    def body_aborted(self) -> None:
        self.parts.clear()


def _admin_condition(page: StatsPage | None) -> Condition | None:
    """``stats admin if COND``, compiled once; ``None``: no admin on this page."""
    if page is None or page.admin is None:
        return None
    return compile_condition(page.admin)


def htx_request_size(request: Request) -> int:
    """``bin`` for one request: its HTX message as HAProxy 2.6 counts it (checked against
    2.6.12): 20 bytes of start-line block, method, URI and ``HTTP/x.y``, each header's name
    and value except ``connection`` (the H1 layer consumes it), 1 for the end of headers."""
    size = 26 + len(request.method) + len(request.target) + len(request.version)
    for name, value in request.headers:
        if name != b"connection":
            size += len(name) + len(value)
    return size
