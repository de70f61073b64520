"""Priority tracking: keepalived's weights, clamping, rise/fall counting, reverse and FAULT."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stack.config.model import TrackInterface, TrackScript, VrrpScript
from stack.vrrp.tracking import PriorityTracker, ScriptStatus, TrackedScript


class Changes:
    """The on_change calls a tracker made."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, bool]] = []

    def __call__(self, effective: int, faulty: bool) -> None:
        self.calls.append((effective, faulty))

    def take(self) -> list[tuple[int, bool]]:
        calls, self.calls = self.calls, []
        return calls


def tracker(
    base: int = 100,
    scripts: Sequence[TrackedScript] = (),
    interfaces: Sequence[TrackInterface] = (),
) -> tuple[PriorityTracker, Changes]:
    changes = Changes()
    return PriorityTracker(base, scripts, interfaces, changes), changes


# --- scripts ---------------------------------------------------------------------------------


def test_no_tracking_keeps_the_base_and_reports_nothing() -> None:
    t, changes = tracker(150)
    assert (t.effective, t.faulty, t.faults) == (150, False, ())
    assert changes.calls == []


def test_positive_weight_applies_while_the_script_is_good() -> None:
    t, changes = tracker(100, [TrackedScript("chk", weight=2)])
    assert changes.take() == []  # no result yet: no weight
    t.script_result("chk", True)
    assert changes.take() == [(102, False)]
    t.script_result("chk", True)
    assert changes.take() == []
    t.script_result("chk", False)
    assert changes.take() == [(100, False)]


def test_negative_weight_applies_while_the_script_is_bad() -> None:
    t, changes = tracker(150, [TrackedScript("chk", weight=-60)])
    t.script_result("chk", True)
    assert changes.take() == []
    t.script_result("chk", False)
    assert changes.take() == [(90, False)]  # vrrp.md 4.3: 150 -> 90
    t.script_result("chk", True)
    assert changes.take() == [(150, False)]


def test_first_result_counts_at_once_whatever_rise_and_fall() -> None:
    good, _ = tracker(100, [TrackedScript("chk", weight=5, rise=3, fall=3)])
    assert good.script_status("chk") is ScriptStatus.INIT
    good.script_result("chk", True)
    assert (good.script_status("chk"), good.effective) == (ScriptStatus.GOOD, 105)
    bad, _ = tracker(100, [TrackedScript("chk", weight=-5, rise=3, fall=3)])
    bad.script_result("chk", False)
    assert (bad.script_status("chk"), bad.effective) == (ScriptStatus.BAD, 95)


G, B = ScriptStatus.GOOD, ScriptStatus.BAD


@pytest.mark.parametrize(
    ("rise", "fall", "init_fail", "results", "statuses"),
    [
        # rise 2, fall 3: the first result decides, then counts must be consecutive
        (2, 3, False, "FTTFFF", [B, B, G, G, G, B]),
        (2, 3, False, "TFFTFFF", [G, G, G, G, G, G, B]),  # a success resets the fall count
        (2, 3, False, "FTFTT", [B, B, B, B, G]),  # a failure resets the rise count
        (1, 1, False, "TFTF", [G, B, G, B]),
        # init_fail: bad from the start, so rise successes are needed at once
        (2, 1, True, "TT", [B, G]),
        (3, 1, True, "TTFTTT", [B, B, B, B, B, G]),
        (1, 2, True, "TFF", [G, G, B]),
    ],
)
def test_rise_and_fall(
    rise: int, fall: int, init_fail: bool, results: str, statuses: list[ScriptStatus]
) -> None:
    t, _ = tracker(100, [TrackedScript("chk", 0, rise, fall, init_fail)])
    seen = []
    for result in results:
        t.script_result("chk", result == "T")
        seen.append(t.script_status("chk"))
    assert seen == statuses


def test_init_fail_reports_from_the_constructor() -> None:
    _, changes = tracker(100, [TrackedScript("chk", weight=-10, init_fail=True)])
    assert changes.take() == [(90, False)]
    positive, changes = tracker(100, [TrackedScript("chk", weight=10, init_fail=True)])
    assert changes.take() == []
    assert positive.script_status("chk") is ScriptStatus.BAD


def test_weight_0_script_failure_means_fault() -> None:
    t, changes = tracker(100, [TrackedScript("chk", rise=2, fall=2)])
    # keepalived holds the instance until a weight-0 script has a result
    assert changes.take() == [(100, True)]
    assert t.faults == ("script chk has no result yet",)
    t.script_result("chk", True)
    assert changes.take() == [(100, False)]
    assert t.faults == ()
    t.script_result("chk", False)
    assert changes.take() == []
    t.script_result("chk", False)
    assert changes.take() == [(100, True)]
    assert t.faults == ("script chk failed",)


def test_weight_0_init_fail_is_a_fault_until_rise() -> None:
    t, changes = tracker(100, [TrackedScript("chk", rise=2, init_fail=True)])
    assert changes.take() == [(100, True)]
    assert t.faults == ("script chk failed",)
    t.script_result("chk", True)
    assert changes.take() == []
    t.script_result("chk", True)
    assert changes.take() == [(100, False)]


def test_weights_add_up() -> None:
    scripts = [TrackedScript("a", 10), TrackedScript("b", 20), TrackedScript("c", -5)]
    t, changes = tracker(100, scripts)
    t.script_result("a", True)
    t.script_result("b", True)
    t.script_result("c", False)
    assert changes.take() == [(110, False), (130, False), (125, False)]


@pytest.mark.parametrize(
    ("base", "weights", "effective"),
    [
        (250, [10], 254),
        (254, [1], 254),
        (240, [10, 10], 254),
        (5, [-10], 1),
        (1, [-253], 1),
        (100, [-50, -60], 1),
        (100, [153, 1], 254),
    ],
)
def test_clamped_to_1_254(base: int, weights: list[int], effective: int) -> None:
    scripts = [TrackedScript(f"s{i}", w) for i, w in enumerate(weights)]
    t, _ = tracker(base, scripts)
    for i, w in enumerate(weights):
        t.script_result(f"s{i}", w > 0)
    assert t.effective == effective


def test_clamped_changes_are_not_reported() -> None:
    t, changes = tracker(250, [TrackedScript("a", 10), TrackedScript("b", 20)])
    t.script_result("a", True)
    t.script_result("b", True)
    t.script_result("a", False)
    assert changes.take() == [(254, False)]


def test_owner_priority_is_never_adjusted_but_can_fault() -> None:
    t, changes = tracker(255, [TrackedScript("w", 50), TrackedScript("f", 0)])
    assert changes.take() == [(255, True)]
    t.script_result("w", True)
    t.script_result("f", True)
    t.script_result("w", False)
    assert changes.take() == [(255, False)]
    assert t.effective == 255


def test_unknown_names_are_ignored() -> None:
    t, changes = tracker(100, [TrackedScript("chk", 2)], [TrackInterface("eth1", 5)])
    changes.take()
    t.script_result("other", True)
    t.interface_state("eth9", False)
    assert changes.take() == []
    with pytest.raises(KeyError):
        t.script_status("other")


@pytest.mark.parametrize(
    ("scripts", "interfaces", "message"),
    [
        ([TrackedScript("a"), TrackedScript("a")], [], "track_script a listed twice"),
        ([], [TrackInterface("eth1"), TrackInterface("eth1")], "track_interface eth1 listed"),
        ([TrackedScript("a", rise=0)], [], "rise and fall must be at least 1"),
    ],
)
def test_bad_tracking(
    scripts: list[TrackedScript], interfaces: list[TrackInterface], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        tracker(100, scripts, interfaces)


@pytest.mark.parametrize("base", [0, 256])
def test_base_out_of_range(base: int) -> None:
    with pytest.raises(ValueError, match="outside"):
        tracker(base)


def test_tracked_script_resolves_the_weight() -> None:
    script = VrrpScript("chk", check=("edge",), weight=2, rise=3, fall=4, init_fail=True)
    assert TrackedScript.resolve(TrackScript("chk"), script) == TrackedScript("chk", 2, 3, 4, True)
    assert TrackedScript.resolve(TrackScript("chk", weight=-7), script).weight == -7
    assert TrackedScript.resolve(TrackScript("chk", weight=0), script).weight == 0


# --- interfaces ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("weight", "reverse", "up", "down"),
    [
        (10, False, 110, 100),  # positive: added while up
        (-10, False, 100, 90),  # negative: added while down
        (10, True, 90, 100),  # reverse: the adjustment goes the other way
        (-10, True, 100, 110),
    ],
)
def test_interface_weights(weight: int, reverse: bool, up: int, down: int) -> None:
    t, changes = tracker(100, interfaces=[TrackInterface("eth1", weight, reverse)])
    assert t.effective == up  # interfaces are taken to be up at first
    assert changes.take() == ([] if up == 100 else [(up, False)])
    t.interface_state("eth1", False)
    assert (t.effective, t.faulty) == (down, False)
    t.interface_state("eth1", True)
    assert t.effective == up


def test_interface_weight_0_down_means_fault() -> None:
    t, changes = tracker(100, interfaces=[TrackInterface("eth0")])
    t.interface_state("eth0", False)
    assert changes.take() == [(100, True)]
    assert t.faults == ("interface eth0 down",)
    t.interface_state("eth0", False)
    assert changes.take() == []
    t.interface_state("eth0", True)
    assert changes.take() == [(100, False)]


def test_interface_weight_0_reverse_up_means_fault() -> None:
    t, changes = tracker(100, interfaces=[TrackInterface("eth1", 0, reverse=True)])
    assert changes.take() == [(100, True)]
    assert t.faults == ("interface eth1 up (reverse)",)
    t.interface_state("eth1", False)
    assert changes.take() == [(100, False)]


def test_faults_list_every_reason_in_order() -> None:
    t, _ = tracker(
        100,
        [TrackedScript("chk"), TrackedScript("other", 5)],
        [TrackInterface("eth0"), TrackInterface("eth1")],
    )
    t.script_result("chk", False)
    t.interface_state("eth1", False)
    t.interface_state("eth0", False)
    assert t.faults == ("script chk failed", "interface eth0 down", "interface eth1 down")


def test_scripts_and_interfaces_combine() -> None:
    t, changes = tracker(
        100, [TrackedScript("chk", 2)], [TrackInterface("eth1", -10), TrackInterface("eth0")]
    )
    t.script_result("chk", True)
    t.interface_state("eth1", False)
    t.interface_state("eth0", False)
    t.interface_state("eth0", True)
    t.script_result("chk", False)
    assert changes.take() == [(102, False), (92, False), (92, True), (92, False), (90, False)]


# --- properties ------------------------------------------------------------------------------


class Reference:
    """rise/fall said plainly: a state flips after that many consecutive opposite results."""

    def __init__(self, rise: int, fall: int, init_fail: bool) -> None:
        self.rise, self.fall = rise, fall
        self.status = ScriptStatus.BAD if init_fail else ScriptStatus.INIT
        self.streak = 0

    def record(self, ok: bool) -> None:
        if self.status is ScriptStatus.INIT:
            self.status = ScriptStatus.GOOD if ok else ScriptStatus.BAD
            self.streak = 0
            return
        against = ok != (self.status is ScriptStatus.GOOD)
        self.streak = self.streak + 1 if against else 0
        if self.streak == (self.rise if ok else self.fall):
            self.status = ScriptStatus.GOOD if ok else ScriptStatus.BAD
            self.streak = 0


SCRIPT = st.builds(
    TrackedScript,
    name=st.just("x"),
    weight=st.integers(min_value=-253, max_value=253),
    rise=st.integers(min_value=1, max_value=5),
    fall=st.integers(min_value=1, max_value=5),
    init_fail=st.booleans(),
)


def expected(base: int, specs: list[TrackedScript], models: list[Reference]) -> tuple[int, bool]:
    total = base
    faulty = False
    for spec, model in zip(specs, models, strict=True):
        if spec.weight == 0:
            faulty = faulty or model.status is not ScriptStatus.GOOD
        elif spec.weight > 0:
            total += spec.weight if model.status is ScriptStatus.GOOD else 0
        else:
            total += spec.weight if model.status is ScriptStatus.BAD else 0
    return (255 if base == 255 else max(1, min(254, total))), faulty


@settings(max_examples=200)
@given(
    st.integers(min_value=1, max_value=255),
    st.lists(SCRIPT, min_size=1, max_size=4),
    st.lists(st.tuples(st.integers(min_value=0, max_value=3), st.booleans()), max_size=60),
)
def test_tracker_matches_a_plain_model(
    base: int, drawn: list[TrackedScript], results: list[tuple[int, bool]]
) -> None:
    """Statuses, effective priority and faults follow the plain model after every result, and
    on_change reports exactly the changes, starting from (base, False)."""
    specs = [
        TrackedScript(f"s{i}", s.weight, s.rise, s.fall, s.init_fail) for i, s in enumerate(drawn)
    ]
    t, changes = tracker(base, specs)
    models = [Reference(s.rise, s.fall, s.init_fail) for s in specs]
    reported = [(base, False)]

    def check() -> None:
        now = expected(base, specs, models)
        assert (t.effective, t.faulty) == now
        if now != reported[-1]:
            reported.append(now)
        assert changes.calls == reported[1:]
        for spec, model in zip(specs, models, strict=True):
            assert t.script_status(spec.name) is model.status

    check()
    for index, ok in results:
        spec = specs[index % len(specs)]
        t.script_result(spec.name, ok)
        models[index % len(specs)].record(ok)
        check()
