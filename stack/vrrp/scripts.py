"""What the VRRP tier runs: ``vrrp_script`` checks and ``notify`` scripts, as keepalived does.

A ``vrrp_script`` runs every ``interval`` seconds; exit status 0 within ``timeout`` is success,
anything else (a non-zero status, a signal, a timeout, a missing program) is failure. stack's
built-in ``check = edge balancer`` replaces seed 004's ``killall -0 apache2``: instead of asking
whether a process exists, it asks whether every address the named tiers listen on accepts a
TCP connection, which is what clients need, and it works the same whether those tiers run in
this process or in another (``--tier``). Results go to the trackers, which apply rise/fall and
weights (:mod:`stack.vrrp.tracking`).
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import pwd
import shutil
from collections.abc import Callable, Sequence
from typing import Any

from twisted.internet import defer, error, protocol
from twisted.internet.endpoints import HostnameEndpoint, TCP4ClientEndpoint, TCP6ClientEndpoint
from twisted.internet.task import LoopingCall
from twisted.logger import Logger
from twisted.python.failure import Failure

from stack.config.model import Endpoint, StackConfig, VrrpScript

_log = Logger()

Probe = Callable[[], "defer.Deferred[bool]"]


class _Discard(protocol.ProcessProtocol):
    """Reads and drops a script's output; fires ``done`` with whether it exited 0."""

    def __init__(self) -> None:
        self.done: defer.Deferred[bool] = defer.Deferred()

    def processEnded(self, reason: Failure) -> None:
        self.done.callback(isinstance(reason.value, error.ProcessDone))


def _user_ids(user: str | None) -> tuple[int | None, int | None]:
    """The uid/gid to run as: ``user`` when we may switch to it (running as root), else ours."""
    if user is None or os.getuid() != 0:
        return None, None
    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        raise OSError(f"user {user!r} does not exist on this host") from None
    return entry.pw_uid, entry.pw_gid


class CommandProbe:
    """Runs ``argv`` (no shell, like keepalived) and answers whether it exited 0 in time."""

    def __init__(
        self, argv: Sequence[str], timeout: float, reactor: Any, user: str | None = None
    ) -> None:
        self.argv = list(argv)
        self.timeout = timeout
        self.reactor = reactor
        self.uid, self.gid = _user_ids(user)
        self.executable = _resolve(self.argv[0])

    def __call__(self) -> defer.Deferred[bool]:
        if self.executable is None:
            return defer.succeed(False)
        proc = _Discard()
        try:
            transport = self.reactor.spawnProcess(
                proc,
                self.executable,
                self.argv,
                env=os.environ.copy(),
                uid=self.uid,
                gid=self.gid,
                childFDs={0: "w", 1: "r", 2: "r"},
            )
        except OSError as exc:  # posix_spawn reports exec failures here (a bad #! line)
            _log.error("cannot run {program}: {error}", program=self.executable, error=exc)
            return defer.succeed(False)
        transport.closeStdin()

        def overdue() -> None:
            with contextlib.suppress(error.ProcessExitedAlready):
                transport.signalProcess("KILL")

        timer = self.reactor.callLater(self.timeout, overdue)

        def finished(ok: bool) -> bool:
            expired = not timer.active()
            if not expired:
                timer.cancel()
            return ok and not expired

        return proc.done.addCallback(finished)


def _resolve(program: str) -> str | None:
    """The program's path: absolute as written, else looked up on PATH as keepalived does."""
    if os.path.isabs(program):
        return program if os.access(program, os.X_OK) else None
    return shutil.which(program)


class ListenerProbe:
    """The built-in check: every address the named tiers listen on accepts a TCP connection."""

    def __init__(self, endpoints: Sequence[Endpoint], timeout: float, reactor: Any) -> None:
        self.endpoints = [_reachable(e) for e in endpoints]
        self.timeout = timeout
        self.reactor = reactor

    def __call__(self) -> defer.Deferred[bool]:
        attempts = [self._connect(host, port) for host, port in self.endpoints]
        results = defer.gatherResults(attempts)
        return results.addCallback(all)

    def _connect(self, host: str, port: int) -> defer.Deferred[bool]:
        endpoint: Any
        try:
            literal = ipaddress.ip_address(host)
        except ValueError:  # a name: resolved each time, as the tier that binds it does
            endpoint = HostnameEndpoint(self.reactor, host, port, timeout=self.timeout)
        else:  # no resolver round trip and no attempt delay for an address
            kind = TCP4ClientEndpoint if literal.version == 4 else TCP6ClientEndpoint
            endpoint = kind(self.reactor, host, port, timeout=self.timeout)
        connecting = endpoint.connect(protocol.Factory.forProtocol(protocol.Protocol))

        def connected(proto: protocol.Protocol) -> bool:
            assert proto.transport is not None
            proto.transport.loseConnection()
            return True

        return connecting.addCallbacks(connected, lambda _failure: False)


def _reachable(endpoint: Endpoint) -> tuple[str, int]:
    """Where to connect to reach a bind: a wildcard bind is reached on loopback."""
    if endpoint.host in ("", "0.0.0.0", "*"):
        return "127.0.0.1", endpoint.port
    if endpoint.host == "::":
        return "::1", endpoint.port
    return endpoint.host, endpoint.port


def tier_endpoints(config: StackConfig, tiers: Sequence[str]) -> list[Endpoint]:
    """Every address the named tiers of ``config`` listen on."""
    found: list[Endpoint] = []
    if "edge" in tiers:
        for edge in config.edges:
            found.extend(edge.binds)
            found.extend(edge.redirect_binds)
    if "balancer" in tiers:
        for frontend in config.frontends:
            found.extend(frontend.binds)
    return found


class ScriptCheck:
    """One ``[vrrp_script]``: run every ``interval``, one run at a time, results to ``report``.

    keepalived runs each script once however many instances track it; so does this.
    """

    def __init__(
        self,
        script: VrrpScript,
        probe: Probe,
        report: Callable[[str, bool], None],
        reactor: Any,
    ) -> None:
        self.script = script
        self.probe = probe
        self.report = report
        self.running = False
        self.last: bool | None = None
        self._loop = LoopingCall(self._run)
        self._loop.clock = reactor

    def start(self) -> None:
        self._loop.start(self.script.interval, now=True)

    def stop(self) -> None:
        if self._loop.running:
            self._loop.stop()

    def _run(self) -> None:
        if self.running:
            return  # still waiting on the previous run: keepalived skips, so do we
        self.running = True
        # maybeDeferred: a probe that raises is a failed run, not the end of the loop.
        defer.maybeDeferred(self.probe).addBoth(self._done)

    def _done(self, result: bool | Failure) -> None:
        self.running = False
        if not self._loop.running:
            return  # stopped while this run was under way: nobody tracks it any more
        ok = result is True
        if isinstance(result, Failure):
            _log.failure("vrrp_script {name} could not run", result, name=self.script.name)
        if ok != self.last:
            _log.info(
                "VRRP_Script({name}) {state}",
                name=self.script.name,
                state="succeeded" if ok else "failed",
            )
        self.last = ok
        self.report(self.script.name, ok)


def probe_for(script: VrrpScript, config: StackConfig, reactor: Any) -> Probe:
    """The probe a ``[vrrp_script]`` describes: its command, or the built-in listener check."""
    timeout = script.timeout if script.timeout is not None else script.interval
    if script.check:
        return ListenerProbe(tier_endpoints(config, script.check), timeout, reactor)
    probe = CommandProbe(script.command, timeout, reactor, script.user)
    if probe.executable is None:
        _log.error(
            "vrrp_script {name}: {program} is not an executable file (not found on PATH); "
            "the script counts as failing",
            name=script.name,
            program=script.command[0],
        )
    return probe


def run_notify(argv: Sequence[str], extra: Sequence[str], reactor: Any) -> None:
    """Start a ``notify*`` script and forget it, as keepalived does (its status is logged)."""
    program = _resolve(argv[0])
    if program is None:
        _log.error("notify script {program} is not an executable file", program=argv[0])
        return
    proc = _Discard()
    try:
        transport = reactor.spawnProcess(
            proc, program, [*argv, *extra], env=os.environ.copy(), childFDs={0: "w", 1: "r", 2: "r"}
        )
    except OSError as exc:  # never into the state machine's transition that notifies
        _log.error("cannot run notify script {program}: {error}", program=program, error=exc)
        return
    transport.closeStdin()

    def ended(ok: bool) -> None:
        if not ok:
            _log.warn("notify script {argv} did not exit 0", argv=" ".join([*argv, *extra]))

    proc.done.addCallback(ended)
