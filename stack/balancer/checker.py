"""Health checks on the wire: the Twisted side of ``stack.balancer.checks``.

One ``HealthChecker`` per backend runs each ``check`` server's checks on the reactor: a TCP (or
TLS) connect, or with ``option httpchk`` the request from ``checks.http_check_request`` and a
bounded read of the response judged by ``checks.HttpCheckExchange``. What a result means (the
health counter, the next interval, the log lines) is decided by the core; this module only
connects, reads, closes and keeps the timers.

TLS checks (``check-ssl``, or ``ssl`` with checks on the server port) use the server's ``ssl``
settings through ``stack.http.tls.server_tls_options`` with no SNI, as HAProxy sends none
without ``check-sni`` (not modelled): ``verify required`` then checks the chain against
``ca-file`` (the system store without one) but no name, ``verify none`` nothing, and ``crt`` is
presented as the client certificate. ``check-ssl`` without any ``ssl`` settings verifies
nothing.
"""

from __future__ import annotations

import errno
import math
import random
from collections.abc import Callable, Sequence
from typing import Any

from OpenSSL import SSL
from twisted.internet import error
from twisted.internet.interfaces import (
    IAddress,
    IDelayedCall,
    IHandshakeListener,
    IReactorTCP,
    IReactorTime,
)
from twisted.internet.protocol import ClientFactory, Protocol, connectionDone
from twisted.protocols.tls import TLSMemoryBIOFactory
from twisted.python.failure import Failure
from zope.interface import implementer

from stack.balancer import checks
from stack.balancer.checks import CheckResult, HealthState, Stage, Transition
from stack.config.model import Backend, Server, ServerTls
from stack.http.tls import TlsFileError, server_tls_options

_NO_VERIFY = ServerTls(verify=False)


class _Tracked:
    """One server of the backend, checked or not (unchecked ones count as up)."""

    __slots__ = (
        "config",
        "duration_ms",
        "result",
        "run",
        "server",
        "state",
        "timer",
        "up_since",
        "warmup",
    )

    def __init__(self, server: Any) -> None:
        self.server = server
        self.config: Server = server.config
        config = self.config
        self.state: HealthState | None = None
        if config.check:
            # the balancer's servers carry their counter (the runtime API reads and sets it,
            # a reload hands it on); other callers' servers get one here
            own = getattr(server, "health", None)
            self.state = (
                own if isinstance(own, HealthState) else HealthState(config.rise, config.fall)
            )
        self.timer: IDelayedCall | None = None
        self.run: _CheckRun | None = None
        self.result: CheckResult | None = None
        self.duration_ms: int | None = None
        self.up_since: float | None = None  # DOWN->UP time while slowstart runs
        self.warmup: IDelayedCall | None = None


class HealthChecker:
    """Runs the health checks of one backend's servers.

    ``servers`` are objects with ``name`` and ``config`` (``model.Server``); their ``backup``,
    ``weight`` and ``disabled`` attributes are read when present (else the configuration's),
    and ``served``/``queue`` give the session and queue counts of the log lines. A state
    change calls ``on_change(server, up, reason)`` with the check's reason text
    (``Layer7 wrong status, code: 503, info: "Service Unavailable", check duration: 1ms``);
    when it returns an int (``BackendRuntime.set_server_up``'s count of requests moved) that
    is the "requeued" figure of the log line.
    ``log`` receives HAProxy's lines (``checks.severity`` tells their syslog level): the
    ``Health check for ...`` ones with ``option log-health-checks``, the ``is DOWN``/``is UP``
    and ``has no server available!`` ones always.

    ``first_delays`` (one per checked server, in order) overrides the first-check offsets,
    which are otherwise spread over this backend's checks alone; pass
    ``checks.first_check_delays`` of every checked server of the process to spread them as
    HAProxy does. ``on_weight(server, factor)`` follows ``slowstart`` after a server comes
    back UP; ``kind`` is ``proxy`` for a ``listen`` section (it shows in the logs).
    Servers in maintenance (``disabled``) are tracked but not checked, as HAProxy pauses
    checks in maintenance; nor are those whose ``check_enabled`` is false (``disable
    health``). A result that comes back meanwhile is dropped. Where the server has ``up``,
    a result moves it when it disagrees with the counter (HAProxy's ``check_notify_*``: DOWN
    at health 0, UP at rise), so a state set from the runtime API is corrected by the next
    checks; ``counters.check_failures`` counts the failures that lowered the counter.
    """

    def __init__(
        self,
        backend: Backend,
        servers: Sequence[Any],
        reactor: IReactorTime,
        spread_checks: int,
        on_change: Callable[[Any, bool, str], object],
        log: Callable[[str], None] | None,
        rng: random.Random | None = None,
        *,
        first_delays: Sequence[float] | None = None,
        on_weight: Callable[[Any, float], None] | None = None,
        kind: str = "backend",
    ) -> None:
        self.backend = backend
        self._clock = reactor
        self._tcp = IReactorTCP(reactor)
        self.spread_checks = spread_checks
        self.on_change = on_change
        self.log = log
        self.rng = rng if rng is not None else random.Random()
        self.on_weight = on_weight
        self.kind = kind
        self._tracked = [_Tracked(s) for s in servers]
        self._by_id = {id(t.server): t for t in self._tracked}
        self._first_delays = None if first_delays is None else list(first_delays)
        self._request = b""
        if backend.httpchk is not None:
            self._request = checks.http_check_request(
                backend.httpchk, connection_mode=backend.connection_mode
            )
        self.running = False

    # -- control ----------------------------------------------------------------------------------

    def start(self) -> None:
        checked = [t for t in self._tracked if t.state is not None]
        delays = self._first_delays
        if delays is None:
            delays = checks.first_check_delays([t.config for t in checked])
        self.running = True
        for tracked, delay in zip(checked, delays, strict=True):
            tracked.timer = self._clock.callLater(delay, self._run, tracked)

    def stop(self) -> None:
        self.running = False
        for tracked in self._tracked:
            for call in (tracked.timer, tracked.warmup):
                if call is not None and call.active():
                    call.cancel()
            tracked.timer = tracked.warmup = None
            if tracked.run is not None:
                tracked.run.abandon()
                tracked.run = None
                self._in_progress(tracked, False)

    def carry(self, old: HealthChecker) -> None:
        """A reload: each server keeps, by name, its last check result (its health counter
        lives on the server and is handed on with it)."""
        before = {t.server.name: t for t in old._tracked}
        for tracked in self._tracked:
            previous = before.get(tracked.server.name)
            if previous is not None:
                tracked.result, tracked.duration_ms = previous.result, previous.duration_ms

    # -- what callers may ask ---------------------------------------------------------------------

    def _get(self, server: Any) -> _Tracked:
        return self._by_id[id(server)]

    def state(self, server: Any) -> HealthState | None:
        """The health counter of a checked server (``None`` when not checked)."""
        return self._get(server).state

    def last_result(self, server: Any) -> tuple[CheckResult | None, int | None]:
        """The last check's result and duration in ms (for stats)."""
        tracked = self._get(server)
        return tracked.result, tracked.duration_ms

    def warm_up(self, server: Any) -> None:
        """The server just came UP outside the checks (leaving maintenance, ``set server
        health up``): slowstart ramps its weight as after a check."""
        tracked = self._by_id.get(id(server))
        if tracked is not None and self.running:
            self._slowstart_end(tracked)
            self._slowstart_begin(tracked, self._clock.seconds())

    def weight_factor(self, server: Any) -> float:
        """The slowstart share of the server's weight now (1.0 outside slowstart)."""
        tracked = self._get(server)
        if tracked.up_since is None:
            return 1.0
        elapsed = math.floor(self._clock.seconds()) - math.floor(tracked.up_since)
        return checks.slowstart_weight_factor(elapsed, tracked.config.slowstart)

    # -- running checks ---------------------------------------------------------------------------

    def _run(self, tracked: _Tracked) -> None:
        tracked.timer = None
        if not self.running:
            return
        if not self._checkable(tracked):
            tracked.timer = self._clock.callLater(tracked.config.inter, self._run, tracked)
            return
        self._in_progress(tracked, True)
        tracked.run = _CheckRun(self, tracked)
        tracked.run.begin()

    def _checkable(self, tracked: _Tracked) -> bool:
        """Not in maintenance, and checks not turned off (``disable health``)."""
        return not self._attr(tracked, "disabled") and getattr(
            tracked.server, "check_enabled", True
        )

    @staticmethod
    def _in_progress(tracked: _Tracked, running: bool) -> None:
        """The server's CHK_ST_INPROGRESS bit, which ``show servers state`` prints."""
        server = tracked.server
        bits = getattr(server, "check_state", None)
        if isinstance(bits, int):
            server.check_state = bits | 0x01 if running else bits & ~0x01

    def _finished(self, tracked: _Tracked, result: CheckResult, started: float) -> None:
        tracked.run = None
        self._in_progress(tracked, False)
        if not self.running:
            return
        now = self._clock.seconds()
        if not self._checkable(tracked):
            # maintenance or `disable health` came while the check ran: the result is moot
            tracked.timer = self._clock.callLater(tracked.config.inter, self._run, tracked)
            return
        duration = round((now - started) * 1_000_000) // 1000  # HAProxy truncates to ms
        tracked.result, tracked.duration_ms = result, duration
        state = tracked.state
        assert state is not None
        server = tracked.server
        backend = self.backend
        backup = bool(self._attr(tracked, "backup"))
        before = self._usable_counts()
        was_up = getattr(server, "up", None)
        logged, transition = state.observe(result)
        counters = getattr(server, "counters", None)
        if counters is not None and state.changed and not result.passed:
            counters.check_failures += 1  # failed_checks: the counter went down
        if isinstance(was_up, bool):
            # check_notify_failure/success: the server's state, not the counter's last move
            transition = None
            if not result.passed and state.health == 0 and was_up:
                transition = Transition(False)
            elif result.passed and state.up and not was_up:
                transition = Transition(True)
        # The next check is planned before any callback runs: a failing callback cannot stop
        # the checks.
        delay = checks.spread_interval(
            state.next_interval(tracked.config), self.spread_checks, self.rng
        )
        tracked.timer = self._clock.callLater(delay, self._run, tracked)
        if logged and backend.log_health_checks:
            self._log(
                checks.health_check_line(
                    backend.name,
                    server.name,
                    result,
                    duration,
                    state,
                    backup=backup,
                    weight=getattr(server, "uweight", self._attr(tracked, "weight")),
                )
            )
        if transition is not None:
            moved = self.on_change(server, transition.up, result.reason(duration))
            requeued = moved if isinstance(moved, int) else 0
            active, backups = self._usable_counts()
            detail = None if backend.log_health_checks else result
            if transition.up:
                self._log(
                    checks.server_up_line(
                        backend.name,
                        server.name,
                        active=active,
                        backups=backups,
                        requeued=requeued,
                        queued=len(getattr(server, "queue", ())),
                        result=detail,
                        duration_ms=duration,
                        backup=backup,
                    )
                )
                self._slowstart_begin(tracked, now)
            else:
                self._slowstart_end(tracked)
                self._log(
                    checks.server_down_line(
                        backend.name,
                        server.name,
                        active=active,
                        backups=backups,
                        sessions=getattr(server, "served", 0),
                        requeued=requeued,
                        queued=len(getattr(server, "queue", ())),
                        result=detail,
                        duration_ms=duration,
                        backup=backup,
                    )
                )
                if sum(before) and not active and not backups:
                    self._log(checks.no_server_line(backend.name, self.kind))
            if getattr(server, "admin", 0) & 0x08:  # ADMIN_FDRAIN: 2.6 says so on any change
                prefix = "Backup Server" if backup else "Server"
                self._log(f"{prefix} {backend.name}/{server.name} remains in forced drain mode.")

    # -- slowstart --------------------------------------------------------------------------------

    def _slowstart_begin(self, tracked: _Tracked, now: float) -> None:
        if tracked.config.slowstart <= 0:
            return
        tracked.up_since = now
        self._warm(tracked)

    def _warm(self, tracked: _Tracked) -> None:
        tracked.warmup = None
        factor = self.weight_factor(tracked.server)
        if self.on_weight is not None:
            self.on_weight(tracked.server, factor)
        if factor >= 1.0:
            tracked.up_since = None
            return
        interval = checks.warmup_interval(tracked.config.slowstart)
        tracked.warmup = self._clock.callLater(interval, self._warm, tracked)

    def _slowstart_end(self, tracked: _Tracked) -> None:
        tracked.up_since = None
        if tracked.warmup is not None and tracked.warmup.active():
            tracked.warmup.cancel()
        tracked.warmup = None

    # -- helpers ----------------------------------------------------------------------------------

    def _attr(self, tracked: _Tracked, name: str) -> Any:
        return getattr(tracked.server, name, getattr(tracked.config, name))

    def _usable_counts(self) -> tuple[int, int]:
        """Usable (up, enabled, weight > 0) active and backup servers, as HAProxy counts
        ``srv_act``/``srv_bck``."""
        active = backups = 0
        for tracked in self._tracked:
            if self._attr(tracked, "disabled") or not self._attr(tracked, "weight"):
                continue
            up = getattr(tracked.server, "up", None)
            if not isinstance(up, bool):
                up = tracked.state is None or tracked.state.up
            if not up:
                continue
            if self._attr(tracked, "backup"):
                backups += 1
            else:
                active += 1
        return active, backups

    def _log(self, line: str) -> None:
        if self.log is not None:
            self.log(line)


# -- one check on the wire -------------------------------------------------------------------------


def _connect_error(reason: Failure) -> CheckResult:
    exc = reason.value
    if isinstance(exc, error.TimeoutError | error.UserError):
        return checks.timed_out(Stage.CONNECTING)
    if isinstance(exc, error.ConnectError):
        number = exc.osError if isinstance(exc.osError, int) else None
        if number is None:
            if isinstance(exc, error.ConnectionRefusedError):
                number = errno.ECONNREFUSED
            elif isinstance(exc, error.NoRouteError):
                number = errno.EHOSTUNREACH
            elif isinstance(exc, error.TCPTimedOutError):
                number = errno.ETIMEDOUT
        return checks.connect_failure(number, getattr(exc, "string", "") or str(exc))
    return checks.connect_failure(None, reason.getErrorMessage())


def _lost_errno(reason: Failure | None) -> int | None:
    """``None`` for a clean close, else the errno HAProxy would see (a reset, mostly)."""
    if reason is None or reason.check(error.ConnectionDone):
        return None
    exc = reason.value
    number = getattr(exc, "osError", None)
    return number if isinstance(number, int) else errno.ECONNRESET


class _CheckRun:
    """One check: connect, maybe handshake, maybe send and read, then report once."""

    def __init__(self, checker: HealthChecker, tracked: _Tracked) -> None:
        self.checker = checker
        self.tracked = tracked
        self.tls = tracked.config.check_ssl
        self.clock = checker._clock
        self.stage = Stage.CONNECTING
        self.started = self.clock.seconds()
        self.done = False
        self.protocol: _CheckProtocol | None = None
        self.connector: Any = None
        self.connecting = True  # until connected or failed: stopConnecting() may be called
        httpchk = checker.backend.httpchk
        self.exchange = checks.HttpCheckExchange(httpchk) if httpchk is not None else None
        backend = checker.backend
        connect, self.after_connect = checks.check_timeouts(
            tracked.config, backend.timeouts.connect, backend.check_timeout
        )
        self.timer: IDelayedCall | None = self.clock.callLater(connect, self.expired)
        self.connect_timeout = connect

    def begin(self) -> None:
        config = self.tracked.config
        host = config.address.host or "127.0.0.1"
        port = config.check_port or config.address.port
        factory = _CheckFactory(self)
        # Twisted's own connect timeout is a backstop: the run's timer decides.
        timeout = self.connect_timeout + 1.0
        if self.tls:
            try:
                creator = server_tls_options(config.tls or _NO_VERIFY, host, None)
            except TlsFileError as exc:
                self.finish(CheckResult("SOCKERR", info=str(exc)))
                return
            # TLS over TCP by hand rather than connectSSL: the TLS layer's write batching then
            # runs on this checker's reactor, not on the global one.
            wrapper = TLSMemoryBIOFactory(creator, True, factory, clock=self.clock)
            self.connector = self.checker._tcp.connectTCP(host, port, wrapper, timeout=timeout)
        else:
            self.connector = self.checker._tcp.connectTCP(host, port, factory, timeout=timeout)

    # -- events -----------------------------------------------------------------------------------

    def connection_made(self, protocol: _CheckProtocol) -> None:
        self.connecting = False
        if self.done:
            _close(protocol, abort=True)
            return
        self.protocol = protocol
        if self.tls:
            self.stage = Stage.HANDSHAKE
        else:
            self.established()

    def handshake_done(self) -> None:
        if not self.done and self.stage is Stage.HANDSHAKE:
            self.established()

    def established(self) -> None:
        self.stage = Stage.EXCHANGE
        if self.after_connect is not None:
            if self.timer is not None and self.timer.active():
                self.timer.cancel()
            self.timer = self.clock.callLater(self.after_connect, self.expired)
        if self.exchange is None:
            self.finish(checks.connected(self.tls))
            return
        assert self.protocol is not None and self.protocol.transport is not None
        self.protocol.transport.write(self.checker._request)

    def data(self, data: bytes) -> None:
        if self.done or self.exchange is None or self.stage is not Stage.EXCHANGE:
            return
        result = self.exchange.feed(data)
        if result is not None:
            self.finish(result)

    def lost(self, reason: Failure | None) -> None:
        self.protocol = None
        if self.done:
            return
        if self.stage is Stage.HANDSHAKE:
            if reason is not None and reason.check(SSL.Error):
                self.finish(checks.tls_failure())
            elif _lost_errno(reason) is None:
                self.finish(checks.tls_failure(checks.SSL_CLOSED_IN_HANDSHAKE))
            else:
                self.finish(checks.tls_failure(checks.SSL_ERROR_IN_HANDSHAKE))
            return
        if self.exchange is not None:
            self.finish(self.exchange.closed(_lost_errno(reason)))
        else:
            self.finish(checks.socket_error(_lost_errno(reason)))

    def connect_failed(self, reason: Failure) -> None:
        self.connecting = False
        if not self.done:
            self.finish(_connect_error(reason))

    def expired(self) -> None:
        self.timer = None
        if not self.done:
            self.finish(checks.timed_out(self.stage), abort=True)

    # -- ending -----------------------------------------------------------------------------------

    def finish(self, result: CheckResult, abort: bool = False) -> None:
        self.done = True
        self._release(abort)
        self.checker._finished(self.tracked, result, self.started)

    def abandon(self) -> None:
        """The checker stops: drop the check without a result."""
        self.done = True
        self._release(abort=True)

    def _release(self, abort: bool) -> None:
        if self.timer is not None and self.timer.active():
            self.timer.cancel()
        self.timer = None
        protocol = self.protocol
        if protocol is not None:
            self.protocol = None
            _close(protocol, abort)
        elif self.connecting and self.connector is not None:
            self.connecting = False
            self.connector.stopConnecting()


def _close(protocol: Protocol, abort: bool) -> None:
    transport: Any = protocol.transport
    if transport is None:
        return
    if abort:
        transport.abortConnection()
    else:
        transport.loseConnection()


@implementer(IHandshakeListener)
class _CheckProtocol(Protocol):
    def __init__(self, run: _CheckRun) -> None:
        self.run = run

    def connectionMade(self) -> None:
        self.run.connection_made(self)

    def handshakeCompleted(self) -> None:
        self.run.handshake_done()

    def dataReceived(self, data: bytes) -> None:
        self.run.data(data)

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self.run.lost(reason)


class _CheckFactory(ClientFactory):
    noisy = False

    def __init__(self, run: _CheckRun) -> None:
        self.run = run

    def buildProtocol(self, addr: IAddress | None) -> _CheckProtocol:
        protocol = _CheckProtocol(self.run)
        protocol.factory = self
        return protocol

    def clientConnectionFailed(self, connector: Any, reason: Failure) -> None:
        self.run.connect_failed(reason)
