"""Stick tables and stick rules, sans IO, with HAProxy 2.6 semantics.

No sockets and no reactor: every call takes the time as float seconds (``now``), so the glue
decides the clock and the tests drive it. Read against HAProxy 2.6.0's ``src/stick_table.c``
and ``src/stream.c`` (``process_sticking_rules``, ``sticking_rule_find_target``,
``process_store_rules``).

Tables (:class:`StickTable`)
    Keys are normalised per table type (:meth:`StickTable.key_for`): ``ip`` and ``ipv6`` keys
    are the packed network-order address (4 / 16 bytes, what the peers protocol sends),
    ``integer`` keys an ``int`` in ``[0, 2**32)``, ``string`` keys ``bytes`` cut to
    ``key_size - 1``. A string sample is cast as HAProxy casts it (``c_str2ip``,
    ``c_str2ipv6``, ``c_str2int``); the client address (``src``) is an address, not text
    (:meth:`StickTable.key_for_address`).

    ``expire`` counts from creation or the last refresh (a store, a stick match hit, a peer
    update); an entry is gone once ``now >= expires`` (``tick_is_expired``), lookups treat it as
    a miss and ``expire()`` drops it, as HAProxy's expiry task does on time. ``expire 0`` is no
    expiry, as in HAProxy. When the table is full a new entry first trashes the oldest
    ``size // 256 + 1`` entries (oldest = closest to expiry, that is least recently refreshed;
    ``stktable_trash_oldest``); with ``nopurge`` it is refused instead. Like HAProxy, which
    allocates before it looks the key up, a store into a full table does this even when the
    key is already there. (HAProxy's scan also gives up after ``2 * batch`` steps, counting
    the re-queuing of entries refreshed since their insertion, so it may trash fewer: 2.6.12
    trashed 2 rather than 3 from a full ``size 512`` table. That depends on millisecond
    timings and is not reproduced.)

Rules (:class:`StickRules`)
    ``stick match``/``on``/``store-request`` rules run in config order in one pass on the
    request (:meth:`StickRules.on_request`): the first usable match assigns the server (later
    hits are still refreshed), store-request keys are collected (only the first per table, at
    most 8 per stream). ``stick store-response`` rules run on the response head
    (:meth:`StickRules.on_response`), which then stores every collected key with the server
    that really answered (after any redispatch): ``server_id`` = its ``puid``, ``server_key``
    = its name. A stored entry is looked up by ``server_key`` first, then ``server_id``; a
    server that is not usable is ignored unless ``persist`` (``option persist`` or
    ``force-persist``).

Peers hooks
    Each of ``StickTable.listeners`` (one per peers section replicating the table) is called
    with ``(table, entry)`` after every local update (store or match refresh), which HAProxy
    pushes to its peers; :meth:`StickTable.apply_remote` applies a peer's update without
    calling them; :meth:`StickTable.entries` iterates entries
    for a full resync. ``key_size``, ``expire_ms`` and ``data_types`` are what a DEFINE message
    announces.

Key size of ``type string``: HAProxy stores at most ``key_size - 1`` bytes, ``key_size`` being
32 without ``len`` and ``N + 1`` with ``len N``; here ``key_size`` is ``config.key_len + 1``, so
the loader must give ``key_len = 31`` for a table without ``len`` to match HAProxy (and to
interoperate with its peers: the DEFINE key length must be equal on both sides).
"""

from __future__ import annotations

import heapq
import ipaddress
import socket
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from stack.balancer import samples
from stack.config import model
from stack.http.message import Request, Response

__all__ = [
    "MAX_STORES",
    "Key",
    "StickEntry",
    "StickListener",
    "StickRequest",
    "StickRules",
    "StickServer",
    "StickTable",
]

Key = bytes | int

MAX_STORES = 8  # struct stream: store[8]
DT_SERVER_ID = 0  # STKTABLE_DT_SERVER_ID
DT_SERVER_KEY = 19  # STKTABLE_DT_SERVER_KEY
_U32 = 0xFFFFFFFF
_INET6_ADDRSTRLEN = 46
_V4MAPPED = b"\0" * 10 + b"\xff\xff"  # rfc4291_pfx
_PTR_BASE = 0x55D0C0DE0000  # synthetic entry "pointers" for `show table`
_PTR_STEP = 0x80
_TYPE_KEY_SIZE = {
    model.StickTableType.IP: 4,
    model.StickTableType.IPV6: 16,
    model.StickTableType.INTEGER: 4,
}


@dataclass(eq=False, slots=True)
class StickEntry:
    """One table entry (HAProxy's ``stksess``) with the two data types stick rules use.

    ``key`` is the normalised key (see :meth:`StickTable.key_for`); ``server_id`` is the
    server's ``puid`` (0 until set); ``server_key`` its name, ``None`` when no peer or rule
    ever set it (``show table`` prints ``-``); ``expires`` is ``None`` in a table without
    ``expire``; ``touched`` is the time of the last store or refresh. ``ident`` numbers entries
    in creation order; ``ptr`` is the stable synthetic pointer ``show table`` prints.
    """

    key: Key
    server_id: int = 0
    server_key: str | None = None
    expires: float | None = None
    touched: float = 0.0
    ident: int = 0
    _qseq: int = field(default=0, repr=False)

    @property
    def ptr(self) -> str:
        return f"0x{_PTR_BASE + self.ident * _PTR_STEP:x}"

    def expired(self, now: float) -> bool:
        return self.expires is not None and now >= self.expires


StickListener = Callable[["StickTable", StickEntry], None]


class StickTable:
    """A stick table (``stick-table type T [len N] size N [expire T] [nopurge] [peers P]``).

    ``name`` is what ``show table`` prints (the backend's name for a backend's table).
    ``listeners`` are told of every local update (see the module docstring).
    ``server_data`` is whether the table carries ``server_id``/``server_key`` (HAProxy adds
    them to every table a stick rule uses; :class:`StickRules` sets it); it decides what
    ``show`` prints and ``data_types``.
    """

    def __init__(self, name: str, config: model.StickTable) -> None:
        self.name = name
        self.config = config
        self.type = config.type
        self.size = config.size
        self.nopurge = config.nopurge
        self.peers = config.peers
        # `expire 0` is no expiry in HAProxy (`if (t->expire)`)
        self.expire_s: float | None = config.expire or None
        if self.type is model.StickTableType.STRING:
            self.key_size = config.key_len + 1
        else:
            self.key_size = _TYPE_KEY_SIZE[self.type]
        self.listeners: list[StickListener] = []
        self.server_data = False
        self._entries: dict[Key, StickEntry] = {}
        self._queue: list[tuple[float, int, Key]] = []  # (order, qseq, key), lazily pruned
        self._qseq = 0
        self._ident = 0

    # --- description -----------------------------------------------------------------------

    @property
    def expire_ms(self) -> int:
        """The expiry in milliseconds, 0 for none (what a peers DEFINE announces)."""
        return 0 if self.expire_s is None else round(self.expire_s * 1000)

    @property
    def data_types(self) -> int:
        """The data-type bitfield (``server_id`` bit 0, ``server_key`` bit 19)."""
        return (1 << DT_SERVER_ID | 1 << DT_SERVER_KEY) if self.server_data else 0

    def enable_server_data(self) -> None:
        self.server_data = True

    def reconfigure(self, config: model.StickTable) -> None:
        """A reload with the same key type and size: the new size, expiry and purge rule
        apply, the entries stay (their expiry dates as they were set)."""
        self.config = config
        self.size = config.size
        self.nopurge = config.nopurge
        self.peers = config.peers
        self.expire_s = config.expire or None

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"<StickTable {self.name} {self.type.value} {len(self)}/{self.size}>"

    def entries(self) -> Iterator[StickEntry]:
        """Every entry (expired ones not yet dropped included), in no particular order."""
        return iter(list(self._entries.values()))

    # --- keys --------------------------------------------------------------------------------

    def key_for(self, raw: bytes | str) -> Key | None:
        """A string sample cast to this table's key, ``None`` when the cast fails.

        * ``ip``: dotted quad (``c_str2ip``: four decimal octets, leading text only, so
          ``"10.0.0.1x"`` is ``10.0.0.1``) -> 4 packed bytes;
        * ``ipv6``: ``inet_pton`` text (IPv4 dotted quads are refused) -> 16 packed bytes;
        * ``integer``: ``c_str2int``: empty -> ``None``; otherwise an optional sign and the
          leading digits (``"12ab"`` -> 12, ``"abc"`` -> 0), saturated to 64 bits, then the
          low 32 bits (``-1`` -> 4294967295);
        * ``string``: the bytes up to the first NUL, cut to ``key_size - 1``.
        """
        data = raw.encode("utf-8", "surrogateescape") if isinstance(raw, str) else raw
        t = self.type
        if t is model.StickTableType.STRING:
            nul = data.find(b"\0")
            if nul >= 0:
                data = data[:nul]
            return data[: self.key_size - 1]
        if t is model.StickTableType.INTEGER:
            value = samples.read_int64(data)
            return None if value is None else value & _U32
        if t is model.StickTableType.IP:
            return buf2ip(data)
        return buf2ip6(data)

    def key_for_address(self, addr: str) -> Key | None:
        """The client address (``src``) cast to this table's key: IPv4 -> ``ip`` as is,
        ``ipv6`` as ``::ffff:a.b.c.d``, ``integer`` as its 32-bit value, ``string`` as its
        text; IPv6 -> ``ipv6`` as is, ``ip`` only when v4-mapped, ``string`` as
        ``inet_ntop`` text, never ``integer``. ``None`` for anything else."""
        try:
            ip = ipaddress.ip_address(addr.split("%", 1)[0])
        except ValueError:
            return None
        t = self.type
        packed = ip.packed
        if ip.version == 4:
            if t is model.StickTableType.IP:
                return packed
            if t is model.StickTableType.IPV6:
                return _V4MAPPED + packed
            if t is model.StickTableType.INTEGER:
                return int.from_bytes(packed, "big")
            return self.key_for(socket.inet_ntop(socket.AF_INET, packed))
        if t is model.StickTableType.IPV6:
            return packed
        if t is model.StickTableType.IP:
            return packed[12:] if packed[:12] == _V4MAPPED else None
        if t is model.StickTableType.STRING:
            return self.key_for(socket.inet_ntop(socket.AF_INET6, packed))
        return None

    def native_key(self, key: Key) -> Key:
        """Check (and for strings cut) a key given in native form, e.g. decoded from a peers
        message: packed bytes of the right size, an ``int``, or string bytes."""
        t = self.type
        if t is model.StickTableType.INTEGER:
            if not isinstance(key, int):
                raise TypeError("integer table keys are int")
            return key & _U32
        if not isinstance(key, bytes):
            raise TypeError(f"{t.value} table keys are bytes")
        if t is model.StickTableType.STRING:
            nul = key.find(b"\0")
            return (key if nul < 0 else key[:nul])[: self.key_size - 1]
        if len(key) != self.key_size:
            raise ValueError(f"{t.value} keys are {self.key_size} bytes, got {len(key)}")
        return key

    def key_text(self, key: Key) -> str:
        """The key as ``show table`` prints it."""
        t = self.type
        if isinstance(key, int):
            return str(key & _U32)
        if t is model.StickTableType.IP:
            return socket.inet_ntop(socket.AF_INET, key)
        if t is model.StickTableType.IPV6:
            return socket.inet_ntop(socket.AF_INET6, key)
        return dump_text(key)

    # --- operations --------------------------------------------------------------------------

    def lookup(self, key: Key, now: float, touch: bool = True) -> StickEntry | None:
        """The live entry for ``key``. A hit is refreshed (new expiry, listeners told) unless
        ``touch`` is false; an expired entry is dropped and is a miss."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry.expires is not None and now >= entry.expires:
            self._drop(entry)
            return None
        if touch:
            self._touch(entry, now)
            for listener in self.listeners:
                listener(self, entry)
        return entry

    def store(
        self, key: Key, server_id: int, server_key: str | None, now: float
    ) -> StickEntry | None:
        """Store or update ``key`` -> server and refresh it (``process_store_rules``). ``None``
        when the table is full and cannot make room (``nopurge``)."""
        entry = self._entry_for(key, now)
        if entry is None:
            return None
        entry.server_id = server_id
        entry.server_key = server_key
        self._touch(entry, now)
        for listener in self.listeners:
            listener(self, entry)
        return entry

    def apply_remote(
        self,
        key: Key,
        server_id: int | None,
        server_key: str | None,
        now: float,
        expire: float | None = None,
    ) -> StickEntry | None:
        """Apply a peer's update (``peer_treat_updatemsg``): create or overwrite the entry;
        ``None`` data were not sent and are left as they are. The expiry is the table's, or
        ``expire`` seconds for a timed update (not capped in 2.6). The listeners are not
        called. ``None`` when the table is full and cannot make room."""
        entry = self._entry_for(self.native_key(key), now)
        if entry is None:
            return None
        if server_id is not None:
            entry.server_id = server_id
        if server_key is not None:
            entry.server_key = server_key
        self._touch(entry, now, expire)
        return entry

    def set_server_id(self, key: Key, server_id: int | None, now: float) -> StickEntry | None:
        """``set table <t> key <k> [data.server_id <v>]``: create the entry if needed, set
        ``server_id`` when given (``server_key`` is left as it is), refresh it and tell the
        listeners (``stktable_touch_local``). ``None`` when the table is full and cannot make
        room."""
        entry = self._entry_for(key, now)
        if entry is None:
            return None
        if server_id is not None:
            value = server_id & _U32  # a C int: the low 32 bits, signed
            entry.server_id = value - (1 << 32) if value >= 1 << 31 else value
        self._touch(entry, now)
        for listener in self.listeners:
            listener(self, entry)
        return entry

    def remove(self, key: Key) -> bool:
        """Drop ``key`` (``clear table <t> key <k>``); whether it was there."""
        entry = self._entries.get(key)
        if entry is None:
            return False
        self._drop(entry)
        return True

    def clear(self) -> int:
        """Drop every entry (``clear table <t>``); how many there were."""
        count = len(self._entries)
        self._entries.clear()
        self._queue.clear()
        return count

    def expire(self, now: float) -> int:
        """Drop the entries whose expiry has come (``now >= expires``); how many."""
        if self.expire_s is None:
            return 0
        queue = self._queue
        entries = self._entries
        dropped = 0
        while queue and queue[0][0] <= now:
            _, qseq, key = heapq.heappop(queue)
            entry = entries.get(key)
            if entry is None or entry._qseq != qseq:
                continue  # stale queue node: the entry was refreshed or dropped
            if entry.expires is not None and now >= entry.expires:
                del entries[key]
                dropped += 1
        self._compact()
        return dropped

    def next_expiry(self) -> float | None:
        """When :meth:`expire` next has something to do (a hint for the glue's timer)."""
        queue = self._queue
        while queue:
            _, qseq, key = queue[0]
            entry = self._entries.get(key)
            if entry is not None and entry._qseq == qseq:
                return entry.expires
            heapq.heappop(queue)
        return None

    def show(self, now: float) -> list[str]:
        """``show table <name>``: the header line then one line per entry, in HAProxy's tree
        order (keys as bytes in memory: strings lexically, addresses numerically, integers by
        their little-endian bytes as on x86)."""
        self.expire(now)
        lines = [self.show_header()]
        t = self.type
        if t is model.StickTableType.INTEGER:

            def order(e: StickEntry) -> bytes:
                assert isinstance(e.key, int)
                return e.key.to_bytes(4, "little")

        else:

            def order(e: StickEntry) -> bytes:
                assert isinstance(e.key, bytes)
                return e.key

        for entry in sorted(self._entries.values(), key=order):
            lines.append(self.show_entry(entry, now))
        return lines

    def show_header(self) -> str:
        """``# table: NAME, type: TYPE, size:SIZE, used:USED``."""
        return (
            f"# table: {self.name}, type: {self.type.value}, size:{self.size}, "
            f"used:{len(self._entries)}"
        )

    def show_entry(self, entry: StickEntry, now: float) -> str:
        """``PTR: key=K use=0 exp=MS[ server_id=N server_key=NAME]``."""
        exp = 0
        if entry.expires is not None and now < entry.expires:
            exp = round((entry.expires - now) * 1000)
        line = f"{entry.ptr}: key={self.key_text(entry.key)} use=0 exp={exp}"
        if self.server_data:
            line += f" server_id={entry.server_id} server_key={entry.server_key or '-'}"
        return line

    # --- internals ---------------------------------------------------------------------------

    def _entry_for(self, key: Key, now: float) -> StickEntry | None:
        """``stksess_new`` then ``stktable_set_entry``: make room first, then reuse the live
        entry for ``key`` or insert a new one."""
        if len(self._entries) >= self.size:
            # HAProxy's expiry task would already have dropped these
            if self._queue and self._queue[0][0] <= now:
                self.expire(now)
            if len(self._entries) >= self.size:
                if self.nopurge or not self._trash_oldest((self.size >> 8) + 1):
                    return None
        entry = self._entries.get(key)
        if entry is not None and entry.expires is not None and now >= entry.expires:
            self._drop(entry)
            entry = None
        if entry is None:
            self._ident += 1
            entry = StickEntry(key, ident=self._ident, touched=now)
            self._entries[key] = entry
        return entry

    def _touch(self, entry: StickEntry, now: float, expire: float | None = None) -> None:
        entry.touched = now
        if self.expire_s is not None:
            entry.expires = now + (self.expire_s if expire is None else expire)
        self._qseq += 1
        entry._qseq = self._qseq
        order = entry.expires if entry.expires is not None else now
        heapq.heappush(self._queue, (order, self._qseq, entry.key))
        if len(self._queue) > 2 * len(self._entries) + 64:
            self._compact(force=True)

    def _drop(self, entry: StickEntry) -> None:
        if self._entries.get(entry.key) is entry:
            del self._entries[entry.key]

    def _trash_oldest(self, batch: int) -> int:
        """Drop up to ``batch`` entries closest to expiry (least recently refreshed)."""
        queue = self._queue
        entries = self._entries
        trashed = 0
        while trashed < batch and queue:
            _, qseq, key = heapq.heappop(queue)
            entry = entries.get(key)
            if entry is None or entry._qseq != qseq:
                continue
            del entries[key]
            trashed += 1
        return trashed

    def _compact(self, force: bool = False) -> None:
        """Rebuild the queue without stale nodes when they dominate it."""
        queue = self._queue
        if not force and len(queue) <= 2 * len(self._entries) + 64:
            return
        live = self._entries
        self._queue = [n for n in queue if (e := live.get(n[2])) is not None and e._qseq == n[1]]
        heapq.heapify(self._queue)


# --- sample casts (src/sample.c, src/tools.c) ----------------------------------------------------


def buf2ip(data: bytes) -> bytes | None:
    """``buf2ip``: four dot-separated decimal octets (each <= 255) at the start of ``data``;
    parsing stops at the first byte that is neither a digit nor a dot."""
    octets: list[int] = []
    cur = 0
    saw_digit = False
    for ch in data:
        if 48 <= ch <= 57:
            cur = cur * 10 + ch - 48
            if cur > 255:
                return None
            if not saw_digit:
                if len(octets) == 4:
                    return None
                saw_digit = True
        elif ch == 46:  # '.'
            if not saw_digit or len(octets) == 3:
                return None
            octets.append(cur)
            cur = 0
            saw_digit = False
        else:
            break
    if saw_digit:
        octets.append(cur)
    if len(octets) < 4:
        return None
    return bytes(octets)


def buf2ip6(data: bytes) -> bytes | None:
    """``buf2ip6``: ``inet_pton(AF_INET6)`` of the (at most 46-byte) text."""
    if len(data) > _INET6_ADDRSTRLEN:
        return None
    nul = data.find(b"\0")
    if nul >= 0:
        data = data[:nul]
    try:
        return socket.inet_pton(socket.AF_INET6, data.decode("ascii"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None


def dump_text(key: bytes) -> str:
    """``dump_text``: printable ASCII as is; ``\\``, space, ``=``, tab, LF, CR, ESC
    backslash-escaped; other bytes ``\\xHH``; stops at NUL."""
    out: list[str] = []
    for c in key:
        if c == 0:
            break
        if 0x20 < c < 0x7F and c != 0x5C and c != 0x3D:
            out.append(chr(c))
        elif c in _ESCAPES:
            out.append(_ESCAPES[c])
        else:
            out.append(f"\\x{c:02X}")
    return "".join(out)


_ESCAPES = {
    0x20: "\\ ",
    0x09: "\\t",
    0x0A: "\\n",
    0x0D: "\\r",
    0x1B: "\\e",
    0x5C: "\\\\",
    0x3D: "\\=",
}


# --- rules -----------------------------------------------------------------------------------


class StickServer(Protocol):
    """What the rules need of a server. ``usable()`` is HAProxy's ``cur_state !=
    SRV_ST_STOPPED``: true when UP, starting, stopping or draining; false when DOWN or in
    maintenance."""

    @property
    def name(self) -> str: ...

    @property
    def puid(self) -> int: ...

    def usable(self) -> bool: ...


@dataclass(slots=True)
class StickRequest:
    """What the request-side rules decided: the server a stick match assigned (``None`` when
    none did) and the store-request keys to store once the server's response head arrives."""

    server: StickServer | None = None
    stores: list[tuple[StickTable, Key]] = field(default_factory=list)


_ReqKey = Callable[[Request, str], Key | None]
_ResKey = Callable[[Response, str | None], Key | None]


@dataclass(frozen=True, slots=True)
class _ReqRule:
    match: bool
    store: bool
    table: StickTable
    condition: model.Condition | None
    key: _ReqKey


@dataclass(frozen=True, slots=True)
class _ResRule:
    table: StickTable
    condition: model.Condition | None
    key: _ResKey


def _request_key(sample: model.Sample, table: StickTable) -> _ReqKey:
    if samples.canonical_fetch(sample.fetch) == "src":

        def src_key(request: Request, src: str) -> Key | None:
            return table.key_for_address(src)

        return src_key
    fetch = samples.compile_request(sample)

    def sample_key(request: Request, src: str) -> Key | None:
        raw = fetch(request, src)
        return None if raw is None else table.key_for(raw)

    return sample_key


def _response_key(sample: model.Sample, table: StickTable) -> _ResKey:
    if samples.canonical_fetch(sample.fetch) == "src":

        def src_key(response: Response, src: str | None) -> Key | None:
            return None if src is None else table.key_for_address(src)

        return src_key
    fetch = samples.compile_response(sample)

    def sample_key(response: Response, src: str | None) -> Key | None:
        raw = fetch(response)
        return None if raw is None else table.key_for(raw)

    return sample_key


class StickRules:
    """A backend's compiled stick rules (in config order) over its tables.

    ``tables`` maps table names (backend names) to tables; a rule without ``table`` uses
    ``own_table``. ``servers`` are the backend's servers; ``condition(cond, ctx)`` evaluates an
    ``if``/``unless`` condition (``unless`` included) and ``ctx`` is passed through to it.
    """

    def __init__(
        self,
        rules: Sequence[model.StickRule],
        tables: Mapping[str, StickTable],
        own_table: str | None,
        servers: Sequence[StickServer],
        condition: Callable[[model.Condition, Any], bool],
    ) -> None:
        self._condition = condition
        self._req: list[_ReqRule] = []
        self._res: list[_ResRule] = []
        self.tables: list[StickTable] = []
        for rule in rules:
            name = rule.table if rule.table is not None else own_table
            table = tables.get(name) if name is not None else None
            if table is None:
                raise ValueError(f"{rule.origin}: unable to find stick-table {name!r}")
            table.enable_server_data()  # stktable_alloc_data_type(server_id, server_key)
            if table not in self.tables:
                self.tables.append(table)
            if rule.kind == "store-response":
                self._res.append(_ResRule(table, rule.condition, _response_key(rule.sample, table)))
            elif rule.kind in ("on", "match", "store-request"):
                self._req.append(
                    _ReqRule(
                        rule.kind in ("on", "match"),
                        rule.kind in ("on", "store-request"),
                        table,
                        rule.condition,
                        _request_key(rule.sample, table),
                    )
                )
            else:
                raise ValueError(f"{rule.origin}: unknown stick rule {rule.kind!r}")
        self._by_name: dict[str, StickServer] = {}
        self._by_id: dict[int, StickServer] = {}
        self.set_servers(servers)

    def set_servers(self, servers: Iterable[StickServer]) -> None:
        """Replace the servers entries resolve to (by name, then by ``puid``)."""
        self._by_name = {s.name: s for s in servers}
        self._by_id = {s.puid: s for s in self._by_name.values()}

    @property
    def has_request_rules(self) -> bool:
        return bool(self._req)

    @property
    def has_store_rules(self) -> bool:
        """Whether responses need :meth:`on_response` (store-request or store-response)."""
        return bool(self._res) or any(r.store for r in self._req)

    def find_target(self, entry: StickEntry) -> StickServer | None:
        """``sticking_rule_find_target`` without the state check: the server named by
        ``server_key`` if this backend has it, else the one whose ``puid`` is ``server_id``."""
        if entry.server_key is not None:
            srv = self._by_name.get(entry.server_key)
            if srv is not None:
                return srv
        return self._by_id.get(entry.server_id)

    # --- the two phases, as HAProxy runs them -------------------------------------------------

    def on_request(
        self,
        ctx: Any,
        request: Request,
        src: str,
        now: float,
        persist: bool,
        assigned: bool = False,
    ) -> StickRequest:
        """``process_sticking_rules``: every match/on/store-request rule in order.

        A store rule for a table that already has a store pending is skipped whole (for
        ``stick on``, its match too); then the condition, then the key (no sample: skipped).
        A match hit refreshes the entry and, while no server is assigned (``assigned``: a
        persistence cookie or an earlier rule already chose), assigns its server if usable
        or ``persist``. Store rules queue their key (at most :data:`MAX_STORES`)."""
        out = StickRequest()
        stores = out.stores
        for rule in self._req:
            if rule.store and any(t is rule.table for t, _ in stores):
                continue
            if rule.condition is not None and not self._condition(rule.condition, ctx):
                continue
            key = rule.key(request, src)
            if key is None:
                continue
            if rule.match:
                entry = rule.table.lookup(key, now)
                if entry is not None and not assigned:
                    srv = self.find_target(entry)
                    if srv is not None and (persist or srv.usable()):
                        out.server = srv
                        assigned = True
            if rule.store and len(stores) < MAX_STORES:
                stores.append((rule.table, key))
        return out

    def on_response(
        self,
        ctx: Any,
        response: Response,
        server: StickServer,
        now: float,
        stores: Iterable[tuple[StickTable, Key]] = (),
        src: str | None = None,
    ) -> None:
        """``process_store_rules``: queue the store-response keys (the first per table among
        them; they may coexist with a store-request key for the same table; at most
        :data:`MAX_STORES` in all), then store every queued key -> ``server``, the server
        that produced this response. ``stores`` are :attr:`StickRequest.stores`; ``src`` is
        needed only by a ``store-response src`` rule."""
        queued = list(stores)
        nbreq = len(queued)
        for rule in self._res:
            if any(t is rule.table for t, _ in queued[nbreq:]):
                continue
            if rule.condition is not None and not self._condition(rule.condition, ctx):
                continue
            key = rule.key(response, src)
            if key is None:
                continue
            if len(queued) < MAX_STORES:
                queued.append((rule.table, key))
        puid, name = server.puid, server.name
        for table, key in queued:
            table.store(key, puid, name, now)
