"""Routing netlink for the VRRP tier: virtual addresses on and off, and link state changes.

:class:`AddressBook` adds and removes the virtual addresses with pyroute2 (``ip addr add/del``).
Its calls block, and that is fine on the reactor thread: each one is a local round trip to the
kernel. Measured with pyroute2 0.9.7 on a veth in a network namespace (2-vCPU VM), from inside a
running epoll reactor callback: 0.25-0.45 ms per add or remove and 0.6 ms per ``holds`` (an
address dump) when the VM was quiet, up to 2 ms while other test suites loaded it; the first
``AddressBook()`` costs 0.1-0.3 s, mostly importing pyroute2. pyroute2 0.9 runs each call on a
private asyncio loop of its own (``run_until_complete``); that works inside Twisted's epoll
reactor, and also inside ``asyncioreactor`` (tried). The calls must run on the reactor thread
anyway: capabilities belong to a thread, and only the thread that kept CAP_NET_ADMIN across
``--uid`` has it. Interfaces are looked up by name in the namespace of the calling thread.

:class:`LinkWatcher` is a netlink socket of its own, subscribed to link events, that the reactor
watches (:class:`LinkReader`); its messages are parsed here with ``struct``.
"""

from __future__ import annotations

import errno
import socket
import struct
from collections.abc import Callable, Iterator
from ipaddress import IPv6Interface
from typing import Any

from twisted.internet.interfaces import IReadDescriptor
from twisted.logger import Logger
from zope.interface import implementer

from stack.config.model import VirtualAddress
from stack.vrrp.privileges import CapabilityError
from stack.vrrp.sockets import LinkError, interface_index, is_up

_IFA_F_NODAD = 0x02

_log = Logger()


class AddressBook:
    """The virtual addresses on their interfaces: add, remove, and whether one is there.

    Both changes are idempotent: adding an address that is already there and removing one that
    is not are no-ops, so a start after a SIGKILL repairs whatever state was left. IPv6
    addresses are added with IFA_F_NODAD (``ip addr add ... nodad``), usable at once: duplicate
    address detection would hold a taken-over address back for a second or more.
    ``default_dev`` is the instance's ``interface``, used when the address names no ``dev``.
    """

    def __init__(self) -> None:
        from pyroute2 import IPRoute  # 0.1 s to import: only when the VRRP tier runs

        # groups=0: no event subscriptions, which would queue up unread on this socket.
        self._ipr: Any = IPRoute(groups=0)

    def add(self, address: VirtualAddress, default_dev: str) -> None:
        dev, spec = self._request(address, default_dev)
        if address.label:
            spec["label"] = address.label
        if isinstance(address.interface, IPv6Interface):
            spec["flags"] = _IFA_F_NODAD
        self._change("add", address, dev, spec, ignore=errno.EEXIST)

    def remove(self, address: VirtualAddress, default_dev: str) -> None:
        dev, spec = self._request(address, default_dev)
        self._change("del", address, dev, spec, ignore=errno.EADDRNOTAVAIL)

    def holds(self, address: VirtualAddress, default_dev: str) -> bool:
        """Whether ``address`` (with its prefix length) is on its interface now."""
        _, spec = self._request(address, default_dev)
        wanted = (str(address.interface.ip), address.interface.network.prefixlen)
        return any(held == wanted for held in self._held(spec["index"]))

    def close(self) -> None:
        self._ipr.close()

    def _request(self, address: VirtualAddress, default_dev: str) -> tuple[str, dict[str, Any]]:
        dev = address.dev or default_dev
        spec: dict[str, Any] = {
            "index": interface_index(dev),
            "address": str(address.interface.ip),
            "prefixlen": address.interface.network.prefixlen,
        }
        return dev, spec

    def _held(self, index: int) -> Iterator[tuple[str, int]]:
        for message in self._ipr.get_addr(index=index):
            yield message.get("address"), int(message["prefixlen"])

    def _change(
        self, command: str, address: VirtualAddress, dev: str, spec: dict[str, Any], ignore: int
    ) -> None:
        from pyroute2.netlink.exceptions import NetlinkError

        try:
            self._ipr.addr(command, **spec)
        except NetlinkError as exc:
            if exc.code == ignore:
                return
            action = "add" if command == "add" else "remove"
            if exc.code == errno.ENODEV:
                raise LinkError(exc.code, f"no interface named {dev}") from None
            if exc.code == errno.EPERM:
                raise CapabilityError(
                    "CAP_NET_ADMIN", f"{action} {address.interface}", dev
                ) from None
            text = exc.args[1] if len(exc.args) > 1 else str(exc)
            raise OSError(
                exc.code, f"cannot {action} {address.interface} on {dev}: {text}"
            ) from None


# --- link events ---------------------------------------------------------------------------------

_RTMGRP_LINK = 0x1
_RTM_NEWLINK = 16
_RTM_DELLINK = 17
_IFLA_IFNAME = 3
_NLMSG_HEADER = struct.Struct("=IHHII")  # length, type, flags, sequence, port
_IFINFOMSG = struct.Struct("=BxHiII")  # family, type, index, flags, change
_RTATTR = struct.Struct("=HH")  # length, type


def parse_links(data: bytes) -> list[tuple[str, int, bool]]:
    """(interface name, flags, deleted) for each link message in one netlink datagram.

    Other message types and truncated messages are skipped.
    """
    links: list[tuple[str, int, bool]] = []
    offset = 0
    while offset + _NLMSG_HEADER.size <= len(data):
        length, kind, _, _, _ = _NLMSG_HEADER.unpack_from(data, offset)
        if length < _NLMSG_HEADER.size or offset + length > len(data):
            break
        body = offset + _NLMSG_HEADER.size
        end = offset + length
        if kind in (_RTM_NEWLINK, _RTM_DELLINK) and body + _IFINFOMSG.size <= end:
            _, _, _, flags, _ = _IFINFOMSG.unpack_from(data, body)
            name = _attribute(data, body + _IFINFOMSG.size, end, _IFLA_IFNAME)
            if name is not None:
                text = name.split(b"\0", 1)[0].decode("utf-8", "replace")
                links.append((text, flags, kind == _RTM_DELLINK))
        offset += (length + 3) & ~3
    return links


def _attribute(data: bytes, offset: int, end: int, wanted: int) -> bytes | None:
    while offset + _RTATTR.size <= end:
        length, kind = _RTATTR.unpack_from(data, offset)
        if length < _RTATTR.size or offset + length > end:
            return None
        if kind == wanted:
            return data[offset + _RTATTR.size : offset + length]
        offset += (length + 3) & ~3
    return None


class LinkWatcher:
    """A netlink socket subscribed to link events, for the reactor.

    :meth:`read` drains it and returns ``(interface, up)`` for each interface whose up state
    (:func:`~stack.vrrp.sockets.is_up`) changed since it was last reported; the state of every
    interface at construction is the starting point, so the first report is a real change. A
    deleted interface is reported down. When the kernel dropped events (ENOBUFS, the receive
    queue overflowed) the states are read afresh and the differences reported.
    """

    def __init__(self) -> None:
        sock = socket.socket(
            socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_NONBLOCK, socket.NETLINK_ROUTE
        )
        try:
            sock.bind((0, _RTMGRP_LINK))
            self._known = _current_links()  # after subscribing: no change falls in between
        except BaseException:
            sock.close()
            raise
        self._sock = sock
        self.resyncs = 0  # how often events were lost (ENOBUFS) and states read afresh

    def fileno(self) -> int:
        return self._sock.fileno()

    def read(self) -> list[tuple[str, bool]]:
        changes: list[tuple[str, bool]] = []
        while True:
            try:
                data = self._sock.recv(65536)
            except (BlockingIOError, InterruptedError):
                break
            except OSError as exc:
                if exc.errno != errno.ENOBUFS:
                    raise
                self._resync(changes)
                continue
            for name, flags, deleted in parse_links(data):
                self._note(name, False if deleted else is_up(flags), changes)
                if deleted:
                    self._known.pop(name, None)
        return changes

    def state(self, name: str) -> bool | None:
        """The last known up state of ``name`` (``None``: no such interface)."""
        return self._known.get(name)

    def close(self) -> None:
        self._sock.close()

    def _note(self, name: str, up: bool, changes: list[tuple[str, bool]]) -> None:
        if self._known.get(name) != up:
            self._known[name] = up
            changes.append((name, up))

    def _resync(self, changes: list[tuple[str, bool]]) -> None:
        """Events were lost: drop the stale ones still queued, then read every state afresh.

        Dropping first matters: a queued event older than the fresh states would otherwise be
        applied after them and undo them. Events after the fresh read arrive as usual.
        """
        self.resyncs += 1
        while True:
            try:
                self._sock.recv(65536)
            except (BlockingIOError, InterruptedError):
                break
            except OSError as exc:
                if exc.errno != errno.ENOBUFS:
                    raise
        current = _current_links()
        for name in list(self._known):
            if name not in current:
                self._note(name, False, changes)
                del self._known[name]
        for name, up in current.items():
            self._note(name, up, changes)


def _current_links() -> dict[str, bool]:
    from pyroute2 import IPRoute

    with IPRoute(groups=0) as ipr:
        return {str(m.get("ifname")): is_up(int(m["flags"])) for m in ipr.get_links()}


@implementer(IReadDescriptor)
class LinkReader:
    """A :class:`LinkWatcher` for ``reactor.addReader``: each change goes to ``callback``."""

    def __init__(self, watcher: LinkWatcher, callback: Callable[[str, bool], object]) -> None:
        self.watcher = watcher
        self.callback = callback

    def fileno(self) -> int:
        return self.watcher.fileno()

    def doRead(self) -> None:
        try:
            changes = self.watcher.read()
        except OSError as exc:
            _log.warn("vrrp netlink: receive failed: {exc}", exc=exc)
            return
        for name, up in changes:
            try:
                self.callback(name, up)
            except Exception:
                _log.failure("vrrp netlink: link change handling failed")

    def connectionLost(self, reason: Any) -> None:
        self.watcher.close()

    def logPrefix(self) -> str:
        return "vrrp netlink"
