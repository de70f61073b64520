"""Builds the balancer tier's Twisted services from the validated config."""

from __future__ import annotations

import dataclasses
from typing import Any

from twisted.application.service import MultiService, Service
from twisted.internet.task import LoopingCall
from twisted.logger import Logger

from stack.balancer.backend import BackendRuntime, ServerRuntime, backends_by_name, proxy_ids
from stack.balancer.checker import HealthChecker
from stack.balancer.checks import first_check_delays, severity
from stack.balancer.frontend import Counters, FrontendHandler
from stack.balancer.logsink import LogSink
from stack.balancer.sticktable import StickTable
from stack.config.compare import differs
from stack.config.model import ConnectionMode, StackConfig
from stack.http.client import ConnectionPool
from stack.http.deadlines import Deadlines
from stack.http.listen import Handover, ListenService
from stack.http.server import ServerFactory


class HealthService(Service):
    """The health checks of every backend with ``check`` servers, spread over the process as
    HAProxy spreads them; a state change moves the server in its backend at once, and the
    lines HAProxy would log go to the backend's ``log`` targets and to twistd's log."""

    log = Logger()

    def __init__(self, config: StackConfig, backends: dict[str, BackendRuntime], reactor: Any):
        self.checkers: list[HealthChecker] = []
        self.by_backend: dict[str, HealthChecker] = {}
        # `disabled` servers count too: their checks are configured, paused until enabled
        # (HAProxy's nbcheck counts them as well).
        checked = [s for b in config.backends for s in b.servers if s.check]
        delays = iter(first_check_delays(checked))
        listens = {f.name for f in config.frontends}
        for backend in config.backends:
            runtime = backends[backend.name]
            sink = LogSink(backend.logs, reactor) if backend.logs else None
            runtime.kind = "proxy" if backend.name in listens else "backend"
            # the runtime API's and the stats page's state changes log as the checks do
            runtime.log = self._leveled(sink)
            mine = [s for s in backend.servers if s.check]
            if not mine:
                continue
            checker = HealthChecker(
                backend,
                runtime.servers,
                reactor,
                config.global_.spread_checks,
                self._on_change(runtime),
                self._logger(sink),
                first_delays=[next(delays) for _ in mine],
                on_weight=self._on_weight(runtime),
                kind=runtime.kind,
            )
            runtime.warm_up = checker.warm_up
            self.checkers.append(checker)
            self.by_backend[backend.name] = checker

    @staticmethod
    def _on_change(runtime: BackendRuntime) -> Any:
        def changed(server: ServerRuntime, up: bool, reason: str) -> int:
            return runtime.set_server_up(server, up)

        return changed

    @staticmethod
    def _on_weight(runtime: BackendRuntime) -> Any:
        def ramp(server: ServerRuntime, factor: float) -> None:
            # the operator's weight (`set weight`) times slowstart's share
            runtime.set_ramp(server, factor)

        return ramp

    def _logger(self, sink: LogSink | None) -> Any:
        def emit(line: str) -> None:
            self.log.info("{line}", line=line)
            if sink is not None:
                sink.emit(line, severity(line))

        return emit

    def _leveled(self, sink: LogSink | None) -> Any:
        def emit(line: str, level: str) -> None:
            self.log.info("{line}", line=line)
            if sink is not None:
                sink.emit(line, level)

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

    def __init__(
        self,
        config: StackConfig,
        reactor: Any,
        previous: BalancerService | None = None,
        handover: Handover | None = None,
    ) -> None:
        super().__init__()
        self.config = config
        self.deadlines = Deadlines(reactor)
        self.pool = ConnectionPool(reactor, self.deadlines)
        self.backends = backends_by_name(config.backends, self.deadlines)
        if previous is not None:
            carry_servers(previous.backends, self.backends)
        # HAProxy's proxy numbers (be_id, iid) and #id addressing in the runtime API
        self.proxy_ids = proxy_ids(config)
        self.health = HealthService(config, self.backends, reactor)
        self.health.setServiceParent(self)
        if previous is not None:
            for name, checker in self.health.by_backend.items():
                old = previous.health.by_backend.get(name)
                if old is not None:
                    checker.carry(old)
        # One table per backend with a stick-table, shared by every frontend routing to it.
        self.tables = {
            b.name: StickTable(b.name, b.stick_table)
            for b in config.backends
            if b.stick_table is not None
        }
        if previous is not None:
            self.tables = carry_tables(previous.tables, self.tables)
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
            if previous is not None and frontend.name in previous.handlers:
                handler.counters = previous.handlers[frontend.name].counters  # kept by name
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
                ListenService(reactor, bind, factory, handover=handover).setServiceParent(self)
        # Stick-table replication, once the stick rules have given the tables their data
        # types (what a peers DEFINE announces): one service per [peers] section.
        from stack.peers.service import peers_services, replicated

        # A reload keeps the running peers services (their sockets and sessions) of the
        # sections that did not change; the tables they replicate are carried over too.
        self._adopted: list[Service] = []
        self.peers: dict[str, Any] = {}
        kept: dict[str, Any] = {}
        if previous is not None:
            for name, old_peers in previous.peers.items():
                section = next((p for p in config.peers if p.name == name), None)
                same = section is not None and not differs(
                    getattr(old_peers, "section", None), section
                )
                if same:
                    # a child of the previous generation, or adopted by it from an earlier one
                    if old_peers in previous._adopted:
                        previous._adopted.remove(old_peers)
                    else:
                        previous.services.remove(old_peers)
                        old_peers.parent = None
                    kept[name] = old_peers
                    self._adopted.append(old_peers)
                    # the carried tables are already attached; a recreated one is not
                    old_peers.attach(replicated(name, self.tables))
            previous.peers = {}
        fresh = [p for p in config.peers if p.name not in kept]
        only_fresh = dataclasses.replace(config, peers=tuple(fresh))
        self.peers = {**kept, **peers_services(only_fresh, self.tables, reactor)}
        for name, peers in self.peers.items():
            if name not in kept:
                peers.setServiceParent(self)

    log = Logger()

    def register_commands(self, api: Any) -> None:
        """The balancer's runtime API commands, on this generation's objects."""
        from stack.balancer.commands import register_balancer_commands
        from stack.peers.commands import register_peers_commands

        register_balancer_commands(api, self)
        register_peers_commands(api, self.peers, self.reactor)
        from stack.balancer.stats import register_stats_commands

        register_stats_commands(api, self, self.config)

    def startService(self) -> None:
        for notice in self.notices:
            self.log.warn("{notice}", notice=notice)
        from stack.balancer.statspage import open_page_warnings

        for warning in open_page_warnings(self.config):
            self.log.warn("{warning}", warning=warning)
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
        for adopted in self._adopted:
            adopted.stopService()
        self.pool.close_all()
        for sink in self.sinks:
            sink.close()
        return d


def carry_servers(old: dict[str, BackendRuntime], new: dict[str, BackendRuntime]) -> None:
    """A reload: each server keeps, by backend and server name, its health (UP/DOWN), its
    administrative state, its counters and the time of its last change; the operator's
    runtime weight is kept unless the file's weight changed. Requests in flight stay with
    the old objects (their slots are released there)."""
    for name, backend in new.items():
        before = old.get(name)
        if before is None:
            continue
        backend.counters = before.counters
        backend.last_change = before.last_change
        servers = {s.name: s for s in before.servers}
        for server in backend.servers:
            previous = servers.get(server.name)
            if previous is None:
                continue
            server.counters = previous.counters
            server.last_change = previous.last_change
            if previous.config.disabled != server.config.disabled:
                continue  # the file's `disabled` changed: it wins, as at a start
            server.admin = previous.admin
            server.up = previous.up
            server.stopping = previous.stopping
            if (previous.config.rise, previous.config.fall, previous.config.check) == (
                server.config.rise,
                server.config.fall,
                server.config.check,
            ):
                server.health = previous.health
                server.check_state = previous.check_state & ~0x01  # no check runs yet
            elif not previous.up:
                server.health.health = 0  # still DOWN: `rise` good checks bring it back
            if previous.config.weight == server.config.weight:
                server.uweight = previous.uweight
                server.weight = previous.weight
                server.ramp = previous.ramp
        backend.balancer.recalc()


def carry_tables(old: dict[str, StickTable], new: dict[str, StickTable]) -> dict[str, StickTable]:
    """A reload keeps each stick table (the same object, entries and all) whose key type
    and size did not change, with the new size, expiry and purge settings; a table whose
    keys changed starts empty, as HAProxy's would."""
    tables = {}
    for name, table in new.items():
        before = old.get(name)
        if before is not None and before.type is table.type and before.key_size == table.key_size:
            before.reconfigure(table.config)
            table = before
        elif before is not None:
            BalancerService.log.warn(
                "reload: the stick-table of {name} changed its key type or length: it starts empty",
                name=name,
            )
        tables[name] = table
    return tables
