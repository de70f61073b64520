"""The VRRP tier's Twisted glue: sockets, netlink and scripts wired to the sans-IO routers.

Order matters and follows keepalived. Sockets are opened in ``privilegedStartService``, while
twistd still runs as root, and the capabilities the tier needs afterwards (CAP_NET_ADMIN for
addresses, CAP_NET_RAW) are kept across ``--uid``. ``startService`` removes addresses a killed
predecessor left behind before any router starts, so a SIGKILL never leaves a lasting mess.
``stopService`` runs first among the tiers (it is added last): each master sends its priority-0
advert and gives its addresses up while the edge and the balancer still serve, then the other
tiers drain.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from ipaddress import IPv4Address
from typing import Any

from twisted.application.service import Service
from twisted.logger import Logger

from stack.config.model import (
    IpAddress,
    StackConfig,
    TrackInterface,
    VirtualAddress,
    VrrpInstance,
)
from stack.vrrp import frames, privileges
from stack.vrrp.machine import State, VirtualRouter
from stack.vrrp.netlink import AddressBook, LinkReader, LinkWatcher
from stack.vrrp.packet import AdvertBuilder, PacketError, decode
from stack.vrrp.scripts import ScriptCheck, probe_for, run_notify
from stack.vrrp.sockets import (
    MULTICAST_V4,
    MULTICAST_V6,
    AdvertReader,
    AdvertSocket,
    FrameSocket,
    Inbound,
    Link,
    link,
)
from stack.vrrp.tracking import PriorityTracker, TrackedScript

_log = Logger()

MULTICAST: dict[int, IpAddress] = {4: MULTICAST_V4, 6: MULTICAST_V6}


class Announcer:
    """One ``vrrp_instance``: its router's actions carried out on the wire and in the kernel."""

    def __init__(
        self,
        config: VrrpInstance,
        link: Link,
        adverts: AdvertSocket,
        frame_sockets: dict[str, FrameSocket],
        links: dict[str, Link],
        book: AddressBook,
        reactor: Any,
    ) -> None:
        self.config = config
        self.name = config.name
        self.link = link
        self.adverts = adverts
        self.book = book
        self.reactor = reactor
        self.primary: IpAddress = _primary(config, link)
        self.destinations: list[IpAddress] = [p.address for p in config.unicast_peers]
        if not self.destinations:
            self.destinations.append(MULTICAST[config.family])
        # The advert for each destination, encoded once per priority (AdvertBuilder caches).
        self.builders = [
            (
                dst,
                AdvertBuilder(
                    config.version,
                    config.vrid,
                    config.advert_int,
                    tuple(a.address for a in config.addresses),
                    src=self.primary,
                    dst=dst,
                    pseudo_header=not config.checksum_as_v2,
                    auth_pass=config.auth_pass,
                ),
            )
            for dst in self.destinations
        ]
        # GARP / unsolicited NA frames, built once (scapy) per address on its device.
        self.gratuitous: list[tuple[FrameSocket, bytes]] = []
        for vip in (*config.addresses, *config.excluded_addresses):
            dev = vip.dev or config.interface
            mac = links[dev].mac
            address = vip.address
            if isinstance(address, IPv4Address):
                frame = frames.gratuitous_arp(mac, address)
            else:
                frame = frames.unsolicited_na(mac, address, router=_forwards_ipv6(dev))
            self.gratuitous.append((frame_sockets[dev], frame))
        self.router = VirtualRouter(config, self.primary, self, reactor)

    # --- RouterActions ----------------------------------------------------------------------

    def send_advert(self, priority: int) -> None:
        for dst, builder in self.builders:
            try:
                self.adverts.send(builder.message(priority), src=self.primary, dst=dst)
            except OSError as exc:
                self.log(f"cannot send advert to {dst}: {exc.strerror or exc}")

    def take_addresses(self) -> None:
        self.log("setting VIPs.")
        for vip in self._all_addresses():
            self._change(self.book.add, vip, "add")

    def release_addresses(self) -> None:
        self.log("removing VIPs.")
        for vip in self._all_addresses():
            self._change(self.book.remove, vip, "remove")

    def send_gratuitous(self, repeat: int) -> None:
        if not self.gratuitous:
            return
        names = ", ".join(str(v.address) for v in self._all_addresses())
        self.log(f"Sending/queueing gratuitous ARPs on {self.config.interface} for {names}")
        for sock, frame in self.gratuitous:
            for _ in range(repeat):
                try:
                    sock.send(frame)
                except OSError as exc:
                    self.log(f"cannot send gratuitous ARP: {exc.strerror or exc}")
                    break

    def state_changed(self, old: State, new: State, priority: int) -> None:
        shown = "STOP" if new is State.INIT else new.value
        config = self.config
        script = {
            "MASTER": config.notify_master,
            "BACKUP": config.notify_backup,
            "FAULT": config.notify_fault,
            "STOP": config.notify_stop,
        }[shown]
        if script:
            run_notify(script, (), self.reactor)
        if config.notify:
            run_notify(config.notify, ("INSTANCE", self.name, shown, str(priority)), self.reactor)

    def log(self, message: str) -> None:
        _log.info("({name}) {message}", name=self.name, message=message)

    # --- helpers ----------------------------------------------------------------------------

    def _all_addresses(self) -> tuple[VirtualAddress, ...]:
        return (*self.config.addresses, *self.config.excluded_addresses)

    def _change(
        self, action: Callable[[VirtualAddress, str], None], vip: VirtualAddress, what: str
    ) -> None:
        try:
            action(vip, self.config.interface)
        except Exception as exc:  # whatever netlink says, the transition must complete
            self.log(f"cannot {what} {vip.interface} on {vip.dev or self.config.interface}: {exc}")

    def remove_leftovers(self) -> None:
        """keepalived's "removing VIPs" at start: whatever a killed predecessor left."""
        held = [v for v in self._all_addresses() if self.book.holds(v, self.config.interface)]
        if held:
            self.log("removing VIPs.")
            for vip in held:
                self._change(self.book.remove, vip, "remove")

    def received(self, inbound: Inbound) -> None:
        """A packet for this instance's VRID from its socket."""
        message, src, dst, ttl = inbound
        unicast = bool(self.config.unicast_peers)
        if unicast:
            peer = next((p for p in self.config.unicast_peers if p.address == src), None)
            if peer is not None and not peer.min_ttl <= ttl <= peer.max_ttl:
                self.log(
                    f"invalid TTL {ttl} from {src} (min_ttl {peer.min_ttl}, max_ttl {peer.max_ttl})"
                )
                return
        try:
            received = decode(message, src=src, dst=dst, ttl=ttl, check_ttl=not unicast)
        except PacketError as exc:
            self.log(str(exc))
            return
        self.router.receive(received)


def _primary(config: VrrpInstance, link: Link) -> IpAddress:
    """The address adverts come from (and the tie-break compares): keepalived's choice."""
    chosen = config.unicast_src_ip or config.mcast_src_ip
    if chosen is not None:
        return chosen
    if config.family == 6:
        if link.ipv6_link_local is None:
            raise OSError(f"interface {link.name} has no IPv6 link-local address")
        return link.ipv6_link_local
    if link.ipv4 is None:
        raise OSError(f"interface {link.name} has no IPv4 address to send adverts from")
    return link.ipv4


def _forwards_ipv6(dev: str) -> bool:
    """Whether unsolicited NAs carry the Router flag: keepalived sets it when forwarding."""
    try:
        with open(f"/proc/sys/net/ipv6/conf/{dev}/forwarding") as f:
            return f.read().strip() == "1"
    except OSError:
        return False


@dataclass
class _Socket:
    """An advert socket and the instances sharing it, found by VRID."""

    sock: AdvertSocket
    by_vrid: dict[int, Announcer] = field(default_factory=dict)


class VrrpService(Service):
    """Every ``[vrrp_instance]`` of the config, with the ``[vrrp_script]`` checks they track."""

    name = "vrrp"

    def __init__(self, config: StackConfig, reactor: Any) -> None:
        self.config = config
        self.reactor = reactor
        self.announcers: list[Announcer] = []
        self.checks: list[ScriptCheck] = []
        self.trackers: dict[str, PriorityTracker] = {}
        self._sockets: dict[tuple[str, int, bool], _Socket] = {}
        self._frames: dict[str, FrameSocket] = {}
        self._readers: list[AdvertReader | LinkReader] = []
        self._watcher: LinkWatcher | None = None
        self._links: dict[str, Link] = {}
        self._book: AddressBook | None = None
        self._vips: set[IpAddress] = set()

    # --- start ------------------------------------------------------------------------------

    def privilegedStartService(self) -> None:
        """Open everything that needs CAP_NET_RAW now, and keep CAP_NET_ADMIN across --uid."""
        super().privilegedStartService()
        if os.geteuid() == 0:
            privileges.keep_capabilities()
        book = self._book = AddressBook()
        # No interface's primary address is ever a VIP, even one a killed predecessor left.
        self._vips = {
            v.address
            for instance in self.config.vrrp_instances
            for v in (*instance.addresses, *instance.excluded_addresses)
        }
        for instance in self.config.vrrp_instances:
            try:
                self._open(instance, book)
            except (OSError, ValueError) as exc:  # ValueError: an interface without a MAC
                reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
                raise SystemExit(f"stack: [vrrp_instance {instance.name}]: {reason}") from None
        self._watcher = LinkWatcher()

    def _open(self, instance: VrrpInstance, book: AddressBook) -> None:
        """The links, sockets and frames of one instance (sockets shared per interface)."""
        devices = {instance.interface}
        vips = (*instance.addresses, *instance.excluded_addresses)
        devices.update(v.dev for v in vips if v.dev)
        devices.update(t.name for t in instance.track_interfaces)
        for dev in sorted(devices):
            if dev not in self._links:
                self._links[dev] = link(dev, exclude=self._vips)
        multicast = not instance.unicast_peers
        key = (instance.interface, instance.family, multicast)
        shared = self._sockets.get(key)
        if shared is None:
            sock = AdvertSocket(
                self._links[instance.interface], instance.family, multicast=multicast
            )
            shared = self._sockets[key] = _Socket(sock)
        for vip in vips:
            dev = vip.dev or instance.interface
            if dev not in self._frames:
                self._frames[dev] = FrameSocket(self._links[dev])
        announcer = Announcer(
            instance,
            self._links[instance.interface],
            shared.sock,
            self._frames,
            self._links,
            book,
            self.reactor,
        )
        shared.by_vrid[instance.vrid] = announcer
        self.announcers.append(announcer)

    def startService(self) -> None:
        super().startService()
        if os.geteuid() != 0:
            privileges.restore_capabilities()
        missing = privileges.missing_capabilities()
        if missing:
            raise SystemExit(
                f"stack: vrrp: missing {' and '.join(missing)}: VIPs are added with netlink "
                "(CAP_NET_ADMIN) and adverts use raw sockets (CAP_NET_RAW); run as root "
                "(twistd --uid keeps both), or grant them to the Python binary"
            )
        for announcer in self.announcers:
            announcer.remove_leftovers()
        self._track()
        readers: list[AdvertReader | LinkReader] = [
            AdvertReader(shared.sock, self._dispatch(shared)) for shared in self._sockets.values()
        ]
        if self._watcher is not None:
            readers.append(LinkReader(self._watcher, self._link_changed))
        for reader in readers:
            self.reactor.addReader(reader)
        self._readers = readers
        for announcer in self.announcers:
            announcer.router.start()
        for check in self.checks:
            check.start()

    def _track(self) -> None:
        """A tracker per instance, fed by the scripts and links it tracks."""
        scripts = {s.name: s for s in self.config.vrrp_scripts}
        for announcer in self.announcers:
            instance = announcer.config
            tracked = [TrackedScript.resolve(t, scripts[t.name]) for t in instance.track_scripts]
            interfaces = list(instance.track_interfaces)
            if not instance.dont_track_primary and all(
                t.name != instance.interface for t in interfaces
            ):
                interfaces.append(TrackInterface(instance.interface))
            router = announcer.router
            tracker = PriorityTracker(instance.priority, tracked, interfaces, self._apply(router))
            for t in interfaces:
                tracker.interface_state(t.name, self._link_up(t.name))
            self.trackers[instance.name] = tracker
        used = {t.name for a in self.announcers for t in a.config.track_scripts}
        for script in self.config.vrrp_scripts:
            if script.name in used:
                try:
                    probe = probe_for(script, self.config, self.reactor)
                except OSError as exc:
                    raise SystemExit(f"stack: [vrrp_script {script.name}]: {exc}") from None
                self.checks.append(ScriptCheck(script, probe, self._script_result, self.reactor))

    def _link_up(self, name: str) -> bool:
        """The state the link watcher reports changes from: a change between the interface
        lookup and the watcher's subscription would otherwise never reach the tracker."""
        known = self._watcher.state(name) if self._watcher is not None else None
        return self._links[name].up if known is None else known

    @staticmethod
    def _apply(router: VirtualRouter) -> Callable[[int, bool], None]:
        def changed(effective: int, faulty: bool) -> None:
            router.set_priority(effective)
            router.set_fault(faulty)

        return changed

    def _script_result(self, name: str, ok: bool) -> None:
        for announcer in self.announcers:
            if any(t.name == name for t in announcer.config.track_scripts):
                self.trackers[announcer.name].script_result(name, ok)

    def _link_changed(self, ifname: str, up: bool) -> None:
        for tracker in self.trackers.values():
            tracker.interface_state(ifname, up)

    @staticmethod
    def _dispatch(shared: _Socket) -> Callable[[Inbound], None]:
        """Each packet to the instance of its VRID; other VRIDs are other routers' business."""

        def deliver(inbound: Inbound) -> None:
            message = inbound.message
            announcer = shared.by_vrid.get(message[1]) if len(message) > 1 else None
            if announcer is not None:
                announcer.received(inbound)

        return deliver

    # --- stop -------------------------------------------------------------------------------

    def stopService(self) -> Any:
        """Priority 0 from every master, addresses released, then the sockets closed."""
        for check in self.checks:
            check.stop()
        for announcer in self.announcers:
            announcer.router.stop()
        for reader in self._readers:
            self.reactor.removeReader(reader)
        self._readers.clear()
        for shared in self._sockets.values():
            shared.sock.close()
        self._sockets.clear()
        for sock in self._frames.values():
            sock.close()
        if self._watcher is not None:
            self._watcher.close()
        if self._book is not None:
            self._book.close()
        return super().stopService()
