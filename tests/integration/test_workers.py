"""``workers = N``: a master and N workers sharing the listening sockets, as ``twistd -n stack``
runs them. Both workers accept connections, their stick tables stay in sync through the
peers protocol, a killed worker is started again and learns the table back, SIGHUP reaches
every worker (a bind change is refused), and SIGTERM stops them all."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from http.client import HTTPConnection
from pathlib import Path

import pytest

from tests.integration.conftest import Stack, free_port, wait_for
from tests.integration.test_reload import _cli, _config_path


def _ini(port: int, o1: int, o2: int, sock: Path, workers: int = 2) -> str:
    return f"""
[global]
workers = {workers}
stats socket = {sock} level admin

[defaults]
mode = http
timeout connect = 2s
timeout client = 10s
timeout server = 10s
timeout http-keep-alive = 10s

[frontend web]
bind = 127.0.0.1:{port}
default_backend = site

[backend site]
stick-table = type ip size 1k expire 10m
stick on = src
server site1 = 127.0.0.1:{o1}
server site2 = 127.0.0.1:{o2}

[demo site1]
app = site
bind = 127.0.0.1:{o1}

[demo site2]
app = site
bind = 127.0.0.1:{o2}
"""


def _workers(master: int) -> dict[int, int]:
    """{index: pid} of the master's worker processes."""
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            argv = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == master and b"stack.worker" in argv:
            found[int(argv[argv.index(b"--index") + 1])] = int(entry)
    return found


def _get_from(source: str, port: int) -> int:
    conn = HTTPConnection("127.0.0.1", port, timeout=5, source_address=(source, 0))
    conn.request("GET", "/")
    status = conn.getresponse().status
    conn.close()
    return status


def _owners(port: int, pids: set[int]) -> set[int]:
    """Which of ``pids`` hold an accepted connection on ``port`` (from /proc/PID/fd)."""
    inodes: dict[str, int] = {}
    for pid in pids:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes[target[8:-1]] = pid
    owners = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, state, inode = fields[1], fields[3], fields[9]
        if state == "01" and int(local.split(":")[1], 16) == port and inode in inodes:
            owners.add(inodes[inode])
    return owners


def test_workers_share_the_sockets_sync_tables_restart_reload_and_stop(
    run_stack: object, tmp_path: Path
) -> None:
    port, o1, o2 = free_port(), free_port(), free_port()
    sock = tmp_path / "api.sock"
    ini = _ini(port, o1, o2, sock)
    stack: Stack = run_stack(ini, port, tiers=("demo", "balancer"))  # type: ignore[operator]
    master = stack.proc.pid
    assert wait_for(lambda: len(_workers(master)) == 2, timeout=10), stack.log_text()
    pids = _workers(master)

    # both workers accept on the shared socket: hold connections open and see who has them
    held = []
    for _ in range(40):
        s = socket.create_connection(("127.0.0.1", port))
        held.append(s)
    assert wait_for(lambda: _owners(port, set(pids.values())) == set(pids.values()), 5), (
        "the connections all went to one worker"
    )
    for s in held:
        s.close()

    # requests from 20 sources, served by either worker: worker 1 (the runtime API's)
    # knows all 20 stick entries, the other worker's through the peers protocol
    assert wait_for(lambda: sock.exists(), timeout=10)
    sources = [f"127.0.0.{i}" for i in range(10, 30)]
    assert all(_get_from(src, port) == 200 for src in sources)
    assert wait_for(
        lambda: all(f"key={src} " in _cli(sock, "show table site") for src in sources), 5
    ), _cli(sock, "show table site")
    assert "id=~workers" in _cli(sock, "show peers")

    # a killed worker is started again, and learns the table back from its sibling
    os.kill(pids[2], signal.SIGKILL)
    assert wait_for(lambda: _workers(master).get(2, pids[2]) != pids[2], timeout=10), (
        stack.log_text()
    )
    assert "worker 2 (pid" in stack.log_text() and "killed by signal 9" in stack.log_text()
    assert wait_for(
        lambda: (
            re.search(r"id=worker2\(remote,active\).*last_status=ESTA", _cli(sock, "show peers"))
            is not None
        ),
        timeout=10,
    )
    assert all(_get_from(src, port) == 200 for src in sources[:5])

    # SIGHUP: validated by the master, applied by every worker; a bind change is refused
    config = _config_path(stack)
    os.kill(master, signal.SIGHUP)
    assert wait_for(lambda: "passed to 2 workers" in stack.log_text(), timeout=10)
    assert wait_for(lambda: stack.log_text().count(" applied") >= 2, timeout=10)
    config.write_text(_ini(free_port(), o1, o2, sock))
    os.kill(master, signal.SIGHUP)
    assert wait_for(lambda: "the bind lines changed" in stack.log_text(), timeout=10)
    assert _get_from("127.0.0.1", port) == 200

    # SIGTERM: the workers drain and exit, then the master
    workers = set(_workers(master).values())
    stack.proc.send_signal(signal.SIGTERM)
    stack.proc.wait(20)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(os.path.exists(f"/proc/{p}") for p in workers):
        time.sleep(0.1)
    assert not any(os.path.exists(f"/proc/{p}") for p in workers)


def _csv_field(csv: str, svname: str, column: str) -> str:
    names = csv.splitlines()[0][2:].split(",")
    for line in csv.splitlines()[1:]:
        cells = line.split(",")
        if len(cells) > 1 and cells[1] == svname:
            return cells[names.index(column)]
    raise AssertionError(f"no {svname} row in {csv!r}")


def test_the_master_answers_the_stats_socket_for_every_worker(
    run_stack: object, tmp_path: Path
) -> None:
    """One socket for all workers: merged counters, state changes on every worker, ``@N``
    and ``@!PID`` for one, ``show proc``, and the session's level enforced by the workers."""
    port, o1, o2 = free_port(), free_port(), free_port()
    sock, user = tmp_path / "api.sock", tmp_path / "user.sock"
    ini = _ini(port, o1, o2, sock).replace(
        f"stats socket = {sock} level admin",
        f"stats socket = {sock} level admin\n    {user} level user",
    )
    stack: Stack = run_stack(ini, port, tiers=("demo", "balancer"))  # type: ignore[operator]
    master = stack.proc.pid
    assert wait_for(lambda: len(_workers(master)) == 2 and sock.exists(), timeout=10)
    pids = _workers(master)
    for worker in ("@1", "@2"):
        assert wait_for(lambda w=worker: _cli(sock, f"{w} show cli level") == "admin\n\n", 10)

    # show proc: the master, then both workers, in HAProxy's layout
    proc = _cli(sock, "show proc").splitlines()
    assert proc[0].startswith("#<PID>          <type>          <reloads>")
    assert proc[1].split()[:2] == [str(master), "master"]
    assert [line.split()[:2] for line in proc[3:5]] == [
        [str(pids[1]), "worker"],
        [str(pids[2]), "worker"],
    ]

    # requests on new connections go to both workers; show stat adds their counters up
    held = [socket.create_connection(("127.0.0.1", port)) for _ in range(40)]
    assert wait_for(lambda: _owners(port, set(pids.values())) == set(pids.values()), 5)
    for s in held:
        s.close()
    sources = [f"127.0.0.{i}" for i in range(40, 80)]
    assert all(_get_from(src, port) == 200 for src in sources)

    def totals() -> tuple[int, int, int]:
        whole, one, two = (_cli(sock, f"{at}show stat") for at in ("", "@1 ", "@2 "))
        return tuple(int(_csv_field(csv, "FRONTEND", "req_tot")) for csv in (whole, one, two))

    assert wait_for(lambda: totals()[0] == 40, timeout=5), totals()
    whole, one, two = totals()
    assert one > 0 and two > 0 and one + two == whole == 40
    info = _cli(sock, "show info")
    assert f"Pid: {pids[1]}\n" in info and "CumReq: " in info
    assert _cli(sock, f"@!{pids[2]} show info").count(f"Pid: {pids[2]}\n") == 1

    # a state change reaches every worker
    assert _cli(sock, "set server site/site1 state maint") == "\n"
    for at in ("@1 ", "@2 "):
        state = _cli(sock, f"{at}show servers state site").splitlines()[2].split()
        assert state[3:7] == ["site1", "127.0.0.1", "0", "1"], state  # stopped, in maintenance
    assert all(_get_from(src, port) == 200 for src in sources[:6])  # all on site2 now
    assert int(_csv_field(_cli(sock, "show stat"), "site1", "stot")) <= 40

    # the user-level socket: reads, and no changes on any worker, @N or not
    assert _csv_field(_cli(user, "show stat"), "FRONTEND", "req_tot") == "46"
    assert _cli(user, "set server site/site1 state ready") == "Permission denied\n\n"
    assert _cli(user, "@2 set server site/site1 state ready") == "Permission denied\n\n"
    assert _cli(user, "@9 show info") == "Can't find the target PID matching the prefix '@9'\n"
    assert "state ready" not in _cli(sock, "@2 show servers state site")
    assert _cli(sock, "set server site/site1 state ready") == "\n"


def test_workers_die_with_a_killed_master(run_stack: object, tmp_path: Path) -> None:
    port, o1, o2 = free_port(), free_port(), free_port()
    stack: Stack = run_stack(
        _ini(port, o1, o2, tmp_path / "api.sock"), port, tiers=("demo", "balancer")
    )  # type: ignore[operator]
    master = stack.proc.pid
    assert wait_for(lambda: len(_workers(master)) == 2, timeout=10)
    workers = set(_workers(master).values())
    stack.proc.kill()
    stack.proc.wait(5)
    assert wait_for(lambda: not any(os.path.exists(f"/proc/{p}") for p in workers), 10)


def test_workers_bind_privileged_ports_before_dropping_to_uid(tmp_path: Path) -> None:
    """The master opens the sockets as root; the workers run as --uid and serve on them."""
    from tests.system import require_system

    if os.geteuid() != 0:
        require_system("binding a port below 1024 and --uid need root")
    python = os.path.realpath(sys.executable)
    reachable = subprocess.run(
        ["setpriv", "--reuid", "nobody", "--regid", "nogroup", "--clear-groups", "test",
         "-x", python],
    ).returncode == 0  # fmt: skip
    if not reachable:
        pytest.skip(f"user nobody cannot run {python} (an interpreter under a private home)")
    port = next(p for p in range(800, 1000) if _free(p))
    o1, o2 = free_port(), free_port()
    cfg = tmp_path / "stack.ini"
    cfg.write_text(_ini(port, o1, o2, tmp_path / "api.sock").replace("stats socket", "#"))
    tmp_path.chmod(0o755)
    log = tmp_path / "twistd.log"
    from tests.integration.conftest import TWISTD

    proc = subprocess.Popen(
        [TWISTD, "-n", "--pidfile=", "--logfile", str(log), "--uid", "nobody", "--gid",
         "nogroup", "stack", "-c", str(cfg), "--tier", "demo", "--tier", "balancer"],
        cwd=tmp_path,
    )  # fmt: skip
    try:
        assert wait_for(lambda: len(_workers(proc.pid)) == 2, timeout=15), log.read_text()
        assert wait_for(lambda: _get_from("127.0.0.1", port) == 200, timeout=10)
        for pid in _workers(proc.pid).values():
            uid_line = next(
                line for line in Path(f"/proc/{pid}/status").read_text().splitlines()
                if line.startswith("Uid:")
            )  # fmt: skip
            assert uid_line.split()[1] != "0"
    finally:
        proc.terminate()
        proc.wait(20)


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True
