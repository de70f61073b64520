"""HAProxy's peers protocol 2.1 on the wire, sans IO: varints, messages, framing, hello lines.

Read against HAProxy 2.6's ``src/peers.c`` (the code, not ``doc/peers.txt``, is the truth:
ACK is type 0x84 and the TIMED update types 0x85/0x86 exist; see
``/work/shared/reference/haproxy.md`` §2).

* :func:`encode_varint` / :func:`decode_varint`: HAProxy's ``intencode``/``intdecode``
  (not LEB128): below 240 one byte; else ``v | 0xF0`` then 7-bit groups of ``(v - 240) >> 4``.
* :class:`FrameParser`: bytes in, :class:`Frame` out, keeping partial input; a body longer
  than the limit is :class:`TooBig` (the session answers ``ERR_SIZE``), a bad length is
  :class:`Malformed` (``ERR_PROTO``).
* :func:`decode_message` turns a frame into a message object; stick-table messages keep
  unknown trailing bytes unread, as later protocol versions may append fields.
* :func:`decode_entry` / :func:`encode_entry`: an update's key and data, which only make sense
  against the sending table's DEFINE (:class:`TableLayout`), with the per-session dictionary
  caches for ``server_key`` (:class:`TxDict`, :class:`RxDict`).
* The hello (three lines) and status (one line) of the handshake.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

__all__ = [
    "DATA_TYPES",
    "DT_SERVER_ID",
    "DT_SERVER_KEY",
    "ERR_PROTO",
    "ERR_SIZE",
    "MAX_MESSAGE",
    "Ack",
    "Control",
    "Ctrl",
    "DataParam",
    "Define",
    "EntryData",
    "Error",
    "Frame",
    "FrameParser",
    "Hello",
    "KeyType",
    "Malformed",
    "Message",
    "RxDict",
    "Switch",
    "TableLayout",
    "TooBig",
    "Truncated",
    "TxDict",
    "Update",
    "decode_entry",
    "decode_message",
    "decode_varint",
    "encode_entry",
    "encode_message",
    "encode_varint",
    "parse_hello_line",
]

# --- varints --------------------------------------------------------------------------------------

_U64 = (1 << 64) - 1
_U32 = 0xFFFFFFFF
MAX_VARINT = 10  # bytes for a 64-bit value
MAX_LENGTH_VARINT = 5  # PEER_MSG_ENC_LENGTH_MAXLEN: a message length takes at most 5 bytes


class Malformed(ValueError):
    """The peer sent something the protocol does not allow (answered with ``ERR_PROTO``)."""


class Truncated(Malformed):
    """A field runs past the end of its message (or of the bytes received so far)."""


class TooBig(Malformed):
    """A message is longer than the receive buffer (answered with ``ERR_SIZE``)."""


def encode_varint(value: int) -> bytes:
    """``intencode``: the unsigned 64-bit ``value`` in HAProxy's variable-length encoding."""
    if not 0 <= value <= _U64:
        raise ValueError(f"varint out of range: {value}")
    if value < 0xF0:
        return bytes((value,))
    out = bytearray(((value | 0xF0) & 0xFF,))
    value = (value - 0xF0) >> 4
    while value >= 0x80:
        out.append((value | 0x80) & 0xFF)
        value = (value - 0x80) >> 7
    out.append(value)
    return bytes(out)


def decode_varint(
    buf: bytes | bytearray | memoryview, pos: int = 0, end: int | None = None
) -> tuple[int, int]:
    """``intdecode``: the value at ``buf[pos:]`` and the position after it.

    :class:`Truncated` when it runs past ``end``; :class:`Malformed` when it is longer than 10
    bytes or exceeds 64 bits (HAProxy would silently wrap)."""
    if end is None:
        end = len(buf)
    if pos >= end:
        raise Truncated("varint: no byte")
    value = buf[pos]
    pos += 1
    if value < 0xF0:
        return value, pos
    shift = 4
    for _ in range(MAX_VARINT - 1):
        if pos >= end:
            raise Truncated("varint: cut")
        byte = buf[pos]
        pos += 1
        value += byte << shift
        shift += 7
        if byte < 0x80:
            if value > _U64:
                raise Malformed("varint: above 64 bits")
            return value, pos
    raise Malformed("varint: longer than 10 bytes")


# --- message catalogue ----------------------------------------------------------------------------


class Class(IntEnum):
    CONTROL = 0
    ERROR = 1
    STICKTABLE = 10
    RESERVED = 255


class Ctrl(IntEnum):
    RESYNC_REQ = 0
    RESYNC_FINISHED = 1
    RESYNC_PARTIAL = 2
    RESYNC_CONFIRM = 3
    HEARTBEAT = 4


ERR_PROTO = 0
ERR_SIZE = 1

UPDATE = 0x80
INCUPDATE = 0x81
DEFINE = 0x82
SWITCH = 0x83
ACK = 0x84
UPDATE_TIMED = 0x85
INCUPDATE_TIMED = 0x86
_UPDATE_TYPES = (UPDATE, INCUPDATE, UPDATE_TIMED, INCUPDATE_TIMED)

MAX_MESSAGE = 16384  # HAProxy's trash chunk = tune.bufsize


class KeyType(IntEnum):
    """Network key types (``PEER_KT_*``)."""

    SINT = 2  # 32-bit on the wire, big-endian
    IPV4 = 4
    IPV6 = 5
    STR = 6
    BIN = 7


# STKTABLE_DT_* of HAProxy 2.6 (+ glitch_* of 3.x): (name, std type, is array)
_SINT, _UINT, _ULL, _FRQP, _DICT = "sint", "uint", "ull", "frqp", "dict"
DATA_TYPES: tuple[tuple[str, str, bool], ...] = (
    ("server_id", _SINT, False),
    ("gpt0", _UINT, False),
    ("gpc0", _UINT, False),
    ("gpc0_rate", _FRQP, False),
    ("conn_cnt", _UINT, False),
    ("conn_rate", _FRQP, False),
    ("conn_cur", _UINT, False),
    ("sess_cnt", _UINT, False),
    ("sess_rate", _FRQP, False),
    ("http_req_cnt", _UINT, False),
    ("http_req_rate", _FRQP, False),
    ("http_err_cnt", _UINT, False),
    ("http_err_rate", _FRQP, False),
    ("bytes_in_cnt", _ULL, False),
    ("bytes_in_rate", _FRQP, False),
    ("bytes_out_cnt", _ULL, False),
    ("bytes_out_rate", _FRQP, False),
    ("gpc1", _UINT, False),
    ("gpc1_rate", _FRQP, False),
    ("server_key", _DICT, False),
    ("http_fail_cnt", _UINT, False),
    ("http_fail_rate", _FRQP, False),
    ("gpt", _UINT, True),
    ("gpc", _UINT, True),
    ("gpc_rate", _FRQP, True),
    ("glitch_cnt", _UINT, False),
    ("glitch_rate", _FRQP, False),
)
DT_SERVER_ID = 0
DT_SERVER_KEY = 19


def _needs_param(data_type: int) -> bool:
    """Whether a DEFINE carries parameters for this type (arrays and frequency counters)."""
    _, std, array = DATA_TYPES[data_type]
    return array or std == _FRQP


@dataclass(frozen=True, slots=True)
class Control:
    """A class-0 message (resync request/finished/partial/confirm, heartbeat)."""

    type: int


@dataclass(frozen=True, slots=True)
class Error:
    """A class-1 message: ``ERR_PROTO`` or ``ERR_SIZE``; the sender closes after it."""

    type: int


@dataclass(frozen=True, slots=True)
class DataParam:
    """DEFINE parameters of one data type: ``nbelem`` for arrays, ``period`` (ms) for
    frequency counters."""

    data_type: int
    nbelem: int | None = None
    period: int | None = None


@dataclass(frozen=True, slots=True)
class Define:
    """``DEFINE``: the sender's table id, name, key type and size, data types, expiry (ms) and
    per-type parameters. ``params`` is ``None`` when the parameters did not match the data
    types (HAProxy then ignores the table) and ``expire_ms`` is ``None`` when absent (an old
    sender)."""

    table_id: int
    name: bytes
    key_type: int
    key_len: int
    data_types: int
    expire_ms: int | None = None
    params: tuple[DataParam, ...] | None = ()

    def layout(self) -> TableLayout:
        nbelem = {p.data_type: p.nbelem for p in self.params or () if p.nbelem is not None}
        return TableLayout(self.key_type, self.key_len, self.data_types, nbelem)


@dataclass(frozen=True, slots=True)
class Switch:
    """``SWITCH``: later updates are for the sender's table ``table_id``."""

    table_id: int


@dataclass(frozen=True, slots=True)
class Ack:
    """``ACK``: the receiver got every update up to ``update_id`` of the table the *ack's
    receiver* announced as ``table_id``."""

    table_id: int
    update_id: int


@dataclass(frozen=True, slots=True)
class Update:
    """One of the four update messages. ``update_id`` is ``None`` for the INC variants (the
    previous id + 1); ``expire_ms`` is set for the TIMED variants. ``data`` is the key and the
    values, decoded against the table with :func:`decode_entry`."""

    update_id: int | None
    expire_ms: int | None
    data: bytes

    @property
    def type(self) -> int:
        if self.expire_ms is None:
            return UPDATE if self.update_id is not None else INCUPDATE
        return UPDATE_TIMED if self.update_id is not None else INCUPDATE_TIMED


@dataclass(frozen=True, slots=True)
class Unknown:
    """A message of a class or type this implementation does not know (ignored)."""

    cls: int
    type: int
    body: bytes = b""


Message = Control | Error | Define | Switch | Ack | Update | Unknown


@dataclass(frozen=True, slots=True)
class Frame:
    """A message as framed: class, type and (for types with bit 7) the body."""

    cls: int
    type: int
    body: bytes = b""


class FrameParser:
    """Incremental framing: :meth:`feed` bytes, get every complete :class:`Frame`; a partial
    message stays buffered until the rest arrives.

    Raises :class:`TooBig` for a body above ``max_size`` and :class:`Malformed` for a length
    that does not fit in 5 bytes (``peer_recv_msg``); the frames before the bad one are in
    ``exc.frames``."""

    def __init__(self, max_size: int = MAX_MESSAGE) -> None:
        self.max_size = max_size
        self._buf = bytearray()

    def __len__(self) -> int:
        return len(self._buf)

    def feed(self, data: bytes) -> list[Frame]:
        buf = self._buf
        buf += data
        frames: list[Frame] = []
        pos = 0
        try:
            while True:
                frame, used = self._one(buf, pos)
                if frame is None:
                    break
                frames.append(frame)
                pos = used
        except Malformed as exc:
            del buf[:pos]
            exc.frames = frames  # type: ignore[attr-defined]
            raise
        del buf[:pos]
        return frames

    def _one(self, buf: bytearray, pos: int) -> tuple[Frame | None, int]:
        end = len(buf)
        if end - pos < 2:
            return None, pos
        cls, typ = buf[pos], buf[pos + 1]
        if not typ & 0x80:
            return Frame(cls, typ), pos + 2
        cur = pos + 2
        limit = min(end, cur + MAX_LENGTH_VARINT)
        try:
            length, cur = decode_varint(buf, cur, limit)
        except Truncated:
            if limit - (pos + 2) < MAX_LENGTH_VARINT:
                return None, pos  # wait for more
            raise Malformed("message length: too large encoding") from None
        if length > self.max_size:
            raise TooBig(f"message of {length} bytes")
        if end - cur < length:
            return None, pos
        return Frame(cls, typ, bytes(buf[cur : cur + length])), cur + length


def _u32(body: bytes, pos: int) -> tuple[int, int]:
    if pos + 4 > len(body):
        raise Truncated("u32: cut")
    return struct.unpack_from("!I", body, pos)[0], pos + 4


def decode_message(frame: Frame) -> Message:
    """The message a frame carries. :class:`Malformed` where HAProxy answers ``ERR_PROTO``
    (including the reserved class 255); unknown classes and types are :class:`Unknown`."""
    cls, typ, body = frame.cls, frame.type, frame.body
    if cls == Class.CONTROL and typ in Ctrl._value2member_map_:
        return Control(typ)
    if cls == Class.ERROR and typ in (ERR_PROTO, ERR_SIZE):
        return Error(typ)
    if cls == Class.RESERVED:
        raise Malformed("reserved message class 255")
    if cls != Class.STICKTABLE:
        return Unknown(cls, typ, body)
    if typ in _UPDATE_TYPES:
        pos = 0
        update_id = expire = None
        if typ in (UPDATE, UPDATE_TIMED):
            update_id, pos = _u32(body, pos)
        if typ in (UPDATE_TIMED, INCUPDATE_TIMED):
            expire, pos = _u32(body, pos)
        return Update(update_id, expire, body[pos:])
    if typ == DEFINE:
        return _decode_define(body)
    if typ == SWITCH:
        table_id, _ = decode_varint(body)
        return Switch(table_id)
    if typ == ACK:
        table_id, pos = decode_varint(body)
        update_id, _ = _u32(body, pos)
        return Ack(table_id, update_id)
    return Unknown(cls, typ, body)


def _decode_define(body: bytes) -> Define:
    end = len(body)
    table_id, pos = decode_varint(body, 0, end)
    name_len, pos = decode_varint(body, pos, end)
    if not name_len or pos + name_len >= end:
        raise Malformed("DEFINE: bad table name length")
    name = bytes(body[pos : pos + name_len])
    pos += name_len
    key_type, pos = decode_varint(body, pos, end)
    key_len, pos = decode_varint(body, pos, end)
    data_types, pos = decode_varint(body, pos, end)
    try:
        expire, pos = decode_varint(body, pos, end)
    except Truncated:
        # no expiry, so no parameters either: arrays cannot be decoded without nbelem
        arrays = any(data_types >> t & 1 and DATA_TYPES[t][2] for t in range(len(DATA_TYPES)))
        return Define(table_id, name, key_type, key_len, data_types, None, None if arrays else ())
    params: list[DataParam] = []
    try:
        for t in range(len(DATA_TYPES)):
            if not data_types >> t & 1 or not _needs_param(t):
                continue
            prefix, pos = decode_varint(body, pos, end)
            if prefix != t:
                raise Malformed("DEFINE: parameter for another data type")
            _, std, array = DATA_TYPES[t]
            nbelem = period = None
            if array:
                nbelem, pos = decode_varint(body, pos, end)
            if std == _FRQP:
                period, pos = decode_varint(body, pos, end)
            params.append(DataParam(t, nbelem, period))
    except Malformed:
        return Define(table_id, name, key_type, key_len, data_types, expire, None)
    return Define(table_id, name, key_type, key_len, data_types, expire, tuple(params))


def encode_frame(cls: int, typ: int, body: bytes = b"") -> bytes:
    if typ & 0x80:
        return bytes((cls, typ)) + encode_varint(len(body)) + body
    return bytes((cls, typ))


def encode_message(msg: Message) -> bytes:
    """The bytes of ``msg`` (the inverse of :class:`FrameParser` + :func:`decode_message`)."""
    if isinstance(msg, Control):
        return encode_frame(Class.CONTROL, msg.type)
    if isinstance(msg, Error):
        return encode_frame(Class.ERROR, msg.type)
    if isinstance(msg, Update):
        body = b""
        if msg.update_id is not None:
            body += struct.pack("!I", msg.update_id & _U32)
        if msg.expire_ms is not None:
            body += struct.pack("!I", msg.expire_ms & _U32)
        return encode_frame(Class.STICKTABLE, msg.type, body + msg.data)
    if isinstance(msg, Define):
        out = bytearray(encode_varint(msg.table_id))
        out += encode_varint(len(msg.name)) + msg.name
        out += encode_varint(msg.key_type) + encode_varint(msg.key_len)
        out += encode_varint(msg.data_types)
        if msg.expire_ms is not None:
            out += encode_varint(msg.expire_ms)
            for p in msg.params or ():
                out += encode_varint(p.data_type)
                if p.nbelem is not None:
                    out += encode_varint(p.nbelem)
                if p.period is not None:
                    out += encode_varint(p.period)
        return encode_frame(Class.STICKTABLE, DEFINE, bytes(out))
    if isinstance(msg, Switch):
        return encode_frame(Class.STICKTABLE, SWITCH, encode_varint(msg.table_id))
    if isinstance(msg, Ack):
        body = encode_varint(msg.table_id) + struct.pack("!I", msg.update_id & _U32)
        return encode_frame(Class.STICKTABLE, ACK, body)
    return encode_frame(msg.cls, msg.type, msg.body)


# --- update payloads ------------------------------------------------------------------------------

DICT_SIZE = 128  # PEER_STKT_CACHE_MAX_ENTRIES


class TxDict:
    """The sending side's ``server_key`` cache of one session (``dcache_tx``): 128 slots
    filled round robin; a value already cached is sent as its slot number alone."""

    def __init__(self, size: int = DICT_SIZE) -> None:
        self.size = size
        self.slots: list[str | None] = [None] * size
        self._index: dict[str, int] = {}
        self._next = 0

    def lookup(self, value: str) -> tuple[int, bool]:
        """The slot of ``value`` and whether it was already there (else it now is)."""
        slot = self._index.get(value)
        if slot is not None:
            return slot, True
        slot = self._next
        old = self.slots[slot]
        if old is not None:
            del self._index[old]
        self.slots[slot] = value
        self._index[value] = slot
        self._next = (slot + 1) % self.size
        return slot, False


class RxDict:
    """The receiving side's ``server_key`` cache of one session (``dcache->rx``)."""

    def __init__(self, size: int = DICT_SIZE) -> None:
        self.slots: list[str | None] = [None] * size


@dataclass(frozen=True, slots=True)
class TableLayout:
    """How a sender encodes its updates: from its DEFINE (or, for our own tables, from the
    table). ``nbelem`` gives the element count of the array types."""

    key_type: int
    key_len: int
    data_types: int
    nbelem: Mapping[int, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class EntryData:
    """An update's key (``bytes`` for string/address/binary tables, ``int`` for integer
    tables) and its values by data type: ``int`` for counters, ``(ms_ago, curr, prev)`` for
    frequency counters, tuples for arrays, ``str`` or ``None`` (no entry) for ``server_key``."""

    key: bytes | int
    values: Mapping[int, Any]

    @property
    def server_id(self) -> int | None:
        value = self.values.get(DT_SERVER_ID)
        if value is None:
            return None
        value &= _U32  # STD_T_SINT: the low 32 bits, signed
        return value - (1 << 32) if value >= 1 << 31 else value

    @property
    def server_key(self) -> str | None:
        value = self.values.get(DT_SERVER_KEY)
        return value if isinstance(value, str) else None


def _types(data_types: int) -> Iterator[int]:
    for t in range(len(DATA_TYPES)):
        if data_types >> t & 1:
            yield t


def decode_entry(data: bytes, layout: TableLayout, rx: RxDict) -> EntryData:
    """``peer_treat_updatemsg`` after the ids: the key, then each data type of the sender's
    DEFINE in bit order. A string key is cut to ``key_len - 1`` bytes. Bits above the known
    data types and bytes after the last value are ignored (later versions may add some).
    :class:`Malformed` for anything cut short or a bad dictionary reference."""
    end = len(data)
    kt = layout.key_type
    key: bytes | int
    if kt == KeyType.STR:
        length, pos = decode_varint(data, 0, end)
        keep = min(length, max(layout.key_len - 1, 0))
        if pos + keep > end:
            raise Truncated("string key: cut")
        key = bytes(data[pos : pos + keep])
        pos += length  # HAProxy skips what it did not keep
    elif kt == KeyType.SINT:
        key, pos = _u32(data, 0)
    else:
        if layout.key_len > end:
            raise Truncated("key: cut")
        key = bytes(data[: layout.key_len])
        pos = layout.key_len
    values: dict[int, Any] = {}
    for t in _types(layout.data_types):
        _, std, array = DATA_TYPES[t]
        if array:
            items = []
            for _ in range(layout.nbelem.get(t, 0)):
                item, pos = _decode_value(data, pos, end, std, rx)
                items.append(item)
            values[t] = tuple(items)
        else:
            values[t], pos = _decode_value(data, pos, end, std, rx)
    return EntryData(key, values)


def _decode_value(data: bytes, pos: int, end: int, std: str, rx: RxDict) -> tuple[Any, int]:
    if pos > end:
        raise Truncated("value: past the end")
    value, pos = decode_varint(data, pos, end)
    if std == _FRQP:
        curr, pos = decode_varint(data, pos, end)
        prev, pos = decode_varint(data, pos, end)
        return (value, curr, prev), pos
    if std != _DICT:
        return value, pos
    if not value:
        return None, pos  # no entry
    stop = pos + value
    if stop > end:
        raise Truncated("server_key: cut")
    ident, pos = decode_varint(data, pos, stop)
    if not ident or ident > len(rx.slots):
        raise Malformed(f"server_key: bad dictionary id {ident}")
    if pos == stop:
        return rx.slots[ident - 1], pos  # a reference to an earlier value
    length, pos = decode_varint(data, pos, stop)
    if pos + length > stop:
        raise Truncated("server_key: value cut")
    text = bytes(data[pos : pos + length]).decode("utf-8", "surrogateescape")
    rx.slots[ident - 1] = text
    return text, pos + length


def encode_key(key: bytes | int, key_type: int, key_len: int) -> bytes:
    if key_type == KeyType.STR:
        assert isinstance(key, bytes)
        return encode_varint(len(key)) + key
    if key_type == KeyType.SINT:
        assert isinstance(key, int)
        return struct.pack("!I", key & _U32)
    assert isinstance(key, bytes) and len(key) == key_len
    return key


def encode_entry(
    key: bytes | int, layout: TableLayout, values: Mapping[int, Any], tx: TxDict
) -> bytes:
    """``peer_prepare_updatemsg`` after the ids: the key, then the value of each data type of
    ``layout`` in bit order (missing values are sent as 0 / no entry)."""
    out = bytearray(encode_key(key, layout.key_type, layout.key_len))
    for t in _types(layout.data_types):
        _, std, array = DATA_TYPES[t]
        value = values.get(t)
        if array:
            items: Iterable[Any] = value or ()
            items = list(items)
            count = layout.nbelem.get(t, len(items))
            items = (items + [None] * count)[:count]
            for item in items:
                out += _encode_value(item, std, tx)
        else:
            out += _encode_value(value, std, tx)
    return bytes(out)


def _encode_value(value: Any, std: str, tx: TxDict) -> bytes:
    if std == _FRQP:
        ago, curr, prev = value if value is not None else (0, 0, 0)
        return encode_varint(ago & _U32) + encode_varint(curr) + encode_varint(prev)
    if std == _DICT:
        if value is None:
            return encode_varint(0)
        slot, cached = tx.lookup(value)
        if cached:
            return encode_varint(1) + encode_varint(slot + 1)
        raw = value.encode("utf-8", "surrogateescape")
        inner = encode_varint(slot + 1) + encode_varint(len(raw)) + raw
        return encode_varint(len(inner)) + inner
    if value is None:
        value = 0
    if std == _SINT:
        value &= _U64  # (int) cast to uint64 as HAProxy does
    return encode_varint(value)


# --- handshake ------------------------------------------------------------------------------------

PROTO_NAME = "HAProxyS"
MAJOR = 2
MINOR = 1
MINOR_DOWNGRADED = 0

STATUS_CONNECT = 100  # shown by `show peers` only
STATUS_CONNECTED = 110
STATUS_SUCCESS = 200
STATUS_TRY_AGAIN = 300
STATUS_ERR_PROTO = 501
STATUS_ERR_VERSION = 502
STATUS_ERR_HOST = 503
STATUS_ERR_PEER = 504

MAX_LINE = MAX_MESSAGE


@dataclass(frozen=True, slots=True)
class Hello:
    """The connecting side's three lines: ``HAProxyS 2.<minor>``, the name it expects the
    receiver to have, and its own name with its pid and relative pid (always 1)."""

    remote: str
    local: str
    pid: int
    minor: int = MINOR

    def encode(self) -> bytes:
        return (
            f"{PROTO_NAME} {MAJOR}.{self.minor}\n{self.remote}\n{self.local} {self.pid} 1\n"
        ).encode()


def encode_status(code: int) -> bytes:
    return f"{code}\n".encode()


def parse_hello_line(index: int, line: str, local: str) -> tuple[int | None, Any]:
    """Check line ``index`` (0, 1, 2) of a hello as ``peer_getline_*`` do: ``(status, None)``
    for a refusal, ``(None, value)`` when the line is fine; ``value`` is the minor version
    (line 0) or the remote peer's name (line 2; the caller checks it is configured)."""
    if index == 0:
        if not line.startswith(PROTO_NAME + " "):
            return STATUS_ERR_PROTO, None
        major, dot, minor = line[len(PROTO_NAME) + 1 :].partition(".")
        digits = major.isascii() and major.isdigit() and minor.isascii() and minor.isdigit()
        if not (dot and digits) or int(major) != MAJOR or int(minor) > MINOR:
            return STATUS_ERR_VERSION, None
        return None, int(minor)
    if index == 1:
        return (STATUS_ERR_HOST, None) if line != local else (None, line)
    name, space, _ = line.partition(" ")
    if not space:
        return STATUS_ERR_PROTO, None
    return None, name


class LineReader:
    """LF-terminated lines (an optional CR before the LF is dropped), at most ``MAX_LINE``
    bytes; :attr:`overflow` once a line is longer (HAProxy then closes without a status)."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self.overflow = False

    def feed(self, data: bytes) -> None:
        self._buf += data

    def line(self) -> str | None:
        buf = self._buf
        nl = buf.find(b"\n")
        if nl < 0:
            if len(buf) >= MAX_LINE:
                self.overflow = True
            return None
        raw = bytes(buf[:nl])
        del buf[: nl + 1]
        if raw.endswith(b"\r"):
            raw = raw[:-1]
        return raw.decode("utf-8", "surrogateescape")

    def rest(self) -> bytes:
        """What came after the lines read so far (the first messages)."""
        data = bytes(self._buf)
        self._buf.clear()
        return data
