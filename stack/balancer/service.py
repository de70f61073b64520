"""Builds the balancer tier's Twisted services from the validated config."""

from __future__ import annotations

from typing import Any

from twisted.application.service import MultiService, Service
from twisted.internet.endpoints import TCP4ServerEndpoint, TCP6ServerEndpoint

from stack.balancer.backend import backends_by_name
from stack.balancer.frontend import Counters, FrontendHandler
from stack.balancer.logsink import LogSink
from stack.config.model import ConnectionMode, Endpoint, StackConfig
from stack.http.client import ConnectionPool
from stack.http.deadlines import Deadlines
from stack.http.server import ServerFactory


class ListenService(Service):
    """Listens on one endpoint in ``privilegedStartService`` (before twistd drops root)."""

    def __init__(self, reactor: Any, bind: Endpoint, factory: ServerFactory) -> None:
        self.reactor = reactor
        self.bind = bind
        self.factory = factory
        self.port: Any = None

    def privilegedStartService(self) -> None:
        host = self.bind.host
        if ":" in host:
            endpoint: Any = TCP6ServerEndpoint(self.reactor, self.bind.port, interface=host)
        else:
            endpoint = TCP4ServerEndpoint(self.reactor, self.bind.port, interface=host)
        d = endpoint.listen(self.factory)
        d.addCallback(self._listening)
        # A bind failure must stop start-up with the reason, not leave a half-started process.
        d.addErrback(self._failed)
        super().privilegedStartService()

    def _listening(self, port: Any) -> None:
        self.port = port
        self.factory.ports.append(port)

    def _failed(self, failure: Any) -> None:
        raise SystemExit(f"stack: cannot listen on {self.bind}: {failure.getErrorMessage()}")

    def stopService(self) -> Any:
        super().stopService()
        if self.port is not None:
            port, self.port = self.port, None
            self.factory.ports.remove(port)
            return port.stopListening()
        return None


class BalancerService(MultiService):
    """Every frontend of the config, sharing one backend pool and one set of deadlines."""

    def __init__(self, config: StackConfig, reactor: Any) -> None:
        super().__init__()
        self.deadlines = Deadlines(reactor)
        self.pool = ConnectionPool(reactor, self.deadlines)
        self.backends = backends_by_name(config.backends, self.deadlines)
        self.counters = Counters()
        self.sinks: list[LogSink] = []
        self.handlers: dict[str, FrontendHandler] = {}
        limits = config.global_.limits
        for frontend in config.frontends:
            sink = LogSink(frontend.logs, reactor) if frontend.logs else None
            if sink is not None:
                self.sinks.append(sink)
            handler = FrontendHandler(
                frontend, self.backends, self.pool, self.deadlines, sink, self.counters, reactor
            )
            self.handlers[frontend.name] = handler
            maxconn = frontend.maxconn or config.global_.maxconn
            factory = ServerFactory(
                handler,
                self.deadlines,
                frontend.timeouts,
                limits,
                keep_alive=frontend.connection_mode is ConnectionMode.KEEP_ALIVE,
                maxconn=maxconn,
            )
            handler.factory = factory
            self.counters.factories.append(factory)
            for bind in frontend.binds:
                ListenService(reactor, bind, factory).setServiceParent(self)

    def stopService(self) -> Any:
        d = super().stopService()
        self.pool.close_all()
        for sink in self.sinks:
            sink.close()
        return d
