"""GARP and unsolicited NA frames, byte for byte against keepalived 2.2.7's captures.

The captures are frames #2 and #6 of the reference ``vrrp-hexdumps.txt``, inlined.
"""

from __future__ import annotations

import subprocess
import sys
from ipaddress import IPv4Address, IPv6Address

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stack.vrrp.frames import gratuitous_arp, unsolicited_na
from stack.vrrp.packet import checksum

MAC = bytes.fromhex("020000000001")
KEEPALIVED_GARP = bytes.fromhex(  # 2: GARP for 10.99.0.100 on becoming MASTER
    "ffffffffffff020000000001080600010800060400010200000000010a630064ffffffffffff0a630064"
)
KEEPALIVED_NA = bytes.fromhex(  # 6: unsolicited NA for fd99::100 (R=0, S=0, O=1)
    "33330000000102000000000186dd6000"
    "000000203afffd990000000000000000"
    "000000000100ff020000000000000000"
    "0000000000018800576b20000000fd99"
    "00000000000000000000000001000201"
    "020000000001"
)


def test_gratuitous_arp_is_keepalived_s() -> None:
    assert gratuitous_arp(MAC, IPv4Address("10.99.0.100")) == KEEPALIVED_GARP


def test_unsolicited_na_is_keepalived_s() -> None:
    assert unsolicited_na(MAC, IPv6Address("fd99::100")) == KEEPALIVED_NA


def icmpv6_checksum_ok(frame: bytes) -> bool:
    ip, icmp = frame[14:54], frame[54:]
    pseudo = ip[8:40] + len(icmp).to_bytes(4, "big") + bytes([0, 0, 0, 58])
    return checksum(pseudo + icmp) == 0


def test_router_flag() -> None:
    plain = unsolicited_na(MAC, IPv6Address("fd99::100"))
    router = unsolicited_na(MAC, IPv6Address("fd99::100"), router=True)
    assert plain[58] == 0x20  # O only
    assert router[58] == 0xA0  # R and O
    assert plain[:56] == router[:56] and plain[59:] == router[59:]
    assert icmpv6_checksum_ok(plain) and icmpv6_checksum_ok(router)


macs = st.binary(min_size=6, max_size=6)


@given(macs, st.integers(0, 2**32 - 1))
@settings(max_examples=50, deadline=None)
def test_gratuitous_arp_layout(mac: bytes, number: int) -> None:
    address = IPv4Address(number)
    frame = gratuitous_arp(mac, address)
    broadcast = b"\xff" * 6
    assert len(frame) == 42
    assert frame[:14] == broadcast + mac + b"\x08\x06"
    assert frame[14:22] == bytes.fromhex("0001080006040001")  # Ethernet/IPv4, request
    assert frame[22:] == mac + address.packed + broadcast + address.packed


@given(macs, st.integers(0, 2**128 - 1), st.booleans())
@settings(max_examples=50, deadline=None)
def test_unsolicited_na_layout(mac: bytes, number: int, router: bool) -> None:
    address = IPv6Address(number)
    frame = unsolicited_na(mac, address, router=router)
    assert len(frame) == 86
    assert frame[:14] == bytes.fromhex("333300000001") + mac + b"\x86\xdd"
    assert frame[14:22] == bytes.fromhex("6000000000203aff")  # payload 32, ICMPv6, hop limit 255
    assert frame[22:38] == address.packed
    assert frame[38:54] == IPv6Address("ff02::1").packed
    assert frame[54:56] == bytes([136, 0])  # Neighbor Advertisement
    assert frame[58:62] == bytes([0xA0 if router else 0x20, 0, 0, 0])
    assert frame[62:78] == address.packed
    assert frame[78:] == bytes([2, 1]) + mac  # Target Link-Layer Address option
    assert icmpv6_checksum_ok(frame)


@pytest.mark.parametrize("mac", [b"", bytes(5), bytes(7)])
def test_mac_must_be_six_bytes(mac: bytes) -> None:
    with pytest.raises(ValueError, match="6 bytes"):
        gratuitous_arp(mac, IPv4Address("10.99.0.100"))
    with pytest.raises(ValueError, match="6 bytes"):
        unsolicited_na(mac, IPv6Address("fd99::100"))


def test_scapy_is_imported_only_when_a_frame_is_built() -> None:
    """Loading the configuration or the plugin must not pay scapy's import (~0.2-0.7 s)."""
    script = (
        "import sys\n"
        "import stack.vrrp.frames, stack.vrrp.packet\n"
        "assert not [m for m in sys.modules if m.startswith('scapy')], 'scapy at import'\n"
        "from ipaddress import IPv4Address\n"
        "stack.vrrp.frames.gratuitous_arp(bytes(6), IPv4Address('10.0.0.1'))\n"
        "assert 'scapy.layers.l2' in sys.modules\n"
        "assert 'scapy.all' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=60)
