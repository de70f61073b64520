"""One worker process of ``workers = N``: the edge and balancer tiers on sockets the master opened.

The master (:mod:`stack.master`) starts ``python -m stack.worker`` with the listening sockets
as inherited file descriptors (``--listen HOST:PORT=FD``). The worker runs the same service
tree as a single process (:class:`~stack.reload.StackService`), so SIGHUP reloads it in place
and SIGTERM drains it; only where it listens differs: the reactor's ``listenTCP`` adopts the
inherited socket for an endpoint instead of binding a new one, and the kernel spreads the
connections accepted on the shared socket over the workers.

The workers' stick tables stay in sync through the peers protocol: every worker is a peer of
a ``~workers`` section (unix sockets in the master's run directory) that replicates every
table. Only worker 1 runs the configuration's own ``[peers]`` sections (the remote load
balancer sees one peer, as from a single process); what it learns from either side it relays
to the other.

Every worker serves a private runtime API socket there too, which the master asks on behalf
of the operator's ``stats socket`` (:mod:`stack.runtime.mastercli`).

Log events go to stdout as ``LEVEL TEXT`` lines, which the master logs as its own.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import socket
import sys
from typing import Any

from stack.config import load
from stack.config.model import Peer, PeersSection, StackConfig, StatsSocket

WORKERS_SECTION = "~workers"  # not a name a configuration can give (see peers_services)


def peer_socket(run_dir: str, index: int) -> str:
    return os.path.join(run_dir, f"worker{index}.peers")


def cli_socket(run_dir: str, index: int) -> str:
    """Where worker ``index`` serves its private runtime API, which the master asks."""
    return os.path.join(run_dir, f"worker{index}.sock")


def worker_config(config: StackConfig, index: int, count: int, run_dir: str) -> StackConfig:
    """``config`` as worker ``index`` of ``count`` runs it: the workers' own peers section
    added, the configuration's sections kept by worker 1 only; the ``stats socket`` lines
    (the master's) replaced by the worker's private one, at level admin (the master lowers
    each session's level itself)."""
    peers = tuple(
        Peer(f"worker{k}", peer_socket(run_dir, k))  # type: ignore[arg-type]
        for k in range(1, count + 1)
    )
    mesh = PeersSection(WORKERS_SECTION, peers, f"worker{index}")
    own = config.peers if index == 1 else ()
    global_ = config.global_
    if global_.stats_sockets:
        private = StatsSocket(cli_socket(run_dir, index), mode=0o600, level="admin")
        global_ = dataclasses.replace(global_, stats_sockets=(private,))
    return dataclasses.replace(config, peers=(*own, mesh), global_=global_)


def inherit_listeners(reactor: Any, sockets: dict[tuple[str, int], int]) -> None:
    """Make ``reactor.listenTCP`` adopt the master's socket for an endpoint it passed (the
    services listen as they always do and never know)."""
    listen = reactor.listenTCP

    def listen_tcp(port: int, factory: Any, backlog: int = 50, interface: str = "") -> Any:
        fd = sockets.pop((interface, port), None)
        if fd is None:
            return listen(port, factory, backlog=backlog, interface=interface)
        family = socket.AF_INET6 if ":" in interface else socket.AF_INET
        adopted = reactor.adoptStreamPort(fd, family, factory)
        os.close(fd)  # adoptStreamPort keeps its own duplicate
        return adopted

    reactor.listenTCP = listen_tcp


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m stack.worker")
    parser.add_argument("--config", "-c", required=True)
    parser.add_argument("--tier", action="append", default=[])
    parser.add_argument("--index", type=int, required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--run-dir", required=True)
    parser.add_argument("--master", type=int, required=True, help="the master's pid")
    parser.add_argument("--listen", action="append", default=[], help="HOST:PORT=FD")
    return parser.parse_args(argv)


def _endpoint(text: str) -> tuple[tuple[str, int], int]:
    where, _, fd = text.rpartition("=")
    host, _, port = where.rpartition(":")
    return (host, int(port)), int(fd)


def _log_to_stdout() -> None:
    from twisted.logger import formatEvent, globalLogBeginner

    def observer(event: dict[str, Any]) -> None:
        level = event.get("log_level")
        name = level.name if level is not None else "info"
        text = formatEvent(event)
        failure = event.get("log_failure")
        if failure is not None:
            text = f"{text}\n{failure.getTraceback()}"
        for line in text.splitlines() or [""]:
            sys.stdout.write(f"{name} {line}\n")
        sys.stdout.flush()

    globalLogBeginner.beginLoggingTo([observer], redirectStandardIO=False)  # type: ignore[list-item]


def _die_with_master(master: int) -> None:
    """SIGTERM this worker when the master dies, even by SIGKILL (Linux PR_SET_PDEATHSIG):
    a worker never serves on unsupervised."""
    import ctypes
    import signal

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    if os.getppid() != master:  # the master died before the request took effect
        os.kill(os.getpid(), signal.SIGTERM)


def main(argv: list[str] | None = None) -> int:
    args = _parse(sys.argv[1:] if argv is None else argv)
    _die_with_master(args.master)
    from stack.reactor import install

    reactor = install()
    _log_to_stdout()
    with contextlib.suppress(FileNotFoundError):  # left by this worker's predecessor
        os.unlink(peer_socket(args.run_dir, args.index))
    inherit_listeners(reactor, dict(_endpoint(text) for text in args.listen))

    def load_config(path: str) -> StackConfig:
        return worker_config(load(path), args.index, args.count, args.run_dir)

    from stack.reload import StackService

    tiers = [t for t in args.tier if t in ("balancer", "edge")]
    root = StackService(load_config(args.config), tiers, reactor, load_config=load_config)
    if root.config.global_.stats_sockets:
        root.serve_runtime_api()
    try:
        root.privilegedStartService()
    except SystemExit as exc:  # a socket that cannot be adopted: said in the master's log
        sys.stdout.write(f"error {exc}\n")
        raise
    reactor.callWhenRunning(root.startService)
    reactor.addSystemEventTrigger("before", "shutdown", root.stopService)
    reactor.run()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
