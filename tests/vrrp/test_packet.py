"""The VRRP codec against keepalived 2.2.7's captured adverts, its receive checks, and properties.

The captures are the hex dumps of docs' reference ``vrrp-hexdumps.txt`` (frames #1, #3, #4, #5,
#7), inlined so the tests do not depend on a path outside the repository.
"""

from __future__ import annotations

import contextlib
import struct
from ipaddress import IPv4Address, IPv6Address

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stack.vrrp.packet import (
    Advert,
    AdvertBuilder,
    PacketError,
    Received,
    checksum,
    decode,
    encode,
    ipv4_header,
    parse_ipv4,
)

HOST = IPv4Address("10.99.0.1")
PEER = IPv4Address("10.99.0.2")
GROUP = IPv4Address("224.0.0.18")
VIP = IPv4Address("10.99.0.100")
LINK_LOCAL = IPv6Address("fe80::ff:fe00:1")
GROUP6 = IPv6Address("ff02::12")
VIP6 = IPv6Address("fd99::100")

# Whole Ethernet frames as keepalived sent them (veth: no padding).
V2_ADVERT = bytes.fromhex(  # 1: v2, VRID 51, priority 150, advert_int 1
    "01005e000012020000000001080045c0"
    "002800010000ff70d02e0a630001e000"
    "00122133960100013e030a6300640000"
    "000000000000"
)
V2_STOP = bytes.fromhex(  # 3: the priority-0 advert sent on SIGTERM
    "01005e000012020000000001080045c0"
    "002800090000ff70d0260a630001e000"
    "0012213300010001d4030a6300640000"
    "000000000000"
)
V3_ADVERT = bytes.fromhex(  # 4: v3 over IPv4, 100 cs, pseudo-header checksum
    "01005e000012020000000001080045c0002000010000ff70d0360a630001e000001231339601006442ad0a630064"
)
V3_IPV6_ADVERT = bytes.fromhex(  # 5: v3 over IPv6, VRID 52, from the link-local address
    "33330000001202000000000186dd6c0a"
    "b285001870fffe800000000000000000"
    "00fffe000001ff020000000000000000"
    "0000000000123134960100643cadfd99"
    "0000000000000000000000000100"
)
V3_UNICAST = bytes.fromhex(  # 7: v3 unicast to 10.99.0.2, 10 cs; pseudo-header uses the peer
    "020000000002020000000001080045c0002000010000ff70a5e40a6300010a63000231339601000a18b50a630064"
)

# (frame, advert, destination, IP id, pseudo_header, plain checksum, pseudo-header checksum)
IPV4_CAPTURES = {
    "v2": (V2_ADVERT, Advert(2, 51, 150, 100, (VIP,)), GROUP, 1, None, 0x3E03, 0x5308),
    "v2-priority-0": (V2_STOP, Advert(2, 51, 0, 100, (VIP,)), GROUP, 9, None, 0xD403, 0xE908),
    "v3": (V3_ADVERT, Advert(3, 51, 150, 100, (VIP,)), GROUP, 1, True, 0x2DA0, 0x42AD),
    "v3-unicast": (V3_UNICAST, Advert(3, 51, 150, 10, (VIP,)), PEER, 1, True, 0x2DFA, 0x18B5),
}
V3_IPV6 = Advert(3, 52, 150, 100, (VIP6,))


def vrrp_of(frame: bytes) -> bytes:
    """The VRRP message of a captured IPv4 frame (Ethernet 14 + IP 20)."""
    return frame[34:]


def with_checksum(message: bytes, value: int) -> bytes:
    return message[:6] + value.to_bytes(2, "big") + message[8:]


def pseudo4(src: IPv4Address, dst: IPv4Address, length: int) -> bytes:
    return src.packed + dst.packed + bytes([0, 112]) + length.to_bytes(2, "big")


def pseudo6(src: IPv6Address, dst: IPv6Address, length: int) -> bytes:
    return src.packed + dst.packed + length.to_bytes(4, "big") + bytes([0, 0, 0, 112])


def reseal(message: bytes, *, src: object = None, dst: object = None) -> bytes:
    """``message`` with a valid checksum again after a test edited it (pseudo-header if given)."""
    zeroed = with_checksum(message, 0)
    if isinstance(src, IPv4Address) and isinstance(dst, IPv4Address):
        prefix = pseudo4(src, dst, len(message))
    elif isinstance(src, IPv6Address) and isinstance(dst, IPv6Address):
        prefix = pseudo6(src, dst, len(message))
    else:
        prefix = b""
    return with_checksum(message, checksum(prefix + zeroed))


def rejected(message: bytes, **kwargs: object) -> str:
    options: dict[str, object] = {"src": HOST, "dst": GROUP, "ttl": 255, **kwargs}
    with pytest.raises(PacketError) as caught:
        decode(message, **options)  # type: ignore[arg-type]
    return str(caught.value)


# --- the captures -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", IPV4_CAPTURES)
def test_capture_decodes_to_its_fields(name: str) -> None:
    frame, advert, dst, _, pseudo, _, _ = IPV4_CAPTURES[name]
    src, parsed_dst, ttl, message = parse_ipv4(frame[14:])
    assert (src, parsed_dst, ttl) == (HOST, dst, 255)
    assert message == vrrp_of(frame)
    assert decode(message, src=src, dst=dst, ttl=ttl) == Received(advert, HOST, dst, 255, pseudo)


@pytest.mark.parametrize("name", IPV4_CAPTURES)
def test_capture_encodes_to_the_wire_bytes(name: str) -> None:
    frame, advert, dst, ident, _, _, _ = IPV4_CAPTURES[name]
    message = encode(advert, src=HOST, dst=dst)
    assert message == vrrp_of(frame)
    assert ipv4_header(len(message), src=HOST, dst=dst, ident=ident) == frame[14:34]


@pytest.mark.parametrize("name", IPV4_CAPTURES)
def test_capture_checksum_values(name: str) -> None:
    frame, advert, dst, _, _, plain, with_pseudo = IPV4_CAPTURES[name]
    zeroed = with_checksum(vrrp_of(frame), 0)
    assert checksum(zeroed) == plain
    assert checksum(pseudo4(HOST, dst, len(zeroed)) + zeroed) == with_pseudo
    if advert.version == 3:
        assert encode(advert, src=HOST, dst=dst, pseudo_header=True) == with_checksum(
            zeroed, with_pseudo
        )
        assert encode(advert, src=HOST, dst=dst, pseudo_header=False) == with_checksum(
            zeroed, plain
        )
    else:  # v2 never has a pseudo-header, whatever is asked
        assert encode(advert, src=HOST, dst=dst, pseudo_header=False) == vrrp_of(frame)
        assert encode(advert, src=HOST, dst=dst, pseudo_header=True) == vrrp_of(frame)


@pytest.mark.parametrize("name", ["v3", "v3-unicast"])
def test_v3_ipv4_accepts_both_checksum_forms_and_says_which(name: str) -> None:
    frame, advert, dst, _, _, plain, with_pseudo = IPV4_CAPTURES[name]
    zeroed = with_checksum(vrrp_of(frame), 0)
    keepalived = decode(with_checksum(zeroed, with_pseudo), src=HOST, dst=dst, ttl=255)
    rfc9568 = decode(with_checksum(zeroed, plain), src=HOST, dst=dst, ttl=255)
    assert keepalived == Received(advert, HOST, dst, 255, True)
    assert rfc9568 == Received(advert, HOST, dst, 255, False)


@pytest.mark.parametrize("name", ["v2", "v2-priority-0"])
def test_v2_with_a_pseudo_header_checksum_is_rejected(name: str) -> None:
    frame, _, dst, _, _, _, with_pseudo = IPV4_CAPTURES[name]
    message = with_checksum(vrrp_of(frame), with_pseudo)
    assert rejected(message, dst=dst) == "Invalid VRRPv2 checksum"


def test_v3_unicast_checksum_uses_the_peer_not_the_group() -> None:
    """keepalived <= 1.3.6 used 224.0.0.18 in a unicast advert's pseudo-header (issue #642)."""
    message = vrrp_of(V3_UNICAST)
    assert rejected(message, dst=GROUP) == "Invalid VRRPv3 checksum"


def test_ipv6_capture() -> None:
    ip = V3_IPV6_ADVERT[14:54]
    message = V3_IPV6_ADVERT[54:]
    src, dst, hop_limit = IPv6Address(ip[8:24]), IPv6Address(ip[24:40]), ip[7]
    assert (src, dst, hop_limit, ip[6]) == (LINK_LOCAL, GROUP6, 255, 112)
    assert decode(message, src=src, dst=dst, ttl=hop_limit) == Received(
        V3_IPV6, LINK_LOCAL, GROUP6, 255, None
    )
    assert encode(V3_IPV6, src=LINK_LOCAL, dst=GROUP6) == message
    # IPv6 always has the pseudo-header: asking for RFC 9568's IPv4 form changes nothing.
    assert encode(V3_IPV6, src=LINK_LOCAL, dst=GROUP6, pseudo_header=False) == message
    zeroed = with_checksum(message, 0)
    assert checksum(pseudo6(LINK_LOCAL, GROUP6, len(zeroed)) + zeroed) == 0x3CAD
    plain = with_checksum(zeroed, checksum(zeroed))
    assert rejected(plain, src=LINK_LOCAL, dst=GROUP6) == "Invalid VRRPv3 checksum"


# --- receive validation ------------------------------------------------------------------------

V2 = vrrp_of(V2_ADVERT)
V3 = vrrp_of(V3_ADVERT)
V6 = V3_IPV6_ADVERT[54:]


def test_ttl_must_be_255() -> None:
    assert rejected(V2, ttl=64) == "invalid TTL/HL. Received 64 and expect 255"
    assert rejected(V3, ttl=254) == "invalid TTL/HL. Received 254 and expect 255"
    assert (
        rejected(V6, src=LINK_LOCAL, dst=GROUP6, ttl=1)
        == "invalid TTL/HL. Received 1 and expect 255"
    )


def test_ttl_is_not_checked_for_unicast() -> None:
    message = vrrp_of(V3_UNICAST)
    received = decode(message, src=HOST, dst=PEER, ttl=64, check_ttl=False)
    assert received.ttl == 64
    assert received.advert == IPV4_CAPTURES["v3-unicast"][1]


@pytest.mark.parametrize("version", [0, 1, 4, 5, 15])
def test_wrong_version(version: int) -> None:
    message = reseal(bytes([version << 4 | 1]) + V2[1:])
    assert rejected(message) == f"wrong version. Received {version} and expect 2 or 3"


def test_ipv6_is_v3_only() -> None:
    message = reseal(bytes([0x21]) + V6[1:], src=LINK_LOCAL, dst=GROUP6)
    assert rejected(message, src=LINK_LOCAL, dst=GROUP6) == "wrong version. Received 2 and expect 3"


@pytest.mark.parametrize("kind", [0, 2, 3, 15])
def test_type_must_be_advertisement(kind: int) -> None:
    message = reseal(bytes([0x20 | kind]) + V2[1:])
    assert rejected(message) == f"Invalid packet type. {kind} and expect 1"


@pytest.mark.parametrize(
    ("message", "src", "dst"),
    [(V2, HOST, GROUP), (V3, HOST, GROUP), (V6, LINK_LOCAL, GROUP6)],
    ids=["v2", "v3", "v3-ipv6"],
)
def test_truncated_at_every_length(message: bytes, src: object, dst: object) -> None:
    for length in range(len(message)):
        expected = 8 if length < 8 else len(message)
        assert (
            rejected(message[:length], src=src, dst=dst)
            == f"vrrp packet too short, length {length} and expect {expected}"
        )


def test_checksum_must_match() -> None:
    assert rejected(with_checksum(V2, 0x1234)) == "Invalid VRRPv2 checksum"
    assert rejected(with_checksum(V3, 0x1234)) == "Invalid VRRPv3 checksum"
    message = with_checksum(V6, 0x1234)
    assert rejected(message, src=LINK_LOCAL, dst=GROUP6) == "Invalid VRRPv3 checksum"


def test_checksum_covers_source_and_destination_in_v3() -> None:
    assert rejected(V3, src=PEER) == "Invalid VRRPv3 checksum"
    assert rejected(V6, src=IPv6Address("fe80::2"), dst=GROUP6) == "Invalid VRRPv3 checksum"
    # v2 has no pseudo-header: the addresses do not matter.
    assert decode(V2, src=PEER, dst=HOST, ttl=255).advert == IPV4_CAPTURES["v2"][1]


def test_vrid_zero() -> None:
    message = reseal(V2[:1] + b"\x00" + V2[2:])
    assert rejected(message) == "invalid VRID. Received 0 and expect 1..255"
    message = reseal(V3[:1] + b"\x00" + V3[2:], src=HOST, dst=GROUP)
    assert rejected(message) == "invalid VRID. Received 0 and expect 1..255"


def test_v3_interval_zero() -> None:
    message = reseal(V3[:4] + b"\x00\x00" + V3[6:], src=HOST, dst=GROUP)
    assert rejected(message) == "invalid advertisement interval. Received 0 and expect 1..4095 cs"
    # The 4 reserved bits are not part of the interval.
    message = reseal(V3[:4] + b"\xf0\x00" + V3[6:], src=HOST, dst=GROUP)
    assert rejected(message) == "invalid advertisement interval. Received 0 and expect 1..4095 cs"


def test_v2_interval_zero_is_left_to_the_instance() -> None:
    """keepalived drops it as an interval mismatch with its configuration, not as malformed."""
    message = reseal(V2[:5] + b"\x00" + V2[6:])
    assert decode(message, src=HOST, dst=GROUP, ttl=255).advert.interval == 0


def test_v3_reserved_bits_are_ignored() -> None:
    message = reseal(V3[:4] + bytes([0xF0 | V3[4]]) + V3[5:], src=HOST, dst=GROUP)
    assert decode(message, src=HOST, dst=GROUP, ttl=255).advert == IPV4_CAPTURES["v3"][1]


def test_v2_auth_type() -> None:
    message = reseal(V2[:4] + b"\x03" + V2[5:])
    assert rejected(message) == "Invalid auth type: 3"
    password = V2[:4] + b"\x01" + V2[5:12] + b"secret\x00\x00"
    advert = decode(reseal(password), src=HOST, dst=GROUP, ttl=255).advert
    assert (advert.auth_type, advert.auth_data) == (1, b"secret\x00\x00")


def test_count_larger_than_the_addresses() -> None:
    message = reseal(V3[:3] + b"\x02" + V3[4:], src=HOST, dst=GROUP)
    assert rejected(message) == "vrrp packet too short, length 12 and expect 16"
    message = reseal(V2[:3] + b"\x02" + V2[4:])
    assert rejected(message) == "vrrp packet too short, length 20 and expect 24"
    message = V6[:3] + b"\x03" + V6[4:]
    assert (
        rejected(message, src=LINK_LOCAL, dst=GROUP6)
        == "vrrp packet too short, length 24 and expect 56"
    )


def test_count_smaller_than_the_addresses() -> None:
    """The uncounted address is trailing data: the checksum no longer covers what was summed."""
    assert rejected(V3[:3] + b"\x00" + V3[4:]) == "Invalid VRRPv3 checksum"
    assert rejected(V2[:3] + b"\x00" + V2[4:]) == "Invalid VRRPv2 checksum"


@pytest.mark.parametrize(
    ("frame", "advert"),
    [(V2_ADVERT, IPV4_CAPTURES["v2"][1]), (V3_ADVERT, IPV4_CAPTURES["v3"][1])],
    ids=["v2", "v3"],
)
def test_padding_up_to_a_60_byte_frame_is_accepted(frame: bytes, advert: Advert) -> None:
    padding = bytes(60 - len(frame))
    assert padding  # both captures are short frames
    # Through the IP layer: the total length says where the message ends.
    src, dst, ttl, message = parse_ipv4(frame[14:] + padding)
    assert message == vrrp_of(frame)
    assert decode(message, src=src, dst=dst, ttl=ttl).advert == advert
    # Handed the padded message itself, decode ignores the bytes past the counted ones.
    padded = vrrp_of(frame) + padding
    assert decode(padded, src=HOST, dst=GROUP, ttl=255).advert == advert
    assert decode(padded[:-1] + b"\xff", src=HOST, dst=GROUP, ttl=255).advert == advert


def test_parse_ipv4_rejections() -> None:
    ip = V2_ADVERT[14:]
    with pytest.raises(PacketError, match=r"^IPv4 VRRP packet too short - 19 bytes$"):
        parse_ipv4(ip[:19])
    with pytest.raises(PacketError, match=r"IP version 6"):
        parse_ipv4(b"\x65" + ip[1:])
    with pytest.raises(PacketError, match=r"IP protocol 51"):
        parse_ipv4(ip[:9] + b"\x33" + ip[10:])
    with pytest.raises(PacketError, match=r"^ip_tot_len mismatch .* 40 and received 39$"):
        parse_ipv4(ip[:39])
    with pytest.raises(PacketError, match=r"too short - 40 bytes"):
        parse_ipv4(b"\x4f" + ip[1:])  # a 60-byte header in a 40-byte packet


def test_parse_ipv4_skips_options() -> None:
    ip = V2_ADVERT[14:]
    options = bytes([0x94, 4, 0, 0])  # router alert
    packet = b"\x46" + ip[1:2] + (44).to_bytes(2, "big") + ip[4:20] + options + ip[20:]
    assert parse_ipv4(packet) == (HOST, GROUP, 255, vrrp_of(V2_ADVERT))


# --- encode's own checks -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("advert", "src", "dst"),
    [
        (Advert(2, 1, 100, 100, (VIP6,)), LINK_LOCAL, GROUP6),
        (Advert(3, 0, 100, 100, (VIP,)), HOST, GROUP),
        (Advert(3, 256, 100, 100, (VIP,)), HOST, GROUP),
        (Advert(3, 1, 256, 100, (VIP,)), HOST, GROUP),
        (Advert(3, 1, -1, 100, (VIP,)), HOST, GROUP),
        (Advert(2, 1, 100, 150, (VIP,)), HOST, GROUP),
        (Advert(2, 1, 100, 25600, (VIP,)), HOST, GROUP),
        (Advert(3, 1, 100, 0, (VIP,)), HOST, GROUP),
        (Advert(3, 1, 100, 4096, (VIP,)), HOST, GROUP),
        (Advert(3, 1, 100, 100, (VIP,), 1, b"secret\x00\x00"), HOST, GROUP),
        (Advert(2, 1, 100, 100, (VIP,), 3), HOST, GROUP),
        (Advert(2, 1, 100, 100, (VIP,), 1, b"short"), HOST, GROUP),
        (Advert(3, 1, 100, 100, (VIP6,)), HOST, GROUP),
        (Advert(3, 1, 100, 100, (VIP, VIP6)), HOST, GROUP),  # type: ignore[arg-type]
        (Advert(3, 1, 100, 100, (VIP,) * 256), HOST, GROUP),
        (Advert(3, 1, 100, 100, (VIP,)), HOST, GROUP6),
        (Advert(4, 1, 100, 100, (VIP,)), HOST, GROUP),
    ],
)
def test_encode_refuses_what_the_wire_cannot_carry(
    advert: Advert, src: IPv4Address | IPv6Address, dst: IPv4Address | IPv6Address
) -> None:
    with pytest.raises(ValueError) as caught:
        encode(advert, src=src, dst=dst)
    assert not isinstance(caught.value, PacketError)


# --- AdvertBuilder ---------------------------------------------------------------------------


def test_builder_gives_the_captured_adverts_and_caches_them() -> None:
    builder = AdvertBuilder(2, 51, 100, [VIP], src=HOST, dst=GROUP)
    first = builder.message(150)
    assert first == vrrp_of(V2_ADVERT)
    assert builder.message(150) is first
    assert builder.message(0) == vrrp_of(V2_STOP)
    assert builder.message(151) != first
    unicast = AdvertBuilder(3, 51, 10, (VIP,), src=HOST, dst=PEER)
    assert unicast.message(150) == vrrp_of(V3_UNICAST)
    ipv6 = AdvertBuilder(3, 52, 100, (VIP6,), src=LINK_LOCAL, dst=GROUP6)
    assert ipv6.message(150) == V6


def test_builder_checksum_form() -> None:
    plain = AdvertBuilder(3, 51, 100, (VIP,), src=HOST, dst=GROUP, pseudo_header=False)
    assert plain.message(150) == with_checksum(V3, 0x2DA0)


def test_builder_auth_pass() -> None:
    builder = AdvertBuilder(2, 51, 100, (VIP,), src=HOST, dst=GROUP, auth_pass=b"secret")
    advert = decode(builder.message(150), src=HOST, dst=GROUP, ttl=255).advert
    assert (advert.auth_type, advert.auth_data) == (1, b"secret\x00\x00")
    long = AdvertBuilder(2, 51, 100, (VIP,), src=HOST, dst=GROUP, auth_pass=b"0123456789")
    assert long.message(150)[-8:] == b"01234567"


def test_builder_refuses_a_bad_configuration_at_once() -> None:
    with pytest.raises(ValueError, match="whole seconds"):
        AdvertBuilder(2, 51, 50, (VIP,), src=HOST, dst=GROUP)
    with pytest.raises(ValueError, match="no authentication"):
        AdvertBuilder(3, 51, 100, (VIP,), src=HOST, dst=GROUP, auth_pass=b"x")


# --- the checksum itself -------------------------------------------------------------------------


def folded_sum_checksum(data: bytes) -> int:
    """RFC 1071 written out: 16-bit words, end-around carry, complement."""
    if len(data) % 2:
        data += b"\x00"
    total = 0
    for (word,) in struct.iter_unpack(">H", data):
        total += word
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def test_checksum_rfc1071_example() -> None:
    # RFC 1071 section 3: these words sum to 0xddf2 (one's complement), checksum 0x220d.
    assert checksum(bytes.fromhex("0001f203f4f5f6f7")) == 0x220D
    assert checksum(b"") == 0xFFFF
    assert checksum(bytes(6)) == 0xFFFF
    assert checksum(b"\xff\xff") == 0
    assert checksum(b"\x01") == 0xFEFF


@given(st.binary(max_size=300))
@settings(max_examples=500, deadline=None)
def test_checksum_equals_the_word_by_word_sum(data: bytes) -> None:
    assert checksum(data) == folded_sum_checksum(data)


# --- properties ----------------------------------------------------------------------------------

ipv4s = st.builds(IPv4Address, st.integers(0, 2**32 - 1))
ipv6s = st.builds(IPv6Address, st.integers(0, 2**128 - 1))


@st.composite
def sent(draw: st.DrawFn) -> tuple[Advert, IPv4Address | IPv6Address, IPv4Address | IPv6Address]:
    """A valid advert with the addresses it travels between."""
    version = draw(st.sampled_from([2, 3]))
    addresses: tuple[IPv4Address, ...] | tuple[IPv6Address, ...]
    src: IPv4Address | IPv6Address
    dst: IPv4Address | IPv6Address
    if version == 2 or draw(st.booleans()):
        addresses = tuple(draw(st.lists(ipv4s, max_size=12)))
        src, dst = draw(ipv4s), draw(ipv4s)
    else:
        addresses = tuple(draw(st.lists(ipv6s, max_size=12)))
        src, dst = draw(ipv6s), draw(ipv6s)
    vrid = draw(st.integers(1, 255))
    priority = draw(st.integers(0, 255))
    if version == 2:
        interval = draw(st.integers(0, 255)) * 100
        auth_type = draw(st.integers(0, 2))
        auth_data = draw(st.binary(min_size=8, max_size=8))
        advert = Advert(2, vrid, priority, interval, addresses, auth_type, auth_data)
    else:
        advert = Advert(3, vrid, priority, draw(st.integers(1, 4095)), addresses)
    return advert, src, dst


def forms_coincide(src: object, dst: object, length: int) -> bool:
    """True when the IPv4 pseudo-header sums to 0 (mod 0xFFFF): both checksum forms agree."""
    assert isinstance(src, IPv4Address) and isinstance(dst, IPv4Address)
    return checksum(pseudo4(src, dst, length)) == 0


def expected_form(
    advert: Advert, src: IPv4Address | IPv6Address, dst: object, mode: bool, length: int
) -> bool | None:
    if advert.version == 2 or isinstance(src, IPv6Address):
        return None
    return mode or forms_coincide(src, dst, length)


@given(sent(), st.booleans())
@settings(max_examples=400, deadline=None)
def test_decode_inverts_encode(
    case: tuple[Advert, IPv4Address | IPv6Address, IPv4Address | IPv6Address], mode: bool
) -> None:
    advert, src, dst = case
    message = encode(advert, src=src, dst=dst, pseudo_header=mode)
    width = 4 if isinstance(src, IPv4Address) else 16
    assert len(message) == 8 + width * len(advert.addresses) + (8 if advert.version == 2 else 0)
    form = expected_form(advert, src, dst, mode, len(message))
    assert decode(message, src=src, dst=dst, ttl=255) == Received(advert, src, dst, 255, form)


@given(sent(), st.booleans())
@settings(max_examples=150, deadline=None)
def test_encode_matches_scapy(
    case: tuple[Advert, IPv4Address | IPv6Address, IPv4Address | IPv6Address], mode: bool
) -> None:
    """scapy's VRRP layers are an independent encoder (v2 plain, v3 with the pseudo-header)."""
    from scapy.layers.inet import IP
    from scapy.layers.inet6 import IPv6
    from scapy.layers.vrrp import VRRP, VRRPv3
    from scapy.packet import Packet

    advert, src, dst = case
    addresses = [str(a) for a in advert.addresses]
    layer: Packet
    if advert.version == 2:
        layer = VRRP(
            vrid=advert.vrid,
            priority=advert.priority,
            adv=advert.interval // 100,
            addrlist=addresses,
            authtype=advert.auth_type,
            auth1=int.from_bytes(advert.auth_data[:4], "big"),
            auth2=int.from_bytes(advert.auth_data[4:], "big"),
        )
    else:
        layer = VRRPv3(
            vrid=advert.vrid, priority=advert.priority, adv=advert.interval, addrlist=addresses
        )
    if isinstance(src, IPv4Address):
        assert isinstance(dst, IPv4Address)
        packet = bytes(IP(src=str(src), dst=str(dst), ttl=255, tos=0xC0, id=7) / layer)
        ours = encode(advert, src=src, dst=dst, pseudo_header=True)
        assert packet[20:] == ours
        assert packet[:20] == ipv4_header(len(ours), src=src, dst=dst, ident=7)
    else:
        packet = bytes(IPv6(src=str(src), dst=str(dst), hlim=255) / layer)
        assert packet[40:] == encode(advert, src=src, dst=dst)


@given(
    st.binary(max_size=120),
    st.one_of(st.tuples(ipv4s, ipv4s), st.tuples(ipv6s, ipv6s)),
    st.integers(0, 255),
    st.booleans(),
)
@settings(max_examples=1000, deadline=None)
def test_decode_raises_only_packet_error(
    message: bytes,
    addresses: tuple[IPv4Address, IPv4Address] | tuple[IPv6Address, IPv6Address],
    ttl: int,
    check_ttl: bool,
) -> None:
    src, dst = addresses
    try:
        received = decode(message, src=src, dst=dst, ttl=ttl, check_ttl=check_ttl)
    except PacketError:
        return
    assert received.advert.version in (2, 3)


@given(sent(), st.booleans(), st.data())
@settings(max_examples=400, deadline=None)
def test_decode_raises_only_packet_error_on_damaged_adverts(
    case: tuple[Advert, IPv4Address | IPv6Address, IPv4Address | IPv6Address],
    mode: bool,
    data: st.DataObject,
) -> None:
    """Random bytes rarely get past the header; start from real adverts, damage, often reseal."""
    advert, src, dst = case
    message = bytearray(encode(advert, src=src, dst=dst, pseudo_header=mode))
    for _ in range(data.draw(st.integers(1, 4))):
        message[data.draw(st.integers(0, len(message) - 1))] = data.draw(st.integers(0, 255))
    damaged = bytes(message[: data.draw(st.integers(0, len(message) + 4))])
    if data.draw(st.booleans()) and len(damaged) >= 8:
        pseudo = damaged[0] >> 4 == 3 and (mode or isinstance(src, IPv6Address))
        damaged = reseal(damaged, src=src if pseudo else None, dst=dst)
    with contextlib.suppress(PacketError):
        decode(damaged, src=src, dst=dst, ttl=255)


@given(st.binary(max_size=80))
@settings(max_examples=500, deadline=None)
def test_parse_ipv4_raises_only_packet_error(packet: bytes) -> None:
    try:
        _, _, ttl, message = parse_ipv4(packet)
    except PacketError:
        return
    assert 0 <= ttl <= 255 and len(message) <= len(packet) - 20


def flipped(message: bytes, bit: int) -> bytes:
    copy = bytearray(message)
    copy[bit // 8] ^= 0x80 >> (bit % 8)
    return bytes(copy)


@given(sent(), st.booleans())
@settings(max_examples=150, deadline=None)
def test_single_bit_flips(
    case: tuple[Advert, IPv4Address | IPv6Address, IPv4Address | IPv6Address], mode: bool
) -> None:
    """Every single-bit error is rejected or yields a different result; outside the version
    nibble and the count byte (which change how much the checksum covers) it is always rejected,
    except that a v3/IPv4 advert can land on a valid checksum of the *other* form."""
    advert, src, dst = case
    message = encode(advert, src=src, dst=dst, pseudo_header=mode)
    original = decode(message, src=src, dst=dst, ttl=255)
    for bit in range(len(message) * 8):
        try:
            received = decode(flipped(message, bit), src=src, dst=dst, ttl=255)
        except PacketError:
            continue
        assert received != original
        if bit >= 4 and bit // 8 != 3:
            assert original.pseudo_header is not None
            assert received.pseudo_header is (not original.pseudo_header)


def test_a_bit_flip_can_turn_one_checksum_form_into_the_other() -> None:
    """Why the property above allows it. The two forms differ by the pseudo-header's sum P;
    clearing a set top bit of the checksum subtracts 2**15, so with P = -2**15 (mod 0xFFFF)
    keepalived's form becomes a valid RFC 9568 one. Pick the destination that gives that P."""
    advert = IPV4_CAPTURES["v3"][1]
    length = 12
    base = pseudo4(HOST, IPv4Address("224.0.0.0"), length)
    total = (0xFFFF - checksum(base)) % 0xFFFF  # the pseudo-header's sum so far
    dst = IPv4Address(int(IPv4Address("224.0.0.0")) + (0x7FFF - total) % 0xFFFF)
    assert checksum(pseudo4(HOST, dst, length)) == 0x8000  # P = 0x7FFF = -2**15
    message = encode(advert, src=HOST, dst=dst, pseudo_header=True)
    assert message[6] & 0x80  # the checksum's top bit is set: flipping it subtracts 2**15
    received = decode(flipped(message, 48), src=HOST, dst=dst, ttl=255)
    assert received == Received(advert, HOST, dst, 255, False)
    assert decode(message, src=HOST, dst=dst, ttl=255).pseudo_header is True


def test_equal_forms_report_the_pseudo_header() -> None:
    """When the pseudo-header sums to 0 both forms are the same bytes; decode says True."""
    length = 12
    base = pseudo4(HOST, IPv4Address("224.0.0.0"), length)
    total = (0xFFFF - checksum(base)) % 0xFFFF
    dst = IPv4Address(int(IPv4Address("224.0.0.0")) + (0xFFFF - total) % 0xFFFF)
    assert forms_coincide(HOST, dst, length)
    advert = IPV4_CAPTURES["v3"][1]
    plain = encode(advert, src=HOST, dst=dst, pseudo_header=False)
    assert plain == encode(advert, src=HOST, dst=dst, pseudo_header=True)
    assert decode(plain, src=HOST, dst=dst, ttl=255).pseudo_header is True
