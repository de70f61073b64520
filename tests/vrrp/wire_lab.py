"""Two network namespaces joined by a veth pair, for the socket, netlink and capability tests.

Namespaces are named ``vw-<pid>-a`` / ``vw-<pid>-b``; each holds ``eth0`` (the two ends of the
pair), up, with an IPv4 address, a fixed MAC and duplicate address detection off so the IPv6
link-local address is usable at once. :func:`inside` runs a block in a namespace by switching
the calling thread there (``setns``) and back: sockets created inside stay in that namespace.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from ipaddress import IPv4Address

from system import require_system

CLONE_NEWNET = 0x40000000


def require_root_netns() -> None:
    if os.geteuid() != 0:
        require_system("needs root to create network namespaces")
    if shutil.which("ip") is None:
        require_system("needs iproute2's ip command")


def ip(*args: str) -> str:
    done = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=20)
    if done.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout


@dataclass(frozen=True)
class Side:
    ns: str
    address: IPv4Address
    mac: bytes


@dataclass(frozen=True)
class Pair:
    a: Side
    b: Side


@contextmanager
def veth_pair() -> Iterator[Pair]:
    """Two namespaces, ``eth0`` in each, 10.66.0.1/24 and 10.66.0.2/24; deleted afterwards."""
    tag = f"vw-{os.getpid()}"
    a = Side(f"{tag}-a", IPv4Address("10.66.0.1"), bytes.fromhex("02660000000a"))
    b = Side(f"{tag}-b", IPv4Address("10.66.0.2"), bytes.fromhex("02660000000b"))
    made: list[str] = []
    try:
        for side in (a, b):
            ip("netns", "add", side.ns)
            made.append(side.ns)
        ip(*f"link add eth0 netns {a.ns} type veth peer name eth0 netns {b.ns}".split())
        for side in (a, b):
            sysctl(side.ns, "net.ipv6.conf.all.accept_dad", "0")
            sysctl(side.ns, "net.ipv6.conf.default.accept_dad", "0")
            sysctl(side.ns, "net.ipv6.conf.eth0.accept_dad", "0")
            mac = side.mac.hex(":")
            ip("-n", side.ns, "link", "set", "eth0", "address", mac)
            ip("-n", side.ns, "addr", "add", f"{side.address}/24", "dev", "eth0")
            ip("-n", side.ns, "link", "set", "lo", "up")
            ip("-n", side.ns, "link", "set", "eth0", "up")
        yield Pair(a, b)
    finally:
        for ns in made:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=20)


def sysctl(ns: str, key: str, value: str) -> None:
    subprocess.run(
        ["ip", "netns", "exec", ns, "sysctl", "-q", "-w", f"{key}={value}"],
        check=True,
        capture_output=True,
        timeout=20,
    )


_libc = ctypes.CDLL(None, use_errno=True)


def _setns(fd: int) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code))


@contextmanager
def inside(ns: str) -> Iterator[None]:
    """Run the block in network namespace ``ns`` (this thread only), then come back."""
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        target = os.open(f"/run/netns/{ns}", os.O_RDONLY)
        try:
            _setns(target)
        finally:
            os.close(target)
        try:
            yield
        finally:
            _setns(home)
    finally:
        os.close(home)
