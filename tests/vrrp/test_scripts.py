"""What the VRRP tier runs: ``vrrp_script`` probes, their schedule, and ``notify`` scripts.

Processes are spawned on a fake reactor (a ``Clock`` that records ``spawnProcess`` and lets the
test end each process as it likes), so exit statuses, signals and timeouts are exact and no
test waits. The built-in listener check connects through a memory reactor to see where it
connects, and through a real reactor on loopback to see what accepting and refusing mean.
"""

from __future__ import annotations

import os
import socket
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from twisted.internet import address, defer, error
from twisted.internet.interfaces import IHostnameResolver, IHostResolution, IResolutionReceiver
from twisted.internet.protocol import ProcessProtocol
from twisted.internet.task import Clock
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.logger import Logger, LogLevel, formatEvent
from twisted.python.failure import Failure
from zope.interface import implementer

from stack.config import load
from stack.config.model import Endpoint, VrrpScript
from stack.reactor import StackReactor
from stack.vrrp import scripts
from stack.vrrp.scripts import (
    CommandProbe,
    ListenerProbe,
    ScriptCheck,
    probe_for,
    run_notify,
    tier_endpoints,
)

CHILD_FDS = {0: "w", 1: "r", 2: "r"}

# --- a reactor that spawns nothing -------------------------------------------------------------


class FakeProcess:
    """The process transport: records signals; the test ends the process with :meth:`end`."""

    def __init__(self, protocol: ProcessProtocol) -> None:
        self.protocol = protocol
        self.signals: list[str] = []
        self.stdin_closed = False
        self.gone = False  # exited, whether or not processEnded was delivered yet

    def closeStdin(self) -> None:
        self.stdin_closed = True

    def signalProcess(self, signal: str) -> None:
        if self.gone:
            raise error.ProcessExitedAlready()
        self.signals.append(signal)

    def end(self, code: int = 0, signal: int | None = None) -> None:
        self.gone = True
        reason: Exception
        if code == 0 and signal is None:
            reason = error.ProcessDone(0)
        else:
            reason = error.ProcessTerminated(code if signal is None else None, signal)
        self.protocol.processEnded(Failure(reason))


@dataclass
class Spawned:
    executable: str
    args: list[str]
    env: dict[str, str]
    uid: int | None
    gid: int | None
    child_fds: dict[int, str]
    process: FakeProcess


class ProcessReactor(Clock):
    """``Clock`` plus ``spawnProcess`` as :mod:`stack.vrrp.scripts` calls it."""

    def __init__(self, refuse: OSError | None = None) -> None:
        super().__init__()
        self.spawned: list[Spawned] = []
        self.refuse = refuse

    def spawnProcess(
        self,
        protocol: ProcessProtocol,
        executable: str,
        args: list[str],
        env: dict[str, str],
        uid: int | None = None,
        gid: int | None = None,
        childFDs: dict[int, str] | None = None,
    ) -> FakeProcess:
        if self.refuse is not None:
            raise self.refuse
        process = FakeProcess(protocol)
        protocol.makeConnection(process)  # type: ignore[arg-type]
        self.spawned.append(
            Spawned(executable, list(args), env, uid, gid, dict(childFDs or {}), process)
        )
        return process


def results(d: defer.Deferred[bool]) -> list[object]:
    """What ``d`` fired with so far (empty: not yet)."""
    fired: list[object] = []
    d.addBoth(fired.append)
    return fired


Logged = list[tuple[LogLevel, str]]


@pytest.fixture
def logged(monkeypatch: pytest.MonkeyPatch) -> Logged:
    """The scripts module's log events as (level, text), appended as they happen."""
    seen: Logged = []

    def observe(event: dict[str, Any]) -> None:
        seen.append((event["log_level"], formatEvent(event)))

    monkeypatch.setattr(scripts, "_log", Logger(observer=observe))
    return seen


def texts(logged: Logged) -> list[str]:
    return [text for _, text in logged]


@pytest.fixture
def program(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An executable ``chk`` in a directory that is alone on PATH."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    path = bin_dir / "chk"
    path.write_text("#!/bin/sh\nexit 0\n")
    path.chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))
    return path


# --- CommandProbe ------------------------------------------------------------------------------


def test_command_probe_runs_the_program_found_on_path(
    program: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(os, "getuid", lambda: 1000)  # not root: no user switch
    reactor = ProcessReactor()
    probe = CommandProbe(["chk", "--quick", "a b"], 2.0, reactor, user="nobody")
    assert probe.executable == str(program)

    outcome = results(probe())

    [spawned] = reactor.spawned
    assert spawned.executable == str(program)
    assert spawned.args == ["chk", "--quick", "a b"]  # no shell: words stay whole
    assert (spawned.uid, spawned.gid) == (None, None)
    assert spawned.child_fds == CHILD_FDS
    assert spawned.env["PATH"] == os.environ["PATH"]
    assert spawned.process.stdin_closed
    assert outcome == []  # until the process ends
    spawned.process.end(0)
    assert outcome == [True]
    assert reactor.getDelayedCalls() == []  # the timeout is cancelled


def test_command_probe_runs_as_the_script_user_when_root(
    program: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(os, "getuid", lambda: 0)
    import pwd

    nobody = pwd.getpwnam("nobody")
    reactor = ProcessReactor()
    probe = CommandProbe([str(program)], 2.0, reactor, user="nobody")
    probe()
    [spawned] = reactor.spawned
    assert (spawned.uid, spawned.gid) == (nobody.pw_uid, nobody.pw_gid)
    assert spawned.executable == str(program)  # an absolute path is taken as written


@pytest.mark.parametrize(
    ("code", "signal", "ok"),
    [(0, None, True), (1, None, False), (127, None, False), (None, 15, False)],
)
def test_only_exit_status_0_is_success(
    program: Path, code: int | None, signal: int | None, ok: bool
) -> None:
    reactor = ProcessReactor()
    outcome = results(CommandProbe(["chk"], 2.0, reactor)())
    reactor.spawned[0].process.end(code or 0, signal)
    assert outcome == [ok]


def test_a_run_past_its_timeout_is_killed_and_fails(program: Path) -> None:
    reactor = ProcessReactor()
    outcome = results(CommandProbe(["chk"], 0.5, reactor)())
    process = reactor.spawned[0].process
    reactor.advance(0.49)
    assert process.signals == []
    reactor.advance(0.01)
    assert process.signals == ["KILL"]
    assert outcome == []
    process.end(0)  # it exited 0 anyway, after the deadline
    assert outcome == [False]


def test_a_process_that_exits_as_the_timeout_fires_still_fails(program: Path) -> None:
    reactor = ProcessReactor()
    outcome = results(CommandProbe(["chk"], 0.5, reactor)())
    process = reactor.spawned[0].process
    process.gone = True  # exited, but processEnded not delivered yet: the kill finds nobody
    reactor.advance(0.5)
    assert process.signals == []
    process.end(0)
    assert outcome == [False]


def test_a_missing_program_fails_without_spawning(tmp_path: Path, program: Path) -> None:
    plain = tmp_path / "not-executable"
    plain.write_text("#!/bin/sh\n")
    plain.chmod(0o644)
    reactor = ProcessReactor()
    for argv in (["no-such-check"], [str(tmp_path / "absent")], [str(plain)]):
        probe = CommandProbe(argv, 1.0, reactor)
        assert probe.executable is None
        assert results(probe()) == [False]
    assert reactor.spawned == []


def test_a_program_the_kernel_cannot_start_fails(program: Path, logged: Logged) -> None:
    """posix_spawn reports exec errors (a ``#!`` naming a missing interpreter) in the parent."""
    reactor = ProcessReactor(refuse=FileNotFoundError(2, "No such file or directory"))
    assert results(CommandProbe(["chk"], 1.0, reactor)()) == [False]
    assert reactor.getDelayedCalls() == []
    assert texts(logged) == [f"cannot run {program}: [Errno 2] No such file or directory"]


# --- ListenerProbe and the endpoints it checks -------------------------------------------------


@implementer(IHostResolution)
class Resolution:
    def __init__(self, name: str) -> None:
        self.name = name

    def cancel(self) -> None:
        raise AssertionError("resolved at once: nothing to cancel")


@implementer(IHostnameResolver)
class LiteralResolver:
    """Resolves an IP literal to itself at once, as getaddrinfo does (it never looks one up)."""

    def resolveHostName(
        self,
        resolutionReceiver: IResolutionReceiver,
        hostName: str,
        portNumber: int = 0,
        addressTypes: object = None,
        transportSemantics: str = "TCP",
    ) -> IHostResolution:
        resolution = Resolution(hostName)
        resolutionReceiver.resolutionBegan(resolution)
        kind = address.IPv6Address if ":" in hostName else address.IPv4Address
        resolutionReceiver.addressResolved(kind("TCP", hostName, portNumber))
        resolutionReceiver.resolutionComplete()
        return resolution


def memory_reactor() -> MemoryReactorClock:
    reactor = MemoryReactorClock()
    reactor.installNameResolver(LiteralResolver())
    return reactor


def test_listener_probe_connects_where_each_bind_is_reached() -> None:
    reactor = memory_reactor()
    endpoints = [
        Endpoint("0.0.0.0", 443),
        Endpoint("", 80),
        Endpoint("::", 8443),
        Endpoint("127.0.0.1", 8081),
        Endpoint("10.77.0.100", 444),
    ]
    ListenerProbe(endpoints, 1.5, reactor)()
    assert [(host, port) for host, port, *_ in reactor.tcpClients] == [
        ("127.0.0.1", 443),
        ("127.0.0.1", 80),
        ("::1", 8443),
        ("127.0.0.1", 8081),
        ("10.77.0.100", 444),
    ]
    assert {timeout for _, _, _, timeout, _ in reactor.tcpClients} == {1.5}


def test_listener_probe_needs_every_connection_to_succeed() -> None:
    reactor = memory_reactor()
    endpoints = [Endpoint("0.0.0.0", 443), Endpoint("127.0.0.1", 8081)]
    outcome = results(ListenerProbe(endpoints, 1.0, reactor)())
    first, second = reactor.tcpClients
    connect(first)
    assert outcome == []
    refuse(second, reactor)
    reactor.advance(1.0)  # the endpoint's next attempt finds no other address
    assert outcome == [False]

    outcome = results(ListenerProbe(endpoints, 1.0, reactor)())
    for attempt in reactor.tcpClients[2:]:
        connect(attempt)
    assert outcome == [True]


def connect(attempt: tuple[Any, ...]) -> None:
    host, port, factory = attempt[:3]
    protocol = factory.buildProtocol(address.IPv4Address("TCP", host, port))
    transport = StringTransport()
    protocol.makeConnection(transport)
    assert transport.disconnecting  # the check hangs up at once


def refuse(attempt: tuple[Any, ...], reactor: MemoryReactorClock) -> None:
    factory = attempt[2]
    connector = reactor.connectors[reactor.tcpClients.index(attempt)]
    factory.clientConnectionFailed(connector, Failure(error.ConnectionRefusedError()))


@pytest.fixture
def live() -> Iterator[StackReactor]:
    """A real reactor, never installed, turned by hand; its thread pool resolves addresses."""
    reactor = StackReactor()
    pool = reactor.getThreadPool()
    pool.start()
    try:
        yield reactor
    finally:
        pool.stop()
        reactor.disconnectAll()


def settle(reactor: StackReactor, d: defer.Deferred[bool]) -> bool:
    fired = results(d)
    for _ in range(2000):
        if fired:
            break
        reactor.iterate(0.005)
    assert len(fired) == 1, "the probe never answered"
    assert isinstance(fired[0], bool)
    return fired[0]


def listening(host: str, family: socket.AddressFamily = socket.AF_INET) -> socket.socket:
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.bind((host, 0))
    sock.listen(8)
    return sock


def closed_port() -> socket.socket:
    """A port held (bound, not listening): connecting to it is refused."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    return sock


def test_listener_probe_on_loopback(live: StackReactor) -> None:
    wildcard = listening("0.0.0.0")
    local = listening("127.0.0.1")
    held = closed_port()
    try:
        reachable = [
            Endpoint("0.0.0.0", wildcard.getsockname()[1]),
            Endpoint("", local.getsockname()[1]),  # HAProxy's '*' reaches 127.0.0.1 too
            Endpoint("127.0.0.1", local.getsockname()[1]),
        ]
        assert settle(live, ListenerProbe(reachable, 5.0, live)()) is True
        refused = [*reachable, Endpoint("127.0.0.1", held.getsockname()[1])]
        assert settle(live, ListenerProbe(refused, 5.0, live)()) is False
    finally:
        for sock in (wildcard, local, held):
            sock.close()


def test_listener_probe_reaches_an_ipv6_wildcard_on_ipv6_loopback(live: StackReactor) -> None:
    if not socket.has_ipv6 or not Path("/proc/net/if_inet6").read_text().strip():
        pytest.skip("no IPv6 on this host")
    sock = listening("::", socket.AF_INET6)
    try:
        endpoint = Endpoint("::", sock.getsockname()[1])
        assert settle(live, ListenerProbe([endpoint], 5.0, live)()) is True
    finally:
        sock.close()


TIERS_INI = """\
[edge www]
bind = 0.0.0.0:443
redirect-bind =
    0.0.0.0:80
    127.0.0.1:8080
certificate = auto
proxy-pass = / web

[edge admin]
bind = 127.0.0.1:8443
certificate = auto
proxy-pass = / web

[frontend web]
bind =
    127.0.0.1:8081
    [::1]:8082
default_backend = app

[backend app]
server web1 = 10.77.0.21:80

[vrrp_script chk]
check = edge balancer

[vrrp_instance v]
interface = eth0
virtual_router_id = 51
virtual_ipaddress =
    10.77.0.100/24
track_script =
    chk
"""


def test_tier_endpoints_are_the_edge_and_redirect_binds_and_the_frontend_binds(
    tmp_path: Path,
) -> None:
    path = tmp_path / "stack.ini"
    path.write_text(TIERS_INI)
    config = load(str(path))
    edge = [
        Endpoint("0.0.0.0", 443),
        Endpoint("0.0.0.0", 80),
        Endpoint("127.0.0.1", 8080),
        Endpoint("127.0.0.1", 8443),
    ]
    balancer = [Endpoint("127.0.0.1", 8081), Endpoint("::1", 8082)]
    assert tier_endpoints(config, ["edge"]) == edge
    assert tier_endpoints(config, ["balancer"]) == balancer
    assert tier_endpoints(config, ["edge", "balancer"]) == edge + balancer
    assert tier_endpoints(config, []) == []

    probe = probe_for(config.vrrp_scripts[0], config, memory_reactor())
    assert isinstance(probe, ListenerProbe)
    assert probe.endpoints == [
        ("127.0.0.1", 443),
        ("127.0.0.1", 80),
        ("127.0.0.1", 8080),
        ("127.0.0.1", 8443),
        ("127.0.0.1", 8081),
        ("::1", 8082),
    ]
    assert probe.timeout == config.vrrp_scripts[0].interval  # no timeout: the interval


def test_probe_for_a_script_runs_its_command(program: Path, logged: Logged, tmp_path: Path) -> None:
    reactor = ProcessReactor()
    config = load_minimal(tmp_path)
    script = VrrpScript("chk_cmd", command=("chk", "-q"), interval=2.0, timeout=0.5)
    probe = probe_for(script, config, reactor)
    assert isinstance(probe, CommandProbe)
    assert (probe.argv, probe.timeout, probe.executable) == (["chk", "-q"], 0.5, str(program))
    assert texts(logged) == []

    missing = VrrpScript("chk_gone", command=("killall", "-0", "apache2"), interval=2.0)
    probe = probe_for(missing, config, reactor)
    assert isinstance(probe, CommandProbe)
    assert probe.timeout == 2.0
    assert texts(logged) == [
        "vrrp_script chk_gone: killall is not an executable file (not found on PATH); "
        "the script counts as failing"
    ]


def load_minimal(tmp_path: Path) -> Any:
    path = tmp_path / "vrrp.ini"
    path.write_text(
        "[vrrp_instance v]\ninterface = eth0\nvirtual_router_id = 51\n"
        "virtual_ipaddress =\n    10.77.0.100/24\n"
    )
    return load(str(path))


# --- ScriptCheck -------------------------------------------------------------------------------


class ManualProbe:
    """A probe whose every run the test answers by hand."""

    def __init__(self) -> None:
        self.runs: list[defer.Deferred[bool]] = []

    def __call__(self) -> defer.Deferred[bool]:
        run: defer.Deferred[bool] = defer.Deferred()
        self.runs.append(run)
        return run


def check(
    probe: Callable[[], defer.Deferred[bool]], interval: float = 2.0
) -> tuple[ScriptCheck, Clock, list[tuple[str, bool]]]:
    clock = Clock()
    reports: list[tuple[str, bool]] = []
    script = VrrpScript("chk", command=("chk",), interval=interval)
    return ScriptCheck(script, probe, lambda n, ok: reports.append((n, ok)), clock), clock, reports


def test_a_check_runs_at_start_and_every_interval() -> None:
    probe = ManualProbe()
    chk, clock, reports = check(probe)
    chk.start()
    assert len(probe.runs) == 1  # at once, not after the first interval
    probe.runs[0].callback(True)
    assert reports == [("chk", True)]
    clock.advance(1.9)
    assert len(probe.runs) == 1
    clock.advance(0.1)
    assert len(probe.runs) == 2
    probe.runs[1].callback(False)
    clock.advance(2.0)
    probe.runs[2].callback(False)
    assert reports == [("chk", True), ("chk", False), ("chk", False)]  # every result


def test_a_check_never_runs_twice_at_once() -> None:
    probe = ManualProbe()
    chk, clock, reports = check(probe)
    chk.start()
    clock.advance(2.0)
    clock.advance(2.0)
    assert len(probe.runs) == 1  # still waiting on the first: those turns are skipped
    assert chk.running
    probe.runs[0].callback(True)
    assert not chk.running
    assert len(probe.runs) == 1  # the next run waits for its turn
    clock.advance(2.0)
    assert len(probe.runs) == 2
    assert reports == [("chk", True)]


def test_stop_ends_the_schedule_and_drops_a_late_result() -> None:
    probe = ManualProbe()
    chk, clock, reports = check(probe)
    chk.start()
    probe.runs[0].callback(True)
    clock.advance(2.0)
    chk.stop()
    chk.stop()  # twice is fine
    probe.runs[1].callback(False)  # the run under way when it stopped
    clock.advance(20.0)
    assert len(probe.runs) == 2
    assert reports == [("chk", True)]
    assert clock.getDelayedCalls() == []


def test_a_probe_that_raises_or_errs_is_a_failed_run_and_the_check_goes_on() -> None:
    calls: list[int] = []

    def broken() -> defer.Deferred[bool]:
        calls.append(1)
        if len(calls) == 1:
            raise OSError("fork failed")
        if len(calls) == 2:
            return defer.fail(RuntimeError("probe bug"))
        return defer.succeed(True)

    chk, clock, reports = check(broken)
    chk.start()
    clock.advance(2.0)
    clock.advance(2.0)
    assert reports == [("chk", False), ("chk", False), ("chk", True)]
    assert not chk.running


def test_a_check_logs_only_changes(logged: Logged) -> None:
    probe = ManualProbe()
    chk, clock, _ = check(probe)
    chk.start()
    for ok in (True, True, False, False, True):
        probe.runs[-1].callback(ok)
        clock.advance(2.0)
    assert texts(logged) == [
        "VRRP_Script(chk) succeeded",
        "VRRP_Script(chk) failed",
        "VRRP_Script(chk) succeeded",
    ]


def test_a_real_command_probe_on_a_schedule(program: Path) -> None:
    """CommandProbe and ScriptCheck together: each spawn's exit becomes one report."""
    reactor = ProcessReactor()
    probe = CommandProbe(["chk"], 1.0, reactor)
    reports: list[tuple[str, bool]] = []
    script = VrrpScript("chk", command=("chk",), interval=2.0, timeout=1.0)
    chk = ScriptCheck(script, probe, lambda n, ok: reports.append((n, ok)), reactor)
    chk.start()
    reactor.spawned[0].process.end(0)
    reactor.advance(2.0)
    reactor.advance(1.0)  # the second run times out
    assert reactor.spawned[1].process.signals == ["KILL"]
    reactor.spawned[1].process.end(signal=9)
    assert reports == [("chk", True), ("chk", False)]


# --- notify scripts ----------------------------------------------------------------------------


def test_notify_appends_its_arguments(program: Path, logged: Logged) -> None:
    reactor = ProcessReactor()
    run_notify(["chk", "--from", "stack"], ("INSTANCE", "v", "MASTER", "150"), reactor)
    [spawned] = reactor.spawned
    assert spawned.executable == str(program)
    assert spawned.args == ["chk", "--from", "stack", "INSTANCE", "v", "MASTER", "150"]
    assert spawned.child_fds == CHILD_FDS
    assert spawned.process.stdin_closed
    spawned.process.end(0)
    assert texts(logged) == []
    assert reactor.getDelayedCalls() == []  # fire and forget: no timeout


def test_notify_that_fails_is_logged(program: Path, logged: Logged) -> None:
    reactor = ProcessReactor()
    run_notify(["chk"], ("INSTANCE", "v", "FAULT", "100"), reactor)
    reactor.spawned[0].process.end(3)
    assert list(logged) == [
        (LogLevel.warn, "notify script chk INSTANCE v FAULT 100 did not exit 0")
    ]


def test_notify_that_cannot_run_is_logged_not_raised(
    tmp_path: Path, program: Path, logged: Logged
) -> None:
    reactor = ProcessReactor()
    run_notify([str(tmp_path / "gone.sh")], ("INSTANCE", "v", "BACKUP", "100"), reactor)
    assert reactor.spawned == []
    refusing = ProcessReactor(refuse=FileNotFoundError(2, "No such file or directory"))
    run_notify(["chk"], ("INSTANCE", "v", "BACKUP", "100"), refusing)  # a bad #! line
    assert list(logged) == [
        (LogLevel.error, f"notify script {tmp_path / 'gone.sh'} is not an executable file"),
        (
            LogLevel.error,
            f"cannot run notify script {program}: [Errno 2] No such file or directory",
        ),
    ]


def test_helpers_resolve_like_keepalived(tmp_path: Path, program: Path) -> None:
    """An absolute path is used as written if executable; a bare name is looked up on PATH."""
    assert scripts._resolve("chk") == str(program)
    assert scripts._resolve(str(program)) == str(program)
    program.chmod(stat.S_IRUSR)
    assert scripts._resolve(str(program)) is None
    assert scripts._resolve("chk") is None
