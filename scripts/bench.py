"""Side-by-side benchmark: stack's balancer tier against HAProxy 2.6, same origin, same load.

Run it as ``scripts/bench`` (see ``--help``). The method is python.md section 3's:

* the proxy under test is pinned to CPU 0; ``wrk -t1 -cN --latency`` and the origin share CPU 1,
  so the proxy's own CPU is measured apart from everything else;
* the origin is one HAProxy answering ``http-request return`` on two ports (two servers, so the
  balancers' roundrobin is exercised); it is fast and identical for both proxies;
* CPU per request = (utime + stime of the proxy, from ``/proc/PID/stat``, before and after a
  run) / requests wrk completed. Requests per second alone would mostly measure CPU 1;
* a warm-up run per proxy, then rounds alternating the two proxies (order flipped every other
  round so slow drift of the machine does not favour one).

Timings are not pass/fail: the exit status is non-zero only when something failed to run.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import http.client
import json
import os
import platform
import re
import resource
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, astuple, dataclass, field
from pathlib import Path
from string import Template
from types import FrameType

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = ROOT / "etc" / "bench"
EXPECTED_BODY = b"hello from origin"
TARGET_RATIO = 2.5
GOAL_RATIO = 2.0
MAX_BAD_FRACTION = 0.01  # more non-2xx answers than this and the run measured an error path
CLK_TCK = os.sysconf("SC_CLK_TCK")
PR_SET_PDEATHSIG = 1


class BenchError(Exception):
    """Something failed to run (not a slow result): reported, and the exit status is 1."""


# --- processes ------------------------------------------------------------------------------------


def _die_with_parent() -> None:
    """In the child before exec: get SIGKILLed if the bench dies without cleaning up (kill -9)."""
    with contextlib.suppress(Exception):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL))


@dataclass
class Process:
    """A server this run started; ``pid`` is the server itself (``taskset`` execs it)."""

    label: str
    popen: subprocess.Popen[bytes]
    log: Path
    port: int  # where it listens (the first port, for the origin)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log.read_text(errors="replace").splitlines()[-lines:]
        except OSError:
            return "(no log)"
        return "\n".join("    " + line for line in text) or "    (empty log)"


class Processes:
    """Starts servers and always stops them (by pid) on exit, error or Ctrl-C."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.started: list[Process] = []

    def start(
        self, label: str, port: int, argv: Sequence[str], env: dict[str, str] | None = None
    ) -> Process:
        log = self.workdir / f"{label}.log"
        with log.open("wb") as out:
            popen = subprocess.Popen(
                list(argv),
                cwd=self.workdir,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,  # Ctrl-C reaches only us; we stop them in order
                preexec_fn=_die_with_parent,
            )
        process = Process(label, popen, log, port)
        self.started.append(process)
        return process

    def stop_all(self) -> None:
        for process in reversed(self.started):
            if process.popen.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 5
        for process in reversed(self.started):
            try:
                process.popen.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(process.pid, signal.SIGKILL)
                process.popen.wait()
        self.started.clear()


def free_ports(count: int) -> list[int]:
    """Ports the kernel just handed out on 127.0.0.1 (all held at once, so distinct)."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def wait_listening(process: Process, port: int, timeout: float) -> None:
    """Poll-connect until ``port`` accepts, failing early if the process died."""
    deadline = time.monotonic() + timeout
    while True:
        if process.popen.poll() is not None:
            raise BenchError(
                f"{process.label} exited with status {process.popen.returncode} before listening"
                f" on 127.0.0.1:{port}; its output:\n{process.log_tail()}"
            )
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise BenchError(
                    f"{process.label} (pid {process.pid}) is not listening on 127.0.0.1:{port}"
                    f" after {timeout:.0f} s; its output:\n{process.log_tail()}"
                ) from None
            time.sleep(0.1)


def check_pinned(process: Process, cpu: int) -> None:
    """The pid we measure must be the server itself, pinned where we asked."""
    try:
        affinity = os.sched_getaffinity(process.pid)
    except OSError as error:
        raise BenchError(f"{process.label}: cannot read CPU affinity: {error}") from error
    if affinity != {cpu}:
        raise BenchError(f"{process.label} (pid {process.pid}) runs on CPUs {affinity}, not {cpu}")


def verify(process: Process, port: int) -> None:
    """Two requests on one connection (both origin servers) must answer the origin's 200."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        for _ in range(2):
            connection.request("GET", "/")
            response = connection.getresponse()
            body = response.read()
            if response.status != 200 or body != EXPECTED_BODY:
                raise BenchError(
                    f"{process.label} on port {port} answered {response.status}"
                    f" {body[:200]!r}, expected 200 {EXPECTED_BODY!r}"
                )
    except (OSError, http.client.HTTPException) as error:
        raise BenchError(
            f"request through {process.label} on port {port} failed: {error!r};"
            f" its output:\n{process.log_tail()}"
        ) from error
    finally:
        connection.close()


def cpu_ticks(pid: int) -> int:
    """utime + stime of a whole process (all threads), in clock ticks."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError as error:
        raise BenchError(f"cannot read /proc/{pid}/stat (process gone?): {error}") from error
    fields = stat[stat.rindex(")") + 2 :].split()
    return int(fields[11]) + int(fields[12])  # fields 14 and 15 of proc(5), after pid and comm


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

    proxy: float
    origin: float
    wrk: float
    proxy_cpu_busy: float
    load_cpu_busy: float
    tcp_opens: float

    @classmethod
    def take(cls, args: argparse.Namespace, proxy: Process, origin: Process) -> Counters:
        return cls(
            proxy=cpu_ticks(proxy.pid) / CLK_TCK,
            origin=cpu_ticks(origin.pid) / CLK_TCK,
            wrk=children_cpu_seconds(),
            proxy_cpu_busy=cpu_busy_ticks(args.proxy_cpu) / CLK_TCK,
            load_cpu_busy=cpu_busy_ticks(args.load_cpu) / CLK_TCK,
            tcp_opens=tcp_active_opens(),
        )

    def __sub__(self, other: Counters) -> Counters:
        return Counters(*(a - b for a, b in zip(astuple(self), astuple(other), strict=True)))


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


def run_wrk(args: argparse.Namespace, port: int, duration: float) -> WrkResult:
    argv = [
        "taskset",
        "-c",
        str(args.load_cpu),
        args.wrk,
        "-t1",
        f"-c{args.connections}",
        f"-d{duration:g}s",
        "--latency",
        f"http://127.0.0.1:{port}/",
    ]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=duration + 60)
    except subprocess.TimeoutExpired as error:
        raise BenchError(f"wrk did not finish: {shlex.join(argv)}") from error
    if done.returncode != 0:
        raise BenchError(f"wrk failed ({done.returncode}): {shlex.join(argv)}\n{done.stderr}")
    return parse_wrk(done.stdout)


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


def measure(
    args: argparse.Namespace, proxy: Process, origin: Process, number: int, duration: float
) -> Measurement:
    before = Counters.take(args, proxy, origin)
    result = run_wrk(args, proxy.port, duration)
    used = Counters.take(args, proxy, origin) - before
    if proxy.popen.poll() is not None:
        raise BenchError(f"{proxy.label} died during the run; its output:\n{proxy.log_tail()}")
    if result.requests == 0:
        raise BenchError(f"wrk completed no request through {proxy.label}")
    if result.non_2xx > MAX_BAD_FRACTION * result.requests:
        raise BenchError(
            f"{proxy.label}: {result.non_2xx} of {result.requests} answers were not 2xx/3xx;"
            f" the run measured an error path. Its output:\n{proxy.log_tail()}"
        )
    other_proxy_cpu = max(0.0, used.proxy_cpu_busy - used.proxy)
    other_load_cpu = max(0.0, used.load_cpu_busy - used.origin - used.wrk)
    return Measurement(
        proxy=proxy.label,
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
    )


# --- setup ----------------------------------------------------------------------------------------


def render(template: str, path: Path, **values: int) -> Path:
    """Fill the ``${NAME_PORT}`` placeholders of an ``etc/bench`` template into ``path``."""
    try:
        text = Template((TEMPLATES / template).read_text()).substitute(
            {k.upper(): str(v) for k, v in values.items()}
        )
    except (OSError, KeyError, ValueError) as error:
        raise BenchError(f"cannot render {TEMPLATES / template}: {error!r}") from error
    path.write_text(text)
    return path


def default_twistd() -> str:
    """The twistd that runs stack: beside this interpreter, else in the project's virtualenv
    ($STACK_VENV, the active $VIRTUAL_ENV, .venv as scripts/run makes it), else on $PATH.

    This script itself needs only the standard library, so any python3 can run it.
    """
    candidates = [Path(sys.executable).parent]
    candidates += [
        Path(v) / "bin" for v in (os.environ.get("STACK_VENV"), os.environ.get("VIRTUAL_ENV")) if v
    ]
    candidates.append(ROOT / ".venv" / "bin")
    for directory in candidates:
        if os.access(directory / "twistd", os.X_OK):
            return str(directory / "twistd")
    return shutil.which("twistd") or "twistd"


def check_tools(args: argparse.Namespace) -> None:
    problems = []
    if shutil.which("taskset") is None:
        problems.append("taskset not found: apt-get install util-linux")
    if shutil.which(args.wrk) is None:
        problems.append(f"wrk not found ({args.wrk}): apt-get install wrk")
    if not os.access(args.haproxy, os.X_OK):
        problems.append(f"haproxy not found at {args.haproxy}: apt-get install haproxy")
    if not args.calibrate and not shutil.which(args.twistd):
        problems.append(
            f"twistd not found ({args.twistd}): set STACK_VENV to the virtualenv with stack"
            " installed (scripts/run makes .venv), or pass --twistd"
        )
    cpus = os.sched_getaffinity(0)
    for cpu in (args.proxy_cpu, args.load_cpu):
        if cpu not in cpus:
            problems.append(f"CPU {cpu} is not available to this process (have {sorted(cpus)})")
    if args.proxy_cpu == args.load_cpu:
        problems.append("--proxy-cpu and --load-cpu must differ")
    if problems:
        raise BenchError("cannot run:\n  " + "\n  ".join(problems))


def stack_env() -> dict[str, str]:
    """Put this checkout first on the path, so the tree being reviewed is what gets measured
    (its ``twisted/plugins`` dropin is found there even if the venv has another install)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


def start_servers(args: argparse.Namespace, procs: Processes) -> tuple[Process, list[Process]]:
    """The origin, then the two proxies, each listening and verified."""
    workdir = procs.workdir
    origin1, origin2, stack_port, haproxy_port = free_ports(4)
    ports = {"origin1_port": origin1, "origin2_port": origin2}
    origin_cfg = render("origin.cfg.in", workdir / "origin.cfg", **ports)
    origin = procs.start(
        "origin",
        origin1,
        ["taskset", "-c", str(args.load_cpu), args.haproxy, "-f", str(origin_cfg), "-db"],
    )
    wait_listening(origin, origin1, args.start_timeout)
    wait_listening(origin, origin2, args.start_timeout)

    pin = ["taskset", "-c", str(args.proxy_cpu)]
    haproxy_cfg = render(
        "haproxy.cfg.in", workdir / "haproxy.cfg", front_port=haproxy_port, **ports
    )
    if args.calibrate:
        cfg = render("haproxy.cfg.in", workdir / "haproxy-b.cfg", front_port=stack_port, **ports)
        first = procs.start("haproxy-b", stack_port, [*pin, args.haproxy, "-f", str(cfg), "-db"])
    else:
        ini = render("stack.ini.in", workdir / "stack.ini", front_port=stack_port, **ports)
        argv = [args.twistd, "-n", "--pidfile=", "stack", "-c", str(ini), "--tier", "balancer"]
        first = procs.start(
            "stack", stack_port, [*pin, *argv, *shlex.split(args.stack_args)], stack_env()
        )
    second = procs.start(
        "haproxy", haproxy_port, [*pin, args.haproxy, "-f", str(haproxy_cfg), "-db"]
    )
    proxies = [first, second]
    for proxy in proxies:
        wait_listening(proxy, proxy.port, args.start_timeout)
        check_pinned(proxy, args.proxy_cpu)
        verify(proxy, proxy.port)
    check_pinned(origin, args.load_cpu)
    return origin, proxies


def versions(args: argparse.Namespace) -> dict[str, str]:
    found = {"twistd_path": args.twistd} if not args.calibrate else {}
    with contextlib.suppress(Exception):
        out = subprocess.run([args.haproxy, "-v"], capture_output=True, text=True, timeout=10)
        found["haproxy"] = out.stdout.splitlines()[0]
    if not args.calibrate:
        with contextlib.suppress(Exception):
            out = subprocess.run(
                [args.twistd, "--version"], capture_output=True, text=True, timeout=30
            )
            found["twistd"] = out.stdout.splitlines()[0]
        with contextlib.suppress(Exception):
            shebang = Path(shutil.which(args.twistd) or args.twistd).read_text().splitlines()[0]
            interpreter = shebang.removeprefix("#!").split()
            out = subprocess.run([*interpreter, "--version"], capture_output=True, text=True)
            found["python"] = out.stdout.strip()
    found["kernel"] = platform.release()
    return found


# --- reporting ------------------------------------------------------------------------------------


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


HEADER = (
    f"{'round':>6} {'proxy':<10} {'req/s':>9} {'CPU-us/req':>10} {'CPU':>5}"
    f" {'p50 ms':>7} {'p99 ms':>7} {'origin':>6} {'others':>9} {'opens':>6}  errors"
)
LEGEND = """\
CPU-us/req, CPU: the proxy's own utime+stime, per request and as % of its CPU (100%: the proxy
  was the bottleneck); origin: the origin's CPU-us/req; others: % of the proxy's / the load CPU
  taken by other processes (should be ~0); opens: TCP connections opened during the run, wrk's
  plus the proxy's to the origin (about a few x -c with keep-alive, ~requests without)"""
NOISY_PERCENT = 5.0


def print_row(m: Measurement, label: str) -> None:
    errors = ",".join(f"{k}={v}" for k, v in m.socket_errors.items())
    if m.non_2xx:
        errors = f"non2xx={m.non_2xx} {errors}".strip()
    others = f"{m.other_proxy_cpu_percent:.0f}%/{m.other_load_cpu_percent:.0f}%"
    print(
        f"{label:>6} {m.proxy:<10} {m.rps:>9,.0f} {m.cpu_us_per_request:>10.1f}"
        f" {m.proxy_cpu_percent:>4.0f}% {_fmt(m.p50_ms, '.2f'):>7} {_fmt(m.p99_ms, '.2f'):>7}"
        f" {m.origin_cpu_us_per_request:>6.1f} {others:>9} {m.tcp_opens:>6}  {errors}".rstrip(),
        flush=True,
    )


def median_of(rows: list[Measurement], proxy: str, round_: int) -> Measurement:
    mine = [m for m in rows if m.proxy == proxy]

    def med(name: str) -> float:
        return statistics.median(getattr(m, name) for m in mine)

    def med_opt(name: str) -> float | None:
        values = [getattr(m, name) for m in mine if getattr(m, name) is not None]
        return statistics.median(values) if values else None

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
    )


# --- main -----------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="scripts/bench",
        description=(
            "Measure requests/s and CPU-us per request of stack's balancer tier and of HAProxy"
            " with the equivalent config, both proxying to the same origin, and print the ratio"
            " (stack / haproxy CPU-us per request; target <= 2.5, goal <= 2.0). The proxy under"
            " test runs on --proxy-cpu; wrk and the origin on --load-cpu. Exits non-zero only"
            " if something failed to run, never because of a slow result."
        ),
        epilog="Configs: etc/bench/*.in. Run with the virtualenv's python so its twistd is used.",
    )
    parser.add_argument("--duration", type=float, default=8, help="seconds per run (default 8)")
    parser.add_argument("--rounds", type=int, default=3, help="measured rounds (default 3)")
    parser.add_argument("--connections", type=int, default=50, help="wrk -c (default 50)")
    parser.add_argument("--warmup", type=float, default=2, help="warm-up seconds (default 2)")
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: 2 s x 1 round, 1 s warm-up"
    )
    parser.add_argument("--json", metavar="FILE", help="also save the results as JSON")
    parser.add_argument("--proxy-cpu", type=int, default=0, help="CPU of the proxy (default 0)")
    parser.add_argument("--load-cpu", type=int, default=1, help="CPU of wrk+origin (default 1)")
    parser.add_argument("--haproxy", default="/usr/sbin/haproxy", help="haproxy binary")
    parser.add_argument("--wrk", default="wrk", help="wrk binary")
    parser.add_argument(
        "--twistd", default=default_twistd(), help="twistd to run stack (default: beside python)"
    )
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
        help="harness check: run a second HAProxy in stack's place (ratio should be ~1.0)",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.duration, args.rounds, args.warmup = 2.0, 1, 1.0
    if args.duration <= 0 or args.rounds < 1 or args.connections < 1 or args.warmup < 0:
        parser.error("--duration and --connections must be positive, --rounds at least 1")
    return args


@contextlib.contextmanager
def _signals_as_exit() -> Iterator[None]:
    """SIGTERM/SIGHUP unwind like Ctrl-C, so the servers are stopped in every case."""

    def handler(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def run(args: argparse.Namespace, procs: Processes) -> None:
    origin, proxies = start_servers(args, procs)
    a, b = proxies
    print(f"proxies on CPU {args.proxy_cpu}; wrk -t1 -c{args.connections} + origin on CPU", end="")
    print(f" {args.load_cpu}; {args.rounds} round(s) of {args.duration:g} s", flush=True)
    for proxy in proxies:
        print(f"  {proxy.label:<10} pid {proxy.pid:<8} port {proxy.port}  log {proxy.log}")
    if args.warmup > 0:
        for proxy in proxies:
            run_wrk(args, proxy.port, args.warmup)
    print(f"\n{HEADER}")
    rows: list[Measurement] = []
    for number in range(1, args.rounds + 1):
        order = (a, b) if number % 2 else (b, a)
        for proxy in order:
            row = measure(args, proxy, origin, number, args.duration)
            rows.append(row)
            print_row(row, str(number))
    medians = [median_of(rows, proxy.label, 0) for proxy in proxies]
    for m in medians:
        print_row(m, "median")
    print(LEGEND)
    noisy = [
        m for m in rows if max(m.other_proxy_cpu_percent, m.other_load_cpu_percent) > NOISY_PERCENT
    ]
    if noisy:
        print(
            f"warning: other processes took more than {NOISY_PERCENT:g}% of a CPU in"
            f" {len(noisy)} of {len(rows)} runs (column 'others'); the figures are noisy,"
            " rerun on a quiet machine to rely on them"
        )
    ratio = medians[0].cpu_us_per_request / medians[1].cpu_us_per_request
    # Each round measured both proxies back to back: their ratio within a round is the figure
    # least exposed to the machine's slow drift, so show the spread of those too.
    paired = [
        mine.cpu_us_per_request / theirs.cpu_us_per_request
        for mine, theirs in zip(
            (r for r in rows if r.proxy == a.label),
            (r for r in rows if r.proxy == b.label),
            strict=True,
        )
        if theirs.cpu_us_per_request > 0
    ]
    results = {
        "settings": {
            "duration_s": args.duration,
            "rounds": args.rounds,
            "connections": args.connections,
            "warmup_s": args.warmup,
            "proxy_cpu": args.proxy_cpu,
            "load_cpu": args.load_cpu,
            "calibrate": args.calibrate,
        },
        "versions": versions(args),
        "rounds": [asdict(m) for m in rows],
        "medians": {m.proxy: asdict(m) for m in medians},
        "ratio_cpu_us_per_request": ratio,
        "round_ratios": paired,
        "ratio_of": [a.label, b.label],
        "target_ratio": TARGET_RATIO,
        "goal_ratio": GOAL_RATIO,
    }
    if args.json:
        try:
            Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
        except OSError as error:
            raise BenchError(f"cannot write {args.json}: {error}") from error
        print(f"\nresults saved to {args.json}")
    print(
        f"\nreq/s {a.label}/{b.label}: {medians[0].rps / medians[1].rps:.2f}"
        " (the load CPU may cap the faster proxy; CPU per request is the comparison)"
    )
    print(
        f"ratio {a.label}/{b.label} CPU-us per request: {ratio:.2f}"
        f" (target <= {TARGET_RATIO}, goal <= {GOAL_RATIO})"
    )
    if len(paired) > 1:
        print(
            "  round by round: "
            + " ".join(f"{r:.2f}" for r in paired)
            + f" (min {min(paired):.2f}, max {max(paired):.2f})"
        )


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        check_tools(args)
    except BenchError as error:
        print(f"bench: {error}", file=sys.stderr)
        return 1
    workdir = Path(tempfile.mkdtemp(prefix="stack-bench-"))
    procs = Processes(workdir)
    try:
        with _signals_as_exit():
            try:
                run(args, procs)
            finally:
                procs.stop_all()
    except BenchError as error:
        print(f"bench: {error}", file=sys.stderr)
        print(f"bench: configs and logs kept in {workdir}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("bench: interrupted; servers stopped", file=sys.stderr)
        shutil.rmtree(workdir, ignore_errors=True)
        return 130
    if args.keep:
        print(f"bench: configs and logs kept in {workdir}", file=sys.stderr)
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
