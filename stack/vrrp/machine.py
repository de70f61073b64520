"""The VRRP state machine of one ``vrrp_instance``: sans-IO, driven by an injected clock.

RFC 5798 / RFC 9568 (v3) and RFC 3768 (v2) Initialize/Backup/Master, plus keepalived's FAULT,
with keepalived 2.2.7's timing so that a mixed pair fails over exactly as two keepalived would.
Nothing here touches a socket: what the router does goes out through :class:`RouterActions`,
time comes from an ``IReactorTime`` (``twisted.internet.task.Clock`` in tests).

Transitions (the methods below follow these rows, grouped by state)::

    state   event                                  -> actions                           next
    INIT    start, faulty                          -> -                                 FAULT
    INIT    start, priority 255 (owner)            -> advert, take, GARP                MASTER
    INIT    start                                  -> Master_Down_Timer = MDI           BACKUP
    BACKUP  Master_Down_Timer fires                -> advert, take, GARP                MASTER
    BACKUP  advert priority 0                      -> Master_Down_Timer = Skew_Time     BACKUP
    BACKUP  advert >= ours (or nopreempt, or       -> v3: learn interval; timer = MDI   BACKUP
            lower within preempt_delay)
    BACKUP  advert < ours                          -> discarded: the timer runs out     BACKUP
    MASTER  Adver_Timer fires                      -> advert                            MASTER
    MASTER  advert priority 0                      -> advert, Adver_Timer reset         MASTER
    MASTER  advert lower (or equal, lower address) -> advert + GARP (RFC 9568 6.4.3)    MASTER
    MASTER  advert higher (or equal, higher addr.) -> release; timer = MDI              BACKUP
    B/M     set_fault(True)                        -> MASTER: priority-0 advert, release FAULT
    FAULT   set_fault(False), owner                -> advert, take, GARP                MASTER
    FAULT   set_fault(False)                       -> Master_Down_Timer = MDI           BACKUP
    B/M/F   stop                                   -> MASTER: priority-0 advert, release INIT

Every transition calls ``state_changed`` (notify scripts) and logs keepalived's words.
Received adverts are first checked against the instance (version, v2 auth and interval, the
address list) as keepalived's ``vrrp_check_packet`` does; FAULT and INIT ignore them.
"""

from __future__ import annotations

import hmac
from enum import Enum
from typing import Protocol

from twisted.internet.interfaces import IDelayedCall, IReactorTime

from stack.config.model import IpAddress, VrrpInstance
from stack.vrrp.packet import Advert, Received

OWNER = 255
"""The address owner's priority: master at once, never adjusted by tracking."""
STOPPING = 0
"""The priority a stopping master advertises, so backups take over after Skew_Time only."""

_MICROSECONDS = 1_000_000
_CS = 10_000  # microseconds per centisecond


class State(Enum):
    INIT = "INIT"
    BACKUP = "BACKUP"
    MASTER = "MASTER"
    FAULT = "FAULT"


class RouterActions(Protocol):
    """What a router does to the world; the glue implements it with sockets and netlink."""

    def send_advert(self, priority: int) -> None: ...

    def take_addresses(self) -> None: ...

    def release_addresses(self) -> None: ...

    def send_gratuitous(self, repeat: int) -> None: ...

    def state_changed(self, old: State, new: State, priority: int) -> None: ...

    def log(self, message: str) -> None: ...


def skew_time(version: int, priority: int, master_adver_int: int) -> float:
    """Skew_Time in seconds, as keepalived computes it (integer microseconds).

    v2 (RFC 3768): ``(256 - priority) / 256`` s whatever the interval. v3 (RFC 5798):
    ``(256 - priority) * Master_Adver_Interval / 256``. The higher the priority, the shorter
    the skew, so the best backup wins the race when a master disappears.
    """
    return _skew_us(version, priority, master_adver_int) / _MICROSECONDS


def master_down_interval(
    version: int, priority: int, master_adver_int: int, down_timer_adverts: int = 3
) -> float:
    """Master_Down_Interval in seconds: ``down_timer_adverts`` adverts missed, plus Skew_Time.

    keepalived's ``VRRP_MS_DOWN_TIMER`` (``down_timer_adverts`` is 3 in the RFCs);
    ``master_adver_int`` is in centiseconds.
    """
    us = down_timer_adverts * master_adver_int * _CS + _skew_us(version, priority, master_adver_int)
    return us / _MICROSECONDS


def _skew_us(version: int, priority: int, master_adver_int: int) -> int:
    if version == 3:
        return (256 - priority) * master_adver_int * 625 // 16
    return (256 - priority) * _MICROSECONDS // 256


def _compare(a: IpAddress, b: IpAddress) -> int:
    """RFC 9568's tie-break: unsigned compare in network order (-1, 0, 1); 0 across families."""
    if a.version != b.version:
        return 0
    return (int(a) > int(b)) - (int(a) < int(b))


class VirtualRouter:
    """One VRRP instance: its state, its effective priority and its three kinds of timer.

    ``primary`` is the address adverts are sent from (the tie-break compares it). ``priority``
    is the effective priority (tracking changes it through :meth:`set_priority`);
    ``master_adver_int`` is the interval (centiseconds) the Master_Down_Interval uses, learned
    from the master's adverts in v3.
    """

    def __init__(
        self,
        config: VrrpInstance,
        primary: IpAddress,
        actions: RouterActions,
        clock: IReactorTime,
    ) -> None:
        self.config = config
        self.primary = primary
        self.actions = actions
        self.clock = clock
        self.state = State.INIT
        self.priority = config.priority
        self.master_adver_int = config.advert_int
        self.faulty = False
        # keepalived clears nopreempt/preempt_delay for the owner and for `state MASTER`.
        initial_master = config.state.upper() == "MASTER"
        self.nopreempt = config.nopreempt and config.priority != OWNER and not initial_master
        self.preempt_delay = 0.0 if initial_master else config.preempt_delay
        self._preempt_deadline: float | None = None
        self._vips = frozenset(a.address for a in config.addresses)
        self._auth_type = 1 if config.auth_pass else 0
        self._auth_data = (config.auth_pass or b"")[:8].ljust(8, b"\0")
        self._interval_mismatch_logged = False
        self._down_timer: IDelayedCall | None = None
        self._adver_timer: IDelayedCall | None = None
        self._refresh_timer: IDelayedCall | None = None
        self._garp_timers: list[IDelayedCall] = []

    # --- what the glue calls ----------------------------------------------------------------

    def start(self) -> None:
        """Leave Initialize: FAULT if a tracker already failed, owner MASTER, else BACKUP.

        keepalived 2.2.7 waits a full Master_Down_Interval even with ``state MASTER`` below
        priority 255, so only the owner skips the wait.
        """
        if self.state is not State.INIT:
            raise RuntimeError(f"VRRP instance {self.config.name} already started")
        if self.faulty:
            self._log("Entering FAULT STATE (init)")
            self._change(State.FAULT)
        elif self.config.priority == OWNER:
            self._become_master()
        else:
            self._log("Entering BACKUP STATE (init)")
            self._enter_backup()

    def receive(self, received: Received) -> None:
        """An advert that passed :func:`~stack.vrrp.packet.decode` on this instance's socket."""
        if self.state is State.BACKUP:
            if self._acceptable(received):
                self._backup_receive(received)
        elif self.state is State.MASTER:
            if self._acceptable(received):
                self._master_receive(received)
        # INIT and FAULT ignore adverts, as keepalived does.

    def set_priority(self, effective: int) -> None:
        """A new effective priority from tracking.

        It goes out in the next advert; as a backup, Skew_Time and Master_Down_Interval use it
        from the next timer reset on. The owner's priority never changes.
        """
        if not 1 <= effective <= OWNER:
            raise ValueError(f"priority {effective} outside 1..255")
        if self.config.priority == OWNER or effective == self.priority:
            return
        self._log(f"Changing effective priority from {self.priority} to {effective}")
        self.priority = effective

    def set_fault(self, faulty: bool) -> None:
        """A tracked interface or weight-0 script failed (True) or recovered (False)."""
        if faulty == self.faulty:
            return
        self.faulty = faulty
        if faulty:
            if self.state is State.MASTER:
                self._leave_master(State.FAULT)
            elif self.state is State.BACKUP:
                self._log("Entering FAULT STATE")
                self._cancel_down_timer()
                self._change(State.FAULT)
        elif self.state is State.FAULT:
            self._leave_fault()

    def stop(self) -> None:
        """Clean stop: a master advertises priority 0 (backups take over after Skew_Time) and
        gives its addresses up; every timer is cancelled."""
        if self.state is State.MASTER:
            self._leave_master(State.INIT)
        elif self.state is State.BACKUP:
            self._cancel_down_timer()
            self._change(State.INIT)
        elif self.state is State.FAULT:
            self._change(State.INIT)

    # --- read-only views --------------------------------------------------------------------

    @property
    def skew_time(self) -> float:
        """Skew_Time (s) for the current effective priority and Master_Adver_Interval."""
        return skew_time(self.config.version, self.priority, self.master_adver_int)

    @property
    def master_down_interval(self) -> float:
        """Master_Down_Interval (s) for the current priority and Master_Adver_Interval."""
        return master_down_interval(
            self.config.version,
            self.priority,
            self.master_adver_int,
            self.config.down_timer_adverts,
        )

    @property
    def timers(self) -> tuple[tuple[float, str], ...]:
        """Pending timers as ``(deadline, name)``, soonest first (for status dumps and tests)."""
        named = [
            (self._down_timer, "master_down"),
            (self._adver_timer, "adver"),
            (self._refresh_timer, "garp_refresh"),
            *((call, "garp") for call in self._garp_timers),
        ]
        return tuple(
            sorted((call.getTime(), name) for call, name in named if call and call.active())
        )

    # --- receive checks (keepalived's vrrp_check_packet, instance part) ---------------------

    def _acceptable(self, received: Received) -> bool:
        """Whether an advert may reach the state rules; logs why not, in keepalived's words."""
        advert = received.advert
        config = self.config
        if advert.vrid != config.vrid:
            self._log(
                f"Unknown VRID({advert.vrid}) received on interface({config.interface}). "
                "ignoring..."
            )
            return False
        if advert.version != config.version:
            self._log(f"wrong version. Received {advert.version} and expect {config.version}")
            return False
        if config.version == 2:
            if not self._v2_authentic(advert):
                return False
            if advert.interval != config.advert_int:
                self._log(
                    f"advertisement interval mismatch mine={config.advert_int // 100} sec "
                    f"rcv'd={advert.interval // 100} sec"
                )
                return False
        elif advert.interval != config.advert_int and not self._interval_mismatch_logged:
            # v3 only SHOULD log it: the backup adopts the master's interval anyway.
            self._interval_mismatch_logged = True
            self._log(
                f"advertisement interval mismatch ours = {config.advert_int} centi-sec "
                f"rcv'd={advert.interval} centi-sec"
            )
        return self._addresses_match(advert)

    def _v2_authentic(self, advert: Advert) -> bool:
        if advert.auth_type not in (0, 1, 2):
            self._log(f"Invalid auth type: {advert.auth_type}")
            return False
        if advert.auth_type != self._auth_type:
            self._log(f"received a {advert.auth_type} auth, expecting {self._auth_type}!")
            return False
        if self._auth_type == 1 and not hmac.compare_digest(advert.auth_data, self._auth_data):
            self._log("received an invalid passwd!")
            return False
        return True

    def _addresses_match(self, advert: Advert) -> bool:
        """RFC 3768/5798 7.1: a mismatched list is logged and dropped unless the owner sent it."""
        if len(advert.addresses) != len(self._vips):
            self._log(
                f"received an unexpected ip number count {len(advert.addresses)}, "
                f"expected {len(self._vips)}!"
            )
        else:
            carried = set(advert.addresses)
            missing = [a for a in self.config.addresses if a.address not in carried]
            if not missing:
                return True
            self._log(
                f"ip address associated with VRID {self.config.vrid} not present in MASTER "
                f"advert: {missing[0].address}"
            )
        return advert.priority == OWNER

    # --- BACKUP -----------------------------------------------------------------------------

    def _backup_receive(self, received: Received) -> None:
        advert = received.advert
        if advert.priority == STOPPING:
            # The master is stopping: take over after Skew_Time only.
            self._log("Backup received priority 0 advertisement")
            self._start_down_timer(self.skew_time)
        elif self._backup_accepts(advert.priority):
            if self.config.version == 3 and advert.interval != self.master_adver_int:
                self._log(
                    f"advertisement interval updated from {self.master_adver_int * 10}ms to "
                    f"{advert.interval * 10}ms by master"
                )
                self.master_adver_int = advert.interval
            self._track_preempt_delay(advert.priority)
            self._start_down_timer(self.master_down_interval)
        else:
            # Lower priority and we preempt: let the timer run out, then take over.
            self._log(
                f"received lower priority ({advert.priority}) advert from {received.source} "
                "- discarding"
            )

    def _backup_accepts(self, priority: int) -> bool:
        """RFC: accept unless we preempt a lower priority; keepalived's preempt_delay keeps
        accepting lower adverts until ``preempt_delay`` after the first one."""
        if self.nopreempt or priority >= self.priority:
            return True
        deadline = self._preempt_deadline
        return self.preempt_delay > 0 and (deadline is None or deadline > self.clock.seconds())

    def _track_preempt_delay(self, priority: int) -> None:
        if not self.preempt_delay:
            return
        if priority >= self.priority:
            if self._preempt_deadline is not None:
                self._log("stop preempt delay")
                self._preempt_deadline = None
        elif self._preempt_deadline is None:
            self._log(f"start preempt delay ({self.preempt_delay:.6f})")
            self._preempt_deadline = self.clock.seconds() + self.preempt_delay

    def _master_down_timer_fired(self) -> None:
        self._down_timer = None
        self._log("Receive advertisement timeout")
        self._become_master()

    # --- MASTER -----------------------------------------------------------------------------

    def _master_receive(self, received: Received) -> None:
        advert = received.advert
        theirs, ours = advert.priority, self.priority
        order = _compare(received.source, self.primary)
        if theirs == STOPPING:
            self._log("Master received priority 0 message")
            self._send_advert()
            self._start_adver_timer()
            return
        if theirs == ours:
            if order == 0:
                self._log(
                    "WARNING - equal priority advert received from remote host with our IP address."
                )
                return
            if ours == OWNER:
                self._log(
                    f"CONFIGURATION ERROR: local instance and {received.source} are both "
                    "configured as address owner, please resolve"
                )
        if theirs < ours or (theirs == ours and order < 0):
            self._assert_master(received)
        else:
            self._yield_to(received)

    def _assert_master(self, received: Received) -> None:
        """RFC 9568 6.4.3 (keepalived's default): a lower-priority master exists, so there was
        a split brain; an advert makes it back off and GARPs fix the clients' ARP caches."""
        config = self.config
        self._log(
            f"Received advert from {received.source} with lower priority "
            f"{received.advert.priority}, ours {self.priority}"
            + ("" if config.lower_prio_no_advert else ", forcing new election")
        )
        if not config.lower_prio_no_advert:
            self._send_advert()
        if config.garp_lower_prio_repeat:
            self._gratuitous(config.garp_lower_prio_repeat)
            if config.garp_lower_prio_delay:
                self._later_gratuitous(config.garp_lower_prio_delay, config.garp_lower_prio_repeat)

    def _yield_to(self, received: Received) -> None:
        advert = received.advert
        if self.config.higher_prio_send_advert:
            # One last advert so the winner, if it lost ours, GARPs again (keepalived #1528).
            self._send_advert()
        if advert.priority > self.priority:
            self._log(
                f"Master received advert from {received.source} with higher priority "
                f"{advert.priority}, ours {self.priority}"
            )
        else:
            self._log(
                f"Master received advert from {received.source} with same priority "
                f"{advert.priority} but higher IP address than ours"
            )
        if self.config.version == 3:
            self.master_adver_int = advert.interval
        self._leave_master(State.BACKUP)

    def _adver_timer_fired(self) -> None:
        self._adver_timer = None
        self._send_advert()
        self._start_adver_timer()

    def _refresh_fired(self) -> None:
        self._refresh_timer = None
        self._gratuitous(self.config.garp_master_refresh_repeat)
        self._refresh_timer = self.clock.callLater(
            self.config.garp_master_refresh, self._refresh_fired
        )

    # --- transitions ------------------------------------------------------------------------

    def _become_master(self) -> None:
        """The advert goes first (the old master must drop the addresses before our GARPs),
        then the addresses, then a GARP burst now and another after ``garp_master_delay``."""
        config = self.config
        self._cancel_down_timer()
        self.master_adver_int = config.advert_int
        self._send_advert()
        self._log("Entering MASTER STATE")
        self.actions.take_addresses()
        if config.garp_master_repeat:
            self._gratuitous(config.garp_master_repeat)
            if config.garp_master_delay:
                self._later_gratuitous(config.garp_master_delay, config.garp_master_repeat)
        if config.garp_master_refresh and config.garp_master_refresh_repeat:
            self._refresh_timer = self.clock.callLater(
                config.garp_master_refresh, self._refresh_fired
            )
        self._start_adver_timer()
        self._change(State.MASTER)

    def _leave_master(self, new: State) -> None:
        """To BACKUP (a better master), FAULT or INIT (stop): the last two advertise priority 0
        first so the backups take over after Skew_Time instead of Master_Down_Interval."""
        if new is State.BACKUP:
            self._log("Entering BACKUP STATE")
        else:
            if new is State.FAULT:
                self._log("Entering FAULT STATE")
            self.actions.send_advert(STOPPING)
            self._log("sent 0 priority")
        self._cancel_master_timers()
        self.actions.release_addresses()
        if new is State.BACKUP:
            self._preempt_deadline = None
            self._start_down_timer(self.master_down_interval)
        self._change(new)

    def _enter_backup(self) -> None:
        self.master_adver_int = self.config.advert_int
        self._preempt_deadline = None
        self._start_down_timer(self.master_down_interval)
        self._change(State.BACKUP)

    def _leave_fault(self) -> None:
        if self.config.priority == OWNER:
            self._become_master()
        else:
            self._log("Entering BACKUP STATE")
            self._enter_backup()

    def _change(self, new: State) -> None:
        old, self.state = self.state, new
        self._interval_mismatch_logged = False
        self.actions.state_changed(old, new, self.priority)

    # --- timers and sending -----------------------------------------------------------------

    def _send_advert(self) -> None:
        self.actions.send_advert(self.priority)

    def _gratuitous(self, repeat: int) -> None:
        if repeat:
            self.actions.send_gratuitous(repeat)

    def _later_gratuitous(self, delay: float, repeat: int) -> None:
        def burst() -> None:
            self._garp_timers = [c for c in self._garp_timers if c.active()]
            self._gratuitous(repeat)

        self._garp_timers.append(self.clock.callLater(delay, burst))

    def _start_down_timer(self, delay: float) -> None:
        self._cancel_down_timer()
        self._down_timer = self.clock.callLater(delay, self._master_down_timer_fired)

    def _start_adver_timer(self) -> None:
        _cancel(self._adver_timer)
        self._adver_timer = self.clock.callLater(
            self.config.advert_int / 100, self._adver_timer_fired
        )

    def _cancel_down_timer(self) -> None:
        _cancel(self._down_timer)
        self._down_timer = None

    def _cancel_master_timers(self) -> None:
        for call in (self._adver_timer, self._refresh_timer, *self._garp_timers):
            _cancel(call)
        self._adver_timer = self._refresh_timer = None
        self._garp_timers = []

    def _log(self, message: str) -> None:
        self.actions.log(message)


def _cancel(call: IDelayedCall | None) -> None:
    if call is not None and call.active():
        call.cancel()
