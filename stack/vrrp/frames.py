"""The frames a new master sends so neighbours repoint a virtual address at its MAC.

Gratuitous ARP (IPv4) and unsolicited Neighbor Advertisement (IPv6), byte for byte what
keepalived 2.2.7 sends without ``use_vmac``: clients hold the old master's real MAC, so these are
what makes failover visible to them. Built with scapy, imported here lazily (only the layers
used) so loading the configuration or the plugin never pays scapy's import. The bytes depend
only on (MAC, address): build each frame once per address and resend the bytes.
"""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address

BROADCAST = "ff:ff:ff:ff:ff:ff"
ALL_NODES = IPv6Address("ff02::1")
ALL_NODES_MAC = "33:33:00:00:00:01"


def _mac(mac: bytes) -> str:
    if len(mac) != 6:
        raise ValueError(f"a MAC address is 6 bytes, not {len(mac)}")
    return mac.hex(":")


def gratuitous_arp(mac: bytes, address: IPv4Address) -> bytes:
    """The 42-byte broadcast ARP request announcing ``address`` at ``mac``.

    keepalived's form: a request (op 1), sender = target = the address, and target hardware
    address ff:ff:ff:ff:ff:ff (not RFC 5227's zeros); Linux updates an existing entry either way.
    """
    from scapy.layers.l2 import ARP, Ether

    hw = _mac(mac)
    ip = str(address)
    frame = Ether(dst=BROADCAST, src=hw) / ARP(op=1, hwsrc=hw, psrc=ip, hwdst=BROADCAST, pdst=ip)
    return bytes(frame)


def unsolicited_na(mac: bytes, address: IPv6Address, *, router: bool = False) -> bytes:
    """The 86-byte Neighbor Advertisement of ``address`` at ``mac`` to all nodes (ff02::1).

    keepalived's form: source = the address itself, hop limit 255 (receivers require it), O=1
    (override caches), S=0 (unsolicited), R=``router`` (keepalived sets it when the interface
    forwards IPv6), and a Target Link-Layer Address option (type 2; scapy calls it
    ``ICMPv6NDOptDstLLAddr``).
    """
    from scapy.layers.inet6 import ICMPv6ND_NA, ICMPv6NDOptDstLLAddr, IPv6
    from scapy.layers.l2 import Ether

    hw = _mac(mac)
    ip = str(address)
    frame = (
        Ether(dst=ALL_NODES_MAC, src=hw)
        / IPv6(src=ip, dst=str(ALL_NODES), hlim=255)
        / ICMPv6ND_NA(R=int(router), S=0, O=1, tgt=ip)
        / ICMPv6NDOptDstLLAddr(lladdr=hw)
    )
    return bytes(frame)
