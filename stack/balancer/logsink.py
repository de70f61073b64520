"""Where access-log lines go: syslog over UDP or a unix socket, or stdout/stderr.

Sending never blocks the reactor: UDP and unix datagrams are fire-and-forget (a full socket
buffer drops the line, as syslog over UDP does), and stdout lines are written raw, as
HAProxy's ``log stdout format raw`` does.
"""

from __future__ import annotations

import os
import socket
import sys
from typing import Any

from twisted.internet.protocol import DatagramProtocol

from stack.balancer.httplog import syslog_message
from stack.config.model import SYSLOG_LEVELS, LogTarget


class LogSink:
    """Sends one message to every configured target that accepts its level."""

    def __init__(self, targets: tuple[LogTarget, ...], reactor: Any) -> None:
        self.targets = targets
        self.reactor = reactor
        self._pid = os.getpid()
        self._udp: Any = None
        self._unix: dict[str, socket.socket] = {}

    def _udp_port(self) -> Any:
        if self._udp is None:
            self._udp = self.reactor.listenUDP(0, DatagramProtocol(), interface="127.0.0.1")
        return self._udp

    def emit(self, message: str, level: str = "info") -> None:
        rank = SYSLOG_LEVELS.index(level)
        for target in self.targets:
            if rank > SYSLOG_LEVELS.index(target.level):
                continue
            if target.stream is not None:
                stream = sys.stdout if target.stream == "stdout" else sys.stderr
                stream.write(message + "\n")
                stream.flush()
                continue
            data = syslog_message(
                target.facility, level, self.reactor.seconds(), self._pid, message
            )
            try:
                if target.address is not None:
                    host = target.address.host or "127.0.0.1"
                    self._udp_port().write(data, (host, target.address.port))
                elif target.path is not None:
                    sock = self._unix.get(target.path)
                    if sock is None:
                        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                        sock.setblocking(False)
                        self._unix[target.path] = sock
                    sock.sendto(data, target.path)
            except OSError:
                pass  # a log line is never worth blocking or failing a request

    def close(self) -> None:
        if self._udp is not None:
            self._udp.stopListening()
            self._udp = None
        for sock in self._unix.values():
            sock.close()
        self._unix.clear()
