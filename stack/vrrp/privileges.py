"""The two capabilities the VRRP tier keeps when twistd drops root (``--uid``/``--gid``).

twistd runs every ``privilegedStartService`` as root, then switches user (``switchUID``:
``setgid``, ``initgroups``, ``setuid``), then runs ``startService``. A plain ``setuid`` away from
root empties every capability set, yet the tier still needs two of them afterwards:

* CAP_NET_ADMIN, checked by the kernel on every netlink request that adds or removes an address,
  at the time of the request (the tier takes and gives up its addresses for as long as it runs);
* CAP_NET_RAW, checked only when a raw or packet socket is created: sockets opened while root keep
  working after the switch, but one opened later (a link that came back) needs it again.

So :func:`keep_capabilities` (while root) asks the kernel to keep the permitted set across the
user switch, taking nothing away yet (other tiers' privileged starts still bind port 80);
:func:`restore_capabilities` (after the switch) makes the two effective again and drops the rest,
CAP_SETUID included, so the process can never become root again.
Capabilities belong to a thread, not a process: both calls, and every netlink request, must run on
the reactor thread, which is the one twistd starts services on.

Plain ``ctypes`` on libc (``prctl``, ``capget``, ``capset``): no extra dependency.
"""

from __future__ import annotations

import ctypes
import errno
import os
import sys
from collections.abc import Iterable

# linux/capability.h
CAPABILITIES = {
    "CAP_SETGID": 6,
    "CAP_SETUID": 7,
    "CAP_NET_ADMIN": 12,
    "CAP_NET_RAW": 13,
}
# What the tier needs once twistd has switched user.
NEEDED = ("CAP_NET_ADMIN", "CAP_NET_RAW")

_PR_SET_KEEPCAPS = 8
_LINUX_CAPABILITY_VERSION_3 = 0x20080522


class CapabilityError(OSError):
    """A raw socket or an address change refused for want of a capability (EPERM).

    The message says which capability, what needed it and how to grant it, because the kernel's
    own words ("Operation not permitted") name none of the three.
    """

    def __init__(self, capability: str, action: str, interface: str) -> None:
        self.capability = capability
        super().__init__(errno.EPERM, capability_message(capability, action, interface))

    def __str__(self) -> str:
        return str(self.strerror)


# The binary setcap must mark (a venv's python is a symlink), resolved while still root: after
# the user switch the path may run through directories the process can no longer read.
_PYTHON = os.path.realpath(sys.executable)


def capability_message(capability: str, action: str, interface: str) -> str:
    """``VRRP instance needs CAP_NET_RAW to open a raw socket on eth0 (run as root, ...)``."""
    return (
        f"VRRP instance needs {capability} to {action} on {interface} (run as root, or grant it: "
        f"setcap cap_net_admin,cap_net_raw+ep {_PYTHON})"
    )


def mask(names: Iterable[str]) -> int:
    """The capability bit mask of ``names`` (``CAP_NET_RAW`` -> ``1 << 13``)."""
    bits = 0
    for name in names:
        bits |= 1 << CAPABILITIES[name]
    return bits


def names(bits: int) -> list[str]:
    """The known capabilities set in ``bits``, in numeric order."""
    return [
        name for name, bit in sorted(CAPABILITIES.items(), key=lambda i: i[1]) if bits >> bit & 1
    ]


def parse_status(status: str, field: str = "CapEff") -> int:
    """A capability mask from ``/proc/*/status`` text (``CapEff:\\t0000000000003000``)."""
    for line in status.splitlines():
        key, _, value = line.partition(":")
        if key == field:
            return int(value.strip(), 16)
    raise ValueError(f"no {field} line in process status")


def effective() -> int:
    """This thread's effective capability mask, as the kernel reports it."""
    try:
        with open("/proc/thread-self/status") as f:
            return parse_status(f.read())
    except FileNotFoundError:  # kernels before 3.17
        with open("/proc/self/status") as f:
            return parse_status(f.read())


def missing_capabilities() -> list[str]:
    """Which of :data:`NEEDED` the calling thread lacks now (empty when all is well)."""
    have = effective()
    return [name for name in NEEDED if not have >> CAPABILITIES[name] & 1]


def keep_capabilities() -> None:
    """Before twistd's user switch, as root: keep the permitted capabilities across ``setuid``.

    Only the keep-capabilities flag is set: while the process is still root nothing is taken
    away (later privileged starts may still bind port 80), and when no ``--uid`` follows the
    flag has no effect. :func:`restore_capabilities` narrows the sets after the switch.
    """
    _prctl(_PR_SET_KEEPCAPS, 1)


def restore_capabilities() -> None:
    """After the user switch: CAP_NET_ADMIN and CAP_NET_RAW effective, everything else gone.

    ``setuid`` away from root cleared the effective set and kept the permitted one; this makes
    :data:`NEEDED` effective again, drops CAP_SETUID/CAP_SETGID from the permitted set (the
    process can never become root again) and turns the keep-capabilities flag back off.
    """
    _, permitted, _ = _capget()
    keep = permitted & mask(NEEDED)
    _capset(keep, keep, 0)
    _prctl(_PR_SET_KEEPCAPS, 0)


# --- libc ----------------------------------------------------------------------------------------


class _Header(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _Data(ctypes.Structure):
    _fields_ = [
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    ]


_libc: ctypes.CDLL | None = None


def _lib() -> ctypes.CDLL:
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    return _libc


def _check(result: int, call: str) -> None:
    if result != 0:
        code = ctypes.get_errno()
        raise OSError(code, f"{call}: {os.strerror(code)}")


def _capget() -> tuple[int, int, int]:
    """(effective, permitted, inheritable) of the calling thread: 64-bit masks."""
    header = _Header(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (_Data * 2)()
    _check(_lib().capget(ctypes.byref(header), data), "capget")
    return (
        data[0].effective | data[1].effective << 32,
        data[0].permitted | data[1].permitted << 32,
        data[0].inheritable | data[1].inheritable << 32,
    )


def _capset(effective_bits: int, permitted: int, inheritable: int) -> None:
    header = _Header(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (_Data * 2)()
    for i in range(2):
        shift = 32 * i
        data[i].effective = effective_bits >> shift & 0xFFFFFFFF
        data[i].permitted = permitted >> shift & 0xFFFFFFFF
        data[i].inheritable = inheritable >> shift & 0xFFFFFFFF
    _check(_lib().capset(ctypes.byref(header), data), "capset")


def _prctl(option: int, value: int) -> None:
    _check(
        _lib().prctl(option, ctypes.c_ulong(value), ctypes.c_ulong(0), ctypes.c_ulong(0), 0),
        "prctl",
    )
