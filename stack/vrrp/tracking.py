"""Priority tracking: ``track_script`` and ``track_interface`` turned into an effective priority.

keepalived's rules (``vrrp_track.c``, ``vrrp_scheduler.c``), so a tracked failure moves the
priority exactly as it would on a keepalived peer:

* effective = base + the sum of the weights that apply, clamped to 1..254; a base of 255
  (the address owner) is never adjusted;
* a positive weight applies while its object is good (script OK, interface up), a negative one
  while it is bad; ``reverse`` (interfaces) negates the weight, and a weight of 0 means the
  bad object puts the instance in FAULT (with ``reverse``: the good one does);
* a script needs ``rise`` consecutive successes to turn good and ``fall`` consecutive failures
  to turn bad. Before its first result it is neither: no weight applies, a weight-0 script
  holds the instance in FAULT, and that first result counts at once whatever rise and fall
  say. ``init_fail`` starts it bad instead, so it needs ``rise`` successes.

Interfaces are taken to be up until told otherwise.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import Enum

from stack.config.model import TrackInterface, TrackScript, VrrpScript
from stack.vrrp.machine import OWNER


@dataclass(frozen=True, slots=True)
class TrackedScript:
    """A ``track_script`` line resolved against its ``vrrp_script`` (the weight the instance
    uses, the script's rise/fall/init_fail)."""

    name: str
    weight: int = 0
    rise: int = 1
    fall: int = 1
    init_fail: bool = False

    @classmethod
    def resolve(cls, track: TrackScript, script: VrrpScript) -> TrackedScript:
        """``track_script NAME [weight N]``: the line's weight, else the script's own."""
        weight = script.weight if track.weight is None else track.weight
        return cls(script.name, weight, script.rise, script.fall, script.init_fail)


class ScriptStatus(Enum):
    INIT = "init"  # no result yet
    GOOD = "good"
    BAD = "bad"


class _Script:
    """keepalived's ``result`` counter: 0..rise-1 is bad, rise..rise+fall-1 is good.

    Successes climb from 0 and jump to the top when they reach rise; failures walk down from
    the top and fall to 0 when they pass rise. A success while good (or a failure while bad)
    resets the count.
    """

    def __init__(self, spec: TrackedScript) -> None:
        self.spec = spec
        self.started = spec.init_fail  # init_fail: a (bad) state from the start
        self.result = 0 if spec.init_fail else spec.rise - 1

    def record(self, ok: bool) -> None:
        rise, fall = self.spec.rise, self.spec.fall
        if ok:
            self.result = self.result + 1 if self.result < rise - 1 else rise + fall - 1
        else:
            self.result = self.result - 1 if self.result > rise else 0
        self.started = True

    @property
    def status(self) -> ScriptStatus:
        if not self.started:
            return ScriptStatus.INIT
        return ScriptStatus.GOOD if self.result >= self.spec.rise else ScriptStatus.BAD


class PriorityTracker:
    """The tracked objects of one instance and the (effective priority, faulty) they give.

    ``on_change`` is called whenever that pair differs from what was last reported, starting
    from ``(base, False)``, the router's own starting point: a tracker that starts degraded
    (``init_fail``, a weight-0 script with no result yet) reports so from the constructor.
    Results for names this instance does not track are ignored, so one feed can serve every
    tracker.
    """

    def __init__(
        self,
        base: int,
        scripts: Sequence[TrackedScript],
        interfaces: Sequence[TrackInterface],
        on_change: Callable[[int, bool], None],
    ) -> None:
        if not 1 <= base <= OWNER:
            raise ValueError(f"priority {base} outside 1..255")
        self.base = base
        self._scripts: dict[str, _Script] = {}
        for spec in scripts:
            if spec.name in self._scripts:
                raise ValueError(f"track_script {spec.name} listed twice")
            if spec.rise < 1 or spec.fall < 1:
                raise ValueError(f"vrrp_script {spec.name}: rise and fall must be at least 1")
            self._scripts[spec.name] = _Script(spec)
        self._interfaces: dict[str, TrackInterface] = {}
        self._up: dict[str, bool] = {}
        for track in interfaces:
            if track.name in self._interfaces:
                raise ValueError(f"track_interface {track.name} listed twice")
            self._interfaces[track.name] = track
            self._up[track.name] = True
        self._on_change = on_change
        self.effective = base
        self.faulty = False
        self.faults: tuple[str, ...] = ()
        self._update()

    def script_result(self, name: str, ok: bool) -> None:
        """One run of a tracked script: exit status 0 (``ok``) or anything else."""
        script = self._scripts.get(name)
        if script is not None:
            script.record(ok)
            self._update()

    def interface_state(self, name: str, up: bool) -> None:
        """A tracked interface's link went up or down."""
        if name in self._up:
            self._up[name] = up
            self._update()

    def script_status(self, name: str) -> ScriptStatus:
        """Where a tracked script stands after rise/fall counting."""
        return self._scripts[name].status

    def _update(self) -> None:
        total = self.base
        faults: list[str] = []
        for name, script in self._scripts.items():
            weight, status = script.spec.weight, script.status
            if weight == 0:
                if status is ScriptStatus.BAD:
                    faults.append(f"script {name} failed")
                elif status is ScriptStatus.INIT:
                    faults.append(f"script {name} has no result yet")
            elif (weight > 0) == (status is ScriptStatus.GOOD) and status is not ScriptStatus.INIT:
                total += weight  # positive while good, negative while bad
        for name, track in self._interfaces.items():
            up = self._up[name]
            sign = -1 if track.reverse else 1
            if track.weight == 0:
                if up == track.reverse:
                    faults.append(f"interface {name} {'up (reverse)' if up else 'down'}")
            elif (track.weight > 0) == up:
                total += sign * track.weight
        effective = OWNER if self.base == OWNER else min(max(total, 1), OWNER - 1)
        self.faults = tuple(faults)
        old = (self.effective, self.faulty)
        self.effective, self.faulty = effective, bool(faults)
        if (self.effective, self.faulty) != old:
            self._on_change(self.effective, self.faulty)
