"""The runtime API's connections (StringTransport) and unix sockets (MemoryReactor, files)."""

from __future__ import annotations

import os
import socket
import stat
from pathlib import Path

import pytest
from twisted.internet.testing import MemoryReactorClock, StringTransport

from stack.config.model import Origin, StatsSocket
from stack.runtime import RuntimeApi
from stack.runtime.service import (
    IDLE_TIMEOUT,
    RuntimeFactory,
    RuntimeProtocol,
    RuntimeService,
    SocketBusy,
    prepare_path,
)


class Conn:
    def __init__(self, level: str = "admin", bufsize: int = 16384) -> None:
        api = RuntimeApi()
        api.register(("show", "cache"), lambda a: "cache\n", level="operator", help="show cache")
        self.clock = MemoryReactorClock()
        factory = RuntimeFactory(api, level, bufsize, IDLE_TIMEOUT, self.clock)
        self.proto: RuntimeProtocol = factory.buildProtocol(None)
        self.transport = StringTransport()
        self.proto.makeConnection(self.transport)

    def send(self, data: bytes) -> bytes:
        self.transport.clear()
        self.proto.dataReceived(data)
        return self.transport.value()

    @property
    def closed(self) -> bool:
        return self.transport.disconnecting


def test_non_interactive_answers_and_closes() -> None:
    conn = Conn()
    assert conn.send(b"show cli level\n") == b"admin\n\n"
    assert conn.closed


def test_pipelined_commands_are_all_answered() -> None:
    conn = Conn()
    assert conn.send(b"show cli level\nshow cache;show cli level\n") == (
        b"admin\n\ncache\n\nadmin\n\n"
    )
    assert conn.closed


def test_a_command_may_arrive_in_pieces() -> None:
    conn = Conn()
    assert conn.send(b"show c") == b""
    assert not conn.closed
    assert conn.send(b"li level\r\n") == b"admin\n\n"
    assert conn.closed


def test_partial_input_after_a_command_keeps_the_connection() -> None:
    conn = Conn()
    assert conn.send(b"show cli level\nshow") == b"admin\n\n"
    assert not conn.closed
    assert conn.send(b" cache\n") == b"cache\n\n"
    assert conn.closed


def test_prompt_mode_keeps_the_connection_until_quit() -> None:
    conn = Conn()
    assert conn.send(b"prompt\n") == b"\n> "
    assert not conn.closed
    assert conn.send(b"show cli level\n") == b"admin\n\n> "
    assert conn.send(b"show cache\n") == b"cache\n\n> "
    assert not conn.closed
    assert conn.send(b"quit\n") == b""
    assert conn.closed


def test_prompt_again_leaves_interactive_mode_and_closes() -> None:
    conn = Conn()
    conn.send(b"prompt\n")
    assert conn.send(b"prompt\n") == b"\n"
    assert conn.closed


def test_quit_stops_a_pipelined_line() -> None:
    conn = Conn()
    assert conn.send(b"show cli level;quit;show cli level\n") == b"admin\n\n"
    assert conn.closed
    assert conn.send(b"show cli level\n") == b""


def test_peer_half_close_drops_an_unfinished_command() -> None:
    conn = Conn()
    assert conn.send(b"show cli level") == b""
    conn.proto.readConnectionLost()
    assert conn.closed
    assert conn.transport.value() == b""


def test_socat_style_line_then_half_close_is_answered() -> None:
    conn = Conn()
    conn.proto.dataReceived(b"show cli level\n")
    conn.proto.readConnectionLost()
    assert conn.transport.value() == b"admin\n\n"


def test_a_line_longer_than_bufsize_closes_unanswered() -> None:
    conn = Conn(bufsize=1024)
    assert conn.send(b"a" * 1022) == b""
    assert conn.closed


def test_the_longest_line_bufsize_allows_is_answered() -> None:
    # haproxy 2.6.12 (bufsize 16384) answered 'show cli level ' + 16366 bytes + LF
    conn = Conn()
    assert conn.send(b"show cli level " + b"a" * 16366 + b"\n") == b"admin\n\n"
    conn = Conn()
    assert conn.send(b"show cli level " + b"a" * 16367 + b"\n") == b""
    assert conn.closed


def test_binary_junk_gets_the_usage_text_not_a_traceback() -> None:
    conn = Conn()
    out = conn.send(b"\xff\xfe\x80 \x00\x01junk\n")
    assert out.startswith(b"Unknown command, but maybe one of the following ones")
    assert out.endswith(b"  quit                                    : disconnect\n\n")


def test_idle_connection_times_out() -> None:
    conn = Conn()
    conn.send(b"prompt\n")
    conn.clock.advance(IDLE_TIMEOUT - 1)
    conn.send(b"show cli level\n")
    conn.clock.advance(IDLE_TIMEOUT - 1)
    assert not conn.closed
    conn.clock.advance(1)
    assert conn.closed


def test_the_socket_level_bounds_the_session() -> None:
    conn = Conn(level="user")
    assert conn.send(b"show cache;show cli level\n") == b"Permission denied\n\nuser\n\n"


# --- socket files -----------------------------------------------------------------------------


def _origin() -> Origin:
    return Origin("/etc/stack.ini", 3, "global", "stats socket")


def test_service_listens_with_mode_and_level(tmp_path: Path) -> None:
    reactor = MemoryReactorClock()
    api = RuntimeApi()
    sockets = [
        StatsSocket(str(tmp_path / "a.sock"), 0o600, "admin", _origin()),
        StatsSocket(str(tmp_path / "u.sock"), None, "user", _origin()),
    ]
    service = RuntimeService(api, sockets, reactor, bufsize=4096)
    service.privilegedStartService()
    (a_path, a_factory, _, a_mode, _), (u_path, u_factory, _, u_mode, _) = reactor.unixServers
    assert (a_path, a_factory.level, a_mode) == (sockets[0].path, "admin", 0o600)
    umask = os.umask(0)
    os.umask(umask)
    assert (u_path, u_factory.level, u_mode) == (sockets[1].path, "user", 0o777 & ~umask)
    assert a_factory.api is api and a_factory.bufsize == 4096


def test_stale_socket_file_is_removed(tmp_path: Path) -> None:
    path = str(tmp_path / "stale.sock")
    s = socket.socket(socket.AF_UNIX)
    s.bind(path)
    s.close()  # the file stays, nothing listens
    prepare_path(path)
    assert not os.path.exists(path)


def test_a_live_socket_is_not_taken_over(tmp_path: Path) -> None:
    path = str(tmp_path / "live.sock")
    s = socket.socket(socket.AF_UNIX)
    s.bind(path)
    s.listen(1)
    try:
        with pytest.raises(SocketBusy, match="in use"):
            prepare_path(path)
        assert stat.S_ISSOCK(os.stat(path).st_mode)
        reactor = MemoryReactorClock()
        service = RuntimeService(
            RuntimeApi(), [StatsSocket(path, None, "admin", _origin())], reactor
        )
        with pytest.raises(SystemExit, match=r"/etc/stack.ini:3: .*cannot listen on .*in use"):
            service.privilegedStartService()
    finally:
        s.close()


def test_a_regular_file_is_not_removed(tmp_path: Path) -> None:
    path = tmp_path / "file.sock"
    path.write_text("precious")
    with pytest.raises(SocketBusy, match="not a socket"):
        prepare_path(str(path))
    assert path.read_text() == "precious"
