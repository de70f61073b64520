"""Apache's access and error log lines, byte for byte, and the files they are appended to.

Operators' log tooling (goaccess, fail2ban, awstats) parses these formats, so they follow
Apache 2.4 exactly:

* The access log is Debian's ``combined`` (``/etc/apache2/apache2.conf``)::

      LogFormat "%h %l %u %t \\"%r\\" %>s %O \\"%{Referer}i\\" \\"%{User-Agent}i\\"" combined

  ``%h`` the client address (the caller's choice: the peer, or mod_remoteip's client);
  ``%l`` and ``%u`` ``-`` (no identd, no authentication); ``%t`` the time the request was
  received, ``[21/Nov/2026:10:00:00 +0000]`` in local time with its UTC offset, English
  month names whatever the locale; ``%r`` the request line as received; ``%>s`` the final
  status; ``%O`` every byte sent including the head (mod_logio: ``0``, not ``-``, when none
  was); Referer and User-Agent, ``-`` when absent and empty when empty. An optional TLS
  suffix is ``%{SSL_PROTOCOL}x %{SSL_CIPHER}x``.
* Request line and header values are escaped as ``ap_escape_logitem`` does: ``"`` and ``\\``
  get a backslash, ``\\b \\n \\r \\t \\v`` their C escapes, every other byte outside
  0x20-0x7E becomes ``\\xhh`` (lowercase hex). A line therefore never holds a raw quote,
  control byte or non-ASCII byte, and a client cannot forge a second line.
* The error log is Apache's default error log format, non-threaded form::

      [Sat Nov 21 10:00:00.123456 2026] [ssl:error] [pid 123] [client 1.2.3.4:5678] message

  with the message escaped as ``ap_escape_errorlog_item`` does (the same, but ``"`` is left
  as it is).
"""

from __future__ import annotations

import datetime
import math
import os
import re
import time

from stack.config.edge import LOG_LEVELS

__all__ = [
    "LEVELS",
    "LogFile",
    "combined_line",
    "error_line",
    "escape_errorlog",
    "escape_logitem",
]

# Apache's LogLevel names (server/log.c priorities, plus trace1..trace8).
LEVELS = frozenset((*LOG_LEVELS, *(f"trace{n}" for n in range(1, 9))))

_MONTHS = tuple(b"Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split())
_DAYS = tuple(b"Mon Tue Wed Thu Fri Sat Sun".split())  # struct_time.tm_wday order


_C_ESCAPES = {0x08: b"\\b", 0x0A: b"\\n", 0x0D: b"\\r", 0x09: b"\\t", 0x0B: b"\\v"}


def _escape_table(quote: bool) -> tuple[bytes, ...]:
    """What each byte becomes (``gen_test_char.c`` ``T_ESCAPE_LOGITEM`` and the switch in
    ``ap_escape_logitem``)."""
    table = []
    for byte in range(256):
        if byte in _C_ESCAPES:
            table.append(_C_ESCAPES[byte])
        elif byte == 0x5C or (byte == 0x22 and quote):
            table.append(b"\\" + bytes((byte,)))
        elif 0x20 <= byte <= 0x7E:
            table.append(bytes((byte,)))
        else:
            table.append(b"\\x%02x" % byte)
    return tuple(table)


_LOGITEM_TABLE = _escape_table(quote=True)
_ERRORLOG_TABLE = _escape_table(quote=False)
_LOGITEM_SPECIAL = re.compile(rb"[^\x20\x21\x23-\x5b\x5d-\x7e]")
_ERRORLOG_SPECIAL = re.compile(rb"[^\x20-\x5b\x5d-\x7e]")


def _logitem(match: re.Match[bytes]) -> bytes:
    return _LOGITEM_TABLE[match[0][0]]


def _errorlog(match: re.Match[bytes]) -> bytes:
    return _ERRORLOG_TABLE[match[0][0]]


def escape_logitem(data: bytes) -> bytes:
    """``data`` as ``ap_escape_logitem`` writes it in an access log: printable ASCII only,
    without a bare ``"``. Returns ``data`` itself when nothing needs escaping."""
    if _LOGITEM_SPECIAL.search(data) is None:
        return data
    return _LOGITEM_SPECIAL.sub(_logitem, data)


def escape_errorlog(data: bytes) -> bytes:
    """``data`` as ``ap_escape_errorlog_item`` writes it: as :func:`escape_logitem`, but
    ``"`` stays as it is."""
    if _ERRORLOG_SPECIAL.search(data) is None:
        return data
    return _ERRORLOG_SPECIAL.sub(_errorlog, data)


def _clock(seconds: int, tz: datetime.tzinfo | None) -> tuple[time.struct_time, int]:
    """The broken-down time of ``seconds`` and its UTC offset in seconds: in the process's
    local zone (Apache's ``ap_explode_recent_localtime``) unless ``tz`` is given."""
    if tz is None:
        local = time.localtime(seconds)
        return local, local.tm_gmtoff or 0
    moment = datetime.datetime.fromtimestamp(seconds, tz)
    offset = moment.utcoffset()
    return moment.timetuple(), 0 if offset is None else int(offset.total_seconds())


def _request_time(when: float, tz: datetime.tzinfo | None) -> bytes:
    """``%t``: ``[21/Nov/2026:10:00:00 +0000]``, whole seconds."""
    t, offset = _clock(math.floor(when), tz)
    sign = b"-" if offset < 0 else b"+"
    offset = abs(offset)
    return b"[%02d/%s/%d:%02d:%02d:%02d %s%02d%02d]" % (
        t.tm_mday,
        _MONTHS[t.tm_mon - 1],
        t.tm_year,
        t.tm_hour,
        t.tm_min,
        t.tm_sec,
        sign,
        offset // 3600,
        offset % 3600 // 60,
    )


def _quoted(value: bytes | None) -> bytes:
    return b'"-"' if value is None else b'"' + escape_logitem(value) + b'"'


def combined_line(
    client: str,
    when: float,
    request_line: bytes | None,
    status: int,
    bytes_sent: int,
    referer: bytes | None,
    user_agent: bytes | None,
    tls: tuple[str, str] | None = None,
    tz: datetime.tzinfo | None = None,
) -> bytes:
    """One ``combined`` access log line, newline included.

    ``when`` is the epoch time the request arrived; ``request_line`` the first line of the
    request as received, without its CRLF (``None`` when none was read: ``-``, as Apache
    logs a 408); ``bytes_sent`` counts the response head and body; ``tls`` is (protocol,
    cipher) on a TLS connection; ``tz`` overrides the local zone (for tests).
    """
    line = b"%s - - %s %s %d %d %s %s" % (
        escape_logitem(client.encode("ascii", "backslashreplace")),
        _request_time(when, tz),
        _quoted(request_line),
        status,
        bytes_sent,
        _quoted(referer),
        _quoted(user_agent),
    )
    if tls is not None:
        protocol, cipher = tls
        line += b" %s %s" % (
            escape_logitem(protocol.encode("ascii", "backslashreplace") or b"-"),
            escape_logitem(cipher.encode("ascii", "backslashreplace") or b"-"),
        )
    return line + b"\n"


def error_line(
    level: str,
    module: str,
    message: str,
    when: float,
    pid: int,
    client: str | None = None,
    tz: datetime.tzinfo | None = None,
) -> bytes:
    """One error log line, newline included: ``[time] [module:level] [pid N] [client A:P]
    message``. ``client`` is ``address:port``, omitted when ``None``; ``tz`` overrides the
    local zone (for tests). An unknown ``level`` is a ValueError."""
    if level not in LEVELS:
        raise ValueError(f"unknown log level {level!r}")
    micros = round(when * 1_000_000)
    seconds, fraction = divmod(micros, 1_000_000)
    t, _ = _clock(seconds, tz)
    line = b"[%s %s %02d %02d:%02d:%02d.%06d %d] [%s:%s] [pid %d] " % (
        _DAYS[t.tm_wday],
        _MONTHS[t.tm_mon - 1],
        t.tm_mday,
        t.tm_hour,
        t.tm_min,
        t.tm_sec,
        fraction,
        t.tm_year,
        escape_errorlog(module.encode("utf-8", "backslashreplace")),
        level.encode("ascii"),
        pid,
    )
    if client is not None:
        line += b"[client %s] " % escape_errorlog(client.encode("utf-8", "backslashreplace"))
    return line + escape_errorlog(message.encode("utf-8", "backslashreplace")) + b"\n"


_STREAMS = {"stdout": 1, "stderr": 2}


class LogFile:
    """A log file lines are appended to, reopened on demand for logrotate.

    Each line goes out in one ``write(2)`` on an ``O_APPEND`` descriptor, unbuffered: a line
    is on disk (in the page cache) before the next request and never split between two
    writers, since appends of a line are atomic on a local file system. The write runs on the
    caller's thread, as Apache's unbuffered logs do; on a local disk it returns in
    microseconds, and the alternative (a writer thread) costs more than it saves. A write that
    fails (disk full, I/O error) drops the line and counts it in ``dropped``: a log line is
    never worth failing a request.

    ``path`` may be ``"stdout"`` or ``"stderr"``; those are written to but never closed, and
    :meth:`reopen` leaves them alone.
    """

    __slots__ = ("_fd", "dropped", "path")

    def __init__(self, path: str) -> None:
        self.path = path
        self.dropped = 0
        self._fd: int | None = self._open()

    def _open(self) -> int:
        stream = _STREAMS.get(self.path)
        if stream is not None:
            return stream
        try:
            return os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o640)
        except OSError as e:
            raise OSError(e.errno, f"cannot open log file {self.path}: {e.strerror}") from e

    def write(self, line: bytes) -> None:
        """Append ``line`` (newline included); dropped and counted if the write fails or the
        file is closed."""
        fd = self._fd
        if fd is None:
            self.dropped += 1
            return
        try:
            written = os.write(fd, line)
            if written < len(line):
                # Only a full disk or a signal cuts a regular-file write short: finish it.
                with memoryview(line) as view:
                    while 0 < written < len(line):
                        written += os.write(fd, view[written:])
                if written < len(line):
                    self.dropped += 1
        except OSError:
            self.dropped += 1

    def reopen(self) -> None:
        """Reopen the path, as SIGUSR1 after logrotate asks: a file rotated away is created
        again; one still in place is kept (under ``--uid`` it may not be openable again). If
        the new open fails the old descriptor stays in use and the OSError is raised."""
        if self.path in _STREAMS or self._fd is None:
            return
        try:
            here, mine = os.stat(self.path), os.fstat(self._fd)
        except OSError:
            pass  # rotated away: open a new one
        else:
            if (here.st_dev, here.st_ino) == (mine.st_dev, mine.st_ino):
                return  # not rotated (logrotate's notifempty): keep writing to it
        fd = self._open()
        old, self._fd = self._fd, fd
        os.close(old)

    def close(self) -> None:
        """Close the file; later writes are dropped."""
        fd, self._fd = self._fd, None
        if fd is not None and self.path not in _STREAMS:
            os.close(fd)
