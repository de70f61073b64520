"""Listening sockets for every tier: plain, or under TLS for the edge.

A reload builds new services for the same addresses; the open listening socket is handed
from the old :class:`ListenService` to the new one (:class:`Handover`), so the socket never
closes and not one connection attempt is refused while the configuration changes.
"""

from __future__ import annotations

from typing import Any

from twisted.application.service import Service
from twisted.internet.error import CannotListenError

from stack.config.model import Endpoint
from stack.http.server import ServerFactory


class ListenError(Exception):
    """A bind that failed, with the address and the system's reason."""


class Handover:
    """The listening ports of a running generation, offered to the next one by address.

    ``take`` gives a port to a new service (which then owns it); ports nobody took are
    closed by their old service as it stops."""

    def __init__(self, services: list[ListenService]) -> None:
        self._offered: dict[tuple[str, int], ListenService] = {
            _key(s.bind): s for s in services if s.port is not None
        }

    def take(self, new: ListenService) -> Any:
        """The old port for ``new``'s endpoint, if any; the old factory's connections will
        follow ``new``'s factory from their next request."""
        old = self._offered.pop(_key(new.bind), None)
        if old is None:
            return None
        port, old.port = old.port, None
        if port in old.factory.ports:
            old.factory.ports.remove(port)
        new.previous = old
        if old.factory is not new.factory:
            old.factory.successor = new.factory
        return port

    def give_back(self, services: list[ListenService]) -> None:
        """A new generation failed to start: its taken ports return to their old owners."""
        for service in services:
            if service.taken and service.port is not None:
                old = service.previous
                assert old is not None
                port, service.port = service.port, None
                service.factory.ports.remove(port)
                port.factory = old.wrapper
                old.port = port
                old.factory.ports.append(port)
                old.factory.successor = None


def _key(bind: Endpoint) -> tuple[str, int]:
    return (bind.host.lower(), bind.port)


def interface_of(bind: Endpoint) -> str:
    """The address a bind listens on, as ``listenTCP`` takes it: ``""`` for ``*``, an IPv6
    address without its brackets."""
    host = "" if bind.host in ("*", "") else bind.host
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host


class ListenService(Service):
    """Listens on one endpoint in ``privilegedStartService`` (before twistd drops root), or
    takes the port a previous generation held for the same endpoint.

    ``wrapper`` is the factory actually listening when it is not ``factory`` itself (the TLS
    layer around it); ``factory`` keeps the ports so ``maxconn`` can pause accepting."""

    def __init__(
        self,
        reactor: Any,
        bind: Endpoint,
        factory: ServerFactory,
        wrapper: Any = None,
        handover: Handover | None = None,
    ) -> None:
        self.reactor = reactor
        self.bind = bind
        self.factory = factory
        self.wrapper = wrapper if wrapper is not None else factory
        self.handover = handover
        self.port: Any = None
        self.taken = False
        self.previous: ListenService | None = None

    def privilegedStartService(self) -> None:
        port = self.handover.take(self) if self.handover is not None else None
        if port is not None:
            self.taken = True
            # New connections are built by this generation's factory from now on; the ones
            # already accepted stay with the old one.
            port.factory = self.wrapper
            self._listening(port)
        else:
            self._listening(self.listen())
        super().privilegedStartService()

    def listen(self) -> Any:
        """Open the socket now; :class:`ListenError` says why it failed."""
        interface = interface_of(self.bind)
        try:
            return self.reactor.listenTCP(self.bind.port, self.wrapper, interface=interface)
        except CannotListenError as exc:
            reason = exc.socketError.strerror if exc.socketError is not None else str(exc)
            raise ListenError(f"cannot listen on {self.bind}: {reason}") from None

    def _listening(self, port: Any) -> None:
        self.port = port
        self.factory.ports.append(port)

    def stopService(self) -> Any:
        super().stopService()
        if self.port is not None:
            port, self.port = self.port, None
            if port in self.factory.ports:
                self.factory.ports.remove(port)
            return port.stopListening()
        return None
