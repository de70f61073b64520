"""The master's runtime API with ``workers = N`` against HAProxy 2.6's master CLI.

HAProxy in master-worker mode (``-W -S master.sock``) and ``twistd stack`` with ``workers = 2``
are asked the same master-CLI commands: ``show proc`` must have HAProxy's layout (the header
byte for byte, every column where HAProxy puts it, the same section lines), and the ``@``
prefixes the same answers, errors included. Only what must differ is left out: pids, uptimes,
the version string, and how many workers run.
"""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import require_system, wait_for
from haproxy_run import HAPROXY, Proc, free_port, start_stack

HAPROXY_CFG = """\
global
    nbthread 1
    stats socket {admin} level admin

defaults
    mode http
    timeout connect 2s
    timeout client 10s
    timeout server 10s

frontend web
    bind 127.0.0.1:{port}
    default_backend site

backend site
    server s1 127.0.0.1:{origin}
"""

STACK_INI = """\
[global]
workers = 2
stats socket = {sock} level admin

[defaults]
mode = http
timeout connect = 2s
timeout client = 10s
timeout server = 10s

[frontend web]
bind = 127.0.0.1:{port}
default_backend = site

[backend site]
server s1 = 127.0.0.1:{origin}
"""


def ask(path: Path, line: str) -> str:
    """test_runtime_haproxy.ask, but half-closed: HAProxy's master CLI answers only then."""
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(5)
        s.connect(str(path))
        s.sendall(line.encode() + b"\n")
        s.shutdown(socket.SHUT_WR)
        out = b""
        while chunk := s.recv(65536):
            out += chunk
    return out.decode()


class Pair:
    def __init__(self, tmp_path: Path) -> None:
        origin = free_port()  # nothing listens: the commands never reach a server
        hdir, sdir = tmp_path / "haproxy", tmp_path / "stack"
        hdir.mkdir()
        sdir.mkdir()
        self.hsock, self.ssock = hdir / "master.sock", sdir / "api.sock"
        hport, sport = free_port(), free_port()
        cfg = hdir / "haproxy.cfg"
        admin = hdir / "admin.sock"  # as the operator's file has one (the proxies' ids count it)
        cfg.write_text(HAPROXY_CFG.format(port=hport, origin=origin, admin=admin))
        self.log = hdir / "haproxy.log"
        with self.log.open("w") as out:
            self.haproxy = subprocess.Popen(
                [HAPROXY, "-W", "-S", str(self.hsock), "-db", "-f", str(cfg)],
                cwd=hdir,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.stack: Proc | None = None
        self.stack = start_stack(
            STACK_INI.format(sock=self.ssock, port=sport, origin=origin), sport, sdir
        )
        assert wait_for(lambda: _answers(self.hsock, "@1 show cli level"), timeout=15), (
            self.log.read_text()
        )
        for worker in ("@1", "@2"):
            assert wait_for(lambda w=worker: _answers(self.ssock, f"{w} show cli level"), 15), (
                self.stack.log_text()
            )

    def both(self, line: str) -> tuple[str, str]:
        return ask(self.hsock, line), ask(self.ssock, line)

    def stop(self) -> None:
        if self.stack is not None:
            self.stack.stop()
        if self.haproxy.poll() is None:
            self.haproxy.terminate()  # the master, by its pid: it stops its worker
            try:
                self.haproxy.wait(10)
            except subprocess.TimeoutExpired:
                self.haproxy.kill()
                self.haproxy.wait()


def _answers(path: Path, line: str) -> bool:
    try:
        return ask(path, line) == "admin\n\n"
    except OSError:
        return False


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[Pair]:
    if not shutil.which(HAPROXY) and not Path(HAPROXY).exists():
        require_system("haproxy (Debian package) is not installed")
    p = Pair(tmp_path)
    yield p
    p.stop()


_ROW = re.compile(
    r"(\d+) +(master|worker) +(\d+(?: \[failed: \d+\])?) +(\d+d\d\dh\d\dm\d\ds) +(\S+)"
)


def _columns(line: str) -> list[int]:
    """Where each field of a ``show proc`` row starts."""
    match = _ROW.fullmatch(line.rstrip(" "))
    assert match, f"not a show proc row: {line!r}"
    return [match.start(i) for i in range(1, 6)]


def test_show_proc_has_haproxys_layout(pair: Pair) -> None:
    haproxy, stack = (answer.split("\n") for answer in pair.both("show proc"))
    assert stack[0] == haproxy[0]  # the header, trailing spaces included
    assert _columns(stack[1]) == _columns(haproxy[1])  # the master
    assert _ROW.fullmatch(stack[1].rstrip(" ")).group(3) == "0 [failed: 0]"  # type: ignore[union-attr]
    assert stack[2] == haproxy[2] == "# workers"
    workers = [line for line in stack[3:] if line and not line.startswith("#")]
    assert len(workers) == 2
    assert _columns(workers[0]) == _columns(haproxy[3])
    assert stack[3 + len(workers) :] == haproxy[4:] == ["# programs", "", ""]


@pytest.mark.parametrize(
    "line",
    [
        "@9 show info",  # no such relative pid
        "@x show info",
        "@!1 show info",  # no worker has pid 1
        "@1 show cli level",
        "@1 operator; @1 show cli level",  # each @ command is a session of its own
        "@master show cli level",
        "@1",  # a prefix alone
        "@1 show stat typed desc up",  # any three words are a filter: no such proxy
        "@1 show stat domain dns",
        "@1 show stat 99 -1 -1",  # no such proxy: the header alone
        "@1 show servers state nosuch",
    ],
)
def test_prefixes_answer_as_haproxys_master_cli(pair: Pair, line: str) -> None:
    haproxy, stack = pair.both(line)
    assert stack == haproxy, f"{line!r}:\nhaproxy: {haproxy!r}\nstack:   {stack!r}"


def test_at_1_reaches_a_worker_with_haproxys_info(pair: Pair) -> None:
    haproxy, stack = pair.both("@1 show info")
    assert stack.split("\n")[0] == haproxy.split("\n")[0] == "Name: HAProxy"
    hnames = [line.split(":")[0] for line in haproxy.splitlines() if line]
    snames = [line.split(":")[0] for line in stack.splitlines() if line]
    assert snames == hnames
