"""Listening sockets for every tier: plain, or under TLS for the edge."""

from __future__ import annotations

from typing import Any

from twisted.application.service import Service
from twisted.internet.endpoints import TCP4ServerEndpoint, TCP6ServerEndpoint

from stack.config.model import Endpoint
from stack.http.server import ServerFactory


class ListenService(Service):
    """Listens on one endpoint in ``privilegedStartService`` (before twistd drops root).

    ``wrapper`` is the factory actually listening when it is not ``factory`` itself (the TLS
    layer around it); ``factory`` keeps the ports so ``maxconn`` can pause accepting."""

    def __init__(
        self, reactor: Any, bind: Endpoint, factory: ServerFactory, wrapper: Any = None
    ) -> None:
        self.reactor = reactor
        self.bind = bind
        self.factory = factory
        self.wrapper = wrapper if wrapper is not None else factory
        self.port: Any = None

    def privilegedStartService(self) -> None:
        host = self.bind.host
        if ":" in host:
            endpoint: Any = TCP6ServerEndpoint(self.reactor, self.bind.port, interface=host)
        else:
            endpoint = TCP4ServerEndpoint(self.reactor, self.bind.port, interface=host)
        d = endpoint.listen(self.wrapper)
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
