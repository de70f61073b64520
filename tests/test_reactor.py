"""``StackReactor``: the epoll reactor with a lean dispatch loop behaves as Twisted's does.

Each test runs its own reactor instance (never installed) on loopback and turns it by hand
with ``iterate``, so the global reactor is untouched.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable

import pytest
from twisted.internet.protocol import ClientFactory, Factory, Protocol
from twisted.python import log

from stack.reactor import StackReactor


class Echo(Protocol):
    def dataReceived(self, data: bytes) -> None:
        if data == b"boom":
            raise RuntimeError("protocol bug")
        self.transport.write(data)  # type: ignore[union-attr]


class Client(Protocol):
    def __init__(self) -> None:
        self.received = b""
        self.lost = False

    def connectionMade(self) -> None:
        self.factory.client = self  # type: ignore[attr-defined]

    def dataReceived(self, data: bytes) -> None:
        self.received += data

    def connectionLost(self, reason: object = None) -> None:
        self.lost = True


def spin(reactor: StackReactor, until: Callable[[], bool], limit: int = 500) -> None:
    for _ in range(limit):
        if until():
            return
        reactor.iterate(0.01)
    raise AssertionError("condition not reached")


@pytest.fixture
def pair() -> tuple[StackReactor, Client]:
    reactor = StackReactor()
    port = reactor.listenTCP(0, Factory.forProtocol(Echo), interface="127.0.0.1")
    factory = ClientFactory.forProtocol(Client)
    factory.client = None  # type: ignore[attr-defined]
    reactor.connectTCP("127.0.0.1", port.getHost().port, factory)
    spin(reactor, lambda: factory.client is not None)  # type: ignore[attr-defined]
    yield reactor, factory.client  # type: ignore[attr-defined, misc]
    port.stopListening()
    reactor.disconnectAll()
    reactor._poller.close()


def test_reads_and_writes_flow(pair: tuple[StackReactor, Client]) -> None:
    reactor, client = pair
    client.transport.write(b"hello")  # type: ignore[union-attr]
    spin(reactor, lambda: client.received == b"hello")


def test_exception_in_a_read_is_logged_and_drops_that_connection(
    pair: tuple[StackReactor, Client],
) -> None:
    reactor, client = pair
    errors: list[dict[str, object]] = []

    def observer(event: dict[str, object]) -> None:
        if event.get("isError"):
            errors.append(event)

    log.addObserver(observer)
    try:
        client.transport.write(b"boom")  # type: ignore[union-attr]
        spin(reactor, lambda: client.lost)
    finally:
        log.removeObserver(observer)
    assert any("protocol bug" in str(e.get("failure")) for e in errors)


def test_twistd_stack_runs_on_stack_reactor_unless_told_otherwise(tmp_path) -> None:
    """``twistd stack`` installs StackReactor; ``twistd --reactor=NAME stack`` keeps NAME."""
    script = (
        "import sys\n"
        "from stack.tap import Options, makeService\n"
        "from twisted.application.reactors import installReactor\n"
        "if sys.argv[1] != 'default':\n"
        "    installReactor(sys.argv[1])\n"
        "o = Options()\n"
        "o.parseOptions(['-c', 'etc/stack.ini', '--tier', 'balancer'])\n"
        "makeService(o)\n"
        "from twisted.internet import reactor\n"
        "print(type(reactor).__name__)\n"
    )
    run = lambda arg: subprocess.run(  # noqa: E731
        [sys.executable, "-c", script, arg], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert run("default") == "StackReactor"
    assert run("poll") == "PollReactor"
