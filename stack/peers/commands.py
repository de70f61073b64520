"""``show peers [dict|-] [<section>]``: HAProxy 2.6's dump of the peers sections.

The layout is ``peers_dump_head``/``peers_dump_peer`` of ``src/peers.c``, line for line, with
stack's figures where HAProxy prints internals it alone has: pointers are stable synthetic
addresses, ``task_calls`` counts the section's events, ``st0`` is HAProxy's state number for
the session's phase, update numbers are the low 32 bits of the journal numbers.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from stack.peers import codec
from stack.peers.service import PeersService
from stack.peers.session import PeersSync, PeerTable, RemotePeer, SharedTable
from stack.runtime.api import CommandError, RuntimeApi

__all__ = ["human_time", "register_peers_commands", "show_peers"]

_U32 = 0xFFFFFFFF
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_STATUS = {
    codec.STATUS_CONNECT: "CONN",
    codec.STATUS_CONNECTED: "HSHK",
    codec.STATUS_SUCCESS: "ESTA",
    codec.STATUS_TRY_AGAIN: "RETR",
    codec.STATUS_ERR_PROTO: "PROT",
    codec.STATUS_ERR_VERSION: "VERS",
    codec.STATUS_ERR_HOST: "NAME",
    codec.STATUS_ERR_PEER: "UNKN",
}
_PTR_BASE = 0x55D0B0000000
_IND = "        "


class _Ptr:
    """Stable synthetic pointers, one per object shown."""

    def __init__(self) -> None:
        self._ids: dict[int, int] = {}

    def __call__(self, obj: object, kind: int = 0) -> str:
        n = self._ids.setdefault(id(obj), len(self._ids) + 1)
        return f"0x{_PTR_BASE + kind * 0x100000 + n * 0x110:x}"


_ptr = _Ptr()


def human_time(seconds: float) -> str:
    """``human_time(t, 1000)``: at most two units among d, h, m, s (``0s`` for zero)."""
    t = int(seconds)
    if t < 0:
        return "?"
    out = ""
    cnt = 2
    if t >= 86400:
        out += f"{t // 86400}d"
        cnt -= 1
    if cnt and t % 86400 // 3600:
        out += f"{t % 86400 // 3600}h"
        cnt -= 1
    if cnt and t % 3600 // 60:
        out += f"{t % 3600 // 60}m"
        cnt -= 1
    if (cnt and t % 60) or not t:
        out += f"{t % 60}s"
    return out


def _remaining(at: float | None, now: float) -> str:
    if at is None:
        return "<NEVER>"
    if at <= now:
        return "<PAST>"
    return human_time(at - now)


def show_peers(
    services: Mapping[str, PeersService], words: list[str], now: float, wall: float | None = None
) -> str:
    """The answer to ``show peers`` followed by ``words``."""
    args = list(words)
    dump_dict = False
    if args and args[0] == "dict":
        dump_dict = True
        args.pop(0)
    elif args and args[0] == "-":
        args.pop(0)
    chosen = list(services.values())
    if args and args[0]:
        service = services.get(args[0])
        if service is None:
            raise CommandError("No such peers\n")
        chosen = [service]
    wall = time.time() if wall is None else wall
    parts = [_section(s, now, wall, dump_dict) for s in chosen]
    return "\n".join(parts)


def _section(service: PeersService, now: float, wall: float, dump_dict: bool) -> str:
    sync = service.sync
    changed = time.localtime(wall - (now - sync.last_change))
    head = (
        f"{_ptr(sync)}: [{changed.tm_mday:02d}/{_MONTHS[changed.tm_mon - 1]}/"
        f"{changed.tm_year:04d}:{changed.tm_hour:02d}:{changed.tm_min:02d}:"
        f"{changed.tm_sec:02d}] id={sync.name} disabled=0 flags=0x{sync.flags:x} "
        f"resync_timeout={_remaining(sync.resync_at, now) if not sync.synced else '<PAST>'} "
        f"task_calls={sync.calls}\n"
    )
    lines = [head]
    # HAProxy lists the peers in reverse configuration order (each new one is prepended)
    for peer in reversed(service.section.peers):
        if peer.name == sync.local:
            lines.append(_local(service, now, dump_dict))
        else:
            lines.append(_remote(sync, sync.peers[peer.name], now, dump_dict))
    return "".join(lines)


def _tables(sync: PeersSync, tables: list[PeerTable], dump_dict: bool, session: object) -> str:
    if not tables:
        return ""
    out = f"\n{_IND}shared tables:"
    for pt in tables:
        st = pt.shared
        out += (
            f"\n          {_ptr(pt, 2)} local_id={st.local_id} remote_id={pt.remote_id} "
            f"flags=0x0 remote_data=0x{pt.remote_data:x}"
            f"\n              last_acked={pt.last_acked} last_pushed={pt.last_pushed & _U32} "
            f"last_get={pt.last_get} teaching_origin={pt.teaching_origin & _U32} "
            f"update={pt.acked & _U32}"
            f"\n              {_table(sync, st)}"
        )
        out += (
            _dicts(session)
            if dump_dict
            else (f'\n{_IND}Dictionary cache not dumped (use "show peers dict")')
        )
    return out


def _table(sync: PeersSync, st: SharedTable) -> str:
    commit = max(
        (pt.last_pushed for p in sync.peers.values() for pt in p.tables if pt.shared is st),
        default=0,
    )
    return (
        f"table:{_ptr(st.table, 3)} id={st.table.name} update={st.seq & _U32} "
        f"localupdate={st.local_seq & _U32} commitupdate={commit & _U32} refcnt=1"
    )


def _dicts(session: object) -> str:
    tx = getattr(session, "tx", None)
    rx = getattr(session, "rx", None)
    out = f"\n{_IND}TX dictionary cache:"
    count = 0
    for i, value in enumerate(tx.slots if tx is not None else ()):
        if value is None:
            break
        if not count:
            out += f"\n{_IND}"
        count = (count + 1) & 3
        out += f"  {i:3d} -> {value}"
    out += f"\n{_IND}RX dictionary cache:"
    slots = rx.slots if rx is not None else [None] * codec.DICT_SIZE
    count = 0
    for i, value in enumerate(slots):
        if not count:
            out += f"\n{_IND}"
        count = (count + 1) & 3
        out += f"  {i:3d} -> {value if value is not None else '-'}"
    return out


def _local(service: PeersService, now: float, dump_dict: bool) -> str:
    sync = service.sync
    local = service.section.local_peer
    tables = [PeerTable(st) for st in sync.tables]
    return (
        f"  {_ptr(local, 1)}: id={local.name}(local,inactive) addr={local.address} "
        f"last_status=NONE last_hdshk=<NEVER>\n"
        f"{_IND}reconnect=<NEVER> heartbeat=<NEVER> confirm=0 tx_hbt=0 rx_hbt=0 no_hbt=0 "
        f"new_conn=0 proto_err=0 coll=0\n"
        f"{_IND}flags=0x0" + _tables(sync, tables, dump_dict, None) + "\n"
    )


def _remote(sync: PeersSync, peer: RemotePeer, now: float, dump_dict: bool) -> str:
    session = peer.session
    active = session is not None or peer.connecting
    hdshk = "<NEVER>" if peer.last_hdshk is None else human_time(now - peer.last_hdshk)
    heartbeat = session.heartbeat_at if session is not None and session.established else None
    out = (
        f"  {_ptr(peer, 1)}: id={peer.name}(remote,{'active' if active else 'inactive'}) "
        f"addr={peer.address} last_status={_STATUS.get(peer.statuscode, 'NONE')} "
        f"last_hdshk={hdshk}\n"
        f"{_IND}reconnect={_remaining(peer.reconnect_at, now)} "
        f"heartbeat={_remaining(heartbeat, now)} confirm={peer.confirm} "
        f"tx_hbt={peer.tx_hbt} rx_hbt={peer.rx_hbt} no_hbt={peer.no_hbt} "
        f"new_conn={peer.new_conn} proto_err={peer.proto_err} coll={peer.coll}\n"
        f"{_IND}flags=0x{peer.flags:x}"
    )
    if session is not None:
        st0 = 7 if session.established else 6  # PEER_SESS_ST_WAITMSG / GETSTATUS
        out += f" appctx:{_ptr(session, 4)} st0={st0} st1=0 task_calls={session.calls} state=EST"
        if not session.outgoing:
            src, addr = session.info.get("addr", "-"), session.info.get("src", "-")
            out += f"\n{_IND}xprt=RAW src={src} addr={addr}"
    elif peer.connecting:
        out += f" appctx:{_ptr(peer, 5)} st0=6 st1=0 task_calls=1 state=CON"
    if session is not None and session.remote_table is not None:
        pt = session.remote_table
        out += (
            f"\n{_IND}remote_table:{_ptr(pt, 2)} id={pt.shared.table.name} "
            f"local_id={pt.shared.local_id} remote_id={pt.remote_id}"
        )
    if session is not None and session.last_local_table is not None:
        pt = session.last_local_table
        out += (
            f"\n{_IND}last_local_table:{_ptr(pt, 2)} id={pt.shared.table.name} "
            f"local_id={pt.shared.local_id} remote_id={pt.remote_id}"
        )
    return out + _tables(sync, peer.tables, dump_dict, session) + "\n"


def register_peers_commands(
    runtime: RuntimeApi, services: Mapping[str, PeersService], reactor: Any
) -> None:
    """``show peers`` on the runtime API (level user, as in HAProxy; empty without any
    ``[peers]`` section)."""

    def handler(words: list[str]) -> str:
        return show_peers(services, words, reactor.seconds())

    runtime.register(
        ("show", "peers"),
        handler,
        level="user",
        help="dump some information about all the peers or this peers section",
        args="[dict|-] [section]",
    )
