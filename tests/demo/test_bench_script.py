"""``scripts/bench`` stays runnable, and its pure helpers compute what they claim.

No timings here: benchmarks are not pass/fail.
"""

from __future__ import annotations

import configparser
import importlib.util
import ipaddress
import os
import ssl
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"
BENCH = SCRIPTS / "bench"


def _load_bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("stack_bench_script", SCRIPTS / "bench.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    return module


bench = _load_bench()


def test_bench_help_exits_zero() -> None:
    done = subprocess.run(
        [sys.executable, str(BENCH), "--help"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "--quick" in done.stdout
    assert "--only" in done.stdout


def test_bench_is_executable() -> None:
    assert BENCH.stat().st_mode & 0o111


def test_only_chooses_one_benchmark() -> None:
    assert bench.parse_args([]).only is None
    assert bench.parse_args(["--only", "edge"]).only == "edge"
    with pytest.raises(SystemExit):
        bench.parse_args(["--only", "vrrp"])


# --- CPU of a multi-process server ----------------------------------------------------------------


def _stat_line(pid: int, comm: str, ppid: int, times: tuple[int, int, int, int]) -> str:
    """A /proc/PID/stat line: fields 14-17 are utime, stime, cutime, cstime."""
    fields = ["S", str(ppid)] + ["0"] * 9 + [str(t) for t in times] + ["20", "0", "1"] + ["0"] * 30
    return f"{pid} ({comm}) {' '.join(fields)}\n"


def test_parse_proc_stat_reads_ppid_and_times_past_an_odd_comm() -> None:
    pid, stat = bench.parse_proc_stat(_stat_line(42, "apache2 (x) y", 7, (10, 5, 300, 200)))
    assert pid == 42
    assert stat == bench.ProcStat(ppid=7, ticks=15, reaped_ticks=500)


def test_parse_proc_stat_of_a_real_process() -> None:
    pid, stat = bench.parse_proc_stat(Path("/proc/self/stat").read_text())
    assert stat.ticks >= 0
    assert stat.ppid > 0
    assert pid > 0


def _stats(**by_pid: tuple[int, int, int]) -> dict[int, object]:
    """``p<pid>=(ppid, own ticks, reaped ticks)``."""
    return {
        int(name[1:]): bench.ProcStat(ppid=ppid, ticks=own, reaped_ticks=reaped)
        for name, (ppid, own, reaped) in by_pid.items()
    }


def test_tree_cpu_sums_the_parent_its_live_descendants_and_what_it_reaped() -> None:
    # Apache: parent 100, workers 101 and 102 (101 with a child 103); 999 is unrelated.
    before = _stats(p1=(0, 7, 0), p100=(1, 10, 0), p101=(100, 100, 0), p102=(100, 50, 0))
    before.update(_stats(p103=(101, 5, 0), p999=(1, 1000, 0)))
    # 102 used 20 more, exited and was reaped (its 70 moved into the parent's cutime+cstime);
    # 101 used 50 more; a new worker 104 used 30; the unrelated process does not count.
    after = _stats(p1=(0, 7, 0), p100=(1, 10, 70), p101=(100, 150, 0), p103=(101, 5, 0))
    after.update(_stats(p104=(100, 30, 0), p999=(1, 5000, 0)))
    assert bench.tree_cpu_ticks(before, 100) == 10 + 100 + 50 + 5
    assert bench.tree_cpu_ticks(after, 100) - bench.tree_cpu_ticks(before, 100) == 50 + 20 + 30
    assert sorted(bench.tree_pids(after, 100)) == [100, 101, 103, 104]


def test_tree_cpu_of_a_single_process_is_its_own() -> None:
    stats = _stats(p1=(0, 7, 0), p200=(1, 123, 0))
    assert bench.tree_cpu_ticks(stats, 200) == 123


def test_tree_cpu_of_a_vanished_process_is_an_error() -> None:
    with pytest.raises(bench.BenchError):
        bench.tree_cpu_ticks(_stats(p1=(0, 7, 0)), 200)


# --- connections to a tier ------------------------------------------------------------------------

HEADER = (
    "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout"
    " inode\n"
)


def _row(n: int, local: str, remote: str, state: str) -> str:
    def hexa(end: str) -> str:
        host, port = end.split(":")
        return f"{int(ipaddress.IPv4Address(host).packed[::-1].hex(), 16):08X}:{int(port):04X}"

    return (
        f"{n:4}: {hexa(local)} {hexa(remote)} {state} 00000000:00000000 00:00000000 00000000"
        "     0        0 12345 1 0000000000000000 100 0 0 10 0\n"
    )


def _table(*rows: tuple[str, str, str]) -> str:
    return HEADER + "".join(_row(n, *row) for n, row in enumerate(rows))


def test_tcp_connections_to_names_each_connection_once_by_its_client_end() -> None:
    table = _table(
        ("127.0.0.1:8080", "0.0.0.0:0", "0A"),  # the listener: not a connection
        ("127.0.0.1:40000", "127.0.0.1:8080", "01"),  # client end
        ("127.0.0.1:8080", "127.0.0.1:40000", "01"),  # server end of the same connection
        ("127.0.0.1:8080", "127.0.0.1:40001", "06"),  # closed: TIME_WAIT on the server side
        ("127.0.0.1:40002", "127.0.0.1:9090", "01"),  # another port
    )
    found = bench.tcp_connections_to(8080, table)
    client = _row(0, "127.0.0.1:40000", "127.0.0.1:0", "01").split()[1]
    assert len(found) == 2
    assert found[client] == bench.TCP_ESTABLISHED
    assert sorted(found.values()) == ["01", "06"]
    assert bench.tcp_connections_to(7070, table) == {}


def test_tcp_connections_to_calls_a_connection_established_if_either_end_is() -> None:
    table = _table(
        ("127.0.0.1:8080", "127.0.0.1:40000", "08"),  # server end in CLOSE_WAIT
        ("127.0.0.1:40000", "127.0.0.1:8080", "01"),
    )
    assert list(bench.tcp_connections_to(8080, table).values()) == ["01"]


def test_connection_tally_counts_new_connections_and_the_peak() -> None:
    old = ("127.0.0.1:8080", "127.0.0.1:39999", "06")  # from an earlier run
    tally = bench.ConnectionTally(8080, _table(old))
    tally.add(
        _table(
            old,
            ("127.0.0.1:40000", "127.0.0.1:8080", "01"),
            ("127.0.0.1:40001", "127.0.0.1:8080", "01"),
        )
    )
    tally.add(
        _table(
            old,
            ("127.0.0.1:8080", "127.0.0.1:40000", "06"),
            ("127.0.0.1:8080", "127.0.0.1:40001", "06"),
            ("127.0.0.1:40002", "127.0.0.1:8080", "01"),  # opened and closed between samples
        )
    )
    assert tally.opened == 3
    assert tally.peak == 2


def test_connection_tally_of_an_in_memory_hop_is_zero() -> None:
    tally = bench.ConnectionTally(8080, _table(("127.0.0.1:8080", "0.0.0.0:0", "0A")))
    tally.add(_table(("127.0.0.1:8080", "0.0.0.0:0", "0A"), ("127.0.0.1:1", "127.0.0.1:9", "01")))
    assert (tally.opened, tally.peak) == (0, 0)


def test_tier_line_says_in_memory_for_stack_without_connections() -> None:
    stack = bench.Subject("stack", 1, [], hop="stack edge→balancer")
    apache = bench.Subject("apache", 2, [], hop="apache→haproxy")
    rows = [_measurement("stack", tier=(0, 0)), _measurement("apache", tier=(50, 50))]
    line = bench.tier_line(rows, [stack, apache])
    assert "stack edge→balancer 0 opened, 0 at once (in memory)" in line
    assert "apache→haproxy 50 opened, 50 at once" in line


# --- ratios and medians ---------------------------------------------------------------------------


def _measurement(
    proxy: str, cpu: float = 10.0, tier: tuple[int, int] | None = None, **extra: object
) -> object:
    return bench.Measurement(
        proxy=proxy,
        round=1,
        requests=1000,
        seconds=1.0,
        rps=1000.0,
        cpu_us_per_request=cpu,
        proxy_cpu_percent=1.0,
        origin_cpu_us_per_request=1.0,
        other_proxy_cpu_percent=0.0,
        other_load_cpu_percent=0.0,
        tcp_opens=50,
        p50_ms=1.0,
        p99_ms=2.0,
        non_2xx=0,
        tier_opened=tier[0] if tier else None,
        tier_peak=tier[1] if tier else None,
        **extra,
    )


def test_edge_ratio_is_throughput_per_core_of_stack() -> None:
    assert bench.edge_ratio(150.0, 100.0) == pytest.approx(1.5)
    assert bench.edge_ratio(100.0, 200.0) == pytest.approx(0.5)


def test_paired_ratios_round_by_round() -> None:
    rows = [
        _measurement("stack", 100.0),
        _measurement("apache", 150.0),
        _measurement("apache", 120.0),
        _measurement("stack", 60.0),
    ]
    assert bench.paired_ratios(rows, "stack", "apache") == pytest.approx([100 / 150, 60 / 120])
    assert bench.paired_ratios(rows, "stack", "apache", invert=True) == pytest.approx([1.5, 2.0])


def test_median_keeps_the_tier_counts_and_the_split_by_process() -> None:
    rows = [
        _measurement("apache", cpu, tier, cpu_us_by_process={"apache": cpu - 30, "haproxy": 30.0})
        for cpu, tier in ((90.0, (50, 50)), (110.0, (0, 50)), (100.0, (50, 50)))
    ]
    m = bench.median_of(rows, "apache", 0)
    assert m.cpu_us_per_request == 100.0
    assert (m.tier_opened, m.tier_peak) == (50, 50)
    assert m.cpu_us_by_process == {"apache": 70.0, "haproxy": 30.0}
    balancer = bench.median_of([_measurement("haproxy")], "haproxy", 0)
    assert (balancer.tier_opened, balancer.cpu_us_by_process) == (None, {})


# --- configs and certificates ---------------------------------------------------------------------


def test_apache_threads_fit_every_wrk_connection_in_one_process() -> None:
    assert bench.apache_threads(50) == 66
    assert bench.apache_threads(10) == 64
    assert bench.apache_threads(200) == 216


def test_apache_config_renders_the_seed_deployment(tmp_path: Path) -> None:
    conf = bench.render(
        "apache.conf.in",
        tmp_path / "apache.conf",
        server_root=tmp_path,
        modules="/usr/lib/apache2/modules",
        edge_port=8443,
        haproxy_port=8081,
        threads=66,
        cert=tmp_path / "cert.pem",
        key=tmp_path / "key.pem",
    ).read_text()
    assert "${" not in conf
    lines = {line.strip() for line in conf.splitlines()}
    for expected in (
        f'ServerRoot "{tmp_path}"',
        "Listen 127.0.0.1:8443",
        "LoadModule mpm_event_module /usr/lib/apache2/modules/mod_mpm_event.so",
        "LoadModule proxy_http_module /usr/lib/apache2/modules/mod_proxy_http.so",
        "ThreadsPerChild 66",
        "ServerLimit 1",
        "KeepAlive On",
        "MaxKeepAliveRequests 0",
        "SSLProtocol -all +TLSv1.2 +TLSv1.3",
        "SSLHonorCipherOrder off",
        "SSLSessionTickets on",
        f'SSLCertificateFile "{tmp_path / "cert.pem"}"',
        "ProxyPass / http://127.0.0.1:8081/ ttl=1",
        "ProxyPassReverse / http://127.0.0.1:8081/",
        "LogLevel warn",
    ):
        assert expected in lines, expected
    assert not any(line.startswith(("CustomLog", "TransferLog")) for line in lines)
    assert not any(line.startswith("Include") for line in lines)  # self-contained


def test_stack_edge_config_renders_edge_and_balancer(tmp_path: Path) -> None:
    ini = bench.render(
        "edge-stack.ini.in",
        tmp_path / "edge.ini",
        edge_port=8443,
        balancer_port=8080,
        cert="/c.pem",
        key="/k.pem",
        origin1_port=9001,
        origin2_port=9002,
    ).read_text()
    assert "${" not in ini
    parsed = configparser.ConfigParser(interpolation=None)
    parsed.read_string(ini)
    edge = parsed["edge www"]
    assert edge["bind"] == "127.0.0.1:8443"
    assert edge["certificate"] == "/c.pem key /k.pem"
    assert edge["access-log"] == "off"
    frontend = edge["proxy-pass"].split()[1]
    assert parsed[f"frontend {frontend}"]["bind"] == "127.0.0.1:8080"


def test_both_stack_configs_balance_alike() -> None:
    """The edge benchmark's balancer does the balancer benchmark's work (vs haproxy.cfg.in)."""

    def sections(name: str) -> configparser.ConfigParser:
        parsed = configparser.ConfigParser(interpolation=None)
        parsed.read_string((bench.TEMPLATES / name).read_text())
        return parsed

    edge, balancer = sections("edge-stack.ini.in"), sections("stack.ini.in")
    assert dict(edge["defaults"]) == dict(balancer["defaults"])
    assert dict(edge["global"]) == dict(balancer["global"])

    def backend(parsed: configparser.ConfigParser) -> dict[str, str]:
        (name,) = (s for s in parsed.sections() if s.startswith("backend "))
        return dict(parsed[name])

    assert backend(edge) == backend(balancer)


def test_make_pki_makes_a_leaf_for_loopback_signed_by_the_ca(tmp_path: Path) -> None:
    args = bench.parse_args(["--twistd", str(Path(sys.executable).parent / "twistd")])
    pki = bench.make_pki(args, tmp_path)
    assert pki.key.stat().st_mode & 0o077 == 0
    ca = x509.load_pem_x509_certificate(pki.ca.read_bytes())
    leaf = x509.load_pem_x509_certificate(pki.cert.read_bytes())
    leaf.verify_directly_issued_by(ca)
    names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1")]
    assert names.get_values_for_type(x509.DNSName) == ["localhost"]
    public = leaf.public_key()
    assert isinstance(public, ec.EllipticCurvePublicKey)
    assert public.curve.name == "secp256r1"
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(pki.cert, pki.key)  # the key matches the certificate


def test_apache_missing_is_a_reason_to_skip(tmp_path: Path) -> None:
    args = bench.parse_args(["--apache", str(tmp_path / "apache2"), "--apache-modules", "/x"])
    assert "apache2 not found" in bench.apache_missing(args)
    binary = tmp_path / "apache2"
    binary.write_text("#!/bin/sh\n")
    binary.chmod(0o755)
    modules = tmp_path / "modules"
    modules.mkdir()
    for name in bench.APACHE_MODULES[:-1]:
        (modules / f"mod_{name}.so").touch()
    args = bench.parse_args(["--apache", str(binary), "--apache-modules", str(modules)])
    assert bench.apache_missing(args).endswith("proxy_http")
    (modules / "mod_proxy_http.so").touch()
    assert bench.apache_missing(args) is None


def test_the_workers_benchmark_spreads_its_load_over_the_machine_others_pin_it() -> None:
    pinned = bench.argparse.Namespace(load_cpu=1)
    loose = bench.argparse.Namespace(load_cpu=1, unpinned=True)
    assert bench.load_pin(pinned) == ["taskset", "-c", "1"]
    # the bench moves itself to the load CPU; what the workers benchmark starts must not inherit it
    assert bench.load_pin(loose) == ["taskset", "-c", bench.MACHINE_CPUS]
    assert bench.MACHINE_CPUS.split(",") == [str(cpu) for cpu in sorted(os.sched_getaffinity(0))]


def test_with_workers_sets_the_count_in_global(tmp_path: Path) -> None:
    ini = tmp_path / "w.ini"
    ini.write_text("[global]\nmaxconn = 10\n\n[frontend f]\nbind = 127.0.0.1:1\n")
    parser = configparser.ConfigParser()
    parser.read_string(bench.with_workers(ini, 2).read_text())
    assert parser["global"]["workers"] == "2"
    ini.write_text("[frontend f]\nbind = 127.0.0.1:1\n")
    with pytest.raises(bench.BenchError, match="no \\[global\\] section"):
        bench.with_workers(ini, 2)
