"""SIGHUP reloads ``twistd -n stack`` in place: new settings apply, the listening sockets and
the open connections stay, stick tables, server states and counters are kept, a broken file
is rejected with its errors logged while the running configuration keeps serving; and no
request fails across 20 reloads under load (wrk)."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from http.client import HTTPConnection
from pathlib import Path

from tests.integration.conftest import Stack, free_port, require_system, wait_for

Run = Callable[..., Stack]


def _ini(port: int, o1: int, o2: int, sock: Path, weight2: int = 1, log: bool = True) -> str:
    # twistd rotates its log file at 1 MB: the load test logs no request lines
    logging = "option httplog = on\nlog = stdout local0 info" if log else ""
    return f"""
[global]
stats socket = {sock} level admin

[defaults]
mode = http
{logging}
timeout connect = 2s
timeout client = 10s
timeout server = 10s
timeout http-keep-alive = 10s

[frontend web]
bind = 127.0.0.1:{port}
default_backend = site

[backend site]
stick-table = type ip size 1k expire 10m
stick on = src
server site1 = 127.0.0.1:{o1}
server site2 = 127.0.0.1:{o2} weight {weight2}

[demo site1]
app = site
bind = 127.0.0.1:{o1}

[demo site2]
app = site
bind = 127.0.0.1:{o2}
"""


def _cli(path: Path, command: str) -> str:
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(5)
        s.connect(str(path))
        s.sendall(command.encode() + b"\n")
        out = b""
        while chunk := s.recv(65536):
            out += chunk
    return out.decode()


def _reload(stack: Stack, before: int) -> None:
    os.kill(stack.proc.pid, signal.SIGHUP)
    assert wait_for(lambda: stack.log_text().count(" applied") > before, timeout=10)


def test_reload_keeps_sockets_connections_and_state(run_stack: Run, tmp_path: Path) -> None:
    port, o1, o2 = free_port(), free_port(), free_port()
    sock = tmp_path / "s.sock"
    stack = run_stack(_ini(port, o1, o2, sock), port, tiers=("demo", "balancer"))
    # a keep-alive connection opened before the reloads
    conn = HTTPConnection("127.0.0.1", port, timeout=5)
    conn.request("GET", "/")
    first = conn.getresponse()
    assert first.status == 200
    first.read()
    assert "key=127.0.0.1" in _cli(sock, "show table site")
    assert _cli(sock, "disable server site/site2") in ("\n", "")
    state_before = _cli(sock, "show servers state site")
    assert " site2 127.0.0.1 0 1 " in state_before or " site2 127.0.0.1 2 1 " in state_before

    config = _config_path(stack)
    config.write_text(_ini(port, o1, o2, sock, weight2=7))
    _reload(stack, 0)
    # the same connection is served by the new generation
    conn.request("GET", "/again")
    again = conn.getresponse()
    assert again.status == 200
    again.read()
    conn.close()
    # the table and the operator's maintenance survived; the new weight applies
    assert "key=127.0.0.1" in _cli(sock, "show table site")
    state = _cli(sock, "show servers state site")
    site2 = next(line for line in state.splitlines() if " site2 " in line).split()
    assert site2[6] == "1"  # srv_admin_state: forced maintenance, kept
    assert site2[7] == "7"  # srv_uweight: the file's new weight

    # a broken file is rejected, the errors are logged, the old configuration serves on
    config.write_text(_ini(port, o1, o2, sock) + "\n[backend broken]\nbalance = nonsense\n")
    os.kill(stack.proc.pid, signal.SIGHUP)
    assert wait_for(lambda: "reload rejected" in stack.log_text())
    assert re.search(r"reload: .*\[backend broken\] balance", stack.log_text())
    probe = HTTPConnection("127.0.0.1", port, timeout=5)
    probe.request("GET", "/")
    assert probe.getresponse().status == 200
    probe.close()


def _config_path(stack: Stack) -> Path:
    for arg in stack.proc.args:  # type: ignore[union-attr]
        if str(arg).endswith(".ini"):
            return Path(arg)
    raise AssertionError("no .ini in the command line")


def test_no_request_fails_during_20_reloads_under_load(run_stack: Run, tmp_path: Path) -> None:
    if shutil.which("wrk") is None:
        require_system("wrk (Debian package wrk) is not installed")
    port, o1, o2 = free_port(), free_port(), free_port()
    sock = tmp_path / "s.sock"
    stack = run_stack(_ini(port, o1, o2, sock, log=False), port, tiers=("demo", "balancer"))
    config = _config_path(stack)
    wrk = subprocess.Popen(
        ["wrk", "-t2", "-c16", "-d12s", f"http://127.0.0.1:{port}/"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        time.sleep(1.0)
        for i in range(20):
            config.write_text(_ini(port, o1, o2, sock, weight2=1 + i % 3, log=False))
            _reload(stack, i)
            time.sleep(0.3)
        out, _ = wrk.communicate(timeout=30)
    finally:
        if wrk.poll() is None:
            wrk.kill()
    assert stack.log_text().count(" applied") == 20
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    assert requests > 1000, out
    assert "Socket errors" not in out, out
    assert "Non-2xx" not in out, out
