"""``workers = N``: a master process and N workers sharing its listening sockets.

Both SO_REUSEPORT and passed sockets: the master opens, for every endpoint, one
SO_REUSEPORT socket per worker while it is still root (``privilegedStartService``, before
twistd's ``--uid``), so ports below 1024 work and the workers never need privileges. The
kernel spreads new connections over the sockets by hash; one socket shared by all would let
whichever worker wakes first accept a whole burst. The master keeps every socket open, so a
worker that dies leaves its accept queue to its successor instead of dropping it.

The master keeps what must exist once per host: the VRRP announcer (it resigns first at a
stop, as with one process) and the demo origins. It starts the workers
(:mod:`stack.worker`), logs what they log, restarts one that dies (after 0.5 s, doubling up
to 10 s while it keeps dying young), passes SIGHUP and SIGUSR1 on, and at a stop sends them
SIGTERM and waits for them (each drains within ``hard-stop-after``). It serves the ``stats
socket`` lines for all of them (:mod:`stack.runtime.mastercli`).

A SIGHUP is validated here first: a file that fails is rejected with its errors and the
workers are not disturbed. The listening sockets belong to the master, so a reload cannot
change the bind lines with workers; it is rejected, saying so (restart to apply).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sys
import tempfile
import time
from typing import Any

from twisted.application.service import Service
from twisted.internet import protocol
from twisted.internet.defer import Deferred, DeferredList, succeed
from twisted.logger import Logger, LogLevel
from twisted.python.failure import Failure

from stack.balancer.stats import PROCESS_STARTED
from stack.config.model import Endpoint, StackConfig
from stack.http.listen import ListenError, interface_of
from stack.reload import ReloadRejected, StackService
from stack.runtime.mastercli import MasterCli, Process, ask_unix
from stack.signals import on_signal
from stack.worker import cli_socket

log = Logger()

RESTART_DELAY = 0.5  # seconds before a dead worker is started again
RESTART_MAX_DELAY = 10.0
YOUNG = 10.0  # a worker that dies younger than this doubles the next delay
BACKLOG = 1024


def listened(config: StackConfig, tiers: list[str]) -> list[Endpoint]:
    """The endpoints the workers' tiers listen on (as :class:`ListenService` would)."""
    endpoints: dict[tuple[str, int], Endpoint] = {}
    if "balancer" in tiers:
        for frontend in config.frontends:
            for bind in frontend.binds:
                endpoints.setdefault(_key(bind), bind)
    if "edge" in tiers:
        for edge in config.edges:
            for bind in (*edge.binds, *edge.redirect_binds):
                endpoints.setdefault(_key(bind), bind)
    return list(endpoints.values())


def _key(bind: Endpoint) -> tuple[str, int]:
    return (interface_of(bind), bind.port)


def open_listener(bind: Endpoint, port: int | None = None) -> socket.socket:
    """A listening SO_REUSEPORT socket for ``bind`` (on ``port`` when given: the port the
    first socket of a ``:0`` bind got)."""
    host, bind_port = _key(bind)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, bind_port if port is None else port))
        sock.listen(BACKLOG)
    except OSError as exc:
        sock.close()
        raise ListenError(f"cannot listen on {bind}: {exc.strerror}") from None
    sock.setblocking(False)
    sock.set_inheritable(True)
    return sock


class _Worker(protocol.ProcessProtocol):
    def __init__(self, pool: WorkersService, index: int) -> None:
        self.pool = pool
        self.index = index
        self.started = time.monotonic()
        self.born = time.time()  # for show proc's uptime
        self.reloads = 0  # SIGHUPs passed on to it
        self.pid: int | None = None
        self.ended: Deferred[None] = Deferred()
        self._partial = b""

    def connectionMade(self) -> None:
        self.pid = self.transport.pid  # type: ignore[union-attr]

    def outReceived(self, data: bytes) -> None:
        lines = (self._partial + data).split(b"\n")
        self._partial = lines.pop()
        for line in lines:
            self._relay(line)

    errReceived = outReceived

    def _relay(self, line: bytes) -> None:
        text = line.decode("utf-8", "replace")
        name, _, message = text.partition(" ")
        if name in _LEVELS:  # stack.worker writes "LEVEL TEXT"; anything else is as is
            level = LogLevel.levelWithName(name)
        else:
            level, message = LogLevel.info, text
        log.emit(level, "worker {index}: {message}", index=self.index, message=message)

    def processEnded(self, reason: Failure) -> None:
        if self._partial:
            self._relay(self._partial)
            self._partial = b""
        self.pool.ended(self, reason)
        self.ended.callback(None)


_LEVELS = {"debug", "info", "warn", "error", "critical"}


class WorkersService(Service):
    """The N worker processes and the sockets they share."""

    name = "workers"

    def __init__(
        self,
        config: StackConfig,
        tiers: list[str],
        reactor: Any,
        *,
        python: str = sys.executable,
    ) -> None:
        self.config = config
        self.tiers = tiers
        self.reactor = reactor
        self.python = python
        self.count = config.global_.workers
        # per endpoint, one socket per worker (index 1 is [0])
        self.sockets: dict[tuple[str, int], list[socket.socket]] = {}
        self.workers: dict[int, _Worker] = {}
        self.delays: dict[int, float] = {}
        self.run_dir: str | None = None
        self.stopping = False
        self._calls: dict[int, Any] = {}

    def privilegedStartService(self) -> None:
        try:
            for bind in listened(self.config, self.tiers):
                first = open_listener(bind)
                own = [first]
                self.sockets[_key(bind)] = own
                port = first.getsockname()[1]
                own += [open_listener(bind, port) for _ in range(self.count - 1)]
        except ListenError:
            self._close_sockets()
            raise
        super().privilegedStartService()

    def startService(self) -> None:
        super().startService()
        # made after twistd's --uid: the workers (same user) create their sockets in it
        self.run_dir = tempfile.mkdtemp(prefix="stack-workers-")
        for index in range(1, self.count + 1):
            self._spawn(index)

    def _spawn(self, index: int) -> None:
        self._calls.pop(index, None)
        if self.stopping:
            return
        assert self.run_dir is not None
        argv = [
            self.python,
            "-m",
            "stack.worker",
            "--config",
            self.config.path,
            "--index",
            str(index),
            "--count",
            str(self.count),
            "--run-dir",
            self.run_dir,
            "--master",
            str(os.getpid()),
        ]
        argv += [arg for tier in self.tiers for arg in ("--tier", tier)]
        fds: dict[int, Any] = {0: "w", 1: "r", 2: "r"}
        for (host, port), own in self.sockets.items():
            fd = own[index - 1].fileno()
            argv += ["--listen", f"{host}:{port}={fd}"]
            fds[fd] = fd
        worker = _Worker(self, index)
        self.workers[index] = worker
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
        try:
            self.reactor.spawnProcess(worker, self.python, argv, env=env, childFDs=fds)
        except OSError as exc:
            # e.g. an interpreter the --uid user cannot reach: nothing would ever serve
            del self.workers[index]
            log.critical(
                "worker {index}: cannot start {python} as uid {uid}: {error}; stopping",
                index=index,
                python=self.python,
                uid=os.getuid(),
                error=exc.strerror or exc,
            )
            self.reactor.callWhenRunning(self.reactor.stop)
            return
        log.info("worker {index} started (pid {pid})", index=index, pid=worker.pid)

    def ended(self, worker: _Worker, reason: Failure) -> None:
        index = worker.index
        if self.workers.get(index) is worker:
            del self.workers[index]
        code = getattr(reason.value, "exitCode", None)
        sig = getattr(reason.value, "signal", None)
        how = f"killed by signal {sig}" if sig else f"exited with status {code}"
        if self.stopping:
            log.info("worker {index} (pid {pid}) {how}", index=index, pid=worker.pid, how=how)
            return
        if time.monotonic() - worker.started < YOUNG:  # dying young again: wait longer
            delay = self.delays.get(index, RESTART_DELAY)
            self.delays[index] = min(delay * 2, RESTART_MAX_DELAY)
        else:
            delay = RESTART_DELAY
            self.delays[index] = RESTART_DELAY * 2
        log.error(
            "worker {index} (pid {pid}) {how}; starting it again in {delay:g} s",
            index=index,
            pid=worker.pid,
            how=how,
            delay=delay,
        )
        self._calls[index] = self.reactor.callLater(delay, self._spawn, index)

    def signal(self, signum: int) -> None:
        for worker in list(self.workers.values()):
            if signum == signal.SIGHUP:
                worker.reloads += 1
            transport = worker.transport
            if transport is not None and worker.pid is not None:
                with contextlib.suppress(Exception):  # already gone: processEnded follows
                    transport.signalProcess(signum)

    def stopService(self) -> Deferred[None]:
        """SIGTERM to every worker; wait for them (they drain within ``hard-stop-after``),
        SIGKILL the ones still there a few seconds after that."""
        super().stopService()
        self.stopping = True
        for call in self._calls.values():
            if call.active():
                call.cancel()
        self._calls.clear()
        waiting = [w.ended for w in self.workers.values()]
        self.signal(signal.SIGTERM)
        self._close_sockets()
        if not waiting:
            self._remove_run_dir()
            return succeed(None)
        bound = self.config.global_.hard_stop_after + 5.0
        kill = self.reactor.callLater(bound, self.signal, signal.SIGKILL)

        def all_ended(_: object) -> None:
            if kill.active():
                kill.cancel()
            self._remove_run_dir()

        return DeferredList(waiting).addCallback(all_ended)

    def _close_sockets(self) -> None:
        for own in self.sockets.values():
            for sock in own:
                sock.close()
        self.sockets.clear()

    def _remove_run_dir(self) -> None:
        if self.run_dir is None:
            return
        for name in os.listdir(self.run_dir):
            with contextlib.suppress(OSError):
                os.unlink(os.path.join(self.run_dir, name))
        with contextlib.suppress(OSError):
            os.rmdir(self.run_dir)


class MasterService(StackService):
    """The master's service tree: no tier of its own serves requests, the workers do."""

    def __init__(self, config: StackConfig, tiers: list[str], reactor: Any) -> None:
        super().__init__(config, [], reactor)
        self.worker_tiers = [t for t in tiers if t in ("balancer", "edge")]
        self.workers = WorkersService(config, self.worker_tiers, reactor)
        self.workers.setServiceParent(self)
        self._undo_usr1: Any = None

    def privilegedStartService(self) -> None:
        try:
            super().privilegedStartService()
        except ListenError as exc:
            raise SystemExit(f"stack: {exc}") from None

    def startService(self) -> None:
        super().startService()
        self._undo_usr1 = on_signal(
            self.reactor, signal.SIGUSR1, lambda: self.workers.signal(signal.SIGUSR1)
        )

    def stopService(self) -> Deferred[None]:
        if self._undo_usr1 is not None:
            self._undo_usr1()
            self._undo_usr1 = None
        return super().stopService()

    def runtime_commands(self) -> MasterCli:
        """The ``stats socket`` is the master's: it asks the workers (see
        :mod:`stack.runtime.mastercli`)."""
        return MasterCli(self.processes, self.ask_worker)

    def processes(self) -> list[Process]:
        """The master, then the live workers by number (``show proc``)."""
        master = Process(0, os.getpid(), PROCESS_STARTED, self.reloads, self.failed_reloads)
        workers = [
            Process(index, worker.pid, worker.born, worker.reloads)
            for index, worker in sorted(self.workers.workers.items())
            if worker.pid is not None
        ]
        return [master, *workers]

    def ask_worker(self, index: int, text: str) -> Deferred[str]:
        assert self.workers.run_dir is not None
        return ask_unix(self.reactor, cli_socket(self.workers.run_dir, index), text)

    def _validated(self, path: str, tiers: list[str] | None = None) -> StackConfig:
        return super()._validated(path, self.worker_tiers)

    def _apply(self, config: StackConfig) -> str:
        """Validated here; every worker then reloads itself in place."""
        before = sorted(_key(b) for b in listened(self.config, self.worker_tiers))
        after = sorted(_key(b) for b in listened(config, self.worker_tiers))
        if before != after:
            raise ReloadRejected(
                "with workers, the listening sockets belong to the master: the bind "
                "lines changed, restart to apply them"
            )
        self.workers.config = config
        self.workers.signal(signal.SIGHUP)
        return f"passed to {self.workers.count} workers"
