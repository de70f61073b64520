"""What the keepalived interop tests share: the lab's fixed layout, keepalived.conf and stack INI
for one VRRP instance, and reading adverts, GARPs and NAs off captured frames.

The layout is vrrp.md section 4's: hosts a (10.99.0.1), b (10.99.0.2) and observer c
(10.99.0.3) on one bridge, VIP 10.99.0.100/24, VRID 51 (IPv6: fd99::100/64, VRID 52). Adverts
are decoded with stack's own codec (stack.vrrp.packet); keepalived's log is the independent
judge of what stack puts on the wire.
"""

from __future__ import annotations

import ipaddress
import itertools
import re
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
if str(ROOT / "scripts") not in sys.path:
    sys.path.insert(0, str(ROOT / "scripts"))

from netlab import Capture, Daemon, Frame, Host, Keepalived, Lab, Stack  # noqa: E402

from stack.vrrp.packet import PacketError, Received, decode, parse_ipv4  # noqa: E402

__all__ = ["Capture", "Daemon", "Frame", "Host", "Keepalived", "Lab", "Stack"]

PREFIX = "vt-"
HOSTS = {
    "a": ("10.99.0.1/24", "02:00:00:00:00:01", "fd99::1/64"),
    "b": ("10.99.0.2/24", "02:00:00:00:00:02", "fd99::2/64"),
    "c": ("10.99.0.3/24", "02:00:00:00:00:03", "fd99::3/64"),
}
WAIT = 30.0
"""Seconds any single outcome may take; generous, never asserted on."""

COMPLAINT = re.compile(
    r"invalid|mismatch|wrong version|not present in MASTER advert|checksum", re.I
)
"""keepalived's words when it drops or distrusts an advert (vrrp-keepalived-log-samples.txt)."""


@dataclass(frozen=True)
class Setup:
    """One VRRP instance's settings, the same on both nodes."""

    version: int
    advert_int: str  # keepalived's spelling, seconds
    family: int = 4

    @property
    def vrid(self) -> int:
        return 51 if self.family == 4 else 52

    @property
    def vip(self) -> str:
        return "10.99.0.100" if self.family == 4 else "fd99::100"

    @property
    def vip_with_length(self) -> str:
        return "10.99.0.100/24" if self.family == 4 else "fd99::100/64"

    @property
    def interval(self) -> int:
        """Centiseconds, as adverts carry it (v2: whole seconds)."""
        return round(float(self.advert_int) * 100)


def keepalived_conf(name: str, priority: int, setup: Setup, healthy: Path | None = None) -> str:
    """vrrp.md 4.2's a.conf; with ``healthy``, a weight -60 track_script that fails once that
    file is gone."""
    script = track = ""
    if healthy is not None:
        script = (
            "vrrp_script chk_flag {\n"
            f'  script "/usr/bin/test -e {healthy}"\n'
            "  interval 1\n  fall 2\n  rise 2\n  weight -60\n}\n"
        )
        track = "  track_script {\n    chk_flag\n  }\n"
    return (
        "global_defs {\n"
        f"  router_id lab_{name}\n"
        "  enable_script_security\n"
        "  script_user root\n"
        f"  vrrp_version {setup.version}\n"
        "}\n"
        f"{script}"
        "vrrp_instance VI_1 {\n"
        "  state BACKUP\n"
        "  interface eth0\n"
        f"  virtual_router_id {setup.vrid}\n"
        f"  priority {priority}\n"
        f"  advert_int {setup.advert_int}\n"
        "  virtual_ipaddress {\n"
        f"    {setup.vip_with_length}\n"
        "  }\n"
        f"{track}"
        "  notify @NOTIFY@\n"
        "}\n"
    )


def stack_ini(priority: int, setup: Setup, healthy: Path | None = None) -> str:
    """The same instance in stack's INI spelling (keepalived's keywords, one key each)."""
    script = track = ""
    if healthy is not None:
        script = (
            "[vrrp_script chk_flag]\n"
            f"script = /usr/bin/test -e {healthy}\n"
            "interval = 1\nfall = 2\nrise = 2\nweight = -60\n\n"
        )
        track = "track_script =\n    chk_flag\n"
    return (
        f"{script}"
        "[vrrp_instance VI_1]\n"
        "state = BACKUP\n"
        "interface = eth0\n"
        f"virtual_router_id = {setup.vrid}\n"
        f"priority = {priority}\n"
        f"advert_int = {setup.advert_int}\n"
        f"version = {setup.version}\n"
        "virtual_ipaddress =\n"
        f"    {setup.vip_with_length}\n"
        f"{track}"
        "notify = @NOTIFY@\n"
    )


_serial = itertools.count(1)


class Nodes:
    """The daemons and captures of one test, all ended by :meth:`cleanup`."""

    def __init__(self, lab: Lab) -> None:
        self.lab = lab
        self.daemons: list[Daemon] = []
        self.captures: list[Capture] = []

    def start(
        self, kind: str, host: Host, priority: int, setup: Setup, healthy: Path | None = None
    ) -> Daemon:
        """``kind`` "keepalived" or "stack" on ``host``, one instance VI_1."""
        name = f"{kind}-{host.name}-{next(_serial)}"  # unique in the module's lab
        daemon: Daemon
        if kind == "keepalived":
            daemon = Keepalived(host, keepalived_conf(host.name, priority, setup, healthy), name)
        elif kind == "stack":
            daemon = Stack(host, stack_ini(priority, setup, healthy), name)
        else:
            raise ValueError(kind)
        self.daemons.append(daemon)
        return daemon

    def capture(self, host: Host) -> Capture:
        cap = Capture(host)
        self.captures.append(cap)
        return cap

    def cleanup(self) -> None:
        """Kill everything, drop VIPs a SIGKILL left behind, forget the observer's ARP cache."""
        for daemon in self.daemons:
            daemon.kill()
        for cap in self.captures:
            cap.close()
        for host in self.lab.hosts.values():
            for address in host.addresses():
                if address in ("10.99.0.100", "fd99::100"):
                    length = "24" if "." in address else "64"
                    host.ip("addr", "del", f"{address}/{length}", "dev", "eth0", check=False)
            host.ip("neigh", "flush", "dev", "eth0", check=False)

    def report(self) -> str:
        return "\n".join(d.tail(60) for d in self.daemons)


def wait_for(condition: Callable[[], object], timeout: float = WAIT) -> bool:
    """Poll until ``condition()`` holds or ``timeout`` passes; its last value as a bool."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return bool(condition())


def advert(frame: Frame) -> Received | None:
    """The advert in ``frame`` decoded and validated by stack's codec; None for other frames.

    An invalid advert fails the test: nothing in the lab should put one on the wire.
    """
    if not frame.is_vrrp:
        return None
    src: IPv4Address | IPv6Address
    dst: IPv4Address | IPv6Address
    try:
        if frame.ethertype == 0x0800:
            src, dst, ttl, message = parse_ipv4(frame.data[14:])
        else:
            src = IPv6Address(frame.data[22:38])
            dst = IPv6Address(frame.data[38:54])
            ttl = frame.data[21]
            message = frame.vrrp or b""
        return decode(message, src=src, dst=dst, ttl=ttl)
    except PacketError as error:
        raise AssertionError(f"invalid advert on the wire ({error}): {frame.data.hex()}") from None


def adverts_from(frames: Iterable[Frame], host: Host) -> list[Received]:
    """Decoded adverts sent by ``host`` (by source MAC), in order."""
    found = []
    for frame in frames:
        received = advert(frame)
        if received is not None and frame.src == host.mac:
            found.append(received)
    return found


def announced(frame: Frame, vip: str) -> str | None:
    """The MAC a gratuitous ARP (keepalived's form) or unsolicited NA announces for ``vip``."""
    data = frame.data
    if frame.is_arp and len(data) >= 42 and data[20:22] == b"\x00\x01":
        spa, tpa = data[28:32], data[38:42]
        if spa == tpa == ipaddress.ip_address(vip).packed:
            return data[22:28].hex(":")
    if frame.ethertype == 0x86DD and len(data) >= 86 and data[20] == 58 and data[54] == 136:
        if data[62:78] == ipaddress.ip_address(vip).packed and data[78] == 2:
            return data[80:86].hex(":")
    return None


def masked(frame: Frame) -> bytes:
    """The frame with what legitimately differs between senders zeroed: the IPv4 ID and
    header checksum, the IPv6 flow label."""
    data = bytearray(frame.data)
    if frame.ethertype == 0x0800:
        data[18:20] = b"\0\0"
        data[24:26] = b"\0\0"
    elif frame.ethertype == 0x86DD:
        data[15] &= 0xF0
        data[16:18] = b"\0\0"
    return bytes(data)


def complaints(daemon: Daemon) -> list[str]:
    """keepalived log lines objecting to a received advert."""
    return [line for line in daemon.log.splitlines() if COMPLAINT.search(line)]
