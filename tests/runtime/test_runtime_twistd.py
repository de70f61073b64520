"""End to end: ``twistd -n stack`` with ``stats socket`` lines, spoken to as socat would."""

from __future__ import annotations

import os
import signal
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

TWISTD = str(Path(sys.executable).parent / "twistd")


def _free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = int(s.getsockname()[1])
    s.close()
    return port


def _ask(path: Path, data: bytes, *, half_close: bool = True) -> bytes:
    """What ``printf DATA | socat stdio unix-connect:PATH`` prints."""
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(5)
        s.connect(str(path))
        s.sendall(data)
        if half_close:
            s.shutdown(socket.SHUT_WR)
        out = b""
        while chunk := s.recv(65536):
            out += chunk
        return out


def _start(config: Path, cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [TWISTD, "-n", "--pidfile=", "--logfile", str(cwd / "log"), "stack", "-c", str(config)],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], Path]]:
    conf = tmp_path / "conf"
    conf.mkdir()
    config = conf / "stack.ini"
    config.write_text(
        "[global]\n"
        "stats socket = admin.sock mode 600 level admin expose-fd listeners\n"
        "               user.sock level user\n"
        "\n"
        "[demo site1]\n"
        "app = site\n"
        f"bind = 127.0.0.1:{_free_port()}\n"
    )
    proc = _start(config, tmp_path)  # run elsewhere: the paths are the config file's
    admin = conf / "admin.sock"
    deadline = time.monotonic() + 15
    while not (admin.exists() and (conf / "user.sock").exists()):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            out = proc.communicate()[0]
            log = (tmp_path / "log").read_text() if (tmp_path / "log").exists() else ""
            pytest.fail(f"no stats socket; twistd exited {proc.returncode}:\n{out}\n{log}")
        time.sleep(0.05)
    try:
        yield proc, conf
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(10)


def test_stats_socket_end_to_end(stack: tuple[subprocess.Popen[str], Path]) -> None:
    proc, conf = stack
    admin, user = conf / "admin.sock", conf / "user.sock"
    assert stat.S_IMODE(os.stat(admin).st_mode) == 0o600
    # echo "show cli level" | socat stdio unix-connect:admin.sock
    assert _ask(admin, b"show cli level\n") == b"admin\n\n"
    assert _ask(user, b"show cli level;operator\n") == b"user\n\nPermission denied\n\n"
    help_text = _ask(admin, b"help\n").decode()
    assert help_text.startswith("The following commands are valid at this level:\n")
    assert help_text.endswith("  quit                                    : disconnect\n\n")
    # interactive: the connection stays until quit
    assert _ask(admin, b"prompt\nshow cli level\nquit\n", half_close=False) == (b"\n> admin\n\n> ")
    # a second stack on the same config does not steal the live sockets
    second = subprocess.run(
        [TWISTD, "-n", "--pidfile=", "stack", "-c", str(conf / "stack.ini")],
        cwd=conf.parent,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert second.returncode != 0
    assert "in use" in second.stderr + second.stdout
    assert _ask(admin, b"show cli level\n") == b"admin\n\n"
    # stopping removes the socket files
    proc.send_signal(signal.SIGTERM)
    proc.wait(10)
    assert not admin.exists() and not user.exists()
