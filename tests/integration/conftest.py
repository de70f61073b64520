"""Fixtures that run ``twistd -n stack`` as a subprocess on loopback."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from origin import KillableOrigin, Origin
from system import require_system as require_system  # the integration tests import it here

TWISTD = str(Path(sys.executable).parent / "twistd")
ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(port: int, proc: subprocess.Popen, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            out = proc.stdout.read() if proc.stdout else ""
            raise RuntimeError(f"twistd exited {proc.returncode}:\n{out}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"port {port} never opened")


class Stack:
    def __init__(self, proc: subprocess.Popen, log: Path, port: int) -> None:
        self.proc = proc
        self.log = log
        self.port = port

    def log_text(self) -> str:
        return self.log.read_text() if self.log.exists() else ""


@pytest.fixture
def origins() -> Iterator[Callable[[str], Origin]]:
    made: list[Origin] = []

    def make(name: str) -> Origin:
        o = Origin(name)
        made.append(o)
        return o

    yield make
    for o in made:
        o.close()


@pytest.fixture
def killable() -> Iterator[Callable[..., KillableOrigin]]:
    """Recording origins that can die with their connections (``kill()``)."""
    made: list[KillableOrigin] = []

    def make(name: str, hold: str | None = None) -> KillableOrigin:
        o = KillableOrigin(name, hold)
        made.append(o)
        return o

    yield make
    for o in made:
        o.kill()


def wait_for(condition: Callable[[], object], timeout: float = 5.0) -> bool:
    """Poll ``condition`` until it holds or ``timeout`` seconds pass; its last value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return bool(condition())


@pytest.fixture
def run_stack(tmp_path: Path) -> Iterator[Callable[..., Stack]]:
    procs: list[subprocess.Popen] = []

    def start(ini: str, port: int, tiers: tuple[str, ...] = ("balancer",)) -> Stack:
        cfg = tmp_path / "stack.ini"
        cfg.write_text(ini)
        log = tmp_path / "twistd.log"
        args = [TWISTD, "-n", "--pidfile=", "--logfile", str(log), "stack", "-c", str(cfg)]
        for tier in tiers:
            args += ["--tier", tier]
        proc = subprocess.Popen(
            args, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        procs.append(proc)
        wait_port(port, proc)
        return Stack(proc, log, port)

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def raw_exchange(port: int, data: bytes, timeout: float = 3.0) -> tuple[bytes, bool]:
    """Send ``data``, read until the server closes or goes quiet; (bytes, closed)."""
    s = socket.create_connection(("127.0.0.1", port))
    s.settimeout(timeout)
    s.sendall(data)
    out = b""
    closed = False
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                closed = True
                break
            out += chunk
    except TimeoutError:
        pass
    except ConnectionResetError:
        closed = True
    s.close()
    return out, closed
