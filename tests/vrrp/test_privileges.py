"""Capabilities kept across twistd's ``--uid``: set arithmetic, messages, and the real switch.

The switch tests run ``caps_agent.py`` as root inside a namespace (a user switch cannot be
undone, so never in the test process) and check what it could still do afterwards.
"""

from __future__ import annotations

import errno
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from wire_lab import Pair, inside, ip, require_root_netns, veth_pair

from stack.vrrp import privileges
from stack.vrrp.privileges import CapabilityError
from stack.vrrp.sockets import AdvertSocket, Inbound, link

AGENT = Path(__file__).with_name("caps_agent.py")
ROOT = Path(__file__).resolve().parents[2]
EARLY = b"\x21\x33\x64\x01\x00\x01\x00\x00" + bytes(4) + bytes(8)  # caps_agent.EARLY

# --- without root ------------------------------------------------------------------------------


def test_mask_and_names_are_inverse() -> None:
    bits = privileges.mask(["CAP_NET_RAW", "CAP_NET_ADMIN"])
    assert bits == (1 << 12) | (1 << 13)
    assert privileges.names(bits) == ["CAP_NET_ADMIN", "CAP_NET_RAW"]
    assert privileges.names(0) == []


def test_parse_status_reads_the_named_field() -> None:
    status = "Name:\tpython\nCapInh:\t0000000000000000\nCapPrm:\t00000000000030c0\n"
    status += "CapEff:\t0000000000001000\nCapBnd:\t000001ffffffffff\n"
    assert privileges.names(privileges.parse_status(status)) == ["CAP_NET_ADMIN"]
    assert privileges.names(privileges.parse_status(status, "CapPrm")) == [
        "CAP_SETGID",
        "CAP_SETUID",
        "CAP_NET_ADMIN",
        "CAP_NET_RAW",
    ]
    with pytest.raises(ValueError, match="no CapAmb line"):
        privileges.parse_status(status, "CapAmb")


def test_missing_capabilities_follows_this_process() -> None:
    have = privileges.effective()
    expected = [n for n in privileges.NEEDED if not have & privileges.mask([n])]
    assert privileges.missing_capabilities() == expected


def test_capability_error_names_capability_action_and_remedy() -> None:
    error = CapabilityError("CAP_NET_RAW", "open a raw socket", "eth0")
    assert isinstance(error, OSError)
    assert error.errno == errno.EPERM
    assert error.capability == "CAP_NET_RAW"
    text = str(error)
    assert text.startswith("VRRP instance needs CAP_NET_RAW to open a raw socket on eth0 (")
    assert "run as root" in text
    assert "setcap cap_net_admin,cap_net_raw+ep /" in text


# --- the real user switch (root, namespaces) ----------------------------------------------------


@pytest.fixture
def pair() -> Iterator[Pair]:
    require_root_netns()
    with veth_pair() as made:
        yield made


def run_agent(pair: Pair, scenario: str, vip: str) -> dict[str, object]:
    with inside(pair.b.ns):
        receiver = AdvertSocket(link("eth0"), 4)
    try:
        done = subprocess.run(
            ["ip", "netns", "exec", pair.a.ns, sys.executable, str(AGENT), scenario, vip],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=ROOT,
        )
        assert done.returncode == 0, done.stderr
        results: dict[str, object] = json.loads(done.stdout)
        results["received"] = received_within(receiver)
    finally:
        receiver.close()
    return results


def received_within(sock: AdvertSocket, seconds: float = 5.0) -> list[Inbound]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        got = sock.receive()
        if got:
            return got
        time.sleep(0.02)
    return []


def held(pair: Pair, vip: str) -> bool:
    return f"inet {vip} " in ip("-n", pair.a.ns, "-4", "addr", "show", "dev", "eth0")


def test_kept_and_restored_capabilities_manage_addresses_as_nobody(pair: Pair) -> None:
    vip = "10.66.0.150/24"
    results = run_agent(pair, "keep-switch-restore", vip)
    assert results["permitted_after_keep"] == [
        "CAP_SETGID",
        "CAP_SETUID",
        "CAP_NET_ADMIN",
        "CAP_NET_RAW",
    ]
    assert results["uid"] == 65534
    assert results["permitted"] == ["CAP_NET_ADMIN", "CAP_NET_RAW"]
    assert results["missing"] == []
    assert results["add"] == results["remove"] == results["add_again"] == "ok"
    assert held(pair, vip)
    assert results["raw_socket"] == "ok"  # CAP_NET_RAW is kept: a link coming back can reopen
    assert results["early_send"] == "ok"
    # CAP_SETUID is gone: root can never come back.
    assert results["setuid_root"] == "PermissionError: [Errno 1] Operation not permitted"
    assert [(i.message, str(i.source)) for i in results["received"]] == [  # type: ignore[attr-defined]
        (EARLY, "10.66.0.1")
    ]


def test_without_restore_the_kept_capabilities_are_not_effective(pair: Pair) -> None:
    vip = "10.66.0.151/24"
    results = run_agent(pair, "keep-switch", vip)
    assert results["missing"] == ["CAP_NET_ADMIN", "CAP_NET_RAW"]
    assert str(results["add"]).startswith(
        "CapabilityError: VRRP instance needs CAP_NET_ADMIN to add 10.66.0.151/24 on eth0 ("
    )
    assert str(results["remove"]).startswith(
        "CapabilityError: VRRP instance needs CAP_NET_ADMIN to remove 10.66.0.151/24 on eth0 ("
    )
    assert str(results["raw_socket"]).startswith(
        "CapabilityError: VRRP instance needs CAP_NET_RAW to open a raw socket on eth0 ("
    )
    assert not held(pair, vip)
    # A raw socket opened before the switch keeps working without any capability.
    assert results["early_send"] == "ok"
    assert len(results["received"]) == 1  # type: ignore[arg-type]


def test_a_plain_switch_loses_both_capabilities(pair: Pair) -> None:
    vip = "10.66.0.152/24"
    results = run_agent(pair, "switch", vip)
    assert results["permitted"] == []
    assert results["missing"] == ["CAP_NET_ADMIN", "CAP_NET_RAW"]
    assert str(results["add"]).startswith("CapabilityError: VRRP instance needs CAP_NET_ADMIN")
    assert str(results["raw_socket"]).startswith("CapabilityError: VRRP instance needs CAP_NET_RAW")
    assert not held(pair, vip)
    assert results["early_send"] == "ok"


def test_keep_capabilities_takes_nothing_from_root(pair: Pair) -> None:
    """Tiers started after the VRRP tier (or without --uid) keep root's powers: binding port 80."""
    results = run_agent(pair, "keep-as-root", "10.66.0.153/24")
    assert results["uid"] == 0
    assert results["missing"] == []
    assert results["add"] == "ok"
    assert results["bind_port_80"] == "ok"
