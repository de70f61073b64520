"""The VRRP state machine: every state against every event, with exact actions and deadlines.

The router runs on ``twisted.internet.task.Clock`` and a recording :class:`Recorder` in place of
sockets and netlink. Deadlines are keepalived's integer-microsecond timers (vrrp.md 1.5 and 6:
priority 100 at 1 s gives Master_Down_Interval 3.609375 s, Skew_Time 0.609375 s).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Interface
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.internet.task import Clock

from stack.config.model import VirtualAddress, VrrpInstance
from stack.vrrp.machine import State, VirtualRouter, master_down_interval, skew_time
from stack.vrrp.packet import Advert, Received

PRIMARY = IPv4Address("10.99.0.2")  # ours
LOWER = IPv4Address("10.99.0.1")
HIGHER = IPv4Address("10.99.0.3")
VIP = IPv4Address("10.99.0.100")
OTHER_VIP = IPv4Address("10.99.0.101")
GROUP = IPv4Address("224.0.0.18")

MDI = 3.609375  # priority 100, 1 s
SKEW = 0.609375


def at(seconds: float) -> Any:
    """A deadline to the microsecond, where float sums may differ in the last bit."""
    return pytest.approx(seconds, abs=1e-9)


class Recorder:
    """RouterActions that remember what was asked, and check the asks are coherent."""

    def __init__(self) -> None:
        self.actions: list[tuple[Any, ...]] = []
        self.logs: list[str] = []
        self.held = False
        self.router: VirtualRouter | None = None

    def send_advert(self, priority: int) -> None:
        assert self.router is not None
        assert priority in (0, self.router.priority)
        self.actions.append(("advert", priority))

    def take_addresses(self) -> None:
        assert not self.held, "take twice"
        self.held = True
        self.actions.append(("take",))

    def release_addresses(self) -> None:
        assert self.held, "release without take"
        self.held = False
        self.actions.append(("release",))

    def send_gratuitous(self, repeat: int) -> None:
        assert self.held, "GARP for addresses we do not hold"
        self.actions.append(("garp", repeat))

    def state_changed(self, old: State, new: State, priority: int) -> None:
        assert self.router is not None and self.router.state is new and old is not new
        self.actions.append(("state", old.value, new.value, priority))

    def log(self, message: str) -> None:
        self.logs.append(message)


def instance(**overrides: Any) -> VrrpInstance:
    settings: dict[str, Any] = {
        "name": "VI_1",
        "interface": "eth0",
        "vrid": 51,
        "priority": 100,
        "advert_int": 100,
        "version": 2,
        "addresses": (VirtualAddress(IPv4Interface("10.99.0.100/24")),),
        # keepalived's default; stack's (on) is tested where higher_prio_send_advert is named
        "higher_prio_send_advert": False,
    }
    settings.update(overrides)
    return VrrpInstance(**settings)


@dataclass
class Lab:
    """A router on a fresh clock (t = 0) with a recorder."""

    overrides: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.clock = Clock()
        self.recorder = Recorder()
        self.config = instance(**self.overrides)
        self.router = VirtualRouter(self.config, PRIMARY, self.recorder, self.clock)
        self.recorder.router = self.router

    def advert(
        self,
        priority: int,
        source: IPv4Address = HIGHER,
        **fields: Any,
    ) -> Received:
        values: dict[str, Any] = {
            "version": self.config.version,
            "vrid": self.config.vrid,
            "priority": priority,
            "interval": self.config.advert_int,
            "addresses": (VIP,),
        }
        values.update(fields)
        return Received(Advert(**values), source, GROUP, 255, None)

    def receive(self, priority: int, source: IPv4Address = HIGHER, **fields: Any) -> None:
        self.router.receive(self.advert(priority, source, **fields))

    def take(self) -> tuple[list[tuple[Any, ...]], list[str]]:
        """Actions and log lines since the last call."""
        actions, logs = self.recorder.actions, self.recorder.logs
        self.recorder.actions, self.recorder.logs = [], []
        return actions, logs

    def timers(self) -> list[tuple[float, str]]:
        """The router's pending timers, checked against the clock (nothing else pending)."""
        named = list(self.router.timers)
        assert sorted(c.getTime() for c in self.clock.getDelayedCalls()) == [t for t, _ in named]
        return named

    def backup(self) -> Lab:
        self.router.start()
        assert self.router.state is State.BACKUP
        self.take()
        return self

    def master(self) -> Lab:
        """MASTER at t = MDI, by the Master_Down_Timer (or at once for the owner)."""
        self.router.start()
        if self.router.state is State.BACKUP:
            self.clock.advance(self.router.master_down_interval)
        assert self.router.state is State.MASTER
        self.take()
        return self

    def fault(self) -> Lab:
        self.router.start()
        self.router.set_fault(True)
        assert self.router.state is State.FAULT
        self.take()
        return self


# --- timer arithmetic (vrrp.md 1.5 / 6, measured against keepalived 2.2.7) ---------------------


@pytest.mark.parametrize(
    ("version", "priority", "interval", "skew", "mdi"),
    [
        (2, 100, 100, 0.609375, 3.609375),
        (2, 150, 100, 0.414062, 3.414062),
        (2, 200, 100, 0.21875, 3.21875),
        (2, 254, 100, 0.007812, 3.007812),
        (2, 255, 100, 0.003906, 3.003906),
        (2, 100, 200, 0.609375, 6.609375),  # v2 skew ignores the interval
        (3, 100, 100, 0.609375, 3.609375),
        (3, 100, 10, 0.060937, 0.360937),
        (3, 150, 10, 0.041406, 0.341406),
        (3, 100, 1, 0.006093, 0.036093),
    ],
)
def test_skew_and_master_down_interval(
    version: int, priority: int, interval: int, skew: float, mdi: float
) -> None:
    assert skew_time(version, priority, interval) == skew
    assert master_down_interval(version, priority, interval) == mdi


def test_down_timer_adverts_multiplies_the_interval() -> None:
    assert master_down_interval(2, 100, 100, down_timer_adverts=1) == 1.609375
    lab = Lab({"down_timer_adverts": 5}).backup()
    assert lab.timers() == [(5.609375, "master_down")]


# --- INIT: start ---------------------------------------------------------------------------


@pytest.mark.parametrize("state", ["BACKUP", "MASTER"])
def test_start_below_255_waits_master_down_interval(state: str) -> None:
    lab = Lab({"state": state})
    lab.router.start()
    assert lab.router.state is State.BACKUP
    assert lab.take() == ([("state", "INIT", "BACKUP", 100)], ["Entering BACKUP STATE (init)"])
    assert lab.timers() == [(MDI, "master_down")]


def test_start_v3_fast_interval() -> None:
    lab = Lab({"version": 3, "advert_int": 10}).backup()
    assert lab.timers() == [(0.360937, "master_down")]


def test_start_owner_is_master_at_once() -> None:
    lab = Lab({"priority": 255})
    lab.router.start()
    assert lab.router.state is State.MASTER
    assert lab.take() == (
        [("advert", 255), ("take",), ("garp", 5), ("state", "INIT", "MASTER", 255)],
        ["Entering MASTER STATE"],
    )
    assert lab.timers() == [(1.0, "adver"), (5.0, "garp")]


@pytest.mark.parametrize("priority", [100, 255])
def test_start_faulty_enters_fault(priority: int) -> None:
    lab = Lab({"priority": priority})
    lab.router.set_fault(True)
    assert lab.take() == ([], [])
    lab.router.start()
    assert lab.router.state is State.FAULT
    assert lab.take() == (
        [("state", "INIT", "FAULT", priority)],
        ["Entering FAULT STATE (init)"],
    )
    assert lab.timers() == []


def test_start_twice_is_an_error() -> None:
    lab = Lab().backup()
    with pytest.raises(RuntimeError, match="VI_1 already started"):
        lab.router.start()


def test_priority_set_before_start_is_used() -> None:
    lab = Lab()
    lab.router.set_priority(150)
    lab.router.start()
    assert lab.timers() == [(3.414062, "master_down")]
    lab.take()
    lab.clock.advance(3.414062)
    assert lab.take()[0] == [
        ("advert", 150),
        ("take",),
        ("garp", 5),
        ("state", "BACKUP", "MASTER", 150),
    ]


# --- BACKUP ----------------------------------------------------------------------------------


def test_backup_master_down_timer_fires() -> None:
    lab = Lab().backup()
    lab.clock.advance(MDI - 0.000001)
    assert lab.take() == ([], [])
    lab.clock.advance(MDI - lab.clock.seconds())
    assert lab.router.state is State.MASTER
    assert lab.take() == (
        [("advert", 100), ("take",), ("garp", 5), ("state", "BACKUP", "MASTER", 100)],
        ["Receive advertisement timeout", "Entering MASTER STATE"],
    )
    assert lab.timers() == [(MDI + 1, "adver"), (MDI + 5, "garp")]


RESET = 1.0 + MDI  # received at t = 1
KEPT = MDI

BACKUP_RECEIVE = [
    # (id, config, advert priority, advert fields, logs, master_down deadline)
    ("priority-0", {}, 0, {}, ["Backup received priority 0 advertisement"], 1.0 + SKEW),
    ("higher", {}, 150, {}, [], RESET),
    ("equal-higher-address", {}, 100, {}, [], RESET),
    ("equal-lower-address", {}, 100, {"source": LOWER}, [], RESET),  # no tie-break in backup
    ("owner", {}, 255, {}, [], RESET),
    (
        "lower-preempt",
        {},
        50,
        {},
        ["received lower priority (50) advert from 10.99.0.3 - discarding"],
        KEPT,
    ),
    ("lower-nopreempt", {"nopreempt": True}, 50, {}, [], RESET),
    (
        "wrong-version",
        {},
        150,
        {"version": 3},
        ["wrong version. Received 3 and expect 2"],
        KEPT,
    ),
    (
        "wrong-vrid",
        {},
        150,
        {"vrid": 52},
        ["Unknown VRID(52) received on interface(eth0). ignoring..."],
        KEPT,
    ),
    (
        "v2-interval",
        {},
        150,
        {"interval": 200},
        ["advertisement interval mismatch mine=1 sec rcv'd=2 sec"],
        KEPT,
    ),
    (
        "address-mismatch",
        {},
        150,
        {"addresses": (OTHER_VIP,)},
        ["ip address associated with VRID 51 not present in MASTER advert: 10.99.0.100"],
        KEPT,
    ),
    (
        "address-mismatch-priority-0",
        {},
        0,
        {"addresses": (OTHER_VIP,)},
        ["ip address associated with VRID 51 not present in MASTER advert: 10.99.0.100"],
        KEPT,
    ),
    (
        "address-mismatch-from-owner",
        {},
        255,
        {"addresses": (OTHER_VIP,)},
        ["ip address associated with VRID 51 not present in MASTER advert: 10.99.0.100"],
        RESET,
    ),
    (
        "address-count",
        {},
        150,
        {"addresses": (VIP, OTHER_VIP)},
        ["received an unexpected ip number count 2, expected 1!"],
        KEPT,
    ),
    (
        "auth-unexpected",
        {},
        150,
        {"auth_type": 1, "auth_data": b"secret\0\0"},
        ["received a 1 auth, expecting 0!"],
        KEPT,
    ),
    (
        "auth-missing",
        {"auth_pass": b"secret"},
        150,
        {},
        ["received a 0 auth, expecting 1!"],
        KEPT,
    ),
    (
        "auth-wrong-password",
        {"auth_pass": b"secret"},
        150,
        {"auth_type": 1, "auth_data": b"public\0\0"},
        ["received an invalid passwd!"],
        KEPT,
    ),
    (
        "auth-invalid-type",
        {},
        150,
        {"auth_type": 3},
        ["Invalid auth type: 3"],
        KEPT,
    ),
    (
        "auth-good",
        {"auth_pass": b"secret"},
        150,
        {"auth_type": 1, "auth_data": b"secret\0\0"},
        [],
        RESET,
    ),
    (
        "auth-password-truncated-to-8",
        {"auth_pass": b"longpassword"},
        150,
        {"auth_type": 1, "auth_data": b"longpass"},
        [],
        RESET,
    ),
]


@pytest.mark.parametrize(
    ("config", "priority", "fields", "logs", "deadline"),
    [case[1:] for case in BACKUP_RECEIVE],
    ids=[case[0] for case in BACKUP_RECEIVE],
)
def test_backup_receive(
    config: dict[str, Any], priority: int, fields: dict[str, Any], logs: list[str], deadline: float
) -> None:
    lab = Lab(config).backup()
    lab.clock.advance(1.0)
    lab.receive(priority, **fields)
    assert lab.router.state is State.BACKUP
    assert lab.take() == ([], logs)
    assert lab.timers() == [(deadline, "master_down")]


def test_backup_discarding_lower_priority_takes_over_after_its_own_mdi() -> None:
    """vrrp.md 1.6 Preemption: the better backup waits its full MDI, then preempts."""
    lab = Lab({"priority": 150}).backup()
    for _ in range(3):
        lab.clock.advance(1.0)
        lab.receive(100, source=LOWER)
    assert lab.router.state is State.BACKUP
    assert lab.timers() == [(3.414062, "master_down")]
    lab.clock.advance(0.5)
    assert lab.router.state is State.MASTER
    assert lab.take()[0][-1] == ("state", "BACKUP", "MASTER", 150)


def test_backup_priority_0_then_takeover_after_skew() -> None:
    lab = Lab().backup()
    lab.clock.advance(2.0)
    lab.receive(0)
    lab.clock.advance(SKEW)
    assert lab.router.state is State.MASTER
    assert lab.timers() == [(2.0 + SKEW + 1, "adver"), (2.0 + SKEW + 5, "garp")]


def test_v3_backup_learns_master_adver_interval() -> None:
    lab = Lab({"version": 3}).backup()
    lab.clock.advance(1.0)
    lab.receive(150, interval=50)
    assert lab.router.master_adver_int == 50
    assert lab.take() == (
        [],
        [
            "advertisement interval mismatch ours = 100 centi-sec rcv'd=50 centi-sec",
            "advertisement interval updated from 1000ms to 500ms by master",
        ],
    )
    # 3 x 0.5 s + (256 - 100) x 0.5 s / 256
    assert lab.timers() == [(at(1.0 + 1.804687), "master_down")]
    lab.clock.advance(0.5)
    lab.receive(150, interval=50)
    assert lab.take() == ([], [])  # the mismatch is logged once per state
    lab.receive(0, interval=50)
    assert lab.timers() == [(at(1.5 + 0.304687), "master_down")]  # skew of the learned interval
    lab.clock.advance(0.304687)
    assert lab.router.state is State.MASTER
    assert lab.router.master_adver_int == 100  # a master advertises its own interval
    assert lab.timers()[0] == (at(1.804687 + 1.0), "adver")


def test_v3_lower_priority_is_not_learned() -> None:
    lab = Lab({"version": 3}).backup()
    lab.receive(50, interval=50)
    assert lab.router.master_adver_int == 100
    assert lab.timers() == [(MDI, "master_down")]


def test_v3_mismatch_log_rearms_on_a_transition() -> None:
    lab = Lab({"version": 3}).backup()
    lab.receive(150, interval=50)
    lab.router.set_fault(True)
    lab.router.set_fault(False)
    lab.take()
    lab.receive(150, interval=50)
    assert (
        lab.take()[1][0]
        == "advertisement interval mismatch ours = 100 centi-sec rcv'd=50 centi-sec"
    )


def test_backup_preempt_delay() -> None:
    """keepalived: lower adverts are accepted until preempt_delay after the first one."""
    lab = Lab({"priority": 150, "preempt_delay": 10.0}).backup()
    for second in range(1, 11):
        lab.clock.advance(1.0)
        lab.receive(100, source=LOWER)
        expected = ["start preempt delay (10.000000)"] if second == 1 else []
        assert lab.take() == ([], expected)
        assert lab.timers() == [(second + 3.414062, "master_down")]
    lab.clock.advance(1.0)  # t = 11: the delay is over
    lab.receive(100, source=LOWER)
    assert lab.take() == ([], ["received lower priority (100) advert from 10.99.0.1 - discarding"])
    assert lab.timers() == [(10 + 3.414062, "master_down")]
    lab.clock.advance(2.5)
    assert lab.router.state is State.MASTER


def test_backup_preempt_delay_stops_on_a_better_advert() -> None:
    lab = Lab({"priority": 150, "preempt_delay": 10.0}).backup()
    lab.receive(100, source=LOWER)
    lab.clock.advance(1.0)
    lab.receive(200)
    assert lab.take() == ([], ["start preempt delay (10.000000)", "stop preempt delay"])
    for _ in range(10):
        lab.clock.advance(1.0)
        lab.receive(200)
    lab.receive(100, source=LOWER)  # a new delay starts: accepted
    assert lab.take() == ([], ["start preempt delay (10.000000)"])
    assert lab.timers() == [(11.0 + 3.414062, "master_down")]


@pytest.mark.parametrize(
    "config",
    [{"state": "MASTER", "nopreempt": True}, {"priority": 255, "nopreempt": True}],
    ids=["state-master", "owner"],
)
def test_nopreempt_is_cleared_like_keepalived(config: dict[str, Any]) -> None:
    router = Lab(config).router
    assert not router.nopreempt


def test_preempt_delay_is_cleared_with_state_master() -> None:
    assert Lab({"state": "MASTER", "preempt_delay": 5.0}).router.preempt_delay == 0.0


def test_backup_set_priority_applies_from_the_next_reset() -> None:
    lab = Lab().backup()
    lab.clock.advance(1.0)
    lab.router.set_priority(150)
    assert lab.take() == ([], ["Changing effective priority from 100 to 150"])
    assert lab.router.priority == 150
    assert lab.timers() == [(MDI, "master_down")]
    lab.receive(200)
    assert lab.timers() == [(1.0 + 3.414062, "master_down")]
    lab.receive(0)
    assert lab.timers() == [(1.0 + 0.414062, "master_down")]


@pytest.mark.parametrize(("effective", "accepted"), [(120, False), (80, True)])
def test_backup_set_priority_changes_what_is_lower(effective: int, accepted: bool) -> None:
    lab = Lab().backup()
    lab.router.set_priority(effective)
    lab.clock.advance(1.0)
    lab.receive(90)
    expected = 1.0 + master_down_interval(2, effective, 100) if accepted else MDI
    assert lab.timers() == [(expected, "master_down")]


def test_backup_set_fault() -> None:
    lab = Lab().backup()
    lab.router.set_fault(True)
    assert lab.router.state is State.FAULT
    assert lab.take() == ([("state", "BACKUP", "FAULT", 100)], ["Entering FAULT STATE"])
    assert lab.timers() == []


def test_backup_set_fault_false_is_a_no_op() -> None:
    lab = Lab().backup()
    lab.router.set_fault(False)
    assert lab.take() == ([], [])
    assert lab.timers() == [(MDI, "master_down")]


def test_backup_stop() -> None:
    lab = Lab().backup()
    lab.router.stop()
    assert lab.router.state is State.INIT
    assert lab.take() == ([("state", "BACKUP", "INIT", 100)], [])
    assert lab.timers() == []


# --- MASTER ----------------------------------------------------------------------------------

T = 4.0  # adverts reach the master at t = 4 (master since MDI = 3.609375)
ADVER = (MDI + 1, "adver")
GARP = (MDI + 5, "garp")

MASTER_STAYS = [
    # (id, config, advert priority, advert fields, actions, logs, timers)
    (
        "priority-0",
        {},
        0,
        {},
        [("advert", 100)],
        ["Master received priority 0 message"],
        [(T + 1, "adver"), GARP],
    ),
    (
        "lower",
        {},
        50,
        {},
        [("advert", 100), ("garp", 5)],
        ["Received advert from 10.99.0.3 with lower priority 50, ours 100, forcing new election"],
        [ADVER, GARP, (T + 5, "garp")],
    ),
    (
        "equal-lower-address",
        {},
        100,
        {"source": LOWER},
        [("advert", 100), ("garp", 5)],
        ["Received advert from 10.99.0.1 with lower priority 100, ours 100, forcing new election"],
        [ADVER, GARP, (T + 5, "garp")],
    ),
    (
        "lower-no-advert",
        {"lower_prio_no_advert": True},
        50,
        {},
        [("garp", 5)],
        ["Received advert from 10.99.0.3 with lower priority 50, ours 100"],
        [ADVER, GARP, (T + 5, "garp")],
    ),
    (
        "lower-no-garp",
        {"garp_lower_prio_repeat": 0},
        50,
        {},
        [("advert", 100)],
        ["Received advert from 10.99.0.3 with lower priority 50, ours 100, forcing new election"],
        [ADVER, GARP],
    ),
    (
        "lower-no-second-garp",
        {"garp_lower_prio_delay": 0.0, "garp_lower_prio_repeat": 2},
        50,
        {},
        [("advert", 100), ("garp", 2)],
        ["Received advert from 10.99.0.3 with lower priority 50, ours 100, forcing new election"],
        [ADVER, GARP],
    ),
    (
        "own-address",
        {},
        100,
        {"source": PRIMARY},
        [],
        ["WARNING - equal priority advert received from remote host with our IP address."],
        [ADVER, GARP],
    ),
    (
        "wrong-version",
        {},
        150,
        {"version": 3},
        [],
        ["wrong version. Received 3 and expect 2"],
        [ADVER, GARP],
    ),
    (
        "v2-interval",
        {},
        150,
        {"interval": 200},
        [],
        ["advertisement interval mismatch mine=1 sec rcv'd=2 sec"],
        [ADVER, GARP],
    ),
    (
        "address-mismatch",
        {},
        150,
        {"addresses": (OTHER_VIP,)},
        [],
        ["ip address associated with VRID 51 not present in MASTER advert: 10.99.0.100"],
        [ADVER, GARP],
    ),
    (
        "auth-mismatch",
        {"auth_pass": b"secret"},
        150,
        {"auth_type": 1, "auth_data": b"guessed\0"},
        [],
        ["received an invalid passwd!"],
        [ADVER, GARP],
    ),
]


@pytest.mark.parametrize(
    ("config", "priority", "fields", "actions", "logs", "timers"),
    [case[1:] for case in MASTER_STAYS],
    ids=[case[0] for case in MASTER_STAYS],
)
def test_master_receive_stays_master(
    config: dict[str, Any],
    priority: int,
    fields: dict[str, Any],
    actions: list[tuple[Any, ...]],
    logs: list[str],
    timers: list[tuple[float, str]],
) -> None:
    lab = Lab(config).master()
    lab.clock.advance(T - MDI)
    lab.receive(priority, **fields)
    assert lab.router.state is State.MASTER
    assert lab.take() == (actions, logs)
    assert lab.timers() == sorted(timers)


MASTER_YIELDS = [
    # (id, config, advert priority, advert fields, actions, logs, master_down deadline)
    (
        "higher",
        {},
        150,
        {},
        [],
        ["Master received advert from 10.99.0.3 with higher priority 150, ours 100"],
        T + MDI,
    ),
    (
        "equal-higher-address",
        {},
        100,
        {},
        [],
        [
            "Master received advert from 10.99.0.3 with same priority 100 but higher IP "
            "address than ours"
        ],
        T + MDI,
    ),
    (
        "owner-with-other-addresses",
        {},
        255,
        {"source": LOWER, "addresses": (OTHER_VIP,)},
        [],
        [
            "ip address associated with VRID 51 not present in MASTER advert: 10.99.0.100",
            "Master received advert from 10.99.0.1 with higher priority 255, ours 100",
        ],
        T + MDI,
    ),
    (
        "higher-prio-send-advert",
        {"higher_prio_send_advert": True},
        150,
        {},
        [("advert", 100)],
        ["Master received advert from 10.99.0.3 with higher priority 150, ours 100"],
        T + MDI,
    ),
    (
        "v3-learns-interval",
        {"version": 3},
        150,
        {"interval": 50},
        [],
        [
            "advertisement interval mismatch ours = 100 centi-sec rcv'd=50 centi-sec",
            "Master received advert from 10.99.0.3 with higher priority 150, ours 100",
        ],
        T + 1.804687,
    ),
]


@pytest.mark.parametrize(
    ("config", "priority", "fields", "actions", "logs", "deadline"),
    [case[1:] for case in MASTER_YIELDS],
    ids=[case[0] for case in MASTER_YIELDS],
)
def test_master_receive_yields(
    config: dict[str, Any],
    priority: int,
    fields: dict[str, Any],
    actions: list[tuple[Any, ...]],
    logs: list[str],
    deadline: float,
) -> None:
    lab = Lab(config).master()
    lab.clock.advance(T - MDI)
    lab.receive(priority, **fields)
    assert lab.router.state is State.BACKUP
    assert lab.take() == (
        [*actions, ("release",), ("state", "MASTER", "BACKUP", 100)],
        [*logs, "Entering BACKUP STATE"],
    )
    assert lab.timers() == [(deadline, "master_down")]  # GARP bursts and Adver_Timer cancelled


def test_master_adver_timer() -> None:
    lab = Lab().master()
    for n in range(1, 4):
        lab.clock.advance(1.0)
        assert lab.take() == ([("advert", 100)], [])
        assert lab.timers()[0] == (MDI + n + 1, "adver")


def test_master_second_garp_burst() -> None:
    lab = Lab({"garp_master_delay": 2.0, "garp_master_repeat": 3, "advert_int": 300}).master()
    mdi = master_down_interval(2, 100, 300)
    assert lab.timers() == [(mdi + 2.0, "garp"), (mdi + 3.0, "adver")]
    lab.clock.advance(2.0)
    assert lab.take() == ([("garp", 3)], [])
    assert lab.timers() == [(mdi + 3.0, "adver")]


@pytest.mark.parametrize(
    ("config", "actions", "timers"),
    [
        (
            {"garp_master_delay": 0.0},
            [("advert", 100), ("take",), ("garp", 5)],
            [(MDI + 1, "adver")],
        ),
        ({"garp_master_repeat": 0}, [("advert", 100), ("take",)], [(MDI + 1, "adver")]),
    ],
    ids=["no-second-burst", "no-garp"],
)
def test_master_garp_settings(
    config: dict[str, Any], actions: list[tuple[Any, ...]], timers: list[tuple[float, str]]
) -> None:
    lab = Lab(config).backup()
    lab.clock.advance(MDI)
    assert lab.take()[0] == [*actions, ("state", "BACKUP", "MASTER", 100)]
    assert lab.timers() == timers


def test_master_garp_refresh() -> None:
    lab = Lab({"garp_master_refresh": 10.0, "garp_master_refresh_repeat": 2}).master()
    assert lab.timers() == [ADVER, GARP, (MDI + 10, "garp_refresh")]
    lab.clock.pump([1.0] * 10)
    assert lab.take()[0] == [("advert", 100)] * 4 + [("garp", 5)] + [("advert", 100)] * 5 + [
        ("garp", 2),
        ("advert", 100),
    ]
    assert lab.timers() == [(MDI + 11, "adver"), (MDI + 20, "garp_refresh")]


def test_master_lower_priority_garp_burst_fires_later() -> None:
    lab = Lab().master()
    lab.clock.advance(T - MDI)
    lab.receive(50)
    lab.take()
    lab.clock.advance(5.0)  # t = 9: the first advert-lower burst; the become-master one at 8.6
    actions = lab.take()[0]
    assert actions.count(("garp", 5)) == 2
    assert [n for _, n in lab.timers()] == ["adver"]


def test_master_set_priority_goes_out_in_the_next_advert() -> None:
    lab = Lab().master()
    lab.router.set_priority(90)
    assert lab.take() == ([], ["Changing effective priority from 100 to 90"])
    assert lab.timers() == [ADVER, GARP]
    lab.clock.advance(1.0)
    assert lab.take()[0] == [("advert", 90)]


def test_master_lowered_priority_yields_to_the_former_backup() -> None:
    lab = Lab().master()
    lab.router.set_priority(40)
    lab.receive(50)
    assert lab.router.state is State.BACKUP


def test_master_set_fault() -> None:
    lab = Lab().master()
    lab.router.set_fault(True)
    assert lab.router.state is State.FAULT
    assert lab.take() == (
        [("advert", 0), ("release",), ("state", "MASTER", "FAULT", 100)],
        ["Entering FAULT STATE", "sent 0 priority"],
    )
    assert lab.timers() == []
    lab.clock.advance(100.0)
    assert lab.take() == ([], [])


def test_master_stop() -> None:
    lab = Lab({"garp_master_refresh": 2.0}).master()
    lab.receive(50)  # a pending lower-priority GARP burst too
    lab.take()
    lab.router.stop()
    assert lab.router.state is State.INIT
    assert lab.take() == (
        [("advert", 0), ("release",), ("state", "MASTER", "INIT", 100)],
        ["sent 0 priority"],
    )
    assert lab.timers() == []
    lab.clock.advance(100.0)
    lab.receive(150)
    lab.router.set_fault(True)
    lab.router.set_priority(120)
    lab.router.stop()
    assert lab.take() == ([], ["Changing effective priority from 100 to 120"])
    assert lab.router.state is State.INIT


def test_master_set_fault_false_is_a_no_op() -> None:
    lab = Lab().master()
    lab.router.set_fault(False)
    assert lab.take() == ([], [])


def test_owner_sees_a_rogue_owner() -> None:
    """Two address owners: keepalived logs the conflict; the higher primary address wins."""
    higher = Lab({"priority": 255}).master()
    higher.receive(255, source=LOWER)
    assert higher.router.state is State.MASTER
    assert higher.take() == (
        [("advert", 255), ("garp", 5)],
        [
            "CONFIGURATION ERROR: local instance and 10.99.0.1 are both configured as address "
            "owner, please resolve",
            "Received advert from 10.99.0.1 with lower priority 255, ours 255, forcing new "
            "election",
        ],
    )
    lower = Lab({"priority": 255}).master()
    lower.receive(255, source=HIGHER)
    assert lower.router.state is State.BACKUP
    assert lower.take()[1] == [
        "CONFIGURATION ERROR: local instance and 10.99.0.3 are both configured as address owner, "
        "please resolve",
        "Master received advert from 10.99.0.3 with same priority 255 but higher IP address "
        "than ours",
        "Entering BACKUP STATE",
    ]
    assert lower.timers() == [(3.003906, "master_down")]


def test_owner_priority_is_never_adjusted() -> None:
    lab = Lab({"priority": 255}).master()
    lab.router.set_priority(100)
    assert lab.router.priority == 255
    assert lab.take() == ([], [])


@pytest.mark.parametrize("priority", [0, 256, -1])
def test_set_priority_out_of_range(priority: int) -> None:
    with pytest.raises(ValueError, match=r"outside 1\.\.255"):
        Lab().router.set_priority(priority)


def test_set_priority_unchanged_logs_nothing() -> None:
    lab = Lab().backup()
    lab.router.set_priority(100)
    assert lab.take() == ([], [])


# --- FAULT -----------------------------------------------------------------------------------


@pytest.mark.parametrize("priority", [0, 50, 100, 150, 255])
def test_fault_ignores_adverts(priority: int) -> None:
    lab = Lab().fault()
    lab.receive(priority)
    lab.receive(priority, version=3)
    assert lab.take() == ([], [])
    assert lab.timers() == []


def test_fault_recovers_to_backup_with_a_fresh_timer() -> None:
    lab = Lab({"version": 3}).backup()
    lab.receive(150, interval=50)  # learned, then forgotten on the way through FAULT
    lab.router.set_fault(True)
    lab.clock.advance(7.0)
    lab.take()
    lab.router.set_fault(False)
    assert lab.router.state is State.BACKUP
    assert lab.router.master_adver_int == 100
    assert lab.take() == ([("state", "FAULT", "BACKUP", 100)], ["Entering BACKUP STATE"])
    assert lab.timers() == [(7.0 + MDI, "master_down")]


def test_fault_recovers_with_the_priority_set_meanwhile() -> None:
    lab = Lab().fault()
    lab.router.set_priority(150)
    lab.router.set_fault(False)
    assert lab.take()[0] == [("state", "FAULT", "BACKUP", 150)]
    assert lab.timers() == [(3.414062, "master_down")]


def test_owner_fault_recovers_to_master_at_once() -> None:
    lab = Lab({"priority": 255}).master()
    lab.router.set_fault(True)
    lab.take()
    lab.router.set_fault(False)
    assert lab.take() == (
        [("advert", 255), ("take",), ("garp", 5), ("state", "FAULT", "MASTER", 255)],
        ["Entering MASTER STATE"],
    )
    assert lab.timers() == [(1.0, "adver"), (5.0, "garp")]


def test_fault_set_fault_again_is_a_no_op() -> None:
    lab = Lab().fault()
    lab.router.set_fault(True)
    assert lab.take() == ([], [])


def test_fault_stop() -> None:
    lab = Lab().fault()
    lab.router.stop()
    assert lab.router.state is State.INIT
    assert lab.take() == ([("state", "FAULT", "INIT", 100)], [])
    assert lab.timers() == []


def test_fault_then_start_again_after_stop() -> None:
    lab = Lab().fault()
    lab.router.stop()
    lab.router.set_fault(False)
    lab.take()
    lab.router.start()
    assert lab.router.state is State.BACKUP


# --- INIT ------------------------------------------------------------------------------------


@pytest.mark.parametrize("priority", [0, 50, 100, 150, 255])
def test_init_ignores_adverts(priority: int) -> None:
    lab = Lab()
    lab.receive(priority)
    assert lab.take() == ([], [])
    assert lab.router.state is State.INIT
    assert lab.timers() == []


def test_init_stop_is_a_no_op() -> None:
    lab = Lab()
    lab.router.stop()
    assert lab.take() == ([], [])


def test_init_fault_flag_cleared_before_start() -> None:
    lab = Lab()
    lab.router.set_fault(True)
    lab.router.set_fault(False)
    lab.router.start()
    assert lab.router.state is State.BACKUP


# --- properties ------------------------------------------------------------------------------

CONFIGS = [
    {},
    {"version": 3, "advert_int": 10},
    {"priority": 255},
    {"priority": 150, "nopreempt": True},
    {"priority": 150, "preempt_delay": 3.0},
    {"garp_master_refresh": 2.0, "higher_prio_send_advert": True},
    {"lower_prio_no_advert": True, "garp_master_delay": 0.0},
]

_received = st.tuples(
    st.just("receive"),
    st.sampled_from([0, 1, 50, 100, 150, 254, 255]),
    st.sampled_from([LOWER, PRIMARY, HIGHER]),
    st.sampled_from(["ok", "ok", "ok", "version", "interval", "addresses"]),
)
EVENTS = st.one_of(
    _received,
    st.tuples(st.just("advance"), st.floats(min_value=0.0, max_value=8.0)),
    st.tuples(st.just("priority"), st.integers(min_value=1, max_value=254)),
    st.tuples(st.just("fault"), st.booleans()),
    st.tuples(st.just("stop")),
    st.tuples(st.just("start")),
)


def _apply(lab: Lab, event: tuple[Any, ...]) -> None:
    router = lab.router
    kind = event[0]
    if kind == "receive":
        _, priority, source, variant = event
        variants: dict[str, dict[str, Any]] = {
            "ok": {},
            "version": {"version": 5 - lab.config.version},
            "interval": {"interval": lab.config.advert_int * 2},
            "addresses": {"addresses": (OTHER_VIP,)},
        }
        lab.receive(priority, source, **variants[variant])
    elif kind == "advance":
        lab.clock.advance(event[1])
    elif kind == "priority":
        router.set_priority(event[1])
    elif kind == "fault":
        router.set_fault(event[1])
    elif kind == "stop":
        router.stop()
    elif router.state is State.INIT:
        router.start()


def _check(lab: Lab) -> None:
    names = [name for _, name in lab.timers()]
    state = lab.router.state
    if state is State.MASTER:
        assert names.count("adver") == 1 and "master_down" not in names
        assert lab.recorder.held
    elif state is State.BACKUP:
        assert names == ["master_down"]
        assert not lab.recorder.held
    else:
        assert names == []
        assert not lab.recorder.held


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(CONFIGS), st.lists(EVENTS, max_size=40))
def test_random_events_keep_the_invariants(config: dict[str, Any], events: list[Any]) -> None:
    """MASTER always has an Adver_Timer and the addresses; BACKUP a Master_Down_Timer only;
    FAULT and INIT nothing at all. The recorder asserts take/release alternate, GARPs only
    while holding, adverts at our priority or 0, and state_changed on real changes only."""
    lab = Lab(config)
    states = [State.INIT]
    for event in events:
        _apply(lab, event)
        _check(lab)
        changes = [a for a in lab.recorder.actions if a[0] == "state"]
        for _, old, new, _priority in changes:
            assert State(old) is states[-1]
            states.append(State(new))
        lab.recorder.actions.clear()
        assert states[-1] is lab.router.state
    lab.router.stop()
    assert lab.timers() == [] and not lab.recorder.held
