"""The ``[vrrp_instance NAME]`` and ``[vrrp_script NAME]`` sections: keepalived.conf in INI.

Each key is the keepalived keyword as written in keepalived.conf; a ``{ ... }`` block becomes a
multi-line value with one item per line, and a flag keyword (``nopreempt``) may be written bare.
Values get keepalived's ranges (keepalived 2.x ``vrrp_parser.c``), but where keepalived logs a
warning and runs with a value other than the one written (rounding ``advert_int``, clearing
``nopreempt`` under ``state MASTER``), the file is refused with the reason: a router that quietly
behaves unlike its configuration is the failover bug nobody finds until the failover.
docs/vrrp.md has the table.
"""

from __future__ import annotations

import difflib
import ipaddress
import re
from dataclasses import dataclass, field
from fractions import Fraction
from typing import TypeVar, cast

from . import ini
from .conditions import suggest
from .durations import parse_duration
from .errors import Invalid, Problems
from .model import (
    IpAddress,
    Origin,
    TrackInterface,
    TrackScript,
    UnicastPeer,
    VirtualAddress,
    VrrpInstance,
    VrrpScript,
)
from .values import INT_MAX, parse_int, parse_switch
from .words import WordError, join_words, split_words

ONE = "one"  # one value on the key's line
LINES = "lines"  # a keepalived { } block: one item per line
FLAG = "flag"  # written bare (on), or = on/off

INSTANCE_KEYS: dict[str, str] = {
    "state": ONE,
    "interface": ONE,
    "virtual_router_id": ONE,
    "priority": ONE,
    "advert_int": ONE,
    "version": ONE,
    "virtual_ipaddress": LINES,
    "virtual_ipaddress_excluded": LINES,
    "nopreempt": FLAG,
    "preempt": FLAG,
    "preempt_delay": ONE,
    "garp_master_delay": ONE,
    "garp_master_repeat": ONE,
    "garp_master_refresh": ONE,
    "garp_master_refresh_repeat": ONE,
    "garp_lower_prio_delay": ONE,
    "garp_lower_prio_repeat": ONE,
    "lower_prio_no_advert": FLAG,
    "higher_prio_send_advert": FLAG,
    "down_timer_adverts": ONE,
    "v3_checksum_as_v2": FLAG,
    "auth_type": ONE,
    "auth_pass": ONE,
    "unicast_src_ip": ONE,
    "unicast_peer": LINES,
    "mcast_src_ip": ONE,
    "track_script": LINES,
    "track_interface": LINES,
    "dont_track_primary": FLAG,
    "notify_master": ONE,
    "notify_backup": ONE,
    "notify_fault": ONE,
    "notify_stop": ONE,
    "notify": ONE,
}

SCRIPT_KEYS: dict[str, str] = {
    "script": ONE,
    "check": ONE,
    "interval": ONE,
    "timeout": ONE,
    "weight": ONE,
    "rise": ONE,
    "fall": ONE,
    "user": ONE,
    "init_fail": FLAG,
}

# The tiers `check` can test: every address they listen on must accept a connection.
CHECK_TIERS = ("edge", "balancer")

_BLOCKS = [key for key, shape in INSTANCE_KEYS.items() if shape == LINES]
_ONE_PER_LINE = f"only {', '.join(_BLOCKS[:-1])} and {_BLOCKS[-1]}"
_VMAC = "the address moves with gratuitous ARP from the interface's own MAC, keepalived's default"
_USE_SCRIPT = "track a [vrrp_script] instead"

# keepalived vrrp_instance keywords stack does not take: (planned, reason).
NOT_SUPPORTED: dict[str, tuple[bool, str]] = {
    "use_vmac": (True, _VMAC),
    "use_vmac_addr": (True, _VMAC),
    "vmac_xmit_base": (True, _VMAC),
    "use_ipvlan": (True, _VMAC),
    "garp_extra_if": (True, ""),
    "vmac_garp_intvl": (True, ""),
    "track_file": (True, _USE_SCRIPT),
    "track_process": (True, _USE_SCRIPT + ", such as 'script = pidof NAME'"),
    "track_bfd": (True, _USE_SCRIPT),
    "track_src_ip": (True, ""),
    "mcast_dst_ip": (True, "adverts go to 224.0.0.18 or ff02::12, as the RFCs say"),
    "unicast_ttl": (True, "unicast adverts are sent with TTL 255"),
    "check_unicast_src": (True, ""),
    "unicast_fault_no_peer": (True, ""),
    "promote_secondaries": (True, ""),
    "virtual_routes": (True, ""),
    "virtual_rules": (True, ""),
    "skip_check_adv_addr": (True, ""),
    "notify_deleted": (True, ""),
    "notify_master_rx_lower_pri": (True, ""),
    "notify_priority_changes": (True, ""),
    "timer_expired_backup": (True, ""),
    "thread_timer_expired": (True, ""),
    "owner_ignore_adverts": (True, ""),
    "vrf": (True, ""),
    "auth_hmac": (True, "keepalived 2.4's HMAC-SHA256 extension"),
    "accept": (
        False,
        "packets to the virtual addresses are always accepted, keepalived's default without "
        "vrrp_strict: remove the line",
    ),
    "no_accept": (
        False,
        "dropping packets to the virtual addresses takes the firewall rules keepalived "
        "installs; stack always accepts them, keepalived's default without vrrp_strict",
    ),
    "strict_mode": (
        False,
        "keepalived's strict RFC mode, which also installs firewall rules; stack runs "
        "keepalived's default mode",
    ),
    "vrrp_strict": (
        False,
        "keepalived's global strict RFC mode, which also installs firewall rules; stack runs "
        "keepalived's default mode",
    ),
    "old_unicast_checksum": (
        False,
        "it is for peers running keepalived 1.3.6 or older, whose VRRPv3 unicast checksum was "
        "wrong",
    ),
    "native_ipv6": (False, "an IPv6 virtual_ipaddress makes the instance IPv6"),
    "no_virtual_ipaddress": (False, "VRRPv3 requires at least one address (RFC 5798)"),
    "smtp_alert": (False, "stack sends no mail: use a notify script"),
    "debug": (False, "keepalived does not implement it either"),
    "kernel_rx_buf_size": (False, ""),
    "linkbeat_use_polling": (False, "link state comes from netlink"),
    "lvs_sync_daemon_interface": (False, "stack has no LVS"),
}

# keepalived virtual_ipaddress options (after the address) stack does not take yet.
VIP_NOT_YET = (
    "brd",
    "broadcast",
    "scope",
    "peer",
    "home",
    "-nodad",
    "mngtmpaddr",
    "noprefixroute",
    "autojoin",
    "no_track",
    "preferred_lft",
    "use_vmac",
)

_IFNAMSIZ = 16  # Linux: names are at most 15 bytes
_AUTH_LENGTH = 8  # RFC 2338's authentication data
_DECIMAL = re.compile(r"\d+(?:\.\d+)?")
_WITH_UNIT = re.compile(r"\d+(?:us|ms|s|m|h|d)")


# --- the sections' drafts ------------------------------------------------------------------------


@dataclass
class ScriptDraft:
    """What a ``[vrrp_script]`` says, with where, for the checks that need the whole file."""

    name: str
    header: str
    line: int
    path: str
    values: dict[str, tuple[object, Origin]] = field(default_factory=dict)
    written: set[str] = field(default_factory=set)  # keywords written, rightly or not
    failed: bool = False
    script: VrrpScript | None = None


@dataclass
class InstanceDraft:
    """What a ``[vrrp_instance]`` says: ``values`` holds its one-line and flag keys, parsed,
    the lists the items of its blocks; ``instance`` is built once the section holds."""

    name: str
    header: str
    line: int
    path: str
    values: dict[str, tuple[object, Origin]] = field(default_factory=dict)
    written: set[str] = field(default_factory=set)  # keywords written, rightly or not
    addresses: list[VirtualAddress] = field(default_factory=list)
    excluded: list[VirtualAddress] = field(default_factory=list)
    peers: list[UnicastPeer] = field(default_factory=list)
    track_scripts: list[TrackScript] = field(default_factory=list)
    track_interfaces: list[TrackInterface] = field(default_factory=list)
    failed: bool = False
    instance: VrrpInstance | None = None

    def value(self, key: str) -> object:
        """The parsed value of a key, or ``None`` when it is not written (or was wrong)."""
        written = self.values.get(key)
        return None if written is None else written[0]

    def origin(self, key: str) -> Origin:
        """Where ``key`` was written (the section's line when it was not)."""
        written = self.values.get(key)
        if written is not None:
            return written[1]
        return Origin(self.path, self.line, self.header, "")

    @property
    def family(self) -> int | None:
        """4 or 6: the family of the first virtual address, which the adverts carry."""
        return self.addresses[0].interface.version if self.addresses else None


class _Report:
    """The problems of one section; remembers there were some, so nothing is built on them."""

    def __init__(self, problems: Problems, draft: ScriptDraft | InstanceDraft) -> None:
        self.problems = problems
        self.draft = draft

    def at(self, origin: Origin, message: str) -> None:
        self.draft.failed = True
        self.problems.at(origin, message)

    def section(self, message: str) -> None:
        self.draft.failed = True
        self.problems.add(message, line=self.draft.line, section=self.draft.header)


# --- keys ----------------------------------------------------------------------------------------

_AUTHENTICATION = (
    "keepalived's authentication block is not written here: put 'auth_type = PASS' and "
    "'auth_pass = PASSWORD' in the [vrrp_instance] itself"
)
# keys that belong to the other section kind, with where they go
_SCRIPT_HINTS = {key: f"'{key}' belongs in a [vrrp_instance NAME] section" for key in INSTANCE_KEYS}
_INSTANCE_HINTS = {
    **{
        key: f"'{key}' belongs in a [vrrp_script NAME] section, which track_script names"
        for key in SCRIPT_KEYS
    },
    "weight": (
        "'weight' goes on a track_script or track_interface line ('chk_stack weight 2'), or in "
        "the [vrrp_script] itself"
    ),
    "authentication": _AUTHENTICATION,
}

Items = list[tuple[Origin, str | None]]


def _entries(
    section: ini.Section,
    keys: dict[str, str],
    report: _Report,
    path: str,
    hints: dict[str, str],
) -> list[tuple[str, Items]]:
    """Every known key of ``section`` with its items: one (origin, text) for a one-line key,
    ``None`` text for a bare flag, one per line for a block. Other keys are reported."""
    header = section.header
    found: list[tuple[str, Items]] = []
    seen: set[str] = set()
    for entry in section.entries:
        key = entry.key
        if key in seen:
            continue  # the scanner reported the duplicate
        seen.add(key)
        # "virtual_ipaddress {" and "state BACKUP" are reported as written wrong, not as missing
        report.draft.written.update(key.rstrip("{").split()[:1] or [key])
        where = Origin(path, entry.line, header, key)
        if key not in keys:
            report.at(where, _unknown_key(key, entry, keys, header, hints))
            continue
        lines = entry.occurrences()
        if keys[key] == LINES:
            if entry.value is None or not lines:
                report.at(where, f"'{key}' needs a value: one item per line below it, indented")
            else:
                found.append((key, [(Origin(path, n, header, key), t) for n, t in lines]))
            continue
        if len(lines) > 1:
            report.at(
                Origin(path, lines[1][0], header, key),
                f"'{key}' takes a single value; {_ONE_PER_LINE} take one item per line "
                "(unindent this line if it is a new key)",
            )
        elif entry.value is None and keys[key] != FLAG:
            report.at(where, f"'{key}' needs a value: write '{key} = ...'")
        elif entry.value is not None and not lines:
            report.at(where, f"'{key}' needs a value")
        elif lines:
            found.append((key, [(Origin(path, lines[0][0], header, key), lines[0][1])]))
        else:
            found.append((key, [(where, None)]))  # a bare flag
    return found


def _unknown_key(
    key: str, entry: ini.Entry, keys: dict[str, str], header: str, hints: dict[str, str]
) -> str:
    """The message for a key the section does not take, with the most useful hint."""
    words = key.split()
    first = words[0]
    if first.startswith("!"):
        return "'!' starts a comment in keepalived.conf; write '#' here"
    if first.startswith("}"):
        return "a '}' from keepalived.conf: remove it (a section ends where the next one starts)"
    block = key.rstrip("{").strip()
    if first in ("vrrp_instance", "vrrp_script") and len(block.split()) == 2:
        return f"a keepalived block is a section here: write [{block}]"
    if key.endswith("{"):
        if block == "authentication":
            return _AUTHENTICATION
        if block in keys:
            return (
                f"keepalived's braces are not written here: write '{block} =' and put one item "
                "per line below it, indented"
            )
        return "keepalived's '{ ... }' blocks are not written here (docs/vrrp.md)"
    if len(words) > 1 and first in keys:
        rest = " ".join(words[1:])
        if entry.value is None:
            return (
                f"missing '=': write '{first} = {rest}' (the key is keepalived's keyword, the "
                "value the rest of its line)"
            )
        return f"unexpected {rest!r} in the key (did you mean '{first}'?)"
    if first in hints:
        return hints[first]
    if first in NOT_SUPPORTED:
        planned, reason = NOT_SUPPORTED[first]
        verdict = "is not supported yet" if planned else "is not supported by stack"
        return f"'{first}' {verdict}" + (f" ({reason})" if reason else "")
    if first.startswith("vrrp_") and first[5:] in keys:
        return (
            f"'{first}' is keepalived's global_defs setting: here each instance says "
            f"'{first[5:]} = ...'"
        )
    if _is_address(first):
        return "an address on a line of its own: put it below 'virtual_ipaddress =', indented"
    close = difflib.get_close_matches(key.lower(), list(keys), n=1, cutoff=0.6)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    return f"unknown key '{key}' in [{header}]{hint}"


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_interface(text)
    except ValueError:
        return False
    return True


# --- [vrrp_script NAME] --------------------------------------------------------------------------


def read_vrrp_script(name: str, section: ini.Section, path: str, problems: Problems) -> ScriptDraft:
    """Check every key of one ``[vrrp_script NAME]``; :func:`resolve` checks its ``check``
    tiers against the whole file."""
    draft = ScriptDraft(name, section.header, section.line, path)
    report = _Report(problems, draft)
    for key, [(origin, text)] in _entries(section, SCRIPT_KEYS, report, path, _SCRIPT_HINTS):
        try:
            draft.values[key] = (_script_value(key, text), origin)
        except (Invalid, WordError) as exc:
            report.at(origin, str(exc))
    values = {key: value for key, (value, _origin) in draft.values.items()}
    if "script" in values and "check" in values:
        report.at(draft.values["check"][1], "a vrrp_script runs 'script' or 'check', not both")
    elif "script" not in draft.written and "check" not in draft.written:
        report.section(
            "a vrrp_script needs 'script = COMMAND' or 'check = edge balancer' (stack's own "
            "check of its tiers)"
        )
    if "check" in values and "user" in values:
        report.at(
            draft.values["user"][1],
            "has no effect with 'check' (the built-in check runs inside stack)",
        )
    if draft.failed:
        return draft
    draft.script = VrrpScript(
        name=name,
        command=cast("tuple[str, ...]", values.get("script", ())),
        check=cast("tuple[str, ...]", values.get("check", ())),
        interval=cast(float, values.get("interval", 1.0)),
        timeout=cast("float | None", values.get("timeout")),
        weight=cast(int, values.get("weight", 0)),
        rise=cast(int, values.get("rise", 1)),
        fall=cast(int, values.get("fall", 1)),
        user=cast("str | None", values.get("user")),
        init_fail=cast(bool, values.get("init_fail", False)),
        origin=Origin(path, section.line, section.header, ""),
    )
    return draft


def _script_value(key: str, text: str | None) -> object:
    if key == "init_fail":
        return parse_switch(text)
    assert text is not None
    if key == "script":
        return _command(text, key)
    words = split_words(text)
    if key == "check":
        return _check(words)
    if key == "user":
        if len(words) > 1:
            raise Invalid(
                f"a group ({join_words(words[1:])}) is not supported yet: write 'user = NAME' "
                "(the script runs with that user's groups)"
            )
        return _one(words, key)
    if key == "weight":
        return _weight(words, reverse=False)
    text = _one(words, key)
    if key in ("interval", "timeout"):
        seconds = _seconds(text, key)
        if seconds <= 0:
            raise Invalid(f"{key} must be more than 0 seconds")
        if (seconds * 1000).denominator != 1:
            raise Invalid(f"{key} counts in milliseconds: at most 3 decimals, not {text!r}")
        if seconds > _MAX_SCRIPT_SECONDS:
            raise Invalid(f"{key} must be at most {_MAX_SCRIPT_SECONDS} seconds, not {text!r}")
        return float(seconds)
    return parse_int(text, key, 1, INT_MAX)  # rise, fall


_MAX_SCRIPT_SECONDS = 4294  # keepalived keeps them in microseconds in an unsigned int


def _check(words: list[str]) -> tuple[str, ...]:
    tiers: list[str] = []
    for word in words:
        if word not in CHECK_TIERS:
            raise Invalid(
                f"check takes the tiers to check, edge and/or balancer, not {word!r}"
                + suggest(word, list(CHECK_TIERS))
            )
        if word in tiers:
            raise Invalid(f"'{word}' is written twice")
        tiers.append(word)
    return tuple(tiers)


# --- [vrrp_instance NAME] ------------------------------------------------------------------------


def read_vrrp_instance(
    name: str, section: ini.Section, path: str, problems: Problems
) -> InstanceDraft:
    """Check every key of one ``[vrrp_instance NAME]`` and keepalived's rules between them;
    build the :class:`VrrpInstance` when they hold. :func:`resolve` checks what needs the
    whole file: ``track_script`` names and VRIDs shared between instances."""
    draft = InstanceDraft(name, section.header, section.line, path)
    report = _Report(problems, draft)
    for key, items in _entries(section, INSTANCE_KEYS, report, path, _INSTANCE_HINTS):
        for origin, text in items:
            try:
                if INSTANCE_KEYS[key] == LINES:
                    _block_item(draft, key, text or "", origin)
                else:
                    draft.values[key] = (_instance_value(key, text), origin)
            except (Invalid, WordError) as exc:
                report.at(origin, str(exc))
    _complete(draft, report)
    return draft


def _instance_value(key: str, text: str | None) -> object:
    """One one-line or flag key of an instance, checked on its own."""
    if INSTANCE_KEYS[key] == FLAG:
        return parse_switch(text)
    assert text is not None
    if key.startswith("notify"):
        return _command(text, key)
    words = split_words(text)
    text = _one(words, key)
    if key == "state":
        if text.upper() not in ("MASTER", "BACKUP"):
            raise Invalid(f"state is MASTER or BACKUP, not {text!r}")
        return text.upper()
    if key == "interface":
        return _ifname(text)
    if key == "virtual_router_id":
        return parse_int(text, key, 1, 255)
    if key == "priority":
        if text == "0":
            raise Invalid(
                "priority must be between 1 and 255, not 0 (priority 0 is what a stopping "
                "master sends)"
            )
        return parse_int(text, key, 1, 255)
    if key == "version":
        if text not in ("2", "3"):
            raise Invalid(f"version is 2 or 3, not {text!r}")
        return int(text)
    if key == "advert_int":
        seconds = _seconds(text, key)
        if seconds <= 0:
            raise Invalid("advert_int must be more than 0 seconds")
        return (seconds, text)  # checked against the version once it is known
    if key == "preempt_delay":
        seconds = _seconds(text, key)
        if seconds > _MAX_PREEMPT_DELAY:
            raise Invalid(f"preempt_delay must be at most {_MAX_PREEMPT_DELAY} seconds")
        return float(seconds)
    if key in ("garp_master_delay", "garp_master_refresh", "garp_lower_prio_delay"):
        seconds = _seconds(text, key)
        if seconds.denominator != 1:
            raise Invalid(f"{key} is whole seconds, not {text!r}")
        if seconds > _MAX_GARP_SECONDS:
            raise Invalid(f"{key} must be at most {_MAX_GARP_SECONDS} seconds")
        return float(seconds)
    if key in ("garp_master_repeat", "garp_master_refresh_repeat"):
        return parse_int(text, key, 1, INT_MAX)
    if key == "garp_lower_prio_repeat":
        return parse_int(text, key, 0, INT_MAX)
    if key == "down_timer_adverts":
        return parse_int(text, key, 1, 100)
    if key == "auth_type":
        return _auth_type(text)
    if key == "auth_pass":
        return _auth_pass(text)
    if key in ("unicast_src_ip", "mcast_src_ip"):
        return _address(text)
    raise AssertionError(key)  # pragma: no cover - every key of INSTANCE_KEYS has a branch


_MAX_PREEMPT_DELAY = 1000  # keepalived's TIMER_MAX_SEC
_MAX_GARP_SECONDS = 4294  # keepalived keeps them in microseconds in an unsigned int


def _block_item(draft: InstanceDraft, key: str, text: str, origin: Origin) -> None:
    """One line of a keepalived block: an address, a peer, a tracked script or interface."""
    if text in ("{", "}") or text.endswith("{"):
        raise Invalid(
            f"keepalived's braces are not written here: '{key} =' takes one item per line "
            "below it, indented"
        )
    words = split_words(text)
    if not words:
        raise Invalid(f"'{key}' needs a value")
    if key in ("virtual_ipaddress", "virtual_ipaddress_excluded"):
        address = _virtual_address(words, origin)
        excluded = key == "virtual_ipaddress_excluded"
        _check_duplicate_address(draft, address, excluded)
        (draft.excluded if excluded else draft.addresses).append(address)
        return
    if key == "unicast_peer":
        peer = _unicast_peer(words, origin)
        _once(str(peer.address), [p.origin for p in draft.peers if p.address == peer.address])
        draft.peers.append(peer)
    elif key == "track_script":
        track = _track_script(words, origin)
        _once(track.name, [t.origin for t in draft.track_scripts if t.name == track.name])
        draft.track_scripts.append(track)
    else:
        tracked = _track_interface(words, origin)
        _once(tracked.name, [t.origin for t in draft.track_interfaces if t.name == tracked.name])
        draft.track_interfaces.append(tracked)


def _once(item: str, earlier: list[Origin | None]) -> None:
    """keepalived ignores a repeated peer or tracked item with a warning; here it is an error."""
    for origin in earlier:
        raise Invalid(f"{item} is already listed at line {origin.line if origin else '?'}")


def _check_duplicate_address(draft: InstanceDraft, new: VirtualAddress, excluded: bool) -> None:
    """keepalived's rule: an address is listed once, except that an excluded address may
    repeat one of the others on another device."""
    for other in (*draft.addresses, *draft.excluded):
        if other.address != new.address or other.origin is None:
            continue
        if excluded and other.dev != new.dev:
            continue
        raise Invalid(f"{new.address} is already listed at line {other.origin.line}")


# --- keepalived's rules between the keys of an instance -------------------------------------------


def _complete(draft: InstanceDraft, report: _Report) -> None:
    """keepalived's ``vrrp_complete_instance`` checks, as errors; builds the instance."""
    if "interface" not in draft.written:
        report.section("a vrrp_instance needs 'interface = IFNAME' (the interface VRRP runs on)")
    if "virtual_router_id" not in draft.written:
        report.section(
            "a vrrp_instance needs 'virtual_router_id = 1..255' (the same on every router of "
            "the group)"
        )
    if "virtual_ipaddress" not in draft.written:
        report.section(
            "a vrrp_instance needs 'virtual_ipaddress =' with at least one address (the "
            "address that moves)"
        )
    family = draft.family
    version = _version(draft, family, report)
    advert_int = _advert_int(draft, version, report)
    state, priority = _state_and_priority(draft)
    nopreempt = _preempt(draft, state, priority, report)
    auth_pass = _auth(draft, version, report)
    if draft.value("v3_checksum_as_v2") and family is not None and (version == 2 or family == 6):
        runs = "version 2" if version == 2 else "IPv6"
        report.at(
            draft.origin("v3_checksum_as_v2"),
            "has no effect: it leaves the IPv4 pseudo-header out of the VRRPv3 checksum, and "
            f"this instance runs {runs}",
        )
    if family is not None:
        _check_families(draft, family, report)
        _check_count(draft, family, version, report)
    if draft.value("unicast_src_ip") is not None:
        if "unicast_peer" not in draft.written:
            report.at(
                draft.origin("unicast_src_ip"),
                "unicast_src_ip needs unicast_peer lines (without them keepalived falls back to "
                "multicast, a deprecated use): add the peers, or write mcast_src_ip",
            )
        if draft.value("mcast_src_ip") is not None:
            report.at(
                draft.origin("mcast_src_ip"),
                "mcast_src_ip and unicast_src_ip both set the adverts' source address: keep one",
            )
    if draft.failed:
        return
    value = draft.value
    garp_delay = _given(value("garp_master_delay"), 5.0)
    garp_repeat = cast(int, value("garp_master_repeat") or 5)
    draft.instance = VrrpInstance(
        name=draft.name,
        interface=cast(str, value("interface")),
        vrid=cast(int, value("virtual_router_id")),
        priority=priority,
        advert_int=advert_int,
        version=version,
        state=state,
        addresses=tuple(draft.addresses),
        excluded_addresses=tuple(draft.excluded),
        nopreempt=nopreempt,
        preempt_delay=cast(float, value("preempt_delay") or 0.0),
        garp_master_delay=garp_delay,
        garp_master_repeat=garp_repeat,
        garp_master_refresh=_given(value("garp_master_refresh"), 0.0),
        garp_master_refresh_repeat=cast(int, value("garp_master_refresh_repeat") or 1),
        garp_lower_prio_delay=_given(value("garp_lower_prio_delay"), garp_delay),
        garp_lower_prio_repeat=_given(value("garp_lower_prio_repeat"), garp_repeat),
        lower_prio_no_advert=bool(value("lower_prio_no_advert")),
        higher_prio_send_advert=_given(value("higher_prio_send_advert"), True) is True,
        down_timer_adverts=cast(int, value("down_timer_adverts") or 3),
        checksum_as_v2=bool(value("v3_checksum_as_v2")),
        auth_pass=auth_pass,
        unicast_src_ip=cast("IpAddress | None", value("unicast_src_ip")),
        unicast_peers=tuple(draft.peers),
        mcast_src_ip=cast("IpAddress | None", value("mcast_src_ip")),
        track_scripts=tuple(draft.track_scripts),
        track_interfaces=tuple(draft.track_interfaces),
        dont_track_primary=bool(value("dont_track_primary")),
        notify_master=cast("tuple[str, ...]", value("notify_master") or ()),
        notify_backup=cast("tuple[str, ...]", value("notify_backup") or ()),
        notify_fault=cast("tuple[str, ...]", value("notify_fault") or ()),
        notify_stop=cast("tuple[str, ...]", value("notify_stop") or ()),
        notify=cast("tuple[str, ...]", value("notify") or ()),
        origin=Origin(draft.path, draft.line, draft.header, ""),
    )


T = TypeVar("T", int, float)


def _given(value: object, default: T) -> T:
    """A written number (0 included), else the default."""
    return default if value is None else cast(T, value)


def _wrong(draft: InstanceDraft, key: str) -> bool:
    """Whether ``key`` was written but reported, so rules that depend on it are not checked
    against a default the operator did not choose."""
    return key in draft.written and key not in draft.values


def _version(draft: InstanceDraft, family: int | None, report: _Report) -> int:
    """keepalived's rule: version 2 unless written, and IPv6 always runs version 3."""
    written = cast("int | None", draft.value("version"))
    if family == 6:
        if written == 2:
            report.at(
                draft.origin("version"),
                "version 2 carries IPv4 addresses only (RFC 3768): an instance with IPv6 "
                "addresses runs version 3; remove 'version = 2'",
            )
        return 3
    return written or 2


def _advert_int(draft: InstanceDraft, version: int, report: _Report) -> int:
    """``advert_int`` in centiseconds. Where keepalived rounds with a warning (a v2 interval
    that is not whole seconds, a v3 one finer than 10 ms), the file is refused."""
    written = draft.value("advert_int")
    if written is None or _wrong(draft, "version"):
        return 100
    seconds, text = cast("tuple[Fraction, str]", written)
    centiseconds = seconds * 100
    if version == 2:
        if seconds.denominator == 1 and seconds <= 255:
            return int(centiseconds)
        message = (
            f"advert_int {text}: VRRP version 2 takes whole seconds, 1 to 255 ('version = 3' "
            "allows 0.01 to 40.95)"
        )
    else:
        if centiseconds.denominator == 1 and centiseconds <= 4095:
            return int(centiseconds)
        message = (
            f"advert_int {text}: VRRP version 3 takes 0.01 to 40.95 seconds, in hundredths of a "
            "second"
        )
    report.at(draft.origin("advert_int"), message)
    return 100


def _state_and_priority(draft: InstanceDraft) -> tuple[str, int]:
    """keepalived's defaults: without a priority, MASTER is the address owner (255) and
    BACKUP 100; without a state, the owner starts as MASTER."""
    state = cast("str | None", draft.value("state"))
    priority = cast("int | None", draft.value("priority"))
    if priority is None:
        priority = 255 if state == "MASTER" and not _wrong(draft, "priority") else 100
    if state is None:
        state = "MASTER" if priority == 255 else "BACKUP"
    return state, priority


def _preempt(draft: InstanceDraft, state: str, priority: int, report: _Report) -> bool:
    """``nopreempt`` (or ``preempt = off``) and ``preempt_delay``: keepalived clears them with
    a warning where they cannot work; here that is an error."""
    nopreempt = cast("bool | None", draft.value("nopreempt"))
    preempt = cast("bool | None", draft.value("preempt"))
    if nopreempt is not None and preempt is not None:
        later = max(draft.origin("nopreempt"), draft.origin("preempt"), key=lambda o: o.line)
        report.at(later, "nopreempt and preempt are both written: keep one")
        return False
    if nopreempt is None:
        nopreempt = preempt is False
    origin = draft.origin("nopreempt" if "nopreempt" in draft.values else "preempt")
    if nopreempt and priority == 255:
        report.at(
            origin,
            "nopreempt does not apply to the address owner (priority 255), which always takes over",
        )
    elif nopreempt and state == "MASTER":
        report.at(
            origin,
            "nopreempt needs 'state = BACKUP': an instance that starts as MASTER takes over "
            "anyway (keepalived clears nopreempt then)",
        )
    if draft.value("preempt_delay"):
        where = draft.origin("preempt_delay")
        if nopreempt:
            report.at(where, "has no effect with nopreempt, which never preempts")
        elif state == "MASTER":
            report.at(
                where,
                "preempt_delay needs 'state = BACKUP': an instance that starts as MASTER does "
                "not wait (keepalived clears preempt_delay then)",
            )
    return nopreempt


def _auth(draft: InstanceDraft, version: int, report: _Report) -> bytes | None:
    """keepalived's ``authentication { auth_type PASS; auth_pass ... }``: VRRPv2 only."""
    auth_type = draft.value("auth_type")
    auth_pass = cast("bytes | None", draft.value("auth_pass"))
    if auth_type is None and auth_pass is None:
        return None
    if version == 3:
        report.at(
            draft.origin("auth_type" if auth_type is not None else "auth_pass"),
            "VRRP version 3 has no authentication (RFC 5798): remove auth_type and auth_pass, "
            "or run 'version = 2'",
        )
        return None
    if auth_type is None:
        if "auth_type" not in draft.written:  # (a wrong one is reported already)
            report.at(draft.origin("auth_pass"), "auth_pass is not used without 'auth_type = PASS'")
        return None
    if auth_pass is None and "auth_pass" not in draft.written:
        report.at(
            draft.origin("auth_type"),
            "auth_type PASS needs 'auth_pass = PASSWORD' (up to 8 characters)",
        )
    return auth_pass


def _check_families(draft: InstanceDraft, family: int, report: _Report) -> None:
    """The adverts carry one family: every virtual address, peer and source address in it."""
    first = draft.addresses[0]
    line = first.origin.line if first.origin is not None else draft.line
    for address in draft.addresses[1:]:
        if address.interface.version != family and address.origin is not None:
            report.at(
                address.origin,
                f"{address.address} is IPv{address.interface.version} but the first "
                f"virtual_ipaddress (line {line}) is IPv{family}: the adverts carry one family; "
                "put the other family in virtual_ipaddress_excluded",
            )
    for peer in draft.peers:
        if peer.address.version != family and peer.origin is not None:
            report.at(
                peer.origin,
                f"{peer.address} is IPv{peer.address.version}, but this instance's "
                f"virtual_ipaddress is IPv{family}",
            )
    for key in ("unicast_src_ip", "mcast_src_ip"):
        source = cast("IpAddress | None", draft.value(key))
        if source is not None and source.version != family:
            report.at(
                draft.origin(key),
                f"{source} is IPv{source.version}, but this instance's virtual_ipaddress is "
                f"IPv{family}",
            )


def _check_count(draft: InstanceDraft, family: int, version: int, report: _Report) -> None:
    """As many addresses as fit in one advert on a 1500-byte link (keepalived moves the rest
    to the excluded ones with a warning; here it is an error)."""
    header = 14 + 8 + (20 if family == 4 else 40) + (8 if version == 2 else 0)
    most = min(255, (1500 - header) // (4 if family == 4 else 16))
    if len(draft.addresses) > most:
        extra = draft.addresses[most]
        report.at(
            extra.origin or draft.origin(""),
            f"an advert carries at most {most} IPv{family} addresses: list the others in "
            "virtual_ipaddress_excluded",
        )


# --- checks across sections ----------------------------------------------------------------------

_TIER_SECTIONS = {"edge": "[edge]", "balancer": "[frontend] or [listen]"}


def resolve(
    instances: list[InstanceDraft],
    scripts: list[ScriptDraft],
    tiers: tuple[str, ...],
    problems: Problems,
) -> tuple[tuple[VrrpInstance, ...], tuple[VrrpScript, ...]]:
    """Check what needs the whole file: the tiers a ``check`` names exist, every tracked
    script has its ``[vrrp_script]``, no two instances share a VRID on one interface and
    family. ``tiers`` are the tiers the file describes."""
    names = [s.name for s in scripts]
    for script in scripts:
        check = script.values.get("check")
        if check is None:
            continue
        checked, origin = cast("tuple[tuple[str, ...], Origin]", check)
        for tier in checked:
            if tier not in tiers:
                problems.at(
                    origin,
                    f"check {tier}: this file has no {_TIER_SECTIONS[tier]} section to check",
                )
    used: dict[tuple[str, int, int], InstanceDraft] = {}
    for draft in instances:
        for track in draft.track_scripts:
            if track.name not in names and track.origin is not None:
                problems.at(
                    track.origin,
                    f"no [vrrp_script {track.name}] in this file" + suggest(track.name, names),
                )
        interface, vrid = draft.value("interface"), draft.value("virtual_router_id")
        if not isinstance(interface, str) or not isinstance(vrid, int) or draft.family is None:
            continue
        key = (interface, vrid, draft.family)
        first = used.setdefault(key, draft)
        if first is not draft:
            problems.at(
                draft.origin("virtual_router_id"),
                f"virtual_router_id {vrid} on {interface} (IPv{draft.family}) is already used by "
                f"[{first.header}] line {first.origin('virtual_router_id').line}",
            )
    return (
        tuple(d.instance for d in instances if d.instance is not None),
        tuple(s.script for s in scripts if s.script is not None),
    )


# --- values --------------------------------------------------------------------------------------


def _one(words: list[str], key: str) -> str:
    if len(words) != 1:
        if not words:
            raise Invalid(f"'{key}' needs a value")
        raise Invalid(f"'{key}' takes one value, not {join_words(words)!r}")
    return words[0]


def _seconds(text: str, key: str) -> Fraction:
    """keepalived's times: seconds, with decimals (``0.5``); stack's ``500ms`` works too."""
    if _DECIMAL.fullmatch(text):
        return Fraction(text)
    if _WITH_UNIT.fullmatch(text):
        return Fraction(round(parse_duration(text) * 1_000_000), 1_000_000)
    raise Invalid(f"{key} is a number of seconds such as 2 or 0.5, not {text!r}")


def _weight(words: list[str], *, reverse: bool) -> int:
    """``N`` of a ``weight N``: keepalived's -253..253. ``reverse`` says whether a following
    ``reverse`` is taken (track_interface) rather than not supported yet (scripts)."""
    if not words:
        raise Invalid("'weight' needs a number after it")
    weight = parse_int(words[0], "weight", -253, 253)
    rest = words[1:]
    if rest == ["reverse"] and not reverse:
        raise Invalid("'weight N reverse' is not supported yet for scripts")
    if rest and rest not in (["reverse"], ["noreverse"]):
        raise Invalid(f"unexpected {join_words(rest)!r} after the weight")
    return weight


def _ifname(text: str) -> str:
    if (
        not text
        or len(text.encode()) >= _IFNAMSIZ
        or text in (".", "..")
        or any(c in text for c in "/: \t")
    ):
        raise Invalid(
            f"{text!r} is not an interface name (Linux: at most 15 characters, no '/', ':' or "
            "spaces)"
        )
    return text


def _address(text: str) -> IpAddress:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        raise Invalid(f"{text!r} is not an IPv4 or IPv6 address") from None


def _auth_type(text: str) -> str:
    if text == "AH":
        raise Invalid(
            "auth_type AH is not supported: it is IPsec AH (IP protocol 51), and RFC 3768 "
            "removed authentication from VRRP; use PASS, or no authentication"
        )
    if text != "PASS":
        raise Invalid(f"auth_type is PASS, not {text!r}")
    return text


def _auth_pass(text: str) -> bytes:
    """The password's first 8 bytes, as keepalived sends it ("Only the first eight (8)
    characters are used"), so a longer password written on both sides still matches."""
    data = text.encode()
    if not data:
        raise Invalid("auth_pass is empty")
    return data[:_AUTH_LENGTH]


def _command(text: str, key: str) -> tuple[str, ...]:
    """A program and its arguments. A value that starts with a quote is read as keepalived
    reads it: the quoted string is the command line (``script "killall -0 apache2"``), and
    for notify scripts the words after it name the user."""
    words = split_words(text)
    argv = words
    if text.lstrip()[:1] in ("'", '"') and words:
        argv, extra = split_words(words[0]), words[1:]
        if extra and key == "script":
            raise Invalid(
                f"unexpected {join_words(extra)!r} after the quoted command: keepalived ignores "
                "it; a user is written 'user = NAME'"
            )
        if extra:
            raise Invalid(
                f"a user for {key} ({join_words(extra)}) is not supported yet: notify scripts "
                "run as the user stack runs as"
            )
    if not argv or not argv[0]:
        raise Invalid(f"'{key}' needs a command")
    return tuple(argv)


def _virtual_address(words: list[str], origin: Origin) -> VirtualAddress:
    """``ADDRESS[/LEN] [dev IFNAME] [label LABEL]``; /32 (/128) when no length is written."""
    try:
        interface = ipaddress.ip_interface(words[0])
    except ValueError:
        raise Invalid(
            f"{words[0]!r} is not an address such as 10.0.0.100/24 or fd00::100/64"
        ) from None
    options: dict[str, str] = {}
    rest = words[1:]
    while rest:
        option = rest[0]
        if option in VIP_NOT_YET:
            raise Invalid(f"virtual_ipaddress option '{option}' is not supported yet")
        if option not in ("dev", "label"):
            raise Invalid(
                f"unexpected {option!r} after the address (write 'ADDRESS[/LEN] [dev IFNAME] "
                "[label LABEL]', one address per line)"
            )
        if len(rest) < 2:
            raise Invalid(f"'{option}' needs a value after it")
        if option in options:
            raise Invalid(f"'{option}' is given twice")
        options[option] = rest[1]
        rest = rest[2:]
    dev = options.get("dev")
    label = options.get("label")
    if dev is not None:
        _ifname(dev)
    if label is not None:
        if interface.version == 6:
            raise Invalid("an IPv6 address has no label (labels are IPv4 aliases such as eth0:1)")
        if len(label.encode()) >= _IFNAMSIZ:
            raise Invalid(f"label {label!r} is longer than 15 characters")
    return VirtualAddress(interface, dev, label, origin)


def _unicast_peer(words: list[str], origin: Origin) -> UnicastPeer:
    """``ADDRESS [min_ttl N] [max_ttl N]``."""
    address = _address(words[0])
    ttl: dict[str, int] = {}
    rest = words[1:]
    while rest:
        option = rest[0]
        if option not in ("min_ttl", "max_ttl"):
            raise Invalid(
                f"unexpected {option!r} after the address (write 'ADDRESS [min_ttl N] "
                "[max_ttl N]', one peer per line)"
            )
        if len(rest) < 2:
            raise Invalid(f"'{option}' needs a number after it")
        if option in ttl:
            raise Invalid(f"'{option}' is given twice")
        ttl[option] = parse_int(rest[1], option, 0, 255)
        rest = rest[2:]
    low, high = ttl.get("min_ttl", 0), ttl.get("max_ttl", 255)
    if low > high:
        raise Invalid(
            f"min_ttl {low} is above max_ttl {high}: every advert from {address} would be discarded"
        )
    return UnicastPeer(address, low, high, origin)


def _track_script(words: list[str], origin: Origin) -> TrackScript:
    """``NAME [weight N]``: ``None`` weight is the script's own."""
    name, rest = words[0], words[1:]
    if rest and rest[0] != "weight":
        raise Invalid(
            f"unexpected {join_words(rest)!r} after {name!r}: a track_script line is "
            "'NAME [weight N]', one script per line"
        )
    weight = _weight(rest[1:], reverse=False) if rest else None
    return TrackScript(name, weight, origin)


def _track_interface(words: list[str], origin: Origin) -> TrackInterface:
    """``IFNAME [weight N [reverse]]``."""
    name, rest = _ifname(words[0]), words[1:]
    if rest and rest[0] != "weight":
        raise Invalid(
            f"unexpected {join_words(rest)!r} after {name!r}: a track_interface line is "
            "'IFNAME [weight N [reverse]]', one interface per line"
        )
    weight = _weight(rest[1:], reverse=True) if rest else 0
    return TrackInterface(name, weight, rest[2:] == ["reverse"], origin)
