"""Runtime state of backends and servers: load, ``maxconn`` slots and the two queues.

HAProxy keeps a queue per server (requests that must go to that server) and one per backend
(requests any server may take); when a slot frees, the server serves the older of the heads
of its own queue and of the backend queue. ``timeout queue`` bounds the wait, then 503.
"""

from __future__ import annotations

import contextlib
from collections import deque
from typing import Protocol

from stack.balancer.algorithms import Balancer, make_balancer
from stack.balancer.counters import ProxyCounters, ServerCounters
from stack.config.model import Algorithm, Backend, Server
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
ADMIN_MAINT = ADMIN_FMAINT | ADMIN_IMAINT | ADMIN_CMAINT | ADMIN_RMAINT
ADMIN_DRAIN = ADMIN_FDRAIN | ADMIN_IDRAIN


class ServerRuntime:
    """One server as the balancer sees it at run time.

    ``up`` is the operational state health checks move; ``admin`` the administrative bits
    (``ADMIN_*``) the config, the runtime API and the stats page set: any maintenance bit
    takes the server out of traffic and stops its checks; a drain bit zeroes its effective
    ``weight`` so only persistent clients reach it. ``uweight`` is the weight the operator
    asked for (the config's, or ``set weight``); ``weight`` the effective one the balancer
    uses (``uweight`` scaled by slowstart, 0 while draining). ``last_change`` is the reactor
    time of the last change of state, UP/DOWN or administrative (the stats' ``lastchg``).
    ``counters`` are the figures the stats report; the object is handed on across reloads.
    """

    __slots__ = (
        "address",
        "admin",
        "backend",
        "backup",
        "config",
        "cookie",
        "counters",
        "last_change",
        "maxconn",
        "maxqueue",
        "name",
        "puid",
        "queue",
        "served",
        "total",
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
        self.uweight = config.weight
        self.weight = config.weight
        self.maxconn = config.maxconn
        self.maxqueue = config.maxqueue
        self.backup = config.backup
        # HAProxy's `disabled` sets both the config and the forced bit, so `enable server`
        # (which clears the forced one) brings the server in.
        self.admin = ADMIN_CMAINT | ADMIN_FMAINT if config.disabled else 0
        self.up = True  # health checks move this
        self.served = 0
        self.total = 0
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
        self.total = 0
        self.counters = ProxyCounters()
        self.last_change = 0.0  # reactor time the backend last went UP or DOWN

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
        self._take(server)
        return server

    def assign_server(self, waiter: Waiter, server: ServerRuntime) -> QueuedRequest | ServerRuntime:
        """A request that must go to ``server`` (persistence, retries on the same server)."""
        if server.full or server.queue:
            entry = QueuedRequest(waiter, self, server, self.deadlines.now())
            server.queue.append(entry)
            self.deadlines.watch(entry)
            return entry
        self._take(server)
        return server

    def _take(self, server: ServerRuntime) -> None:
        server.served += 1
        server.total += 1
        self.active += 1
        self.total += 1
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
            self._take(server)
            entry.waiter.server_assigned(server)

    def set_server_up(self, server: ServerRuntime, up: bool) -> int:
        """Health checks moved ``server`` UP or DOWN: routing follows at once.

        The balancer recalculates; requests waiting in the queue of a server gone DOWN move to
        the backend queue in their arrival order, unless ``option persist`` keeps them for it
        (HAProxy's ``pendconn_redistribute``, the "N requeued" of its log line); a server
        coming UP takes waiting requests. Returns how many requests were requeued.
        """
        if server.up == up:
            return 0
        server.up = up
        self.balancer.recalc()
        if up:
            if server.queue or self.queue:
                self._serve_queues(server)
            return 0
        if self.config.persist or not server.queue:
            return 0
        moved = list(server.queue)
        server.queue.clear()
        for entry in moved:
            entry.server = None
        merged = sorted([*self.queue, *moved], key=lambda e: e.enqueued)  # stable: FIFO kept
        self.queue.clear()
        self.queue.extend(merged)
        # Another server may have a free slot for them right now.
        for other in self.servers:
            if self.queue and other is not server and other.usable():
                self._serve_queues(other)
        return len(moved)

    def set_server_weight(self, server: ServerRuntime, weight: int) -> None:
        """A new effective weight (slowstart's ramp, the runtime API): the balancer follows."""
        if server.weight != weight:
            server.weight = weight
            self.balancer.recalc()

    def dequeue(self, entry: QueuedRequest) -> None:
        self.deadlines.unwatch(entry)
        queue = entry.server.queue if entry.server is not None else self.queue
        with contextlib.suppress(ValueError):
            queue.remove(entry)


def backends_by_name(
    configs: tuple[Backend, ...], deadlines: Deadlines
) -> dict[str, BackendRuntime]:
    return {b.name: BackendRuntime(b, deadlines) for b in configs}
