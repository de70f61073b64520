"""Builds the balancer tier's Twisted services from the validated config."""

from __future__ import annotations

import math
from typing import Any

from twisted.application.service import MultiService, Service
from twisted.internet.task import LoopingCall
from twisted.logger import Logger

from stack.balancer.backend import BackendRuntime, ServerRuntime, backends_by_name
from stack.balancer.checker import HealthChecker
from stack.balancer.checks import first_check_delays, severity
from stack.balancer.frontend import Counters, FrontendHandler
from stack.balancer.logsink import LogSink
from stack.balancer.sticktable import StickTable
from stack.config.model import ConnectionMode, StackConfig
from stack.http.client import ConnectionPool
from stack.http.deadlines import Deadlines
from stack.http.listen import ListenService
from stack.http.server import ServerFactory


class HealthService(Service):
    """The health checks of every backend with ``check`` servers, spread over the process as
    HAProxy spreads them; a state change moves the server in its backend at once, and the
    lines HAProxy would log go to the backend's ``log`` targets and to twistd's log."""

    log = Logger()

    def __init__(self, config: StackConfig, backends: dict[str, BackendRuntime], reactor: Any):
        self.checkers: list[HealthChecker] = []
        checked = [s for b in config.backends for s in b.servers if s.check and not s.disabled]
        delays = iter(first_check_delays(checked))
        for backend in config.backends:
            runtime = backends[backend.name]
            mine = [s for s in backend.servers if s.check and not s.disabled]
            if not mine:
                continue
            sink = LogSink(backend.logs, reactor) if backend.logs else None
            self.checkers.append(
                HealthChecker(
                    backend,
                    runtime.servers,
                    reactor,
                    config.global_.spread_checks,
                    self._on_change(runtime),
                    self._logger(sink),
                    first_delays=[next(delays) for _ in mine],
                    on_weight=self._on_weight(runtime),
                )
            )

    @staticmethod
    def _on_change(runtime: BackendRuntime) -> Any:
        def changed(server: ServerRuntime, up: bool, reason: str) -> int:
            return runtime.set_server_up(server, up)

        return changed

    @staticmethod
    def _on_weight(runtime: BackendRuntime) -> Any:
        def ramp(server: ServerRuntime, factor: float) -> None:
            runtime.set_server_weight(server, max(1, math.ceil(server.config.weight * factor)))

        return ramp

    def _logger(self, sink: LogSink | None) -> Any:
        def emit(line: str) -> None:
            self.log.info("{line}", line=line)
            if sink is not None:
                sink.emit(line, severity(line))

        return emit

    def startService(self) -> None:
        super().startService()
        for checker in self.checkers:
            checker.start()

    def stopService(self) -> Any:
        for checker in self.checkers:
            checker.stop()
        return super().stopService()


class BalancerService(MultiService):
    """Every frontend of the config, sharing one backend pool and one set of deadlines."""

    def __init__(self, config: StackConfig, reactor: Any) -> None:
        super().__init__()
        self.deadlines = Deadlines(reactor)
        self.pool = ConnectionPool(reactor, self.deadlines)
        self.backends = backends_by_name(config.backends, self.deadlines)
        self.health = HealthService(config, self.backends, reactor)
        self.health.setServiceParent(self)
        # One table per backend with a stick-table, shared by every frontend routing to it.
        self.tables = {
            b.name: StickTable(b.name, b.stick_table)
            for b in config.backends
            if b.stick_table is not None
        }
        self._sweeper: LoopingCall | None = None
        self.reactor = reactor
        # A notice from [defaults] comes with every backend: say it once.
        self.notices = list(dict.fromkeys(n for b in config.backends for n in b.notices))
        self.counters = Counters()
        self.sinks: list[LogSink] = []
        self.handlers: dict[str, FrontendHandler] = {}
        limits = config.global_.limits
        for frontend in config.frontends:
            sink = LogSink(frontend.logs, reactor) if frontend.logs else None
            if sink is not None:
                self.sinks.append(sink)
            handler = FrontendHandler(
                frontend,
                self.backends,
                self.pool,
                self.deadlines,
                sink,
                self.counters,
                reactor,
                self.tables,
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

    log = Logger()

    def startService(self) -> None:
        for notice in self.notices:
            self.log.warn("{notice}", notice=notice)
        if self.tables:
            # Expired entries are already misses; this frees their memory, as HAProxy's
            # expiry task does.
            self._sweeper = LoopingCall(self._expire_tables)
            self._sweeper.clock = self.reactor
            self._sweeper.start(1.0, now=False)
        super().startService()

    def _expire_tables(self) -> None:
        now = self.reactor.seconds()
        for table in self.tables.values():
            table.expire(now)

    def stopService(self) -> Any:
        if self._sweeper is not None and self._sweeper.running:
            self._sweeper.stop()
        d = super().stopService()
        self.pool.close_all()
        for sink in self.sinks:
            sink.close()
        return d
