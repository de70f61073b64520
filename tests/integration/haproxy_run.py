"""Run the real HAProxy 2.6 and ``twistd -n stack`` side by side from one backend description.

Used by test_haproxy_diff.py. One :class:`Backend` renders both an ``haproxy.cfg`` and the
equivalent stack INI (docs/config.md: key = the directive, value = the rest of the line), so
the two cannot drift. :func:`exchange` sends one raw HTTP/1.1 request and returns the bytes the
client got; :func:`normalise_response` and :func:`normalise_record` reduce what a client got and
what an origin saw to what must be equal: Date is dropped, header names are lower-cased, and the
dates in ``maxidle``/``maxlife`` cookie values (haproxy.md §1.2) are decoded and collected so
the caller compares them with a tolerance instead of byte for byte.
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

HAPROXY = "/usr/sbin/haproxy"
TWISTD = str(Path(sys.executable).parent / "twistd")

DEFAULTS = [
    "mode http",
    "log global",
    "option httplog",
    "timeout connect 2s",
    "timeout client 10s",
    "timeout server 5s",
    "timeout http-request 5s",
]

# Directives whose INI key is their first two words (docs/config.md "The rule").
_TWO_WORD = ("option", "timeout", "stick", "http-check", "http-request", "http-response")


@dataclass
class Server:
    name: str
    target: str  # an origin name, or "dead" for a closed port
    options: str = ""


@dataclass
class Backend:
    """One ``backend be`` in haproxy.cfg words: directive lines and servers."""

    lines: list[str]
    servers: list[Server]
    name: str = "be"

    def haproxy_cfg(self, port: int, addrs: dict[str, str]) -> str:
        body = "\n".join(f"    {line}" for line in self.lines + self._server_lines(addrs))
        defaults = "\n".join(f"    {d}" for d in DEFAULTS)
        return (
            "global\n    log stdout format raw local0 info\n\n"
            f"defaults\n{defaults}\n\n"
            f"frontend fe\n    bind 127.0.0.1:{port}\n    default_backend {self.name}\n\n"
            f"backend {self.name}\n{body}\n"
        )

    def stack_ini(self, port: int, addrs: dict[str, str]) -> str:
        out = ["[global]", "log = stdout local0 info", "", "[defaults]"]
        out += [ini_line(d) for d in DEFAULTS]
        out += ["", "[frontend fe]", f"bind = 127.0.0.1:{port}", f"default_backend = {self.name}"]
        out += ["", f"[backend {self.name}]"]
        out += [ini_line(line) for line in self.lines + self._server_lines(addrs)]
        return "\n".join(out) + "\n"

    def _server_lines(self, addrs: dict[str, str]) -> list[str]:
        return [f"server {s.name} {addrs[s.target]} {s.options}".rstrip() for s in self.servers]


def ini_line(line: str) -> str:
    """``retries 2`` -> ``retries = 2``; ``option redispatch`` -> ``option redispatch = on``."""
    words = line.split(" ")
    n = 2 if words[0] in _TWO_WORD and words[0:2] != ["stick-table"] else 1
    if words[0] == "server":
        n = 2
    key, value = " ".join(words[:n]), " ".join(words[n:])
    if words[0] == "option" and not value:
        value = "on"
    return f"{key} = {value}"


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@dataclass
class Proc:
    """A proxy process this test started: ``haproxy -db`` or ``twistd -n stack``."""

    kind: str
    proc: subprocess.Popen
    port: int
    log: Path

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()  # by its pid: only the process we started
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _wait_port(p: Proc, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if p.proc.poll() is not None:
            raise RuntimeError(f"{p.kind} exited {p.proc.returncode}:\n{p.log_text()}")
        try:
            socket.create_connection(("127.0.0.1", p.port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.03)
    raise RuntimeError(f"{p.kind}: port {p.port} never opened:\n{p.log_text()}")


def start_haproxy(cfg: str, port: int, workdir: Path) -> Proc:
    path = workdir / "haproxy.cfg"
    path.write_text(cfg)
    log = workdir / "haproxy.log"
    check = subprocess.run(
        [HAPROXY, "-c", "-f", str(path)], capture_output=True, text=True, check=False
    )
    if check.returncode != 0:
        raise RuntimeError(f"haproxy -c refused the config:\n{cfg}\n{check.stdout}{check.stderr}")
    with log.open("w") as out:
        proc = subprocess.Popen(
            [HAPROXY, "-db", "-f", str(path)], cwd=workdir, stdout=out, stderr=subprocess.STDOUT
        )
    p = Proc("haproxy", proc, port, log)
    _wait_port(p)
    return p


def start_stack(ini: str, port: int, workdir: Path) -> Proc:
    path = workdir / "stack.ini"
    path.write_text(ini)
    log = workdir / "twistd.log"
    args = [TWISTD, "-n", "--pidfile=", "--logfile", str(log), "stack", "-c", str(path)]
    args += ["--tier", "balancer"]
    with (workdir / "twistd.out").open("w") as out:
        proc = subprocess.Popen(args, cwd=workdir, stdout=out, stderr=subprocess.STDOUT)
    p = Proc("stack", proc, port, log)
    _wait_port(p)
    return p


# ---------------------------------------------------------------------------------------------
# One exchange on the wire


@dataclass
class Response:
    raw: bytes
    elapsed: float
    status_line: str = ""
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""

    def header(self, name: str) -> str | None:
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def all(self, name: str) -> list[str]:
        return [v for k, v in self.headers if k.lower() == name.lower()]


def exchange(
    port: int,
    method: str,
    target: str,
    headers: list[tuple[str, str]],
    body: bytes = b"",
    timeout: float = 10.0,
) -> Response:
    """One request on a fresh connection (``Connection: close``); read until the proxy closes."""
    head = f"{method} {target} HTTP/1.1\r\nHost: lb.test\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in headers)
    if body and not any(k.lower() == "content-length" for k, _ in headers):
        head += f"Content-Length: {len(body)}\r\n"
    head += "Connection: close\r\n\r\n"
    started = time.monotonic()
    s = socket.create_connection(("127.0.0.1", port))
    s.settimeout(timeout)
    s.sendall(head.encode("latin-1") + body)
    out = b""
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            out += chunk
    except (TimeoutError, ConnectionResetError):
        pass
    s.close()
    r = Response(out, time.monotonic() - started)
    top, _, r.body = out.partition(b"\r\n\r\n")
    lines = top.decode("latin-1").split("\r\n")
    r.status_line = lines[0]
    r.headers = [(k, v.strip()) for k, _, v in (ln.partition(":") for ln in lines[1:] if ln)]
    return r


# ---------------------------------------------------------------------------------------------
# Normalisation

_B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_DATE = re.compile(r"\|([A-Za-z0-9+/]{5})(?![A-Za-z0-9+/])")


def encode_date(unix: int) -> str:
    """HAProxy's cookie date: ``(t + 3) >> 2`` as 30 bits, 6 bits per character (s30tob64)."""
    v = ((unix + 3) >> 2) & 0x3FFFFFFF
    return "".join(_B64[(v >> s) & 63] for s in (24, 18, 12, 6, 0))


def decode_date(text: str) -> int:
    v = 0
    for ch in text:
        v = (v << 6) | _B64.index(ch)
    return v << 2


def norm_dates(value: str, dates: list[int]) -> str:
    """Replace each ``|XXXXX`` cookie date by ``|<date>`` and collect its decoded time."""

    def repl(m: re.Match) -> str:
        dates.append(decode_date(m.group(1)))
        return "|<date>"

    return _DATE.sub(repl, value)


def normalise_headers(headers: list[tuple[str, str]], dates: list[int]) -> list[list[str]]:
    return [
        [k.lower(), norm_dates(v, dates) if k.lower() in ("set-cookie", "cookie") else v]
        for k, v in headers
        if k.lower() != "date"
    ]


def normalise_record(record: dict, dates: list[int]) -> dict:
    """What an origin saw (its JSON echo or its recorded request), normalised."""
    out = dict(record)
    out["headers"] = normalise_headers([tuple(h) for h in record["headers"]], dates)
    return out


def normalise_response(r: Response, dates: list[int]) -> dict:
    body: object
    try:
        echo = json.loads(r.body)
        body = normalise_record(echo, dates) if isinstance(echo, dict) else echo
    except ValueError:
        body = r.body.decode("latin-1")
    return {
        "status": r.status_line,
        "headers": normalise_headers(r.headers, dates),
        "body": body,
    }


_LOG = re.compile(
    r"127\.0\.0\.1:\d+ \[[^\]]+\] fe (?P<srv>\S+) (?P<timers>\S+) (?P<status>-?\d+) "
    r"(?P<bytes>\+?\d+) "
    r"\S+ \S+ (?P<term>\S{4}) (?P<conns>\S+) \S+ \"(?P<req>[^\"]*)\""
)


def log_entries(text: str) -> list[tuple[str, str, str, str, str, str]]:
    """(backend/server, status, %B, termination state, retries, request line) per httplog
    line."""
    out = []
    for m in _LOG.finditer(text):
        if m["req"] == "<BADREQ>":  # the readiness probe's empty connection
            continue
        retries = m["conns"].split("/")[-1]
        out.append((m["srv"], m["status"], m["bytes"], m["term"], retries, m["req"]))
    return out
