"""Builds the edge tier's Twisted services from the validated config.

Certificates are read here, before twistd daemonizes or drops root, so a bad file stops the
start with its name; on SIGHUP they are read again and swapped for new handshakes only, and a
bad new file is reported while the old certificate stays in service (Apache's graceful
restart, without a restart). SIGUSR1 reopens the access and error logs for logrotate.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Mapping
from typing import Any

from twisted.application.service import MultiService
from twisted.logger import Logger
from twisted.protocols.tls import TLSMemoryBIOFactory

from stack.config.model import Edge, EdgeCertificate, StackConfig
from stack.edge.cache.service import EdgeCacheService
from stack.edge.handler import EdgeHandler, EdgeLog, RedirectHandler, routes_for
from stack.edge.upstream import NetworkUpstream
from stack.http.certificates import (
    CertificateError,
    ServedCertificate,
    ensure_auto_certificate,
    load_certificate,
)
from stack.http.client import ConnectionPool
from stack.http.deadlines import Deadlines
from stack.http.listen import Handover, ListenService
from stack.http.server import Exchange, RequestHandler, ServerFactory
from stack.http.tls_server import TlsTermination
from stack.signals import on_signal

log = Logger()


def load_certificates(config: StackConfig, edge: Edge) -> list[ServedCertificate]:
    """The edge's certificates, the default first; ``certificate = auto`` makes (once) and
    reuses a local CA and a leaf for the edge's names under the state directory.

    Raises :class:`CertificateError` naming the file at fault."""
    if not edge.certificates:
        auto = ensure_auto_certificate(config.global_.state_dir, edge.names)
        log.info(
            "edge {edge}: {what} local CA {ca} (SHA-256 {fp}); trust it to verify {names}, "
            "e.g. curl --cacert {ca}",
            edge=edge.name,
            what="created" if auto.created_ca else "reused",
            ca=os.path.abspath(auto.ca_path),
            fp=auto.ca_fingerprint,
            names=", ".join(edge.names),
        )
        return [load_certificate(auto.cert_path, auto.key_path)]
    return [_load(c) for c in edge.certificates]


def _load(certificate: EdgeCertificate) -> ServedCertificate:
    try:
        return load_certificate(certificate.cert, certificate.key, certificate.chain)
    except CertificateError as exc:
        if certificate.origin is not None:
            raise CertificateError(f"{certificate.origin}: {exc}") from None
        raise


def check_certificates(config: StackConfig) -> list[str]:
    """Problems with the edges' certificate files, for ``--check`` (auto is not created)."""
    problems = []
    for edge in config.edges:
        for certificate in edge.certificates:
            try:
                _load(certificate)
            except CertificateError as exc:
                problems.append(str(exc))
    return problems


class EdgeService(MultiService):
    """One ``[edge]``: its TLS listeners, its port-80 redirect listeners, its logs.

    ``frontends`` are the balancer's handlers when the balancer runs in this process: a
    ``proxy-pass`` to one of them hands exchanges over in memory. Otherwise the edge connects
    to the frontend's address (``--tier edge`` alone) or to the ``http://`` URL given.
    """

    def __init__(
        self,
        config: StackConfig,
        edge: Edge,
        reactor: Any,
        frontends: Mapping[str, RequestHandler] | None = None,
        previous: EdgeService | None = None,
        handover: Handover | None = None,
    ) -> None:
        super().__init__()
        self.config = config
        self.edge = edge
        self.reactor = reactor
        self.deadlines = Deadlines(reactor)
        self.pool = ConnectionPool(reactor, self.deadlines)
        self.log = EdgeLog(edge)
        certificates = load_certificates(config, edge)
        self.tls = TlsTermination(
            certificates,
            edge.tls_profile.value,
            session_cache=edge.session_cache,
            session_tickets=edge.session_tickets,
            dh_param_bits=config.global_.dh_param,
        )
        self.fingerprints = [c.fingerprint for c in certificates]
        if previous is not None:
            self._log_reload(previous, certificates)
        self.in_memory: list[str] = []
        upstreams: list[RequestHandler] = []
        for proxy_pass in edge.proxy_pass:
            name = proxy_pass.frontend
            if name is not None and frontends is not None and name in frontends:
                upstreams.append(frontends[name])
                self.in_memory.append(name)
            else:
                upstreams.append(
                    NetworkUpstream(
                        proxy_pass.host,
                        proxy_pass.port,
                        self.pool,
                        edge.timeouts.connect,
                        edge.timeouts.server,
                        self._proxy_error,
                    )
                )
        self.cache: EdgeCacheService | None = None
        # A reload keeps the running cache (its store is open) when its settings are the same.
        self._adopted_cache: EdgeCacheService | None = None
        if edge.cache is not None:
            old = previous.cache if previous is not None else None
            if old is not None and old.settings == edge.cache and previous is not None:
                if old is previous._adopted_cache:  # adopted by it from an earlier one
                    previous._adopted_cache = None
                else:
                    previous.services.remove(old)
                    old.parent = None
                previous.cache = None
                old.forget_handlers()
                self.cache = self._adopted_cache = old
            else:
                self.cache = EdgeCacheService(edge.cache, reactor, self._cache_log, edge.name)
                self.cache.setServiceParent(self)
            upstreams = [self.cache.handler_for(upstream) for upstream in upstreams]
        self.handler = EdgeHandler(edge, routes_for(edge, upstreams), self.log)
        maxconn = edge.maxconn or config.global_.maxconn
        limits = config.global_.limits
        self.factory = ServerFactory(
            self.handler, self.deadlines, edge.timeouts, limits, maxconn=maxconn
        )
        for bind in edge.binds:
            wrapper = TLSMemoryBIOFactory(self.tls, False, self.factory)
            ListenService(reactor, bind, self.factory, wrapper, handover).setServiceParent(self)
        if edge.redirect_binds:
            redirect = RedirectHandler(edge, self.log, self.handler)
            self.redirect_factory = ServerFactory(
                redirect, self.deadlines, edge.timeouts, limits, maxconn=maxconn
            )
            for bind in edge.redirect_binds:
                ListenService(
                    reactor, bind, self.redirect_factory, handover=handover
                ).setServiceParent(self)
        self._undo: list[Callable[[], None]] = []

    def _cache_log(self, level: str, message: str) -> None:
        getattr(log, level)("edge {edge}: cache: {message}", edge=self.edge.name, message=message)
        severity = "error" if level == "error" else "notice"
        self.log.error(severity, "cache", message, self.reactor.seconds())

    def _proxy_error(self, message: str, exchange: Exchange) -> None:
        channel = exchange.channel
        client = f"{channel.src}:{channel.src_port}"
        self.log.error("error", "proxy", message, self.reactor.seconds(), client)

    def startService(self) -> None:
        if self.in_memory:
            log.info(
                "edge {edge}: hands requests to frontend {names} in memory",
                edge=self.edge.name,
                names=", ".join(self.in_memory),
            )
        # SIGHUP reloads the whole configuration (stack.reload), certificates included.
        self._undo = [on_signal(self.reactor, signal.SIGUSR1, self.log.reopen)]
        super().startService()

    def stopService(self) -> Any:
        for undo in self._undo:
            undo()
        self._undo = []
        d = super().stopService()
        if self._adopted_cache is not None:
            self._adopted_cache.stopService()
        self.pool.close_all()
        self.log.close()
        return d

    def _log_reload(self, previous: EdgeService, certificates: list[ServedCertificate]) -> None:
        """After SIGHUP: say which certificates the new handshakes get."""
        changed = self.fingerprints != previous.fingerprints
        message = (
            "certificates reloaded"
            + ("" if changed else " (unchanged)")
            + ": "
            + ", ".join(f"{c.path} SHA-256 {c.fingerprint}" for c in certificates)
        )
        log.info("edge {edge}: {message}", edge=self.edge.name, message=message)
        self.log.error("notice", "ssl", message, self.reactor.seconds())
