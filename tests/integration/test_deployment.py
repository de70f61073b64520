"""The deployment files (``etc/systemd/``, ``etc/logrotate.d/stack``) and what they rely on.

The unit files are read as systemd reads them (``configparser``, no interpolation) and checked
for what docs/deployment.md promises: each runs ``twistd -n stack`` with its tier, reloads with
SIGHUP, stops within more than ``hard-stop-after``, and the VRRP unit holds exactly its two
capabilities. ``systemd-analyze verify`` checks them too where it is installed.

Then the two ways the units drop privileges are run for real:

* twistd ``--uid nobody --gid nogroup`` started as root: the edge binds a port below 1024 first,
  serves as nobody, and reopens its access log on SIGUSR1 (logrotate's postrotate);
* ``setpriv`` starting the VRRP tier as nobody with CAP_NET_ADMIN and CAP_NET_RAW as ambient
  capabilities, the bounding set narrowed to them and no_new_privs, in a network namespace:
  exactly the process ``stack-vrrp.service`` (User=, AmbientCapabilities=, NoNewPrivileges=)
  makes.
"""

from __future__ import annotations

import configparser
import http.client
import ipaddress
import os
import re
import shlex
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import ROOT, TWISTD, free_port, wait_for, wait_port
from cryptography import x509
from origin import Origin
from pki import issue, make_ca
from system import require_system

pytestmark = pytest.mark.integration

UNITS = ROOT / "etc" / "systemd"
LOGROTATE = ROOT / "etc" / "logrotate.d" / "stack"
TIERS = {
    "stack-edge.service": ["edge"],
    "stack-balancer.service": ["balancer"],
    "stack-vrrp.service": ["vrrp"],
    "stack.service": [],  # every tier the file describes
}
HARD_STOP_AFTER = 30.0
NOBODY = 65534
CAP_NET_ADMIN, CAP_NET_RAW = 12, 13


# --- the unit files ----------------------------------------------------------------------------


def read_unit(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    parser.read(path)
    return parser


def seconds(value: str) -> float:
    """A systemd time span: ``45``, ``45s``, ``1min 30s``, ``2m``."""
    units = {"": 1, "s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "ms": 0.001}
    total = 0.0
    for number, unit in re.findall(r"(\d+(?:\.\d+)?)\s*([a-z]*)", value):
        total += float(number) * units[unit]
    return total


def tiers_of(exec_start: str) -> list[str]:
    argv = shlex.split(exec_start)
    assert Path(argv[0]).name == "twistd", argv
    assert "-n" in argv[: argv.index("stack")], argv  # foreground: systemd supervises it
    after = argv[argv.index("stack") + 1 :]
    assert after[after.index("-c") + 1] == "/etc/stack/stack.ini", argv
    return [after[i + 1] for i, word in enumerate(after) if word == "--tier"]


def test_the_units_are_all_there() -> None:
    assert sorted(p.name for p in UNITS.glob("*.service")) == sorted(TIERS)
    assert (UNITS / "stack.target").exists()


@pytest.mark.parametrize("name", sorted(TIERS))
def test_each_unit_runs_its_tier_reloads_on_hup_and_outlasts_hard_stop_after(name: str) -> None:
    service = read_unit(UNITS / name)["Service"]
    assert tiers_of(service["ExecStart"]) == TIERS[name]
    assert shlex.split(service["ExecReload"])[-2:] == ["-HUP", "$MAINPID"]
    assert service["KillSignal"] == "SIGTERM"
    assert seconds(service["TimeoutStopSec"]) > HARD_STOP_AFTER
    assert service["Restart"] == "on-failure"
    ambient = set(service.get("AmbientCapabilities", "").split())
    assert ambient <= set(service["CapabilityBoundingSet"].split())


def test_the_vrrp_unit_has_exactly_its_two_capabilities() -> None:
    unit = read_unit(UNITS / "stack-vrrp.service")
    service = unit["Service"]
    for key in ("AmbientCapabilities", "CapabilityBoundingSet"):
        assert sorted(service[key].split()) == ["CAP_NET_ADMIN", "CAP_NET_RAW"], key
    assert service["User"] != "root"
    # As keepalived.service relates to haproxy: after the tiers it checks, so stopped first.
    for other in ("stack-edge.service", "stack-balancer.service"):
        assert other in unit["Unit"]["After"].split()
        assert other in unit["Unit"]["Wants"].split()


def test_the_edge_binds_80_and_443_unprivileged() -> None:
    service = read_unit(UNITS / "stack-edge.service")["Service"]
    assert service["AmbientCapabilities"].split() == ["CAP_NET_BIND_SERVICE"]
    assert service["User"] != "root"


def test_the_per_tier_units_and_the_all_in_one_exclude_each_other() -> None:
    everything = read_unit(UNITS / "stack.service")["Unit"]["Conflicts"].split()
    for name in TIERS:
        if name != "stack.service":
            assert read_unit(UNITS / name)["Unit"]["Conflicts"].split() == ["stack.service"]
            assert name in everything
            assert name in read_unit(UNITS / "stack.target")["Unit"]["Wants"].split()


def test_systemd_analyze_verifies_the_units(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        # Not a system requirement: CI's machine has no systemd-analyze, and the checks above
        # cover what the units must say.
        pytest.skip("systemd-analyze is not installed: the units are not verified by systemd")
    # verify insists that ExecStart's program exists: the venv's twistd stands in for Debian's.
    for path in UNITS.iterdir():
        text = path.read_text().replace("/usr/bin/twistd", TWISTD)
        (tmp_path / path.name).write_text(text)
    names = sorted(p.name for p in tmp_path.iterdir())
    done = subprocess.run(
        [analyze, "verify", "--man=no", *names],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = (done.stdout + done.stderr).strip()
    assert done.returncode == 0, output
    assert output == "", output  # an unknown key or a bad value is only a warning


def test_logrotate_rotates_the_edge_logs_and_signals_the_edge() -> None:
    text = LOGROTATE.read_text()
    assert text.startswith("#")
    assert "/var/log/stack/*.log {" in text
    body = text[text.index("{") : text.rindex("}")]
    for directive in ("daily", "rotate 14", "compress", "delaycompress", "missingok"):
        assert re.search(rf"^\s*{directive}\s*$", body, re.M), directive
    assert re.search(r"^\s*create 640 \S+ \S+\s*$", body, re.M)
    postrotate = body[body.index("postrotate") : body.index("endscript")]
    assert "systemctl kill -s USR1 --kill-who=main" in postrotate
    for unit in ("stack-edge.service", "stack.service"):
        assert unit in postrotate
    # The paths docs/edge.md's example writes are the ones rotated.
    edge_doc = (ROOT / "docs" / "edge.md").read_text()
    documented = re.findall(r"^(?:access|error)-log = (\S+)", edge_doc, re.M)
    assert documented
    assert all(Path(p).parent == Path("/var/log/stack") for p in documented), documented


# --- twistd --uid: bind as root, serve as nobody, reopen the log on SIGUSR1 ----------------------


def require_root_and_nobody() -> None:
    if os.geteuid() != 0:
        require_system("needs root: twistd binds a port below 1024, then switches to nobody")
    for name, kind in (("nobody", "passwd"), ("nogroup", "group")):
        if subprocess.run(["getent", kind, name], capture_output=True).returncode != 0:
            require_system(f"needs the {kind} entry {name} (Debian's unprivileged user)")


def free_privileged_port(exclude: tuple[int, ...] = ()) -> int:
    """A port below 1024 nothing listens on at 127.0.0.1 (we are root)."""
    for port in range(1023, 600, -1):
        if port in exclude:
            continue
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            continue
        finally:
            s.close()
        return port
    raise AssertionError("no free port below 1024 on 127.0.0.1")


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """Under /tmp, not pytest's tmp_path (mode 700): nobody must create the log file here."""
    directory = Path(tempfile.mkdtemp(prefix="stack-deploy-", dir="/tmp"))
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def uids(pid: int) -> list[int]:
    status = Path(f"/proc/{pid}/status").read_text()
    found = re.search(r"^Uid:\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)$", status, re.M)
    assert found, status
    return [int(x) for x in found.groups()]


def stop(proc: subprocess.Popen[bytes], within: float = 10.0) -> float:
    """SIGTERM by pid; how long it took to exit (raises if longer than ``within``)."""
    started = time.monotonic()
    os.kill(proc.pid, signal.SIGTERM)
    proc.wait(within)
    return time.monotonic() - started


def end(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)


def get(port: int, target: str, ctx: ssl.SSLContext) -> int:
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=10)
    try:
        conn.request("GET", target, headers={"Host": "127.0.0.1"})
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


class EdgeAsNobody:
    """``twistd --uid nobody --gid nogroup`` started as root: the edge on two ports below 1024
    (443 and 80 stand-ins) in front of the balancer, files in ``directory``."""

    def __init__(self, directory: Path, edge_lines: str = "") -> None:
        require_root_and_nobody()
        os.chown(directory, NOBODY, NOBODY)
        directory.chmod(0o755)
        ca = make_ca("deployment test CA")
        leaf = issue(ca, "127.0.0.1", [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
        cert = directory / "edge.pem"
        cert.write_bytes(leaf.cert_pem() + leaf.key_pem())
        cert.chmod(0o600)  # root's: read before the switch, as a key in /etc/ssl/private is
        self.ctx = ssl.create_default_context(cadata=ca.cert_pem().decode())
        self.port = free_privileged_port()
        redirect_port = free_privileged_port(exclude=(self.port,))
        self.access = directory / "access.log"
        self.origin = Origin("o")
        config = directory / "stack.ini"
        config.write_text(f"""\
[global]
state-dir = {directory}

[defaults]
mode = http
timeout connect = 2s
timeout client = 10s
timeout server = 10s

[edge www]
bind = 127.0.0.1:{self.port}
redirect-bind = 127.0.0.1:{redirect_port}
server-name = 127.0.0.1
certificate = {cert}
proxy-pass = / web
access-log = {self.access}
{edge_lines}
[frontend web]
bind = 127.0.0.1:{free_port()}
default_backend = app

[backend app]
server s1 = 127.0.0.1:{self.origin.port}
""")
        self.output = directory / "twistd.out"
        command = [TWISTD, "-n", "--pidfile=", "--logfile=-", "--uid", "nobody"]
        command += ["--gid", "nogroup", "stack", "-c", str(config)]
        command += ["--tier", "edge", "--tier", "balancer"]
        with open(self.output, "wb") as out:
            self.proc = subprocess.Popen(
                command, cwd=directory, stdout=out, stderr=subprocess.STDOUT
            )
        try:
            wait_port(self.port, self.proc)
            wait_port(redirect_port, self.proc)
        except BaseException:
            self.end()
            raise

    def report(self) -> str:
        return self.output.read_text(errors="replace")

    def get(self, target: str) -> int:
        return get(self.port, target, self.ctx)

    def end(self) -> None:
        end(self.proc)
        self.origin.close()


def test_twistd_uid_binds_as_root_then_serves_and_reopens_logs_as_nobody(
    shared_dir: Path,
) -> None:
    stack = EdgeAsNobody(shared_dir)
    proc, access, report = stack.proc, stack.access, stack.report
    try:
        assert wait_for(lambda: uids(proc.pid) == [NOBODY] * 4), report()
        assert stack.get("/before") == 200, report()
        assert wait_for(lambda: access.exists() and "/before" in access.read_text()), report()

        rotated = shared_dir / "access.log.1"
        access.rename(rotated)  # what logrotate does, then postrotate's SIGUSR1
        os.kill(proc.pid, signal.SIGUSR1)
        assert wait_for(access.exists), report()
        assert access.stat().st_uid == NOBODY  # created again, by the process as nobody
        assert stack.get("/after") == 200, report()
        assert wait_for(lambda: "/after" in access.read_text()), report()
        assert "/before" not in access.read_text()
        assert "/after" not in rotated.read_text()
        assert "/before" in rotated.read_text()

        took = stop(proc)
        assert took < 10, report()
        assert "Server Shut Down." in report()
        assert "Traceback" not in report(), report()
    finally:
        stack.end()


def test_sigusr1_under_uid_leaves_an_unrotated_log_alone(shared_dir: Path) -> None:
    """logrotate's notifempty skips an empty error.log, yet its postrotate sends SIGUSR1."""
    error_log = shared_dir / "error.log"
    stack = EdgeAsNobody(shared_dir, f"error-log = {error_log}\n")
    try:
        assert wait_for(error_log.exists), stack.report()
        assert stack.get("/before") == 200, stack.report()
        stack.access.rename(shared_dir / "access.log.1")
        os.kill(stack.proc.pid, signal.SIGUSR1)
        assert wait_for(stack.access.exists), stack.report()
        assert stack.get("/after") == 200, stack.report()
        assert wait_for(lambda: "/after" in stack.access.read_text()), stack.report()
        stop(stack.proc)
        assert "Traceback" not in stack.report(), stack.report()
        assert "cannot open log file" not in stack.report(), stack.report()
    finally:
        stack.end()


# --- the VRRP unit's process: nobody with two ambient capabilities -------------------------------

VIP = "10.68.0.100/24"
VRRP_INI = """\
[vrrp_instance v]
state = BACKUP
interface = eth0
virtual_router_id = 68
priority = 150
advert_int = 0.1
version = 3
virtual_ipaddress =
    10.68.0.100/24
"""


def ip(*args: str) -> str:
    done = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=20)
    if done.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout


@pytest.fixture
def namespace() -> Iterator[str]:
    """One network namespace with ``eth0`` (a veth whose peer stays there too), 10.68.0.1/24."""
    if os.geteuid() != 0:
        require_system("needs root to create a network namespace")
    for tool in ("ip", "setpriv"):
        if shutil.which(tool) is None:
            require_system(f"needs {tool} (iproute2, util-linux)")
    ns = f"sd-{os.getpid()}"
    ip("netns", "add", ns)
    try:
        ip("-n", ns, "link", "add", "eth0", "type", "veth", "peer", "name", "eth1")
        ip("-n", ns, "addr", "add", "10.68.0.1/24", "dev", "eth0")
        for dev in ("lo", "eth1", "eth0"):
            ip("-n", ns, "link", "set", dev, "up")
        yield ns
    finally:
        subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=20)


def holds(ns: str) -> bool:
    return f"inet {VIP} " in ip("-n", ns, "-4", "-o", "addr", "show", "dev", "eth0")


def capabilities(pid: int, field: str) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    found = re.search(rf"^{field}:\s+([0-9a-f]+)$", status, re.M)
    assert found, status
    return int(found.group(1), 16)


def test_the_vrrp_tier_runs_as_nobody_with_two_ambient_capabilities(
    namespace: str, shared_dir: Path
) -> None:
    """What systemd does for stack-vrrp.service (User=, AmbientCapabilities=,
    CapabilityBoundingSet=, NoNewPrivileges=), done by ``setpriv``: the tier is never root."""
    require_root_and_nobody()
    shared_dir.chmod(0o755)
    config = shared_dir / "stack.ini"
    config.write_text(VRRP_INI)
    caps = "-all,+net_admin,+net_raw"
    command = ["ip", "netns", "exec", namespace, "setpriv", f"--reuid={NOBODY}"]
    command += [f"--regid={NOBODY}", "--clear-groups", f"--inh-caps={caps}"]
    command += [f"--ambient-caps={caps}", f"--bounding-set={caps}", "--no-new-privs"]
    command += [TWISTD, "-n", "--pidfile=", "--logfile=-", "stack", "-c", str(config)]
    command += ["--tier", "vrrp"]
    output = shared_dir / "twistd.out"
    with open(output, "wb") as out:
        proc = subprocess.Popen(command, cwd=shared_dir, stdout=out, stderr=subprocess.STDOUT)

    def report() -> str:
        return output.read_text(errors="replace")

    try:
        # ip netns exec and setpriv both exec: the pid is twistd's.
        assert wait_for(lambda: "(v) Entering MASTER STATE" in report(), 30), report()
        assert wait_for(lambda: holds(namespace), 10), report()
        assert "(v) setting VIPs." in report()
        assert uids(proc.pid) == [NOBODY] * 4
        two = 1 << CAP_NET_ADMIN | 1 << CAP_NET_RAW
        assert capabilities(proc.pid, "CapEff") == two
        assert capabilities(proc.pid, "CapPrm") == two
        assert capabilities(proc.pid, "CapBnd") == two
        assert capabilities(proc.pid, "NoNewPrivs") == 1

        took = stop(proc)
        assert took < 10, report()
        assert not holds(namespace), report()  # CAP_NET_ADMIN still there to remove it
        assert "(v) sent 0 priority" in report()
        assert "(v) removing VIPs." in report()
        assert "cannot" not in report() and "Traceback" not in report(), report()
    finally:
        end(proc)
