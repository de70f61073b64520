"""stack's VRRP tier against keepalived 2.2.7 on a namespace wire (vrrp.md section 4).

Each scenario runs with keepalived as the priority-150 node a and stack as the priority-100
node b, and the other way round, for VRRPv2 (advert_int 1) and VRRPv3 (advert_int 0.1); the
keepalived-against-keepalived cases prove the harness itself. The observer c watches the wire
and keeps an ARP entry for the VIP, as a client would. Outcomes only: who is MASTER, who holds
the VIP, what c's ARP cache says, what went on the wire; waits are generous and never judged.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from interop_lab import (
    WAIT,
    Capture,
    Daemon,
    Frame,
    Host,
    Nodes,
    Setup,
    advert,
    adverts_from,
    announced,
    complaints,
    masked,
    wait_for,
)

pytestmark = pytest.mark.needs_system

V2 = Setup(version=2, advert_int="1")
V3 = Setup(version=3, advert_int="0.1")

# (setup, what runs on node a (priority 150), what runs on node b (priority 100)). The
# harness case is VRRPv3 only: it proves the lab and the assertions, v2 would add a minute.
CASES = [
    pytest.param(V2, "keepalived", "stack", id="v2-keepalived150-stack100"),
    pytest.param(V2, "stack", "keepalived", id="v2-stack150-keepalived100"),
    pytest.param(V3, "keepalived", "stack", id="v3-keepalived150-stack100"),
    pytest.param(V3, "stack", "keepalived", id="v3-stack150-keepalived100"),
    pytest.param(V3, "keepalived", "keepalived", id="v3-harness-keepalived-both"),
]


@dataclass
class Pair:
    """An elected pair: a (150) MASTER, b (100) BACKUP, c watching."""

    a: Host
    b: Host
    c: Host
    node_a: Daemon
    node_b: Daemon
    cap: Capture
    setup: Setup


def assert_no_complaints(*daemons: Daemon) -> None:
    """6: keepalived found nothing wrong with the adverts it received."""
    for daemon in daemons:
        if daemon.name.startswith("keepalived"):
            assert complaints(daemon) == [], f"{daemon.name} complained:\n{daemon.tail()}"


def elect(
    nodes: Nodes, setup: Setup, kind_a: str, kind_b: str, healthy: Path | None = None
) -> Pair:
    """1: start a (150) and b (100); a wins, b stays BACKUP, the VIP and c's ARP follow a."""
    lab = nodes.lab
    a, b, c = lab.hosts["a"], lab.hosts["b"], lab.hosts["c"]
    cap = nodes.capture(c)
    node_a = nodes.start(kind_a, a, 150, setup, healthy)
    node_b = nodes.start(kind_b, b, 100, setup)
    node_b.wait_state("BACKUP", WAIT)
    node_a.wait_state("MASTER", WAIT)
    # Five of a's adverts since b became BACKUP: more than b's Master_Down_Interval, so a b
    # that did not accept them would have taken over by now.
    since = node_b.notified_at("BACKUP")
    assert since is not None
    assert wait_for(lambda: len(adverts_from(cap.since(since), a)) >= 5), "a went quiet"
    assert node_a.state() == "MASTER", node_a.tail()
    assert node_b.state() == "BACKUP", node_b.tail()
    assert wait_for(lambda: a.holds(setup.vip)), "the VIP is not on the master a"
    assert not b.holds(setup.vip), "the VIP is on the backup b too"
    c.poke(setup.vip)
    assert wait_for(lambda: c.neigh(setup.vip) == a.mac), f"c's ARP entry: {c.neigh(setup.vip)}"
    return Pair(a, b, c, node_a, node_b, cap, setup)


def assert_took_over(pair: Pair, gone: float) -> None:
    """b is MASTER with the VIP, announced it to c with its own MAC, and c believes it; a,
    ended at ``gone`` (time.time()), has sent no advert or VIP announcement since."""
    b, c, vip = pair.b, pair.c, pair.setup.vip
    pair.node_b.wait_state("MASTER", WAIT)
    assert wait_for(lambda: b.holds(vip)), "b is MASTER without the VIP"
    pair.cap.wait(lambda f: announced(f, vip) == b.mac and f.src == b.mac, WAIT)
    assert wait_for(lambda: c.neigh(vip) == b.mac), f"c's ARP entry: {c.neigh(vip)}"
    after = pair.cap.since(gone)
    assert adverts_from(after, pair.a) == [], "a sent adverts after it ended"
    assert [f for f in after if announced(f, vip) == pair.a.mac] == [], "a announced the VIP"


@pytest.mark.parametrize(("setup", "kind_a", "kind_b"), CASES)
def test_election(nodes: Nodes, setup: Setup, kind_a: str, kind_b: str) -> None:
    """1 and 6: the higher priority wins whichever implementation it is; the adverts carry the
    configured instance; keepalived, master or backup, accepts every advert it hears."""
    pair = elect(nodes, setup, kind_a, kind_b)
    sent = adverts_from(pair.cap.snapshot(), pair.a)
    last = sent[-1].advert
    assert (last.version, last.vrid, last.priority, last.interval) == (
        setup.version,
        setup.vrid,
        150,
        setup.interval,
    )
    assert [str(x) for x in last.addresses] == [setup.vip]
    assert str(sent[-1].source) == pair.a.ipv4
    assert_no_complaints(pair.node_a, pair.node_b)


@pytest.mark.parametrize(("setup", "kind_a", "kind_b"), CASES)
def test_clean_stop_hands_over(nodes: Nodes, setup: Setup, kind_a: str, kind_b: str) -> None:
    """2: SIGTERM on the master sends priority 0 and gives the VIP up; b takes over and
    gratuitously ARPs the VIP with its MAC."""
    pair = elect(nodes, setup, kind_a, kind_b)
    since = len(pair.cap.snapshot())
    pair.node_a.stop()
    gone = time.time()
    assert not pair.a.holds(setup.vip), "a kept the VIP after a clean stop"
    last = adverts_from(pair.cap.snapshot()[since:], pair.a)[-1]
    assert last.advert.priority == 0, "a's last advert did not say priority 0"
    assert_took_over(pair, gone)
    assert_no_complaints(pair.node_a, pair.node_b)


@pytest.mark.parametrize(("setup", "kind_a", "kind_b"), CASES)
def test_silent_death_hands_over(nodes: Nodes, setup: Setup, kind_a: str, kind_b: str) -> None:
    """3: SIGKILL on the master: no more adverts at all; b takes over once its
    Master_Down_Interval runs out."""
    pair = elect(nodes, setup, kind_a, kind_b)
    pair.node_a.kill()
    gone = time.time()
    assert_took_over(pair, gone)
    assert pair.a.holds(setup.vip), "harness: a SIGKILLed daemon cannot have removed the VIP"
    assert_no_complaints(pair.node_a, pair.node_b)


@pytest.mark.parametrize(("setup", "kind_a", "kind_b"), CASES)
def test_restarted_master_preempts(nodes: Nodes, setup: Setup, kind_a: str, kind_b: str) -> None:
    """4: after a clean stop and b's takeover, restarting a (150) takes the VIP back."""
    pair = elect(nodes, setup, kind_a, kind_b)
    pair.node_a.stop()
    assert_took_over(pair, time.time())
    since = len(pair.cap.snapshot())
    pair.node_a.start()
    pair.node_a.wait_state("MASTER", WAIT)
    pair.node_b.wait_state("BACKUP", WAIT)
    assert wait_for(lambda: pair.a.holds(setup.vip)), "a is MASTER again without the VIP"
    assert wait_for(lambda: not pair.b.holds(setup.vip)), "b kept the VIP as BACKUP"
    pair.cap.wait(lambda f: f.src == pair.a.mac and announced(f, setup.vip) == pair.a.mac, WAIT)
    assert wait_for(lambda: pair.c.neigh(setup.vip) == pair.a.mac)
    assert adverts_from(pair.cap.snapshot()[since:], pair.a)[-1].advert.priority == 150
    assert_no_complaints(pair.node_a, pair.node_b)


@pytest.mark.parametrize(("setup", "kind_a", "kind_b"), CASES)
def test_failing_script_hands_over(
    nodes: Nodes, setup: Setup, kind_a: str, kind_b: str, tmp_path: Path
) -> None:
    """5: a's vrrp_script (weight -60) fails: a advertises 90 and b (100) takes over; when it
    passes again a is back at 150 and preempts."""
    healthy = tmp_path / "healthy"
    healthy.touch()
    pair = elect(nodes, setup, kind_a, kind_b, healthy)
    since = len(pair.cap.snapshot())
    healthy.unlink()
    pair.node_b.wait_state("MASTER", WAIT)
    pair.node_a.wait_state("BACKUP", WAIT)
    priorities = [r.advert.priority for r in adverts_from(pair.cap.snapshot()[since:], pair.a)]
    assert 90 in priorities, f"a never advertised 150 - 60: {priorities}"
    assert wait_for(lambda: pair.b.holds(setup.vip)) and not pair.a.holds(setup.vip)
    healthy.touch()
    pair.node_a.wait_state("MASTER", WAIT)
    pair.node_b.wait_state("BACKUP", WAIT)
    assert wait_for(lambda: pair.a.holds(setup.vip)), "a is MASTER again without the VIP"
    assert wait_for(lambda: not pair.b.holds(setup.vip)), "b kept the VIP as BACKUP"
    assert_no_complaints(pair.node_a, pair.node_b)


BYTES = [
    pytest.param(Setup(version=2, advert_int="1"), id="v2"),
    pytest.param(Setup(version=3, advert_int="1"), id="v3"),
    pytest.param(Setup(version=3, advert_int="1", family=6), id="v3-ipv6"),
]


def frames_of(nodes: Nodes, kind: str, setup: Setup) -> tuple[Frame, Frame, Frame]:
    """(advert at 150, first gratuitous ARP / NA, priority-0 advert) of ``kind`` alone on a."""
    a, c = nodes.lab.hosts["a"], nodes.lab.hosts["c"]
    cap = nodes.capture(c)
    node = nodes.start(kind, a, 150, setup)
    node.wait_state("MASTER", WAIT)

    def sent(priority: int) -> Callable[[Frame], bool]:
        def match(frame: Frame) -> bool:
            received = advert(frame)
            return (
                frame.src == a.mac and received is not None and received.advert.priority == priority
            )

        return match

    adv = cap.wait(sent(150), WAIT)
    garp = cap.wait(lambda f: f.src == a.mac and announced(f, setup.vip) == a.mac, WAIT)
    node.stop()
    zero = cap.wait(sent(0), WAIT)
    return adv, garp, zero


@pytest.mark.parametrize("setup", BYTES)
def test_frames_match_keepalived_byte_for_byte(nodes: Nodes, setup: Setup) -> None:
    """7: on the same host, address and MAC, stack's advert, priority-0 advert and gratuitous
    ARP (IPv6: unsolicited NA) equal keepalived's, but for the IPv4 ID and header checksum
    (IPv6: the flow label)."""
    theirs = frames_of(nodes, "keepalived", setup)
    ours = frames_of(nodes, "stack", setup)
    for what, k, s in zip(
        ("advert", "gratuitous ARP/NA", "priority-0 advert"), theirs, ours, strict=True
    ):
        assert masked(s).hex() == masked(k).hex(), f"{what} differs from keepalived's"
