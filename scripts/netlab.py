"""Network-namespace lab: hosts on one bridge, packet capture, and keepalived / stack daemons.

Why: the VRRP tier can only be proven against keepalived on a real (virtual) wire, and both the
interop tests and ``scripts/ha-lab`` need the same few primitives. Everything here shells out
to ``ip`` (iproute2) and needs root; nothing touches the host's own interfaces. Every namespace
this module creates is named ``{prefix}...``; ``Lab.close()`` removes exactly those and ends
only the processes the lab started (by pid) plus whatever still runs inside its own fresh
namespaces (necessarily their descendants).

API (small and stable; used by tests/vrrp/interop and scripts/ha_lab.py)::

    with Lab("vt-") as lab:                  # Lab(prefix, directory=None): temp dir lab.dir
        lab.bridge()                         # ns "vt-br" holding bridge br0
        a = lab.host("a", "10.99.0.1/24", "02:00:00:00:00:01", ipv6="fd99::1/64")
        # ns "vt-a": eth0 (veth; peer "p-a" on br0), lo up, accept_dad 0, addresses set.
        a.ns, a.name, a.ipv4, a.mac, a.ipv6, a.link_local   # identity ("/len" stripped)
        a.run(argv, **popen_kwargs) -> Popen     # inside the ns; killed by lab.close()
        a.exec(argv, check=True) -> CompletedProcess[str]   # inside the ns, output captured
        a.ip(*args) -> str                       # `ip -n NS args...`, stdout
        a.holds("10.99.0.100") -> bool           # address configured on a's eth0?
        a.neigh("10.99.0.100") -> "02:.."|None   # a's neighbour (ARP/ND) entry's MAC
        a.poke("10.99.0.100")                    # one UDP datagram: makes a resolve the address
        lab.cut("a"); lab.heal("a")              # detach/reattach p-a from br0, carrier stays up
        cap = Capture(a)                         # capture ARP, VRRP, ICMPv6 on eth0
        cap.snapshot() -> list[Frame]; cap.since(time.time() value) -> list[Frame]
        cap.wait(predicate, timeout) -> Frame    # first match, seen already or arriving
        cap.clear(); cap.close()                 # (cap.frames is the live list)
        ka = Keepalived(a, conf_text, "ka-a")    # keepalived -P in ns a; see Daemon
        st = Stack(a, ini_text, "st-a")          # twistd -n stack -c INI --tier vrrp in ns a

``Frame``: ``time`` (the kernel's receive time on the time.time() clock, so "after I killed
it" is exact), ``data`` (whole Ethernet frame), ``outgoing``
(sent by the capturing host), ``dst``/``src`` (MAC text), ``ethertype``, ``is_arp``,
``is_vrrp``, ``ip_src``, ``vrrp`` (the VRRP message bytes, or None).

``Daemon`` (Keepalived, Stack): config text may contain ``@NOTIFY@`` (path of a notify script
that appends "``<time> <args...>``" to ``notify.log``, keepalived's ``notify`` convention:
"INSTANCE VI_1 MASTER 150") and ``@DIR@`` (the daemon's working directory). Methods:
``start()`` (done by the constructor; again after stop/kill), ``stop(timeout)`` (SIGTERM, waits),
``kill()`` (SIGKILL, silent death; for keepalived also its VRRP child, returning once that
cannot send any more), ``running``, ``log`` (text), ``tail(lines)``, ``dir``,
``notifications()`` -> [(instance, state, priority)], ``notified_at(state, instance=None)``
(time.time() of the latest such notify since the last start), ``state(instance=None)``
(latest since the last start: from the notify log, else from "(NAME) Entering X STATE" log
lines), ``wait_state(state, timeout, instance=None)`` (raises LabError with the log tail on
timeout). A new Daemon whose name exists under ``lab.dir`` starts with a fresh directory.

Environment: ``NETLAB_KEEP=1`` keeps the lab's temporary directory (configs, logs) after close.

``LabError`` (an AssertionError, so a failed wait reads as a test failure) explains failures.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

IP = shutil.which("ip") or "/usr/sbin/ip"
KEEPALIVED = shutil.which("keepalived") or "/usr/sbin/keepalived"
TWISTD = str(Path(sys.executable).parent / "twistd")

ETH_ARP = 0x0806
ETH_IPV4 = 0x0800
ETH_IPV6 = 0x86DD
PROTO_VRRP = 112


class LabError(AssertionError):
    """A lab step failed; the message says which and shows what the tools said."""


def _run(
    argv: Sequence[str], *, check: bool = True, timeout: float = 30
) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout, check=False)
    if check and proc.returncode != 0:
        raise LabError(f"{' '.join(argv)} exited {proc.returncode}: {proc.stderr.strip()}")
    return proc


def _bare(address: str) -> str:
    """'10.99.0.1/24' -> '10.99.0.1' (canonical text)."""
    return str(ipaddress.ip_interface(address).ip)


def _with_length(address: str, default: int) -> str:
    return address if "/" in address else f"{address}/{default}"


def _link_local(mac: str) -> str:
    """The kernel's EUI-64 link-local address for ``mac``."""
    octets = bytes.fromhex(mac.replace(":", ""))
    eui = bytes([octets[0] ^ 0x02]) + octets[1:3] + b"\xff\xfe" + octets[3:]
    return str(ipaddress.IPv6Address(b"\xfe\x80" + bytes(6) + eui))


class Lab:
    """Namespaces named ``{prefix}...`` on one bridge; a context manager that cleans up."""

    def __init__(self, prefix: str, directory: str | Path | None = None) -> None:
        if not re.fullmatch(r"[a-z][a-z0-9-]{0,6}", prefix):
            raise ValueError(f"lab prefix {prefix!r}: 1-7 of [a-z0-9-], starting with a letter")
        self.prefix = prefix
        self._own_dir = directory is None
        self.dir = (
            Path(directory) if directory else Path(tempfile.mkdtemp(prefix=f"netlab-{prefix}"))
        )
        self.dir.mkdir(parents=True, exist_ok=True)
        self.hosts: dict[str, Host] = {}
        self._namespaces: list[str] = []
        self._procs: list[subprocess.Popen[Any]] = []
        self._closers: list[Callable[[], None]] = []
        self.bridge_ns = f"{prefix}br"

    def __enter__(self) -> Lab:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _add_netns(self, name: str) -> None:
        if name in _run([IP, "netns", "list"]).stdout.split():
            self._delete_netns(name)  # left over by an earlier run with our prefix
        _run([IP, "netns", "add", name])
        self._namespaces.append(name)
        _run([IP, "-n", name, "link", "set", "lo", "up"])

    def bridge(self) -> str:
        """Create the bridge namespace with br0 up (no STP, no multicast snooping)."""
        self._add_netns(self.bridge_ns)
        _run(
            [
                IP,
                "-n",
                self.bridge_ns,
                "link",
                "add",
                "br0",
                "type",
                "bridge",
                "stp_state",
                "0",
                "mcast_snooping",
                "0",
            ]
        )
        _run([IP, "-n", self.bridge_ns, "link", "set", "br0", "up"])
        return self.bridge_ns

    def host(self, name: str, ipv4: str, mac: str, ipv6: str | None = None) -> Host:
        """A namespace ``{prefix}{name}`` with eth0 on br0 (peer ``p-{name}``); /24, /64 default."""
        if self.bridge_ns not in self._namespaces:
            self.bridge()
        ns = f"{self.prefix}{name}"
        port = f"p-{name}"
        if len(port) > 15:
            raise ValueError(f"host name {name!r} too long for an interface name")
        self._add_netns(ns)
        _run(
            [
                IP,
                "-n",
                self.bridge_ns,
                "link",
                "add",
                port,
                "type",
                "veth",
                "peer",
                "name",
                "eth0",
                "netns",
                ns,
            ]
        )
        _run([IP, "-n", self.bridge_ns, "link", "set", port, "master", "br0"])
        _run([IP, "-n", self.bridge_ns, "link", "set", port, "up"])
        for key in (
            "net.ipv6.conf.all.accept_dad",
            "net.ipv6.conf.default.accept_dad",
            "net.ipv6.conf.eth0.accept_dad",
        ):
            _run([IP, "netns", "exec", ns, "sysctl", "-qw", f"{key}=0"])
        _run([IP, "-n", ns, "link", "set", "eth0", "address", mac])
        _run([IP, "-n", ns, "link", "set", "eth0", "up"])
        _run([IP, "-n", ns, "addr", "add", _with_length(ipv4, 24), "dev", "eth0"])
        if ipv6:
            _run([IP, "-n", ns, "addr", "add", _with_length(ipv6, 64), "dev", "eth0", "nodad"])
        host = Host(self, name, ns, _bare(ipv4), mac.lower(), _bare(ipv6) if ipv6 else None)
        self.hosts[name] = host
        return host

    def cut(self, name: str) -> None:
        """Silent partition: detach ``p-{name}`` from br0; the host's carrier stays up."""
        _run([IP, "-n", self.bridge_ns, "link", "set", f"p-{name}", "nomaster"])

    def heal(self, name: str) -> None:
        _run([IP, "-n", self.bridge_ns, "link", "set", f"p-{name}", "master", "br0"])

    def _track(self, proc: subprocess.Popen[Any]) -> None:
        self._procs.append(proc)

    def _on_close(self, closer: Callable[[], None]) -> None:
        self._closers.append(closer)

    def close(self) -> None:
        """Stop what the lab started, delete its namespaces and temp dir; never raises."""
        for closer in reversed(self._closers):
            with contextlib.suppress(Exception):
                closer()
        for proc in self._procs:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(5)
        for ns in reversed(self._namespaces):
            with contextlib.suppress(Exception):
                self._delete_netns(ns)
        self._namespaces.clear()
        if self._own_dir and not os.environ.get("NETLAB_KEEP"):
            shutil.rmtree(self.dir, ignore_errors=True)

    @staticmethod
    def _delete_netns(ns: str) -> None:
        # Anything still inside one of our namespaces was started there by our processes.
        pids = _run([IP, "netns", "pids", ns], check=False).stdout.split()
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(pid), signal.SIGKILL)
        _run([IP, "netns", "del", ns], check=False)


class Host:
    """One namespace with eth0 on the lab bridge."""

    def __init__(self, lab: Lab, name: str, ns: str, ipv4: str, mac: str, ipv6: str | None) -> None:
        self.lab = lab
        self.name = name
        self.ns = ns
        self.ipv4 = ipv4
        self.mac = mac
        self.ipv6 = ipv6
        self.link_local = _link_local(mac)

    def __repr__(self) -> str:
        return f"Host({self.ns} {self.ipv4} {self.mac})"

    def run(self, argv: Sequence[str], **popen: Any) -> subprocess.Popen[Any]:
        """Start ``argv`` inside the namespace (``ip netns exec`` execs it: same pid)."""
        proc = subprocess.Popen([IP, "netns", "exec", self.ns, *argv], **popen)
        self.lab._track(proc)
        return proc

    def exec(
        self, argv: Sequence[str], *, check: bool = True, timeout: float = 30
    ) -> subprocess.CompletedProcess[str]:
        return _run([IP, "netns", "exec", self.ns, *argv], check=check, timeout=timeout)

    def ip(self, *args: str, check: bool = True) -> str:
        return _run([IP, "-n", self.ns, *args], check=check).stdout

    def addresses(self) -> list[str]:
        """Addresses on eth0, bare."""
        out = self.ip("-o", "addr", "show", "dev", "eth0")
        return [_bare(m) for m in re.findall(r"\binet6? (\S+)", out)]

    def holds(self, address: str) -> bool:
        return _bare(address) in self.addresses()

    def neigh(self, address: str) -> str | None:
        out = self.ip("neigh", "show", "to", _bare(address), "dev", "eth0")
        m = re.search(r"lladdr (\S+)", out)
        return m.group(1).lower() if m else None

    def poke(self, address: str, port: int = 9) -> None:
        """Send one UDP datagram to ``address`` so this host resolves (ARP/ND) it."""
        family = 10 if ":" in address else 2
        code = (
            f"import socket;s=socket.socket({family},socket.SOCK_DGRAM)\n"
            f"try: s.sendto(b'x',({_bare(address)!r},{port}))\nexcept OSError: pass"
        )
        self.exec([sys.executable, "-c", code], check=False)


@dataclass(frozen=True)
class Frame:
    """One captured Ethernet frame."""

    time: float  # kernel receive time, time.time() clock
    data: bytes
    outgoing: bool

    @property
    def dst(self) -> str:
        return self.data[0:6].hex(":")

    @property
    def src(self) -> str:
        return self.data[6:12].hex(":")

    @property
    def ethertype(self) -> int:
        return int.from_bytes(self.data[12:14], "big")

    @property
    def is_arp(self) -> bool:
        return self.ethertype == ETH_ARP

    @property
    def is_vrrp(self) -> bool:
        if self.ethertype == ETH_IPV4:
            return len(self.data) > 34 and self.data[23] == PROTO_VRRP
        return self.ethertype == ETH_IPV6 and len(self.data) > 54 and self.data[20] == PROTO_VRRP

    @property
    def ip_src(self) -> str | None:
        if self.ethertype == ETH_IPV4:
            return str(ipaddress.IPv4Address(self.data[26:30]))
        if self.ethertype == ETH_IPV6:
            return str(ipaddress.IPv6Address(self.data[22:38]))
        return None

    @property
    def vrrp(self) -> bytes | None:
        """The VRRP message (IP payload, Ethernet padding cut off), or None."""
        if not self.is_vrrp:
            return None
        if self.ethertype == ETH_IPV4:
            ihl = (self.data[14] & 0x0F) * 4
            total = int.from_bytes(self.data[16:18], "big")
            return self.data[14 + ihl : 14 + total]
        length = int.from_bytes(self.data[18:20], "big")
        return self.data[54 : 54 + length]


_CAPTURE = r"""
import socket, struct, sys
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
s.setsockopt(socket.SOL_SOCKET, 35, 1)  # SO_TIMESTAMPNS: the kernel's receive time
s.bind((sys.argv[1], 0))
out = sys.stdout
out.write("ready\n"); out.flush()
while True:
    data, ancillary, _, addr = s.recvmsg(65535, socket.CMSG_SPACE(16))
    t = 0.0
    for level, kind, value in ancillary:
        if level == socket.SOL_SOCKET and kind == 35:
            sec, nsec = struct.unpack("qq", value[:16])
            t = sec + nsec / 1e9
    et = data[12:14]
    if (et == b"\x08\x06" or (et == b"\x08\x00" and len(data) > 23 and data[23] == 112)
            or (et == b"\x86\xdd" and len(data) > 20 and data[20] in (58, 112))):
        out.write("%.9f %d %s\n" % (t, addr[2], data.hex())); out.flush()
"""


class Capture:
    """Frames (ARP, IPv4/IPv6 protocol 112, ICMPv6) seen on a host's eth0, from now on.

    A small Python capture loop runs inside the namespace (an AF_PACKET socket can only be
    opened there); a thread here collects its lines. Outgoing frames are included, marked.
    """

    def __init__(self, host: Host, interface: str = "eth0", timeout: float = 15) -> None:
        self.host = host
        self.frames: list[Frame] = []
        self._lock = threading.Condition()
        self._proc = host.run(
            [sys.executable, "-u", "-c", _CAPTURE, interface],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self._proc.stdout is not None
        ready = self._proc.stdout.readline()
        if ready.strip() != "ready":
            self._proc.kill()
            err = self._proc.stderr.read() if self._proc.stderr else ""
            raise LabError(f"capture on {host.ns}/{interface} did not start: {ready}{err}")
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        host.lab._on_close(self.close)

    def _read(self) -> None:
        assert self._proc.stdout is not None
        for line in self._proc.stdout:
            t, kind, data = line.split()
            frame = Frame(float(t), bytes.fromhex(data), kind == "4")  # PACKET_OUTGOING
            with self._lock:
                self.frames.append(frame)
                self._lock.notify_all()

    def snapshot(self) -> list[Frame]:
        with self._lock:
            return list(self.frames)

    def since(self, moment: float) -> list[Frame]:
        """Frames the kernel received at or after ``moment`` (a ``time.time()`` value)."""
        with self._lock:
            return [f for f in self.frames if f.time >= moment]

    def clear(self) -> None:
        with self._lock:
            self.frames.clear()

    def wait(self, predicate: Callable[[Frame], bool], timeout: float = 15) -> Frame:
        """The first frame (already seen or arriving within ``timeout``) that satisfies it."""
        deadline = time.monotonic() + timeout
        seen = 0
        with self._lock:
            while True:
                for frame in self.frames[seen:]:
                    if predicate(frame):
                        return frame
                seen = len(self.frames)
                left = deadline - time.monotonic()
                if left <= 0:
                    raise LabError(
                        f"no matching frame on {self.host.ns} within {timeout}s "
                        f"({seen} frames captured)"
                    )
                self._lock.wait(left)

    def close(self) -> None:
        if self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait(5)


_NOTIFY = """#!/bin/sh
echo "$(date +%s.%N) $*" >> "{log}"
"""

_ENTERING = re.compile(r"\((\S+)\) Entering (\w+) STATE")


class Daemon:
    """A long-running program in a host's namespace with its own working directory."""

    def __init__(self, host: Host, config: str, name: str, filename: str) -> None:
        self.host = host
        self.name = name
        self.dir = host.lab.dir / name
        shutil.rmtree(self.dir, ignore_errors=True)  # a new daemon of an old name starts afresh
        self.dir.mkdir(parents=True)
        os.chmod(self.dir, 0o755)
        self.notify_log = self.dir / "notify.log"
        self.notify_script = self.dir / "notify.sh"
        self.notify_script.write_text(_NOTIFY.format(log=self.notify_log))
        os.chmod(self.notify_script, 0o755)
        self.uses_notify = "@NOTIFY@" in config
        text = config.replace("@NOTIFY@", str(self.notify_script)).replace("@DIR@", str(self.dir))
        self.config = self.dir / filename
        self.config.write_text(text)
        self.output = self.dir / "output.log"
        self.proc: subprocess.Popen[Any] | None = None
        self._notify_mark = 0
        self._log_mark = 0
        host.lab._on_close(self.kill)
        self.start()

    def command(self) -> list[str]:
        raise NotImplementedError

    def start(self) -> None:
        if self.running:
            raise LabError(f"{self.name} is already running")
        self._notify_mark = len(self.notifications())
        self._log_mark = len(self._state_log())
        with open(self.output, "a") as out:
            self.proc = self.host.run(
                self.command(),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=self.dir,
            )

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def log(self) -> str:
        return self.output.read_text(errors="replace") if self.output.exists() else ""

    def _state_log(self) -> str:
        return self.log

    def pids(self) -> list[int]:
        return [self.proc.pid] if self.running and self.proc else []

    def stop(self, timeout: float = 15) -> None:
        """SIGTERM and wait: the clean way out (a VRRP master sends priority 0)."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise LabError(f"{self.name} ignored SIGTERM for {timeout}s\n{self.tail()}") from None

    def kill(self) -> None:
        """SIGKILL: silent death, nothing more goes on the wire."""
        if self.proc is None:
            return
        for pid in self.pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(5)

    def _notices(self) -> list[tuple[float, str, str, int]]:
        """(time, instance, state, priority) for each notify call, oldest first."""
        if not self.notify_log.exists():
            return []
        found = []
        for line in self.notify_log.read_text().splitlines():
            words = line.split()
            if len(words) >= 5 and words[1] in ("INSTANCE", "GROUP"):
                priority = int(words[4]) if words[4].isdigit() else -1
                found.append((float(words[0]), words[2], words[3], priority))
        return found

    def notifications(self) -> list[tuple[str, str, int]]:
        """(instance, state, priority) for each notify call, oldest first."""
        return [(i, s, p) for _, i, s, p in self._notices()]

    def notified_at(self, state: str, instance: str | None = None) -> float | None:
        """When (time.time()) the notify script last reported ``state`` since the last start."""
        times = [
            t
            for t, i, s, _ in self._notices()[self._notify_mark :]
            if s == state and instance in (None, i)
        ]
        return times[-1] if times else None

    def state(self, instance: str | None = None) -> str | None:
        """The latest state since the last start: notify log if configured, else log lines."""
        if self.uses_notify:
            events = [(i, s) for i, s, _ in self.notifications()[self._notify_mark :]]
        else:
            events = _ENTERING.findall(self._state_log()[self._log_mark :])
        states = [s for i, s in events if instance is None or i == instance]
        return states[-1] if states else None

    def wait_state(self, state: str, timeout: float = 30, instance: str | None = None) -> None:
        deadline = time.monotonic() + timeout
        while self.state(instance) != state:
            if time.monotonic() > deadline:
                raise LabError(
                    f"{self.name} on {self.host.ns} not {state} within {timeout}s "
                    f"(now {self.state(instance)})\n{self.tail()}"
                )
            if not self.running:
                time.sleep(0.2)  # a last notify script may still be writing
                if self.state(instance) == state:
                    return
                raise LabError(f"{self.name} on {self.host.ns} exited\n{self.tail()}")
            time.sleep(0.05)

    def tail(self, lines: int = 40) -> str:
        notes = self.notify_log.read_text() if self.notify_log.exists() else ""
        log = "\n".join(self.log.splitlines()[-lines:])
        return f"--- {self.name} notify ---\n{notes}--- {self.name} log ---\n{log}"


class Keepalived(Daemon):
    """keepalived -P (VRRP only) in the foreground, logging to ``output.log``.

    keepalived forks a VRRP child that does all the work; its pid comes from the ``-r`` pid
    file, so ``kill()`` can freeze the parent (no respawn), kill the child, then the parent.
    """

    def __init__(self, host: Host, config: str, name: str) -> None:
        super().__init__(host, config, name, "keepalived.conf")

    def command(self) -> list[str]:
        for pidfile in ("keepalived.pid", "vrrp.pid"):
            with contextlib.suppress(FileNotFoundError):
                (self.dir / pidfile).unlink()
        return [
            KEEPALIVED,
            "-n",
            "-l",
            "-D",
            "-G",
            "-P",
            "-f",
            str(self.config),
            "-p",
            str(self.dir / "keepalived.pid"),
            "-r",
            str(self.dir / "vrrp.pid"),
        ]

    def child_pid(self) -> int | None:
        try:
            return int((self.dir / "vrrp.pid").read_text().split()[0])
        except (FileNotFoundError, IndexError, ValueError):
            return None

    def pids(self) -> list[int]:
        child = self.child_pid()
        return ([child] if child else []) + super().pids()

    def kill(self) -> None:
        child = self.child_pid() if self.running else None
        if self.running and self.proc:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.proc.pid, signal.SIGSTOP)  # no respawn, no SIGTERM to the child
        super().kill()
        deadline = time.monotonic() + 5
        while child and _alive(child) and time.monotonic() < deadline:
            time.sleep(0.01)  # returns once the VRRP child cannot send any more


def _alive(pid: int) -> bool:
    """Whether ``pid`` still runs (not gone, not a zombie)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat.rsplit(")", 1)[-1].split()[0] not in ("Z", "X")


class Stack(Daemon):
    """``twistd -n stack -c INI --tier vrrp`` (other tiers with ``tiers=``), logging to files."""

    def __init__(
        self, host: Host, config: str, name: str, tiers: Sequence[str] = ("vrrp",)
    ) -> None:
        self.tiers = tuple(tiers)
        super().__init__(host, config, name, "stack.ini")

    def command(self) -> list[str]:
        argv = [
            TWISTD,
            "-n",
            "--pidfile=",
            "--logfile",
            str(self.dir / "twistd.log"),
            "stack",
            "-c",
            str(self.config),
        ]
        for tier in self.tiers:
            argv += ["--tier", tier]
        return argv

    def _state_log(self) -> str:
        twistd = self.dir / "twistd.log"
        return twistd.read_text(errors="replace") if twistd.exists() else ""

    @property
    def log(self) -> str:
        """twistd's log, then anything printed outside it (tracebacks before logging starts)."""
        return self._state_log() + super().log
