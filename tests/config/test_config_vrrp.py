"""``[vrrp_instance NAME]`` and ``[vrrp_script NAME]``: keepalived.conf in INI.

Every key, keepalived's defaults and the ones derived from other keys, the errors an operator
sees (exact text, with file and line), and the files that ship: seed 004's keepalived.conf
translated, and the two load balancers of the lab.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from ipaddress import IPv4Address, IPv4Interface, IPv6Address, IPv6Interface
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stack.config import load, summary
from stack.config.model import (
    Endpoint,
    StackConfig,
    TrackScript,
    VirtualAddress,
)

Load = Callable[[str], StackConfig]
Problems = Callable[[str], list[str]]

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "etc" / "examples" / "seed-004-keepalived.ini"

# lines 1-5; a case's own lines start at line 6
INSTANCE = """\
[vrrp_instance v]
interface = eth0
virtual_router_id = 51
virtual_ipaddress =
    10.0.0.100/24
"""
BALANCER = """
[frontend web]
bind = 127.0.0.1:8081
default_backend = b

[backend b]
server s = 127.0.0.1:9000
"""


# --- reading every key ---------------------------------------------------------------------------


def test_defaults_are_keepalived_s(load_ini: Load) -> None:
    cfg = load_ini(INSTANCE)
    assert cfg.tiers == ("vrrp",)
    (v,) = cfg.vrrp_instances
    assert (v.name, v.interface, v.vrid) == ("v", "eth0", 51)
    assert v.addresses == (
        VirtualAddress(IPv4Interface("10.0.0.100/24"), origin=v.addresses[0].origin),
    )
    assert v.addresses[0].origin is not None and v.addresses[0].origin.line == 5
    assert (v.state, v.priority, v.version, v.advert_int) == ("BACKUP", 100, 2, 100)
    assert (v.garp_master_delay, v.garp_master_repeat) == (5.0, 5)
    assert (v.garp_lower_prio_delay, v.garp_lower_prio_repeat) == (5.0, 5)
    assert (v.garp_master_refresh, v.garp_master_refresh_repeat) == (0.0, 1)
    assert (v.nopreempt, v.preempt_delay, v.down_timer_adverts) == (False, 0.0, 3)
    assert not (v.lower_prio_no_advert or v.checksum_as_v2)
    # stack's one departure: a yielding master's last advert makes the winner re-announce
    # itself with gratuitous ARPs, so clients never stay on the loser after a split brain
    assert v.higher_prio_send_advert
    assert v.auth_pass is None and v.unicast_peers == () and v.unicast_src_ip is None
    assert v.track_scripts == () and v.track_interfaces == () and not v.dont_track_primary
    assert v.notify == () and v.notify_master == ()
    assert v.origin is not None and (v.origin.line, v.origin.section) == (1, "vrrp_instance v")
    assert v.family == 4


def test_every_instance_key(load_ini: Load) -> None:
    cfg = load_ini(
        """\
[vrrp_script chk]
script = /usr/local/bin/chk

[vrrp_instance v]
state = MASTER
interface = eth0
virtual_router_id = 7
priority = 150
advert_int = 2
version = 2
virtual_ipaddress =
    10.0.0.100/24 dev eth1 label eth1:vip
    10.0.0.101
virtual_ipaddress_excluded =
    fd00::100/64 dev eth2
    10.0.0.100/24 dev eth3
preempt_delay = 0
garp_master_delay = 0
garp_master_repeat = 3
garp_master_refresh = 60
garp_master_refresh_repeat = 2
garp_lower_prio_delay = 4
garp_lower_prio_repeat = 0
lower_prio_no_advert
higher_prio_send_advert = on
down_timer_adverts = 5
auth_type = PASS
auth_pass = s3cret
unicast_src_ip = 10.0.0.1
unicast_peer =
    10.0.0.2
    10.0.0.3 min_ttl 250 max_ttl 255
track_script =
    chk weight -30
track_interface =
    eth1
    eth2 weight 10
    eth3 weight -20 reverse
dont_track_primary = yes
notify_master = /bin/notify master
notify_backup = /bin/notify backup
notify_fault = /bin/notify fault
notify_stop = /bin/notify stop
notify = /bin/notify "two words"
"""
    )
    v = cfg.vrrp_instances[0]
    assert (v.state, v.vrid, v.priority, v.advert_int, v.version) == ("MASTER", 7, 150, 200, 2)
    assert [(a.interface, a.dev, a.label) for a in v.addresses] == [
        (IPv4Interface("10.0.0.100/24"), "eth1", "eth1:vip"),
        (IPv4Interface("10.0.0.101/32"), None, None),  # keepalived's default length: /32
    ]
    assert [(a.interface, a.dev) for a in v.excluded_addresses] == [
        (IPv6Interface("fd00::100/64"), "eth2"),  # excluded: any family
        (IPv4Interface("10.0.0.100/24"), "eth3"),  # and the same address on another device
    ]
    assert (v.preempt_delay, v.garp_master_delay, v.garp_master_repeat) == (0.0, 0.0, 3)
    assert (v.garp_master_refresh, v.garp_master_refresh_repeat) == (60.0, 2)
    assert (v.garp_lower_prio_delay, v.garp_lower_prio_repeat) == (4.0, 0)
    assert v.lower_prio_no_advert and v.higher_prio_send_advert
    assert v.down_timer_adverts == 5
    assert v.auth_pass == b"s3cret"
    assert v.unicast_src_ip == IPv4Address("10.0.0.1")
    assert [(p.address, p.min_ttl, p.max_ttl) for p in v.unicast_peers] == [
        (IPv4Address("10.0.0.2"), 0, 255),
        (IPv4Address("10.0.0.3"), 250, 255),
    ]
    assert [(t.name, t.weight) for t in v.track_scripts] == [("chk", -30)]
    assert [(t.name, t.weight, t.reverse) for t in v.track_interfaces] == [
        ("eth1", 0, False),
        ("eth2", 10, False),
        ("eth3", -20, True),
    ]
    assert v.dont_track_primary
    assert v.notify_master == ("/bin/notify", "master")
    assert (v.notify_backup, v.notify_fault, v.notify_stop) == (
        ("/bin/notify", "backup"),
        ("/bin/notify", "fault"),
        ("/bin/notify", "stop"),
    )
    assert v.notify == ("/bin/notify", "two words")
    # every item keeps its line, for the tier's messages
    origins = [t.origin for t in (*v.track_interfaces, *v.track_scripts, *v.unicast_peers)]
    assert [o.line for o in origins if o is not None] == [36, 37, 38, 34, 31, 32]


def test_ipv6_instances_run_version_3(load_ini: Load) -> None:
    cfg = load_ini(
        """\
[vrrp_instance v6]
interface = eth0
virtual_router_id = 52
advert_int = 0.05
mcast_src_ip = fe80::1
virtual_ipaddress =
    fe80::100/64
    fd00::100
v3_checksum_as_v2 = off
"""
    )
    v = cfg.vrrp_instances[0]
    assert (v.family, v.version, v.advert_int) == (6, 3, 5)
    assert v.addresses[1].interface == IPv6Interface("fd00::100/128")
    assert v.mcast_src_ip == IPv6Address("fe80::1")


@pytest.mark.parametrize(
    ("written", "centiseconds"),
    [("1", 100), ("255", 25500), ("2s", 200), ("3000ms", 300)],
)
def test_v2_advert_int_is_whole_seconds(load_ini: Load, written: str, centiseconds: int) -> None:
    cfg = load_ini(INSTANCE + f"advert_int = {written}\n")
    assert cfg.vrrp_instances[0].advert_int == centiseconds


@pytest.mark.parametrize(
    ("written", "centiseconds"),
    [("0.01", 1), ("0.1", 10), ("1", 100), ("40.95", 4095), ("250ms", 25), ("1.50", 150)],
)
def test_v3_advert_int_is_centiseconds(load_ini: Load, written: str, centiseconds: int) -> None:
    cfg = load_ini(INSTANCE + f"version = 3\nadvert_int = {written}\n")
    assert cfg.vrrp_instances[0].advert_int == centiseconds
    assert not cfg.vrrp_instances[0].checksum_as_v2


@given(st.integers(1, 4095))
def test_any_v3_interval_reads_back(centiseconds: int) -> None:
    from stack.config.vrrp import _seconds

    text = f"{centiseconds // 100}.{centiseconds % 100:02d}"
    assert _seconds(text, "advert_int") * 100 == centiseconds


@pytest.mark.parametrize(
    ("lines", "state", "priority"),
    [
        ("state = MASTER\n", "MASTER", 255),  # keepalived: MASTER without a priority owns
        ("state = backup\n", "BACKUP", 100),
        ("priority = 255\n", "MASTER", 255),  # the owner starts as MASTER
        ("priority = 254\n", "BACKUP", 254),
        ("state = MASTER\npriority = 100\n", "MASTER", 100),
    ],
)
def test_state_and_priority_defaults(load_ini: Load, lines: str, state: str, priority: int) -> None:
    v = load_ini(INSTANCE + lines).vrrp_instances[0]
    assert (v.state, v.priority) == (state, priority)


@pytest.mark.parametrize(
    ("lines", "nopreempt"),
    [
        ("nopreempt\n", True),
        ("nopreempt = on\n", True),
        ("nopreempt = off\n", False),
        ("preempt\n", False),  # keepalived's explicit opposite
        ("preempt = off\n", True),
        ("preempt = no\nstate = BACKUP\npreempt_delay = 0\n", True),
    ],
)
def test_preempt_flags(load_ini: Load, lines: str, nopreempt: bool) -> None:
    assert load_ini(INSTANCE + lines).vrrp_instances[0].nopreempt is nopreempt


def test_preempt_delay_keeps_fractions(load_ini: Load) -> None:
    v = load_ini(INSTANCE + "preempt_delay = 4.12\n").vrrp_instances[0]
    assert v.preempt_delay == 4.12


def test_garp_lower_prio_follows_garp_master(load_ini: Load) -> None:
    v = load_ini(INSTANCE + "garp_master_delay = 1\ngarp_master_repeat = 2\n").vrrp_instances[0]
    assert (v.garp_lower_prio_delay, v.garp_lower_prio_repeat) == (1.0, 2)


def test_auth_pass_keeps_eight_bytes_as_keepalived(load_ini: Load) -> None:
    v = load_ini(INSTANCE + "auth_type = PASS\nauth_pass = 0123456789\n").vrrp_instances[0]
    assert v.auth_pass == b"01234567"


@pytest.mark.parametrize(
    ("value", "argv"),
    [
        ("killall -0 apache2", ("killall", "-0", "apache2")),
        # keepalived's form: the quoted string is the command line
        ('"killall -0 apache2"', ("killall", "-0", "apache2")),
        ("\"/bin/check ' a b ' c\"", ("/bin/check", " a b ", "c")),
        ("'/bin/check x'", ("/bin/check", "x")),
        ('/bin/check "a b"', ("/bin/check", "a b")),
        ('"/bin/check"', ("/bin/check",)),
    ],
)
def test_script_command_lines(load_ini: Load, value: str, argv: tuple[str, ...]) -> None:
    cfg = load_ini(
        f"[vrrp_script s]\nscript = {value}\n\n" + INSTANCE + "track_script = s\n"
        f"notify_master = {value}\n"
    )
    assert cfg.vrrp_scripts[0].command == argv
    assert cfg.vrrp_instances[0].notify_master == argv


def test_every_script_key(load_ini: Load) -> None:
    cfg = load_ini(
        """\
[vrrp_script chk]
script = /usr/local/bin/chk --quiet
interval = 1.5
timeout = 500ms
weight = -60
rise = 2
fall = 3
user = nobody
init_fail
"""
        + INSTANCE
        + "track_script =\n    chk\n"
    )
    (s,) = cfg.vrrp_scripts
    assert s.name == "chk" and s.command == ("/usr/local/bin/chk", "--quiet") and s.check == ()
    assert (s.interval, s.timeout, s.weight, s.rise, s.fall) == (1.5, 0.5, -60, 2, 3)
    assert s.user == "nobody" and s.init_fail
    assert s.origin is not None and s.origin.line == 1
    (track,) = cfg.vrrp_instances[0].track_scripts
    assert (track.name, track.weight) == ("chk", None)  # None: the script's own weight


def test_script_defaults_and_check(load_ini: Load) -> None:
    cfg = load_ini("[vrrp_script s]\ncheck = balancer\n" + BALANCER)
    (s,) = cfg.vrrp_scripts
    assert s.check == ("balancer",) and s.command == ()
    assert (s.interval, s.timeout, s.weight, s.rise, s.fall) == (1.0, None, 0, 1, 1)
    assert s.user is None and not s.init_fail
    assert cfg.vrrp_instances == ()  # an untracked script is allowed, as in keepalived


def test_a_vrrp_only_file_runs(load_ini: Load) -> None:
    cfg = load_ini(INSTANCE)
    assert cfg.tiers == ("vrrp",)
    assert summary(cfg) == (
        "Configuration file is valid: t.ini (0 frontends, 0 backends, 0 servers, "
        "0 demo servers, 1 vrrp instance)"
    )


def test_instances_share_a_vrid_on_other_interfaces_or_families(load_ini: Load) -> None:
    cfg = load_ini(
        INSTANCE
        + "\n[vrrp_instance w]\ninterface = eth1\nvirtual_router_id = 51\n"
        + "virtual_ipaddress = 10.1.0.100/24\n"
        + "\n[vrrp_instance x]\ninterface = eth0\nvirtual_router_id = 51\n"
        + "virtual_ipaddress = fd00::100/64\n"
    )
    assert [i.name for i in cfg.vrrp_instances] == ["v", "w", "x"]
    assert summary(cfg).endswith("0 demo servers, 3 vrrp instances)")


# --- errors --------------------------------------------------------------------------------------

_NOT_VIP = "is not an address such as 10.0.0.100/24 or fd00::100/64"

INSTANCE_ERRORS = [
    (
        "priority = 0\n",
        "t.ini:6: [vrrp_instance v] priority: priority must be between 1 and 255, not 0 "
        "(priority 0 is what a stopping master sends)",
    ),
    (
        "priority = 256\n",
        "t.ini:6: [vrrp_instance v] priority: priority must be between 1 and 255, not 256",
    ),
    (
        "priority = high\n",
        "t.ini:6: [vrrp_instance v] priority: priority must be a whole number, not 'high'",
    ),
    (
        "advert_int = 0.1\n",
        "t.ini:6: [vrrp_instance v] advert_int: advert_int 0.1: VRRP version 2 takes whole "
        "seconds, 1 to 255 ('version = 3' allows 0.01 to 40.95)",
    ),
    (
        "advert_int = 256\n",
        "t.ini:6: [vrrp_instance v] advert_int: advert_int 256: VRRP version 2 takes whole "
        "seconds, 1 to 255 ('version = 3' allows 0.01 to 40.95)",
    ),
    (
        "version = 3\nadvert_int = 0.015\n",
        "t.ini:7: [vrrp_instance v] advert_int: advert_int 0.015: VRRP version 3 takes 0.01 to "
        "40.95 seconds, in hundredths of a second",
    ),
    (
        "version = 3\nadvert_int = 41\n",
        "t.ini:7: [vrrp_instance v] advert_int: advert_int 41: VRRP version 3 takes 0.01 to "
        "40.95 seconds, in hundredths of a second",
    ),
    (
        "advert_int = 0\n",
        "t.ini:6: [vrrp_instance v] advert_int: advert_int must be more than 0 seconds",
    ),
    (
        "advert_int = fast\n",
        "t.ini:6: [vrrp_instance v] advert_int: advert_int is a number of seconds such as 2 or "
        "0.5, not 'fast'",
    ),
    (
        "advert_int = 1 2\n",
        "t.ini:6: [vrrp_instance v] advert_int: 'advert_int' takes one value, not '1 2'",
    ),
    (
        "version = 4\n",
        "t.ini:6: [vrrp_instance v] version: version is 2 or 3, not '4'",
    ),
    (
        "state = PRIMARY\n",
        "t.ini:6: [vrrp_instance v] state: state is MASTER or BACKUP, not 'PRIMARY'",
    ),
    (
        "nopreempt\nstate = MASTER\npriority = 100\n",
        "t.ini:6: [vrrp_instance v] nopreempt: nopreempt needs 'state = BACKUP': an instance "
        "that starts as MASTER takes over anyway (keepalived clears nopreempt then)",
    ),
    (
        "preempt = off\npriority = 255\n",
        "t.ini:6: [vrrp_instance v] preempt: nopreempt does not apply to the address owner "
        "(priority 255), which always takes over",
    ),
    (
        "nopreempt\npreempt\n",
        "t.ini:7: [vrrp_instance v] preempt: nopreempt and preempt are both written: keep one",
    ),
    (
        "nopreempt = maybe\n",
        "t.ini:6: [vrrp_instance v] nopreempt: expected on or off (or yes/no, true/false, 1/0), "
        "not 'maybe'",
    ),
    (
        "preempt_delay = 10\nstate = MASTER\npriority = 200\n",
        "t.ini:6: [vrrp_instance v] preempt_delay: preempt_delay needs 'state = BACKUP': an "
        "instance that starts as MASTER does not wait (keepalived clears preempt_delay then)",
    ),
    (
        "preempt_delay = 10\nnopreempt\n",
        "t.ini:6: [vrrp_instance v] preempt_delay: has no effect with nopreempt, which never "
        "preempts",
    ),
    (
        "preempt_delay = 1001\n",
        "t.ini:6: [vrrp_instance v] preempt_delay: preempt_delay must be at most 1000 seconds",
    ),
    (
        "garp_master_delay = 1.5\n",
        "t.ini:6: [vrrp_instance v] garp_master_delay: garp_master_delay is whole seconds, not "
        "'1.5'",
    ),
    (
        "garp_master_refresh = -1\n",
        "t.ini:6: [vrrp_instance v] garp_master_refresh: garp_master_refresh is a number of "
        "seconds such as 2 or 0.5, not '-1'",
    ),
    (
        "garp_lower_prio_delay = 5000\n",
        "t.ini:6: [vrrp_instance v] garp_lower_prio_delay: garp_lower_prio_delay must be at "
        "most 4294 seconds",
    ),
    (
        "garp_master_repeat = 0\n",
        "t.ini:6: [vrrp_instance v] garp_master_repeat: garp_master_repeat must be between 1 "
        "and 2147483647, not 0",
    ),
    (
        "garp_master_refresh_repeat = 0\n",
        "t.ini:6: [vrrp_instance v] garp_master_refresh_repeat: garp_master_refresh_repeat must "
        "be between 1 and 2147483647, not 0",
    ),
    (
        "garp_lower_prio_repeat = -1\n",
        "t.ini:6: [vrrp_instance v] garp_lower_prio_repeat: garp_lower_prio_repeat must be "
        "between 0 and 2147483647, not -1",
    ),
    (
        "down_timer_adverts = 101\n",
        "t.ini:6: [vrrp_instance v] down_timer_adverts: down_timer_adverts must be between 1 "
        "and 100, not 101",
    ),
    (
        "auth_type = AH\nauth_pass = x\n",
        "t.ini:6: [vrrp_instance v] auth_type: auth_type AH is not supported: it is IPsec AH "
        "(IP protocol 51), and RFC 3768 removed authentication from VRRP; use PASS, or no "
        "authentication",
    ),
    (
        "auth_type = MD5\n",
        "t.ini:6: [vrrp_instance v] auth_type: auth_type is PASS, not 'MD5'",
    ),
    (
        "auth_type = PASS\n",
        "t.ini:6: [vrrp_instance v] auth_type: auth_type PASS needs 'auth_pass = PASSWORD' (up "
        "to 8 characters)",
    ),
    (
        "auth_pass = secret\n",
        "t.ini:6: [vrrp_instance v] auth_pass: auth_pass is not used without 'auth_type = PASS'",
    ),
    (
        'auth_type = PASS\nauth_pass = ""\n',
        "t.ini:7: [vrrp_instance v] auth_pass: auth_pass is empty",
    ),
    (
        "version = 3\nauth_type = PASS\nauth_pass = x\n",
        "t.ini:7: [vrrp_instance v] auth_type: VRRP version 3 has no authentication (RFC 5798): "
        "remove auth_type and auth_pass, or run 'version = 2'",
    ),
    (
        "v3_checksum_as_v2\n",
        "t.ini:6: [vrrp_instance v] v3_checksum_as_v2: has no effect: it leaves the IPv4 "
        "pseudo-header out of the VRRPv3 checksum, and this instance runs version 2",
    ),
    (
        "virtual_ipaddress_excluded = 10.0.0.100/24\n",
        "t.ini:6: [vrrp_instance v] virtual_ipaddress_excluded: 10.0.0.100 is already listed at "
        "line 5",
    ),
    (
        "virtual_ipaddress_excluded = 10.0.0.300\n",
        "t.ini:6: [vrrp_instance v] virtual_ipaddress_excluded: '10.0.0.300' is not an address "
        "such as 10.0.0.100/24 or fd00::100/64",
    ),
    (
        "virtual_ipaddress_excluded = 10.0.0.7/24 brd 10.0.0.255\n",
        "t.ini:6: [vrrp_instance v] virtual_ipaddress_excluded: virtual_ipaddress option 'brd' "
        "is not supported yet",
    ),
    (
        "virtual_ipaddress_excluded = 10.0.0.7/24 10.0.0.8/24\n",
        "t.ini:6: [vrrp_instance v] virtual_ipaddress_excluded: unexpected '10.0.0.8/24' after "
        "the address (write 'ADDRESS[/LEN] [dev IFNAME] [label LABEL]', one address per line)",
    ),
    (
        "virtual_ipaddress_excluded = 10.0.0.7 dev\n",
        "t.ini:6: [vrrp_instance v] virtual_ipaddress_excluded: 'dev' needs a value after it",
    ),
    (
        "virtual_ipaddress_excluded = 10.0.0.7 dev a dev b\n",
        "t.ini:6: [vrrp_instance v] virtual_ipaddress_excluded: 'dev' is given twice",
    ),
    (
        "virtual_ipaddress_excluded = 10.0.0.7 label eth0:a-very-long\n",
        "t.ini:6: [vrrp_instance v] virtual_ipaddress_excluded: label 'eth0:a-very-long' is "
        "longer than 15 characters",
    ),
    (
        "virtual_ipaddress_excluded = fd00::7 label eth0:1\n",
        "t.ini:6: [vrrp_instance v] virtual_ipaddress_excluded: an IPv6 address has no label "
        "(labels are IPv4 aliases such as eth0:1)",
    ),
    (
        "unicast_src_ip = 10.0.0.1\n",
        "t.ini:6: [vrrp_instance v] unicast_src_ip: unicast_src_ip needs unicast_peer lines "
        "(without them keepalived falls back to multicast, a deprecated use): add the peers, or "
        "write mcast_src_ip",
    ),
    (
        "mcast_src_ip = 10.0.0.1\nunicast_src_ip = 10.0.0.1\nunicast_peer = 10.0.0.2\n",
        "t.ini:6: [vrrp_instance v] mcast_src_ip: mcast_src_ip and unicast_src_ip both set the "
        "adverts' source address: keep one",
    ),
    (
        "mcast_src_ip = fe80::1\n",
        "t.ini:6: [vrrp_instance v] mcast_src_ip: fe80::1 is IPv6, but this instance's "
        "virtual_ipaddress is IPv4",
    ),
    (
        "mcast_src_ip = 10.0.0\n",
        "t.ini:6: [vrrp_instance v] mcast_src_ip: '10.0.0' is not an IPv4 or IPv6 address",
    ),
    (
        "unicast_peer =\n    10.0.0.2 min_ttl 200 max_ttl 100\n",
        "t.ini:7: [vrrp_instance v] unicast_peer: min_ttl 200 is above max_ttl 100: every "
        "advert from 10.0.0.2 would be discarded",
    ),
    (
        "unicast_peer =\n    10.0.0.2\n    10.0.0.2\n",
        "t.ini:8: [vrrp_instance v] unicast_peer: 10.0.0.2 is already listed at line 7",
    ),
    (
        "unicast_peer =\n    fd00::2\n",
        "t.ini:7: [vrrp_instance v] unicast_peer: fd00::2 is IPv6, but this instance's "
        "virtual_ipaddress is IPv4",
    ),
    (
        "unicast_peer =\n    10.0.0.2 ttl 3\n",
        "t.ini:7: [vrrp_instance v] unicast_peer: unexpected 'ttl' after the address (write "
        "'ADDRESS [min_ttl N] [max_ttl N]', one peer per line)",
    ),
    (
        "unicast_peer =\n    10.0.0.2 max_ttl 256\n",
        "t.ini:7: [vrrp_instance v] unicast_peer: max_ttl must be between 0 and 255, not 256",
    ),
    (
        "track_interface =\n    eth1 eth2\n",
        "t.ini:7: [vrrp_instance v] track_interface: unexpected 'eth2' after 'eth1': a "
        "track_interface line is 'IFNAME [weight N [reverse]]', one interface per line",
    ),
    (
        "track_interface =\n    eth1 weight 254\n",
        "t.ini:7: [vrrp_instance v] track_interface: weight must be between -253 and 253, not 254",
    ),
    (
        "track_interface =\n    eth1 weight\n",
        "t.ini:7: [vrrp_instance v] track_interface: 'weight' needs a number after it",
    ),
    (
        "track_interface =\n    eth1 weight 2 upside-down\n",
        "t.ini:7: [vrrp_instance v] track_interface: unexpected 'upside-down' after the weight",
    ),
    (
        "track_interface =\n    eth1\n    eth1 weight 2\n",
        "t.ini:8: [vrrp_instance v] track_interface: eth1 is already listed at line 7",
    ),
    (
        "track_interface = a-very-long-ifname\n",
        "t.ini:6: [vrrp_instance v] track_interface: 'a-very-long-ifname' is not an interface "
        "name (Linux: at most 15 characters, no '/', ':' or spaces)",
    ),
    (
        "track_script =\n    nope\n",
        "t.ini:7: [vrrp_instance v] track_script: no [vrrp_script nope] in this file",
    ),
    (
        "track_script =\n    chk weight 2 reverse\n",
        "t.ini:7: [vrrp_instance v] track_script: 'weight N reverse' is not supported yet for "
        "scripts",
    ),
    (
        "track_script =\n    chk chk2\n",
        "t.ini:7: [vrrp_instance v] track_script: unexpected 'chk2' after 'chk': a track_script "
        "line is 'NAME [weight N]', one script per line",
    ),
    (
        "track_script =\n    chk\n    chk weight 1\n",
        "t.ini:8: [vrrp_instance v] track_script: chk is already listed at line 7",
    ),
    (
        "track_script =\n    chek\n",
        "t.ini:7: [vrrp_instance v] track_script: no [vrrp_script chek] in this file; did you "
        "mean 'chk'?",
    ),
    (
        'notify = "/bin/notify.sh a" root\n',
        "t.ini:6: [vrrp_instance v] notify: a user for notify (root) is not supported yet: "
        "notify scripts run as the user stack runs as",
    ),
    (
        'notify_master = ""\n',
        "t.ini:6: [vrrp_instance v] notify_master: 'notify_master' needs a command",
    ),
    (
        'notify_fault = "/bin/x\n',
        't.ini:6: [vrrp_instance v] notify_fault: unterminated " quote',
    ),
    (
        "use_vmac\n",
        "t.ini:6: [vrrp_instance v] use_vmac: 'use_vmac' is not supported yet (the address "
        "moves with gratuitous ARP from the interface's own MAC, keepalived's default)",
    ),
    (
        "track_file = f\n",
        "t.ini:6: [vrrp_instance v] track_file: 'track_file' is not supported yet (track a "
        "[vrrp_script] instead)",
    ),
    (
        "track_process =\n    haproxy\n",
        "t.ini:6: [vrrp_instance v] track_process: 'track_process' is not supported yet (track "
        "a [vrrp_script] instead, such as 'script = pidof NAME')",
    ),
    (
        "accept\n",
        "t.ini:6: [vrrp_instance v] accept: 'accept' is not supported by stack (packets to the "
        "virtual addresses are always accepted, keepalived's default without vrrp_strict: "
        "remove the line)",
    ),
    (
        "no_accept\n",
        "t.ini:6: [vrrp_instance v] no_accept: 'no_accept' is not supported by stack (dropping "
        "packets to the virtual addresses takes the firewall rules keepalived installs; stack "
        "always accepts them, keepalived's default without vrrp_strict)",
    ),
    (
        "vrrp_strict\n",
        "t.ini:6: [vrrp_instance v] vrrp_strict: 'vrrp_strict' is not supported by stack "
        "(keepalived's global strict RFC mode, which also installs firewall rules; stack runs "
        "keepalived's default mode)",
    ),
    (
        "strict_mode = on\n",
        "t.ini:6: [vrrp_instance v] strict_mode: 'strict_mode' is not supported by stack "
        "(keepalived's strict RFC mode, which also installs firewall rules; stack runs "
        "keepalived's default mode)",
    ),
    (
        "kernel_rx_buf_size = 1\n",
        "t.ini:6: [vrrp_instance v] kernel_rx_buf_size: 'kernel_rx_buf_size' is not supported "
        "by stack",
    ),
    (
        "vrrp_version = 3\n",
        "t.ini:6: [vrrp_instance v] vrrp_version: 'vrrp_version' is keepalived's global_defs "
        "setting: here each instance says 'version = ...'",
    ),
    (
        "vrrp_garp_master_delay = 1\n",
        "t.ini:6: [vrrp_instance v] vrrp_garp_master_delay: 'vrrp_garp_master_delay' is "
        "keepalived's global_defs setting: here each instance says 'garp_master_delay = ...'",
    ),
    (
        "virtual_ipaddress_excluded {\n",
        "t.ini:6: [vrrp_instance v] virtual_ipaddress_excluded {: keepalived's braces are not "
        "written here: write 'virtual_ipaddress_excluded =' and put one item per line below it, "
        "indented",
    ),
    (
        "track_script = {\n",
        "t.ini:6: [vrrp_instance v] track_script: keepalived's braces are not written here: "
        "'track_script =' takes one item per line below it, indented",
    ),
    (
        "}\n",
        "t.ini:6: [vrrp_instance v] }: a '}' from keepalived.conf: remove it (a section ends "
        "where the next one starts)",
    ),
    (
        "authentication {\n",
        "t.ini:6: [vrrp_instance v] authentication {: keepalived's authentication block is not "
        "written here: put 'auth_type = PASS' and 'auth_pass = PASSWORD' in the [vrrp_instance] "
        "itself",
    ),
    (
        "vrrp_instance w {\n",
        "t.ini:6: [vrrp_instance v] vrrp_instance w {: a keepalived block is a section here: "
        "write [vrrp_instance w]",
    ),
    (
        "vrrp_script chk\n",
        "t.ini:6: [vrrp_instance v] vrrp_script chk: a keepalived block is a section here: "
        "write [vrrp_script chk]",
    ),
    (
        "static_routes {\n",
        "t.ini:6: [vrrp_instance v] static_routes {: keepalived's '{ ... }' blocks are not "
        "written here (docs/vrrp.md)",
    ),
    (
        "priority 100\n",
        "t.ini:6: [vrrp_instance v] priority 100: missing '=': write 'priority = 100' (the key "
        "is keepalived's keyword, the value the rest of its line)",
    ),
    (
        "priority 100 = 1\n",
        "t.ini:6: [vrrp_instance v] priority 100: unexpected '100' in the key (did you mean "
        "'priority'?)",
    ),
    (
        "priorty = 100\n",
        "t.ini:6: [vrrp_instance v] priorty: unknown key 'priorty' in [vrrp_instance v]; did "
        "you mean 'priority'?",
    ),
    (
        "interval = 2\n",
        "t.ini:6: [vrrp_instance v] interval: 'interval' belongs in a [vrrp_script NAME] "
        "section, which track_script names",
    ),
    (
        "weight = 2\n",
        "t.ini:6: [vrrp_instance v] weight: 'weight' goes on a track_script or track_interface "
        "line ('chk_stack weight 2'), or in the [vrrp_script] itself",
    ),
    (
        "! a comment\n",
        "t.ini:6: [vrrp_instance v] ! a comment: '!' starts a comment in keepalived.conf; write "
        "'#' here",
    ),
    (
        "10.0.0.5/24\n",
        "t.ini:6: [vrrp_instance v] 10.0.0.5/24: an address on a line of its own: put it below "
        "'virtual_ipaddress =', indented",
    ),
    (
        "state =\n    MASTER\n    BACKUP\n",
        "t.ini:8: [vrrp_instance v] state: 'state' takes a single value; only "
        "virtual_ipaddress, virtual_ipaddress_excluded, unicast_peer, track_script and "
        "track_interface take one item per line (unindent this line if it is a new key)",
    ),
    (
        "state\n",
        "t.ini:6: [vrrp_instance v] state: 'state' needs a value: write 'state = ...'",
    ),
    (
        "state =\n",
        "t.ini:6: [vrrp_instance v] state: 'state' needs a value",
    ),
    (
        "unicast_peer\n",
        "t.ini:6: [vrrp_instance v] unicast_peer: 'unicast_peer' needs a value: one item per "
        "line below it, indented",
    ),
]


@pytest.mark.parametrize(("lines", "expected"), INSTANCE_ERRORS, ids=lambda v: v[:40])
def test_instance_errors(problems_of: Problems, lines: str, expected: str) -> None:
    scripts = "\n[vrrp_script chk]\nscript = /bin/true\n"
    assert problems_of(INSTANCE + lines + scripts) == [expected]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "[vrrp_instance v]\n",
            [
                "t.ini:1: [vrrp_instance v] a vrrp_instance needs 'interface = IFNAME' (the "
                "interface VRRP runs on)",
                "t.ini:1: [vrrp_instance v] a vrrp_instance needs 'virtual_router_id = 1..255' "
                "(the same on every router of the group)",
                "t.ini:1: [vrrp_instance v] a vrrp_instance needs 'virtual_ipaddress =' with at "
                "least one address (the address that moves)",
            ],
        ),
        (
            # a key written wrong is reported as such, not also as missing
            "[vrrp_instance v]\ninterface eth0\nvirtual_router_id = 0\nvirtual_ipaddress {\n",
            [
                "t.ini:2: [vrrp_instance v] interface eth0: missing '=': write 'interface = "
                "eth0' (the key is keepalived's keyword, the value the rest of its line)",
                "t.ini:3: [vrrp_instance v] virtual_router_id: virtual_router_id must be "
                "between 1 and 255, not 0",
                "t.ini:4: [vrrp_instance v] virtual_ipaddress {: keepalived's braces are not "
                "written here: write 'virtual_ipaddress =' and put one item per line below it, "
                "indented",
            ],
        ),
        (
            "[vrrp_instance v]\ninterface = eth0:1\nvirtual_router_id = 1\n"
            "virtual_ipaddress =\n    10.0.0.1\n    fd00::1\n",
            [
                "t.ini:2: [vrrp_instance v] interface: 'eth0:1' is not an interface name "
                "(Linux: at most 15 characters, no '/', ':' or spaces)",
                "t.ini:6: [vrrp_instance v] virtual_ipaddress: fd00::1 is IPv6 but the first "
                "virtual_ipaddress (line 5) is IPv4: the adverts carry one family; put the other "
                "family in virtual_ipaddress_excluded",
            ],
        ),
        (
            "[vrrp_instance v]\ninterface = eth0\nvirtual_router_id = 1\nversion = 2\n"
            "virtual_ipaddress = fd00::1\nauth_type = PASS\nauth_pass = x\n"
            "v3_checksum_as_v2\n",
            [
                "t.ini:4: [vrrp_instance v] version: version 2 carries IPv4 addresses only (RFC "
                "3768): an instance with IPv6 addresses runs version 3; remove 'version = 2'",
                "t.ini:6: [vrrp_instance v] auth_type: VRRP version 3 has no authentication (RFC "
                "5798): remove auth_type and auth_pass, or run 'version = 2'",
                "t.ini:8: [vrrp_instance v] v3_checksum_as_v2: has no effect: it leaves the IPv4 "
                "pseudo-header out of the VRRPv3 checksum, and this instance runs IPv6",
            ],
        ),
        (
            INSTANCE + "\n[vrrp_instance w]\ninterface = eth0\nvirtual_router_id = 51\n"
            "virtual_ipaddress = 10.0.0.200/24\n",
            [
                "t.ini:9: [vrrp_instance w] virtual_router_id: virtual_router_id 51 on eth0 "
                "(IPv4) is already used by [vrrp_instance v] line 3",
            ],
        ),
        (
            # a wrong key is reported once, not again through the rules that depend on it
            "[vrrp_instance v]\ninterface = eth0\nvirtual_router_id = 1\n"
            "virtual_ipaddress = 10.0.0.1\nversion = 5\nadvert_int = 0.5\nstate = MASTER\n"
            "priority = 0\npreempt_delay = 5\n",
            [
                "t.ini:5: [vrrp_instance v] version: version is 2 or 3, not '5'",
                "t.ini:8: [vrrp_instance v] priority: priority must be between 1 and 255, not 0 "
                "(priority 0 is what a stopping master sends)",
                "t.ini:9: [vrrp_instance v] preempt_delay: preempt_delay needs 'state = BACKUP': "
                "an instance that starts as MASTER does not wait (keepalived clears "
                "preempt_delay then)",
            ],
        ),
        (
            "[vrrp_instance]\n",
            ["t.ini:1: [vrrp_instance] a vrrp_instance section needs a name: [vrrp_instance NAME]"],
        ),
        (
            "[vrrp_script a b]\n",
            ["t.ini:1: [vrrp_script a b] a section name is one word: [vrrp_script a]"],
        ),
        (
            "[global_defs]\n",
            [
                "t.ini:1: [global_defs] keepalived's global_defs holds keepalived's global "
                "settings, which have no section here: vrrp_version is each [vrrp_instance]'s "
                "'version'",
            ],
        ),
        (
            "[vrrp_track_process haproxy]\n",
            [
                "t.ini:1: [vrrp_track_process haproxy] keepalived's vrrp_track_process is not "
                "supported yet: use a [vrrp_script], such as 'script = pidof NAME'",
            ],
        ),
        (
            "[virtual_server 10.0.0.1 80]\n",
            [
                "t.ini:1: [virtual_server 10.0.0.1 80] keepalived's virtual_server is not "
                "supported by stack (keepalived's LVS): a [backend] balances HTTP instead",
            ],
        ),
        (
            "[vrrp_instanse v]\n",
            [
                "t.ini:1: [vrrp_instanse v] unknown section type 'vrrp_instanse' (use global, "
                "defaults, edge, frontend, backend, listen, peers, demo, vrrp_instance or "
                "vrrp_script); "
                "did you mean 'vrrp_instance'?",
            ],
        ),
    ],
)
def test_section_errors(problems_of: Problems, text: str, expected: list[str]) -> None:
    assert problems_of(text) == expected


SCRIPT_ERRORS = [
    (
        "script = /bin/true\ncheck = balancer\n",
        "t.ini:3: [vrrp_script s] check: a vrrp_script runs 'script' or 'check', not both",
    ),
    (
        "check = web\n",
        "t.ini:2: [vrrp_script s] check: check takes the tiers to check, edge and/or balancer, "
        "not 'web'",
    ),
    (
        "check = balancers\n",
        "t.ini:2: [vrrp_script s] check: check takes the tiers to check, edge and/or balancer, "
        "not 'balancers'; did you mean 'balancer'?",
    ),
    (
        "check = edge\n",
        "t.ini:2: [vrrp_script s] check: check edge: this file has no [edge] section to check",
    ),
    (
        "check = balancer balancer\n",
        "t.ini:2: [vrrp_script s] check: 'balancer' is written twice",
    ),
    (
        "check = balancer\nuser = nobody\n",
        "t.ini:3: [vrrp_script s] user: has no effect with 'check' (the built-in check runs "
        "inside stack)",
    ),
    (
        "script = /bin/true\ninterval = 0\n",
        "t.ini:3: [vrrp_script s] interval: interval must be more than 0 seconds",
    ),
    (
        "script = /bin/true\ninterval = 0.0001\n",
        "t.ini:3: [vrrp_script s] interval: interval counts in milliseconds: at most 3 "
        "decimals, not '0.0001'",
    ),
    (
        "script = /bin/true\ninterval = 5000\n",
        "t.ini:3: [vrrp_script s] interval: interval must be at most 4294 seconds, not '5000'",
    ),
    (
        "script = /bin/true\ntimeout = 1.2345\n",
        "t.ini:3: [vrrp_script s] timeout: timeout counts in milliseconds: at most 3 decimals, "
        "not '1.2345'",
    ),
    (
        "script = /bin/true\nweight = -254\n",
        "t.ini:3: [vrrp_script s] weight: weight must be between -253 and 253, not -254",
    ),
    (
        "script = /bin/true\nweight = 2 reverse\n",
        "t.ini:3: [vrrp_script s] weight: 'weight N reverse' is not supported yet for scripts",
    ),
    (
        "script = /bin/true\nrise = 0\n",
        "t.ini:3: [vrrp_script s] rise: rise must be between 1 and 2147483647, not 0",
    ),
    (
        "script = /bin/true\nfall = many\n",
        "t.ini:3: [vrrp_script s] fall: fall must be a whole number, not 'many'",
    ),
    (
        "script = /bin/true\nuser = nobody nogroup\n",
        "t.ini:3: [vrrp_script s] user: a group (nogroup) is not supported yet: write 'user = "
        "NAME' (the script runs with that user's groups)",
    ),
    (
        "script = /bin/true\ninit_fail = sometimes\n",
        "t.ini:3: [vrrp_script s] init_fail: expected on or off (or yes/no, true/false, 1/0), "
        "not 'sometimes'",
    ),
    (
        'script = "/bin/check a" extra\n',
        "t.ini:2: [vrrp_script s] script: unexpected 'extra' after the quoted command: "
        "keepalived ignores it; a user is written 'user = NAME'",
    ),
    (
        "script = ''\n",
        "t.ini:2: [vrrp_script s] script: 'script' needs a command",
    ),
    (
        "script = /bin/true\npriority = 1\n",
        "t.ini:3: [vrrp_script s] priority: 'priority' belongs in a [vrrp_instance NAME] section",
    ),
    (
        "script = /bin/true\ninterval 2\n",
        "t.ini:3: [vrrp_script s] interval 2: missing '=': write 'interval = 2' (the key is "
        "keepalived's keyword, the value the rest of its line)",
    ),
    (
        "script = /bin/true\nintreval = 2\n",
        "t.ini:3: [vrrp_script s] intreval: unknown key 'intreval' in [vrrp_script s]; did you "
        "mean 'interval'?",
    ),
]


@pytest.mark.parametrize(("lines", "expected"), SCRIPT_ERRORS, ids=lambda v: v[:40])
def test_script_errors(problems_of: Problems, lines: str, expected: str) -> None:
    assert problems_of("[vrrp_script s]\n" + lines + BALANCER) == [expected]


def test_a_script_needs_script_or_check(problems_of: Problems) -> None:
    assert problems_of("[vrrp_script s]\ninterval = 2\n" + BALANCER) == [
        "t.ini:1: [vrrp_script s] a vrrp_script needs 'script = COMMAND' or 'check = edge "
        "balancer' (stack's own check of its tiers)"
    ]


def test_too_many_addresses_for_one_advert(problems_of: Problems) -> None:
    lines = "".join(f"    fd00::{n:x}\n" for n in range(1, 91))
    problems = problems_of(
        "[vrrp_instance v]\ninterface = eth0\nvirtual_router_id = 1\nvirtual_ipaddress =\n" + lines
    )
    assert problems == [
        "t.ini:94: [vrrp_instance v] virtual_ipaddress: an advert carries at most 89 IPv6 "
        "addresses: list the others in virtual_ipaddress_excluded"
    ]


def test_the_nothing_to_run_message_names_vrrp(problems_of: Problems) -> None:
    assert problems_of("[vrrp_script s]\nscript = /bin/true\n") == [
        "t.ini: nothing to run: no [edge], [frontend], [listen], [demo] or [vrrp_instance] section"
    ]


# --- seed 004's keepalived.conf ------------------------------------------------------------------

# The keyword lines of seed 004's keepalived.conf (what the published page kept of them).
SEED_LINES = [
    'script "killall -0 apache2"',
    "interval 2",
    "weight 2",
    "state BACKUP",
    "interface eth0",
    "garp_master_delay 1",
    "virtual_router_id 51",
    "priority 101",
    "advert_int 1",
]


def test_the_seed_004_example_loads() -> None:
    cfg = load(str(EXAMPLE))
    assert summary(cfg) == (
        f"Configuration file is valid: {EXAMPLE} (0 frontends, 0 backends, 0 servers, "
        "0 demo servers, 1 vrrp instance)"
    )
    (script,) = cfg.vrrp_scripts
    assert script.name == "chk_apache"
    assert script.command == ("killall", "-0", "apache2")
    assert (script.interval, script.weight, script.check) == (2.0, 2, ())
    (v,) = cfg.vrrp_instances
    assert (v.name, v.state, v.interface, v.vrid, v.priority) == (
        "apache_vip",
        "BACKUP",
        "eth0",
        51,
        101,
    )
    assert (v.advert_int, v.version, v.garp_master_delay, v.nopreempt) == (100, 2, 1.0, False)
    assert [(a.interface, a.dev) for a in v.addresses] == [
        (IPv4Interface("10.77.0.100/24"), "eth0")
    ]
    assert [t.name for t in v.track_scripts] == ["chk_apache"]
    assert [(t.name, t.weight) for t in v.track_interfaces] == [("eth1", 0)]


def test_the_example_translates_every_seed_line() -> None:
    text = EXAMPLE.read_text()
    assert text.startswith("# ") and "Translated" in text and "Left out" in text
    written = {
        re.sub(r"\s+#.*", "", line).strip()
        for line in text.splitlines()
        if line and not line.startswith("#")
    }
    for seed_line in SEED_LINES:
        keyword, value = seed_line.split(" ", 1)
        assert f"{keyword} = {value}" in written, seed_line


def test_pasting_the_seed_s_braces_says_what_to_write(problems_of: Problems) -> None:
    pasted = "[vrrp_instance apache_vip]\n" + "\n".join(
        [*SEED_LINES[3:], "virtual_ipaddress {", "  10.77.0.100/24 dev eth0", "}", "nopreempt"]
    )
    problems = problems_of(pasted)
    assert problems[0] == (
        "t.ini:2: [vrrp_instance apache_vip] state BACKUP: missing '=': write 'state = BACKUP' "
        "(the key is keepalived's keyword, the value the rest of its line)"
    )
    assert (
        "t.ini:8: [vrrp_instance apache_vip] virtual_ipaddress {: keepalived's braces are not "
        "written here: write 'virtual_ipaddress =' and put one item per line below it, indented"
    ) in problems
    assert problems[-1] == (
        "t.ini:10: [vrrp_instance apache_vip] }: a '}' from keepalived.conf: remove it (a "
        "section ends where the next one starts)"
    )
    assert len(problems) == 9  # six keywords, the brace, its item, the closing brace


# --- the lab's two load balancers ----------------------------------------------------------------


@pytest.mark.parametrize(("name", "priority"), [("lb1", 101), ("lb2", 100)])
def test_the_lab_balancers_load(name: str, priority: int) -> None:
    path = REPO / "etc" / f"{name}.ini"
    cfg = load(str(path))
    assert summary(cfg) == (
        f"Configuration file is valid: {path} (1 edge, 1 frontend, 1 backend, 4 servers, "
        "0 demo servers, 1 vrrp instance)"
    )
    assert cfg.tiers == ("balancer", "edge", "vrrp")
    assert cfg.global_.node == name
    assert cfg.global_.state_dir == str(path.parent / ".." / "var" / name)
    (edge,) = cfg.edges
    assert edge.binds == (Endpoint("0.0.0.0", 443),)
    assert edge.redirect_binds == (Endpoint("0.0.0.0", 80),)
    assert edge.certificates == ()  # certificate = auto
    assert edge.server_name == "10.77.0.100"
    assert [(p.prefix, p.frontend, p.port) for p in edge.proxy_pass] == [("/", "web", 8081)]
    (backend,) = cfg.backends
    assert backend.name == "app" and backend.cookie is not None
    assert (backend.cookie.name, backend.cookie.indirect, backend.cookie.nocache) == (
        "SRVID",
        True,
        True,
    )
    assert [
        (s.name, s.address, s.cookie, s.check, s.inter, s.rise, s.fall) for s in backend.servers
    ] == [
        (f"web{n}", Endpoint(f"10.77.0.2{n}", 80), f"web{n}", True, 2.0, 2, 2) for n in range(1, 5)
    ]
    (script,) = cfg.vrrp_scripts
    assert (script.name, script.check, script.interval, script.weight) == (
        "chk_stack",
        ("edge", "balancer"),
        2.0,
        2,
    )
    v = cfg.vrrp_instances[0]
    assert (v.name, v.state, v.interface, v.vrid, v.priority, v.advert_int) == (
        "apache_vip",
        "BACKUP",
        "eth0",
        51,
        priority,
        100,
    )
    assert v.garp_master_delay == 1.0
    assert [(a.interface, a.dev) for a in v.addresses] == [
        (IPv4Interface("10.77.0.100/24"), "eth0")
    ]
    assert v.track_scripts == (TrackScript("chk_stack", None, v.track_scripts[0].origin),)


def test_the_lab_balancers_differ_only_where_they_must() -> None:
    one = (REPO / "etc" / "lb1.ini").read_text().splitlines()
    two = (REPO / "etc" / "lb2.ini").read_text().splitlines()
    assert len(one) == len(two)
    changed = [(a, b) for a, b in zip(one, two, strict=True) if a != b and not a.startswith("#")]
    assert changed == [
        ("node = lb1", "node = lb2"),
        ("state-dir = ../var/lb1", "state-dir = ../var/lb2"),
        ("priority = 101", "priority = 100"),
    ]
