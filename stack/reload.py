"""The process's service tree, and SIGHUP: reload the configuration without a restart.

A :class:`Generation` is what one configuration builds and a reload replaces: the balancer
and the edges, and the runtime API commands registered on their objects. The parts that live
across reloads sit beside it in :class:`StackService`: the demo origins, the runtime API
sockets and the VRRP announcer (a reload must not make it resign).

On SIGHUP the file is read and validated again. If it fails, every problem is logged and the
running generation is untouched. Otherwise a new generation is built with the state of the
old one handed over by name (stick tables, server states and weights, health-check state,
counters) and takes the old listening sockets (:class:`~stack.http.listen.Handover`), so the
sockets never close. Open client connections move to the new generation between two requests;
requests in flight finish on the old one, which is stopped once it has none left, or after
``hard-stop-after`` (30 s unless set).

Stopping the process: VRRP resigns first (priority 0, so the peer takes the address while
this node still serves), then the listeners close, idle connections close and the requests
in flight get up to ``hard-stop-after`` to finish. Connections being closed wait for their
peer no longer than ``timeout client-fin``.
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from typing import Any

from twisted.application.service import IService, MultiService, Service
from twisted.internet.defer import Deferred, DeferredList, maybeDeferred, succeed
from twisted.logger import Logger

from stack.config import ConfigError, load
from stack.config.compare import differs
from stack.config.model import StackConfig
from stack.http.listen import Handover, ListenError, ListenService
from stack.http.server import ServerFactory
from stack.runtime.api import RuntimeApi
from stack.signals import on_signal

log = Logger()


class ReloadRejected(Exception):
    """The new configuration cannot replace the running one; the reasons are the args."""


class Generation(MultiService):
    """The balancer and edge services of one configuration, and its runtime API."""

    def __init__(
        self,
        config: StackConfig,
        tiers: list[str],
        reactor: Any,
        previous: Generation | None = None,
    ) -> None:
        super().__init__()
        self.config = config
        self.reactor = reactor
        self.api = RuntimeApi()
        self.handover = Handover(previous.listeners()) if previous is not None else None
        self.balancer: Any = None
        self.edges: list[Any] = []
        frontends = None
        if "balancer" in tiers:
            from stack.balancer.service import BalancerService

            self.balancer = BalancerService(
                config,
                reactor,
                previous=previous.balancer if previous is not None else None,
                handover=self.handover,
            )
            self.balancer.setServiceParent(self)
            frontends = self.balancer.handlers
            register = getattr(self.balancer, "register_commands", None)
            if register is not None:
                register(self.api)
        if "edge" in tiers:
            from stack.edge.service import EdgeService

            old_edges = {e.edge.name: e for e in previous.edges} if previous is not None else {}
            caches = []
            for edge in config.edges:
                service = EdgeService(
                    config,
                    edge,
                    reactor,
                    frontends,
                    previous=old_edges.get(edge.name),
                    handover=self.handover,
                )
                service.setServiceParent(self)
                self.edges.append(service)
                if service.cache is not None:
                    caches.append(service.cache)
            if caches:
                from stack.edge.cache.commands import register_cache_commands

                register_cache_commands(self.api, caches)

    def listeners(self) -> list[ListenService]:
        return [s for s in _walk(self) if isinstance(s, ListenService)]

    def factories(self) -> list[ServerFactory]:
        return list(dict.fromkeys(s.factory for s in self.listeners()))

    def drain(self, grace: float) -> Deferred[None]:
        """Stop: close the listeners nobody took over, move idle connections to the next
        generation (or close them), give the requests in flight ``grace`` seconds, then
        stop everything else."""
        factories = self.factories()
        for listener in self.listeners():
            listener.stopService()
        for factory in factories:
            if factory.successor is not None:
                factory.hand_over_idle()
            else:
                factory.retire()
        busy = [f for f in factories if f.connections]
        if not busy:
            return self._finish(factories)
        done: Deferred[None] = Deferred()
        left = len(busy)

        def one_empty() -> None:
            nonlocal left
            left -= 1
            if left == 0 and not done.called:
                timer.cancel()
                done.callback(None)

        def timeout() -> None:
            count = sum(f.connections for f in busy)
            log.warn(
                "{count} connection(s) still busy after {grace:g} s: closed",
                count=count,
                grace=grace,
            )
            for factory in busy:
                factory.on_empty = None
                factory.abort_all()
            done.callback(None)

        for factory in busy:
            factory.on_empty = one_empty
        timer = self.reactor.callLater(grace, timeout)
        done.addCallback(lambda _: self._finish(factories))
        return done

    def _finish(self, factories: list[ServerFactory]) -> Deferred[None]:
        for factory in factories:
            factory.on_empty = None
        d = maybeDeferred(MultiService.stopService, self)
        d.addCallback(lambda _: None)
        return d


def _walk(service: Any) -> Iterator[Any]:
    for child in getattr(service, "services", ()):
        yield child
        yield from _walk(child)


class StackService(MultiService):
    """The whole process: persistent services around the current :class:`Generation`.

    ``build`` makes a generation from a configuration (and the previous generation), so
    tests can drive reloads with their own reactor."""

    def __init__(
        self,
        config: StackConfig,
        tiers: list[str],
        reactor: Any,
        *,
        load_config: Callable[[str], StackConfig] = load,
    ) -> None:
        super().__init__()
        self.config = config
        self.tiers = tiers
        self.reactor = reactor
        self.load_config = load_config
        self.generation = Generation(config, tiers, reactor)
        self.generation.setServiceParent(self)
        self.runtime: Any = None
        self.vrrp: Any = None
        self.demos: list[IService] = []
        self.retiring: list[Generation] = []
        self._undo: Callable[[], None] | None = None
        self.reloads = 0
        self.failed_reloads = 0

    @property
    def grace(self) -> float:
        """The bound on a drain: ``hard-stop-after`` of the configuration running now."""
        return self.config.global_.hard_stop_after

    @property
    def api(self) -> RuntimeApi:
        return self.generation.api

    def runtime_commands(self) -> Any:
        """What answers the runtime API: this process's own commands."""
        return self.api

    def serve_runtime_api(self) -> None:
        """Listen on the ``stats socket`` lines (HAProxy's runtime API). The commands are
        the current generation's (each tier registers its own), swapped at every reload."""
        from stack.runtime.service import RuntimeService

        global_ = self.config.global_
        self.runtime = RuntimeService(
            self.runtime_commands(),
            global_.stats_sockets,
            self.reactor,
            bufsize=global_.limits.max_header_bytes,
        )
        self.runtime.setServiceParent(self)

    # -- start and stop ----------------------------------------------------------------------------

    def privilegedStartService(self) -> None:
        try:
            super().privilegedStartService()
        except ListenError as exc:
            raise SystemExit(f"stack: {exc}") from None

    def startService(self) -> None:
        super().startService()
        self._undo = on_signal(self.reactor, signal.SIGHUP, self.reload)

    def stopService(self) -> Deferred[None]:
        """VRRP resigns first, then the generations drain, then the rest stops."""
        if self._undo is not None:
            self._undo()
            self._undo = None
        Service.stopService(self)
        first = maybeDeferred(self.vrrp.stopService) if self.vrrp is not None else succeed(None)

        def drain(_: object) -> Deferred[Any]:
            generations = [self.generation, *self.retiring]
            return DeferredList([g.drain(self.grace) for g in generations], consumeErrors=True)

        def rest(_: object) -> Deferred[Any]:
            others = [
                s
                for s in reversed(self.services)
                if s is not self.vrrp and not isinstance(s, Generation)
            ]
            return DeferredList([maybeDeferred(s.stopService) for s in others], consumeErrors=True)

        d = first.addBoth(drain).addBoth(rest)
        d.addBoth(lambda _: None)
        return d

    # -- SIGHUP ------------------------------------------------------------------------------------

    def reload(self) -> bool:
        """Read the configuration again and apply it; ``False`` when it was rejected (the
        reasons are logged, the running configuration keeps serving)."""
        path = self.config.path
        log.info("reload: reading {path}", path=path)
        try:
            config = self._validated(path)
            done = self._apply(config)
        except ReloadRejected as exc:
            for problem in exc.args:
                log.error("reload: {problem}", problem=problem)
            log.error("reload rejected: still running the previous configuration")
            self.failed_reloads += 1
            return False
        self.config = config
        self.reloads += 1
        log.info("reload: {path} {done}", path=path, done=done)
        return True

    def _apply(self, config: StackConfig) -> str:
        """Put a validated ``config`` in service (or raise :class:`ReloadRejected`); returns
        what the log line says was done."""
        new = self._start(config)
        old, self.generation = self.generation, new
        if self.runtime is not None:
            self.runtime.api = new.api
        self.retiring.append(old)
        self._remove(old)
        old.drain(self.grace).addBoth(lambda _: self.retiring.remove(old))
        return "applied"

    def _validated(self, path: str, tiers: list[str] | None = None) -> StackConfig:
        try:
            config = self.load_config(path)
        except ConfigError as exc:
            raise ReloadRejected(*exc.problems) from None
        problems = []
        if config.edges:
            from stack.edge.service import check_certificates

            problems = [
                f"certificate reload failed, still serving the previous ones: {problem}"
                for problem in check_certificates(config)
            ]
        missing = [t for t in (self.tiers if tiers is None else tiers) if t not in config.tiers]
        if missing:
            problems.append(
                f"{path} no longer describes the {', '.join(missing)} tier(s) this process "
                "runs: stop it instead"
            )
        for what, before, after in (
            ("demo", self.config.demos, config.demos),
            ("stats socket", self.config.global_.stats_sockets, config.global_.stats_sockets),
            (
                "vrrp",
                (self.config.vrrp_instances, self.config.vrrp_scripts),
                (config.vrrp_instances, config.vrrp_scripts),
            ),
            ("workers", self.config.global_.workers, config.global_.workers),
        ):
            if differs(before, after):
                log.warn(
                    "reload: the {what} settings changed; they apply at the next restart",
                    what=what,
                )
        if problems:
            raise ReloadRejected(*problems)
        return config

    def _start(self, config: StackConfig) -> Generation:
        old = self.generation
        try:
            new = Generation(config, self.tiers, self.reactor, previous=old)
        except Exception as exc:  # a certificate, a cache directory ...
            raise ReloadRejected(f"{type(exc).__name__}: {exc}") from None
        # Placed where the old one is, so the stop order (VRRP first) stays right.
        index = self.services.index(old)
        new.parent = self
        self.services.insert(index, new)
        try:
            new.privilegedStartService()
            new.startService()
        except Exception as exc:
            assert new.handover is not None
            new.handover.give_back(new.listeners())
            self.services.remove(new)
            new.parent = None
            # what the new generation opened itself closes again
            for listener in new.listeners():
                listener.stopService()
            raise ReloadRejected(str(exc)) from None
        return new

    def _remove(self, old: Generation) -> None:
        if old in self.services:
            self.services.remove(old)
        old.parent = None
