"""Runtime state of backends and servers: load, ``maxconn`` slots and the two queues.

HAProxy keeps a queue per server (requests that must go to that server) and one per backend
(requests any server may take); when a slot frees, the server serves the older of the heads
of its own queue and of the backend queue. ``timeout queue`` bounds the wait, then 503.
"""

from __future__ import annotations

import contextlib
import math
from collections import deque
from collections.abc import Callable
from typing import Protocol

from stack.balancer.algorithms import Balancer, make_balancer
from stack.balancer.checks import HealthState
from stack.balancer.counters import ProxyCounters, ServerCounters
from stack.config.model import Algorithm, Backend, Frontend, Server, StackConfig
from stack.http.deadlines import Deadlines


class Waiter(Protocol):
    """A request waiting for a server slot."""

    def server_assigned(self, server: ServerRuntime) -> None: ...
    def queue_timeout(self) -> None: ...


class QueuedRequest:
    """A queue entry; its deadline is ``timeout queue``."""

    __slots__ = ("backend", "deadline", "enqueued", "server", "waiter")

    def __init__(
        self, waiter: Waiter, backend: BackendRuntime, server: ServerRuntime | None, now: float
    ) -> None:
        self.waiter = waiter
        self.backend = backend
        self.server = server
        self.enqueued = now
        timeout = backend.config.timeouts.queue
        self.deadline: float | None = None if timeout is None else now + timeout
        # qmax: the caller appends this entry to the server's queue, or to the backend's
        counters, length = (
            (server.counters, len(server.queue) + 1)
            if server is not None
            else (backend.counters, len(backend.queue) + 1)
        )
        if length > counters.max_queue:
            counters.max_queue = length

    def deadline_expired(self, now: float) -> None:
        self.backend.dequeue(self)
        self.waiter.queue_timeout()

    def cancel(self) -> None:
        self.backend.dequeue(self)


# HAProxy's administrative state bits (include/haproxy/server-t.h SRV_ADMF_*), as
# `show servers state` prints them in srv_admin_state.
ADMIN_FMAINT = 0x01  # forced maintenance: runtime API or stats page
ADMIN_IMAINT = 0x02  # inherited from a tracked server
ADMIN_CMAINT = 0x04  # the config's `disabled`
ADMIN_FDRAIN = 0x08  # forced drain: runtime API or stats page
ADMIN_IDRAIN = 0x10  # inherited drain
ADMIN_RMAINT = 0x20  # DNS resolution failure
# SRV_ADMF_MAINT is 0x23: the config's bit alone is no maintenance. `disabled` sets FMAINT too,
# and `enable server` clears only that one, leaving 0x04 (`show servers state` prints 4).
ADMIN_MAINT = ADMIN_FMAINT | ADMIN_IMAINT | ADMIN_RMAINT
ADMIN_DRAIN = ADMIN_FDRAIN | ADMIN_IDRAIN

# HAProxy's operational states (SRV_ST_*), as `show servers state` prints srv_op_state.
OP_STOPPED, OP_STARTING, OP_RUNNING, OP_STOPPING = 0, 1, 2, 3

# The check state bits (include/haproxy/check-t.h CHK_ST_*), as `show servers state` prints
# srv_check_state.
CHECK_INPROGRESS = 0x01  # a check is running now
CHECK_CONFIGURED = 0x02  # the server line says `check`
CHECK_ENABLED = 0x04  # not turned off by `disable health`
CHECK_PAUSED = 0x08  # no checks in maintenance

# What the runtime API and the stats page may ask of a server's administrative state.
ADMIN_STATES = ("ready", "drain", "maint")
HEALTH_STATES = ("up", "stopping", "down")

# A log line and its syslog level, for the backend's log targets and twistd's log.
LogLine = Callable[[str, str], None]


class ServerRuntime:
    """One server as the balancer sees it at run time.

    ``up`` is the operational state health checks move; ``admin`` the administrative bits
    (``ADMIN_*``) the config, the runtime API and the stats page set: any maintenance bit
    takes the server out of traffic and stops its checks; a drain bit zeroes its effective
    ``weight`` so only persistent clients reach it. ``uweight`` is the weight the operator
    asked for (the config's, or ``set weight``); ``weight`` the effective one the balancer
    uses (``uweight`` scaled by slowstart, 0 while draining or stopping); ``eweight`` the
    same without the drain (what HAProxy's stats show as the weight); ``iweight`` the config's.
    ``stopping`` is HAProxy's NOLB state (``set server health stopping``): up, but only
    persistent clients reach it. ``ramp`` is slowstart's share of the weight (1.0 outside
    slowstart). ``health`` is the check counter (HAProxy keeps one for unchecked servers too,
    and ``show servers state`` prints it), ``check_state`` the ``CHECK_*`` bits.
    ``last_change`` is the reactor time of the last change of state, UP/DOWN or
    administrative (the stats' ``lastchg``). ``counters`` are the figures the stats report.
    Every attribute here is state a reload hands on.
    """

    __slots__ = (
        "address",
        "admin",
        "backend",
        "backup",
        "check_state",
        "config",
        "cookie",
        "counters",
        "health",
        "iweight",
        "last_change",
        "maxconn",
        "maxqueue",
        "name",
        "puid",
        "queue",
        "ramp",
        "served",
        "stopping",
        "up",
        "uweight",
        "weight",
    )

    def __init__(self, config: Server, backend: BackendRuntime, puid: int = 1) -> None:
        self.config = config
        self.backend = backend
        self.name = config.name
        self.puid = puid  # HAProxy's numeric server id: position in the backend, from 1
        self.cookie = config.cookie
        self.address = config.address
        self.iweight = config.weight
        self.uweight = config.weight
        self.weight = config.weight
        self.ramp = 1.0
        self.stopping = False
        self.health = HealthState(config.rise, config.fall)
        self.check_state = CHECK_CONFIGURED | CHECK_ENABLED if config.check else 0
        self.maxconn = config.maxconn
        self.maxqueue = config.maxqueue
        self.backup = config.backup
        # HAProxy's `disabled` sets both the config and the forced bit, so `enable server`
        # (which clears the forced one) brings the server in.
        self.admin = ADMIN_CMAINT | ADMIN_FMAINT if config.disabled else 0
        self.up = not config.disabled  # health checks move this
        if config.disabled:  # srv_parse_disabled: down, checks paused, health 0
            self.check_state |= CHECK_PAUSED
            self.health.health = 0
        self.served = 0
        self.last_change = 0.0
        self.counters = ServerCounters()
        self.queue: deque[QueuedRequest] = deque()

    @property
    def disabled(self) -> bool:
        """In maintenance, whatever set it."""
        return bool(self.admin & ADMIN_MAINT)

    @property
    def draining(self) -> bool:
        return bool(self.admin & ADMIN_DRAIN)

    def usable(self) -> bool:
        return self.up and not self.admin & ADMIN_MAINT

    @property
    def op_state(self) -> int:
        """``srv_op_state``: 0 stopped, 1 starting (slowstart), 2 running, 3 stopping."""
        if not self.up:
            return OP_STOPPED
        if self.stopping:
            return OP_STOPPING
        return OP_STARTING if self.ramp < 1.0 else OP_RUNNING

    @property
    def eweight(self) -> int:
        """The weight after slowstart (HAProxy's ``cur_eweight`` in user units)."""
        if not self.uweight or self.ramp >= 1.0:
            return self.uweight
        return max(1, math.ceil(self.uweight * self.ramp))

    @property
    def check_enabled(self) -> bool:
        """Health checks run for this server (configured, not ``disable health``)."""
        return self.check_state & (CHECK_CONFIGURED | CHECK_ENABLED) == (
            CHECK_CONFIGURED | CHECK_ENABLED
        )

    @property
    def load(self) -> int:
        return self.served + len(self.queue)

    @property
    def full(self) -> bool:
        return bool(self.maxconn) and self.served >= self.maxconn

    def __repr__(self) -> str:
        return f"<Server {self.backend.name}/{self.name}>"


class BackendRuntime:
    """One backend: its servers, its balancer and its queue."""

    def __init__(self, config: Backend, deadlines: Deadlines) -> None:
        self.config = config
        self.name = config.name
        self.deadlines = deadlines
        self.servers = [ServerRuntime(s, self, i) for i, s in enumerate(config.servers, 1)]
        self.balancer: Balancer = make_balancer(
            config.balance, self.servers, allbackups=config.allbackups
        )
        self._hashing = config.balance.algorithm in (Algorithm.SOURCE, Algorithm.URI)
        # HAProxy's BE_LB_KIND_RR: the pick does not depend on the request or the load, so a
        # failed connect may move to another server at once (see frontend._connect_failed).
        self.round_robin = config.balance.algorithm in (Algorithm.ROUNDROBIN, Algorithm.STATIC_RR)
        # Only load-aware algorithms need to hear about every request taken and released.
        balancer = type(self.balancer)
        self._tracks_load = (
            balancer.taken is not Balancer.taken or balancer.release is not Balancer.release
        )
        self.queue: deque[QueuedRequest] = deque()
        self.active = 0  # requests between assignment and release
        self.counters = ProxyCounters()
        # Reactor time the backend last went UP or DOWN; like every server's, it starts at the
        # start (HAProxy sets both to the boot time).
        now = deadlines.now()
        self.last_change = now
        for server in self.servers:
            server.last_change = now
        # (line, syslog level) of the lines HAProxy logs on server state changes; the service
        # sends them to the backend's log targets and twistd's log.
        self.log: LogLine | None = None
        # Called when a server leaves maintenance with `slowstart`: the checker ramps it up.
        self.warm_up: Callable[[ServerRuntime], None] | None = None
        # "backend" or "proxy" (a listen section) in "... has no server available!".
        self.kind = "backend"

    # -- facts for ACLs and logs -----------------------------------------------------------------

    def nbsrv(self) -> int:
        """Usable servers: the active ones, or the backups when no active one is left."""
        active = self.usable_actives()
        if active:
            return active
        return sum(1 for s in self.servers if s.backup and s.usable())

    def usable_actives(self) -> int:
        """HAProxy's ``srv_act``: active (non-backup) servers that can take traffic."""
        return sum(1 for s in self.servers if not s.backup and s.usable())

    @property
    def queued(self) -> int:
        return len(self.queue) + sum(len(s.queue) for s in self.servers)

    # -- assignment ------------------------------------------------------------------------------

    def assign(
        self, waiter: Waiter, src: str, uri: bytes, exclude: ServerRuntime | None = None
    ) -> QueuedRequest | ServerRuntime | None:
        """Give ``waiter`` a server slot now (returned), a queue place (returned), or nothing
        (``None``: no server is usable, the caller answers 503 at once)."""
        now = self.deadlines.now()
        if self.queue and not self._hashing:
            # Like HAProxy: while others wait for any server, a newcomer waits behind them.
            entry = QueuedRequest(waiter, self, None, now)
            self.queue.append(entry)
            self.deadlines.watch(entry)
            return entry
        server: ServerRuntime | None
        if exclude is None:
            server = self.balancer.pick(src, uri)  # type: ignore[assignment]
        else:
            server = self.balancer.pick_avoiding(exclude, src, uri)  # type: ignore[assignment]
        if server is None:
            if not self.balancer.has_usable():
                return None
            entry = QueuedRequest(waiter, self, None, now)
            self.queue.append(entry)
            self.deadlines.watch(entry)
            return entry
        self.counters.lbtot += 1  # lbtot: picked by the algorithm, even if it then queues
        server.counters.lbtot += 1
        maxconn = server.maxconn
        if (maxconn and server.served >= maxconn) or server.queue:
            if server.maxqueue and len(server.queue) >= server.maxqueue:
                entry = QueuedRequest(waiter, self, None, now)
                self.queue.append(entry)
            else:
                entry = QueuedRequest(waiter, self, server, now)
                server.queue.append(entry)
            self.deadlines.watch(entry)
            return entry
        self._take(server, now)
        return server

    def assign_server(self, waiter: Waiter, server: ServerRuntime) -> QueuedRequest | ServerRuntime:
        """A request that must go to ``server`` (persistence, retries on the same server)."""
        now = self.deadlines.now()
        if server.full or server.queue:
            entry = QueuedRequest(waiter, self, server, now)
            server.queue.append(entry)
            self.deadlines.watch(entry)
            return entry
        self._take(server, now)
        return server

    def _take(self, server: ServerRuntime, now: float) -> None:
        server.served += 1
        self.active += 1
        # stot/smax/rate of the server and the backend (counters.py: plain ints, the rate
        # period checked here rather than counted per event)
        mine = server.counters
        if now - mine.period >= 1.0:
            mine.rotate(now)
        mine.sessions += 1
        mine.last_session = now
        if server.served > mine.max_sessions:
            mine.max_sessions = server.served
        ours = self.counters
        if now - ours.period >= 1.0:
            ours.rotate(now)
        ours.sessions += 1
        ours.last_session = now
        if self.active > ours.max_sessions:
            ours.max_sessions = self.active
        if self._tracks_load:
            self.balancer.taken(server)

    def release(self, server: ServerRuntime) -> None:
        """A request on ``server`` ended: hand the slot to the oldest waiter that can use it."""
        server.served -= 1
        self.active -= 1
        if self._tracks_load:
            self.balancer.release(server)
        if server.queue or self.queue:
            self._serve_queues(server)

    def _serve_queues(self, server: ServerRuntime) -> None:
        while not server.full and server.usable():
            own = server.queue[0] if server.queue else None
            shared = self.queue[0] if self.queue else None
            if own is None and shared is None:
                return
            if own is not None and (shared is None or own.enqueued <= shared.enqueued):
                entry = server.queue.popleft()
            else:
                entry = self.queue.popleft()
            self.deadlines.unwatch(entry)
            self._take(server, self.deadlines.now())
            entry.waiter.server_assigned(server)

    def set_server_up(self, server: ServerRuntime, up: bool) -> int:
        """Health checks moved ``server`` UP or DOWN: routing follows at once.

        The balancer recalculates; requests waiting in the queue of a server gone DOWN move to
        the backend queue in their arrival order, unless ``option persist`` keeps them for it
        (HAProxy's ``pendconn_redistribute``, the "N requeued" of its log line); a server
        coming UP takes waiting requests. Returns how many requests were requeued. The caller
        (the checker) logs; the times and the ``chkdown`` counters are kept here.
        """
        if server.up == up:
            return 0
        now = self.deadlines.now()
        before = self.usable_count()
        if up:
            self._came_up(server, now)
            return 0
        moved = self._went_down(server, now)
        self._backend_down_check(before, now, log=False)
        return moved

    # -- administrative and operational changes from the runtime API and the stats page ----------

    def usable_count(self) -> int:
        """HAProxy's ``srv_act + srv_bck``: servers taking load-balanced traffic."""
        return sum(1 for s in self.servers if s.usable() and s.weight)

    def _usable_split(self) -> tuple[int, int]:
        active = backups = 0
        for s in self.servers:
            if s.usable() and s.weight:
                if s.backup:
                    backups += 1
                else:
                    active += 1
        return active, backups

    def _emit(self, line: str, level: str) -> None:
        if self.log is not None:
            self.log(line, level)

    def _name(self, server: ServerRuntime) -> str:
        prefix = "Backup Server" if server.backup else "Server"
        return f"{prefix} {self.name}/{server.name}"

    def _status_tail(self, server: ServerRuntime, xferred: int) -> str:
        """``srv_append_status``'s counts: "left" and the sessions for a server now DOWN,
        "online" otherwise."""
        active, backups = self._usable_split()
        running = " Running on backup." if backups and not active else ""
        if not server.up:
            return (
                f". {active} active and {backups} backup servers left.{running}"
                f" {server.served} sessions active, {xferred} requeued,"
                f" {len(server.queue)} remaining in queue"
            )
        return (
            f". {active} active and {backups} backup servers online.{running}"
            f" {xferred} sessions requeued, {len(server.queue)} total in queue"
        )

    def _refresh_weight(self, server: ServerRuntime) -> None:
        weight = 0 if server.draining or server.stopping else server.eweight
        if server.weight != weight:
            server.weight = weight
        self.balancer.recalc()

    def _requeue(self, server: ServerRuntime) -> int:
        """``pendconn_redistribute``: the server's queue joins the backend's (FIFO kept),
        unless ``option persist``; other servers with a free slot take them at once."""
        if self.config.persist or not server.queue:
            return 0
        moved = list(server.queue)
        server.queue.clear()
        for entry in moved:
            entry.server = None
        merged = sorted([*self.queue, *moved], key=lambda e: e.enqueued)  # stable: FIFO kept
        self.queue.clear()
        self.queue.extend(merged)
        for other in self.servers:
            if self.queue and other is not server and other.usable():
                self._serve_queues(other)
        return len(moved)

    def _went_down(self, server: ServerRuntime, now: float) -> int:
        server.up = False
        server.stopping = False
        server.ramp = 1.0
        server.last_change = now
        server.counters.check_down += 1  # HAProxy's down_trans (chkdown)
        self._refresh_weight(server)
        return self._requeue(server)

    def _came_up(self, server: ServerRuntime, now: float) -> int:
        if not self.usable_count():
            # the backend comes back: its downtime ends
            if self.last_change < now:
                self.counters.downtime += now - self.last_change
            self.last_change = now
        if not server.up and server.last_change < now:
            server.counters.downtime += now - server.last_change
        server.up = True
        server.stopping = False
        server.last_change = now
        self._refresh_weight(server)
        return self._grab(server)

    def _grab(self, server: ServerRuntime) -> int:
        """``pendconn_grab_from_px``: a server now usable takes requests waiting for any."""
        if not self.queue or not server.usable() or not server.weight:
            return 0
        before = len(self.queue)
        self._serve_queues(server)
        return before - len(self.queue)

    def _backend_down_check(self, before: int, now: float, log: bool = True) -> None:
        """``set_backend_down``: the last usable server went away."""
        if before and not self.usable_count():
            self.last_change = now
            self.counters.down_trans += 1
            if log:
                self._emit(f"{self.kind} {self.name} has no server available!", "emerg")

    def _drain_tail(self, server: ServerRuntime) -> None:
        """What 2.6's ``srv_update_status`` says on any change while a forced drain stays."""
        if server.admin & ADMIN_FDRAIN and not server.admin & ADMIN_MAINT:
            self._emit(f"{self._name(server)} remains in forced drain mode.", "notice")

    def set_admin(self, server: ServerRuntime, state: str) -> None:
        """``set server B/S state ready|drain|maint`` (``srv_adm_set_ready/drain/maint``),
        also the stats page's admin actions and ``enable/disable server``.

        Maintenance takes the server out of traffic at once, requeues its queue and pauses
        its checks (health 0); leaving it resumes them and brings the server UP at once
        (health = rise, as HAProxy does: the next check confirms or takes it DOWN). Drain
        keeps the server UP with a zero weight: only persistent clients reach it.
        """
        if state == "maint":
            self._set_flag(server, ADMIN_FMAINT)
            self._clear_flag(server, ADMIN_FDRAIN)
        elif state == "drain":
            self._set_flag(server, ADMIN_FDRAIN)
            self._clear_flag(server, ADMIN_FMAINT)
        elif state == "ready":
            self._clear_flag(server, ADMIN_FDRAIN)
            self._clear_flag(server, ADMIN_FMAINT)
        else:
            raise ValueError(f"admin state must be one of {', '.join(ADMIN_STATES)}: {state!r}")

    def _set_flag(self, server: ServerRuntime, flag: int) -> None:
        if server.admin & flag:
            return
        self._apply_admin(server, server.admin | flag)

    def _clear_flag(self, server: ServerRuntime, flag: int) -> None:
        if not server.admin & flag:
            return
        self._apply_admin(server, server.admin & ~flag)

    def _apply_admin(self, server: ServerRuntime, new: int) -> None:
        """The administrative half of 2.6's ``srv_update_status``, for one flag change."""
        now = self.deadlines.now()
        cur = server.admin
        before = self.usable_count()
        was_stopping = server.stopping or bool(cur & ADMIN_DRAIN)
        name = self._name(server)
        if not cur & ADMIN_MAINT and new & ADMIN_MAINT:
            if server.check_state & CHECK_ENABLED:
                server.check_state |= CHECK_PAUSED
                server.health.health = 0
            server.admin = new
            if not server.up:
                self._emit(f"{name} was DOWN and now enters maintenance.", "notice")
                self._refresh_weight(server)
                return
            server.health.health = 0
            xferred = self._went_down(server, now)
            tail = self._status_tail(server, xferred)
            level = "notice" if was_stopping else "alert"
            self._emit(f"{name} is going DOWN for maintenance{tail}.", level)
            self._backend_down_check(before, now)
            return
        if cur & ADMIN_MAINT and not new & ADMIN_MAINT:
            if server.check_state & CHECK_ENABLED:
                server.check_state &= ~CHECK_PAUSED
                server.health.health = server.health.rise  # up, but checked at once
            server.admin = new
            if not server.check_enabled or server.health.up:
                server.up = True
                server.stopping = False
                server.last_change = now
            if cur & ADMIN_FMAINT and not new & ADMIN_FMAINT:
                op = "UP" if server.up else "DOWN"
                adm = "DRAIN" if new & ADMIN_DRAIN else "READY"
                self._emit(f"{name} is {op}/{adm} (leaving forced maintenance).", "notice")
            self._refresh_weight(server)
            if server.up and server.config.slowstart > 0 and self.warm_up is not None:
                self.warm_up(server)
            after = self.usable_count()
            if before and not after:
                self._backend_down_check(before, now)
            elif not before and after:
                self.last_change = now
            self._grab(server)
            self._drain_tail(server)
            return
        if new & ADMIN_MAINT:
            server.admin = new  # a drain flag changes while in maintenance: nothing to say
            self._refresh_weight(server)
            return
        # drain changes, out of maintenance
        if not cur & ADMIN_DRAIN and new & ADMIN_DRAIN:
            server.admin = new
            server.last_change = now
            self._refresh_weight(server)
            xferred = self._requeue(server)
            tail = self._status_tail(server, xferred)
            self._emit(f"{name} enters drain state{tail}.", "notice")
            self._backend_down_check(before, now)
        elif cur & ADMIN_DRAIN and not new & ADMIN_DRAIN:
            if not self.usable_count():
                if self.last_change < now:
                    self.counters.downtime += now - self.last_change
                self.last_change = now
            if server.last_change < now:
                server.counters.downtime += now - server.last_change
            server.last_change = now
            server.admin = new
            self._refresh_weight(server)
            op = "UP" if server.up else "DOWN"
            self._emit(f"{name} is {op} (leaving forced drain).", "notice")
            self._grab(server)
        else:
            server.admin = new
            self._refresh_weight(server)

    def set_health(self, server: ServerRuntime, health: str) -> None:
        """``set server B/S health up|stopping|down``: the check counter is set (to fully up,
        or 0) and the server moved as a check would, "changed from CLI". A server in
        maintenance only gets the counter (HAProxy's ``srv_set_running`` & co. ignore it)."""
        state = server.health
        if health in ("up", "stopping"):
            state.health = state.rise + state.fall - 1
        elif health == "down":
            state.health = 0
        else:
            raise ValueError(f"health must be one of {', '.join(HEALTH_STATES)}: {health!r}")
        if server.disabled:
            return
        now = self.deadlines.now()
        before = self.usable_count()
        name = self._name(server)
        reason = ", changed from CLI"
        if health == "down":
            if not server.up:
                return
            was_stopping = server.stopping or server.draining
            xferred = self._went_down(server, now)
            tail = self._status_tail(server, xferred)
            self._emit(f"{name} is DOWN{reason}{tail}.", "notice" if was_stopping else "alert")
            self._backend_down_check(before, now)
        elif health == "stopping":
            if server.up and server.stopping:
                return
            server.up = True
            server.stopping = True
            server.last_change = now
            self._refresh_weight(server)
            xferred = self._requeue(server)
            tail = self._status_tail(server, xferred)
            self._emit(f"{name} is stopping{reason}{tail}.", "notice")
            self._backend_down_check(before, now)
        else:
            if server.up and not server.stopping:
                return
            xferred = self._came_up(server, now)
            if server.config.slowstart > 0 and self.warm_up is not None:
                self.warm_up(server)
            tail = self._status_tail(server, xferred)
            self._emit(f"{name} is UP{reason}{tail}.", "notice")
        self._drain_tail(server)

    def set_weight(self, server: ServerRuntime, text: str) -> str | None:
        """``set weight``/``set server B/S weight``: ``N`` (0..256) or ``N%`` of the initial
        weight (capped at 256); static algorithms take only 0 and the initial weight. The
        effective weight follows, slowstart's share kept. Returns 2.6's error text, or
        ``None`` when done."""
        if not text:
            return "Require <weight> or <weight%>.\n"
        digits = _strtol(text)
        if digits is None:
            return "Empty weight string empty or preceded by garbage"
        weight, rest = digits
        if rest == "%":
            if weight < 0:
                return "Relative weight must be positive.\n"
            weight = min(server.iweight * min(weight, 25600) // 100, 256)
        elif weight < 0 or weight > 256:
            return "Absolute weight can only be between 0 and 256 inclusive.\n"
        elif rest:
            return "Trailing garbage in weight string"
        if weight and weight != server.iweight and not self.dynamic_weights:
            return (
                "Backend is using a static LB algorithm and only accepts weights '0%' and '100%'.\n"
            )
        before = self.usable_count()
        server.uweight = weight
        self._refresh_weight(server)
        self._backend_down_check(before, self.deadlines.now())  # weight 0 on the last one
        self._drain_tail(server)
        return None

    @property
    def dynamic_weights(self) -> bool:
        """HAProxy's ``BE_LB_PROP_DYN``: the algorithm takes any weight at run time (not the
        map-based static-rr, source and uri)."""
        return self.config.balance.algorithm in (
            Algorithm.ROUNDROBIN,
            Algorithm.LEASTCONN,
            Algorithm.FIRST,
        )

    def set_server_weight(self, server: ServerRuntime, weight: int) -> None:
        """A new effective weight from outside (kept for callers that set it directly)."""
        if server.weight != weight:
            server.weight = weight
            self.balancer.recalc()

    def set_ramp(self, server: ServerRuntime, factor: float) -> None:
        """Slowstart's share of the weight now (1.0 once warm): the balancer follows."""
        server.ramp = factor
        self._refresh_weight(server)

    def dequeue(self, entry: QueuedRequest) -> None:
        self.deadlines.unwatch(entry)
        queue = entry.server.queue if entry.server is not None else self.queue
        with contextlib.suppress(ValueError):
            queue.remove(entry)


def _strtol(text: str) -> tuple[int, str] | None:
    """C's ``strtol(text, &end, 10)``: the leading integer (spaces and a sign allowed) and
    what follows it; ``None`` when no digit was read."""
    i, n = 0, len(text)
    while i < n and text[i] in " \t\n\v\f\r":
        i += 1
    start = i
    if i < n and text[i] in "+-":
        i += 1
    digits = i
    while i < n and text[i].isdigit() and text[i].isascii():
        i += 1
    if i == digits:
        return None
    return int(text[start:i]), text[i:]


def proxy_ids(config: StackConfig) -> dict[str, int]:
    """HAProxy's proxy ``uuid`` (``be_id``, ``iid``): frontends, listens and backends numbered
    in config order from 1; a ``listen`` is one proxy. With a ``stats socket``, the CLI's
    GLOBAL proxy comes first and takes a number, so the config's start at 2 (as 2.6 prints)."""
    sections: dict[str, tuple[int, str, int]] = {}
    proxies: list[Frontend | Backend] = [*config.frontends, *config.backends]
    for rank, proxy in enumerate(proxies):
        origin = proxy.origin
        where = (0, origin.file, origin.line) if origin is not None else (1, "", rank)
        if proxy.name not in sections or where < sections[proxy.name]:
            sections[proxy.name] = where
    first = 2 if config.global_.stats_sockets else 1
    ordered = sorted(sections, key=lambda name: sections[name])
    return {name: first + i for i, name in enumerate(ordered)}


def backends_by_name(
    configs: tuple[Backend, ...], deadlines: Deadlines
) -> dict[str, BackendRuntime]:
    return {b.name: BackendRuntime(b, deadlines) for b in configs}
