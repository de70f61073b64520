"""The edge cache end to end: ``twistd -n stack`` with the demo's cacheable /static/ assets
behind the balancer, the cache on disk across restarts, and purges through the runtime API's
unix socket as ``socat`` would send them."""

from __future__ import annotations

import socket
import ssl
from pathlib import Path

import pytest
from conftest import Stack, free_port, wait_for
from test_edge import Run, https

pytestmark = pytest.mark.integration


def config(tmp_path: Path, https_port: int, balancer_port: int, demo_port: int) -> str:
    return f"""\
[global]
state-dir = {tmp_path / "state"}
stats socket = {tmp_path / "admin.sock"} level admin

[defaults]
mode = http
timeout connect = 2s
timeout client = 10s
timeout server = 10s

[edge www]
bind = 127.0.0.1:{https_port}
server-name = 127.0.0.1
certificate = auto
proxy-pass = / web
cache = /static/

[frontend web]
bind = 127.0.0.1:{balancer_port}
default_backend = site

[backend site]
server s1 = 127.0.0.1:{demo_port}

[demo s1]
app = site
bind = 127.0.0.1:{demo_port}
"""


class Cached:
    def __init__(self, run_stack: Run, tmp_path: Path) -> None:
        self.run_stack = run_stack
        self.tmp_path = tmp_path
        self.port = free_port()
        self.ini = config(tmp_path, self.port, free_port(), free_port())
        self.stack: Stack | None = None

    def start(self) -> Stack:
        """Start, and wait for the store's index (requests before it are not cached)."""
        stack = self.stack = self.run_stack(self.ini, self.port, ("demo", "balancer", "edge"))
        assert wait_for(lambda: " stored responses (" in stack.log_text())
        return stack

    def stop(self) -> None:
        """Stop, and drop the log, so the next start's log lines are its own."""
        assert self.stack is not None
        self.stack.proc.terminate()
        self.stack.proc.wait(10)
        self.stack.log.unlink(missing_ok=True)

    def get(self, path: str) -> tuple[int, str, bytes]:
        ctx = ssl.create_default_context(cafile=str(self.tmp_path / "state" / "tls" / "ca.pem"))
        response, body, conn = https(self.port, path, ctx)
        conn.close()
        return response.status, response.getheader("Cache-Status") or "", body

    def command(self, line: str) -> str:
        with socket.socket(socket.AF_UNIX) as s:
            s.connect(str(self.tmp_path / "admin.sock"))
            s.sendall(line.encode() + b"\n")
            out = b""
            while chunk := s.recv(65536):
                out += chunk
        return out.decode()

    def url(self, path: str) -> str:
        return f"https://127.0.0.1:{self.port}{path}"


def test_stored_responses_survive_a_restart(run_stack: Run, tmp_path: Path) -> None:
    cached = Cached(run_stack, tmp_path)
    cached.start()
    status, cache_status, body = cached.get("/static/a.css")
    assert (status, cache_status) == (200, "stack; fwd=miss; stored")
    assert cached.get("/static/a.css")[1].startswith("stack; hit")
    assert cached.get("/other")[1] == ""  # outside the cached prefix: not the cache's
    cached.stop()
    assert "1 stored responses" in cached.start().log_text()
    status, cache_status, again = cached.get("/static/a.css")
    assert cache_status.startswith("stack; hit") and again == body


def test_purge_by_url_and_by_prefix(run_stack: Run, tmp_path: Path) -> None:
    cached = Cached(run_stack, tmp_path)
    cached.start()
    for path in ("/static/a.css", "/static/b.css", "/static/img/c.png"):
        cached.get(path)
        assert cached.get(path)[1].startswith("stack; hit")
    assert "entries=3 " in cached.command("show cache")
    assert cached.command(f"purge cache {cached.url('/static/a.css')}") == (
        "1 stored response removed.\n\n"
    )
    assert cached.get("/static/a.css")[1] == "stack; fwd=miss; stored"
    assert cached.get("/static/b.css")[1].startswith("stack; hit")
    answer = cached.command(f"purge cache prefix {cached.url('/static/')}")
    assert answer == "3 stored responses removed.\n\n"
    assert cached.get("/static/img/c.png")[1] == "stack; fwd=miss; stored"
    assert cached.command("purge cache /static/a.css").startswith("Usage: purge cache")


def test_a_corrupt_entry_is_dropped_at_start(run_stack: Run, tmp_path: Path) -> None:
    cached = Cached(run_stack, tmp_path)
    cached.start()
    cached.get("/static/a.css")
    cached.stop()
    (body_file,) = (tmp_path / "state" / "cache" / "www").glob("*/*.body")
    data = bytearray(body_file.read_bytes())
    data[10] ^= 0xFF
    body_file.write_bytes(bytes(data))
    stack = cached.start()
    assert "0 stored responses" in stack.log_text()
    assert body_file.name in stack.log_text()
    assert cached.get("/static/a.css")[1] == "stack; fwd=miss; stored"
