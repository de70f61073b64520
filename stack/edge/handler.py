"""The edge's request handlers: the HTTPS virtual host and its port-80 twin.

``EdgeHandler`` is what Apache's ``<VirtualHost *:443>`` of the seed does: the ``/app`` →
``/app/`` redirect, ProxyPass to the balancer with mod_proxy's request headers, and on the
way back ProxyPassReverse plus HSTS. The balancer may sit in the same process: the exchange
is then handed to its ``RequestHandler`` as is (no loopback connection, no second parse), and
the edge's rewriting of its answers rides along as the exchange's ``ResponseFilter``.
``RedirectHandler`` is the ``<VirtualHost *:80>``: everything goes to https.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from twisted.logger import Logger

from stack.config.edge import LOG_LEVELS
from stack.config.model import Edge
from stack.edge.accesslog import LogFile, combined_line, error_line
from stack.edge.forwarded import ForwardedHeaders
from stack.edge.pages import error_page
from stack.edge.redirects import HttpsRedirect, SlashRedirect, host_name
from stack.edge.reverse import ReverseRewriter
from stack.http import h1
from stack.http.message import Headers, Request, Response, set_host
from stack.http.server import Exchange, RequestHandler

_log = Logger()


class EdgeLog:
    """The access log (Apache's combined format) and the error log of one edge."""

    def __init__(self, config: Edge) -> None:
        self.access = LogFile(config.access_log) if config.access_log else None
        self.access_tls = config.access_log_tls
        self.errors = LogFile(config.error_log) if config.error_log else None
        self.level = LOG_LEVELS.index(config.log_level)
        self.pid = os.getpid()

    def error(self, level: str, module: str, message: str, when: float, client: str = "") -> None:
        if self.errors is not None and LOG_LEVELS.index(level) <= self.level:
            line = error_line(level, module, message, when, self.pid, client or None)
            self.errors.write(line)

    def reopen(self) -> None:
        """Each file on its own: one that cannot be reopened keeps its old descriptor, is
        reported, and does not stop the others."""
        for log in (self.access, self.errors):
            if log is not None:
                try:
                    log.reopen()
                except OSError as exc:
                    _log.error("log reopen failed, still writing to the rotated file: {e}", e=exc)

    def close(self) -> None:
        for log in (self.access, self.errors):
            if log is not None:
                log.close()


class EdgeRecord:
    """What the edge keeps of a request as the client sent it: ProxyPass rewrites its Host
    and target, the balancer may rewrite more, but Location rewriting needs the public Host
    and the access log the original request line."""

    __slots__ = (
        "client",
        "public_host",
        "referer",
        "request_line",
        "status",
        "target",
        "user_agent",
    )

    def __init__(self, public_host: bytes) -> None:
        self.public_host = public_host
        self.status = 0
        self.request_line: bytes | None = None
        self.target: bytes | None = None  # as the client sent it, before ProxyPass

    def keep_for_log(self, client: str, request: Request) -> None:
        self.client = client
        self.request_line = b"%s %s HTTP/%s" % (request.method, request.target, request.version)
        self.referer = request.header(b"referer")
        self.user_agent = request.header(b"user-agent")


class Route:
    """One ``proxy-pass``: a path prefix and the tier or server that answers under it."""

    __slots__ = ("host", "path", "prefix", "upstream")

    def __init__(self, prefix: str, upstream: RequestHandler, host: str, path: str) -> None:
        self.prefix = prefix.encode()
        self.upstream = upstream
        self.host = host.encode()  # the Host sent without ProxyPreserveHost
        self.path = path.encode()


class _Base:
    """What both virtual hosts share: ending an exchange (the tier it was handed to first),
    then its access log line."""

    log: EdgeLog

    def exchange_ended(self, exchange: Exchange) -> None:
        upstream = exchange.handed_to
        if upstream is not None:
            upstream.exchange_ended(exchange)
        record = exchange.front
        access = self.log.access
        if access is None or not isinstance(record, EdgeRecord) or record.request_line is None:
            return
        response = exchange.response
        status = record.status or (response.status if response is not None else 0)
        tls = exchange.tls if self.log.access_tls else None
        access.write(
            combined_line(
                record.client,
                exchange.t_request,
                record.request_line,
                status,
                exchange.bytes_out,
                record.referer,
                record.user_agent,
                tls,
            )
        )

    def error_response(self, status: int) -> bytes:
        return error_page(status, close=True)


class EdgeHandler(_Base):
    """The HTTPS virtual host: the engine's ``RequestHandler`` and the ``ResponseFilter`` of
    every exchange it hands on."""

    def __init__(self, config: Edge, routes: Sequence[Route], log: EdgeLog) -> None:
        self.routes = tuple(routes)
        self.log = log
        self.names = frozenset(n.encode() for n in config.names)
        self.default_host = _host_with_port(config.server_name, config.https_port)
        self.slash = (
            SlashRedirect(config.slash_redirects, config.redirect_code)
            if config.slash_redirects
            else None
        )
        self.forwarded = (
            ForwardedHeaders(
                config.server_name,
                config.trusted_proxies,
                f"1.1 {self.default_host.decode()}" if config.via else None,
                add_forwarded=config.forwarded,
            )
            if config.forwarded or config.via
            else None
        )
        self.reverse = ReverseRewriter(
            [(r.prefix, r.url) for r in config.proxy_pass]
            + [(p, u) for p, u in config.proxy_pass_reverse],
            config.cookie_paths,
            config.cookie_domains,
        )
        self.hsts = (b"strict-transport-security", config.hsts.encode()) if config.hsts else None
        self.preserve_host = config.preserve_host

    # -- RequestHandler --------------------------------------------------------------------------

    def handle(self, exchange: Exchange) -> None:
        request = exchange.request
        exchange.front = record = EdgeRecord(self.public_host(request))
        if self.log.access is not None:
            record.keep_for_log(exchange.channel.src, request)
        exchange.filter = self
        if self.slash is not None:
            page = self.slash.response(
                request, b"https", record.public_host, close=not request.keep_alive
            )
            if page is not None:
                exchange.send_raw(page)
                return
        self.forward(exchange, b"https")

    def forward(self, exchange: Exchange, proto: bytes) -> None:
        """ProxyPass: the first route whose prefix the path starts with takes the request,
        with mod_proxy's request headers; no route is Apache's 404."""
        request = exchange.request
        path = request.path
        for route in self.routes:
            if path.startswith(route.prefix):
                break
        else:
            exchange.send_raw(error_page(404, close=not request.keep_alive))
            return
        channel = exchange.channel
        headers = h1.strip_hop_by_hop(request.headers, keep_upgrade=request.upgrade is not None)
        if self.forwarded is not None:
            self.forwarded.apply(
                headers, channel.src, request.header(b"host"), proto, channel.dst_port
            )
        if not self.preserve_host:
            set_host(headers, route.host)
        request.headers = headers
        record = exchange.front
        if isinstance(record, EdgeRecord):
            record.target = request.target
        if route.path != route.prefix:
            request.set_target(route.path + request.target[len(route.prefix) :])
        exchange.handed_to = route.upstream
        route.upstream.handle(exchange)

    # -- ResponseFilter --------------------------------------------------------------------------

    def response_head(self, exchange: Exchange, response: Response) -> None:
        headers = response.headers
        if self.reverse.active:
            self.reverse.rewrite(headers, self._public_base(exchange))
        if self.hsts is not None:
            headers.append(self.hsts)

    def raw_response(self, exchange: Exchange, data: bytes) -> bytes:
        """A page the balancer (or this edge) built: parsed only to be rewritten, which is
        rare (redirects, error pages), so it costs the hot path nothing."""
        _note_status(exchange, data)
        end = data.find(b"\r\n\r\n")
        if end < 0 or (self.hsts is None and not self.reverse.active):
            return data
        lines = data[:end].split(b"\r\n")
        headers: Headers = []
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            headers.append((name, value.strip()))
        if self.reverse.active:
            # rewritten in place on lowercase names; the page keeps its own case
            lowered = [(n.lower(), v) for n, v in headers]
            self.reverse.rewrite(lowered, self._public_base(exchange))
            headers = [(n, v) for (n, _), (_, v) in zip(headers, lowered, strict=True)]
        if self.hsts is not None:
            headers.append((b"Strict-Transport-Security", self.hsts[1]))
        head = lines[0] + b"".join(b"\r\n%s: %s" % header for header in headers)
        return head + data[end:]

    # -- names -----------------------------------------------------------------------------------

    def public_host(self, request: Request) -> bytes:
        """The client's Host when it names this virtual host (UseCanonicalName Off), else
        ServerName: a Location never carries a name the edge does not serve."""
        host = request.header(b"host")
        if host is not None and host_name(host) in self.names:
            return host
        return self.default_host

    def _public_base(self, exchange: Exchange) -> bytes:
        record = exchange.front
        host = record.public_host if isinstance(record, EdgeRecord) else self.default_host
        return b"https://" + host


class RedirectHandler(_Base):
    """The plain-HTTP virtual host: every request is sent to https (ACME challenges are the
    only requests it hands on, to the HTTPS host's routes)."""

    def __init__(self, config: Edge, log: EdgeLog, https: EdgeHandler) -> None:
        self.log = log
        self.https = https
        self.code = config.redirect_code
        self.redirect = HttpsRedirect(
            config.names, config.server_name, config.https_port, config.redirect_code
        )

    def handle(self, exchange: Exchange) -> None:
        request = exchange.request
        exchange.front = record = EdgeRecord(self.https.default_host)
        if self.log.access is not None:
            record.keep_for_log(exchange.channel.src, request)
        page = self.redirect.response(request, close=not request.keep_alive)
        if page is None:  # /.well-known/acme-challenge/: served, not redirected
            exchange.filter = _PLAIN
            self.https.forward(exchange, b"http")
            return
        record.status = self.code
        exchange.send_raw(page)


class _PlainFilter:
    """Responses on port 80 get neither HSTS (RFC 6797 §7.2) nor https rewriting."""

    def response_head(self, exchange: Exchange, response: Response) -> None:
        pass

    def raw_response(self, exchange: Exchange, data: bytes) -> bytes:
        _note_status(exchange, data)
        return data


_PLAIN = _PlainFilter()


def _note_status(exchange: Exchange, data: bytes) -> None:
    """The status of a pre-built page, for the access log (%>s)."""
    record = exchange.front
    if isinstance(record, EdgeRecord) and data[9:12].isdigit():
        record.status = int(data[9:12])


def _authority(host: str, port: int, default_port: int) -> str:
    """``host[:port]`` as written in a Host header or URL (IPv6 in brackets)."""
    host = f"[{host}]" if ":" in host else host
    return host if port == default_port else f"{host}:{port}"


def _host_with_port(name: str, port: int) -> bytes:
    return _authority(name, port, 443).encode()


def routes_for(config: Edge, upstreams: Sequence[RequestHandler]) -> list[Route]:
    """One :class:`Route` per ``proxy-pass`` and its upstream, in the order written (Apache's
    first match)."""
    return [
        Route(p.prefix, upstream, _authority(p.host, p.port, 80), p.path)
        for p, upstream in zip(config.proxy_pass, upstreams, strict=True)
    ]
