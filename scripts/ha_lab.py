"""ha-lab: two stack load balancers sharing one VIP by VRRP, and a client watching it move.

Why: a VRRP failover is only worth what a client sees, so this lab measures the takeover the
way a user would feel it: a client polls ``https://VIP/`` every 10 ms while the master is
stopped, killed or cut off, and the time from that instant to the first HTTPS answer through
the new master is the figure (with keepalived's own figures, vrrp.md section 6, beside it).

Everything lives in network namespaces on one machine (root needed, nothing touches the
host's own interfaces): ``ha-br`` holds bridge br0; every other namespace has ``eth0`` on it
(veth, peer ``p-NAME``), addresses in 10.77.0.0/24 that exist only there, MAC
02:77:00:00:00:XX (XX = last octet in hex)::

    ha-client  10.77.0.2    the poller (python, standard library only)
    ha-lb1     10.77.0.11   twistd -n stack -c etc/lb1.ini  (edge + balancer + vrrp, priority 101)
    ha-lb2     10.77.0.12   twistd -n stack -c etc/lb2.ini  (priority 100)
    ha-web1..4 10.77.0.21-24  twistd -n stack with one [demo webN] (app = site) on port 80
    VIP        10.77.0.100  (VRID 51, instance apache_vip)

The run state (pids, derived configs, logs, state.json) is kept in ``var/ha-lab/`` so that
``up``, ``fail``, ``heal`` and ``down`` can be separate invocations. Processes are signalled
only after their pid is checked to still be the lab's (same command line, same namespace).

Both LBs present one certificate: lb1's ``certificate = auto`` CA and leaf are made (by
stack's own function) before the first start and copied to lb2's state directory, so the
poller verifies the chain against lb1's ``ca.pem`` whichever LB answers. Which LB answered is
read from the client's ARP entry for the VIP when the request starts (the MAC it went to).

Commands (``scripts/ha-lab --help``): ``up [--version 2|3] [--advert-int SECONDS]`` (other
values than etc/lbN.ini's run derived copies written to the run directory), ``status``,
``fail lb1|lb2 --how stop|kill|cut``, ``heal lb1|lb2``, ``failover [--how H]... [--runs N]``
(the measurement: fail the master under the poller, time it, check the SRVID session stayed
on its web server, heal, wait for the preemption back), ``watch`` (the poller in the
foreground) and ``down``.

After a cut heals both LBs are MASTER; the higher priority wins, but the client's ARP entry
moves back only if the winner sends gratuitous ARPs, which it does on seeing the loser's
lower-priority advert: deterministic only with ``higher_prio_send_advert`` (vrrp.md 4.3).
Otherwise the client waits for its ARP entry to age; ``heal`` and ``failover`` say so.

From Python (e.g. scripts/bench)::

    import ha_lab
    rows = ha_lab.measure(version=3, advert_int=0.1, how="kill", runs=3)   # list of dicts

Built on scripts/netlab.py (Lab, Host, cut/heal); the persistent bookkeeping across
invocations (pid checks, tearing down namespaces left by an earlier invocation) is here.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import http.client
import json
import os
import random
import re
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

if str(Path(__file__).resolve().parent) not in sys.path:  # loaded by its path (tests, bench)
    sys.path.insert(0, str(Path(__file__).resolve().parent))
import netlab

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PREFIX = "ha-"
VIP = "10.77.0.100"
VRID = 51
PREFIX_LENGTH = 24
HOSTS = {
    "client": "10.77.0.2",
    "lb1": "10.77.0.11",
    "lb2": "10.77.0.12",
    "web1": "10.77.0.21",
    "web2": "10.77.0.22",
    "web3": "10.77.0.23",
    "web4": "10.77.0.24",
}
LBS = ("lb1", "lb2")
WEBS = ("web1", "web2", "web3", "web4")
HOWS = ("stop", "kill", "cut")
LB_CONFIGS = {"lb1": ROOT / "etc" / "lb1.ini", "lb2": ROOT / "etc" / "lb2.ini"}
DEFAULT_RUN_DIR = ROOT / "var" / "ha-lab"
COOKIE = "SRVID"
HTTPS_PORT = 443
WEB_PORT = 80

# keepalived's own figures (vrrp.md section 6), keyed by (version, advert_int in centiseconds).
# A cut (silent partition) is a silent loss, like a kill.
EXPECTED = {
    (2, 100): {"stop": "~0.6 s", "kill": "~3.6 s", "cut": "~3.6 s"},
    (3, 10): {"stop": "< 0.15 s", "kill": "< 0.5 s", "cut": "< 0.5 s"},
}

_ENTERING = re.compile(r"\((\S+)\) Entering (\w+) STATE")
_SERVED_BY = re.compile(rb"served by ([\w.-]+)")


def mac_of(address: str) -> str:
    """The lab's MAC for a host address: 02:77:00:00:00:XX, XX the last octet."""
    return f"02:77:00:00:00:{int(address.rsplit('.', 1)[1]):02x}"


MAC_TO_HOST = {mac_of(address): name for name, address in HOSTS.items()}


class HaLabError(RuntimeError):
    """Something in the lab did not happen; the message says what and shows the log tail."""


def _now() -> float:
    return time.time()


def _stamp(t: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(t)) + f".{int(t % 1 * 1000):03d}"


# --- the client poller (runs inside ha-client; standard library only) -----------------------


def _arp_entry(address: str) -> str | None:
    """This namespace's complete ARP entry for ``address`` (its MAC), from /proc/net/arp."""
    try:
        lines = Path("/proc/net/arp").read_text().splitlines()[1:]
    except OSError:
        return None
    for line in lines:
        fields = line.split()
        if len(fields) >= 4 and fields[0] == address and int(fields[2], 16) & 0x2:
            return fields[3].lower()
    return None


def _client_context(ca: str | None, check_hostname: bool) -> ssl.SSLContext:
    if ca:
        context = ssl.create_default_context(cafile=ca)
        context.check_hostname = check_hostname
    else:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def _cookie_value(set_cookies: Sequence[str], name: str) -> str | None:
    for header in set_cookies:
        first = header.split(";", 1)[0].strip()
        key, _, value = first.partition("=")
        if key.strip() == name:
            return value.strip()
    return None


def fetch(
    address: str,
    port: int,
    server_name: str,
    context: ssl.SSLContext,
    cookie: str | None,
    timeout: float,
) -> dict[str, Any]:
    """One ``GET /`` over a new TLS connection: when, via which MAC, and what answered."""
    mac = _arp_entry(address)
    result: dict[str, Any] = {
        "start": _now(),
        "via": MAC_TO_HOST.get(mac or "", mac),
        "cookie": cookie,
    }
    request = (
        f"GET / HTTP/1.1\r\nHost: {server_name}\r\nUser-Agent: ha-lab\r\nConnection: close\r\n"
        + (f"Cookie: {COOKIE}={cookie}\r\n" if cookie else "")
        + "\r\n"
    ).encode()
    try:
        with (
            socket.create_connection((address, port), timeout=timeout) as raw,
            context.wrap_socket(raw, server_hostname=server_name) as tls,
        ):
            tls.settimeout(timeout)
            tls.sendall(request)
            response = http.client.HTTPResponse(tls)
            response.begin()
            body = response.read()
    except (OSError, http.client.HTTPException) as exc:
        error = type(exc).__name__
        if str(exc):
            error += f": {exc}"
        result.update(end=_now(), ok=False, error=error[:120])
        return result
    served = response.getheader("x-served-by")
    if served is None:
        found = _SERVED_BY.search(body)
        served = found.group(1).decode() if found else None
    result.update(
        end=_now(),
        ok=response.status == 200 and served is not None,
        status=response.status,
        server=served,
        set_cookie=_cookie_value(response.msg.get_all("set-cookie") or [], COOKIE),
    )
    return result


def _human(result: dict[str, Any]) -> str:
    what = (
        f"{result.get('status')} {result.get('server') or '?'}"
        if "status" in result
        else f"--- {result.get('error')}"
    )
    took = (result["end"] - result["start"]) * 1000
    return f"{_stamp(result['start'])}  via {result['via'] or '?':<5} {took:6.1f} ms  {what}"


def poll(args: argparse.Namespace) -> int:
    """The poller: a new HTTPS request every ``interval``, several in flight so that a dead
    MAC (requests timing out) does not stall it, carrying the first SRVID cookie it is given.
    One JSON line per response on stdout (``--human``: changes and a line a second)."""
    context = _client_context(args.ca, check_hostname=bool(args.ca))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    lock = threading.Lock()
    slots = threading.BoundedSemaphore(args.inflight)
    cookie: list[str | None] = [args.cookie]
    last_line: list[str] = [""]
    counts = {"ok": 0, "failed": 0}

    def emit(result: dict[str, Any]) -> None:
        if not args.human:
            sys.stdout.write(json.dumps(result) + "\n")
            sys.stdout.flush()
            return
        counts["ok" if result["ok"] else "failed"] += 1
        summary = f"{result['via']} {result.get('status')} {result.get('server')} {result['ok']}"
        if summary != last_line[0]:
            last_line[0] = summary
            sys.stdout.write(_human(result) + "\n")
            sys.stdout.flush()

    def work() -> None:
        try:
            result = fetch(args.address, args.port, args.name, context, cookie[0], args.timeout)
            with lock:
                if cookie[0] is None and result.get("set_cookie"):
                    cookie[0] = result["set_cookie"]
                try:
                    emit(result)
                except (BrokenPipeError, ValueError):
                    stop.set()  # whoever reads us has gone
        finally:
            slots.release()

    started = 0
    deadline = time.monotonic() + args.duration
    next_at = next_report = time.monotonic()
    try:
        while not stop.is_set() and time.monotonic() < deadline:
            if args.count is not None and started >= args.count:
                break
            if slots.acquire(blocking=False):
                started += 1
                threading.Thread(target=work, daemon=True).start()
            now = time.monotonic()
            if args.human and now >= next_report:
                next_report = now + 1.0
                with lock:
                    sys.stdout.write(
                        f"{_stamp(_now())}  {counts['ok']} ok, {counts['failed']} failed "
                        f"(cookie {COOKIE}={cookie[0]})\n"
                    )
                    sys.stdout.flush()
            next_at += args.interval
            delay = next_at - time.monotonic()
            if delay > 0:
                stop.wait(delay)
            else:
                next_at = time.monotonic()  # fell behind: carry on, no burst
    except KeyboardInterrupt:
        pass
    # Let the requests in flight finish (each is bounded by its timeouts).
    give_up = time.monotonic() + 5.0
    for _ in range(args.inflight):
        if not slots.acquire(timeout=max(0.0, give_up - time.monotonic())):
            break
    return 0


# --- results as the controller sees them ------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Response:
    """One poller result."""

    start: float
    end: float
    ok: bool
    via: str | None  # lb1 / lb2 (by the MAC of the client's ARP entry), a MAC, or None
    status: int | None
    server: str | None  # which web server answered (the demo page names it)
    cookie: str | None  # the SRVID value the request carried
    set_cookie: str | None
    error: str | None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Response:
        return cls(
            start=data["start"],
            end=data["end"],
            ok=bool(data["ok"]),
            via=data.get("via"),
            status=data.get("status"),
            server=data.get("server"),
            cookie=data.get("cookie"),
            set_cookie=data.get("set_cookie"),
            error=data.get("error"),
        )


class Poller:
    """The poller running in ha-client, its results collected here as they arrive."""

    def __init__(
        self,
        lab: HaLab,
        *,
        interval: float = 0.01,
        timeout: float = 0.2,
        inflight: int = 32,
        count: int | None = None,
        duration: float = 3600.0,
    ) -> None:
        ca, name = lab.tls_identity()
        argv = [
            sys.executable, "-u", str(HERE / "ha_lab.py"), "poll",
            "--address", VIP, "--port", str(HTTPS_PORT), "--name", name,
            "--interval", str(interval), "--timeout", str(timeout),
            "--inflight", str(inflight), "--duration", str(duration),
        ]  # fmt: skip
        if ca:
            argv += ["--ca", ca]
        if count is not None:
            argv += ["--count", str(count)]
        self.results: list[Response] = []
        self._changed = threading.Condition()
        with open(lab.dir / "poller.err", "a") as err:
            self.proc = lab.host("client").run(
                argv, stdout=subprocess.PIPE, stderr=err, stdin=subprocess.DEVNULL, text=True
            )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            try:
                response = Response.from_json(json.loads(line))
            except (ValueError, KeyError):
                continue
            with self._changed:
                self.results.append(response)
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    def __enter__(self) -> Poller:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._reader.join(5)

    def snapshot(self) -> list[Response]:
        with self._changed:
            return list(self.results)

    def wait_for(self, predicate: Callable[[Response], bool], timeout: float) -> Response | None:
        """The first result (already in or arriving within ``timeout``) that satisfies it."""
        deadline = time.monotonic() + timeout
        seen = 0
        with self._changed:
            while True:
                for response in self.results[seen:]:
                    if predicate(response):
                        return response
                seen = len(self.results)
                left = deadline - time.monotonic()
                if left <= 0 or (self.proc.poll() is not None and not self._reader.is_alive()):
                    return None
                self._changed.wait(min(left, 0.5))

    def wait_steady(self, via: str, count: int, timeout: float) -> Response | None:
        """The last of ``count`` consecutive (in completion order) successes through ``via``
        carrying the session cookie, or None."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            results = self.snapshot()
            tail = results[-count:]
            if len(tail) == count and all(r.ok and r.via == via and r.cookie for r in tail):
                return tail[-1]
            if self.proc.poll() is not None and not self._reader.is_alive():
                return None
            time.sleep(0.05)
        return None


# --- the lab ------------------------------------------------------------------------------------


def _netns_inode(ns: str) -> int | None:
    try:
        return os.stat(f"/run/netns/{ns}").st_ino
    except OSError:
        return None


def _pid_is(pid: int, ns: str, marker: str) -> bool:
    """Is ``pid`` still a live process in namespace ``ns`` whose command line has ``marker``?
    (So a recycled pid is never signalled.)"""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        if stat.rsplit(")", 1)[1].split()[0] == "Z":
            return False
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        inode = os.stat(f"/proc/{pid}/ns/net").st_ino
    except (OSError, IndexError):
        return False
    return inode == _netns_inode(ns) and marker.encode() in cmdline


def _listening(pid: int, port: int) -> bool:
    """Does the namespace of ``pid`` have a TCP socket listening on ``port``?"""
    for name in ("tcp", "tcp6"):
        try:
            lines = Path(f"/proc/{pid}/net/{name}").read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                return True
    return False


def _wait(condition: Callable[[], object], timeout: float, step: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(step)
    return bool(condition())


_NOISE = re.compile(r'(Starting|Stopping) factory|"GET / HTTP')


def _tail(path: Path, lines: int = 25) -> str:
    """The last ``lines`` lines of a log that say something (no factory or access lines)."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join([line for line in text.splitlines() if not _NOISE.search(line)][-lines:])


def _rewrite_ini(text: str, section_prefix: str, values: dict[str, str]) -> str:
    """``text`` with ``key = value`` set for each of ``values`` in every section whose name
    starts with ``section_prefix`` (replacing the key's line, or adding it after the
    header). Multi-line values of other keys are left alone."""
    out: list[str] = []
    in_section = False
    pending: dict[str, str] = {}

    def flush() -> None:
        for key, value in pending.items():
            out.append(f"{key} = {value}")
        pending.clear()

    header = re.compile(r"\s*\[([^\]]+)\]")
    for line in text.splitlines():
        match = header.match(line)
        if match:
            if in_section:
                while out and not out[-1].strip():
                    out.pop()
                flush()
                out.append("")
            in_section = match.group(1).strip().startswith(section_prefix)
            out.append(line)
            if in_section:
                pending = dict(values)
            continue
        if in_section and line[:1] not in (" ", "\t") and "=" in line:
            key = line.split("=", 1)[0].strip()
            if key in pending:
                out.append(f"{key} = {pending.pop(key)}")
                continue
        out.append(line)
    if in_section:
        flush()
    return "\n".join(out) + "\n"


def _comparable(value: Any) -> Any:
    """A loaded config with every Origin (file:line) and the file path dropped, to compare
    two configs for meaning."""
    if type(value).__name__ == "Origin":
        return None
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return (
            type(value).__name__,
            tuple(
                (f.name, _comparable(getattr(value, f.name)))
                for f in dataclasses.fields(value)
                if f.name != "path"
            ),
        )
    if isinstance(value, list | tuple):
        return tuple(_comparable(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((repr(k), _comparable(v)) for k, v in value.items()))
    return value


def seconds_text(centiseconds: int) -> str:
    """An advert_int as keepalived writes it: 1, 0.1, 0.25."""
    return f"{centiseconds / 100:g}"


def derive_config(source: Path, target: Path, version: int | None, advert_int: int | None) -> Path:
    """Write ``source`` to ``target`` with the vrrp_instance ``version`` / ``advert_int``
    (centiseconds) set; a relative ``state-dir`` is made absolute so the copy keeps the
    original's state. The copy is loaded and checked to differ from the original in those two
    keys only (a relative path that moved would show)."""
    from stack.config import load

    original = load(str(source))
    text = source.read_text()
    changes = {}
    if version is not None:
        changes["version"] = str(version)
    if advert_int is not None:
        changes["advert_int"] = seconds_text(advert_int)
    text = _rewrite_ini(text, "vrrp_instance", changes)
    text = _rewrite_ini(text, "global", {"state-dir": original.global_.state_dir})
    header = (
        f"# Derived by scripts/ha-lab from {source}: "
        + ", ".join(f"{k} = {v}" for k, v in changes.items())
        + "\n"
    )
    target.write_text(header + text)
    derived = load(str(target))
    wanted = dataclasses.replace(
        original,
        vrrp_instances=tuple(
            dataclasses.replace(
                instance,
                version=version if version is not None else instance.version,
                advert_int=advert_int if advert_int is not None else instance.advert_int,
            )
            for instance in original.vrrp_instances
        ),
    )
    if _comparable(derived) != _comparable(wanted):
        raise HaLabError(
            f"{target}: the derived copy of {source} means something else than the original "
            "with version/advert_int changed (a relative path?)"
        )
    return target


def healthy_priority(config: Any) -> int:
    """The priority the instance advertises with its track scripts passing (keepalived:
    base + positive weights, clamped to 1..254; 255 never changes)."""
    if not config.vrrp_instances:
        return 0
    instance = config.vrrp_instances[0]
    if instance.priority == 255:
        return 255
    scripts = {s.name: s for s in config.vrrp_scripts}
    total = instance.priority
    for track in instance.track_scripts:
        weight = track.weight if track.weight is not None else scripts[track.name].weight
        if weight > 0:
            total += weight
    return max(1, min(254, total))


def theory(version: int, advert_int: int, backup_priority: int) -> dict[str, float]:
    """The backup's timers, as stack's state machine computes them: a clean stop costs
    Skew_Time, a silent loss between Master_Down_Interval - Advertisement_Interval and
    Master_Down_Interval."""
    from stack.vrrp.machine import master_down_interval, skew_time

    down = master_down_interval(version, backup_priority, advert_int)
    skew = skew_time(version, backup_priority, advert_int)
    return {"skew": skew, "silent_min": down - advert_int / 100, "silent_max": down}


class HaLab:
    """The lab in ``run_dir``: build it, run its processes, fail and heal the LBs, measure."""

    def __init__(self, run_dir: str | Path | None = None, *, verbose: bool = False) -> None:
        self.dir = Path(run_dir) if run_dir else DEFAULT_RUN_DIR
        self.dir.mkdir(parents=True, exist_ok=True)
        self.state_path = self.dir / "state.json"
        self.verbose = verbose
        self.lab = netlab.Lab(PREFIX, self.dir)
        self._popens: dict[str, subprocess.Popen[Any]] = {}
        self._configs: dict[str, Any] = {}
        self.state: dict[str, Any] = self._load_state()

    # -- bookkeeping

    def _load_state(self) -> dict[str, Any]:
        try:
            loaded: dict[str, Any] = json.loads(self.state_path.read_text())
            return loaded
        except (OSError, ValueError):
            return {"procs": {}, "cut": []}

    def _save(self) -> None:
        temporary = self.state_path.with_suffix(".tmp")
        temporary.write_text(json.dumps(self.state, indent=1))
        temporary.replace(self.state_path)

    def say(self, message: str) -> None:
        if self.verbose:
            print(message, flush=True)

    @staticmethod
    def namespaces() -> list[str]:
        return [PREFIX + "br"] + [PREFIX + name for name in HOSTS]

    @staticmethod
    def existing_namespaces() -> list[str]:
        out = subprocess.run(
            [netlab.IP, "netns", "list"], capture_output=True, text=True, check=False
        ).stdout
        present = {line.split()[0] for line in out.splitlines() if line.strip()}
        return [ns for ns in HaLab.namespaces() if ns in present]

    def is_up(self) -> bool:
        return bool(self.state.get("procs")) and len(self.existing_namespaces()) == len(
            self.namespaces()
        )

    def host(self, name: str) -> netlab.Host:
        if name not in self.lab.hosts:
            address = HOSTS[name]
            self.lab.hosts[name] = netlab.Host(
                self.lab, name, PREFIX + name, address, mac_of(address), None
            )
        return self.lab.hosts[name]

    def config(self, lb: str) -> Any:
        """The loaded config the LB runs (cached)."""
        if lb not in self._configs:
            from stack.config import load

            self._configs[lb] = load(self.state["configs"][lb])
        return self._configs[lb]

    def settings(self) -> tuple[int, int]:
        """(version, advert_int in centiseconds) the lab runs (keepalived's defaults when
        the config has no vrrp_instance)."""
        instances = self.config("lb1").vrrp_instances
        return (instances[0].version, instances[0].advert_int) if instances else (2, 100)

    def tls_identity(self) -> tuple[str | None, str]:
        """(CA file to verify against or None, the name to ask for) for the poller."""
        return self.state.get("ca"), self.state.get("server_name", VIP)

    # -- processes

    def _start(self, name: str, argv: list[str], marker: str) -> int:
        log = self.dir / f"{name}.log"
        mark = log.stat().st_size if log.exists() else 0
        with open(log, "a") as out:
            out.write(f"--- ha-lab {_stamp(_now())}: {' '.join(argv)}\n")
            out.flush()
            proc = self.host(name).run(
                argv,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=ROOT,
                start_new_session=True,  # survives this invocation and its Ctrl-C
            )
        self._popens[name] = proc
        self.state["procs"][name] = {
            "pid": proc.pid,
            "ns": PREFIX + name,
            "argv": argv,
            "marker": marker,
            "log": str(log),
            "mark": mark,
        }
        self._save()
        return proc.pid

    def running(self, name: str) -> bool:
        info = self.state["procs"].get(name)
        if info is None:
            return False
        if name in self._popens:
            return self._popens[name].poll() is None
        return _pid_is(info["pid"], info["ns"], info["marker"])

    def _signal(self, name: str, sig: signal.Signals) -> bool:
        """Send ``sig`` to the lab's process ``name`` if it is still the one we started."""
        if not self.running(name):
            return False
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.state["procs"][name]["pid"], sig)
        return True

    def _wait_exit(self, name: str, timeout: float) -> bool:
        if name in self._popens:
            try:
                self._popens[name].wait(timeout)
                return True
            except subprocess.TimeoutExpired:
                return False
        return _wait(lambda: not self.running(name), timeout)

    def log_since_start(self, name: str) -> str:
        info = self.state["procs"].get(name)
        if info is None:
            return ""
        try:
            with open(info["log"], errors="replace") as f:
                f.seek(info.get("mark", 0))
                return f.read()
        except OSError:
            return ""

    def vrrp_state(self, lb: str) -> str | None:
        """The latest "(NAME) Entering X STATE" of the LB since its last start."""
        found = _ENTERING.findall(self.log_since_start(lb))
        return found[-1][1] if found else None

    def _lb_argv(self, lb: str) -> list[str]:
        argv = [netlab.TWISTD, "-n", "--pidfile=", "stack", "-c", self.state["configs"][lb]]
        for tier in self.state.get("tiers") or []:
            argv += ["--tier", tier]
        return argv

    def _start_lb(self, lb: str) -> None:
        self._start(lb, self._lb_argv(lb), self.state["configs"][lb])

    def _wait_listening(self, name: str, port: int, timeout: float) -> None:
        pid = self.state["procs"][name]["pid"]

        def ready() -> bool:
            if not self.running(name):
                raise HaLabError(
                    f"{name} exited on start; {self.state['procs'][name]['log']}:\n"
                    + _tail(Path(self.state["procs"][name]["log"]))
                )
            return _listening(pid, port)

        if not _wait(ready, timeout):
            raise HaLabError(
                f"{name} does not listen on port {port} after {timeout:g} s:\n"
                + _tail(Path(self.state["procs"][name]["log"]))
            )

    # -- building and tearing down

    def up(
        self,
        version: int | None = None,
        advert_int: float | None = None,
        tiers: Sequence[str] = (),
    ) -> None:
        """Build the namespaces and start the four web servers and both LBs. ``advert_int``
        in seconds; with a version or interval other than etc/lbN.ini's, derived copies of
        the configs are written to the run directory and run instead."""
        if os.geteuid() != 0:
            raise HaLabError("ha-lab needs root (network namespaces)")
        if not shutil.which("ip") and not Path(netlab.IP).exists():
            raise HaLabError("ha-lab needs iproute2's ip")
        if not Path(netlab.TWISTD).exists():
            raise HaLabError(f"no twistd beside {sys.executable}")
        if self.existing_namespaces() or self.state.get("procs"):
            self.say("tearing down the previous lab")
            self.down()
        self.state = {"procs": {}, "cut": [], "tiers": list(tiers)}
        self._configs.clear()
        self.state["configs"] = self._lb_configs(
            version, round(advert_int * 100) if advert_int is not None else None
        )
        self._save()
        self._share_certificate()
        try:
            self.lab.bridge()
            for name, address in HOSTS.items():
                self.lab.host(name, f"{address}/{PREFIX_LENGTH}", mac_of(address))
            for web in WEBS:
                ini = self.dir / f"{web}.ini"
                ini.write_text(
                    f"# ha-lab: a web server of the lab\n[demo {web}]\napp = site\n"
                    f"bind = {HOSTS[web]}:{WEB_PORT}\n"
                )
                self._start(
                    web,
                    [netlab.TWISTD, "-n", "--pidfile=", "stack", "-c", str(ini)],
                    str(ini),
                )
            for web in WEBS:
                self._wait_listening(web, WEB_PORT, 30)
            for lb in LBS:
                self._start_lb(lb)
            for lb in LBS:
                self._wait_listening(lb, HTTPS_PORT, 60)
        except BaseException:
            self.down()
            raise
        self.state["up_at"] = _now()
        self._save()

    def _lb_configs(self, version: int | None, advert_int: int | None) -> dict[str, str]:
        from stack.config import load

        configs = {}
        for lb, path in LB_CONFIGS.items():
            if not path.exists():
                raise HaLabError(f"{path} is missing")
            instances = load(str(path)).vrrp_instances
            if not instances and (version, advert_int) != (None, None):
                raise HaLabError(f"{path} has no [vrrp_instance] to set version/advert_int in")
            have = (instances[0].version, instances[0].advert_int) if instances else (None, None)
            want_version = version if version not in (None, have[0]) else None
            want_interval = advert_int if advert_int not in (None, have[1]) else None
            if want_version is None and want_interval is None:
                configs[lb] = str(path)
            else:
                target = self.dir / path.name
                derive_config(path, target, want_version, want_interval)
                configs[lb] = str(target)
        return configs

    def _share_certificate(self) -> None:
        """Make lb1's certificate = auto CA and leaf now and give lb2 the same files, so the
        client verifies either LB against one CA."""
        from stack.http.certificates import ensure_auto_certificate

        first, second = self.config("lb1"), self.config("lb2")
        if not first.edges or first.edges[0].certificates:
            return  # not certificate = auto: the poller does not verify
        edge = first.edges[0]
        auto = ensure_auto_certificate(first.global_.state_dir, edge.names)
        self.state["ca"] = auto.ca_path
        self.state["server_name"] = edge.names[0]
        if second.edges and not second.edges[0].certificates:
            source = Path(auto.ca_path).parent
            target = Path(second.global_.state_dir) / "tls"
            if source.resolve() != target.resolve():
                target.mkdir(parents=True, exist_ok=True, mode=0o700)
                for name in ("ca.pem", "ca.key", "server.pem", "server.key"):
                    data = (source / name).read_bytes()
                    destination = target / name
                    if not destination.exists() or destination.read_bytes() != data:
                        temporary = target / f".{name}.ha-lab"
                        temporary.write_bytes(data)
                        os.chmod(temporary, (source / name).stat().st_mode & 0o777)
                        temporary.replace(destination)
        self._save()

    def down(self) -> None:
        """Stop the lab's processes (SIGTERM, then SIGKILL, by checked pid), then delete its
        namespaces (anything else still inside one was started there by the lab)."""
        names = [n for n in (*LBS, *WEBS) if n in self.state.get("procs", {})]
        signalled = [n for n in names if self._signal(n, signal.SIGTERM)]
        for name in signalled:
            if not self._wait_exit(name, 15):
                self._signal(name, signal.SIGKILL)
                self._wait_exit(name, 5)
        for ns in self.existing_namespaces():
            _delete_namespace(ns)
        self.state = {"procs": {}, "cut": []}
        with contextlib.suppress(FileNotFoundError):
            self.state_path.unlink()

    # -- observing

    def holders(self) -> list[str]:
        """The LBs whose eth0 holds the VIP."""
        return [lb for lb in LBS if self.host(lb).holds(VIP)]

    def holders_text(self) -> str:
        """The holders of the VIP for people: a cut-off holder is marked (split brain)."""
        names = [f"{lb} (cut off)" if lb in self.state["cut"] else lb for lb in self.holders()]
        return ", ".join(names) or "none"

    def client_view(self) -> str | None:
        """Which LB the client's ARP entry for the VIP points to (or the MAC, or None)."""
        mac = self.host("client").neigh(VIP)
        return MAC_TO_HOST.get(mac, mac) if mac else None

    def expected_master(self) -> str | None:
        """The running, connected LB with the highest healthy priority (ties: higher
        address, VRRP's rule)."""
        candidates = [lb for lb in LBS if self.running(lb) and lb not in self.state["cut"]]
        if not candidates:
            return None
        return max(candidates, key=lambda lb: (healthy_priority(self.config(lb)), HOSTS[lb]))

    def wait_master(self, lb: str, timeout: float) -> bool:
        """Until ``lb`` alone holds the VIP."""
        return _wait(lambda: self.holders() == [lb], timeout, step=0.1)

    def probe(self, timeout: float = 1.0) -> Response | None:
        """One HTTPS request from the client through the VIP (resolved first, so the
        answer says which LB it went to)."""
        self.host("client").poke(VIP)
        _wait(lambda: self.client_view() is not None, 2)
        with Poller(self, count=1, timeout=timeout) as poller:
            return poller.wait_for(lambda r: True, timeout * 4 + 5)

    def status(self) -> dict[str, Any]:
        lbs = {}
        for lb in LBS:
            lbs[lb] = {
                "running": self.running(lb),
                "pid": self.state["procs"].get(lb, {}).get("pid"),
                "vrrp": self.vrrp_state(lb) if self.running(lb) else None,
                "holds_vip": self.host(lb).holds(VIP),
                "cut": lb in self.state["cut"],
            }
        webs = {web: self.running(web) for web in WEBS}
        return {"lbs": lbs, "webs": webs, "client_arp": self.client_view()}

    def patience(self) -> float:
        """How long to wait for what the lab should do, seconds: a minute plus ten
        Master_Down_Intervals, since a client that no gratuitous ARP reached only finds the
        master again when its ARP entry ages (tens of seconds). Durations are reported, never
        judged, so this is generous."""
        return 60 + 10 * self.mdi()

    def mdi(self) -> float:
        """The backup's Master_Down_Interval, seconds: the yardstick for timeouts."""
        version, advert_int = self.settings()
        return theory(version, advert_int, healthy_priority(self.config("lb2")))["silent_max"]

    # -- failing and healing

    def fail(self, lb: str, how: str) -> float:
        """Fail ``lb``: stop (SIGTERM), kill (SIGKILL) or cut (its bridge port leaves br0,
        carrier up). Returns the instant of the failure."""
        if how == "cut":
            if lb in self.state["cut"]:
                raise HaLabError(f"{lb} is already cut off")
            t0 = _now()
            self.lab.cut(lb)
            self.state["cut"].append(lb)
            self._save()
            return t0
        if how not in ("stop", "kill"):
            raise ValueError(f"how: one of {', '.join(HOWS)}")
        sig = signal.SIGTERM if how == "stop" else signal.SIGKILL
        if not self.running(lb):
            raise HaLabError(f"{lb} is not running")
        t0 = _now()
        self._signal(lb, sig)
        if not self._wait_exit(lb, 30):
            raise HaLabError(f"{lb} still runs 30 s after {sig.name}:\n" + self._log_tail(lb))
        return t0

    def heal(self, lb: str) -> float:
        """Undo a failure: reconnect a cut LB, restart a stopped or killed one. Returns the
        instant of the healing."""
        t = _now()
        if lb in self.state["cut"]:
            self.lab.heal(lb)
            self.state["cut"].remove(lb)
            self._save()
        if not self.running(lb):
            self._start_lb(lb)
            self._wait_listening(lb, HTTPS_PORT, 60)
        return t

    def _log_tail(self, lb: str) -> str:
        return _tail(Path(self.state["procs"][lb]["log"]))

    def settle(self, timeout: float | None = None) -> str:
        """Heal whatever is failed and wait until the expected master alone holds the VIP;
        its name."""
        for lb in LBS:
            if lb in self.state["cut"] or not self.running(lb):
                self.heal(lb)
        master = self.expected_master()
        assert master is not None
        limit = timeout if timeout is not None else self.patience()
        if not self.wait_master(master, limit):
            raise HaLabError(
                f"{master} does not hold the VIP alone after {limit:g} s "
                f"(holders: {self.holders() or 'none'})\n" + self.logs_tail()
            )
        return master

    def logs_tail(self, lines: int = 15) -> str:
        logs = [Path(self.state["procs"][lb]["log"]) for lb in LBS if lb in self.state["procs"]]
        return "\n".join(f"--- {log} ---\n{_tail(log, lines)}" for log in logs)

    # -- the measurement

    def failover(
        self,
        how: str,
        *,
        poller: Poller | None = None,
        report: Callable[[str], None] | None = None,
    ) -> dict[str, Any]:
        """One failover as the client sees it: fail the master while the client polls, time
        the first HTTPS success through the other LB, check the sticky server, heal, wait for
        the preemption back. A dict of outcomes and durations (seconds)."""
        master = self.settle()
        version, advert_int = self.settings()
        row: dict[str, Any] = {
            "version": version,
            "advert_int": advert_int / 100,
            "how": how,
            "old_master": master,
        }
        own = poller is None
        poller = poller or Poller(self)
        try:
            steady = poller.wait_steady(master, 20, self.patience())
            if steady is None:
                raise HaLabError(
                    f"the client gets no steady HTTPS service through {master}: last results "
                    f"{poller.snapshot()[-3:]}\n" + self.logs_tail()
                )
            before = steady.server
            row["server_before"] = before
            row["cookie"] = steady.cookie
            # Fail at a random point of the master's advert cycle: runs started the same way
            # would otherwise all land at one phase and report one corner of the range.
            time.sleep(random.uniform(0, advert_int / 100))
            t0 = self.fail(master, how)
            row["failed_at"] = t0
            if report:
                report(f"{how} {master} at {_stamp(t0)}")
            first = poller.wait_for(
                lambda r: r.start >= t0 and r.ok and r.via not in (None, master),
                self.patience(),
            )
            row["recovered"] = first is not None
            if first is None:
                after = [r for r in poller.snapshot() if r.start >= t0]
                row.update(new_master=None, takeover=None, holders=self.holders())
                row["failed_requests"] = sum(1 for r in after if not r.ok)
                row["errors"] = sorted({r.error or str(r.status) for r in after if not r.ok})[:5]
                return row
            row["takeover"] = first.end - t0
            row["takeover_request_start"] = first.start - t0
            row["new_master"] = first.via
            time.sleep(1.0)  # a second of service through the new master (and no request open)
            results = poller.snapshot()
            between = [r for r in results if t0 <= r.start < first.start]
            row["failed_requests"] = sum(1 for r in between if not r.ok)
            old_ok = [r for r in results if r.start >= t0 and r.ok and r.via == master]
            row["last_old_master_success"] = max(r.end for r in old_ok) - t0 if old_ok else None
            served = [r for r in results if r.start >= first.start and r.ok]
            row["holders"] = self.holders()
            row["client_arp"] = self.client_view()
            row["servers_after"] = sorted({r.server for r in served if r.server})
            row["server_after"] = first.server
            row["sticky"] = bool(served) and all(r.server == before for r in served)
            if report:
                report(
                    f"  {first.via} answered {row['takeover']:.3f} s after the failure "
                    f"({row['failed_requests']} requests failed meanwhile); {first.server} "
                    f"{'same as before' if row['sticky'] else f'(was {before})'}"
                )
            t_heal = self.heal(master)
            row["healed_at"] = t_heal
            back = poller.wait_for(
                lambda r: r.start >= t_heal and r.ok and r.via == master,
                self.patience(),
            )
            row["preempted_back"] = back is not None and self.wait_master(master, self.patience())
            row["preempt"] = back.end - t_heal if back else None
            row["holders_after_heal"] = self.holders()
            row["stale_arp"] = stale_arp(poller.snapshot(), t_heal, back, master)
            if back is not None:
                time.sleep(0.5)
                served = [r for r in poller.snapshot() if r.start >= back.start and r.ok]
                row["server_after_heal"] = back.server
                row["sticky_after_heal"] = bool(served) and all(r.server == before for r in served)
            if report:
                report(
                    f"  healed: {master} master again after {row['preempt']:.3f} s"
                    if back
                    else f"  healed: {master} did not take the VIP back"
                )
                if row["stale_arp"] > 2 * self.mdi():
                    report(STALE_ARP_HINT.format(seconds=row["stale_arp"]))
            return row
        finally:
            if own:
                poller.close()

    def failovers(
        self, hows: Sequence[str], runs: int, report: Callable[[str], None] | None = None
    ) -> list[dict[str, Any]]:
        rows = []
        for how in hows:
            for run in range(1, runs + 1):
                row = self.failover(how, report=report)
                row["run"] = run
                rows.append(row)
        return rows


STALE_ARP_HINT = (
    "  the client's ARP entry for the VIP still pointed at the other LB {seconds:.1f} s after "
    "healing (until it aged): no gratuitous ARP reached it. keepalived behaves the same "
    "(vrrp.md 4.3; its issues #14, #160); higher_prio_send_advert on both LBs makes the "
    "yielding master send the advert that makes the new one send gratuitous ARPs"
)


def stale_arp(results: Sequence[Response], since: float, back: Response | None, lb: str) -> float:
    """How long after ``since`` the client still sent requests to another LB's MAC than
    ``lb``'s (until ``back``, the first success through ``lb``), seconds."""
    end = back.start if back is not None else float("inf")
    wrong = [r.start for r in results if since <= r.start < end and r.via not in (None, lb)]
    return max(wrong) - since if wrong else 0.0


def _delete_namespace(ns: str) -> None:
    """Delete one of the lab's namespaces, ending what still runs inside it first (by pid:
    only processes the lab started, or their children, can be in a namespace it made)."""
    out = subprocess.run(
        [netlab.IP, "netns", "pids", ns], capture_output=True, text=True, check=False
    ).stdout
    pids = [int(p) for p in out.split() if p.isdigit()]
    for sig in (signal.SIGTERM, signal.SIGKILL):
        alive = [p for p in pids if Path(f"/proc/{p}").exists()]
        for pid in alive:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        if not alive or _wait(lambda: not any(Path(f"/proc/{p}").exists() for p in pids), 3):
            break
    subprocess.run([netlab.IP, "netns", "del", ns], capture_output=True, check=False)


def measure(
    version: int = 2,
    advert_int: float = 1.0,
    how: str | Sequence[str] = "kill",
    runs: int = 1,
    *,
    run_dir: str | Path | None = None,
    keep: bool = False,
) -> list[dict[str, Any]]:
    """Failover figures for scripts/bench: brings the lab up with (version, advert_int in
    seconds) unless it already runs so, does ``runs`` failovers per ``how``, and tears the
    lab down again if it brought it up (unless ``keep``). One dict per failover: ``takeover``
    (seconds from the failure to the first HTTPS success through the new master),
    ``new_master``, ``sticky``, ``preempt``, ``expected`` (keepalived's figure) and more."""
    hows = (how,) if isinstance(how, str) else tuple(how)
    lab = HaLab(run_dir)
    wanted = (version, round(advert_int * 100))
    brought_up = False
    if not lab.is_up() or lab.settings() != wanted:
        lab.up(version, advert_int)
        brought_up = True
    try:
        rows = lab.failovers(hows, runs)
        for row in rows:
            row["expected"] = EXPECTED.get(wanted, {}).get(row["how"])
        return rows
    finally:
        if brought_up and not keep:
            lab.down()


# --- the command line ---------------------------------------------------------------------------

TOPOLOGY = f"""\
lab (network namespaces on bridge br0 in {PREFIX}br; addresses exist only there):
  {PREFIX}client  {HOSTS["client"]:<12} the poller: https://{VIP}/ every 10 ms
  {PREFIX}lb1     {HOSTS["lb1"]:<12} twistd -n --pidfile= stack -c etc/lb1.ini (all its tiers)
  {PREFIX}lb2     {HOSTS["lb2"]:<12} twistd -n --pidfile= stack -c etc/lb2.ini
  {PREFIX}web1..4 {HOSTS["web1"]}-24  twistd -n stack, [demo webN] app = site on port 80
  VIP        {VIP}/{PREFIX_LENGTH}  VRID {VRID}, moved by VRRP + gratuitous ARP
  MACs 02:77:00:00:00:XX (XX = last octet in hex); run state in var/ha-lab/

failures: stop = SIGTERM (priority-0 advert), kill = SIGKILL (silent, VIP left behind),
cut = silent partition (bridge port nomaster, carrier up); heal = restart or reconnect.
keepalived's figures (vrrp.md section 6): v2 advert 1 s: kill ~3.6 s, stop ~0.6 s;
v3 advert 0.1 s: kill < 0.5 s, stop < 0.15 s.
"""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="scripts/ha-lab",
        description="Two stack load balancers sharing a VIP by VRRP, four web servers and a "
        "client, in network namespaces on this machine (root). Fail and heal the LBs and see "
        "how long the client waits.",
        epilog=TOPOLOGY,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--run-dir", default=str(DEFAULT_RUN_DIR), help="run state directory (%(default)s)"
    )
    sub = parser.add_subparsers(
        dest="command", required=True, metavar="{up,status,fail,heal,failover,watch,down}"
    )
    up = sub.add_parser("up", help="build the lab and start everything")
    up.add_argument("--version", type=int, choices=(2, 3), help="VRRP version (default: lbN.ini's)")
    up.add_argument("--advert-int", type=float, metavar="SECONDS", help="default: lbN.ini's")
    up.add_argument(
        "--tier",
        action="append",
        default=[],
        choices=("edge", "balancer", "vrrp"),
        help="run only these tiers on the LBs (repeatable; default all)",
    )
    sub.add_parser("status", help="who holds the VIP, process states, one request")
    fail = sub.add_parser("fail", help="fail one LB and time the takeover")
    fail.add_argument("lb", choices=LBS)
    fail.add_argument("--how", choices=HOWS, default="stop")
    heal = sub.add_parser("heal", help="restart or reconnect an LB and wait for the VIP")
    heal.add_argument("lb", choices=LBS)
    failover = sub.add_parser("failover", help="measure: fail the master, time it, heal")
    failover.add_argument(
        "--how", action="append", choices=HOWS, help="repeatable (default: stop, kill, cut)"
    )
    failover.add_argument("--runs", type=int, default=1)
    failover.add_argument("--json", action="store_true", help="print the rows as JSON too")
    watch = sub.add_parser("watch", help="run the client poller in the foreground")
    watch.add_argument("--seconds", type=float, default=3600.0)
    watch.add_argument("--interval", type=float, default=0.01)
    sub.add_parser("down", help="stop the lab's processes and delete its namespaces")
    p = sub.add_parser("poll")  # the poller itself, run inside ha-client; not listed
    p.add_argument("--address", default=VIP)
    p.add_argument("--port", type=int, default=HTTPS_PORT)
    p.add_argument("--name", default=VIP, help="SNI, Host and the name to verify")
    p.add_argument("--ca")
    p.add_argument("--cookie", help="start with this SRVID")
    p.add_argument("--interval", type=float, default=0.01)
    p.add_argument("--timeout", type=float, default=0.2)
    p.add_argument("--inflight", type=int, default=32)
    p.add_argument("--count", type=int)
    p.add_argument("--duration", type=float, default=3600.0)
    p.add_argument("--human", action="store_true")
    return parser


def _print_status(lab: HaLab) -> None:
    version, advert_int = lab.settings()
    print(f"run directory {lab.dir}; VRRP v{version}, advert_int {seconds_text(advert_int)} s")
    for lb in LBS:
        print(f"  config {lb}: {lab.state['configs'][lb]}")
    status = lab.status()
    for lb, s in status["lbs"].items():
        print(
            f"{PREFIX}{lb:<7} {HOSTS[lb]:<11} "
            f"{'running pid ' + str(s['pid']) if s['running'] else 'not running':<18} "
            f"VRRP {s['vrrp'] or '-':<7} {'holds the VIP' if s['holds_vip'] else '':<13}"
            f"{' CUT OFF' if s['cut'] else ''}"
        )
    for web, up in status["webs"].items():
        print(f"{PREFIX}{web:<7} {HOSTS[web]:<11} {'running' if up else 'NOT RUNNING'}")
    print(f"master (holds {VIP}): {lab.holders_text()}")
    probe = lab.probe()
    print(f"client's ARP entry for {VIP}: {lab.client_view() or 'none'}")
    if probe is None:
        print("HTTPS through the VIP: no result")
    elif probe.ok:
        print(f"HTTPS through the VIP: {probe.status} from {probe.server} via {probe.via}")
    else:
        print(f"HTTPS through the VIP: failed via {probe.via}: {probe.error or probe.status}")


def _expected_text(lab: HaLab, how: str) -> str:
    version, advert_int = lab.settings()
    t = theory(version, advert_int, healthy_priority(lab.config("lb2")))
    rfc = (
        f"RFC {t['skew']:.3f} s"
        if how == "stop"
        else f"RFC {t['silent_min']:.2f}-{t['silent_max']:.2f} s"
    )
    keepalived = EXPECTED.get((version, advert_int), {}).get(how)
    return f"keepalived {keepalived}; {rfc}" if keepalived else rfc


def _summarise(lab: HaLab, rows: list[dict[str, Any]]) -> None:
    version, advert_int = lab.settings()
    print(f"\nVRRP v{version}, advert_int {seconds_text(advert_int)} s: time from the failure to "
          "the first HTTPS answer through the new master")  # fmt: skip
    for how in dict.fromkeys(r["how"] for r in rows):
        mine = [r for r in rows if r["how"] == how]
        times = [r["takeover"] for r in mine if r.get("takeover") is not None]
        if times:
            figures = (
                f"{times[0]:.3f} s"
                if len(times) == 1
                else f"median {statistics.median(times):.3f} s "
                f"(min {min(times):.3f}, max {max(times):.3f}, {len(times)} runs)"
            )
        else:
            figures = "no takeover"
        sticky = sum(1 for r in mine if r.get("sticky"))
        back = [r["preempt"] for r in mine if r.get("preempted_back") and r.get("preempt")]
        slowest = f" (HTTPS through it again after at most {max(back):.3f} s)" if back else ""
        print(
            f"  {how:<4}  {figures:<44} expected: {_expected_text(lab, how)}\n"
            f"        sticky server kept {sticky}/{len(mine)}; healed, the old master took "
            f"the VIP back {len(back)}/{len(mine)}{slowest}"
        )


def _cmd_fail(lab: HaLab, lb: str, how: str) -> int:
    master = lab.holders()
    with Poller(lab) as poller:
        steady = None
        if len(master) == 1:
            steady = poller.wait_steady(master[0], 20, lab.patience())
        others = [o for o in LBS if o != lb and lab.running(o) and o not in lab.state["cut"]]
        t0 = lab.fail(lb, how)
        print(f"{how} {lb} at {_stamp(t0)}")
        if not others:
            print("no other LB is running and connected: the VIP has nowhere to go")
        if steady is None or master != [lb] or not others:
            time.sleep(1.0)
            print(f"master (holds {VIP}): {lab.holders_text()}")
            return 0
        first = poller.wait_for(
            lambda r: r.start >= t0 and r.ok and r.via not in (None, lb), lab.patience()
        )
        if first is None:
            print(f"no HTTPS answer through another LB; holders: {lab.holders() or 'none'}")
            return 1
        print(
            f"{first.via} answered through the VIP {first.end - t0:.3f} s after the failure "
            f"({first.server}; before: {steady.server}); expected: {_expected_text(lab, how)}"
        )
        print(f"master (holds {VIP}): {lab.holders_text()}")
    return 0


def _cmd_heal(lab: HaLab, lb: str) -> int:
    with Poller(lab) as poller:
        t = lab.heal(lb)
        print(f"healed {lb} at {_stamp(t)}")
        expected = lab.expected_master()
        assert expected is not None
        back = poller.wait_for(
            lambda r: r.start >= t and r.ok and r.via == expected, lab.patience()
        )
        settled = lab.wait_master(expected, lab.patience())
        if back is None or not settled:
            print(f"not settled: holders {lab.holders() or 'none'}, client via {lab.client_view()}")
            return 1
        print(f"{expected} is master; HTTPS through it {back.end - t:.3f} s after healing")
        stale = stale_arp(poller.snapshot(), t, back, expected)
        if stale > 2 * lab.mdi():
            print(STALE_ARP_HINT.format(seconds=stale))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "poll":
        return poll(args)
    lab = HaLab(args.run_dir, verbose=True)
    try:
        if args.command == "down":
            lab.down()
            print("lab down")
            return 0
        if args.command == "up":
            lab.up(args.version, args.advert_int, args.tier)
            if not args.tier or "vrrp" in args.tier:
                master = lab.settle()
                print(f"{master} is master")
            _print_status(lab)
            return 0
        if not lab.is_up():
            print("the lab is not up (scripts/ha-lab up)", file=sys.stderr)
            return 1
        if args.command == "status":
            _print_status(lab)
        elif args.command == "fail":
            return _cmd_fail(lab, args.lb, args.how)
        elif args.command == "heal":
            return _cmd_heal(lab, args.lb)
        elif args.command == "watch":
            ca, name = lab.tls_identity()
            argv_ = [sys.executable, "-u", str(HERE / "ha_lab.py"), "poll", "--human",
                     "--name", name, "--duration", str(args.seconds),
                     "--interval", str(args.interval)]  # fmt: skip
            argv_ += ["--ca", ca] if ca else []
            return subprocess.call([netlab.IP, "netns", "exec", PREFIX + "client", *argv_])
        elif args.command == "failover":
            hows = args.how or list(HOWS)
            rows = lab.failovers(hows, args.runs, report=lambda m: print(m, flush=True))
            _summarise(lab, rows)
            if args.json:
                print(json.dumps(rows, indent=1))
            return 0 if all(r.get("recovered") and r.get("preempted_back") for r in rows) else 1
    except (HaLabError, netlab.LabError) as exc:
        print(f"ha-lab: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
