"""End to end: ``twistd -n stack`` with a vrrp-only config on two hosts, as operators run it.

Two network namespaces (``vs-<pid>-a``, ``vs-<pid>-b``) joined by a veth pair stand in for the
two load balancers; each runs a real twistd (``ip netns exec`` execs it, and its ``--pidfile``
names the process these tests signal). VRRPv3 at 0.1 s adverts keeps each failover short, but
only outcomes are asserted: who is MASTER, who holds the virtual address, what the log and the
notify script say. Needs root and namespaces (``require_system``).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from wire_lab import ip, require_root_netns, require_system, sysctl

pytestmark = [pytest.mark.integration, pytest.mark.needs_system]

TWISTD = str(Path(sys.executable).parent / "twistd")
VIP = "10.67.0.100/24"
WAIT = 30.0
"""Seconds any one outcome may take: generous, never asserted on."""
SETTLE = 2.0
"""Seconds (twenty advert intervals) for a wrong outcome to show before a steady state is
checked."""

STATE = re.compile(r"\(v\) Entering (MASTER|BACKUP|FAULT) STATE")


@pytest.fixture(scope="module")
def lab() -> Iterator[tuple[str, str]]:
    """Two namespaces, ``eth0`` in each: 10.67.0.1/24 and 10.67.0.2/24; deleted afterwards."""
    require_root_netns()
    tag = f"vs-{os.getpid()}"
    a, b = f"{tag}-a", f"{tag}-b"
    made: list[str] = []
    try:
        for ns in (a, b):
            ip("netns", "add", ns)
            made.append(ns)
        ip(*f"link add eth0 netns {a} type veth peer name eth0 netns {b}".split())
        for ns, address in ((a, "10.67.0.1/24"), (b, "10.67.0.2/24")):
            sysctl(ns, "net.ipv6.conf.all.accept_dad", "0")
            ip("-n", ns, "addr", "add", address, "dev", "eth0")
            ip("-n", ns, "link", "set", "lo", "up")
            ip("-n", ns, "link", "set", "eth0", "up")
        yield a, b
    finally:
        for ns in made:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=20)


def holds(ns: str) -> bool:
    return f"inet {VIP} " in ip("-n", ns, "-4", "-o", "addr", "show", "dev", "eth0")


def wait_for(condition: Callable[[], object], timeout: float = WAIT) -> bool:
    """Poll until ``condition()`` holds or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return bool(condition())


class Node:
    """One host's stack: its own directory with the INI, notify script, log and pidfile."""

    def __init__(self, ns: str, priority: int, *, as_nobody: bool = False, ini: str = "") -> None:
        self.ns = ns
        self.priority = priority
        self.as_nobody = as_nobody
        # Under /tmp, not pytest's tmp_path (mode 700): nobody must reach the notify script and
        # write its output here.
        self.dir = Path(tempfile.mkdtemp(prefix="vs-node-", dir="/tmp"))
        self.dir.chmod(0o777 if as_nobody else 0o755)
        self.notify = self.dir / "notify.sh"
        self.notify.write_text(f'#!/bin/sh\necho "$*" >> {self.dir}/notified\n')
        self.notify.chmod(0o755)
        self.config = self.dir / "stack.ini"
        self.config.write_text(
            (ini or INI).format(priority=priority, notify=self.notify, dir=self.dir)
        )
        self.pidfile = self.dir / "twistd.pid"
        self.runs = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.pid: int | None = None
        self.log = self.dir / "none.log"

    def start(self) -> None:
        assert self.proc is None or self.proc.poll() is not None
        self.runs += 1
        self.log = self.dir / f"twistd-{self.runs}.log"
        self.pidfile.unlink(missing_ok=True)
        user = ["--uid", "nobody", "--gid", "nogroup"] if self.as_nobody else []
        command = ["ip", "netns", "exec", self.ns, TWISTD, "-n", f"--pidfile={self.pidfile}"]
        command += ["--logfile", str(self.log), *user, "stack", "-c", str(self.config)]
        with open(self.dir / f"output-{self.runs}.txt", "wb") as output:
            self.proc = subprocess.Popen(
                command, cwd=self.dir, stdout=output, stderr=subprocess.STDOUT
            )
        self.pid = None
        if not wait_for(lambda: self.pidfile.exists() and self.pidfile.read_text().strip()):
            raise AssertionError(f"twistd wrote no pidfile\n{self.report()}")
        self.pid = int(self.pidfile.read_text())

    def signal(self, sig: signal.Signals) -> int:
        """Send ``sig`` to this node's twistd and wait for it to end; its exit status."""
        assert self.proc is not None and self.pid is not None
        os.kill(self.pid, sig)
        return self.proc.wait(WAIT)

    def end(self) -> None:
        """Kill what is still running (test teardown)."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.pid or self.proc.pid, signal.SIGKILL)
            self.proc.wait(WAIT)

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def state(self) -> str | None:
        found = STATE.findall(self.text())
        return found[-1] if found else None

    def is_(self, state: str) -> bool:
        return self.state() == state and holds(self.ns) is (state == "MASTER")

    def notified(self) -> list[str]:
        path = self.dir / "notified"
        return path.read_text().splitlines() if path.exists() else []

    def report(self) -> str:
        outputs = sorted(self.dir.glob("output-*.txt"))
        printed = "".join(p.read_text(errors="replace") for p in outputs)
        return f"--- {self.ns} prio {self.priority} log:\n{self.text()}\n--- output:\n{printed}"


INI = """\
[vrrp_instance v]
state = BACKUP
interface = eth0
virtual_router_id = 67
priority = {priority}
advert_int = 0.1
version = 3
virtual_ipaddress =
    10.67.0.100/24
notify = {notify}
"""


@pytest.fixture
def nodes(lab: tuple[str, str]) -> Iterator[Callable[..., Node]]:
    """Makes nodes; afterwards kills what still runs and drops any address left behind."""
    made: list[Node] = []

    def make(side: str, priority: int, **options: object) -> Node:
        node = Node(lab[0] if side == "a" else lab[1], priority, **options)  # type: ignore[arg-type]
        made.append(node)
        return node

    try:
        yield make
    finally:
        for node in made:
            node.end()
        for ns in lab:
            subprocess.run(["ip", "-n", ns, "addr", "del", VIP, "dev", "eth0"], capture_output=True)
        for node in made:
            shutil.rmtree(node.dir, ignore_errors=True)


def stopped(node: Node) -> None:
    """SIGTERM: a clean shutdown (twistd then ends by the same signal, as Twisted does)."""
    assert node.signal(signal.SIGTERM) == -signal.SIGTERM, node.report()
    assert "Server Shut Down." in node.text(), node.report()


def report(*nodes: Node) -> str:
    return "\n".join(n.report() for n in nodes)


def test_the_higher_priority_is_master_and_sigterm_hands_over(nodes: Callable[..., Node]) -> None:
    a, b = nodes("a", 150), nodes("b", 100)
    a.start()
    assert wait_for(lambda: a.is_("MASTER")), report(a)
    b.start()
    assert wait_for(lambda: b.state() == "BACKUP"), report(a, b)
    time.sleep(SETTLE)
    assert a.is_("MASTER") and b.is_("BACKUP"), report(a, b)
    assert wait_for(lambda: len(a.notified()) == 2 and len(b.notified()) == 1), report(a, b)
    assert a.notified() == ["INSTANCE v BACKUP 150", "INSTANCE v MASTER 150"]
    assert b.notified() == ["INSTANCE v BACKUP 100"]

    stopped(a)
    assert "(v) sent 0 priority" in a.text()
    assert "(v) removing VIPs." in a.text()
    assert not holds(a.ns)
    assert wait_for(lambda: b.is_("MASTER")), report(a, b)
    assert wait_for(lambda: len(a.notified()) == 3 and len(b.notified()) == 2), report(a, b)
    assert a.notified()[2] == "INSTANCE v STOP 150"
    assert b.notified() == ["INSTANCE v BACKUP 100", "INSTANCE v MASTER 100"]


def test_sigkill_leaves_the_address_and_a_restart_removes_it_then_preempts(
    nodes: Callable[..., Node],
) -> None:
    a, b = nodes("a", 150), nodes("b", 100)
    a.start()
    assert wait_for(lambda: a.is_("MASTER")), report(a)
    b.start()
    assert wait_for(lambda: b.state() == "BACKUP"), report(a, b)

    assert a.signal(signal.SIGKILL) == -signal.SIGKILL
    assert holds(a.ns)  # nobody cleaned up after the killed master
    assert wait_for(lambda: b.is_("MASTER")), report(a, b)
    assert holds(a.ns)

    a.start()
    assert wait_for(lambda: a.state() is not None), report(a)
    lines = a.text().splitlines()
    removed = next(i for i, line in enumerate(lines) if "(v) removing VIPs." in line)
    entered = next(i for i, line in enumerate(lines) if "(v) Entering BACKUP STATE (init)" in line)
    assert removed < entered, report(a)  # the leftover went before the router started
    assert wait_for(lambda: a.is_("MASTER") and b.is_("BACKUP")), report(a, b)
    time.sleep(SETTLE)
    assert a.is_("MASTER") and b.is_("BACKUP"), report(a, b)


CHECKED_INI = """\
[vrrp_script chk_flag]
script = /usr/bin/test -e {dir}/healthy
interval = 0.2

[vrrp_instance v]
state = BACKUP
interface = eth0
virtual_router_id = 67
priority = {priority}
advert_int = 0.1
version = 3
virtual_ipaddress =
    10.67.0.100/24
track_script =
    chk_flag
notify = {notify}
"""


def test_the_tier_keeps_working_after_dropping_to_nobody(nodes: Callable[..., Node]) -> None:
    """``--uid nobody --gid nogroup``: the kept CAP_NET_ADMIN adds and removes the address, the
    sockets opened as root still send, and scripts run as nobody.

    The test's Python may be one nobody cannot even read (here /tmp/v links to an interpreter
    under /root, mode 700): the tier imports everything it needs before the switch, so that
    works as well.
    """
    for name, kind in (("nobody", "passwd"), ("nogroup", "group")):
        if subprocess.run(["getent", kind, name], capture_output=True).returncode != 0:
            require_system(f"needs the {kind} entry {name} (Debian's unprivileged user)")
    node = nodes("a", 150, as_nobody=True, ini=CHECKED_INI)
    healthy = node.dir / "healthy"
    healthy.touch()
    node.start()
    assert wait_for(lambda: node.is_("MASTER")), node.report()
    status = Path(f"/proc/{node.pid}/status").read_text()
    assert re.search(r"^Uid:\s+65534\s+65534\s+65534\s+65534$", status, re.M), status
    assert wait_for(lambda: "INSTANCE v MASTER 150" in node.notified()), node.report()
    assert (node.dir / "notified").stat().st_uid == 65534  # the notify script ran as nobody

    healthy.unlink()  # the weight-0 script fails: FAULT gives the address up
    assert wait_for(lambda: node.is_("FAULT")), node.report()
    assert "(v) sent 0 priority" in node.text()
    healthy.touch()
    assert wait_for(lambda: node.is_("MASTER")), node.report()

    stopped(node)
    assert not holds(node.ns)
    assert "cannot" not in node.text(), node.report()  # no refused address change or send


def test_a_missing_interface_is_named_and_twistd_exits(lab: tuple[str, str]) -> None:
    directory = Path(tempfile.mkdtemp(prefix="vs-node-", dir="/tmp"))
    try:
        config = directory / "stack.ini"
        config.write_text(
            INI.replace("interface = eth0", "interface = vs-nope0").format(
                priority=100, notify="/bin/true"
            )
        )
        done = subprocess.run(
            ["ip", "netns", "exec", lab[0], TWISTD, "-n", "--pidfile=", "stack", "-c", str(config)],
            cwd=directory,
            capture_output=True,
            text=True,
            timeout=WAIT * 2,
        )
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    assert done.returncode != 0
    assert "stack: [vrrp_instance v]: no interface named vs-nope0" in done.stdout + done.stderr
    assert "no interface named vs-nope0" in done.stdout + done.stderr
    assert not holds(lab[0])
