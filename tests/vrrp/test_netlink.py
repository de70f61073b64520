"""Virtual addresses through netlink, and link events for the reactor.

The parser tests build netlink datagrams by hand (the layout of ``linux/rtnetlink.h``); the
namespace tests change a veth with ``ip`` and check what AddressBook and LinkWatcher see.
"""

from __future__ import annotations

import select
import struct
import time
from collections.abc import Iterator
from ipaddress import IPv4Interface, IPv6Interface

import pytest
from hypothesis import given
from hypothesis import strategies as st
from wire_lab import Pair, inside, ip, require_root_netns, sysctl, veth_pair

from stack.config.model import VirtualAddress
from stack.vrrp.netlink import AddressBook, LinkReader, LinkWatcher, parse_links
from stack.vrrp.sockets import LinkError

RTM_NEWLINK, RTM_DELLINK, RTM_NEWADDR = 16, 17, 20
IFF_UP_RUNNING = 0x1 | 0x40 | 0x10000  # UP, RUNNING, LOWER_UP


def attribute(kind: int, payload: bytes) -> bytes:
    length = 4 + len(payload)
    return struct.pack("=HH", length, kind) + payload + bytes(-length % 4)


def message(kind: int, flags: int, name: str | None, index: int = 2) -> bytes:
    body = struct.pack("=BxHiII", 0, 1, index, flags, 0xFFFFFFFF)
    body += attribute(4, struct.pack("=I", 1500))  # IFLA_MTU first, as the kernel sends it
    if name is not None:
        body += attribute(3, name.encode() + b"\0")
    body += attribute(16, b"\x06")  # IFLA_OPERSTATE
    return struct.pack("=IHHII", 16 + len(body), kind, 0, 0, 0) + body


# --- without root ------------------------------------------------------------------------------


def test_parse_links_reads_name_flags_and_deletion() -> None:
    data = (
        message(RTM_NEWLINK, IFF_UP_RUNNING, "eth0")
        + message(RTM_NEWADDR, 0, "ignored")
        + message(RTM_NEWLINK, 0x1003, "eth1", 3)
        + message(RTM_DELLINK, 0x1002, "vrrp.51", 4)
        + message(RTM_NEWLINK, 0x1, None)  # no name: nothing to report
    )
    assert parse_links(data) == [
        ("eth0", IFF_UP_RUNNING, False),
        ("eth1", 0x1003, False),
        ("vrrp.51", 0x1002, True),
    ]


def test_parse_links_stops_at_a_truncated_message() -> None:
    whole = message(RTM_NEWLINK, IFF_UP_RUNNING, "eth0")
    assert parse_links(whole + whole[:30]) == [("eth0", IFF_UP_RUNNING, False)]
    assert parse_links(whole[:-4]) == []


@given(st.binary(max_size=300))
def test_parse_links_never_raises_on_garbage(data: bytes) -> None:
    for name, flags, deleted in parse_links(data):
        assert isinstance(name, str) and isinstance(flags, int) and isinstance(deleted, bool)


def test_an_address_on_an_absent_interface_names_it() -> None:
    book = AddressBook()
    try:
        address = VirtualAddress(IPv4Interface("10.66.0.100/24"))
        with pytest.raises(LinkError, match="no interface named vw-absent0"):
            book.add(address, "vw-absent0")
        with pytest.raises(LinkError, match="no interface named vw-absent1"):
            book.holds(VirtualAddress(address.interface, dev="vw-absent1"), "lo")
    finally:
        book.close()


# --- in a namespace (root) -----------------------------------------------------------------------


@pytest.fixture
def pair() -> Iterator[Pair]:
    """The pair, with the test running inside namespace ``a`` (``ip -n`` reaches either)."""
    require_root_netns()
    with veth_pair() as made, inside(made.a.ns):
        yield made


def addresses(pair: Pair, family: str) -> str:
    return ip("-n", pair.a.ns, family, "addr", "show", "dev", "eth0")


def test_addresses_are_added_and_removed_idempotently(pair: Pair) -> None:
    vip = VirtualAddress(IPv4Interface("10.66.0.100/24"))
    book = AddressBook()
    try:
        assert not book.holds(vip, "eth0")
        book.add(vip, "eth0")
        book.add(vip, "eth0")  # already there: a restart after SIGKILL
        assert book.holds(vip, "eth0")
        assert "inet 10.66.0.100/24 scope global secondary eth0" in addresses(pair, "-4")
        # The same address with another prefix is another address.
        assert not book.holds(VirtualAddress(IPv4Interface("10.66.0.100/32")), "eth0")
        book.remove(vip, "eth0")
        book.remove(vip, "eth0")  # already gone
        assert not book.holds(vip, "eth0")
        assert "10.66.0.100" not in addresses(pair, "-4")
    finally:
        book.close()


def test_dev_and_label_are_honoured(pair: Pair) -> None:
    vip = VirtualAddress(IPv4Interface("10.66.0.101/32"), dev="eth0", label="eth0:vip")
    book = AddressBook()
    try:
        book.add(vip, "lo")  # dev wins over the instance's interface
        assert book.holds(vip, "lo")
        assert "inet 10.66.0.101/32 scope global eth0:vip" in addresses(pair, "-4")
        assert "10.66.0.101" not in ip("-n", pair.a.ns, "addr", "show", "dev", "lo")
        book.remove(vip, "lo")
        assert not book.holds(vip, "lo")
    finally:
        book.close()


def test_ipv6_addresses_skip_duplicate_address_detection(pair: Pair) -> None:
    sysctl(pair.a.ns, "net.ipv6.conf.eth0.accept_dad", "1")
    vip = VirtualAddress(IPv6Interface("fd66::100/64"))
    book = AddressBook()
    try:
        book.add(vip, "eth0")
        book.add(vip, "eth0")
        shown = addresses(pair, "-6")
        line = next(line for line in shown.splitlines() if "fd66::100/64" in line)
        assert "nodad" in line and "tentative" not in line
        assert book.holds(vip, "eth0")
        book.remove(vip, "eth0")
        book.remove(vip, "eth0")
        assert "fd66::100" not in addresses(pair, "-6")
        # The contrast: without NODAD the kernel holds the address back while it probes.
        ip("-n", pair.a.ns, "addr", "add", "fd66::101/64", "dev", "eth0")
        assert "tentative" in addresses(pair, "-6")
    finally:
        book.close()


def changes_until(
    watcher: LinkWatcher, wanted: tuple[str, bool], seconds: float = 5.0
) -> list[tuple[str, bool]]:
    seen: list[tuple[str, bool]] = []
    deadline = time.monotonic() + seconds
    while wanted not in seen and (left := deadline - time.monotonic()) > 0:
        if select.select([watcher.fileno()], [], [], left)[0]:
            seen.extend(watcher.read())
    return seen


def test_link_watcher_reports_down_and_up(pair: Pair) -> None:
    watcher = LinkWatcher()
    try:
        assert watcher.state("eth0") is True
        assert watcher.read() == []  # nothing changed yet
        ip("-n", pair.a.ns, "link", "set", "eth0", "down")
        assert changes_until(watcher, ("eth0", False)) == [("eth0", False)]
        ip("-n", pair.a.ns, "link", "set", "eth0", "up")
        assert changes_until(watcher, ("eth0", True)) == [("eth0", True)]
        # The peer going down takes the carrier away: up but not running is down.
        ip("-n", pair.b.ns, "link", "set", "eth0", "down")
        assert changes_until(watcher, ("eth0", False)) == [("eth0", False)]
        assert "UP" in ip("-n", pair.a.ns, "-o", "link", "show", "eth0").split("<")[1]
        ip("-n", pair.b.ns, "link", "set", "eth0", "up")
        assert changes_until(watcher, ("eth0", True)) == [("eth0", True)]
        # Address changes on an interface that stays up are no link change.
        ip("-n", pair.a.ns, "addr", "add", "10.66.0.200/24", "dev", "eth0")
        ip("-n", pair.a.ns, "link", "set", "eth0", "mtu", "1400")
        assert changes_until(watcher, ("never", True), seconds=0.3) == []
    finally:
        watcher.close()


def test_link_watcher_reports_a_deleted_link_down(pair: Pair) -> None:
    watcher = LinkWatcher()
    try:
        ip("-n", pair.a.ns, "link", "del", "eth0")  # the veth pair goes with it
        assert changes_until(watcher, ("eth0", False)) == [("eth0", False)]
        assert watcher.state("eth0") is None
    finally:
        watcher.close()


def test_link_watcher_resynchronises_after_lost_events(pair: Pair) -> None:
    watcher = LinkWatcher()
    try:
        # The smallest receive buffer the kernel allows: a burst of changes overflows it.
        watcher._sock.setsockopt(1, 8, 0)  # type: ignore[attr-defined]  # SOL_SOCKET, SO_RCVBUF
        for _ in range(20):
            ip("-n", pair.a.ns, "link", "set", "eth0", "down")
            ip("-n", pair.a.ns, "link", "set", "eth0", "up")
        ip("-n", pair.a.ns, "link", "set", "eth0", "down")
        seen = changes_until(watcher, ("eth0", False))
        assert watcher.resyncs >= 1
        assert seen[-1] == ("eth0", False)
        assert watcher.state("eth0") is False
    finally:
        watcher.close()


def test_link_reader_feeds_the_callback(pair: Pair) -> None:
    watcher = LinkWatcher()
    seen: list[tuple[str, bool]] = []
    reader = LinkReader(watcher, lambda name, up: seen.append((name, up)))
    try:
        assert reader.fileno() == watcher.fileno()
        ip("-n", pair.a.ns, "link", "set", "eth0", "down")
        deadline = time.monotonic() + 5
        while not seen and time.monotonic() < deadline:
            select.select([reader.fileno()], [], [], 0.5)
            reader.doRead()
        assert seen == [("eth0", False)]
    finally:
        reader.connectionLost(None)
    assert watcher.fileno() == -1
