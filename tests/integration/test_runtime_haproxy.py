"""The balancer's runtime API against the real HAProxy 2.6, byte for byte.

One config, rendered for ``/usr/sbin/haproxy`` and for ``twistd stack``, each with a ``stats
socket`` in the test's directory. The same commands go to both sockets, in the same order,
and the answers must be equal once what must differ is normalised: the seconds since the
last change in ``show servers state`` (the two processes did not start in the same second)
and, in ``show table``, the entries' addresses and the milliseconds left before expiry.
The log lines both write for the state changes are compared too. Then seed 003: a
``tomcats`` backend sticking on the JSESSIONID cookie its servers set, the same requests to
both, and ``show table tomcats`` must list the same entries.
"""

from __future__ import annotations

import json
import re
import shutil
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from conftest import require_system, wait_for
from haproxy_run import HAPROXY, Proc, exchange, free_port, start_haproxy, start_stack
from origin import Origin

SECTIONS = [
    ("frontend fe", ["bind 127.0.0.1:{port_be}", "default_backend be"]),
    ("frontend ft", ["bind 127.0.0.1:{port_tc}", "default_backend tomcats"]),
    (
        "backend be",
        [
            "balance roundrobin",
            "server s1 127.0.0.1:{o1} weight 3",
            "server s2 127.0.0.1:{o2}",
            "server s3 127.0.0.1:{dead} disabled check inter 1s",
            "server s4 127.0.0.1:{o2} disabled",
        ],
    ),
    ("backend bs", ["balance static-rr", "server a 127.0.0.1:{o1} weight 5"]),
    (
        "backend tomcats",
        [
            "balance roundrobin",
            "stick-table type string len 32 size 30k expire 60m",
            "stick store-response res.cook(JSESSIONID)",
            "stick on req.cook(JSESSIONID)",
            "server t1 127.0.0.1:{o1}",
            "server t2 127.0.0.1:{o2}",
        ],
    ),
]
DEFAULTS = ["mode http", "log global", "timeout connect 2s", "timeout client 10s"]
DEFAULTS += ["timeout server 5s"]
_TWO_WORD = ("timeout", "stick", "option")


def haproxy_cfg(sock: Path, values: dict[str, int]) -> str:
    out = [
        "global",
        f"    stats socket {sock} level admin",
        "    log stdout format raw local0 info",
    ]
    out += ["", "defaults"] + [f"    {d}" for d in DEFAULTS]
    for header, lines in SECTIONS:
        out += ["", header] + [f"    {line.format(**values)}" for line in lines]
    return "\n".join(out) + "\n"


def _ini(line: str) -> str:
    words = line.split(" ")
    n = 2 if words[0] in _TWO_WORD or words[0] == "server" else 1
    return f"{' '.join(words[:n])} = {' '.join(words[n:])}"


def stack_ini(sock: Path, values: dict[str, int]) -> str:
    out = ["[global]", f"stats socket = {sock} level admin", "log = stdout local0 info"]
    out += ["", "[defaults]"] + [_ini(d) for d in DEFAULTS]
    for header, lines in SECTIONS:
        out += ["", f"[{header}]"] + [_ini(line.format(**values)) for line in lines]
    return "\n".join(out) + "\n"


def ask(sock: Path, line: str) -> str:
    """One command line on a fresh connection, read until the proxy closes it."""
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(5)
    s.connect(str(sock))
    s.sendall(line.encode() + b"\n")
    out = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        out += chunk
    s.close()
    return out.decode("latin-1")


_STATE_LINE = re.compile(r"^(\d+ \S+ \d+ \S+ \S+ \d+ \d+ \d+ \d+) \d+ ", re.M)
_PTR = re.compile(r"^0x[0-9a-f]+:", re.M)
_EXP = re.compile(r" exp=(\d+)")
# a server or backend state line at the end of a log line, whatever the prefix
_LOG_LINE = re.compile(
    r"((?:Backup )?Server \S+/\S+ .*?\.|backend \S+ has no server available!)$", re.M
)


def normalise(answer: str, expiries: list[int]) -> str:
    """Seconds since the last change, entry addresses and expiry times out."""
    answer = _STATE_LINE.sub(r"\1 T ", answer)
    answer = _PTR.sub("PTR:", answer)

    def exp(m: re.Match[str]) -> str:
        expiries.append(int(m.group(1)))
        return " exp=E"

    return _EXP.sub(exp, answer)


COMMANDS = [
    "show backend",
    "show servers state",
    "show servers state be",
    "show servers state #4",
    "show servers state nope",
    "get weight be/s1",
    "get weight be/#2",
    "get weight #4/s1",
    "get weight be",
    "get weight nope/s1",
    "get weight be/zz",
    "set weight be/s1 50%",
    "get weight be/s1",
    "set weight bs/a 50%",
    "set weight bs/a 0%",
    "set weight bs/a 2",
    "set weight bs/a 5",
    "set weight be/s1 300",
    "set weight be/s1 -1%",
    "set weight be/s1",
    "set server be/s1 weight 1000%",
    "get weight be/s1",
    "set server be/s1 weight 3",
    "disable server be/s2",
    "show servers state be",
    "enable server be/s2",
    "show servers state be",
    "set server be/s2 state drain",
    "show servers state be",
    "set server be/s2 state maint",
    "show servers state be",
    "set server be/s2 state drain",
    "set server be/s2 state ready",
    "show servers state be",
    "set server be/s2 health stopping",
    "show servers state be",
    "set server be/s2 health down",
    "show servers state be",
    "set server be/s2 health up",
    "show servers state be",
    "enable server be/#4",
    "show servers state be",
    "disable server be/s4",
    "set server be/s1 state maint",
    "set server be/s2 state maint",
    "set server be/s1 state ready",
    "set server be/s2 state ready",
    "disable health be/s2",
    "enable health be/s2",
    "disable health be/s3",
    "show servers state be",
    "enable health be/s3",
    "show servers state be",
    "set server be/s1 health bad",
    "set server be/s1 state bad",
    "set server be/s1 foo",
    "set server be/s1",
    "set server be",
    "disable server be/",
    "disable server /s1",
    "enable server be/s9",
    "enable server nope/s1",
    "operator; disable server be/s1",
    "user; show servers state bs; get weight bs/a; show backend; set weight bs/a 0",
    "show table",
    "show table nope",
    "show table tomcats foo",
    "show table tomcats data.gpc0 eq 1",
    "show table tomcats data.nope eq 1",
    "show table tomcats data.server_id is 1",
    "show table tomcats data.server_id eq x",
    "show table tomcats key",
    "set table tomcats",
    "clear table",
    "disable server be/s1; get weight be/s1; enable server be/s1",
]


class Pair:
    def __init__(self, tmp_path: Path, o1: Origin, o2: Origin) -> None:
        servers = {"o1": o1.port, "o2": o2.port, "dead": free_port()}
        # the same servers; each process its own listening ports
        self.hvalues = {"port_be": free_port(), "port_tc": free_port(), **servers}
        self.svalues = {"port_be": free_port(), "port_tc": free_port(), **servers}
        hdir, sdir = tmp_path / "h", tmp_path / "s"
        hdir.mkdir()
        sdir.mkdir()
        self.hsock, self.ssock = hdir / "h.sock", sdir / "s.sock"
        self.haproxy: Proc = start_haproxy(
            haproxy_cfg(self.hsock, self.hvalues), self.hvalues["port_be"], hdir
        )
        self.stack: Proc = start_stack(
            stack_ini(self.ssock, self.svalues), self.svalues["port_be"], sdir
        )
        self.sdir = sdir
        assert wait_for(lambda: self.ssock.exists() and self.hsock.exists())

    def stop(self) -> None:
        self.haproxy.stop()
        self.stack.stop()

    def both(self, line: str) -> tuple[str, str, list[int], list[int]]:
        hexp: list[int] = []
        sexp: list[int] = []
        h = normalise(ask(self.hsock, line), hexp)
        s = normalise(ask(self.ssock, line), sexp)
        return h, s, hexp, sexp

    @staticmethod
    def log_lines(text: str) -> list[str]:
        return [m.group(1) for m in _LOG_LINE.finditer(text)]


@pytest.fixture
def pair(tmp_path: Path, origins) -> Iterator[Pair]:  # type: ignore[no-untyped-def]
    if not shutil.which(HAPROXY) and not Path(HAPROXY).exists():
        require_system("haproxy (Debian package) is not installed")
    p = Pair(tmp_path, origins("o1"), origins("o2"))
    yield p
    p.stop()


def test_every_command_answers_as_haproxy(pair: Pair) -> None:
    for line in COMMANDS:
        h, s, _, _ = pair.both(line)
        assert s == h, f"{line!r}:\nhaproxy: {h!r}\nstack:   {s!r}"
    # the state changes were logged alike (HAProxy's raw stdout log, stack's log target)
    time.sleep(0.3)
    # haproxy -db: the raw log lines, and its stderr copies, which start with "[WARNING]"
    htext = "\n".join(
        line for line in pair.haproxy.log_text().splitlines() if not line.startswith("[")
    )
    # stack: its stdout log target, which twistd files as [stdout#info]
    stext = "\n".join(
        line.split("[stdout#info] ", 1)[1]
        for line in pair.stack.log_text().splitlines()
        if "[stdout#info] " in line
    )
    hlines, slines = pair.log_lines(htext), pair.log_lines(stext)
    assert len(hlines) >= 15
    assert slines == hlines


def test_seed_003_show_table_tomcats(pair: Pair) -> None:
    """Requests through the tomcats backend, whose servers set JSESSIONID; then the stick
    table of both proxies lists the same sessions on the same servers."""
    sessions = [
        "04939656BF230A8B1A26C70E996AEC86",
        "58B7757A43F3F765B0F8D611552C5C9A",
        "6BB161FC7E591D3A190CE929F841558D",
        "7CFBC91693588E9E83500281BA8FFC3D",
        "97E4D9167B2CA59D2723E7E9D9EB44C1",
    ]
    served: dict[str, list[str]] = {"haproxy": [], "stack": []}
    hport, sport = pair.hvalues["port_tc"], pair.svalues["port_tc"]
    for sid in sessions:
        hdrs = quote(json.dumps({"Set-Cookie": f"JSESSIONID={sid}; Path=/"}))
        for name, p in (("haproxy", hport), ("stack", sport)):
            r = exchange(p, "GET", f"/login?hdrs={hdrs}", [])
            served[name].append(r.header("X-Served-By") or "")
            again = exchange(p, "GET", "/app", [("Cookie", f"JSESSIONID={sid}")])
            assert again.header("X-Served-By") == served[name][-1]
    assert served["stack"] == served["haproxy"]
    h, s, hexp, sexp = pair.both("show table tomcats")
    assert s == h
    assert h.count("\n") == len(sessions) + 2
    for value in (*hexp, *sexp):
        assert 3_590_000 <= value <= 3_600_000
    # set, show and clear one entry on both
    for line in (
        "set table tomcats key NEWSESSION data.server_id 2",
        "show table tomcats key NEWSESSION",
        f"show table tomcats key {sessions[0]}",
        "show table tomcats data.server_id eq 2",
        "show table tomcats data.server_id gt 5",
        f"clear table tomcats key {sessions[1]}",
        "clear table tomcats data.server_id eq 1",
        "show table tomcats",
        "show table",
        "clear table tomcats",
        "show table tomcats",
    ):
        h, s, _, _ = pair.both(line)
        assert s == h, f"{line!r}:\nhaproxy: {h!r}\nstack:   {s!r}"
