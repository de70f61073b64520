"""The reactor ``twistd stack`` installs: Twisted's epoll reactor with a leaner dispatch loop.

``EPollReactor.doPoll`` wraps every readiness event in ``log.callWithLogger``, which pushes a
logging context (four Python frames and a dict) so that log lines emitted inside the callback
carry the connection's ``logPrefix``. A proxy handles two such events per request, and the
wrapping costs about a tenth of the CPU it spends on a small request. Here readiness events are
dispatched straight to ``doRead``/``doWrite``, with the same error handling as Twisted's
``_doReadOrWrite`` (the exception is logged and the connection dropped); the only loss is the
``[Protocol,fd,host]`` system tag on log lines emitted from inside I/O callbacks, which
``stack``'s own logs never relied on.

It is installed only when nothing chose a reactor first: ``twistd --reactor=NAME stack`` keeps
the reactor asked for.
"""

from __future__ import annotations

import errno
import sys
from select import EPOLLIN
from typing import Any

from twisted.internet.epollreactor import EPollReactor
from twisted.internet.error import ConnectionFdescWentAway
from twisted.python import log

# As Twisted's _doReadOrWrite: a selectable whose socket an earlier callback in the same batch
# closed is disconnected, not read.
_NO_FILEDESC = ConnectionFdescWentAway("File descriptor lost")


class StackReactor(EPollReactor):
    """``EPollReactor`` whose event loop calls selectables without a logging context."""

    def doPoll(self, timeout: float | None) -> None:
        if timeout is None:
            timeout = -1
        try:
            events = self._poller.poll(timeout, len(self._selectables))
        except OSError as err:
            if err.errno == errno.EINTR:
                return
            raise
        selectables = self._selectables
        for fd, event in events:
            selectable = selectables.get(fd)
            if selectable is None:
                continue
            if event != EPOLLIN:
                # Writes, hang-ups and errors: Twisted's own handling, unchanged.
                self._doReadOrWrite(selectable, fd, event)
                continue
            try:
                why = _NO_FILEDESC if selectable.fileno() == -1 else selectable.doRead()
            except BaseException:
                why = sys.exc_info()[1]
                log.err()
            if why:
                self._disconnectSelectable(selectable, why, True)

    doIteration = doPoll


def install() -> Any:
    """Install a ``StackReactor`` as the global reactor and return it."""
    from twisted.internet.main import installReactor

    reactor = StackReactor()
    installReactor(reactor)
    return reactor


def install_default() -> None:
    """Install ``StackReactor`` unless a reactor is already installed (``--reactor``)."""
    if "twisted.internet.reactor" not in sys.modules:
        install()
