"""The server processes scripts/bench and scripts/cache-tests start, in one place.

Both scripts start servers (stack under twistd, HAProxy, Apache, nginx, node) on loopback, each
in its own session and logging to a file, wait for them to listen, and must never leave one
behind: each is stopped by the pid it was started with (never by name), SIGTERMs (and Ctrl-C)
are turned into an orderly unwinding, and a server gets SIGKILLed should its script die without
cleaning up (kill -9). Standard library only, like the scripts; they find it on ``sys.path``.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

ROOT = Path(__file__).resolve().parent.parent
PR_SET_PDEATHSIG = 1


class RunError(Exception):
    """Something could not run (not a result): reported, and the exit status is 1."""


def _die_with_parent() -> None:
    """In the child before exec: get SIGKILLed if the script dies without cleaning up (kill -9)."""
    with contextlib.suppress(Exception):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL))


@dataclass
class Server:
    """A server a script started, in the foreground: ``pid`` is the server itself (``taskset``
    execs it)."""

    label: str
    popen: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log.read_text(errors="replace").splitlines()[-lines:]
        except OSError:
            return "    (no log)"
        return "\n".join("    " + line for line in text) or "    (empty log)"

    def check_alive(self) -> None:
        if self.popen.poll() is not None:
            raise RunError(
                f"{self.label} exited with status {self.popen.returncode}; its output:\n"
                f"{self.log_tail()}"
            )


def spawn(
    argv: Sequence[str], log: Path, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """``argv`` in its own session, stdout and stderr to ``log``, killed if we die."""
    with log.open("wb") as out:
        return subprocess.Popen(
            list(argv),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,  # Ctrl-C reaches only the script, which stops its servers
            preexec_fn=_die_with_parent,
        )


def stop(*servers: Server, timeout: float = 10.0) -> None:
    """SIGTERM to each pid we started, in this order; SIGKILL to any still there ``timeout``
    seconds later (one deadline for them all)."""
    for server in servers:
        if server.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(server.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for server in servers:
        try:
            server.popen.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.kill(server.pid, signal.SIGKILL)
            server.popen.wait()


@contextlib.contextmanager
def signals_as_interrupt() -> Iterator[None]:
    """SIGTERM/SIGHUP unwind like Ctrl-C, so every server is stopped in every case."""

    def handler(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def free_ports(count: int) -> list[int]:
    """Ports the kernel just handed out on 127.0.0.1 (all held at once, so distinct)."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def accepts(port: int) -> Callable[[], bool]:
    def check() -> bool:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            return False

    return check


def wait_until(server: Server, ready: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    """Poll ``ready`` until it holds, failing early if ``server`` died; ``what`` says what is
    wrong if it never does."""
    deadline = time.monotonic() + timeout
    while not ready():
        server.check_alive()
        if time.monotonic() > deadline:
            raise RunError(
                f"{server.label} (pid {server.pid}): {what} after {timeout:.0f} s; its output:\n"
                f"{server.log_tail()}"
            )
        time.sleep(0.1)


def wait_listening(server: Server, port: int, timeout: float = 30.0) -> None:
    """Poll-connect until ``port`` accepts, failing early if ``server`` died."""
    wait_until(server, accepts(port), f"not listening on 127.0.0.1:{port}", timeout)


def default_twistd() -> str:
    """The twistd that runs stack: beside this interpreter, else in the project's virtualenv
    ($STACK_VENV, the active $VIRTUAL_ENV, .venv as scripts/run makes it), else on $PATH.

    The scripts themselves need only the standard library, so any python3 can run them.
    """
    candidates = [Path(sys.executable).parent]
    candidates += [
        Path(v) / "bin" for v in (os.environ.get("STACK_VENV"), os.environ.get("VIRTUAL_ENV")) if v
    ]
    candidates.append(ROOT / ".venv" / "bin")
    for directory in candidates:
        if os.access(directory / "twistd", os.X_OK):
            return str(directory / "twistd")
    return shutil.which("twistd") or "twistd"


def add_twistd_option(parser: argparse.ArgumentParser) -> None:
    """``--twistd``, the twistd that runs stack (default: default_twistd())."""
    parser.add_argument(
        "--twistd", default=default_twistd(), help="twistd to run stack (default: beside python)"
    )


def twistd_missing(twistd: str) -> str | None:
    """Why stack cannot be started with ``twistd`` (None: it can)."""
    if shutil.which(twistd):
        return None
    return (
        f"twistd not found ({twistd}): set STACK_VENV to the virtualenv with stack installed"
        " (scripts/run makes .venv), or pass --twistd"
    )
