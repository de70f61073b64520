"""The VRRP tier's sockets: raw IP protocol 112 for adverts, a packet socket for GARP/NA frames.

Adverts go through the kernel's raw IP sockets as keepalived sends them. IPv4 uses
``IP_HDRINCL`` with a header built here (TOS 0xC0, TTL 255, an IP id counted per socket, no DF),
so the bytes on the wire match keepalived's. IPv6 lets the kernel fill in the header (hop limit
255, traffic class 0xC0) and the checksum (``IPV6_CHECKSUM``). Receiving returns what the
receive checks need besides the message: source, destination and TTL/hop limit. Every socket is
bound to its interface and non-blocking, and ``fileno()`` goes straight into the reactor
(:class:`AdvertReader`).

The kernel checks CAP_NET_RAW only when a socket is created, so sockets opened while twistd is
still root keep working after ``--uid``. A refusal is reported as
:class:`~stack.vrrp.privileges.CapabilityError`, which names the capability.
"""

from __future__ import annotations

import contextlib
import errno
import socket
import struct
from collections.abc import Callable, Collection
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address
from typing import Any, NamedTuple

from twisted.internet.interfaces import IReadDescriptor
from twisted.logger import Logger
from zope.interface import implementer

from stack.config.model import IpAddress
from stack.vrrp import packet
from stack.vrrp.privileges import CapabilityError

MULTICAST_V4 = IPv4Address("224.0.0.18")
MULTICAST_V6 = IPv6Address("ff02::12")

# Linux values Python's socket module does not export.
_IP_MULTICAST_ALL = 49
_IPV6_MULTICAST_ALL = 29
_IPV6_FREEBIND = 78

_IFF_UP = 0x1
_IFF_RUNNING = 0x40

# At most this many packets per receive(): a flood cannot starve the reactor, and the socket
# stays readable, so the reactor comes back for the rest.
MAX_BATCH = 100
_BUFFER = 65535

_log = Logger()


class LinkError(OSError):
    """An interface the configuration names is missing (or has vanished)."""


@dataclass(frozen=True, slots=True)
class Link:
    """What the tier needs to know about one interface when it opens sockets on it.

    ``ipv4`` is the primary address adverts come from (keepalived's choice when no
    ``mcast_src_ip``/``unicast_src_ip`` is set); ``up`` is keepalived's test, IFF_UP and
    IFF_RUNNING both set.
    """

    name: str
    index: int
    mac: bytes
    ipv4: IPv4Address | None
    ipv6_link_local: IPv6Address | None
    up: bool


def link(name: str, *, exclude: Collection[IpAddress] = ()) -> Link:
    """Look ``name`` up with netlink; :class:`LinkError` when there is no such interface.

    ``exclude`` holds addresses that must not be taken for the primary one: the instance's
    virtual addresses, which a killed predecessor may have left on the interface.
    """
    from pyroute2 import IPRoute  # 0.1 s to import: only when the VRRP tier runs
    from pyroute2.netlink.exceptions import NetlinkError

    index = interface_index(name)
    try:
        with IPRoute(groups=0) as ipr:
            links = ipr.get_links(index)
            addresses = ipr.get_addr(index=index)
    except NetlinkError as exc:  # gone between the two lookups
        raise LinkError(exc.code, f"no interface named {name}") from None
    if not links:
        raise LinkError(errno.ENODEV, f"no interface named {name}")
    info = links[0]
    flags = int(info["flags"])
    mac = info.get("address") or ""
    ipv4: IPv4Address | None = None
    ipv6: IPv6Address | None = None
    for message in addresses:
        text = message.get("address")
        if text is None:
            continue
        if message["family"] == socket.AF_INET and ipv4 is None:
            address4 = IPv4Address(text)
            secondary = int(message.get("IFA_FLAGS") or message["flags"]) & 0x01
            if not secondary and address4 not in exclude:
                ipv4 = address4
        elif message["family"] == socket.AF_INET6 and ipv6 is None:
            address6 = IPv6Address(text)
            if address6.is_link_local:
                ipv6 = address6
    return Link(
        name=name,
        index=index,
        mac=bytes.fromhex(mac.replace(":", "")),
        ipv4=ipv4,
        ipv6_link_local=ipv6,
        up=is_up(flags),
    )


def is_up(flags: int) -> bool:
    """keepalived's link test (``FLAGS_UP``): administratively up *and* running (carrier)."""
    return flags & (_IFF_UP | _IFF_RUNNING) == _IFF_UP | _IFF_RUNNING


def interface_index(name: str) -> int:
    """The interface index of ``name``; :class:`LinkError` naming it when there is none."""
    try:
        return socket.if_nametoindex(name)
    except OSError:
        raise LinkError(errno.ENODEV, f"no interface named {name}") from None


class Inbound(NamedTuple):
    """One packet as received: the VRRP message and what the receive checks need about it."""

    message: bytes
    source: IpAddress
    destination: IpAddress
    ttl: int  # IPv4 TTL or IPv6 hop limit


class AdvertSocket:
    """Raw IP protocol 112 on one interface and address family, bound to the interface.

    ``family`` is 4 or 6 (``socket.AF_INET``/``AF_INET6`` are accepted too). With
    ``multicast`` the socket joins 224.0.0.18 / ff02::12 on the interface; without it (unicast
    peers) it joins nothing and receives what is sent to this host's addresses. Packets that are
    not sane IPv4/112 packets are skipped and counted in :attr:`malformed`.
    """

    def __init__(self, link: Link, family: int, *, multicast: bool = True) -> None:
        if family in (4, socket.AF_INET):
            self.version = 4
        elif family in (6, socket.AF_INET6):
            self.version = 6
        else:
            raise ValueError(f"address family must be 4 or 6, not {family}")
        self.link = link
        self.multicast = multicast
        self.malformed = 0
        self._ident = 0
        self._buffer = bytearray(_BUFFER)
        self._view = memoryview(self._buffer)
        af = socket.AF_INET if self.version == 4 else socket.AF_INET6
        try:
            sock = socket.socket(af, socket.SOCK_RAW | socket.SOCK_NONBLOCK, packet.PROTOCOL)
        except PermissionError:
            raise CapabilityError("CAP_NET_RAW", "open a raw socket", link.name) from None
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, link.name.encode())
            if self.version == 4:
                self._setup_ipv4(sock)
            else:
                self._setup_ipv6(sock)
        except BaseException:
            sock.close()
            raise
        self._sock = sock

    def _setup_ipv4(self, sock: socket.socket) -> None:
        index = self.link.index
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_HDRINCL, 1)
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, _mreqn(MULTICAST_V4, index))
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 0)
        # Only the groups this socket joined, not every group some other socket joined.
        sock.setsockopt(socket.IPPROTO_IP, _IP_MULTICAST_ALL, 0)
        if self.multicast:
            membership = _mreqn(MULTICAST_V4, index)
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, membership)

    def _setup_ipv6(self, sock: socket.socket) -> None:
        index = self.link.index
        v6 = socket.IPPROTO_IPV6
        sock.setsockopt(v6, socket.IPV6_CHECKSUM, 6)  # VRRP checksum at offset 6
        sock.setsockopt(v6, socket.IPV6_MULTICAST_HOPS, 255)
        sock.setsockopt(v6, socket.IPV6_UNICAST_HOPS, 255)
        sock.setsockopt(v6, socket.IPV6_TCLASS, 0xC0)
        sock.setsockopt(v6, socket.IPV6_MULTICAST_IF, index)
        sock.setsockopt(v6, socket.IPV6_MULTICAST_LOOP, 0)
        sock.setsockopt(v6, socket.IPV6_RECVHOPLIMIT, 1)
        sock.setsockopt(v6, socket.IPV6_RECVPKTINFO, 1)
        # Linux < 4.20 lacks it: the interface binding still keeps other links out.
        with contextlib.suppress(OSError):
            sock.setsockopt(v6, _IPV6_MULTICAST_ALL, 0)
        if self.multicast:
            sock.setsockopt(
                v6, socket.IPV6_JOIN_GROUP, MULTICAST_V6.packed + struct.pack("@I", index)
            )
            local = self.link.ipv6_link_local
            if local is not None:
                # Only packets for the group or the link-local address. FREEBIND: the address
                # may still be tentative (duplicate address detection right after link-up).
                sock.setsockopt(v6, _IPV6_FREEBIND, 1)
                sock.bind((_plain(local), 0, 0, index))

    def fileno(self) -> int:
        return self._sock.fileno()

    def send(self, message: bytes, *, src: IpAddress, dst: IpAddress) -> None:
        """Send one VRRP message from ``src`` to ``dst``; OSError as the kernel reports it."""
        if self.version == 4:
            if not isinstance(src, IPv4Address) or not isinstance(dst, IPv4Address):
                raise TypeError(f"IPv4 socket on {self.link.name} cannot send {src} -> {dst}")
            self._ident = self._ident % 0xFFFF + 1  # 1..65535: 0 would let the kernel choose
            header = packet.ipv4_header(len(message), src=src, dst=dst, ident=self._ident)
            self._sock.sendto(header + message, (str(dst), 0))
            return
        if not isinstance(src, IPv6Address) or not isinstance(dst, IPv6Address):
            raise TypeError(f"IPv6 socket on {self.link.name} cannot send {src} -> {dst}")
        index = self.link.index
        scope = index if dst.is_link_local or dst.is_multicast else 0
        source = (socket.IPPROTO_IPV6, socket.IPV6_PKTINFO, src.packed + struct.pack("@I", index))
        self._sock.sendmsg([message], [source], 0, (_plain(dst), 0, 0, scope))

    def receive(self) -> list[Inbound]:
        """Every packet waiting (up to :data:`MAX_BATCH`), oldest first."""
        read = self._receive_ipv4 if self.version == 4 else self._receive_ipv6
        received: list[Inbound] = []
        for _ in range(MAX_BATCH):
            try:
                inbound = read()
            except (BlockingIOError, InterruptedError):
                break
            if inbound is None:
                self.malformed += 1
            else:
                received.append(inbound)
        return received

    def _receive_ipv4(self) -> Inbound | None:
        size = self._sock.recv_into(self._buffer)
        try:
            src, dst, ttl, message = packet.parse_ipv4(bytes(self._view[:size]))
        except packet.PacketError:
            return None
        return Inbound(message, src, dst, ttl)

    def _receive_ipv6(self) -> Inbound | None:
        ancillary = socket.CMSG_SPACE(4) + socket.CMSG_SPACE(20)
        size, control, flags, address = self._sock.recvmsg_into([self._buffer], ancillary)
        hop_limit: int | None = None
        destination: IPv6Address | None = None
        for level, kind, data in control:
            if level != socket.IPPROTO_IPV6:
                continue
            if kind == socket.IPV6_HOPLIMIT and len(data) >= 4:
                hop_limit = struct.unpack_from("@i", data)[0]
            elif kind == socket.IPV6_PKTINFO and len(data) >= 16:
                destination = IPv6Address(bytes(data[:16]))
        if hop_limit is None or destination is None or flags & socket.MSG_TRUNC:
            return None
        source = IPv6Address(address[0].partition("%")[0])
        return Inbound(bytes(self._view[:size]), source, destination, hop_limit)

    def close(self) -> None:
        self._sock.close()


class FrameSocket:
    """A packet socket on one interface that sends whole Ethernet frames (GARP, unsolicited NA).

    Protocol 0: it receives nothing, so nothing queues up on it.
    """

    def __init__(self, link: Link) -> None:
        self.link = link
        try:
            sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW | socket.SOCK_NONBLOCK, 0)
        except PermissionError:
            raise CapabilityError("CAP_NET_RAW", "open a packet socket", link.name) from None
        try:
            sock.bind((link.name, 0))
        except BaseException:
            sock.close()
            raise
        self._sock = sock

    def fileno(self) -> int:
        return self._sock.fileno()

    def send(self, frame: bytes) -> None:
        self._sock.send(frame)

    def close(self) -> None:
        self._sock.close()


@implementer(IReadDescriptor)
class AdvertReader:
    """An :class:`AdvertSocket` for ``reactor.addReader``: each packet goes to ``callback``.

    A callback that raises is logged and the next packet still delivered: one bad packet must
    not make the reactor drop the socket, which would silence the instance for good.
    """

    def __init__(self, sock: AdvertSocket, callback: Callable[[Inbound], object]) -> None:
        self.sock = sock
        self.callback = callback

    def fileno(self) -> int:
        return self.sock.fileno()

    def doRead(self) -> None:
        try:
            received = self.sock.receive()
        except OSError as exc:  # e.g. ENETDOWN while the link is going away: next time
            _log.warn("{prefix}: receive failed: {exc}", prefix=self.logPrefix(), exc=exc)
            return
        for inbound in received:
            try:
                self.callback(inbound)
            except Exception:
                _log.failure("{prefix}: packet handling failed", prefix=self.logPrefix())

    def connectionLost(self, reason: Any) -> None:
        self.sock.close()

    def logPrefix(self) -> str:
        return f"vrrp {self.sock.link.name} IPv{self.sock.version}"


def _mreqn(group: IPv4Address, index: int) -> bytes:
    """``struct ip_mreqn``: group, local address (any) and interface index."""
    return group.packed + bytes(4) + struct.pack("@i", index)


def _plain(address: IPv6Address) -> str:
    """The address as text without any ``%scope`` (the scope goes into the socket address)."""
    return str(address).partition("%")[0]
