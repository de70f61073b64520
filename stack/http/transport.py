"""A write path that skips the reactor round trip when the socket can take the data now.

Twisted's ``transport.write`` always buffers and registers for writability, so every response
costs a later epoll event plus two ``epoll_ctl`` calls before the ``send``. When nothing is
buffered (the common case for request/response traffic) sending at once is equivalent and
keeps ordering; anything the kernel does not take goes through ``transport.write`` as usual,
so backpressure (producers pausing at ``bufferSize``) is unchanged. Non-TCP transports (TLS,
test fakes) just get ``transport.write``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from twisted.internet import tcp


def direct_writer(transport: Any) -> Callable[[bytes], None]:
    if not isinstance(transport, tcp.Connection):
        return transport.write
    sock = transport.socket
    buffered_write = transport.write

    def write(data: bytes) -> None:
        t = transport
        if (
            t.connected
            and not t._tempDataLen
            and t.offset == len(t.dataBuffer)
            and not t.disconnecting
            and not t._writeDisconnected
        ):
            try:
                sent = sock.send(data)
            except (BlockingIOError, InterruptedError):
                sent = 0
            except OSError:
                buffered_write(data)  # Twisted reports the failure on its own path
                return
            if sent == len(data):
                return
            data = data[sent:]
        buffered_write(data)

    return write


def set_nodelay(transport: Any) -> None:
    """Disable Nagle, as HAProxy does on both sides: each response or request leaves in one
    send already, so holding a small segment back for an ACK only adds latency. Transports
    without the option (TLS wrappers apply it below, test fakes) are left alone."""
    set_option = getattr(transport, "setTcpNoDelay", None)
    if set_option is not None:
        set_option(True)


def unsent(transport: Any) -> int:
    """Bytes still in Twisted's write buffers, not yet handed to the kernel (under a TLS
    layer, the TCP connection's). A closing connection with none left loses nothing when it
    is aborted: the kernel still delivers what it holds, followed by the FIN."""
    tcp_transport = getattr(transport, "transport", None) if transport is not None else None
    if not isinstance(tcp_transport, tcp.Connection):
        tcp_transport = transport
    if not isinstance(tcp_transport, tcp.Connection):
        return len(getattr(transport, "dataBuffer", b"") or b"")
    t = tcp_transport
    return len(t.dataBuffer) - t.offset + t._tempDataLen
