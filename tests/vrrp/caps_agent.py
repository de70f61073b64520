"""Run as root inside a network namespace by test_privileges.py: one capability scenario.

``python caps_agent.py SCENARIO`` prints one JSON object with what happened. Everything is
imported and opened before the user switch, as under twistd: after it, the process may not even
be able to read the Python installation.

Scenarios:
  keep-switch-restore  keep_capabilities, twistd's switchUID to nobody, restore_capabilities
  keep-switch          keep_capabilities and the switch, but no restore
  switch               the switch alone
  keep-as-root         keep_capabilities, no switch: what root can no longer do
Each sends one advert (``early``) through a raw socket opened before the switch.
"""

from __future__ import annotations

import json
import os
import socket
import sys
from ipaddress import IPv4Address, IPv4Interface

from twisted.python.util import switchUID

from stack.config.model import VirtualAddress
from stack.vrrp import privileges
from stack.vrrp.netlink import AddressBook
from stack.vrrp.sockets import MULTICAST_V4, AdvertSocket, link

NOBODY = 65534
EARLY = b"\x21\x33\x64\x01\x00\x01\x00\x00" + bytes(4) + bytes(8)


def status(field: str) -> list[str]:
    with open("/proc/thread-self/status") as f:
        return privileges.names(privileges.parse_status(f.read(), field))


def attempt(results: dict[str, object], key: str, action: object) -> None:
    try:
        action()  # type: ignore[operator]
    except OSError as exc:
        results[key] = f"{type(exc).__name__}: {exc}"
    else:
        results[key] = "ok"


def main(scenario: str, vip: str) -> dict[str, object]:
    results: dict[str, object] = {}
    eth0 = link("eth0")
    early = AdvertSocket(eth0, 4)
    book = AddressBook()
    address = VirtualAddress(IPv4Interface(vip))
    assert eth0.ipv4 is not None
    source: IPv4Address = eth0.ipv4

    if scenario != "switch":
        privileges.keep_capabilities()
        results["permitted_after_keep"] = status("CapPrm")
    if scenario == "keep-as-root":
        listener = socket.socket()
        attempt(results, "bind_port_80", lambda: listener.bind(("127.0.0.1", 80)))
        listener.close()
    else:
        switchUID(NOBODY, NOBODY)
    if scenario == "keep-switch-restore":
        privileges.restore_capabilities()
    results["uid"] = os.getuid()
    results["permitted"] = status("CapPrm")
    results["missing"] = privileges.missing_capabilities()
    attempt(results, "add", lambda: book.add(address, "eth0"))
    attempt(results, "remove", lambda: book.remove(address, "eth0"))
    attempt(results, "add_again", lambda: book.add(address, "eth0"))
    attempt(results, "raw_socket", lambda: AdvertSocket(eth0, 4).close())
    attempt(results, "early_send", lambda: early.send(EARLY, src=source, dst=MULTICAST_V4))
    attempt(results, "setuid_root", lambda: os.setuid(0))
    return results


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], sys.argv[2])))
