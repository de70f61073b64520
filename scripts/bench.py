"""Side-by-side benchmarks of stack against the seed deployment, same origin, same load.

Run it as ``scripts/bench`` (see ``--help``). Five benchmarks, all by default (``--only``):

* ``balancer``: stack's balancer tier against HAProxy 2.6 (``nbthread 1``), plain HTTP;
* ``edge``: the full HTTPS pipeline over keep-alive. stack's edge and balancer in one process
  (the edge hands requests to the balancer in memory) against Apache 2.4 (event MPM, mod_ssl,
  mod_proxy_http) terminating TLS and proxying to HAProxy 2.6, both with the same certificate
  (a throwaway ECDSA P-256 CA and leaf made per run). Skipped when apache2 is not installed.
* ``cache``: cache hits over the same HTTPS keep-alive load. stack's edge with ``cache = on``
  against Apache 2.4 (mod_ssl, mod_cache + mod_cache_disk, quick handler) and nginx
  (``proxy_cache``, one worker), all three in front of one origin and serving the same objects
  (4 KiB and 100 KiB, ``Cache-Control: public, max-age=3600``, ETag, Last-Modified). Before
  measuring, each cache must answer each object whole with its hit header (``Cache-Status:
  stack; hit``, ``X-Cache: HIT``, ``X-Cache-Status: HIT``) without the origin seeing a request,
  and the origin's request counter (its HAProxy stats socket) must not move during any run.
  Reported: req/s, CPU-us per request and req/s per core of each, and stack's ratios to each.
  A reference that is not installed is left out; skipped when neither is.
* ``failover``: the two-host pair of ``scripts/ha-lab`` (network namespaces, root): the time a
  client polling the VIP over HTTPS sees between a failure of the MASTER and the first answer
  through the other load balancer, for VRRPv3 at ``advert_int 0.1`` and for keepalived's
  defaults (v2, 1 s), each for a clean stop, a SIGKILL and a cut link, beside keepalived's
  own figures (vrrp.md section 6). Skipped when not root.
* ``workers``: stack with ``workers = 1`` and ``workers = 2`` (not pinned: the second worker
  needs the other CPU), on two paths: the balancer tier over HTTP, and the edge + balancer over
  HTTPS keep-alive (more work per request, so the workers rather than wrk and the origin limit
  the rate). req/s and CPU-us per request of the master and its workers together, and the
  req/s ratio of each path.

The method is python.md section 3's:

* what is under test is pinned to CPU 0 (for the edge: Apache, all its children and its
  HAProxy); ``wrk -t1 -cN --latency`` and the origin share CPU 1, so the CPU of what is under
  test is measured apart from everything else;
* the origin is one HAProxy answering ``http-request return`` on two ports (two servers, so the
  balancers' roundrobin is exercised); it is fast and identical for both sides;
* CPU per request = (utime + stime from ``/proc/PID/stat`` of every process under test, with
  its live descendants and the children it reaped, before and after a run) / requests wrk
  completed. Requests per second alone would mostly measure CPU 1;
* a warm-up run per side, then rounds alternating the two (order flipped every other round so
  slow drift of the machine does not favour one; the cache's three rotate, each running in
  each position as often as the others).

For the edge, the TCP connections to the balancer's own port are counted during each run from
``/proc/net/tcp`` (sampled, plus the TIME_WAIT entries closed connections leave): stack's edge
should open none, Apache opens its pool of connections to HAProxy.

Timings are not pass/fail: the exit status is non-zero only when something failed to run (a
benchmark skipped for want of apache2 does not count as a failure).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import hashlib
import http.client
import json
import os
import platform
import pwd
import re
import resource
import shlex
import shutil
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from string import Template

if str(Path(__file__).resolve().parent) not in sys.path:  # loaded by its path (tests/demo)
    sys.path.insert(0, str(Path(__file__).resolve().parent))
import servers

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = ROOT / "etc" / "bench"
EXPECTED_BODY = b"hello from origin"
# balancer: stack / HAProxy CPU-us per request (lower is better)
TARGET_RATIO = 2.5
GOAL_RATIO = 2.0
# edge: (Apache + HAProxy) / stack CPU-us per request, i.e. stack's throughput per core relative
# to the seed deployment's (higher is better)
EDGE_TARGET_RATIO = 1.0
EDGE_GOAL_RATIO = 1.5
BENCHMARKS = ("balancer", "edge", "cache", "failover", "workers")
MAX_BAD_FRACTION = 0.01  # more non-2xx answers than this and the run measured an error path
CLK_TCK = os.sysconf("SC_CLK_TCK")
SAMPLE_INTERVAL = 0.5  # seconds between /proc/net/tcp samples during an edge run


# Something failed to run (not a slow result): reported, and the exit status is 1. The servers
# module raises it too, for a server that died or never listened.
BenchError = servers.RunError


# --- processes ------------------------------------------------------------------------------------


@dataclass
class Process(servers.Server):
    """A server this run started."""

    port: int  # where it listens (the first port, for the origin)


class Processes:
    """Starts servers and always stops them (by pid) on exit, error or Ctrl-C."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.started: list[Process] = []

    def start(
        self, label: str, port: int, argv: Sequence[str], env: dict[str, str] | None = None
    ) -> Process:
        log = self.workdir / f"{label}.log"
        process = Process(label, servers.spawn(argv, log, self.workdir, env), log, port)
        self.started.append(process)
        return process

    def stop(self, process: Process) -> None:
        """Stop one before the others (to free the CPU for the next measurement)."""
        servers.stop(process, timeout=5)
        self.started.remove(process)

    def stop_all(self) -> None:
        servers.stop(*reversed(self.started), timeout=5)
        self.started.clear()


@dataclass
class Subject:
    """One side of a comparison: what wrk loads and whose CPU is measured.

    ``processes`` are summed, each with its descendants (Apache's children); ``tier_port`` is
    the balancer's own port behind an edge, whose incoming connections are counted.
    """

    label: str
    port: int
    processes: list[Process]
    scheme: str = "http"
    cafile: Path | None = None
    tier_port: int | None = None
    hop: str = ""  # what a connection to tier_port is, e.g. "apache→haproxy"
    path: str = "/"  # what wrk asks for (the cache benchmark's objects)

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}{self.path}"

    def log_tails(self) -> str:
        return "\n".join(f"  {p.label}:\n{p.log_tail()}" for p in self.processes)

    def check_alive(self) -> None:
        for process in self.processes:
            process.check_alive()


def check_pinned(subject: Subject, cpu: int) -> None:
    """Every process we measure (Apache's children too) must run where we asked."""
    stats = read_proc_stats()
    for process in subject.processes:
        for pid in tree_pids(stats, process.pid):
            try:
                affinity = os.sched_getaffinity(pid)
            except OSError as error:
                raise BenchError(
                    f"{process.label}: cannot read CPU affinity of pid {pid}: {error}"
                ) from error
            if affinity != {cpu}:
                raise BenchError(f"{process.label} (pid {pid}) runs on CPUs {affinity}, not {cpu}")


@contextlib.contextmanager
def connection_to(subject: Subject) -> Iterator[http.client.HTTPConnection]:
    """A connection to ``subject``, closed on the way out; a request that fails on it is a
    BenchError with the subject's logs.

    Over HTTPS the certificate is checked against the bench's CA and 127.0.0.1.
    """
    connection: http.client.HTTPConnection
    if subject.scheme == "https":
        context = ssl.create_default_context(cafile=str(subject.cafile))
        connection = http.client.HTTPSConnection(
            "127.0.0.1", subject.port, timeout=5, context=context
        )
    else:
        connection = http.client.HTTPConnection("127.0.0.1", subject.port, timeout=5)
    try:
        yield connection
    except (OSError, http.client.HTTPException) as error:
        raise BenchError(
            f"request through {subject.label} on {subject.url} failed: {error!r}; output:\n"
            f"{subject.log_tails()}"
        ) from error
    finally:
        connection.close()


def verify(subject: Subject) -> None:
    """Two requests on one connection (both origin servers) must answer the origin's 200."""
    with connection_to(subject) as connection:
        for _ in range(2):
            connection.request("GET", "/")
            response = connection.getresponse()
            body = response.read()
            if response.status != 200 or body != EXPECTED_BODY:
                raise BenchError(
                    f"{subject.label} on {subject.url} answered {response.status}"
                    f" {body[:200]!r}, expected 200 {EXPECTED_BODY!r}; output:\n"
                    f"{subject.log_tails()}"
                )


# --- CPU of a process tree ------------------------------------------------------------------------


@dataclass(frozen=True)
class ProcStat:
    """What we need of ``/proc/PID/stat``: the parent, and CPU in clock ticks."""

    ppid: int
    ticks: int  # utime + stime: the process itself, all its threads, live and exited
    reaped_ticks: int  # cutime + cstime: the children it has waited for (exited Apache workers)


def parse_proc_stat(text: str) -> tuple[int, ProcStat]:
    """``(pid, ProcStat)`` from the text of ``/proc/PID/stat`` (comm may hold spaces, ')')."""
    pid = int(text[: text.index(" ")])
    fields = text[text.rindex(")") + 2 :].split()
    # fields[0] is field 3 of proc(5) (state): ppid is 4, utime..cstime are 14..17
    utime, stime, cutime, cstime = (int(v) for v in fields[11:15])
    return pid, ProcStat(ppid=int(fields[1]), ticks=utime + stime, reaped_ticks=cutime + cstime)


def read_proc_stats() -> dict[int, ProcStat]:
    """Every process's ProcStat now (processes that vanish while we read are left out)."""
    stats = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                pid, stat = parse_proc_stat(Path(entry.path, "stat").read_text())
            except (OSError, ValueError, IndexError):
                continue
            stats[pid] = stat
    return stats


def tree_pids(stats: Mapping[int, ProcStat], root: int) -> list[int]:
    """``root`` and its live descendants (zombies included: still in /proc until reaped)."""
    children: dict[int, list[int]] = {}
    for pid, stat in stats.items():
        children.setdefault(stat.ppid, []).append(pid)
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, ()))
    return found


def tree_cpu_ticks(stats: Mapping[int, ProcStat], root: int) -> int:
    """All CPU a multi-process server has used so far, in clock ticks.

    For ``root`` and each live descendant: its own utime + stime and the cutime + cstime of the
    children it has reaped. A worker that exits between two readings moves from its own entry
    into its parent's cutime/cstime (the kernel adds its total, its own reaped children
    included, when the parent waits for it), so the sum only grows and the difference of two
    readings is the CPU used in between: by workers that ran throughout, were started, or
    exited. (A worker reaped in the microseconds between reading its parent and itself could
    be missed or counted twice; Apache here has one long-lived worker process.)
    """
    if root not in stats:
        raise BenchError(f"process {root} is gone (no /proc/{root}/stat)")
    return sum(stats[pid].ticks + stats[pid].reaped_ticks for pid in tree_pids(stats, root))


def cpu_busy_ticks(cpu: int) -> int:
    """user + nice + system + steal ticks of one CPU, from /proc/stat.

    Less the ticks of our own processes on it, this is what others took from that CPU during
    a run (other engineers' benchmarks, a build, the hypervisor): it should be about 0.
    """
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith(f"cpu{cpu} "):
            values = [int(v) for v in line.split()[1:]]
            return values[0] + values[1] + values[2] + values[7]
    raise BenchError(f"CPU {cpu} not in /proc/stat")


def machine_busy_ticks() -> int:
    """Every tick the machine's CPUs were not idle, interrupts and softirqs included (where
    loopback TCP spends much of its time), from the aggregate ``cpu`` line of /proc/stat."""
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith("cpu "):
            user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, line.split()[1:9])
            return user + nice + system + irq + softirq + steal
    raise BenchError("no aggregate cpu line in /proc/stat")


def children_cpu_seconds() -> float:
    """CPU of our finished children (wrk), which have left /proc by the time we look."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def tcp_active_opens() -> int:
    """Outgoing TCP connections opened so far, system-wide (``Tcp: ActiveOpens``).

    Over a run this is wrk's connections plus the proxy's to the origin: a small multiple of
    ``-c`` when the proxy keeps origin connections alive, near the request count when not.
    """
    lines = [line.split() for line in Path("/proc/net/snmp").read_text().splitlines()]
    names, values = (line for line in lines if line[0] == "Tcp:")
    return int(values[names.index("ActiveOpens")])


@dataclass
class Counters:
    """Every counter a run is judged by; CPU in seconds."""

    proxy: float  # the subject's processes together
    origin: float
    wrk: float
    proxy_cpu_busy: float
    load_cpu_busy: float
    machine_busy: float
    tcp_opens: float
    parts: tuple[float, ...] = ()  # each of the subject's processes (with its children)

    @classmethod
    def take(cls, args: argparse.Namespace, subject: Subject, origin: Process) -> Counters:
        stats = read_proc_stats()
        parts = tuple(tree_cpu_ticks(stats, p.pid) / CLK_TCK for p in subject.processes)
        return cls(
            proxy=sum(parts),
            origin=tree_cpu_ticks(stats, origin.pid) / CLK_TCK,
            wrk=children_cpu_seconds(),
            proxy_cpu_busy=cpu_busy_ticks(args.proxy_cpu) / CLK_TCK,
            load_cpu_busy=cpu_busy_ticks(args.load_cpu) / CLK_TCK,
            machine_busy=machine_busy_ticks() / CLK_TCK,
            tcp_opens=tcp_active_opens(),
            parts=parts,
        )

    def __sub__(self, other: Counters) -> Counters:
        counted = (f.name for f in dataclasses.fields(self) if f.name != "parts")
        return dataclasses.replace(
            self,
            **{name: getattr(self, name) - getattr(other, name) for name in counted},
            parts=tuple(a - b for a, b in zip(self.parts, other.parts, strict=True)),
        )


# --- connections to a tier ------------------------------------------------------------------------

TCP_ESTABLISHED = "01"
TCP_LISTEN = "0A"


def tcp_connections_to(port: int, table: str) -> dict[str, str]:
    """Connections to ``port`` in the text of ``/proc/net/tcp``: ``{client end: state}``.

    A connection is named by its client's ``ADDR:PORT`` (hex, as the table has it), so its two
    entries (both ends are in the table on loopback) count once; its state is ESTABLISHED
    (``01``) if either end is. Listening sockets are left out; TIME_WAIT entries (``06``), which
    a closed connection leaves for 60 s, are kept: they show connections that came and went.
    """
    found: dict[str, str] = {}
    for line in table.splitlines()[1:]:
        parts = line.split()
        if len(parts) < 4 or parts[3] == TCP_LISTEN:
            continue
        local, remote, state = parts[1], parts[2], parts[3]
        if int(local.rpartition(":")[2], 16) == port:
            client = remote
        elif int(remote.rpartition(":")[2], 16) == port:
            client = local
        else:
            continue
        if found.get(client) != TCP_ESTABLISHED:
            found[client] = state
    return found


def read_tcp_table() -> str:
    try:
        return Path("/proc/net/tcp").read_text()
    except OSError as error:
        raise BenchError(f"cannot read /proc/net/tcp: {error}") from error


class ConnectionTally:
    """The TCP connections to one port over a run, from ``/proc/net/tcp`` tables.

    ``opened``: connections not in the table when the run started, seen in a sample during it
    or at its end (where closed ones remain as TIME_WAIT); ``peak``: the most ESTABLISHED at
    once in a sample (pooled connections opened before the run and reused in it count there).
    """

    def __init__(self, port: int, start_table: str) -> None:
        self.port = port
        self.before = set(tcp_connections_to(port, start_table))
        self.seen: set[str] = set()
        self.peak = 0

    def add(self, table: str) -> None:
        connections = tcp_connections_to(self.port, table)
        self.seen.update(connections)
        established = sum(1 for state in connections.values() if state == TCP_ESTABLISHED)
        self.peak = max(self.peak, established)

    @property
    def opened(self) -> int:
        return len(self.seen - self.before)


# --- wrk ------------------------------------------------------------------------------------------


@dataclass
class WrkResult:
    requests: int
    seconds: float
    rps: float
    p50_ms: float | None
    p99_ms: float | None
    non_2xx: int
    socket_errors: dict[str, int]


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _ms(value: str, unit: str) -> float:
    return float(value) * _UNITS[unit]


def parse_wrk(output: str) -> WrkResult:
    """The numbers we need from wrk's report (``--latency`` form)."""
    done = re.search(r"^\s*(\d+) requests in ([\d.]+)(us|ms|s|m),", output, re.M)
    if done is None:
        raise BenchError(f"cannot find 'N requests in' in wrk's output:\n{output}")
    rps = re.search(r"^Requests/sec:\s*([\d.]+)", output, re.M)
    percentiles = {
        p: _ms(value, unit)
        for p, value, unit in re.findall(r"^\s*(50|99)%\s+([\d.]+)(us|ms|s|m)\s*$", output, re.M)
    }
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s*(\d+)", output)
    errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    seconds = _ms(done.group(2), done.group(3)) / 1000
    requests = int(done.group(1))
    return WrkResult(
        requests=requests,
        seconds=seconds,
        rps=float(rps.group(1)) if rps else requests / seconds,
        p50_ms=percentiles.get("50"),
        p99_ms=percentiles.get("99"),
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        socket_errors=dict(
            zip(("connect", "read", "write", "timeout"), map(int, errors.groups()), strict=True)
        )
        if errors
        else {},
    )


# Every CPU this run may use, read before main() moves the bench itself to the load CPU (which
# the processes it starts would otherwise inherit).
MACHINE_CPUS = ",".join(str(cpu) for cpu in sorted(os.sched_getaffinity(0)))


def load_pin(args: argparse.Namespace) -> list[str]:
    """``taskset`` for wrk and the origin: the load CPU, or every CPU when this benchmark
    leaves the scheduler to spread everything over the machine (``args.unpinned``)."""
    cpus = MACHINE_CPUS if getattr(args, "unpinned", False) else str(args.load_cpu)
    return ["taskset", "-c", cpus]


def run_wrk(
    args: argparse.Namespace,
    url: str,
    duration: float,
    sample: Callable[[], None] | None = None,
) -> WrkResult:
    """wrk on the load CPU; ``sample`` is called every SAMPLE_INTERVAL while it runs."""
    argv = [
        *load_pin(args),
        args.wrk,
        "-t1",
        f"-c{args.connections}",
        f"-d{duration:g}s",
        "--latency",
        url,
    ]
    deadline = time.monotonic() + duration + 60
    wrk = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        while True:
            try:
                stdout, stderr = wrk.communicate(timeout=SAMPLE_INTERVAL if sample else None)
                break
            except subprocess.TimeoutExpired:
                if time.monotonic() > deadline:
                    raise BenchError(f"wrk did not finish: {shlex.join(argv)}") from None
                if sample:
                    sample()
    finally:
        if wrk.poll() is None:
            wrk.kill()
            wrk.wait()
    if wrk.returncode != 0:
        raise BenchError(f"wrk failed ({wrk.returncode}): {shlex.join(argv)}\n{stderr}")
    return parse_wrk(stdout)


# --- measuring ------------------------------------------------------------------------------------


@dataclass
class Measurement:
    proxy: str
    round: int
    requests: int
    seconds: float
    rps: float
    cpu_us_per_request: float
    proxy_cpu_percent: float  # of one CPU: ~100 means the proxy was the bottleneck
    origin_cpu_us_per_request: float
    # What other processes (and the hypervisor's steal) took from each CPU: should be ~0.
    other_proxy_cpu_percent: float
    other_load_cpu_percent: float
    tcp_opens: int  # connections opened during the run (system-wide): << requests
    p50_ms: float | None
    p99_ms: float | None
    non_2xx: int
    socket_errors: dict[str, int] = field(default_factory=dict)
    # edge only: connections to the balancer's own port (the edge→balancer hop)
    tier_opened: int | None = None
    tier_peak: int | None = None
    # a pipeline's CPU-us per request, process by process (Apache with its workers, HAProxy)
    cpu_us_by_process: dict[str, float] = field(default_factory=dict)
    load_cpu_percent: float = 0.0  # wrk and the origin together, of one CPU
    busy_cpu_percent: float = 0.0  # every CPU's busy time, interrupts too (200 = 2 CPUs full)


def measure(
    args: argparse.Namespace, subject: Subject, origin: Process, number: int, duration: float
) -> Measurement:
    tally = None
    if subject.tier_port is not None:
        tally = ConnectionTally(subject.tier_port, read_tcp_table())
    before = Counters.take(args, subject, origin)
    result = run_wrk(
        args, subject.url, duration, (lambda: tally.add(read_tcp_table())) if tally else None
    )
    used = Counters.take(args, subject, origin) - before
    if tally:
        tally.add(read_tcp_table())
    subject.check_alive()
    if result.requests == 0:
        raise BenchError(f"wrk completed no request through {subject.label}")
    if result.non_2xx > MAX_BAD_FRACTION * result.requests:
        raise BenchError(
            f"{subject.label}: {result.non_2xx} of {result.requests} answers were not 2xx/3xx;"
            f" the run measured an error path. Output:\n{subject.log_tails()}"
        )
    other_proxy_cpu = max(0.0, used.proxy_cpu_busy - used.proxy)
    other_load_cpu = max(0.0, used.load_cpu_busy - used.origin - used.wrk)
    return Measurement(
        proxy=subject.label,
        round=number,
        requests=result.requests,
        seconds=result.seconds,
        rps=result.rps,
        cpu_us_per_request=used.proxy * 1e6 / result.requests,
        proxy_cpu_percent=100 * used.proxy / result.seconds,
        origin_cpu_us_per_request=used.origin * 1e6 / result.requests,
        other_proxy_cpu_percent=100 * other_proxy_cpu / result.seconds,
        other_load_cpu_percent=100 * other_load_cpu / result.seconds,
        tcp_opens=int(used.tcp_opens),
        p50_ms=result.p50_ms,
        p99_ms=result.p99_ms,
        non_2xx=result.non_2xx,
        socket_errors={k: v for k, v in result.socket_errors.items() if v},
        tier_opened=tally.opened if tally else None,
        tier_peak=tally.peak if tally else None,
        cpu_us_by_process={
            p.label: cpu * 1e6 / result.requests
            for p, cpu in zip(subject.processes, used.parts, strict=True)
        }
        if len(subject.processes) > 1
        else {},
        load_cpu_percent=100 * (used.origin + used.wrk) / result.seconds,
        busy_cpu_percent=100 * used.machine_busy / result.seconds,
    )


# --- setup ----------------------------------------------------------------------------------------


def render(template: str, path: Path, **values: int | str | Path) -> Path:
    """Fill the ``${NAME}`` placeholders of an ``etc/bench`` template into ``path``."""
    try:
        text = Template((TEMPLATES / template).read_text()).substitute(
            {k.upper(): str(v) for k, v in values.items()}
        )
    except (OSError, KeyError, ValueError) as error:
        raise BenchError(f"cannot render {TEMPLATES / template}: {error!r}") from error
    path.write_text(text)
    return path


def twistd_interpreter(twistd: str) -> list[str] | None:
    """The interpreter in twistd's ``#!`` line (the virtualenv's python), if it has one."""
    try:
        shebang = Path(shutil.which(twistd) or twistd).read_text().splitlines()[0]
    except (OSError, IndexError, UnicodeDecodeError):
        return None
    return shebang.removeprefix("#!").split() if shebang.startswith("#!") else None


def check_tools(args: argparse.Namespace) -> None:
    problems = []
    if shutil.which("taskset") is None:
        problems.append("taskset not found: apt-get install util-linux")
    if shutil.which(args.wrk) is None:
        problems.append(f"wrk not found ({args.wrk}): apt-get install wrk")
    if not os.access(args.haproxy, os.X_OK):
        problems.append(f"haproxy not found at {args.haproxy}: apt-get install haproxy")
    if not args.calibrate and (missing := servers.twistd_missing(args.twistd)):
        problems.append(missing)
    cpus = os.sched_getaffinity(0)
    for cpu in (args.proxy_cpu, args.load_cpu):
        if cpu not in cpus:
            problems.append(f"CPU {cpu} is not available to this process (have {sorted(cpus)})")
    if args.proxy_cpu == args.load_cpu:
        problems.append("--proxy-cpu and --load-cpu must differ")
    if problems:
        raise BenchError("cannot run:\n  " + "\n  ".join(problems))


APACHE_MODULES = ("mpm_event", "authz_core", "socache_shmcb", "ssl", "proxy", "proxy_http")


def apache_missing(args: argparse.Namespace, needed: Sequence[str] = APACHE_MODULES) -> str | None:
    """Why the edge benchmark cannot run here (a skip, not a failure), or None."""
    if not os.access(args.apache, os.X_OK):
        return f"apache2 not found at {args.apache} (apt-get install apache2, or pass --apache)"
    modules = Path(args.apache_modules)
    absent = [m for m in needed if not (modules / f"mod_{m}.so").exists()]
    if absent:
        return f"Apache modules missing from {modules}: {', '.join(absent)}"
    return None


def stack_env() -> dict[str, str]:
    """Put this checkout first on the path, so the tree being reviewed is what gets measured
    (its ``twisted/plugins`` dropin is found there even if the venv has another install)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


def start_origin(args: argparse.Namespace, procs: Processes) -> tuple[Process, dict[str, int]]:
    """The shared origin (on the load CPU), listening on its two ports."""
    origin1, origin2 = servers.free_ports(2)
    ports = {"origin1_port": origin1, "origin2_port": origin2}
    origin_cfg = render("origin.cfg.in", procs.workdir / "origin.cfg", **ports)
    origin = procs.start(
        "origin",
        origin1,
        [*load_pin(args), args.haproxy, "-f", str(origin_cfg), "-db"],
    )
    servers.wait_listening(origin, origin1, args.start_timeout)
    servers.wait_listening(origin, origin2, args.start_timeout)
    return origin, ports


def check_origin_pinned(args: argparse.Namespace, origin: Process) -> None:
    if getattr(args, "unpinned", False):
        return
    check_pinned(Subject(origin.label, origin.port, [origin]), args.load_cpu)


def start_haproxy(
    args: argparse.Namespace, procs: Processes, label: str, port: int, ports: dict[str, int]
) -> Process:
    cfg = render("haproxy.cfg.in", procs.workdir / f"{label}.cfg", front_port=port, **ports)
    pin = ["taskset", "-c", str(args.proxy_cpu)]
    return procs.start(label, port, [*pin, args.haproxy, "-f", str(cfg), "-db"])


def start_stack(
    args: argparse.Namespace, procs: Processes, ini: Path, port: int, tiers: Sequence[str]
) -> Process:
    pin = ["taskset", "-c", str(args.proxy_cpu)]
    argv = [args.twistd, "-n", "--pidfile=", "stack", "-c", str(ini)]
    argv += [arg for tier in tiers for arg in ("--tier", tier)]
    return procs.start("stack", port, [*pin, *argv, *shlex.split(args.stack_args)], stack_env())


def start_balancers(args: argparse.Namespace, procs: Processes) -> tuple[Process, list[Subject]]:
    """The origin, then the two proxies, each listening and verified."""
    workdir = procs.workdir
    origin, ports = start_origin(args, procs)
    stack_port, haproxy_port = servers.free_ports(2)
    if args.calibrate:
        first = start_haproxy(args, procs, "haproxy-b", stack_port, ports)
    else:
        ini = render("stack.ini.in", workdir / "stack.ini", front_port=stack_port, **ports)
        first = start_stack(args, procs, ini, stack_port, ["balancer"])
    second = start_haproxy(args, procs, "haproxy", haproxy_port, ports)
    subjects = [Subject(p.label, p.port, [p]) for p in (first, second)]
    for subject in subjects:
        servers.wait_listening(subject.processes[0], subject.port, args.start_timeout)
        check_pinned(subject, args.proxy_cpu)
        verify(subject)
    check_origin_pinned(args, origin)
    return origin, subjects


# --- the edge benchmark's certificates and servers ------------------------------------------------


@dataclass
class Pki:
    ca: Path  # the CA certificate clients trust
    cert: Path  # the leaf, for 127.0.0.1 and localhost
    key: Path


# stack's own "certificate = auto": a local CA and a leaf for loopback, the same files the edge
# makes on first start, written by the interpreter stack is installed in.
_PKI_CODE = (
    "import sys\n"
    "from stack.http.certificates import ensure_auto_certificate\n"
    "made = ensure_auto_certificate(sys.argv[1], ['127.0.0.1', 'localhost'])\n"
    "print(made.ca_path, made.cert_path, made.key_path, sep='\\n')\n"
)


def make_pki(args: argparse.Namespace, directory: Path) -> Pki:
    """A CA and a leaf for 127.0.0.1 and localhost, made by stack's ``certificate = auto``
    code in twistd's interpreter (the virtualenv stack is installed in)."""
    interpreter = twistd_interpreter(args.twistd) or [sys.executable]
    done = subprocess.run(
        [*interpreter, "-c", _PKI_CODE, str(directory)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    paths = done.stdout.split()
    if done.returncode != 0 or len(paths) != 3:
        raise BenchError(
            f"cannot make the bench's certificates with {interpreter} (is stack installed "
            f"there? set STACK_VENV or --twistd):\n{done.stderr}"
        )
    return Pki(ca=Path(paths[0]), cert=Path(paths[1]), key=Path(paths[2]))


def apache_threads(connections: int) -> int:
    """ThreadsPerChild for Apache: every wrk connection gets a thread in its one process."""
    return max(64, connections + 16)


def start_apache_pipeline(
    args: argparse.Namespace,
    procs: Processes,
    suffix: str,
    ports: dict[str, int],
    pki: Pki,
) -> Subject:
    """Apache (TLS, mod_proxy) → HAProxy (balancer) on the proxy CPU, listening and verified."""
    edge_port, haproxy_port = servers.free_ports(2)
    haproxy = start_haproxy(args, procs, f"haproxy{suffix}", haproxy_port, ports)
    servers.wait_listening(haproxy, haproxy_port, args.start_timeout)
    root = procs.workdir / f"apache{suffix}"
    (root / "run").mkdir(parents=True)
    conf = render(
        "apache.conf.in",
        root / "apache.conf",
        server_root=root,
        modules=args.apache_modules,
        edge_port=edge_port,
        haproxy_port=haproxy_port,
        threads=apache_threads(args.connections),
        cert=pki.cert,
        key=pki.key,
    )
    pin = ["taskset", "-c", str(args.proxy_cpu)]
    apache = procs.start(
        f"apache{suffix}", edge_port, [*pin, args.apache, "-f", str(conf), "-DFOREGROUND"]
    )
    servers.wait_listening(apache, edge_port, args.start_timeout)
    subject = Subject(
        f"apache{suffix}",
        edge_port,
        [apache, haproxy],
        scheme="https",
        cafile=pki.ca,
        tier_port=haproxy_port,
        hop=f"apache{suffix}→haproxy{suffix}",
    )
    verify(subject)
    check_pinned(subject, args.proxy_cpu)
    return subject


def start_stack_pipeline(
    args: argparse.Namespace, procs: Processes, ports: dict[str, int], pki: Pki
) -> Subject:
    """stack's edge + balancer in one process on the proxy CPU, listening and verified."""
    edge_port, balancer_port = servers.free_ports(2)
    ini = render(
        "edge-stack.ini.in",
        procs.workdir / "edge-stack.ini",
        edge_port=edge_port,
        balancer_port=balancer_port,
        cert=pki.cert,
        key=pki.key,
        **ports,
    )
    stack = start_stack(args, procs, ini, edge_port, ["edge", "balancer"])
    subject = Subject(
        "stack",
        edge_port,
        [stack],
        scheme="https",
        cafile=pki.ca,
        tier_port=balancer_port,
        hop="stack edge→balancer",
    )
    try:
        servers.wait_listening(stack, edge_port, args.start_timeout)
        servers.wait_listening(stack, balancer_port, args.start_timeout)
        verify(subject)
    except BenchError as error:
        raise BenchError(
            f"{error}\nstack's edge + balancer ({ini}) did not start or answer (the config"
            " needs a loader that knows [edge] sections). The Apache + HAProxy pipeline started"
            " and answered over TLS; 'scripts/bench --only edge --calibrate' measures it"
            " against a second copy of itself."
        ) from None
    check_pinned(subject, args.proxy_cpu)
    return subject


def start_edges(args: argparse.Namespace, procs: Processes) -> tuple[Process, list[Subject]]:
    """Origin, certificates, the Apache pipeline (verified first), then stack's."""
    origin, ports = start_origin(args, procs)
    pki = make_pki(args, procs.workdir)
    reference = start_apache_pipeline(args, procs, "", ports, pki)
    if args.calibrate:
        candidate = start_apache_pipeline(args, procs, "-b", ports, pki)
    else:
        candidate = start_stack_pipeline(args, procs, ports, pki)
    check_origin_pinned(args, origin)
    return origin, [candidate, reference]


# --- the cache benchmark --------------------------------------------------------------------------

# The objects every cache stores and serves: path -> body size. The body is incompressible text,
# the same bytes for every side (written by the bench, served by cache-origin.cfg.in).
CACHE_OBJECTS = {"4k": 4 << 10, "100k": 100 << 10}
CACHE_APACHE_MODULES = (*APACHE_MODULES, "cache", "cache_disk")
# A cache hit, as each side says it: (response header, pattern its value matches on a hit).
CACHE_HIT_HEADERS = {
    "stack": ("Cache-Status", r";\s*hit\b"),
    "apache": ("X-Cache", r"^HIT\b"),
    "nginx": ("X-Cache-Status", r"^HIT$"),
}
CACHE_VERIFY_TRIES = 10  # requests a cache may take to store the object before it must hit


def cache_path(name: str) -> str:
    return f"/cache/{name}"


def cache_body(size: int) -> bytes:
    """``size`` bytes of hex text from a SHA-256 chain: fixed, and incompressible in practice."""
    out, digest = bytearray(), b"stack bench"
    while len(out) < size:
        digest = hashlib.sha256(digest).digest()
        out += digest.hex().encode()
    return bytes(out[:size])


@dataclass
class CacheSide:
    """A cache under test: its subject and how its answers say they were hits."""

    subject: Subject
    kind: str  # a key of CACHE_HIT_HEADERS

    @property
    def hit_header(self) -> str:
        return CACHE_HIT_HEADERS[self.kind][0]

    def is_hit(self, value: str | None) -> bool:
        return value is not None and re.search(CACHE_HIT_HEADERS[self.kind][1], value) is not None


@dataclass
class CacheOrigin:
    process: Process
    port: int
    stats_socket: Path
    bodies: dict[str, bytes]  # by object name

    def requests(self) -> int:
        """Requests the origin has answered so far (its frontend's ``req_tot``)."""
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(5)
                sock.connect(str(self.stats_socket))
                sock.sendall(b"show stat\n")
                chunks = []
                while chunk := sock.recv(65536):
                    chunks.append(chunk)
        except OSError as error:
            raise BenchError(
                f"cannot read the origin's stats from {self.stats_socket}: {error}"
            ) from error
        lines = b"".join(chunks).decode(errors="replace").splitlines()
        if not lines or not lines[0].startswith("# "):
            raise BenchError(f"unexpected answer to 'show stat' from the origin: {lines[:3]}")
        names = lines[0][2:].split(",")
        for line in lines[1:]:
            row = dict(zip(names, line.split(","), strict=False))
            if row.get("pxname") == "origin" and row.get("svname") == "FRONTEND":
                return int(row["req_tot"] or 0)
        raise BenchError("the origin's stats have no 'origin' frontend")


def start_cache_origin(args: argparse.Namespace, procs: Processes) -> CacheOrigin:
    """The origin of the cacheable objects (on the load CPU), listening, with its stats socket."""
    (port,) = servers.free_ports(1)
    objects = procs.workdir / "objects"
    objects.mkdir()
    bodies = {name: cache_body(size) for name, size in CACHE_OBJECTS.items()}
    files = {}
    for name, body in bodies.items():
        files[f"body_{name}"] = objects / f"{name}.bin"
        files[f"body_{name}"].write_bytes(body)
    stats = procs.workdir / "origin.sock"
    cfg = render(
        "cache-origin.cfg.in",
        procs.workdir / "origin.cfg",
        origin_port=port,
        stats_socket=stats,
        **files,
    )
    process = procs.start(
        "origin", port, ["taskset", "-c", str(args.load_cpu), args.haproxy, "-f", str(cfg), "-db"]
    )
    servers.wait_listening(process, port, args.start_timeout)
    return CacheOrigin(process, port, stats, bodies)


def open_to_workers(procs: Processes, *owned: Path) -> None:
    """When the bench runs as root, Apache's and nginx's workers run as www-data: let them
    through the bench's (mode 0700) directories, and give them ``owned`` (a cache root)."""
    if os.geteuid() != 0:
        return
    for directory in (procs.workdir.parent, procs.workdir):
        directory.chmod(directory.stat().st_mode | 0o711)
    try:
        user = pwd.getpwnam("www-data")
    except KeyError:
        raise BenchError("no www-data user, which Apache's and nginx's workers run as") from None
    for path in owned:
        os.chown(path, user.pw_uid, user.pw_gid)


def start_cache_apache(
    args: argparse.Namespace, procs: Processes, origin: CacheOrigin, pki: Pki
) -> CacheSide:
    """Apache with mod_ssl, mod_cache and mod_cache_disk on the proxy CPU, listening."""
    (edge_port,) = servers.free_ports(1)
    root = procs.workdir / "apache"
    (root / "run").mkdir(parents=True)
    (root / "cache").mkdir()
    open_to_workers(procs, root / "cache")
    conf = render(
        "cache-apache.conf.in",
        root / "apache.conf",
        server_root=root,
        modules=args.apache_modules,
        edge_port=edge_port,
        origin_port=origin.port,
        threads=apache_threads(args.connections),
        cert=pki.cert,
        key=pki.key,
        cache_root=root / "cache",
    )
    pin = ["taskset", "-c", str(args.proxy_cpu)]
    apache = procs.start("apache", edge_port, [*pin, args.apache, "-f", str(conf), "-DFOREGROUND"])
    servers.wait_listening(apache, edge_port, args.start_timeout)
    subject = Subject("apache", edge_port, [apache], scheme="https", cafile=pki.ca)
    return CacheSide(subject, "apache")


def start_cache_nginx(
    args: argparse.Namespace, procs: Processes, origin: CacheOrigin, pki: Pki, suffix: str = ""
) -> CacheSide:
    """nginx with ssl and proxy_cache (one worker) on the proxy CPU, listening."""
    (edge_port,) = servers.free_ports(1)
    root = procs.workdir / f"nginx{suffix}"
    for directory in ("run", "tmp"):
        (root / directory).mkdir(parents=True, exist_ok=True)
    open_to_workers(procs)  # nginx makes its cache and temporary directories for its workers
    conf = render(
        "cache-nginx.conf.in",
        root / "nginx.conf",
        root=root,
        edge_port=edge_port,
        origin_port=origin.port,
        cert=pki.cert,
        key=pki.key,
    )
    pin = ["taskset", "-c", str(args.proxy_cpu)]
    argv = [*pin, args.nginx, "-p", str(root), "-c", str(conf), "-e", "stderr"]
    nginx = procs.start(f"nginx{suffix}", edge_port, argv)
    servers.wait_listening(nginx, edge_port, args.start_timeout)
    subject = Subject(f"nginx{suffix}", edge_port, [nginx], scheme="https", cafile=pki.ca)
    return CacheSide(subject, "nginx")


def start_cache_stack(
    args: argparse.Namespace, procs: Processes, origin: CacheOrigin, pki: Pki
) -> CacheSide:
    """stack's edge with ``cache = on`` on the proxy CPU, listening."""
    (edge_port,) = servers.free_ports(1)
    ini = render(
        "cache-stack.ini.in",
        procs.workdir / "cache-stack.ini",
        edge_port=edge_port,
        origin_port=origin.port,
        state_dir=procs.workdir / "stack-state",
        cert=pki.cert,
        key=pki.key,
    )
    stack = start_stack(args, procs, ini, edge_port, ["edge"])
    servers.wait_listening(stack, edge_port, args.start_timeout)
    return CacheSide(Subject("stack", edge_port, [stack], scheme="https", cafile=pki.ca), "stack")


def verify_cache(side: CacheSide, origin: CacheOrigin, name: str) -> str:
    """The object must come back whole and, once stored, as a hit that leaves the origin alone.

    Returns the hit header as the last answer had it, for the report."""
    subject, path, body = side.subject, cache_path(name), origin.bodies[name]
    seen: list[str] = []
    value: str | None = None

    def get(connection: http.client.HTTPConnection) -> str | None:
        connection.request("GET", path)
        response = connection.getresponse()
        received = response.read()
        value = response.getheader(side.hit_header)
        seen.append(
            f"{response.status} {len(received)} bytes, {side.hit_header}: {value}"
            f" (Age: {response.getheader('Age')})"
        )
        if response.status != 200 or received != body:
            raise BenchError(
                f"{subject.label}: GET {path} answered {response.status} with {len(received)}"
                f" bytes, expected 200 and the origin's {len(body)}; headers:\n"
                f"    {response.getheaders()}\noutput:\n{subject.log_tails()}"
            )
        return value

    with connection_to(subject) as connection:
        for _ in range(CACHE_VERIFY_TRIES):
            if side.is_hit(get(connection)):
                break
            time.sleep(0.2)  # a cache may store the object after answering
        else:
            raise BenchError(
                f"{subject.label} never answered GET {path} from its cache: no"
                f" '{side.hit_header}' saying hit in {CACHE_VERIFY_TRIES} answers:\n    "
                + "\n    ".join(seen)
                + f"\noutput:\n{subject.log_tails()}"
            )
        before = origin.requests()
        for _ in range(3):
            value = get(connection)
            if not side.is_hit(value):
                raise BenchError(
                    f"{subject.label}: GET {path} was a hit, then not:\n    "
                    + "\n    ".join(seen)
                    + f"\noutput:\n{subject.log_tails()}"
                )
        if (moved := origin.requests() - before) != 0:
            raise BenchError(
                f"{subject.label}: {moved} request(s) reached the origin while GET {path} was"
                f" answered as a hit 3 times:\n    " + "\n    ".join(seen)
            )
    return f"{side.hit_header}: {value}"


def cache_unavailable(args: argparse.Namespace) -> dict[str, str]:
    """The reference caches that cannot run here, with why (the others run)."""
    missing = {}
    if reason := apache_missing(args, CACHE_APACHE_MODULES):
        missing["apache"] = reason
    if not os.access(args.nginx, os.X_OK):
        missing["nginx"] = f"nginx not found at {args.nginx} (apt-get install nginx-light)"
    return missing


def start_caches(args: argparse.Namespace, procs: Processes) -> tuple[CacheOrigin, list[CacheSide]]:
    """Origin, certificates, the reference caches (verified first), then stack's."""
    origin = start_cache_origin(args, procs)
    pki = make_pki(args, procs.workdir)
    missing = cache_unavailable(args)
    for label, reason in missing.items():
        print(f"  {label} left out: {reason}", flush=True)
    references = []
    if "apache" not in missing:
        references.append(start_cache_apache(args, procs, origin, pki))
    if "nginx" not in missing:
        references.append(start_cache_nginx(args, procs, origin, pki))
    if args.calibrate:
        candidate = start_cache_nginx(args, procs, origin, pki, "-b")
    else:
        candidate = start_cache_stack(args, procs, origin, pki)
    sides = [candidate, *references]
    for side in sides:
        for name in args.cache_objects:
            try:
                hit = verify_cache(side, origin, name)
            except BenchError as error:
                if side.kind != "stack":
                    raise
                raise BenchError(
                    f"{error}\nstack's edge cache ({procs.workdir / 'cache-stack.ini'}) did not"
                    " serve a hit. 'scripts/bench --only cache --calibrate' measures the"
                    " reference caches against a second nginx."
                ) from None
            print(f"  {side.subject.label}: GET {cache_path(name)} is a hit ({hit})", flush=True)
        check_pinned(side.subject, args.proxy_cpu)
    check_origin_pinned(args, origin.process)
    return origin, sides


@contextlib.contextmanager
def origin_untouched(side: CacheSide, origin: CacheOrigin) -> Iterator[None]:
    """What runs inside must not send a request to the origin: every answer was a cache hit."""
    before = origin.requests()
    yield
    if moved := origin.requests() - before:
        raise BenchError(
            f"{side.subject.label}: {moved} request(s) for {side.subject.path} reached the origin"
            " during the run: not every answer was a cache hit, so it measured the proxy path."
            f" Output:\n{side.subject.log_tails()}"
        )


CACHE_LEGEND = """\
  For the cache, every answer is a hit: each cache served the object before the run, said so in
  its hit header, and the origin's request counter did not move during any run (origin ~0).
  req/s/core = 1e6 / CPU-us per request: what one core of the cache would serve at full load"""


def per_core(m: Measurement) -> float:
    return 1e6 / m.cpu_us_per_request if m.cpu_us_per_request > 0 else 0.0


def run_cache(args: argparse.Namespace, procs: Processes) -> dict[str, object]:
    """The cache benchmark: every object in turn, rounds rotating the caches; returns the JSON."""
    print(
        "== cache: HTTPS keep-alive cache hits, stack's edge cache vs Apache 2.4 mod_cache_disk"
        " and nginx proxy_cache"
    )
    origin, sides = start_caches(args, procs)
    width = max(10, *(len(side.subject.label) for side in sides))
    print(f"caches on CPU {args.proxy_cpu}; wrk -t1 -c{args.connections} + origin on CPU", end="")
    print(f" {args.load_cpu}; {args.rounds} round(s) of {args.duration:g} s per object", flush=True)
    for side in sides:
        for p in side.subject.processes:
            print(f"  {p.label:<{width}} pid {p.pid:<8} port {p.port}  log {p.log}")
    first = sides[0].subject.label
    objects: dict[str, object] = {}
    every_row: list[Measurement] = []
    for name in args.cache_objects:
        size = CACHE_OBJECTS[name]
        path = cache_path(name)
        current = [
            CacheSide(dataclasses.replace(side.subject, path=path), side.kind) for side in sides
        ]
        print(f"\n-- GET {path}: {size:,} bytes, Cache-Control: public, max-age=3600")
        if args.warmup > 0:
            for side in current:
                with origin_untouched(side, origin):
                    run_wrk(args, side.subject.url, args.warmup)
        print(header(width, False))
        rows: list[Measurement] = []
        for number in range(1, args.rounds + 1):
            # rotate, so that each cache runs in each position as often as the others
            shift = (number - 1) % len(current)
            for side in current[shift:] + current[:shift]:
                with origin_untouched(side, origin):
                    row = measure(args, side.subject, origin.process, number, args.duration)
                rows.append(row)
                print_row(row, str(number), width)
        medians = [median_of(rows, side.subject.label, 0) for side in current]
        for m in medians:
            print_row(m, "median", width)
        every_row += rows
        print(f"\n{'median':>6} {'cache':<{width}} {'req/s':>9} {'CPU-us/req':>10}", end="")
        print(f" {'req/s/core':>10} {'p99 ms':>7}")
        for m in medians:
            print(
                f"{'':>6} {m.proxy:<{width}} {m.rps:>9,.0f} {m.cpu_us_per_request:>10.1f}"
                f" {per_core(m):>10,.0f} {_fmt(m.p99_ms, '.2f'):>7}"
            )
        ratios: dict[str, object] = {}
        for m in medians[1:]:
            paired = paired_ratios(rows, first, m.proxy, invert=True)
            ratio = edge_ratio(m.cpu_us_per_request, medians[0].cpu_us_per_request)
            rps = medians[0].rps / m.rps
            spread = f" (rounds {min(paired):.2f}-{max(paired):.2f})" if len(paired) > 1 else ""
            print(
                f"{first}/{m.proxy}: req/s {rps:.2f}, throughput per core"
                f" ({m.proxy}/{first} CPU-us per request) {ratio:.2f}{spread}"
            )
            ratios[m.proxy] = {"rps": rps, "per_core": ratio, "round_ratios": paired}
        objects[name] = {
            "path": path,
            "size": size,
            "rounds": [asdict(m) for m in rows],
            "medians": {m.proxy: asdict(m) for m in medians},
            "ratios_of_" + first: ratios,
        }
    print(LEGEND)
    print(CACHE_LEGEND)
    warn_noisy(every_row)
    return {
        "benchmark": "cache",
        "settings": settings(args),
        "versions": versions(args, "cache"),
        "objects": objects,
    }


def settings(args: argparse.Namespace) -> dict[str, object]:
    """What a benchmark's JSON records of how it ran."""
    return {
        "duration_s": args.duration,
        "rounds": args.rounds,
        "connections": args.connections,
        "warmup_s": args.warmup,
        "proxy_cpu": args.proxy_cpu,
        "load_cpu": args.load_cpu,
        "calibrate": args.calibrate,
    }


def versions(args: argparse.Namespace, benchmark: str) -> dict[str, str]:
    found = {"twistd_path": args.twistd} if not args.calibrate else {}

    def first_line(argv: list[str]) -> str:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=30)
        return (out.stdout or out.stderr).strip().splitlines()[0]

    with contextlib.suppress(Exception):
        found["haproxy"] = first_line([args.haproxy, "-v"])
    if benchmark in ("edge", "cache"):
        with contextlib.suppress(Exception):
            found["apache"] = first_line([args.apache, "-v"])
        with contextlib.suppress(Exception):
            found["openssl"] = first_line(["openssl", "version"])
    if benchmark == "cache":
        with contextlib.suppress(Exception):
            found["nginx"] = first_line([args.nginx, "-v"])
    if not args.calibrate:
        with contextlib.suppress(Exception):
            found["twistd"] = first_line([args.twistd, "--version"])
        interpreter = twistd_interpreter(args.twistd)
        if interpreter:
            with contextlib.suppress(Exception):
                found["python"] = first_line([*interpreter, "--version"])
    found["kernel"] = platform.release()
    return found


# --- reporting ------------------------------------------------------------------------------------


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def header(width: int, tier: bool) -> str:
    return (
        f"{'round':>6} {'proxy':<{width}} {'req/s':>9} {'CPU-us/req':>10} {'CPU':>5}"
        f" {'p50 ms':>7} {'p99 ms':>7} {'origin':>6} {'others':>9} {'opens':>6}"
        + (f" {'tier':>7}" if tier else "")
        + "  errors"
    )


LEGEND = """\
CPU-us/req, CPU: the proxy's own utime+stime, per request and as % of its CPU (100%: the proxy
  was the bottleneck); origin: the origin's CPU-us/req; others: % of the proxy's / the load CPU
  taken by other processes (should be ~0); opens: TCP connections opened during the run, wrk's
  plus the proxy's to the origin (about a few x -c with keep-alive, ~requests without)"""
EDGE_LEGEND = """\
  For the edge, 'proxy' is a whole pipeline: apache = Apache (parent + workers, exited ones
  too) + its HAProxy; stack = one process. tier: connections to the balancer's own port opened
  during the run / most established at once (stack's edge hands requests over in memory)"""
NOISY_PERCENT = 5.0


def print_row(m: Measurement, label: str, width: int = 10) -> None:
    errors = ",".join(f"{k}={v}" for k, v in m.socket_errors.items())
    if m.non_2xx:
        errors = f"non2xx={m.non_2xx} {errors}".strip()
    others = f"{m.other_proxy_cpu_percent:.0f}%/{m.other_load_cpu_percent:.0f}%"
    tier = "" if m.tier_opened is None else f" {f'{m.tier_opened}/{m.tier_peak}':>7}"
    print(
        f"{label:>6} {m.proxy:<{width}} {m.rps:>9,.0f} {m.cpu_us_per_request:>10.1f}"
        f" {m.proxy_cpu_percent:>4.0f}% {_fmt(m.p50_ms, '.2f'):>7} {_fmt(m.p99_ms, '.2f'):>7}"
        f" {m.origin_cpu_us_per_request:>6.1f} {others:>9} {m.tcp_opens:>6}{tier}"
        f"  {errors}".rstrip(),
        flush=True,
    )


def warn_noisy(rows: Sequence[Measurement]) -> None:
    noisy = [
        m for m in rows if max(m.other_proxy_cpu_percent, m.other_load_cpu_percent) > NOISY_PERCENT
    ]
    if noisy:
        print(
            f"warning: other processes took more than {NOISY_PERCENT:g}% of a CPU in"
            f" {len(noisy)} of {len(rows)} runs (column 'others'); the figures are noisy,"
            " rerun on a quiet machine to rely on them"
        )


def median_of(rows: list[Measurement], proxy: str, round_: int) -> Measurement:
    mine = [m for m in rows if m.proxy == proxy]

    def med(name: str) -> float:
        return statistics.median(getattr(m, name) for m in mine)

    def med_opt(name: str) -> float | None:
        values = [getattr(m, name) for m in mine if getattr(m, name) is not None]
        return statistics.median(values) if values else None

    def med_int(name: str) -> int | None:
        value = med_opt(name)
        return None if value is None else round(value)

    return Measurement(
        proxy=proxy,
        round=round_,
        requests=int(med("requests")),
        seconds=med("seconds"),
        rps=med("rps"),
        cpu_us_per_request=med("cpu_us_per_request"),
        proxy_cpu_percent=med("proxy_cpu_percent"),
        other_proxy_cpu_percent=med("other_proxy_cpu_percent"),
        other_load_cpu_percent=med("other_load_cpu_percent"),
        tcp_opens=int(med("tcp_opens")),
        origin_cpu_us_per_request=med("origin_cpu_us_per_request"),
        p50_ms=med_opt("p50_ms"),
        p99_ms=med_opt("p99_ms"),
        non_2xx=sum(m.non_2xx for m in mine),
        tier_opened=med_int("tier_opened"),
        tier_peak=med_int("tier_peak"),
        cpu_us_by_process={
            name: statistics.median(m.cpu_us_by_process[name] for m in mine)
            for name in mine[0].cpu_us_by_process
        },
        load_cpu_percent=med("load_cpu_percent"),
        busy_cpu_percent=med("busy_cpu_percent"),
    )


def edge_ratio(reference_cpu_us: float, stack_cpu_us: float) -> float:
    """Throughput per core of stack relative to Apache + HAProxy (>1: stack does more)."""
    return reference_cpu_us / stack_cpu_us


def tier_line(medians: Sequence[Measurement], subjects: Sequence[Subject]) -> str:
    """E.g. 'edge→balancer TCP connections per run: stack 0 (in memory), apache→haproxy 50'."""
    parts = []
    for m, subject in zip(medians, subjects, strict=True):
        text = f"{subject.hop} {m.tier_opened} opened, {m.tier_peak} at once"
        if subject.label == "stack" and not m.tier_opened and not m.tier_peak:
            text += " (in memory)"
        parts.append(text)
    return "edge→balancer TCP connections per run (median): " + "; ".join(parts)


# --- main -----------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="scripts/bench",
        description=(
            "Five benchmarks, all by default (--only picks one). balancer:"
            " requests/s and CPU-us per request of stack's balancer tier and of HAProxy with"
            " the equivalent config, both proxying to the same origin; ratio stack / haproxy"
            " CPU-us per request, target <= 2.5, goal <= 2.0. edge: the full HTTPS pipeline"
            " over keep-alive, stack's edge + balancer in one process against Apache 2.4"
            " (mod_ssl, mod_proxy_http) in front of HAProxy 2.6; ratio of throughput per"
            " core = (apache + haproxy) / stack CPU-us per request, target >= 1.0, goal >= 1.5;"
            " skipped if apache2 is not installed. cache: cache hits over HTTPS keep-alive,"
            " stack's edge cache against Apache 2.4 mod_cache_disk and nginx proxy_cache"
            " serving the same objects (--cache-objects); ratios of req/s and of throughput per"
            " core, stack / each. failover: takeover times of the scripts/ha-lab pair (root)"
            " for VRRPv3 at 0.1 s and v2 at 1 s, stop/kill/cut, beside keepalived's."
            " workers: req/s with workers = 1 and 2 (not pinned), the balancer over HTTP and"
            " the edge + balancer over HTTPS."
            " What is under test runs on --proxy-cpu; wrk"
            " and the origin on --load-cpu. Exits non-zero only if something failed to run,"
            " never because of a slow result."
        ),
        epilog="Configs: etc/bench/*.in. Run with the virtualenv's python so its twistd is used.",
    )
    parser.add_argument(
        "--only",
        choices=BENCHMARKS,
        help="run one benchmark (default: balancer, edge, cache, failover, then workers)",
    )
    parser.add_argument(
        "--cache-objects",
        default=",".join(CACHE_OBJECTS),
        help="the cache benchmark's objects, by body size, comma-separated, in order"
        f" (default and choices: {','.join(CACHE_OBJECTS)})",
    )
    parser.add_argument("--duration", type=float, default=8, help="seconds per run (default 8)")
    parser.add_argument("--rounds", type=int, default=3, help="measured rounds (default 3)")
    parser.add_argument("--connections", type=int, default=50, help="wrk -c (default 50)")
    parser.add_argument("--warmup", type=float, default=2, help="warm-up seconds (default 2)")
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: 2 s x 1 round, 1 s warm-up"
    )
    parser.add_argument(
        "--json", metavar="FILE", help="also save the results as JSON, keyed by benchmark"
    )
    parser.add_argument("--proxy-cpu", type=int, default=0, help="CPU of the proxy (default 0)")
    parser.add_argument("--load-cpu", type=int, default=1, help="CPU of wrk+origin (default 1)")
    parser.add_argument("--haproxy", default="/usr/sbin/haproxy", help="haproxy binary")
    parser.add_argument("--apache", default="/usr/sbin/apache2", help="apache2 binary (edge)")
    parser.add_argument(
        "--apache-modules",
        default="/usr/lib/apache2/modules",
        help="directory of Apache's mod_*.so (default: Debian's)",
    )
    parser.add_argument("--nginx", default="/usr/sbin/nginx", help="nginx binary (cache)")
    parser.add_argument("--wrk", default="wrk", help="wrk binary")
    servers.add_twistd_option(parser)
    parser.add_argument(
        "--stack-args", default="", help="extra arguments after 'twistd ... stack -c INI'"
    )
    parser.add_argument(
        "--start-timeout", type=float, default=20, help="seconds to wait for a server to listen"
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the temporary directory (configs, logs)"
    )
    parser.add_argument(
        "--calibrate",
        action="store_true",
        help="harness check: run a second copy of the reference (HAProxy; Apache + HAProxy;"
        " nginx for the cache) in stack's place (ratios should be ~1.0)",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.duration, args.rounds, args.warmup = 2.0, 1, 1.0
    if args.duration <= 0 or args.rounds < 1 or args.connections < 1 or args.warmup < 0:
        parser.error("--duration and --connections must be positive, --rounds at least 1")
    args.cache_objects = [name.strip() for name in args.cache_objects.split(",") if name.strip()]
    unknown = [name for name in args.cache_objects if name not in CACHE_OBJECTS]
    if unknown or not args.cache_objects:
        parser.error(f"--cache-objects: choose among {','.join(CACHE_OBJECTS)}")
    return args


def paired_ratios(
    rows: Iterable[Measurement], first: str, second: str, invert: bool = False
) -> list[float]:
    """first / second CPU-us per request round by round (second / first with ``invert``)."""
    rows = list(rows)
    pairs = zip(
        (r.cpu_us_per_request for r in rows if r.proxy == first),
        (r.cpu_us_per_request for r in rows if r.proxy == second),
        strict=True,
    )
    if invert:
        return [b / a for a, b in pairs if a > 0]
    return [a / b for a, b in pairs if b > 0]


FAILOVER_SETTINGS = ((3, 0.1), (2, 1.0))  # (VRRP version, advert_int seconds)
FAILOVER_HOWS = ("stop", "kill", "cut")


def failover_unavailable() -> str | None:
    if os.geteuid() != 0:
        return "needs root (network namespaces, raw sockets)"
    if shutil.which("ip") is None:
        return "needs iproute2's ip"
    return None


FAILOVER_MEASURE = """
import json, sys
sys.path.insert(0, sys.argv[1])
import ha_lab
version, advert_int, hows, runs = sys.argv[2:6]
rows = ha_lab.measure(int(version), float(advert_int), hows.split(","), int(runs))
print("ROWS " + json.dumps(rows))
"""


def run_failover(args: argparse.Namespace) -> dict[str, object]:
    """Takeover times seen by a polling client, per VRRP setting and kind of failure.

    ha-lab runs under the virtualenv's python (it starts stack, and makes its certificate
    with stack's code), which this script need not be.
    """
    python = twistd_interpreter(args.twistd) or [sys.executable]
    runs = 1 if args.quick else args.rounds
    print("== failover: scripts/ha-lab, a client polling https://VIP/ every 10 ms")
    results: dict[str, object] = {}
    for version, advert_int in FAILOVER_SETTINGS:
        argv = [*python, "-c", FAILOVER_MEASURE, str(Path(__file__).resolve().parent)]
        argv += [str(version), str(advert_int), ",".join(FAILOVER_HOWS), str(runs)]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=1800)
        lines = [line for line in done.stdout.splitlines() if line.startswith("ROWS ")]
        if done.returncode or not lines:
            raise BenchError(f"ha-lab failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
        rows = json.loads(lines[-1].removeprefix("ROWS "))
        label = f"v{version} advert_int {advert_int:g} s"
        for how in FAILOVER_HOWS:
            mine = [r for r in rows if r["how"] == how]
            times = [r["takeover"] for r in mine if r.get("takeover") is not None]
            expected = mine[0].get("expected") if mine else None
            sticky = all(r.get("sticky") for r in mine)
            shown = " ".join(f"{t:.3f}" for t in times) or "no takeover seen"
            median = statistics.median(times) if times else None
            print(
                f"{label:<20} {how:<5} takeover s: {shown}"
                + (f" (median {median:.3f})" if median is not None else "")
                + (f"; keepalived: {expected}" if expected else "")
                + ("; sticky session kept" if sticky else "; sticky session LOST"),
                flush=True,
            )
            results[f"v{version}/{advert_int:g}/{how}"] = {
                "takeover": times,
                "median": median,
                "expected": expected,
                "sticky": sticky,
            }
    return results


# The two paths the workers benchmark runs: the balancer alone over HTTP, and the edge +
# balancer pipeline over HTTPS keep-alive (TLS and two HTTP engines per request: enough work per
# request for the workers, rather than wrk and the origin on the other CPU, to be what limits).
WORKER_PATHS = ("balancer", "edge")


def with_workers(ini: Path, count: int) -> Path:
    """The rendered config with ``workers = count`` in its [global] section."""
    text = ini.read_text()
    if "[global]\n" not in text:
        raise BenchError(f"{ini} has no [global] section to set workers in")
    ini.write_text(text.replace("[global]\n", f"[global]\nworkers = {count}\n", 1))
    return ini


def start_worker_subjects(
    args: argparse.Namespace, procs: Processes, path: str, ports: dict[str, int], pki: Pki | None
) -> list[Subject]:
    """stack with ``workers = 1`` and with ``workers = 2`` on one path, each verified."""
    subjects = []
    for count in (1, 2):
        label = f"{path}-{count}w"
        if path == "balancer":
            (port,) = servers.free_ports(1)
            ini = render("stack.ini.in", procs.workdir / f"{label}.ini", front_port=port, **ports)
            tiers, scheme, cafile = ["balancer"], "http", None
        else:
            assert pki is not None
            port, balancer_port = servers.free_ports(2)
            ini = render(
                "edge-stack.ini.in",
                procs.workdir / f"{label}.ini",
                edge_port=port,
                balancer_port=balancer_port,
                cert=pki.cert,
                key=pki.key,
                **ports,
            )
            tiers, scheme, cafile = ["edge", "balancer"], "https", pki.ca
        with_workers(ini, count)
        argv = ["taskset", "-c", MACHINE_CPUS, args.twistd, "-n", "--pidfile=", "stack"]
        argv += ["-c", str(ini), *(arg for tier in tiers for arg in ("--tier", tier))]
        process = procs.start(label, port, argv, stack_env())
        servers.wait_listening(process, port, args.start_timeout)
        subject = Subject(label, port, [process], scheme=scheme, cafile=cafile)
        verify(subject)
        subjects.append(subject)
    return subjects


def print_workers_row(m: Measurement, label: str, width: int) -> None:
    errors = ",".join(f"{k}={v}" for k, v in m.socket_errors.items())
    if m.non_2xx:
        errors = f"non2xx={m.non_2xx} {errors}".strip()
    print(
        f"{label:>6} {m.proxy:<{width}} {m.rps:>9,.0f} {m.cpu_us_per_request:>10.1f}"
        f" {m.proxy_cpu_percent:>5.0f}% {m.load_cpu_percent:>9.0f}% {m.busy_cpu_percent:>6.0f}%"
        f" {_fmt(m.p50_ms, '.2f'):>7} {_fmt(m.p99_ms, '.2f'):>7}  {errors}"
    )


def run_workers(args: argparse.Namespace, procs: Processes) -> dict[str, object]:
    """Throughput with 1 and 2 worker processes, on both paths, rounds alternated per path.

    Nothing is pinned: the machine's CPUs are the resource the workers share with wrk and the
    origin, and the scheduler places all of them. ``busy`` near 100% x CPUs says the machine,
    not stack, was what limited the run."""
    loose = argparse.Namespace(**vars(args), unpinned=True)
    cpus = len(MACHINE_CPUS.split(","))
    print(f"== workers: stack with workers = 1 and workers = 2; nothing pinned, {cpus} CPUs")
    origin, ports = start_origin(loose, procs)
    pki = make_pki(args, procs.workdir)
    results: dict[str, object] = {"benchmark": "workers", "settings": settings(args)}
    for path in WORKER_PATHS:
        subjects = start_worker_subjects(args, procs, path, ports, pki)
        what = "balancer tier, HTTP" if path == "balancer" else "edge + balancer, HTTPS"
        width = max(12, *(len(s.label) for s in subjects))
        print(f"\n-- {what}: wrk -t1 -c{args.connections}; {args.rounds} round(s)")
        if args.warmup > 0:
            for subject in subjects:
                run_wrk(loose, subject.url, args.warmup)
        print(
            f"{'round':>6} {'stack':<{width}} {'req/s':>9} {'CPU-us/req':>10} {'stack':>6}"
            f" {'wrk+origin':>10} {'busy':>7} {'p50 ms':>7} {'p99 ms':>7}  errors"
        )
        rows: list[Measurement] = []
        for number in range(1, args.rounds + 1):
            order = subjects if number % 2 else list(reversed(subjects))
            for subject in order:
                row = measure(loose, subject, origin, number, args.duration)
                rows.append(row)
                print_workers_row(row, str(number), width)
        medians = [median_of(rows, subject.label, 0) for subject in subjects]
        for m in medians:
            print_workers_row(m, "median", width)
        one, two = medians
        scale = two.rps / one.rps
        print(
            f"req/s workers=2 / workers=1 ({what}): {scale:.2f}; stack's CPU-us/req"
            f" {one.cpu_us_per_request:.1f} vs {two.cpu_us_per_request:.1f} (master and"
            f" workers summed)"
        )
        for subject in subjects:
            procs.stop(subject.processes[0])
        results[path] = {
            "rounds": [asdict(m) for m in rows],
            "medians": {m.proxy: asdict(m) for m in medians},
            "ratio_rps_2_over_1": scale,
        }
    print(
        "\nstack, wrk+origin: % of one CPU; busy: every CPU's busy time together (the machine is"
        f" full at {100 * cpus}%). With one worker, stack is held to one CPU; with two, the"
        " workers share the machine with wrk and the origin, so the ratio is bounded by what"
        " those leave."
    )
    return results


def run(args: argparse.Namespace, procs: Processes, benchmark: str) -> dict[str, object]:
    """One benchmark: start, warm up, alternate rounds, print; returns the JSON results."""
    if benchmark == "workers":
        return run_workers(args, procs)
    if benchmark == "cache":
        return run_cache(args, procs)
    if benchmark == "failover":
        return run_failover(args)
    edge = benchmark == "edge"
    if edge:
        print("== edge: HTTPS keep-alive pipeline, stack edge+balancer vs Apache 2.4 + HAProxy")
        origin, subjects = start_edges(args, procs)
    else:
        print("== balancer: stack's balancer tier vs HAProxy 2.6")
        origin, subjects = start_balancers(args, procs)
    a, b = subjects
    width = max(10, *(len(s.label) for s in subjects))
    print(f"proxies on CPU {args.proxy_cpu}; wrk -t1 -c{args.connections} + origin on CPU", end="")
    print(f" {args.load_cpu}; {args.rounds} round(s) of {args.duration:g} s", flush=True)
    for subject in subjects:
        for p in subject.processes:
            print(f"  {p.label:<{width}} pid {p.pid:<8} port {p.port}  log {p.log}")
    if args.warmup > 0:
        for subject in subjects:
            run_wrk(args, subject.url, args.warmup)
    print(f"\n{header(width, edge)}")
    rows: list[Measurement] = []
    for number in range(1, args.rounds + 1):
        order = (a, b) if number % 2 else (b, a)
        for subject in order:
            row = measure(args, subject, origin, number, args.duration)
            rows.append(row)
            print_row(row, str(number), width)
    medians = [median_of(rows, subject.label, 0) for subject in subjects]
    for m in medians:
        print_row(m, "median", width)
    print(LEGEND)
    if edge:
        print(EDGE_LEGEND)
    warn_noisy(rows)
    # Each round measured both sides back to back: their ratio within a round is the figure
    # least exposed to the machine's slow drift, so show the spread of those too.
    if edge:
        ratio = edge_ratio(medians[1].cpu_us_per_request, medians[0].cpu_us_per_request)
        paired = paired_ratios(rows, a.label, b.label, invert=True)
        target, goal = EDGE_TARGET_RATIO, EDGE_GOAL_RATIO
        ratio_of = [b.label, a.label]
    else:
        ratio = medians[0].cpu_us_per_request / medians[1].cpu_us_per_request
        paired = paired_ratios(rows, a.label, b.label)
        target, goal = TARGET_RATIO, GOAL_RATIO
        ratio_of = [a.label, b.label]
    results: dict[str, object] = {
        "benchmark": benchmark,
        "settings": settings(args),
        "versions": versions(args, benchmark),
        "rounds": [asdict(m) for m in rows],
        "medians": {m.proxy: asdict(m) for m in medians},
        "ratio_cpu_us_per_request": ratio,
        "round_ratios": paired,
        "ratio_of": ratio_of,
        "target_ratio": target,
        "goal_ratio": goal,
    }
    if edge:
        for m in medians:
            if m.cpu_us_by_process:
                split = " + ".join(f"{k} {v:.1f}" for k, v in m.cpu_us_by_process.items())
                print(f"{m.proxy} CPU-us/req (median) by process: {split}")
        print(tier_line(medians, subjects))
    print(
        f"\nreq/s {a.label}/{b.label}: {medians[0].rps / medians[1].rps:.2f}"
        " (the load CPU may cap the faster side; CPU per request is the comparison)"
    )
    if edge:
        print(
            f"throughput per core {a.label} vs {b.label}: {b.label}/{a.label} CPU-us per request"
            f" = {ratio:.2f} (target >= {target}, goal >= {goal})"
        )
    else:
        print(
            f"ratio {a.label}/{b.label} CPU-us per request: {ratio:.2f}"
            f" (target <= {target}, goal <= {goal})"
        )
    if len(paired) > 1:
        print(
            "  round by round: "
            + " ".join(f"{r:.2f}" for r in paired)
            + f" (min {min(paired):.2f}, max {max(paired):.2f})"
        )
    return results


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        check_tools(args)
    except BenchError as error:
        print(f"bench: {error}", file=sys.stderr)
        return 1
    benchmarks = [args.only] if args.only else list(BENCHMARKS)
    if "edge" in benchmarks and (reason := apache_missing(args)):
        print(f"bench: edge benchmark skipped: {reason}", flush=True)
        benchmarks.remove("edge")
    if "failover" in benchmarks and (reason := failover_unavailable()):
        print(f"bench: failover benchmark skipped: {reason}", flush=True)
        benchmarks.remove("failover")
    if "cache" in benchmarks and len(missing := cache_unavailable(args)) == 2:
        print(f"bench: cache benchmark skipped: {'; '.join(missing.values())}", flush=True)
        benchmarks.remove("cache")
    if not benchmarks:
        return 0
    # The bench itself (sampling /proc between its waits) stays off the measured CPU.
    with contextlib.suppress(OSError):
        os.sched_setaffinity(0, {args.load_cpu})
    workdir = Path(tempfile.mkdtemp(prefix="stack-bench-"))
    results: dict[str, object] = {}
    failed = False
    try:
        with servers.signals_as_interrupt():
            for number, benchmark in enumerate(benchmarks):
                if number:
                    print()
                procs = Processes(workdir / benchmark)
                procs.workdir.mkdir()
                try:
                    try:
                        results[benchmark] = run(args, procs, benchmark)
                    finally:
                        procs.stop_all()
                except BenchError as error:
                    print(f"bench: {benchmark}: {error}", file=sys.stderr, flush=True)
                    failed = True
    except KeyboardInterrupt:
        print("bench: interrupted; servers stopped", file=sys.stderr)
        shutil.rmtree(workdir, ignore_errors=True)
        return 130
    if args.json and results:
        try:
            Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
        except OSError as error:
            print(f"bench: cannot write {args.json}: {error}", file=sys.stderr)
            failed = True
        else:
            print(f"\nresults saved to {args.json}")
    if failed or args.keep:
        print(f"bench: configs and logs kept in {workdir}", file=sys.stderr)
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
