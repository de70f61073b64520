"""The runtime API on unix sockets: HAProxy's ``stats socket`` lines, served by Twisted.

A connection is non-interactive, as ``echo "help" | socat stdio /run/stack/admin.sock``
uses it: the commands received are answered and the connection closes as soon as no input
is left. ``prompt`` makes it interactive: every answer ends with ``"\\n> "`` and the
connection stays open until ``quit``, the peer closes, or it is idle for 10 seconds
(HAProxy's default ``stats timeout``). A command longer than ``bufsize`` closes the
connection unanswered, as HAProxy 2.6 does.

An answer may come later (a :class:`~twisted.internet.defer.Deferred`: the master of
``workers = N`` asks its workers): the connection answers its commands in order, so the
next command waits for it, and a peer that has sent all it will still gets it.
"""

from __future__ import annotations

import contextlib
import errno
import os
import socket
import stat
from collections.abc import Sequence
from typing import Any, NoReturn
from typing import Protocol as Interface

from twisted.application.service import Service
from twisted.internet.defer import Deferred, gatherResults, maybeDeferred
from twisted.internet.interfaces import IHalfCloseableProtocol
from twisted.internet.protocol import Factory, Protocol
from twisted.logger import Logger
from twisted.protocols.policies import TimeoutMixin
from twisted.python.failure import Failure
from zope.interface import implementer

from stack.config.model import StatsSocket
from stack.runtime.api import INTERNAL_ERROR, Session, take_command

IDLE_TIMEOUT = 10.0  # seconds: src/cli.c gives the CLI frontend a 10 s client timeout
# HAProxy's tune.bufsize. A command and its separator must fit in BUFSIZE - 2 bytes: HAProxy
# 2.6.12 answered a 16382-byte line and not a 16383-byte one (it stalls; longer ones close).
BUFSIZE = 16384

_log = Logger()


class Commands(Interface):
    """What answers a connection's commands: :class:`RuntimeApi`, or the master's CLI."""

    def run(self, command: str, session: Session) -> str | Deferred[str]: ...


@implementer(IHalfCloseableProtocol)
class RuntimeProtocol(Protocol, TimeoutMixin):
    """One runtime API connection."""

    def __init__(self, api: Commands, level: str, bufsize: int, timeout: float) -> None:
        self.api = api
        self.session = Session(level)
        self.max_line = bufsize - 2
        self.idle = timeout
        self.buffer = b""
        self.done = False
        self.waiting = False  # for an answer that comes later
        self.input_ended = False

    def connectionMade(self) -> None:
        self.setTimeout(self.idle)

    def dataReceived(self, data: bytes) -> None:
        if self.done:
            return
        self.resetTimeout()
        self.buffer += data
        self._answer_commands()

    def _answer_commands(self) -> None:
        out: list[bytes] = []
        while not self.done and not self.waiting:
            taken = take_command(self.buffer[: self.max_line])
            if taken is None:
                # src/cli.c: a line that fills the buffer ends it; so does the end of input
                # (an unfinished command is dropped, as HAProxy does)
                self.done = len(self.buffer) >= self.max_line or self.input_ended
                break
            command, used = taken
            self.buffer = self.buffer[used:]
            answer = self.api.run(command.decode("utf-8", "surrogateescape"), self.session)
            if isinstance(answer, Deferred):
                self.waiting = True
                self.setTimeout(None)  # the answerer bounds its own wait
                answer.addBoth(self._answered)
                break
            out.append(_encode(answer))
            self._after_answer()
        if out and self.transport is not None:
            self.transport.write(b"".join(out))
        if self.done:
            self._close()

    def _after_answer(self) -> None:
        if self.session.closed or (not self.session.interactive and not self.buffer):
            self.done = True

    def _answered(self, answer: str | Failure) -> None:
        self.waiting = False
        if self.done:  # the peer went away meanwhile
            return
        if isinstance(answer, Failure):  # the answerer's own bug
            _log.failure("runtime API answer failed", failure=answer)
            answer = INTERNAL_ERROR + ("\n> " if self.session.interactive else "\n")
        if self.transport is not None:
            self.transport.write(_encode(answer))
        self.setTimeout(self.idle)
        self._after_answer()
        self._answer_commands()

    def readConnectionLost(self) -> None:
        """The peer sent all it will (socat after ``echo``): an unfinished command is
        dropped, as HAProxy does, and the answers already written are flushed; one still
        coming is written first."""
        self.input_ended = True
        if not self.waiting:
            self._close()

    def writeConnectionLost(self) -> None:
        self._close()

    def timeoutConnection(self) -> None:
        self._close()

    def connectionLost(self, reason: Any = None) -> None:
        self.setTimeout(None)
        self.done = True

    def _close(self) -> None:
        self.done = True
        self.setTimeout(None)
        if self.transport is not None:
            self.transport.loseConnection()


def _encode(text: str) -> bytes:
    """Bytes for the peer: the bytes it sent come back unchanged (surrogateescape)."""
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace")


class RuntimeFactory(Factory):
    """The connections of one ``stats socket``, all at its level."""

    noisy = False

    def __init__(
        self,
        api: Commands,
        level: str,
        bufsize: int = BUFSIZE,
        timeout: float = IDLE_TIMEOUT,
        reactor: Any = None,
    ) -> None:
        self.api = api
        self.level = level
        self.bufsize = bufsize
        self.timeout = timeout
        self.reactor = reactor

    def buildProtocol(self, addr: Any) -> RuntimeProtocol:
        proto = RuntimeProtocol(self.api, self.level, self.bufsize, self.timeout)
        if self.reactor is not None:
            proto.callLater = self.reactor.callLater  # type: ignore[method-assign]
        proto.factory = self
        return proto

    def logPrefix(self) -> str:
        return "RuntimeAPI"


class SocketBusy(Exception):
    """A ``stats socket`` path cannot be used."""


def prepare_path(path: str) -> None:
    """Make ``path`` free for a new unix socket: a stale socket file (nothing accepts on it)
    is removed; a live one, or a file that is not a socket, raises :class:`SocketBusy`."""
    parent = os.path.dirname(path)
    if parent and not os.path.isdir(parent):
        # like the default var/run/ of etc/stack.ini: made on first start
        try:
            os.makedirs(parent, mode=0o755, exist_ok=True)
        except OSError as exc:
            raise SocketBusy(f"cannot create {parent}: {exc.strerror or exc}") from None
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(mode):
        raise SocketBusy("the file exists and is not a socket")
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.settimeout(1.0)
        probe.connect(path)
    except OSError as exc:
        if exc.errno not in (errno.ECONNREFUSED, errno.ENOENT):
            raise SocketBusy(exc.strerror or str(exc)) from None
    else:
        raise SocketBusy("it is in use by a running process (another stack or haproxy?)")
    finally:
        probe.close()
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def _umask_mode() -> int:
    """The mode bind() gives a socket file: 0777 less the umask (HAProxy without ``mode``)."""
    umask = os.umask(0o022)
    os.umask(umask)
    return 0o777 & ~umask


class RuntimeService(Service):
    """Listens on every ``stats socket`` of ``[global]`` (in ``privilegedStartService``,
    before twistd drops root) and removes the socket files at stop."""

    def __init__(
        self,
        api: Commands,
        sockets: Sequence[StatsSocket],
        reactor: Any,
        *,
        bufsize: int = BUFSIZE,
        timeout: float = IDLE_TIMEOUT,
    ) -> None:
        self._api = api
        self.factories: list[RuntimeFactory] = []
        self.sockets = tuple(sockets)
        self.reactor = reactor
        self.bufsize = bufsize
        self.timeout = timeout
        self.ports: list[Any] = []

    @property
    def api(self) -> Commands:
        return self._api

    @api.setter
    def api(self, api: Commands) -> None:
        """A reload's commands: new connections get them, open ones keep theirs."""
        self._api = api
        for factory in self.factories:
            factory.api = api

    def privilegedStartService(self) -> None:
        for sock in self.sockets:
            try:
                prepare_path(sock.path)
            except SocketBusy as exc:
                self._fail(sock, str(exc))
            factory = RuntimeFactory(self.api, sock.level, self.bufsize, self.timeout, self.reactor)
            self.factories.append(factory)
            mode = sock.mode if sock.mode is not None else _umask_mode()
            try:
                port = self.reactor.listenUNIX(sock.path, factory, mode=mode)
            except Exception as exc:  # CannotListenError, or chmod's OSError
                self._fail(sock, getattr(exc, "socketError", None) or exc)
            self.ports.append(port)
            _log.info(
                "runtime API on {path} (level {cli_level})", path=sock.path, cli_level=sock.level
            )
        super().privilegedStartService()

    def _fail(self, sock: StatsSocket, reason: object) -> NoReturn:
        self._stop_ports()
        where = f"{sock.origin}: " if sock.origin is not None else ""
        raise SystemExit(f"stack: {where}cannot listen on {sock.path}: {reason}")

    def stopService(self) -> Any:
        super().stopService()
        return self._stop_ports()

    def _stop_ports(self) -> Any:
        # a unix Port unlinks its socket file when it stops listening
        ports, self.ports = self.ports, []
        return gatherResults([maybeDeferred(port.stopListening) for port in ports])
