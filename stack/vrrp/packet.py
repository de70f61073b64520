"""The VRRP advertisement codec: bytes in, bytes out, no sockets (sans-IO).

VRRPv2 (RFC 3768) and VRRPv3 (RFC 5798 / RFC 9568) over IPv4, VRRPv3 over IPv6. This runs for
every received packet and every sent advert, so it is plain ``struct`` work; a master's periodic
advert comes from :class:`AdvertBuilder`'s cache. Rejections raise :class:`PacketError` worded as
keepalived 2.2.7 logs them, so an operator can compare both daemons' logs line for line.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import dataclass, replace
from ipaddress import IPv4Address, IPv6Address
from typing import cast

IpAddress = IPv4Address | IPv6Address

PROTOCOL = 112
"""IP protocol / IPv6 next header of VRRP."""
TTL = 255
"""TTL / hop limit of every advert; receivers check it so adverts cannot come from off-link."""
ADVERTISEMENT = 1
"""The only VRRP message type."""
HEADER_LENGTH = 8
AUTH_LENGTH = 8
"""VRRPv2's trailing authentication data (RFC 2338 leftovers, zero unless ``auth_type PASS``)."""

_HEADER = struct.Struct(">BBBBBBH")  # v2: vers|type, vrid, prio, count, auth type, adver int, cksum
_HEADER_V3 = struct.Struct(">BBBBHH")  # v3: vers|type, vrid, prio, count, rsvd|max adver int, cksum
_PSEUDO4 = struct.Struct(">4s4sBBH")
_PSEUDO6 = struct.Struct(">16s16sI3xB")
_IPV4 = struct.Struct(">BBHHHBBH4s4s")


class PacketError(ValueError):
    """A received packet that must be dropped; the message says why in keepalived's words."""


@dataclass(frozen=True, slots=True)
class Advert:
    """One VRRP advertisement, whichever version carries it.

    ``interval`` is in centiseconds for both versions (v3's unit); the v2 wire field holds
    seconds, so a v2 interval is a multiple of 100. ``auth_type``/``auth_data`` exist only in v2.
    """

    version: int
    vrid: int
    priority: int
    interval: int
    addresses: tuple[IPv4Address, ...] | tuple[IPv6Address, ...]
    auth_type: int = 0
    auth_data: bytes = bytes(AUTH_LENGTH)


@dataclass(frozen=True, slots=True)
class Received:
    """An advert that passed :func:`decode`, with what the IP layer said about it.

    ``pseudo_header`` tells which VRRPv3/IPv4 checksum form the sender used (``True``: with the
    IPv4 pseudo-header, keepalived's default; ``False``: RFC 9568 / ``v3_checksum_as_v2``);
    ``None`` where there is only one form (v2, IPv6).
    """

    advert: Advert
    source: IpAddress
    destination: IpAddress
    ttl: int
    pseudo_header: bool | None


def checksum(data: bytes) -> int:
    """The RFC 1071 Internet checksum of ``data`` (zero-padded to an even length).

    The one's-complement sum of 16-bit words is the number mod 0xFFFF (2**16 = 1 mod 0xFFFF),
    which one big-integer operation computes; a non-zero sum of 0 mod 0xFFFF is 0xFFFF. A
    message that carries its valid checksum therefore gives 0.
    """
    if len(data) & 1:
        data += b"\x00"
    number = int.from_bytes(data, "big")
    total = number % 0xFFFF
    if total == 0 and number:
        total = 0xFFFF
    return 0xFFFF - total


def _pseudo_header(src: IpAddress, dst: IpAddress, length: int) -> bytes:
    if isinstance(src, IPv4Address):
        return _PSEUDO4.pack(src.packed, dst.packed, 0, PROTOCOL, length)
    return _PSEUDO6.pack(src.packed, dst.packed, length, PROTOCOL)


def encode(advert: Advert, *, src: IpAddress, dst: IpAddress, pseudo_header: bool = True) -> bytes:
    """The VRRP message for ``advert`` sent from ``src`` to ``dst``, checksum filled in.

    v2 never has a pseudo-header and IPv6 always has one. For v3 over IPv4, ``pseudo_header``
    chooses keepalived's default (src, dst, 0, 112, length prepended) or, when ``False``,
    RFC 9568's form (keepalived's ``v3_checksum_as_v2``). Raises ``ValueError`` for an advert
    that cannot be put on the wire (a bug or an unchecked configuration, not a peer's fault).
    """
    ipv4 = isinstance(src, IPv4Address)
    width = 4 if ipv4 else 16
    count = len(advert.addresses)
    addresses = b"".join(address.packed for address in advert.addresses)
    if len(addresses) != count * width or count > 255:
        raise ValueError(f"{count} addresses of the wrong family or too many for one advert")
    if isinstance(dst, IPv4Address) != ipv4:
        raise ValueError(f"source {src} and destination {dst} are not of one family")
    if not 1 <= advert.vrid <= 255:
        raise ValueError(f"virtual_router_id {advert.vrid} is not in 1..255")
    if not 0 <= advert.priority <= 255:
        raise ValueError(f"priority {advert.priority} is not in 0..255")
    if advert.version == 2:
        if not ipv4:
            raise ValueError("VRRPv2 is IPv4 only")
        seconds, rest = divmod(advert.interval, 100)
        if rest or not 0 <= seconds <= 255:
            raise ValueError(f"VRRPv2 advert_int {advert.interval} cs is not 0..255 whole seconds")
        if not 0 <= advert.auth_type <= 2 or len(advert.auth_data) != AUTH_LENGTH:
            raise ValueError("VRRPv2 auth_type is 0..2 and auth_data 8 bytes")
        head = _HEADER.pack(0x21, advert.vrid, advert.priority, count, advert.auth_type, seconds, 0)
        body = head + addresses + advert.auth_data
        value = checksum(body)
    elif advert.version == 3:
        if not 1 <= advert.interval <= 0x0FFF:
            raise ValueError(f"VRRPv3 advert_int {advert.interval} cs is not in 1..4095")
        if advert.auth_type or advert.auth_data != bytes(AUTH_LENGTH):
            raise ValueError("VRRPv3 has no authentication")
        head = _HEADER_V3.pack(0x31, advert.vrid, advert.priority, count, advert.interval, 0)
        body = head + addresses
        if ipv4 and not pseudo_header:
            value = checksum(body)
        else:
            value = checksum(_pseudo_header(src, dst, len(body)) + body)
    else:
        raise ValueError(f"VRRP version {advert.version} is not 2 or 3")
    return body[:6] + value.to_bytes(2, "big") + body[8:]


def ipv4_header(payload_length: int, *, src: IPv4Address, dst: IPv4Address, ident: int) -> bytes:
    """The 20-byte IPv4 header keepalived writes itself (``IP_HDRINCL``) in front of an advert.

    TOS 0xC0 (network control), no DF, TTL 255, protocol 112, header checksum filled in, so
    the bytes match keepalived's on the wire.
    """
    header = _IPV4.pack(
        0x45, 0xC0, 20 + payload_length, ident & 0xFFFF, 0, TTL, PROTOCOL, 0, src.packed, dst.packed
    )
    return header[:10] + checksum(header).to_bytes(2, "big") + header[12:]


def parse_ipv4(packet: bytes) -> tuple[IPv4Address, IPv4Address, int, bytes]:
    """Split what a raw IPv4 socket returns into (source, destination, TTL, VRRP message).

    Bytes past the IP total length (Ethernet padding of short frames) are dropped.
    """
    if len(packet) < 20:
        raise PacketError(f"IPv4 VRRP packet too short - {len(packet)} bytes")
    first, _, total, _, _, ttl, protocol, _, src, dst = _IPV4.unpack_from(packet)
    if first >> 4 != 4:
        raise PacketError(f"not an IPv4 packet (IP version {first >> 4})")
    header = (first & 0x0F) * 4
    if header < 20 or len(packet) < header:
        raise PacketError(f"IPv4 VRRP packet too short - {len(packet)} bytes")
    if protocol != PROTOCOL:
        raise PacketError(f"not a VRRP packet (IP protocol {protocol})")
    if not header <= total <= len(packet):
        raise PacketError(
            f"ip_tot_len mismatch against received length. {total} and received {len(packet)}"
        )
    return IPv4Address(src), IPv4Address(dst), ttl, packet[header:total]


def decode(
    message: bytes, *, src: IpAddress, dst: IpAddress, ttl: int, check_ttl: bool = True
) -> Received:
    """Validate and parse one received VRRP message (RFC 3768 / 5798 section 7.1).

    ``src``/``dst``/``ttl`` come from the IP layer (one family). Checks, in order: a whole
    8-byte header, TTL/hop limit 255 (skipped with ``check_ttl=False``, as keepalived does for
    unicast), version (2 or 3; only 3 over IPv6), type, length (trailing bytes past the
    addresses and v2 auth data are tolerated as padding), v2 auth type, checksum (v3/IPv4
    accepted with or without the pseudo-header), VRID 1..255, v3 interval not 0. Checks that
    depend on the instance (configured VRID, v2 interval and auth, address list) are the state
    machine's.
    """
    length = len(message)
    if length < HEADER_LENGTH:
        raise PacketError(f"vrrp packet too short, length {length} and expect {HEADER_LENGTH}")
    if check_ttl and ttl != TTL:
        raise PacketError(f"invalid TTL/HL. Received {ttl} and expect {TTL}")
    ipv4 = isinstance(src, IPv4Address)
    first, vrid, priority, count, auth_type, seconds, _ = _HEADER.unpack_from(message)
    version = first >> 4
    if version != 3 and (version != 2 or not ipv4):
        expect = "2 or 3" if ipv4 else "3"
        raise PacketError(f"wrong version. Received {version} and expect {expect}")
    if first & 0x0F != ADVERTISEMENT:
        raise PacketError(f"Invalid packet type. {first & 0x0F} and expect {ADVERTISEMENT}")
    width = 4 if ipv4 else 16
    end = HEADER_LENGTH + count * width
    expected = end + AUTH_LENGTH if version == 2 else end
    if length < expected:
        raise PacketError(f"vrrp packet too short, length {length} and expect {expected}")
    body = message[:expected] if length > expected else message
    pseudo: bool | None = None
    if version == 2:
        if auth_type > 2:
            raise PacketError(f"Invalid auth type: {auth_type}")
        if checksum(body):
            raise PacketError("Invalid VRRPv2 checksum")
        interval = seconds * 100
        auth_data = body[end:]
    else:
        if ipv4:
            if not checksum(_pseudo_header(src, dst, expected) + body):
                pseudo = True
            elif not checksum(body):
                pseudo = False
            else:
                raise PacketError("Invalid VRRPv3 checksum")
        elif checksum(_pseudo_header(src, dst, expected) + body):
            raise PacketError("Invalid VRRPv3 checksum")
        interval = (auth_type & 0x0F) << 8 | seconds  # the 4 reserved bits are ignored
        auth_type = 0
        auth_data = bytes(AUTH_LENGTH)
    if vrid == 0:
        raise PacketError("invalid VRID. Received 0 and expect 1..255")
    if interval == 0 and version == 3:
        raise PacketError("invalid advertisement interval. Received 0 and expect 1..4095 cs")
    addresses: tuple[IPv4Address, ...] | tuple[IPv6Address, ...]
    if ipv4:
        addresses = tuple(IPv4Address(body[i : i + 4]) for i in range(HEADER_LENGTH, end, 4))
    else:
        addresses = tuple(IPv6Address(body[i : i + 16]) for i in range(HEADER_LENGTH, end, 16))
    advert = Advert(version, vrid, priority, interval, addresses, auth_type, auth_data)
    return Received(advert, src, dst, ttl, pseudo)


class AdvertBuilder:
    """One instance's adverts to one destination, encoded once per priority.

    A master sends the same bytes every interval until its priority changes, so after the
    first advert each one is a dict lookup. One builder per destination (multicast group or
    unicast peer) because the VRRPv3 checksum covers the destination. ``auth_pass`` is
    keepalived's v2 ``authentication { auth_type PASS }``: up to 8 bytes sent in clear.
    """

    __slots__ = ("_cache", "dst", "pseudo_header", "src", "template")

    def __init__(
        self,
        version: int,
        vrid: int,
        interval: int,
        addresses: Iterable[IpAddress],
        *,
        src: IpAddress,
        dst: IpAddress,
        pseudo_header: bool = True,
        auth_pass: bytes | None = None,
    ) -> None:
        # One family: encode() checks it, as the packed length of mixed families never fits.
        listed = cast("tuple[IPv4Address, ...] | tuple[IPv6Address, ...]", tuple(addresses))
        if auth_pass is None:
            self.template = Advert(version, vrid, 0, interval, listed)
        else:
            auth_data = auth_pass[:AUTH_LENGTH].ljust(AUTH_LENGTH, b"\x00")
            self.template = Advert(version, vrid, 0, interval, listed, 1, auth_data)
        self.src = src
        self.dst = dst
        self.pseudo_header = pseudo_header
        # Encoding priority 0 now (the stop advert) also rejects a bad configuration early.
        self._cache: dict[int, bytes] = {0: self._encode(0)}

    def _encode(self, priority: int) -> bytes:
        advert = replace(self.template, priority=priority)
        return encode(advert, src=self.src, dst=self.dst, pseudo_header=self.pseudo_header)

    def message(self, priority: int) -> bytes:
        """The VRRP message advertising ``priority``."""
        cached = self._cache.get(priority)
        if cached is None:
            cached = self._cache[priority] = self._encode(priority)
        return cached
