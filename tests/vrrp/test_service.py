"""The VRRP tier's glue: what an instance's router asks for, done on (fake) sockets and netlink.

:class:`Announcer` is built through its own constructor with recording stand-ins for the advert
socket, the frame sockets and the address book; the frames and adverts it sends are real bytes
(scapy, stack's codec) and are read back with the codec or by offset. :class:`VrrpService` runs
its start and stop with the same stand-ins in place of what ``privilegedStartService`` opens.
No root, no namespace: test_twistd_vrrp.py runs the real thing.
"""

from __future__ import annotations

import errno
from dataclasses import replace
from ipaddress import IPv4Address, IPv4Interface, IPv6Address, IPv6Interface
from pathlib import Path
from typing import Any

import pytest
from twisted.internet.task import Clock
from twisted.logger import Logger, formatEvent

from stack.config import load
from stack.config.model import IpAddress, UnicastPeer, VirtualAddress, VrrpInstance
from stack.vrrp import service
from stack.vrrp.machine import State
from stack.vrrp.packet import Advert, PacketError, Received, decode, encode
from stack.vrrp.service import Announcer, VrrpService, _primary, _Socket
from stack.vrrp.sockets import Inbound, Link, LinkError

MAC0 = bytes.fromhex("026600000001")
MAC1 = bytes.fromhex("026600000101")
ETH0 = Link("eth0", 2, MAC0, IPv4Address("10.66.0.1"), IPv6Address("fe80::1"), True)
ETH1 = Link("eth1", 3, MAC1, IPv4Address("10.66.1.1"), IPv6Address("fe80::101"), True)
GROUP = IPv4Address("224.0.0.18")
GROUP6 = IPv6Address("ff02::12")
PEER = IPv4Address("10.66.0.2")
OTHER_PEER = IPv4Address("10.66.0.3")

VIP = VirtualAddress(IPv4Interface("10.66.0.100/24"))
VIP_ON_ETH1 = VirtualAddress(IPv4Interface("10.66.1.100/24"), dev="eth1")
EXCLUDED = VirtualAddress(IPv4Interface("10.66.2.100/24"))
VIP6 = VirtualAddress(IPv6Interface("fd66::100/64"))


# --- stand-ins ---------------------------------------------------------------------------------


class Adverts:
    """The advert socket: what was sent, or the error to raise."""

    def __init__(self) -> None:
        self.sent: list[tuple[bytes, IpAddress, IpAddress]] = []
        self.error: OSError | None = None
        self.closed = False

    def send(self, message: bytes, *, src: IpAddress, dst: IpAddress) -> None:
        if self.error is not None:
            raise self.error
        self.sent.append((message, src, dst))

    def fileno(self) -> int:
        return 1000

    def close(self) -> None:
        self.closed = True


class Frames:
    def __init__(self, link: Link) -> None:
        self.link = link
        self.sent: list[bytes] = []
        self.error: OSError | None = None
        self.closed = False

    def send(self, frame: bytes) -> None:
        if self.error is not None:
            raise self.error
        self.sent.append(frame)

    def close(self) -> None:
        self.closed = True


class Book:
    """The address book: the calls made, the addresses held and those that refuse, by text."""

    def __init__(self, held: tuple[VirtualAddress, ...] = ()) -> None:
        self.calls: list[tuple[str, str, str]] = []
        self.held = {str(a.interface) for a in held}
        self.refuse: set[str] = set()

    def add(self, address: VirtualAddress, default_dev: str) -> None:
        self._call("add", address, default_dev)
        self.held.add(str(address.interface))

    def remove(self, address: VirtualAddress, default_dev: str) -> None:
        self._call("remove", address, default_dev)
        self.held.discard(str(address.interface))

    def holds(self, address: VirtualAddress, default_dev: str) -> bool:
        return str(address.interface) in self.held

    def _call(self, what: str, address: VirtualAddress, default_dev: str) -> None:
        self.calls.append((what, str(address.interface), default_dev))
        if str(address.interface) in self.refuse:
            raise OSError(errno.EPERM, "Operation not permitted")


class Watcher:
    """The link watcher: the states it starts from."""

    def __init__(self, states: dict[str, bool]) -> None:
        self.states = states
        self.closed = False

    def fileno(self) -> int:
        return 1001

    def state(self, name: str) -> bool | None:
        return self.states.get(name)

    def read(self) -> list[tuple[str, bool]]:
        return []

    def close(self) -> None:
        self.closed = True


class Reactor(Clock):
    """A clock that also takes readers."""

    def __init__(self) -> None:
        super().__init__()
        self.readers: list[Any] = []

    def addReader(self, reader: Any) -> None:
        self.readers.append(reader)

    def removeReader(self, reader: Any) -> None:
        self.readers.remove(reader)


@pytest.fixture
def logged(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The service module's log lines, formatted."""
    lines: list[str] = []
    monkeypatch.setattr(
        service, "_log", Logger(observer=lambda event: lines.append(formatEvent(event)))
    )
    return lines


@pytest.fixture
def notified(monkeypatch: pytest.MonkeyPatch) -> list[tuple[tuple[str, ...], tuple[str, ...]]]:
    """Every run_notify call: (argv, extra arguments)."""
    calls: list[tuple[tuple[str, ...], tuple[str, ...]]] = []

    def record(argv: Any, extra: Any, reactor: Any) -> None:
        calls.append((tuple(argv), tuple(extra)))

    monkeypatch.setattr(service, "run_notify", record)
    return calls


def instance(**overrides: Any) -> VrrpInstance:
    settings: dict[str, Any] = {
        "name": "v",
        "interface": "eth0",
        "vrid": 51,
        "priority": 150,
        "advert_int": 100,
        "version": 3,
        "addresses": (VIP,),
    }
    settings.update(overrides)
    return VrrpInstance(**settings)


class Built:
    """An Announcer on stand-ins."""

    def __init__(self, config: VrrpInstance, book: Book | None = None) -> None:
        self.clock = Reactor()
        self.adverts = Adverts()
        self.frames = {"eth0": Frames(ETH0), "eth1": Frames(ETH1)}
        self.book = book or Book()
        links = {"eth0": ETH0, "eth1": ETH1}
        self.announcer = Announcer(
            config,
            ETH0,
            self.adverts,  # type: ignore[arg-type]
            self.frames,  # type: ignore[arg-type]
            links,
            self.book,  # type: ignore[arg-type]
            self.clock,
        )


def decoded(sent: tuple[bytes, IpAddress, IpAddress]) -> Received:
    message, src, dst = sent
    return decode(message, src=src, dst=dst, ttl=255)


# --- adverts -----------------------------------------------------------------------------------


def test_v2_adverts_go_to_the_group_from_the_interface_address() -> None:
    built = Built(instance(version=2, addresses=(VIP, EXCLUDED)))
    built.announcer.send_advert(150)
    built.announcer.send_advert(0)
    first, stop = built.adverts.sent
    assert first[1:] == stop[1:] == (IPv4Address("10.66.0.1"), GROUP)
    assert decoded(first).advert == Advert(
        2, 51, 150, 100, (IPv4Address("10.66.0.100"), IPv4Address("10.66.2.100"))
    )
    assert decoded(stop).advert.priority == 0


def test_v3_unicast_adverts_go_to_each_peer_with_its_own_checksum() -> None:
    config = instance(
        unicast_src_ip=IPv4Address("10.66.0.9"),
        unicast_peers=(UnicastPeer(PEER), UnicastPeer(OTHER_PEER)),
    )
    built = Built(config)
    built.announcer.send_advert(150)
    to_peer, to_other = built.adverts.sent
    assert [(src, dst) for _, src, dst in built.adverts.sent] == [
        (IPv4Address("10.66.0.9"), PEER),
        (IPv4Address("10.66.0.9"), OTHER_PEER),
    ]
    for sent in (to_peer, to_other):
        received = decoded(sent)
        assert received.advert == Advert(3, 51, 150, 100, (IPv4Address("10.66.0.100"),))
        assert received.pseudo_header is True  # keepalived's default v3 checksum
    # The pseudo-header covers the destination: each peer's message is checked against it.
    assert to_peer[0] != to_other[0]
    with pytest.raises(PacketError, match="checksum"):
        decode(to_peer[0], src=to_peer[1], dst=OTHER_PEER, ttl=255)


def test_v3_checksum_as_v2_leaves_the_pseudo_header_out() -> None:
    built = Built(instance(checksum_as_v2=True))
    built.announcer.send_advert(150)
    [sent] = built.adverts.sent
    assert sent[2] == GROUP
    assert decoded(sent).pseudo_header is False


def test_ipv6_adverts_go_to_the_group_from_the_link_local_address() -> None:
    built = Built(instance(addresses=(VIP6,)))
    built.announcer.send_advert(150)
    [sent] = built.adverts.sent
    assert sent[1:] == (IPv6Address("fe80::1"), GROUP6)
    assert decoded(sent).advert.addresses == (IPv6Address("fd66::100"),)


def test_an_advert_that_cannot_be_sent_is_logged(logged: list[str]) -> None:
    built = Built(instance(unicast_peers=(UnicastPeer(PEER), UnicastPeer(OTHER_PEER))))
    built.adverts.error = OSError(errno.ENETUNREACH, "Network is unreachable")
    built.announcer.send_advert(150)
    assert logged == [
        "(v) cannot send advert to 10.66.0.2: Network is unreachable",
        "(v) cannot send advert to 10.66.0.3: Network is unreachable",
    ]


# --- the addresses -----------------------------------------------------------------------------


def test_take_and_release_every_address_with_the_interface_as_default(logged: list[str]) -> None:
    config = instance(addresses=(VIP, VIP_ON_ETH1), excluded_addresses=(EXCLUDED,))
    built = Built(config)
    built.announcer.take_addresses()
    built.announcer.release_addresses()
    assert built.book.calls == [
        ("add", "10.66.0.100/24", "eth0"),
        ("add", "10.66.1.100/24", "eth0"),  # the book applies the address's own dev
        ("add", "10.66.2.100/24", "eth0"),
        ("remove", "10.66.0.100/24", "eth0"),
        ("remove", "10.66.1.100/24", "eth0"),
        ("remove", "10.66.2.100/24", "eth0"),
    ]
    assert logged == ["(v) setting VIPs.", "(v) removing VIPs."]


def test_an_address_that_fails_is_logged_and_the_others_still_change(logged: list[str]) -> None:
    built = Built(instance(addresses=(VIP, VIP_ON_ETH1), excluded_addresses=(EXCLUDED,)))
    built.book.refuse.add("10.66.1.100/24")
    built.announcer.take_addresses()
    assert built.book.held == {"10.66.0.100/24", "10.66.2.100/24"}
    assert logged == [
        "(v) setting VIPs.",
        "(v) cannot add 10.66.1.100/24 on eth1: [Errno 1] Operation not permitted",
    ]


def test_leftovers_are_removed_at_start(logged: list[str]) -> None:
    config = instance(addresses=(VIP, VIP_ON_ETH1), excluded_addresses=(EXCLUDED,))
    built = Built(config, Book(held=(VIP_ON_ETH1, EXCLUDED)))
    built.announcer.remove_leftovers()
    assert built.book.calls == [
        ("remove", "10.66.1.100/24", "eth0"),
        ("remove", "10.66.2.100/24", "eth0"),
    ]
    assert built.book.held == set()
    assert logged == ["(v) removing VIPs."]


def test_nothing_left_over_nothing_said(logged: list[str]) -> None:
    built = Built(instance())
    built.announcer.remove_leftovers()
    assert built.book.calls == []
    assert logged == []


# --- gratuitous ARP / unsolicited NA -----------------------------------------------------------


def arp(frame: bytes) -> tuple[bytes, IPv4Address]:
    """(sender MAC, announced address) of a gratuitous ARP, read by offset."""
    assert len(frame) == 42 and frame[12:14] == b"\x08\x06"
    assert frame[28:32] == frame[38:42]  # sender address = target address
    assert frame[6:12] == frame[22:28]
    return frame[6:12], IPv4Address(frame[28:32])


def test_gratuitous_arps_go_out_on_each_address_device(logged: list[str]) -> None:
    config = instance(addresses=(VIP, VIP_ON_ETH1), excluded_addresses=(EXCLUDED,))
    built = Built(config)
    built.announcer.send_gratuitous(3)
    on_eth0 = [arp(f) for f in built.frames["eth0"].sent]
    on_eth1 = [arp(f) for f in built.frames["eth1"].sent]
    assert on_eth0 == [(MAC0, VIP.address)] * 3 + [(MAC0, EXCLUDED.address)] * 3
    assert on_eth1 == [(MAC1, VIP_ON_ETH1.address)] * 3
    assert logged == [
        "(v) Sending/queueing gratuitous ARPs on eth0 for 10.66.0.100, 10.66.1.100, 10.66.2.100"
    ]


def test_a_frame_socket_that_fails_stops_its_burst_only(logged: list[str]) -> None:
    built = Built(instance(addresses=(VIP_ON_ETH1, VIP)))
    built.frames["eth1"].error = OSError(errno.ENETDOWN, "Network is down")
    built.announcer.send_gratuitous(2)
    assert [arp(f) for f in built.frames["eth0"].sent] == [(MAC0, VIP.address)] * 2
    assert logged[1:] == ["(v) cannot send gratuitous ARP: Network is down"]


@pytest.mark.parametrize("forwarding", [False, True])
def test_ipv6_addresses_get_unsolicited_nas(
    monkeypatch: pytest.MonkeyPatch, forwarding: bool
) -> None:
    monkeypatch.setattr(service, "_forwards_ipv6", lambda dev: forwarding)
    built = Built(instance(addresses=(VIP6,)))
    built.announcer.send_gratuitous(2)
    sent = built.frames["eth0"].sent
    assert len(sent) == 2
    frame = sent[0]
    assert len(frame) == 86 and frame[12:14] == b"\x86\xdd" and frame[54] == 136  # NA
    assert frame[6:12] == MAC0 == frame[80:86]  # source and target link-layer address
    assert IPv6Address(frame[62:78]) == VIP6.address
    assert bool(frame[58] & 0x80) is forwarding  # the Router flag


def test_no_addresses_no_frames(logged: list[str]) -> None:
    built = Built(instance(addresses=()))
    built.announcer.send_gratuitous(5)
    assert built.frames["eth0"].sent == []
    assert logged == []


def test_forwarding_of_an_unknown_device_is_off() -> None:
    assert service._forwards_ipv6("vs-no-such-dev") is False


# --- notify ------------------------------------------------------------------------------------


def test_every_transition_runs_its_notify_script_and_notify(
    notified: list[tuple[tuple[str, ...], tuple[str, ...]]],
) -> None:
    config = instance(
        notify_master=("/m",),
        notify_backup=("/b", "x"),
        notify_fault=("/f",),
        notify_stop=("/s",),
        notify=("/n", "--all"),
    )
    built = Built(config)
    router = built.announcer.router
    router.start()
    built.clock.advance(10)  # no master heard: MASTER
    assert router.state is State.MASTER
    router.set_fault(True)
    router.set_fault(False)
    router.stop()
    assert notified == [
        (("/b", "x"), ()),
        (("/n", "--all"), ("INSTANCE", "v", "BACKUP", "150")),
        (("/m",), ()),
        (("/n", "--all"), ("INSTANCE", "v", "MASTER", "150")),
        (("/f",), ()),
        (("/n", "--all"), ("INSTANCE", "v", "FAULT", "150")),
        (("/b", "x"), ()),
        (("/n", "--all"), ("INSTANCE", "v", "BACKUP", "150")),
        (("/s",), ()),
        (("/n", "--all"), ("INSTANCE", "v", "STOP", "150")),  # INIT is reported as STOP
    ]


def test_notify_reports_the_effective_priority(
    notified: list[tuple[tuple[str, ...], tuple[str, ...]]],
) -> None:
    built = Built(instance(notify=("/n",)))
    router = built.announcer.router
    router.set_priority(140)
    router.start()
    assert notified == [(("/n",), ("INSTANCE", "v", "BACKUP", "140"))]


def test_without_scripts_nothing_runs(
    notified: list[tuple[tuple[str, ...], tuple[str, ...]]],
) -> None:
    built = Built(instance())
    built.announcer.router.start()
    built.announcer.router.stop()
    assert notified == []


# --- receiving ---------------------------------------------------------------------------------


def packet(priority: int = 200, src: IpAddress = PEER, dst: IpAddress = GROUP) -> bytes:
    return encode(Advert(3, 51, priority, 100, (VIP.address,)), src=src, dst=dst)


def receiving(
    config: VrrpInstance, monkeypatch: pytest.MonkeyPatch
) -> tuple[Built, list[Received]]:
    """An Announcer whose router only records what reaches it."""
    built = Built(config)
    got: list[Received] = []
    monkeypatch.setattr(built.announcer.router, "receive", got.append)
    return built, got


def test_a_valid_advert_reaches_the_router(monkeypatch: pytest.MonkeyPatch) -> None:
    built, got = receiving(instance(), monkeypatch)
    built.announcer.received(Inbound(packet(), PEER, GROUP, 255))
    [received] = got
    assert (received.source, received.destination, received.ttl) == (PEER, GROUP, 255)
    assert received.advert.priority == 200


def test_undecodable_packets_are_logged_not_raised(
    monkeypatch: pytest.MonkeyPatch, logged: list[str]
) -> None:
    built, got = receiving(instance(), monkeypatch)
    built.announcer.received(Inbound(b"\x31\x33", PEER, GROUP, 255))
    built.announcer.received(Inbound(packet(), PEER, GROUP, 64))  # multicast: TTL must be 255
    corrupted = bytearray(packet())
    corrupted[-1] ^= 0xFF
    built.announcer.received(Inbound(bytes(corrupted), PEER, GROUP, 255))
    assert got == []
    assert len(logged) == 3
    assert logged[1] == "(v) invalid TTL/HL. Received 64 and expect 255"
    assert all(line.startswith("(v) ") for line in logged)


def test_unicast_adverts_are_held_to_the_peer_ttl_bounds(
    monkeypatch: pytest.MonkeyPatch, logged: list[str]
) -> None:
    peers = (UnicastPeer(PEER, min_ttl=250, max_ttl=254), UnicastPeer(OTHER_PEER))
    built, got = receiving(instance(unicast_src_ip=ETH0.ipv4, unicast_peers=peers), monkeypatch)
    me = IPv4Address("10.66.0.1")
    for ttl in (249, 250, 254, 255):
        built.announcer.received(Inbound(packet(dst=me), PEER, me, ttl))
    built.announcer.received(Inbound(packet(src=OTHER_PEER, dst=me), OTHER_PEER, me, 1))
    stranger = IPv4Address("10.66.0.77")  # not a peer: no bounds (keepalived's default)
    built.announcer.received(Inbound(packet(src=stranger, dst=me), stranger, me, 64))
    assert [(r.source, r.ttl) for r in got] == [
        (PEER, 250),
        (PEER, 254),
        (OTHER_PEER, 1),
        (stranger, 64),
    ]
    assert logged == [
        "(v) invalid TTL 249 from 10.66.0.2 (min_ttl 250, max_ttl 254)",
        "(v) invalid TTL 255 from 10.66.0.2 (min_ttl 250, max_ttl 254)",
    ]


def test_a_higher_advert_makes_a_master_give_the_address_up() -> None:
    """The whole receive path, router included."""
    built = Built(instance())
    built.announcer.router.start()
    built.clock.advance(10)
    assert built.book.held == {"10.66.0.100/24"}
    built.announcer.received(Inbound(packet(priority=200), PEER, GROUP, 255))
    assert built.announcer.router.state is State.BACKUP
    assert built.book.held == set()


# --- the primary address -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "link", "expected"),
    [
        ({}, ETH0, IPv4Address("10.66.0.1")),
        ({"mcast_src_ip": IPv4Address("10.66.0.5")}, ETH0, IPv4Address("10.66.0.5")),
        (
            {"unicast_src_ip": IPv4Address("10.66.0.6"), "unicast_peers": (UnicastPeer(PEER),)},
            ETH0,
            IPv4Address("10.66.0.6"),
        ),
        ({"mcast_src_ip": IPv4Address("10.66.0.5")}, replace(ETH0, ipv4=None), "10.66.0.5"),
        ({"addresses": (VIP6,)}, ETH0, IPv6Address("fe80::1")),
        ({"addresses": (VIP6,), "mcast_src_ip": IPv6Address("fd66::5")}, ETH0, "fd66::5"),
    ],
)
def test_the_primary_address_is_keepalived_choice(
    overrides: dict[str, Any], link: Link, expected: object
) -> None:
    assert str(_primary(instance(**overrides), link)) == str(expected)


def test_without_a_source_address_the_instance_cannot_start() -> None:
    with pytest.raises(OSError, match=r"^interface eth0 has no IPv4 address to send adverts from$"):
        _primary(instance(), replace(ETH0, ipv4=None))
    with pytest.raises(OSError, match=r"^interface eth0 has no IPv6 link-local address$"):
        _primary(instance(addresses=(VIP6,)), replace(ETH0, ipv6_link_local=None))
    with pytest.raises(OSError, match="has no IPv4 address"):
        Announcer(
            instance(),
            replace(ETH0, ipv4=None),
            Adverts(),  # type: ignore[arg-type]
            {"eth0": Frames(ETH0)},  # type: ignore[dict-item]
            {"eth0": ETH0},
            Book(),  # type: ignore[arg-type]
            Clock(),
        )


# --- the service -------------------------------------------------------------------------------


def test_dispatch_goes_by_vrid_and_ignores_the_others() -> None:
    class Instance:
        def __init__(self) -> None:
            self.got: list[Inbound] = []

        def received(self, inbound: Inbound) -> None:
            self.got.append(inbound)

    first, second = Instance(), Instance()
    shared = _Socket(Adverts(), {51: first, 52: second})  # type: ignore[arg-type, dict-item]
    deliver = VrrpService._dispatch(shared)

    def inbound(message: bytes) -> Inbound:
        return Inbound(message, PEER, GROUP, 255)

    def advert(vrid: int) -> Inbound:
        message = encode(Advert(3, vrid, 100, 100, (VIP.address,)), src=PEER, dst=GROUP)
        return inbound(message)

    to_52 = advert(52)
    for each in (to_52, advert(9), inbound(b""), inbound(b"\x31")):
        deliver(each)
    assert first.got == []
    assert second.got == [to_52]


SERVICE_INI = """\
[vrrp_script chk_flag]
script = /nonexistent/vs-check
interval = 2
weight = -10

[vrrp_script chk_unused]
script = /nonexistent/vs-other
interval = 2

[vrrp_instance v]
interface = eth0
virtual_router_id = 51
priority = 150
advert_int = 1
version = 3
virtual_ipaddress =
    10.66.0.100/24
track_script =
    chk_flag
"""


class Running:
    """A VrrpService whose ``privilegedStartService`` part was done with stand-ins."""

    def __init__(self, tmp_path: Path, watcher: Watcher, book: Book | None = None) -> None:
        path = tmp_path / "vrrp.ini"
        path.write_text(SERVICE_INI)
        self.config = load(str(path))
        self.reactor = Reactor()
        self.service = VrrpService(self.config, self.reactor)
        self.adverts = Adverts()
        self.frames = Frames(ETH0)
        self.book = book or Book()
        self.watcher = watcher
        [config] = self.config.vrrp_instances
        announcer = Announcer(
            config,
            ETH0,
            self.adverts,  # type: ignore[arg-type]
            {"eth0": self.frames},  # type: ignore[dict-item]
            {"eth0": ETH0},
            self.book,  # type: ignore[arg-type]
            self.reactor,
        )
        self.announcer = announcer
        self.service.announcers = [announcer]
        self.service._links = {"eth0": ETH0}
        self.service._sockets = {("eth0", 4, True): _Socket(self.adverts, {51: announcer})}  # type: ignore[arg-type]
        self.service._frames = {"eth0": self.frames}  # type: ignore[dict-item]
        self.service._watcher = watcher  # type: ignore[assignment]


@pytest.fixture
def capabilities(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """What missing_capabilities answers (nothing missing unless the test adds some)."""
    missing: list[str] = []
    monkeypatch.setattr(service.privileges, "missing_capabilities", lambda: list(missing))
    monkeypatch.setattr(service.privileges, "restore_capabilities", lambda: None)
    monkeypatch.setattr(service.privileges, "keep_capabilities", lambda: None)
    return missing


def test_start_and_stop(tmp_path: Path, capabilities: list[str], logged: list[str]) -> None:
    run = Running(tmp_path, Watcher({"eth0": True}), Book(held=(VIP,)))
    router = run.announcer.router
    run.service.startService()
    # The leftover address went before the router started.
    assert run.book.calls[0] == ("remove", "10.66.0.100/24", "eth0")
    assert logged[:2] == ["(v) removing VIPs.", "(v) Entering BACKUP STATE (init)"]
    assert [type(r).__name__ for r in run.reactor.readers] == ["AdvertReader", "LinkReader"]
    # Only the tracked script is checked; its program is missing, so it fails at once.
    assert [c.script.name for c in run.service.checks] == ["chk_flag"]
    assert router.priority == 140
    run.reactor.advance(10)
    assert router.state is State.MASTER
    assert run.book.held == {"10.66.0.100/24"}

    run.service.stopService()
    assert router.state is State.INIT
    assert decode(run.adverts.sent[-1][0], src=ETH0.ipv4, dst=GROUP, ttl=255).advert.priority == 0
    assert run.book.held == set()
    assert run.reactor.readers == []
    assert run.adverts.closed and run.frames.closed and run.watcher.closed
    assert not any(c._loop.running for c in run.service.checks)
    assert "(v) sent 0 priority" in logged


def test_tracking_starts_from_the_link_watcher(tmp_path: Path, capabilities: list[str]) -> None:
    """The watcher reports changes from its own view: the tracker must start from it too."""
    run = Running(tmp_path, Watcher({"eth0": False}))  # went down after the lookup said up
    run.service.startService()
    router = run.announcer.router
    assert router.state is State.FAULT
    run.service._link_changed("eth0", True)
    assert router.state is State.BACKUP
    run.service._link_changed("eth0", False)
    assert router.state is State.FAULT
    run.service.stopService()


def test_start_refuses_without_the_capabilities(tmp_path: Path, capabilities: list[str]) -> None:
    run = Running(tmp_path, Watcher({"eth0": True}))
    capabilities.append("CAP_NET_ADMIN")
    with pytest.raises(SystemExit) as raised:
        run.service.startService()
    assert str(raised.value).startswith("stack: vrrp: missing CAP_NET_ADMIN: VIPs are added")
    assert run.announcer.router.state is State.INIT


def test_an_interface_that_is_missing_stops_the_start(
    tmp_path: Path, capabilities: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def absent(name: str, **_: Any) -> Link:
        raise LinkError(errno.ENODEV, f"no interface named {name}")

    monkeypatch.setattr(service, "link", absent)
    path = tmp_path / "vrrp.ini"
    path.write_text(SERVICE_INI.replace("interface = eth0", "interface = vs-eth9"))
    vrrp = VrrpService(load(str(path)), Reactor())
    with pytest.raises(SystemExit) as raised:
        vrrp.privilegedStartService()
    assert str(raised.value).startswith("stack: [vrrp_instance v]: ")
    assert "no interface named vs-eth9" in str(raised.value)
