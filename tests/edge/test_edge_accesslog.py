"""Apache's combined access log and default error log lines, and the log files."""

from __future__ import annotations

import datetime
import os
import re
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stack.edge.accesslog import (
    LogFile,
    combined_line,
    error_line,
    escape_errorlog,
    escape_logitem,
)

UTC = datetime.UTC
# 2026-11-21 10:00:00 UTC, a Saturday
WHEN = datetime.datetime(2026, 11, 21, 10, 0, 0, tzinfo=UTC).timestamp()


def test_combined_line_exact() -> None:
    line = combined_line(
        "203.0.113.9",
        WHEN + 0.75,
        b"GET /app1/?q=1 HTTP/1.1",
        200,
        5120,
        b"https://edge.test/",
        b"Mozilla/5.0 (X11; Linux x86_64)",
        tz=UTC,
    )
    assert line == (
        b'203.0.113.9 - - [21/Nov/2026:10:00:00 +0000] "GET /app1/?q=1 HTTP/1.1" 200 5120 '
        b'"https://edge.test/" "Mozilla/5.0 (X11; Linux x86_64)"\n'
    )


def test_absent_and_empty_fields() -> None:
    line = combined_line("::1", WHEN, None, 408, 0, None, b"", tz=UTC)
    # %r without a request line and %{Referer}i without the header are "-"; an empty
    # User-Agent is logged empty; %O is 0, not "-".
    assert line == b'::1 - - [21/Nov/2026:10:00:00 +0000] "-" 408 0 "-" ""\n'


def test_tls_suffix() -> None:
    line = combined_line(
        "1.2.3.4",
        WHEN,
        b"GET / HTTP/1.1",
        301,
        400,
        None,
        None,
        ("TLSv1.3", "TLS_AES_128_GCM_SHA256"),
        UTC,
    )
    assert line.endswith(b'"-" "-" TLSv1.3 TLS_AES_128_GCM_SHA256\n')


@pytest.mark.parametrize(
    ("offset", "expected"),
    [
        (datetime.timedelta(hours=1), b"[21/Nov/2026:11:00:00 +0100]"),
        (datetime.timedelta(hours=-5), b"[21/Nov/2026:05:00:00 -0500]"),
        (datetime.timedelta(hours=5, minutes=30), b"[21/Nov/2026:15:30:00 +0530]"),
        (datetime.timedelta(hours=-9, minutes=-30), b"[21/Nov/2026:00:30:00 -0930]"),
        (datetime.timedelta(hours=-10, minutes=-30), b"[20/Nov/2026:23:30:00 -1030]"),
    ],
)
def test_time_zone_offsets(offset: datetime.timedelta, expected: bytes) -> None:
    line = combined_line("h", WHEN, b"x", 200, 1, None, None, tz=datetime.timezone(offset))
    assert expected in line


def test_local_time_by_default() -> None:
    line = combined_line("h", WHEN, b"x", 200, 1, None, None)
    local = time.localtime(WHEN)
    assert time.strftime("[%d/", local).encode() in line
    sign = "-" if local.tm_gmtoff < 0 else "+"
    gmtoff = abs(local.tm_gmtoff)
    assert f"{sign}{gmtoff // 3600:02d}{gmtoff % 3600 // 60:02d}]".encode() in line


def test_month_names() -> None:
    months = [
        combined_line(
            "h",
            datetime.datetime(2026, m, 2, tzinfo=UTC).timestamp(),
            b"x",
            1,
            1,
            None,
            None,
            tz=UTC,
        )[10:13]
        for m in range(1, 13)
    ]
    assert months == b"Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split()


def test_request_and_headers_escaped_as_ap_escape_logitem() -> None:
    line = combined_line(
        "h",
        WHEN,
        b'GET /a"b\\c\x01\x7f\xc3\xa9 HTTP/1.1',
        400,
        0,
        b"x\r\ny",
        b'"\tq\x0b\x08"',
        tz=UTC,
    )
    assert line == (
        b"h - - [21/Nov/2026:10:00:00 +0000] "
        b'"GET /a\\"b\\\\c\\x01\\x7f\\xc3\\xa9 HTTP/1.1" 400 0 "x\\r\\ny" "\\"\\tq\\v\\b\\""\n'
    )


def test_escape_returns_the_same_object_when_clean() -> None:
    data = b"GET / HTTP/1.1"
    assert escape_logitem(data) is data
    assert escape_errorlog(data) is data


def _unescape(data: bytes) -> bytes:
    """Undo ap_escape_logitem (test oracle)."""
    simple = {
        b"b": b"\b",
        b"n": b"\n",
        b"r": b"\r",
        b"t": b"\t",
        b"v": b"\v",
        b"\\": b"\\",
        b'"': b'"',
    }

    def one(match: re.Match[bytes]) -> bytes:
        code = match[1]
        if code[:1] == b"x":
            return bytes((int(code[1:], 16),))
        return simple[code]

    return re.sub(rb'\\(x[0-9a-f]{2}|[bnrtv\\"])', one, data)


@given(st.binary())
def test_escaped_is_printable_ascii_without_bare_quotes(data: bytes) -> None:
    escaped = escape_logitem(data)
    assert all(0x20 <= byte <= 0x7E for byte in escaped)
    assert re.search(rb'(?<!\\)(\\\\)*"', escaped) is None  # every quote is escaped
    assert _unescape(escaped) == data


@given(st.binary())
def test_errorlog_escape_keeps_quotes_only(data: bytes) -> None:
    escaped = escape_errorlog(data)
    assert all(0x20 <= byte <= 0x7E for byte in escaped)
    assert escaped == escape_logitem(data).replace(b'\\"', b'"')


def test_error_line_exact() -> None:
    line = error_line(
        "error",
        "ssl",
        "AH02039: Certificate Verification: Error",
        WHEN + 0.123456,
        123,
        "1.2.3.4:5678",
        UTC,
    )
    assert line == (
        b"[Sat Nov 21 10:00:00.123456 2026] [ssl:error] [pid 123] [client 1.2.3.4:5678] "
        b"AH02039: Certificate Verification: Error\n"
    )


def test_error_line_without_client_and_escaped() -> None:
    line = error_line("warn", "proxy", 'bad "x"\nforged line \xe9', WHEN, 7, tz=UTC)
    assert line == (
        b'[Sat Nov 21 10:00:00.000000 2026] [proxy:warn] [pid 7] bad "x"\\nforged line \\xc3\\xa9\n'
    )


def test_error_line_day_is_zero_padded_and_usec_rounded() -> None:
    when = datetime.datetime(2026, 11, 1, 9, 5, 7, tzinfo=UTC).timestamp() + 0.000001
    assert error_line("info", "core", "m", when, 1, tz=UTC).startswith(
        b"[Sun Nov 01 09:05:07.000001 2026] [core:info] "
    )
    assert error_line("info", "core", "m", WHEN - 0.0000004, 1, tz=UTC).startswith(
        b"[Sat Nov 21 10:00:00.000000 2026]"
    )


def test_error_line_levels() -> None:
    assert b"[core:trace8]" in error_line("trace8", "core", "m", WHEN, 1, tz=UTC)
    with pytest.raises(ValueError, match="warning"):
        error_line("warning", "core", "m", WHEN, 1)


def test_log_file_appends_and_reopens(tmp_path: Path) -> None:
    path = tmp_path / "access.log"
    path.write_bytes(b"old\n")
    log = LogFile(str(path))
    log.write(b"one\n")
    assert path.read_bytes() == b"old\none\n"
    # logrotate: rename, then SIGUSR1
    path.rename(tmp_path / "access.log.1")
    log.write(b"two\n")
    log.reopen()
    log.write(b"three\n")
    assert (tmp_path / "access.log.1").read_bytes() == b"old\none\ntwo\n"
    assert path.read_bytes() == b"three\n"
    assert path.stat().st_mode & 0o777 == 0o640 & ~_umask()
    log.close()
    log.write(b"four\n")
    log.reopen()  # a closed log stays closed
    assert path.read_bytes() == b"three\n"
    assert log.dropped == 1


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_log_file_open_error_names_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "no" / "such" / "dir.log"
    with pytest.raises(OSError, match=re.escape(str(missing))):
        LogFile(str(missing))


def test_failed_reopen_keeps_the_old_file(tmp_path: Path) -> None:
    directory = tmp_path / "logs"
    directory.mkdir()
    log = LogFile(str(directory / "error.log"))
    (directory / "error.log").rename(tmp_path / "rotated.log")
    directory.rmdir()
    with pytest.raises(OSError, match=r"error\.log"):
        log.reopen()
    log.write(b"still here\n")
    assert (tmp_path / "rotated.log").read_bytes() == b"still here\n"
    log.close()


def test_failed_writes_are_counted(tmp_path: Path) -> None:
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full")
    log = LogFile("/dev/full")
    log.write(b"x\n")
    log.write(b"y\n")
    assert log.dropped == 2
    log.close()


def test_stdout_and_stderr(capfd: pytest.CaptureFixture[str]) -> None:
    out, err = LogFile("stdout"), LogFile("stderr")
    out.write(b"to stdout\n")
    err.write(b"to stderr\n")
    out.reopen()
    out.close()
    err.close()
    captured = capfd.readouterr()
    assert captured.out == "to stdout\n"
    assert captured.err == "to stderr\n"
    os.fstat(1)  # not closed
    os.fstat(2)
