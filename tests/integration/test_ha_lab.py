"""scripts/ha-lab end to end: two LBs (etc/lb1.ini, etc/lb2.ini) fail over and back as a
client polling the VIP sees it.

The lab needs root and network namespaces: skipped without them, failed instead in CI
(``STACK_REQUIRE_SYSTEM``). VRRPv3 with ``advert_int 0.1`` keeps it quick. Outcomes only
(which LB serves, whether the sticky server stays, who holds the VIP); durations belong to
scripts/bench, so every wait here is generous.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import ROOT, require_system

sys.path.insert(0, str(ROOT / "scripts"))
import ha_lab  # scripts/ is not a package: found through sys.path
import netlab

pytestmark = [pytest.mark.integration, pytest.mark.needs_system]

SCRIPT = ROOT / "scripts" / "ha_lab.py"


def test_help_names_the_namespaces_addresses_and_vip() -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--help"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    for name, address in ha_lab.HOSTS.items():
        if not name.startswith("web"):
            assert f"ha-{name}" in done.stdout
            assert address in done.stdout
    assert "ha-web1..4" in done.stdout
    assert "ha-br" in done.stdout
    assert ha_lab.VIP in done.stdout


def test_derived_config_differs_in_version_and_advert_int_only(tmp_path: Path) -> None:
    from stack.config import load

    source = ha_lab.LB_CONFIGS["lb1"]
    original = load(str(source))
    derived = load(str(ha_lab.derive_config(source, tmp_path / "lb1.ini", 3, 25)))
    [instance] = derived.vrrp_instances
    assert (instance.version, instance.advert_int) == (3, 25)
    assert derived.global_.state_dir == original.global_.state_dir
    assert ha_lab._comparable(derived.edges) == ha_lab._comparable(original.edges)


def test_derived_config_refuses_a_relative_path_it_would_move(tmp_path: Path) -> None:
    """The check inside derive_config can fail: a relative path other than state-dir (here
    the edge's access log) would point elsewhere from the run directory."""
    etc = tmp_path / "etc"
    etc.mkdir()
    lb1 = ha_lab.LB_CONFIGS["lb1"].read_text()
    marker = "\n[edge "
    assert marker in lb1, "etc/lb1.ini has an [edge] section"
    head, _, rest = lb1.partition(marker)
    name, _, body = rest.partition("]\n")
    body = "\n".join(line for line in body.splitlines() if not line.startswith("access-log"))
    source = etc / "lb1.ini"
    source.write_text(f"{head}{marker}{name}]\naccess-log = ../logs/access.log\n{body}\n")
    (tmp_path / "logs").mkdir()
    (tmp_path / "run").mkdir()
    with pytest.raises(ha_lab.HaLabError, match="relative path"):
        ha_lab.derive_config(source, tmp_path / "run" / "lb1.ini", 3, 10)


def _require_lab() -> None:
    if os.geteuid() != 0:
        require_system("the HA lab needs root (network namespaces)")
    if not shutil.which("ip"):
        require_system("the HA lab needs iproute2's ip")
    if ha_lab.HaLab.existing_namespaces():
        require_system("an ha-lab is already up on this machine (scripts/ha-lab down)")


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ha_lab.HaLab]:
    _require_lab()
    lab = ha_lab.HaLab(tmp_path_factory.mktemp("ha-lab"))
    try:
        lab.up(version=3, advert_int=0.1)
        yield lab
    finally:
        lab.down()
        assert not ha_lab.HaLab.existing_namespaces()


def test_lb1_becomes_master_and_serves_https_through_the_vip(lab: ha_lab.HaLab) -> None:
    assert lab.expected_master() == "lb1"
    first, second = lab.config("lb1"), lab.config("lb2")
    assert ha_lab.healthy_priority(first) > ha_lab.healthy_priority(second)
    assert lab.wait_master("lb1", 60), (lab.holders(), lab.logs_tail())
    # lb1 advertises its priority with chk_stack passing (base + weight); lb2 stays silent.
    capture = netlab.Capture(lab.host("client"))
    try:
        lb1_mac = ha_lab.mac_of(ha_lab.HOSTS["lb1"])
        wanted = ha_lab.healthy_priority(first)
        advert = capture.wait(
            lambda f: f.is_vrrp and f.src == lb1_mac and f.vrrp is not None and f.vrrp[2] == wanted,
            60,
        )
        assert advert.vrrp is not None and advert.vrrp[1] == ha_lab.VRID
        capture.clear()
        capture.wait(lambda f: f.is_vrrp and f.src == lb1_mac, 30)
        capture.wait(lambda f: f.is_vrrp and f.src == lb1_mac, 30)
        assert {f.src for f in capture.snapshot() if f.is_vrrp} == {lb1_mac}
    finally:
        capture.close()
    probe = lab.probe()
    assert probe is not None and probe.ok, probe
    assert probe.server in ha_lab.WEBS
    assert lab.client_view() == "lb1"


def _gratuitous_arp(frame: netlab.Frame, mac: str) -> bool:
    """A gratuitous ARP for the VIP sent by ``mac`` (request, sender = target = VIP)."""
    vip = ipaddress.IPv4Address(ha_lab.VIP).packed
    data = frame.data
    return (
        frame.is_arp
        and frame.src == mac
        and data[20:22] == b"\x00\x01"
        and data[28:32] == vip
        and data[38:42] == vip
    )


@pytest.mark.parametrize("how", ha_lab.HOWS)
def test_failover_keeps_the_session_and_preempts_back(lab: ha_lab.HaLab, how: str) -> None:
    capture = netlab.Capture(lab.host("client"))
    try:
        row = lab.failover(how)
        frames = capture.snapshot()
    finally:
        capture.close()
    context = f"{row}\n{lab.logs_tail(30)}"
    assert row["old_master"] == "lb1", context
    # service came back through the VIP on the other LB ...
    assert row["recovered"] and row["new_master"] == "lb2", context
    assert "lb2" in row["holders"] and row["client_arp"] == "lb2", context
    # ... and the SRVID cookie still reached the same web server
    assert row["server_after"] == row["server_before"] and row["sticky"], context
    # healed, lb1 took the VIP back and lb2 let it go; the session stayed where it was
    assert row["preempted_back"] and row["holders_after_heal"] == ["lb1"], context
    assert row["sticky_after_heal"], context
    # The client learned lb1's MAC back from lb1's gratuitous ARP, not from its ARP entry ageing.
    lb1_mac = ha_lab.mac_of(ha_lab.HOSTS["lb1"])
    back_at = row["healed_at"] + row["preempt"]
    if not any(
        _gratuitous_arp(f, lb1_mac) and row["healed_at"] <= f.time <= back_at for f in frames
    ):
        pytest.fail(
            f"no gratuitous ARP from lb1 reached the client before it was served\n{context}"
        )
    assert lab.running("lb1") and lab.running("lb2")


def test_status_command_reports_the_master(lab: ha_lab.HaLab) -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--run-dir", str(lab.dir), "status"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert f"master (holds {ha_lab.VIP}): lb1" in done.stdout, done.stdout
    assert "HTTPS through the VIP: 200" in done.stdout, done.stdout
