"""Twisted glue for the peers protocol: one :class:`PeersService` per ``[peers]`` section.

It listens on the local peer's address, connects to every remote peer and moves bytes
between the sockets and the sans-IO :class:`~stack.peers.session.PeersSync` /
:class:`~stack.peers.session.PeerSession`, which decide everything else (handshake, resync,
timers, reconnects). A peer's address is a ``model.Endpoint`` (TCP) or a filesystem path
(a unix socket, for peers that are local processes).
"""

from __future__ import annotations

from typing import Any

from twisted.application.service import Service
from twisted.internet.interfaces import IAddress
from twisted.internet.protocol import ClientFactory, Factory, Protocol
from twisted.logger import Logger
from twisted.python.failure import Failure

from stack.balancer.sticktable import StickTable
from stack.config import model
from stack.peers.session import PeerSession, PeersSync, RemotePeer

__all__ = ["PeersService", "peers_services"]

CONNECT_TIMEOUT = 5.0

_log = Logger()


def _addr(address: IAddress) -> str:
    host = getattr(address, "host", None)
    if host is not None:
        return f"{host}:{address.port}"  # type: ignore[attr-defined]
    return "unix"


class PeerProtocol(Protocol):
    """One peer connection: every byte to the session, the end of the connection too."""

    session: PeerSession | None = None

    def __init__(self, sync: PeersSync, peer: RemotePeer | None) -> None:
        self.sync = sync
        self.peer = peer

    def connectionMade(self) -> None:
        transport = self.transport
        assert transport is not None
        if self.peer is None:
            self.session = self.sync.accepted(transport)
        else:
            self.session = self.sync.connected(self.peer, transport)
        self.session.info = {
            "src": _addr(transport.getHost()),
            "addr": _addr(transport.getPeer()),
        }

    def dataReceived(self, data: bytes) -> None:
        if self.session is not None:
            self.session.data_received(data)

    def connectionLost(self, reason: Failure | None = None) -> None:
        if self.session is not None:
            self.session.connection_lost()


class _Accepting(Factory):
    noisy = False

    def __init__(self, sync: PeersSync) -> None:
        self.sync = sync

    def buildProtocol(self, addr: IAddress | None) -> Protocol:
        return PeerProtocol(self.sync, None)


class _Connecting(ClientFactory):
    noisy = False

    def __init__(self, sync: PeersSync, peer: RemotePeer) -> None:
        self.sync = sync
        self.peer = peer

    def buildProtocol(self, addr: IAddress | None) -> Protocol:
        return PeerProtocol(self.sync, self.peer)

    def clientConnectionFailed(self, connector: Any, reason: Failure) -> None:
        self.sync.connect_failed(self.peer)


class PeersService(Service):
    """A ``peers`` section: the listener on the local peer's address and the sessions with
    the remote peers, replicating ``tables`` (the stick tables that name the section)."""

    def __init__(
        self,
        section: model.PeersSection,
        tables: list[StickTable],
        reactor: Any,
        *,
        local_address: Any = None,
    ) -> None:
        self.section = section
        self.reactor = reactor
        self.local_address = (
            local_address if local_address is not None else section.local_peer.address
        )
        remotes = [(p.name, p.address) for p in section.remote_peers]
        self.sync = PeersSync(section.name, section.local, remotes, tables, reactor, self._connect)
        self._port: Any = None
        self.name = f"peers {section.name}"

    def attach(self, tables: list[StickTable]) -> None:
        """Replicate these tables from now on (a reload that kept this section)."""
        self.sync.attach(tables)

    def startService(self) -> None:
        super().startService()
        factory = _Accepting(self.sync)
        address = self.local_address
        if isinstance(address, str):
            self._port = self.reactor.listenUNIX(address, factory)
        else:
            self._port = self.reactor.listenTCP(address.port, factory, interface=address.host)
        self.sync.start()

    def stopService(self) -> Any:
        self.sync.stop()
        port, self._port = self._port, None
        super().stopService()
        if port is not None:
            return port.stopListening()
        return None

    def _connect(self, peer: RemotePeer) -> None:
        factory = _Connecting(self.sync, peer)
        address = peer.address
        if isinstance(address, str):
            self.reactor.connectUNIX(address, factory, timeout=CONNECT_TIMEOUT)
        else:
            self.reactor.connectTCP(
                address.host or "127.0.0.1", address.port, factory, timeout=CONNECT_TIMEOUT
            )


def replicated(section: str, tables: dict[str, StickTable]) -> list[StickTable]:
    """The tables a section replicates: those naming it, and every table for the section
    that keeps the local workers of ``workers = N`` in sync (``~workers``, a name no
    configuration can give)."""
    if section.startswith("~"):
        return list(tables.values())
    return [t for t in tables.values() if t.peers == section]


def peers_services(
    config: model.StackConfig, tables: dict[str, StickTable], reactor: Any
) -> dict[str, PeersService]:
    """A service per ``[peers]`` section, with the stick tables whose ``peers`` names it (in
    backend order). A section without a local peer line is not started (logged)."""
    services: dict[str, PeersService] = {}
    for section in config.peers:
        mine = replicated(section.name, tables)
        try:
            section.local_peer  # noqa: B018
        except KeyError:
            _log.warn(
                "peers {name}: no peer line for the local peer {local!r}, not started",
                name=section.name,
                local=section.local,
            )
            continue
        services[section.name] = PeersService(section, mine, reactor)
    return services
