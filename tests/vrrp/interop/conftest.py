"""Fixtures for the keepalived interop tests: one namespace lab per module, daemons per test.

They need root, iproute2 and keepalived (Debian's package); without them the tests skip, and
in CI (STACK_REQUIRE_SYSTEM=1) they fail instead, so the interop proof cannot silently vanish.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest
from interop_lab import HOSTS, PREFIX, Lab, Nodes
from system import require_system


def _missing() -> str | None:
    if os.geteuid() != 0:
        return "needs root (network namespaces, raw sockets)"
    if shutil.which("ip") is None and not os.path.exists("/usr/sbin/ip"):
        return "needs iproute2's ip"
    if shutil.which("keepalived") is None and not os.path.exists("/usr/sbin/keepalived"):
        return "needs keepalived (Debian's keepalived package)"
    if not os.path.exists("/run/netns") and not os.access("/run", os.W_OK):
        return "cannot create network namespaces"
    return None


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    """Namespaces vt-br, vt-a, vt-b, vt-c (vrrp.md section 4), removed after the module."""
    reason = _missing()
    if reason:
        require_system(reason)
    with Lab(PREFIX) as made:
        for name, (ipv4, mac, ipv6) in HOSTS.items():
            made.host(name, ipv4, mac, ipv6=ipv6)
        yield made


@pytest.fixture
def nodes(lab: Lab) -> Iterator[Nodes]:
    """Start daemons and captures through this; all are gone after the test, pass or fail.

    The daemons' logs are printed at teardown: pytest shows them for a failed test only.
    """
    made = Nodes(lab)
    try:
        yield made
    finally:
        print(made.report())
        made.cleanup()
