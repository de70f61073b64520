"""HAProxy's ``option httplog`` line and the syslog datagram that carries it.

Why byte-for-byte: operators grep and parse these lines with tools written for HAProxy
(halog, log shippers' HAProxy patterns), so the format, escaping and syslog framing follow
``sess_build_logline`` and ``__send_log`` of HAProxy 2.6 (checked against 2.6.12 output):

``%ci:%cp [%tr] %ft %b/%s %TR/%Tw/%Tc/%Tr/%Ta %ST %B %CC %CS %tsc %ac/%fc/%bc/%sc/%rc %sq/%bq
%hr %hs %{+Q}r``

* ``%tr`` is local time ``dd/Mon/yyyy:HH:MM:SS.mmm`` (milliseconds truncated); month names
  are English whatever the locale.
* ``%ft`` gets a ``~`` suffix when the listener is TLS.
* ``%B`` counts what HAProxy counts: the size of the response as its internal HTX message, not
  the bytes on the wire (see :func:`htx_response_size`).
* ``%Ta`` and ``%B`` get a ``+`` prefix with ``option logasap``; ``%rc`` gets ``+`` when the
  request was redispatched.
* ``%hr``/``%hs`` (``{v1|v2}``, ``"#{|}`` and non-printables as ``#XX``) disappear with their
  separator when nothing is captured.
* ``%r`` is the request line cut to 1023 bytes (``tune.requri_len`` - 1) and to its first NUL,
  with ``"``, ``#``, bytes < 0x20 and >= 0x7f written ``#XX``; ``"<BADREQ>"`` when the request
  could not be parsed.
* Syslog (RFC 3164 as HAProxy sends it by default): ``<PRI>Mmm dd HH:MM:SS tag[pid]: msg``,
  day space-padded, no hostname unless given, the whole datagram cut to ``maxlen`` (1024) and
  followed by ``\\n``.

Sans-IO: times are passed in; the only clock-related call is the epoch->local conversion.
"""

from __future__ import annotations

import datetime
import re
import time
from dataclasses import dataclass

from stack.config.model import SYSLOG_FACILITIES, SYSLOG_LEVELS
from stack.http.message import Headers

__all__ = [
    "FACILITIES",
    "LEVELS",
    "REQURI_LEN",
    "TS_CLIENT_ABORT_CONNECT",
    "TS_CLIENT_ABORT_DATA",
    "TS_CLIENT_ABORT_HEADERS",
    "TS_CLIENT_ABORT_QUEUE",
    "TS_CLIENT_ABORT_REQUEST",
    "TS_CLIENT_TIMEOUT_DATA",
    "TS_CLIENT_TIMEOUT_REQUEST",
    "TS_LOCAL",
    "TS_NORMAL",
    "TS_PROXY_DENY",
    "TS_SERVER_ABORT_DATA",
    "TS_SERVER_ABORT_HEADERS",
    "TS_SERVER_CONNECT",
    "TS_SERVER_TIMEOUT_CONNECT",
    "TS_SERVER_TIMEOUT_DATA",
    "TS_SERVER_TIMEOUT_HEADERS",
    "TS_SERVER_TIMEOUT_QUEUE",
    "HttpLogRecord",
    "format_accept_date",
    "format_httplog",
    "htx_head_size",
    "htx_page_size",
    "htx_response_size",
    "syslog_message",
    "termination_state",
]

REQURI_LEN = 1024  # HAProxy's default tune.requri_len: the logged request line keeps 1023 bytes
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

# syslog facility and severity codes, by HAProxy's names (src/log.c log_facilities/log_levels)
FACILITIES: dict[str, int] = {name: code for code, name in enumerate(SYSLOG_FACILITIES)}
LEVELS: dict[str, int] = {name: code for code, name in enumerate(SYSLOG_LEVELS)}

# --- termination state (doc §8.5) -------------------------------------------------------------

# First character: why the session ended. Second: in which phase.
_CAUSES = "-CSPLRIDUKcs"
_PHASES = "-RQCHDLT"

TS_NORMAL = "----"  # completed normally
TS_LOCAL = "LR--"  # answered by the proxy itself (redirect, stats, return, errorfile)
TS_PROXY_DENY = "PR--"  # denied or rejected by the proxy (deny rule, bad request)
TS_CLIENT_TIMEOUT_REQUEST = "cR--"  # timeout http-request / client before a full request
TS_CLIENT_ABORT_REQUEST = "CR--"  # client closed before sending a full request
TS_CLIENT_ABORT_QUEUE = "CQ--"  # client closed while queued
TS_CLIENT_ABORT_CONNECT = "CC--"  # client closed during the server connect
TS_CLIENT_ABORT_HEADERS = "CH--"  # client closed while waiting for the response headers
TS_CLIENT_ABORT_DATA = "CD--"  # client closed during the data phase
TS_CLIENT_TIMEOUT_DATA = "cD--"  # timeout client during the data phase
TS_SERVER_TIMEOUT_QUEUE = "sQ--"  # timeout queue: 503 from the queue
TS_SERVER_TIMEOUT_CONNECT = "sC--"  # timeout connect
TS_SERVER_CONNECT = "SC--"  # connection refused/reset by the server (503 after retries)
TS_SERVER_TIMEOUT_HEADERS = "sH--"  # timeout server before the response headers (504)
TS_SERVER_ABORT_HEADERS = "SH--"  # server closed or sent garbage before full headers (502)
TS_SERVER_TIMEOUT_DATA = "sD--"  # timeout server during the data phase
TS_SERVER_ABORT_DATA = "SD--"  # server closed during the data phase


def termination_state(
    cause: str = "-", phase: str = "-", cookie: str = "-", set_cookie: str = "-"
) -> str:
    """Build ``%tsc``: cause, phase, then the persistence-cookie flags of §1.2 (``-`` when the
    backend has no ``cookie``). Raises ``ValueError`` for a character HAProxy never logs."""
    if len(cause) != 1 or cause not in _CAUSES:
        raise ValueError(f"bad termination cause {cause!r}")
    if len(phase) != 1 or phase not in _PHASES:
        raise ValueError(f"bad termination phase {phase!r}")
    if len(cookie) != 1 or cookie not in "-NIDVEOU":
        raise ValueError(f"bad cookie flag {cookie!r}")
    if len(set_cookie) != 1 or set_cookie not in "-NIUDPRA":
        raise ValueError(f"bad set-cookie flag {set_cookie!r}")
    return cause + phase + cookie + set_cookie


# --- the record -------------------------------------------------------------------------------


@dataclass(slots=True)
class HttpLogRecord:
    """Everything one httplog line shows. Timers are milliseconds, ``-1`` = phase not reached.

    ``accept_time`` is ``%tr``: epoch seconds at which the request started (accept time plus
    idle and handshake time on a kept-alive connection). ``request_line`` is the raw
    ``METHOD URI VERSION`` (``None`` = unparsable request, logged ``<BADREQ>``).
    ``request_captures``/``response_captures`` are the ``capture request|response header``
    slots in declaration order (``None`` inside = header absent; ``None`` = no capture
    configured, nothing logged).
    """

    client_ip: str
    client_port: int
    accept_time: float
    frontend: str
    backend: str
    server: str = "<NOSRV>"
    tr: int = -1  # %TR: time to receive the full request head
    tw: int = -1  # %Tw: time in queues
    tc: int = -1  # %Tc: time to connect to the server
    tr_server: int = -1  # %Tr: server time to response head
    ta: int = -1  # %Ta: active time, first request byte to last response byte
    status: int = -1  # %ST
    bytes_read: int = 0  # %B: bytes sent to the client, headers included (HAProxy's name)
    request_cookie: str = "-"  # %CC
    response_cookie: str = "-"  # %CS
    termination: str = TS_NORMAL  # %tsc
    actconn: int = 0  # %ac
    feconn: int = 0  # %fc
    beconn: int = 0  # %bc
    srv_conn: int = 0  # %sc
    retries: int = 0  # %rc
    redispatched: bool = False
    srv_queue: int = 0  # %sq
    backend_queue: int = 0  # %bq
    request_line: bytes | None = None  # %r
    logasap: bool = False
    frontend_ssl: bool = False
    request_captures: tuple[bytes | None, ...] | None = None  # %hr
    response_captures: tuple[bytes | None, ...] | None = None  # %hs


# --- escaping ---------------------------------------------------------------------------------

_URL_ESCAPE = re.compile(rb'[\x00-\x1f"#\x7f-\xff]')  # url_encode_map
_HDR_ESCAPE = re.compile(rb'[\x00-\x1f"#{|}\x7f-\xff]')  # hdr_encode_map
_HEX = [f"#{i:02X}".encode("ascii") for i in range(256)]


def _hex_escape(m: re.Match[bytes]) -> bytes:
    return _HEX[m.group()[0]]


def _encode(data: bytes, pattern: re.Pattern[bytes]) -> str:
    """``lf_encode_string`` with '#': C-string semantics (stops at NUL), ``#XX`` escapes."""
    nul = data.find(b"\0")
    if nul >= 0:
        data = data[:nul]
    if pattern.search(data) is not None:
        data = pattern.sub(_hex_escape, data)
    return data.decode("ascii")


def _captures(values: tuple[bytes | None, ...]) -> str:
    return "{" + "|".join("" if v is None else _encode(v, _HDR_ESCAPE) for v in values) + "}"


# --- formatting -------------------------------------------------------------------------------


def _local(sec: int, tz: datetime.tzinfo | None) -> tuple[int, int, int, int, int, int]:
    if tz is None:
        t = time.localtime(sec)
        return t.tm_year, t.tm_mon, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec
    d = datetime.datetime.fromtimestamp(sec, tz)
    return d.year, d.month, d.day, d.hour, d.minute, d.second


def format_accept_date(ts: float, tz: datetime.tzinfo | None = None) -> str:
    """``date2str_log``: ``21/Nov/2026:09:33:18.836`` in local time (or ``tz``)."""
    usec = round(ts * 1_000_000)  # nearest microsecond absorbs float error, then truncate ms
    sec, frac = divmod(usec, 1_000_000)
    year, mon, day, hh, mm, ss = _local(sec, tz)
    return f"{day:02d}/{_MONTHS[mon - 1]}/{year:04d}:{hh:02d}:{mm:02d}:{ss:02d}.{frac // 1000:03d}"


def format_httplog(rec: HttpLogRecord, tz: datetime.tzinfo | None = None) -> str:
    """The message part of the log line (what follows ``haproxy[pid]: ``)."""
    plus = "+" if rec.logasap else ""
    if rec.request_line is None:
        req = "<BADREQ>"
    else:
        req = _encode(rec.request_line[: REQURI_LEN - 1], _URL_ESCAPE)
    caps = ""
    if rec.request_captures is not None:
        caps += _captures(rec.request_captures) + " "
    if rec.response_captures is not None:
        caps += _captures(rec.response_captures) + " "
    return (
        f"{rec.client_ip}:{rec.client_port} [{format_accept_date(rec.accept_time, tz)}] "
        f"{rec.frontend}{'~' if rec.frontend_ssl else ''} {rec.backend}/{rec.server} "
        f"{rec.tr}/{rec.tw}/{rec.tc}/{rec.tr_server}/{plus}{rec.ta} "
        f"{rec.status} {plus}{rec.bytes_read} {rec.request_cookie or '-'} "
        f"{rec.response_cookie or '-'} {rec.termination} "
        f"{rec.actconn}/{rec.feconn}/{rec.beconn}/{rec.srv_conn}/"
        f"{'+' if rec.redispatched else ''}{rec.retries} "
        f'{rec.srv_queue}/{rec.backend_queue} {caps}"{req}"'
    )


def syslog_message(
    facility: str,
    level: str,
    timestamp: float,
    pid: int,
    msg: str | bytes,
    tag: str = "haproxy",
    *,
    hostname: str | None = None,
    maxlen: int = 1024,
    tz: datetime.tzinfo | None = None,
) -> bytes:
    """One syslog datagram as HAProxy sends it: ``<PRI>Nov 21 09:33:18 haproxy[pid]: msg\\n``.

    ``PRI = facility * 8 + severity``; the timestamp is local time to the second. The datagram
    without its final newline is cut to ``maxlen`` bytes (HAProxy's ``len`` option of ``log``).
    Raises ``KeyError`` for an unknown facility or level name.
    """
    pri = FACILITIES[facility] * 8 + LEVELS[level]
    _year, mon, day, hh, mm, ss = _local(int(timestamp), tz)
    host = f"{hostname} " if hostname else ""
    head = f"<{pri}>{_MONTHS[mon - 1]} {day:2d} {hh:02d}:{mm:02d}:{ss:02d} {host}{tag}[{pid}]: "
    body = msg if isinstance(msg, bytes) else msg.encode("utf-8", "replace")
    return (head.encode("ascii") + body)[:maxlen] + b"\n"


# --- %B ------------------------------------------------------------------------------------------

# sizeof(struct htx_sl): the start line block's fixed part (flags, status/method, three lengths).
_HTX_START_LINE = 20


def htx_response_size(
    version: bytes, status: bytes, reason: bytes, headers: Headers, body: int, chunked: bool
) -> int:
    """HAProxy 2.6's ``%B`` for a response: the HTX message it forwarded, which is what its
    byte counters add up (checked against 2.6.12): the start line block (20 bytes + version,
    status and reason), each header's name + value, 1 for the end of headers, the body's data
    bytes (chunk framing not counted) and 1 for the end of a chunked body. The H1 layer drops
    ``connection`` from the HTX message and adds its own on output, so it is never counted."""
    size = _HTX_START_LINE + len(version) + len(status) + len(reason) + 1 + body
    for name, value in headers:
        if name != b"connection":
            size += len(name) + len(value)
    return size + 1 if chunked else size


def htx_head_size(status: int, reason: bytes, headers: Headers) -> int:
    """:func:`htx_response_size` of an HTTP/1.1 head alone, for every proxied response (the
    status is three digits, so no formatting is needed to know its length)."""
    if not 100 <= status <= 999:
        return htx_response_size(b"HTTP/1.1", b"%d" % status, reason, headers, 0, False)
    size = _HTX_START_LINE + 12 + len(reason)  # "HTTP/1.1", three digits, end of headers
    for name, value in headers:
        if name != b"connection":
            size += len(name) + len(value)
    return size


def htx_page_size(page: bytes) -> int:
    """``%B`` for a response HAProxy generates from raw bytes (an errorfile, a redirect): the
    page parsed as the H1 layer would, ``connection`` left out. An empty page (errorfile
    ``/dev/null``: close without answering) is 0."""
    if not page:
        return 0
    head, _, body = page.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    version, _, rest = lines[0].partition(b" ")
    status, _, reason = rest.partition(b" ")
    headers = []
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        headers.append((name.strip().lower(), value.strip()))
    return htx_response_size(version, status, reason, headers, len(body), False)
