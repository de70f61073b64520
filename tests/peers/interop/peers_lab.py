"""A stack node and a real HAProxy 2.6 node replicating one stick table on loopback.

Both route ``/`` to two origins (s1, s2) through ``be_stk`` with ``stick on
req.cook(JSESSIONID)`` and ``stick store-response res.cook(JSESSIONID)``; the table is
``type string len 32`` in a ``peers LB`` section (``lbA`` = HAProxy, ``lbB`` = stack). Each
process is started and stopped by pid (stack as ``twistd -n stack``); the runtime API of each
is reached on a unix socket.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from integration.origin import Origin

HAPROXY = "/usr/sbin/haproxy"
TWISTD = str(Path(sys.executable).parent / "twistd")
ROOT = Path(__file__).resolve().parents[3]


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def cli(path: Path, command: str) -> str:
    """One command on a runtime API unix socket (HAProxy's or stack's)."""
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(5)
    s.connect(str(path))
    s.sendall(command.encode() + b"\n")
    out = b""
    while True:
        data = s.recv(65536)
        if not data:
            break
        out += data
    s.close()
    return out.decode()


def request(port: int, cookie: str | None = None, setcookie: str | None = None) -> str:
    """GET / (optionally sending or having the origin set ``JSESSIONID``): the server name."""
    target = "/"
    if setcookie is not None:
        target += "?hdrs=" + json.dumps({"Set-Cookie": f"JSESSIONID={setcookie}; path=/"})
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    headers = {"Cookie": f"JSESSIONID={cookie}"} if cookie else {}
    c.request("GET", target.replace(" ", "%20"), headers=headers)
    r = c.getresponse()
    r.read()
    c.close()
    assert r.status == 200, r.status
    return r.getheader("X-Served-By") or ""


def wait_for(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def _wait_port(port: int, proc: subprocess.Popen, log: Path, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"exited {proc.returncode}:\n{log.read_text(errors='replace')}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.03)
    raise RuntimeError(f"port {port} never opened:\n{log.read_text(errors='replace')}")


class Node:
    def __init__(self, kind: str, proc: subprocess.Popen, port: int, sock: Path, log: Path):
        self.kind = kind
        self.proc = proc
        self.port = port
        self.sock = sock
        self.log = log

    def cli(self, command: str) -> str:
        return cli(self.sock, command)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()  # by its pid: only the process this test started
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class Lab:
    """The two origins, the ports and the configs; nodes are started on demand."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.s1, self.s2 = Origin("s1"), Origin("s2")
        self.peer_a, self.peer_b = free_port(), free_port()  # lbA = haproxy, lbB = stack
        self.http_a, self.http_b = free_port(), free_port()
        self.nodes: list[Node] = []
        self.runs = 0

    def close(self) -> None:
        for node in self.nodes:
            node.stop()
        self.s1.close()
        self.s2.close()

    def haproxy_cfg(self) -> str:
        return f"""global
    stats socket {self.tmp}/haproxy.sock level admin
    localpeer lbA

defaults
    mode http
    timeout connect 2s
    timeout client 10s
    timeout server 10s

peers LB
    peer lbA 127.0.0.1:{self.peer_a}
    peer lbB 127.0.0.1:{self.peer_b}

frontend fe
    bind 127.0.0.1:{self.http_a}
    default_backend be_stk

backend be_stk
    balance roundrobin
    stick-table type string len 32 size 30k expire 30m peers LB
    stick on req.cook(JSESSIONID)
    stick store-response res.cook(JSESSIONID)
    server s1 127.0.0.1:{self.s1.port}
    server s2 127.0.0.1:{self.s2.port}
"""

    def stack_ini(self, local: str = "lbB") -> str:
        http = self.http_b if local == "lbB" else self.http_a
        return f"""[global]
stats socket = {self.tmp}/stack-{local}.sock level admin
localpeer = {local}

[peers LB]
peer lbA = 127.0.0.1:{self.peer_a}
peer lbB = 127.0.0.1:{self.peer_b}

[defaults]
mode = http
timeout connect = 2s
timeout client = 10s
timeout server = 10s

[frontend fe]
bind = 127.0.0.1:{http}
default_backend = be_stk

[backend be_stk]
balance = roundrobin
stick-table = type string len 32 size 30k expire 30m peers LB
stick on = req.cook(JSESSIONID)
stick store-response = res.cook(JSESSIONID)
server s1 = 127.0.0.1:{self.s1.port}
server s2 = 127.0.0.1:{self.s2.port}
"""

    def start_haproxy(self) -> Node:
        self.runs += 1
        cfg = self.tmp / "haproxy.cfg"
        cfg.write_text(self.haproxy_cfg())
        check = subprocess.run([HAPROXY, "-c", "-f", str(cfg)], capture_output=True, text=True)
        assert check.returncode == 0, check.stdout + check.stderr
        log = self.tmp / f"haproxy-{self.runs}.log"
        with log.open("w") as out:
            proc = subprocess.Popen(
                [HAPROXY, "-db", "-f", str(cfg)], cwd=self.tmp, stdout=out, stderr=subprocess.STDOUT
            )
        _wait_port(self.http_a, proc, log)
        node = Node("haproxy", proc, self.http_a, self.tmp / "haproxy.sock", log)
        self.nodes.append(node)
        return node

    def start_stack(self, local: str = "lbB") -> Node:
        """A stack node as peer ``local`` (lbB; lbA too when two stack nodes replicate)."""
        self.runs += 1
        ini = self.tmp / f"stack-{local}.ini"
        ini.write_text(self.stack_ini(local))
        log = self.tmp / f"stack-{self.runs}.log"
        with log.open("w") as out:
            proc = subprocess.Popen(
                [TWISTD, "-n", "--pidfile=", "stack", "-c", str(ini), "--tier", "balancer"],
                cwd=ROOT,
                env={**os.environ, "PYTHONPATH": str(ROOT)},
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        http = self.http_b if local == "lbB" else self.http_a
        _wait_port(http, proc, log)
        node = Node("stack", proc, http, self.tmp / f"stack-{local}.sock", log)
        self.nodes.append(node)
        return node


def table_lines(node: Node, table: str = "be_stk") -> dict[str, str]:
    """``show table``: key -> the rest of the entry line."""
    out = {}
    for line in node.cli(f"show table {table}").splitlines():
        if ": key=" in line:
            rest = line.split(": key=", 1)[1]
            key, _, data = rest.partition(" ")
            out[key] = data
    return out


def peer_established(node: Node, peer: str) -> bool:
    """Whether ``show peers`` shows an established session with ``peer``."""
    lines = node.cli("show peers").splitlines()
    for i, line in enumerate(lines):
        if f"id={peer}(remote," in line:
            return (
                "last_status=ESTA" in line and "(remote,active)" in line and "st0=7" in lines[i + 2]
            )
    return False


def last_get(node: Node, peer: str) -> int:
    """The id of the last update ``node`` received from ``peer`` (``show peers``)."""
    lines = node.cli("show peers").splitlines()
    start = next(i for i, line in enumerate(lines) if f"id={peer}(remote," in line)
    for line in lines[start:]:
        if "last_get=" in line:
            return int(line.split("last_get=")[1].split()[0])
    return 0


def local_update(node: Node) -> int:
    """The number of ``node``'s last local change of be_stk (``localupdate=`` in ``show
    peers``): what a peer's ``last_get`` reaches once it received everything."""
    out = node.cli("show peers")
    return int(out.split("localupdate=")[1].split()[0])


def received_all(receiver: Node, sender: Node, sender_name: str) -> bool:
    last = local_update(sender)
    return last > 0 and last_get(receiver, sender_name) == last


def section_flags(node: Node) -> int:
    """The section's resync flags from ``show peers`` (0x2: synced)."""
    head = node.cli("show peers").splitlines()[0]
    return int(head.split(" flags=")[1].split()[0], 16)
