"""Advert and frame sockets between two namespaces, checked on the wire; the reactor adapter.

The namespace tests open the sender's sockets inside ``vw-*-a`` and the receiver's inside
``vw-*-b`` from this one process (``setns`` on this thread), so both ends are plain objects.
"""

from __future__ import annotations

import select
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from ipaddress import IPv4Address, IPv6Address

import pytest
from wire_lab import Pair, inside, ip, require_root_netns, veth_pair

from stack.vrrp import frames, packet, sockets
from stack.vrrp.packet import Advert
from stack.vrrp.sockets import (
    MULTICAST_V4,
    MULTICAST_V6,
    AdvertReader,
    AdvertSocket,
    FrameSocket,
    Inbound,
    Link,
    LinkError,
)

ETH_P_ALL = 0x0003
ETH_P_ARP = 0x0806

V4_ADVERT = Advert(2, 51, 101, 100, (IPv4Address("10.66.0.100"),))
V6_ADVERT = Advert(3, 51, 101, 100, (IPv6Address("fd66::100"),))

# --- without root ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("flags", "up"),
    [(0x0, False), (0x1, False), (0x40, False), (0x41, True), (0x11043, True), (0x1002, False)],
)
def test_up_means_up_and_running(flags: int, up: bool) -> None:
    assert sockets.is_up(flags) is up


def test_an_absent_interface_is_named() -> None:
    with pytest.raises(LinkError, match="no interface named vw-absent0"):
        sockets.link("vw-absent0")
    with pytest.raises(LinkError, match="no interface named vw-absent0"):
        sockets.interface_index("vw-absent0")


def test_address_family_is_4_or_6() -> None:
    eth = Link("eth0", 2, bytes(6), None, None, True)
    with pytest.raises(ValueError, match="address family must be 4 or 6, not 5"):
        AdvertSocket(eth, 5)


class Queue:
    """What AdvertReader needs of an AdvertSocket, fed by the test."""

    def __init__(self, batches: list[list[Inbound] | OSError]) -> None:
        self.batches = batches
        self.link = Link("eth9", 9, bytes(6), None, None, True)
        self.version = 4
        self.closed = False

    def fileno(self) -> int:
        return 42

    def receive(self) -> list[Inbound]:
        batch = self.batches.pop(0)
        if isinstance(batch, OSError):
            raise batch
        return batch

    def close(self) -> None:
        self.closed = True


def inbound(n: int) -> Inbound:
    return Inbound(bytes([n]), IPv4Address("10.0.0.1"), MULTICAST_V4, 255)


def test_reader_hands_each_packet_on_and_survives_a_failing_one() -> None:
    queue = Queue([[inbound(1), inbound(2), inbound(3)], OSError(100, "Network is down")])
    seen: list[int] = []

    def handle(packet: Inbound) -> None:
        seen.append(packet.message[0])
        if packet.message[0] == 2:
            raise RuntimeError("bug in the handler")

    reader = AdvertReader(queue, handle)  # type: ignore[arg-type]
    assert reader.fileno() == 42
    assert reader.logPrefix() == "vrrp eth9 IPv4"
    reader.doRead()
    assert seen == [1, 2, 3]
    reader.doRead()  # a receive error is logged, not raised: the reactor keeps the socket
    assert seen == [1, 2, 3]
    reader.connectionLost(None)
    assert queue.closed


# --- between two namespaces (root) --------------------------------------------------------------


@pytest.fixture
def pair() -> Iterator[Pair]:
    require_root_netns()
    with veth_pair() as made:
        yield made


def wait_for(read: Callable[[], list[Inbound]], count: int = 1, seconds: float = 5.0) -> list:
    got: list = []
    deadline = time.monotonic() + seconds
    while len(got) < count and time.monotonic() < deadline:
        got.extend(read())
        if len(got) < count:
            time.sleep(0.01)
    return got


def capture(ethertype: int) -> socket.socket:
    """A packet socket on eth0 of the current namespace that sees ``ethertype`` frames."""
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ethertype))
    sock.bind(("eth0", ethertype))
    return sock


def frames_of(sock: socket.socket, keep: Callable[[bytes], bool], seconds: float = 5.0) -> bytes:
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        if select.select([sock], [], [], left)[0]:
            frame = sock.recv(65535)
            if keep(frame):
                return frame
    raise AssertionError("no such frame arrived")


def is_vrrp4(frame: bytes) -> bool:
    return frame[12:14] == b"\x08\x00" and frame[23] == 112


def is_vrrp6(frame: bytes) -> bool:
    return frame[12:14] == b"\x86\xdd" and frame[20] == 112


def test_link_reports_what_the_kernel_has(pair: Pair) -> None:
    with inside(pair.a.ns):
        eth0 = sockets.link("eth0")
        ip("-n", pair.a.ns, "addr", "add", "10.66.0.100/24", "dev", "eth0")
        ip("-n", pair.a.ns, "addr", "add", "10.99.0.9/32", "dev", "eth0")
        with_vips = sockets.link("eth0")
        excluded = sockets.link("eth0", exclude=[IPv4Address("10.66.0.1")])
        ip("-n", pair.b.ns, "link", "set", "eth0", "down")  # the peer: carrier lost here
        no_carrier = sockets.link("eth0")
    assert eth0.name == "eth0"
    assert eth0.index == int(ip("-n", pair.a.ns, "-o", "link", "show", "eth0").split(":")[0])
    assert eth0.mac == pair.a.mac
    assert eth0.ipv4 == IPv4Address("10.66.0.1")
    assert eth0.ipv6_link_local == IPv6Address("fe80::66:ff:fe00:a")  # EUI-64 of 02:66:...:0a
    assert eth0.up
    assert with_vips.ipv4 == IPv4Address("10.66.0.1")  # a secondary VIP never becomes primary
    assert excluded.ipv4 == IPv4Address("10.99.0.9")
    assert not no_carrier.up


def test_ipv4_multicast_advert_arrives_with_ttl_255(pair: Pair) -> None:
    with inside(pair.a.ns):
        a = sockets.link("eth0")
        sender = AdvertSocket(a, 4)
    with inside(pair.b.ns):
        receiver = AdvertSocket(sockets.link("eth0"), 4)
        unicast_only = AdvertSocket(sockets.link("eth0"), 4, multicast=False)
        wire = capture(ETH_P_ALL)
    try:
        assert a.ipv4 is not None
        message = packet.encode(V4_ADVERT, src=a.ipv4, dst=MULTICAST_V4)
        sender.send(message, src=a.ipv4, dst=MULTICAST_V4)
        sender.send(message, src=a.ipv4, dst=MULTICAST_V4)
        got = wait_for(receiver.receive, 2)
        assert got == [Inbound(message, a.ipv4, MULTICAST_V4, 255)] * 2
        received = packet.decode(got[0].message, src=a.ipv4, dst=MULTICAST_V4, ttl=got[0].ttl)
        assert received.advert == V4_ADVERT
        first = frames_of(wire, is_vrrp4)
        second = frames_of(wire, is_vrrp4)
        assert unicast_only.receive() == []  # it joined no group
        assert sender.receive() == []  # IP_MULTICAST_LOOP 0: our own adverts stay out
        assert receiver.malformed == 0
    finally:
        for sock in (sender, receiver, unicast_only, wire):
            sock.close()
    assert first[0:6] == bytes.fromhex("01005e000012")
    assert first[6:12] == pair.a.mac
    header = first[14:34]
    version_ihl, tos, total, ident, fragment, ttl, proto = struct.unpack_from(">BBHHHBB", header)
    assert (version_ihl, tos, ttl, proto) == (0x45, 0xC0, 255, 112)
    assert fragment == 0  # no DF, as keepalived
    assert total == 20 + len(message)
    assert packet.checksum(header) == 0
    assert header[12:16] == a.ipv4.packed and header[16:20] == MULTICAST_V4.packed
    assert first[34 : 34 + len(message)] == message
    assert struct.unpack_from(">H", second, 18)[0] == ident + 1  # the IP id counts per advert


def test_ipv4_unicast_advert_goes_to_the_peer(pair: Pair) -> None:
    with inside(pair.a.ns):
        a = sockets.link("eth0")
        sender = AdvertSocket(a, 4, multicast=False)
    with inside(pair.b.ns):
        receiver = AdvertSocket(sockets.link("eth0"), 4, multicast=False)
    try:
        assert a.ipv4 is not None
        message = packet.encode(V4_ADVERT, src=a.ipv4, dst=pair.b.address)
        sender.send(message, src=a.ipv4, dst=pair.b.address)
        got = wait_for(receiver.receive)
    finally:
        sender.close()
        receiver.close()
    assert got == [Inbound(message, a.ipv4, pair.b.address, 255)]


def test_ipv6_multicast_advert_arrives_with_hop_limit_255(pair: Pair) -> None:
    with inside(pair.a.ns):
        a = sockets.link("eth0")
        sender = AdvertSocket(a, 6)
    with inside(pair.b.ns):
        receiver = AdvertSocket(sockets.link("eth0"), 6)
        wire = capture(ETH_P_ALL)
    try:
        assert a.ipv6_link_local is not None
        src = a.ipv6_link_local
        message = packet.encode(V6_ADVERT, src=src, dst=MULTICAST_V6)
        sender.send(message, src=src, dst=MULTICAST_V6)
        got = wait_for(receiver.receive)
        frame = frames_of(wire, is_vrrp6)
        assert sender.receive() == []
    finally:
        for sock in (sender, receiver, wire):
            sock.close()
    assert got == [Inbound(message, src, MULTICAST_V6, 255)]
    assert packet.decode(got[0].message, src=src, dst=MULTICAST_V6, ttl=255).advert == V6_ADVERT
    assert frame[0:6] == bytes.fromhex("333300000012")
    first_word, length, next_header, hop_limit = struct.unpack_from(">IHBB", frame, 14)
    assert first_word >> 20 & 0xFF == 0xC0  # traffic class
    assert (next_header, hop_limit, length) == (112, 255, len(message))
    assert frame[22:38] == src.packed
    assert frame[54 : 54 + len(message)] == message  # the kernel's checksum is the codec's


def test_ipv6_unicast_advert_goes_to_the_peer(pair: Pair) -> None:
    with inside(pair.a.ns):
        a = sockets.link("eth0")
        sender = AdvertSocket(a, 6, multicast=False)
    with inside(pair.b.ns):
        b = sockets.link("eth0")
        receiver = AdvertSocket(b, 6, multicast=False)
    try:
        assert a.ipv6_link_local is not None and b.ipv6_link_local is not None
        src, dst = a.ipv6_link_local, b.ipv6_link_local
        message = packet.encode(V6_ADVERT, src=src, dst=dst)
        sender.send(message, src=src, dst=dst)
        got = wait_for(receiver.receive)
    finally:
        sender.close()
        receiver.close()
    assert got == [Inbound(message, src, dst, 255)]


def test_a_family_mismatch_is_refused(pair: Pair) -> None:
    with inside(pair.a.ns):
        a = sockets.link("eth0")
        v4 = AdvertSocket(a, socket.AF_INET)
    try:
        with pytest.raises(TypeError, match="IPv4 socket on eth0 cannot send"):
            v4.send(b"x", src=IPv6Address("fe80::1"), dst=MULTICAST_V6)
    finally:
        v4.close()


def test_receive_skips_and_counts_what_is_not_vrrp(pair: Pair) -> None:
    """The drain loop and the malformed counter, fed through a datagram pair instead of eth0."""
    with inside(pair.a.ns):
        sock = AdvertSocket(sockets.link("eth0"), 4)
    feed, sock._sock = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)  # type: ignore[attr-defined]
    sock._sock.setblocking(False)  # type: ignore[attr-defined]
    try:
        src, dst = IPv4Address("10.66.0.9"), MULTICAST_V4
        message = packet.encode(V4_ADVERT, src=src, dst=dst)
        good = packet.ipv4_header(len(message), src=src, dst=dst, ident=7) + message
        feed.send(b"\x45\x00")  # too short for an IPv4 header
        feed.send(good)
        feed.send(good[:9] + b"\x06" + good[10:])  # TCP, not VRRP
        assert sock.receive() == [Inbound(message, src, dst, 255)]
        assert sock.malformed == 2
        for _ in range(sockets.MAX_BATCH + 5):
            feed.send(good)
        assert len(sock.receive()) == sockets.MAX_BATCH  # the reactor comes back for the rest
        assert len(sock.receive()) == 5
        assert sock.receive() == []
    finally:
        feed.close()
        sock.close()


def test_gratuitous_arp_frame_goes_out_as_built(pair: Pair) -> None:
    with inside(pair.a.ns):
        a = sockets.link("eth0")
        sender = FrameSocket(a)
    with inside(pair.b.ns):
        wire = capture(ETH_P_ARP)
    try:
        frame = frames.gratuitous_arp(a.mac, IPv4Address("10.66.0.100"))
        sender.send(frame)
        seen = frames_of(wire, lambda f: f[28:32] == IPv4Address("10.66.0.100").packed)
    finally:
        sender.close()
        wire.close()
    assert seen[: len(frame)] == frame


def test_without_cap_net_raw_the_error_names_it(pair: Pair) -> None:
    """Run as nobody in a child: the capability error a non-root start gets."""
    code = (
        "import os, sys\n"
        "from stack.vrrp.sockets import AdvertSocket, FrameSocket, link\n"
        "from stack.vrrp.privileges import CapabilityError\n"
        "eth0 = link('eth0')\n"
        "os.setgid(65534); os.setgroups([]); os.setuid(65534)\n"
        "for opener in (lambda: AdvertSocket(eth0, 4), lambda: FrameSocket(eth0)):\n"
        "    try:\n"
        "        opener()\n"
        "    except CapabilityError as exc:\n"
        "        print(exc)\n"
    )
    done = subprocess.run(
        ["ip", "netns", "exec", pair.a.ns, sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert [line.split(" (")[0] for line in lines] == [
        "VRRP instance needs CAP_NET_RAW to open a raw socket on eth0",
        "VRRP instance needs CAP_NET_RAW to open a packet socket on eth0",
    ]
