"""httplog lines and syslog framing, reproducing lines logged by HAProxy 2.6.12.

``SAMPLES`` lines are copied from /work/shared/reference/haproxy-2.6-syslog-samples.txt;
``CAPTURED`` lines were received from the same HAProxy 2.6.12 binary over UDP (captures with
``option logasap``, an unparsable request, escaping, a line longer than 1024 bytes).
"""

from __future__ import annotations

import calendar
import datetime
import time
from collections.abc import Iterator
from typing import Any

import pytest

from stack.balancer.httplog import (
    FACILITIES,
    LEVELS,
    TS_LOCAL,
    TS_NORMAL,
    TS_SERVER_TIMEOUT_QUEUE,
    HttpLogRecord,
    format_accept_date,
    format_httplog,
    htx_page_size,
    htx_response_size,
    syslog_message,
    termination_state,
)
from stack.http.errors import builtin_error


@pytest.fixture(autouse=True)
def utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The samples were logged with the machine clock in UTC: pin local time to UTC."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def ts(text: str) -> float:
    """``21/Nov/2026:09:33:18.836`` (UTC) -> epoch seconds."""
    day, rest = text.split(":", 1)
    d = datetime.datetime.strptime(day + ":" + rest.split(".")[0], "%d/%b/%Y:%H:%M:%S")
    return calendar.timegm(d.timetuple()) + int(rest.split(".")[1]) / 1000


def syslog_ts(text: str) -> float:
    """``Nov 21 09:33:18`` in 2026 -> epoch seconds."""
    d = datetime.datetime.strptime("2026 " + text, "%Y %b %d %H:%M:%S")
    return float(calendar.timegm(d.timetuple()))


def rec(
    client: str,
    date: str,
    frontend: str,
    backend: str,
    server: str,
    timers: str,
    status: int,
    size: int,
    term: str,
    conns: str,
    queues: str,
    request: bytes | None,
    **extra: Any,
) -> HttpLogRecord:
    ip, port = client.rsplit(":", 1)
    tr, tw, tc, trs, ta = (int(x) for x in timers.split("/"))
    ac, fc, bc, sc, rc = conns.split("/")
    sq, bq = (int(x) for x in queues.split("/"))
    return HttpLogRecord(
        client_ip=ip,
        client_port=int(port),
        accept_time=ts(date),
        frontend=frontend,
        backend=backend,
        server=server,
        tr=tr,
        tw=tw,
        tc=tc,
        tr_server=trs,
        ta=ta,
        status=status,
        bytes_read=size,
        termination=term,
        actconn=int(ac),
        feconn=int(fc),
        beconn=int(bc),
        srv_conn=int(sc),
        retries=int(rc.lstrip("+")),
        redispatched=rc.startswith("+"),
        srv_queue=sq,
        backend_queue=bq,
        request_line=request,
        **extra,
    )


SAMPLES: list[tuple[str, int, HttpLogRecord]] = [
    (
        '<134>Nov 21 09:32:58 haproxy[11792]: 127.0.0.1:41784 [21/Nov/2026:09:32:58.309] fe '
        'be_stk/s2 0/0/0/6/6 200 328 - - ---- 1/1/0/0/0 0/0 "GET /stk/a HTTP/1.1"',
        11792,
        rec(
            "127.0.0.1:41784", "21/Nov/2026:09:32:58.309", "fe", "be_stk", "s2", "0/0/0/6/6",
            200, 328, "----", "1/1/0/0/0", "0/0", b"GET /stk/a HTTP/1.1",
        ),
    ),
    (
        "<134>Nov 21 09:33:18 haproxy[12376]: 127.0.0.1:41146 [21/Nov/2026:09:33:18.836] fe "
        "be_ins/s2 0/0/0/0/0 200 373 - - --NI 1/1/0/0/0 0/0 "
        '"GET /ins/a?lm=Mon,%2001%20Jan%202024%2000:00:00%20GMT HTTP/1.1"',
        12376,
        rec(
            "127.0.0.1:41146", "21/Nov/2026:09:33:18.836", "fe", "be_ins", "s2", "0/0/0/0/0",
            200, 373, "--NI", "1/1/0/0/0", "0/0",
            b"GET /ins/a?lm=Mon,%2001%20Jan%202024%2000:00:00%20GMT HTTP/1.1",
        ),
    ),
    (
        "<134>Nov 21 09:33:28 haproxy[12376]: 127.0.0.1:59246 [21/Nov/2026:09:33:28.467] fe "
        'fe/<NOSRV> 0/-1/-1/-1/0 302 116 - - LR-- 1/1/0/0/0 0/0 "GET /redir/a?b=c HTTP/1.1"',
        12376,
        rec(
            "127.0.0.1:59246", "21/Nov/2026:09:33:28.467", "fe", "fe", "<NOSRV>", "0/-1/-1/-1/0",
            302, 116, "LR--", "1/1/0/0/0", "0/0", b"GET /redir/a?b=c HTTP/1.1",
        ),
    ),
    (
        "<134>Nov 21 09:33:28 haproxy[12376]: 127.0.0.1:59254 [21/Nov/2026:09:33:28.559] fe "
        'fe/<NOSRV> 0/-1/-1/-1/0 302 101 - - LR-- 1/1/0/0/0 0/0 "GET /redir/a?b=c HTTP/1.0"',
        12376,
        rec(
            "127.0.0.1:59254", "21/Nov/2026:09:33:28.559", "fe", "fe", "<NOSRV>", "0/-1/-1/-1/0",
            302, 101, "LR--", "1/1/0/0/0", "0/0", b"GET /redir/a?b=c HTTP/1.0",
        ),
    ),
    (
        "<134>Nov 21 09:33:33 haproxy[12376]: 127.0.0.1:59256 [21/Nov/2026:09:33:31.958] fe "
        "be_q/s1 0/0/0/2001/2001 200 294 - - ---- 4/4/3/0/0 0/0 "
        '"GET /q/1?sleep=2 HTTP/1.1"',
        12376,
        rec(
            "127.0.0.1:59256", "21/Nov/2026:09:33:31.958", "fe", "be_q", "s1",
            "0/0/0/2001/2001", 200, 294, "----", "4/4/3/0/0", "0/0", b"GET /q/1?sleep=2 HTTP/1.1",
        ),
    ),
    (
        "<134>Nov 21 09:33:35 haproxy[12376]: 127.0.0.1:59282 [21/Nov/2026:09:33:32.164] fe "
        "be_q/<NOSRV> 0/3001/-1/-1/3001 503 217 - - sQ-- 3/3/2/0/0 0/2 "
        '"GET /q/3?sleep=2 HTTP/1.1"',
        12376,
        rec(
            "127.0.0.1:59282", "21/Nov/2026:09:33:32.164", "fe", "be_q", "<NOSRV>",
            "0/3001/-1/-1/3001", 503, 217, "sQ--", "3/3/2/0/0", "0/2",
            b"GET /q/3?sleep=2 HTTP/1.1",
        ),
    ),
    (
        "<134>Nov 21 09:33:35 haproxy[12376]: 127.0.0.1:59266 [21/Nov/2026:09:33:32.061] fe "
        "be_q/s1 0/1898/4/2000/3903 200 294 - - ---- 1/1/0/0/0 0/1 "
        '"GET /q/2?sleep=2 HTTP/1.1"',
        12376,
        rec(
            "127.0.0.1:59266", "21/Nov/2026:09:33:32.061", "fe", "be_q", "s1",
            "0/1898/4/2000/3903", 200, 294, "----", "1/1/0/0/0", "0/1",
            b"GET /q/2?sleep=2 HTTP/1.1",
        ),
    ),
    (
        "<134>Nov 21 09:33:46 haproxy[12376]: 127.0.0.1:54232 [21/Nov/2026:09:33:46.509] stats "
        'stats/<STATS> 0/0/0/-1/0 400 461 - - LR-- 1/1/0/0/0 0/0 "GET /haproxy?stats HTTP/1.1"',
        12376,
        rec(
            "127.0.0.1:54232", "21/Nov/2026:09:33:46.509", "stats", "stats", "<STATS>",
            "0/0/0/-1/0", 400, 461, "LR--", "1/1/0/0/0", "0/0", b"GET /haproxy?stats HTTP/1.1",
        ),
    ),
    (
        "<134>Nov 21 09:37:02 haproxy[18537]: 127.0.0.1:37926 [21/Nov/2026:09:37:02.457] stats "
        'stats/<STATS> 0/0/0/0/0 303 129 - - LR-- 1/1/0/0/0 0/0 "POST /haproxy?stats HTTP/1.1"',
        18537,
        rec(
            "127.0.0.1:37926", "21/Nov/2026:09:37:02.457", "stats", "stats", "<STATS>",
            "0/0/0/0/0", 303, 129, "LR--", "1/1/0/0/0", "0/0", b"POST /haproxy?stats HTTP/1.1",
        ),
    ),
    (
        "<134>Nov 21 09:35:12 haproxy[19228]: 127.0.0.1:40690 [21/Nov/2026:09:35:11.046] fe3 "
        "be_redisp/b 0/1001/0/2/1003 200 291 - - --DI 1/1/0/0/+2 0/0 "
        '"GET /redisp/x HTTP/1.1"',
        19228,
        rec(
            "127.0.0.1:40690", "21/Nov/2026:09:35:11.046", "fe3", "be_redisp", "b",
            "0/1001/0/2/1003", 200, 291, "--DI", "1/1/0/0/+2", "0/0", b"GET /redisp/x HTTP/1.1",
        ),
    ),
    (
        "<134>Nov 21 09:35:14 haproxy[19228]: 127.0.0.1:40694 [21/Nov/2026:09:35:12.061] fe3 "
        "be_noredisp/a 0/0/-1/-1/2001 503 217 - - SCVN 1/1/0/0/2 0/0 "
        '"GET /noredisp/x HTTP/1.1"',
        19228,
        rec(
            "127.0.0.1:40694", "21/Nov/2026:09:35:12.061", "fe3", "be_noredisp", "a",
            "0/0/-1/-1/2001", 503, 217, "SCVN", "1/1/0/0/2", "0/0", b"GET /noredisp/x HTTP/1.1",
        ),
    ),
]  # fmt: skip


@pytest.mark.parametrize(("line", "pid", "record"), SAMPLES, ids=[s[0][36:70] for s in SAMPLES])
def test_samples(line: str, pid: int, record: HttpLogRecord) -> None:
    head, _, msg = line.partition(": ")
    assert format_httplog(record) == msg
    stamp = syslog_ts(head.split(">", 1)[1].split(" haproxy")[0])
    assert syslog_message("local0", "info", stamp, pid, msg) == line.encode() + b"\n"


CAPTURED = [
    # capture request header Host len 20 / X-A len 10, capture response header Content-Type,
    # capture cookie SRV len 32, option logasap
    (
        "127.0.0.1:47964 [21/Nov/2026:10:28:17.134] fe2 be/s1 0/0/0/0/+0 200 +76 SRV=abc - "
        '---- 2/1/1/1/0 0/0 {h#7B1#7D#7C#22#23|} {text/plain} "GET /cap HTTP/1.1"',
        rec(
            "127.0.0.1:47964", "21/Nov/2026:10:28:17.134", "fe2", "be", "s1", "0/0/0/0/0",
            200, 76, "----", "2/1/1/1/0", "0/0", b"GET /cap HTTP/1.1",
            logasap=True, request_cookie="SRV=abc",
            request_captures=(b'h{1}|"#', None), response_captures=(b"text/plain",),
        ),
    ),
    # a request the parser rejected
    (
        "127.0.0.1:34148 [21/Nov/2026:10:28:17.133] fe fe/<NOSRV> -1/-1/-1/-1/0 400 0 - - "
        'PR-- 1/1/0/0/0 0/0 "<BADREQ>"',
        rec(
            "127.0.0.1:34148", "21/Nov/2026:10:28:17.133", "fe", "fe", "<NOSRV>",
            "-1/-1/-1/-1/0", 400, 0, "PR--", "1/1/0/0/0", "0/0", None,
        ),
    ),
    # option accept-invalid-http-request: '"', '#' and bytes >= 0x7f escaped, "{|}" kept
    (
        "127.0.0.1:43040 [21/Nov/2026:10:28:33.223] fe be/s1 0/0/0/0/0 400 191 - - ---- "
        '1/1/0/0/0 0/0 "GET /a#22b#23c{|}?x=#E9 HTTP/1.1"',
        rec(
            "127.0.0.1:43040", "21/Nov/2026:10:28:33.223", "fe", "be", "s1", "0/0/0/0/0",
            400, 191, "----", "1/1/0/0/0", "0/0", b'GET /a"b#c{|}?x=\xe9 HTTP/1.1',
        ),
    ),
]  # fmt: skip


@pytest.mark.parametrize(("msg", "record"), CAPTURED)
def test_captured(msg: str, record: HttpLogRecord) -> None:
    assert format_httplog(record) == msg


def test_long_line_cut_at_1024_bytes() -> None:
    """Received from 2.6.12: a 1100-byte URI; the datagram is 1024 bytes plus ``\\n``."""
    r = rec(
        "127.0.0.1:43050", "21/Nov/2026:10:28:33.224", "fe", "be", "s1", "0/0/0/0/0",
        200, 76, "----", "2/1/0/0/0", "0/0", b"GET /" + b"x" * 1100 + b" HTTP/1.1",
    )  # fmt: skip
    data = syslog_message("local0", "info", syslog_ts("Nov 21 10:28:33"), 10889, format_httplog(r))
    head = (
        b"<134>Nov 21 10:28:33 haproxy[10889]: 127.0.0.1:43050 [21/Nov/2026:10:28:33.224] fe "
        b'be/s1 0/0/0/0/0 200 76 - - ---- 2/1/0/0/0 0/0 "GET /'
    )
    assert data == head + b"x" * (1024 - len(head)) + b"\n"


def test_request_line_limits() -> None:
    r = rec(
        "10.0.0.1:1", "01/Nov/2026:00:00:00.000", "fe", "be", "s", "0/0/0/0/0",
        200, 1, TS_NORMAL, "0/0/0/0/0", "0/0", b"GET /" + b"y" * 2000,
    )  # fmt: skip
    assert format_httplog(r).endswith('"GET /' + "y" * 1018 + '"')  # 1023 bytes kept
    r.request_line = b"GET /a\x00b HTTP/1.1"
    assert format_httplog(r).endswith('"GET /a"')  # C string: stops at NUL
    r.request_line = b"GET /\x01\x7f HTTP/1.1"
    assert format_httplog(r).endswith('"GET /#01#7F HTTP/1.1"')


def test_flags_and_defaults() -> None:
    r = HttpLogRecord("::1", 5000, ts("01/Nov/2026:07:08:09.010"), "fe", "be")
    assert format_httplog(r) == (
        "::1:5000 [01/Nov/2026:07:08:09.010] fe be/<NOSRV> -1/-1/-1/-1/-1 -1 0 - - ---- "
        '0/0/0/0/0 0/0 "<BADREQ>"'
    )
    r.frontend_ssl = True
    r.request_cookie = ""
    r.redispatched = True
    r.retries = 1
    assert " fe~ be/<NOSRV> " in format_httplog(r)
    assert " -1 0 - - ---- 0/0/0/0/+1 0/0 " in format_httplog(r)


def test_accept_date() -> None:
    t = ts("21/Nov/2026:09:33:18.836")
    assert format_accept_date(t) == "21/Nov/2026:09:33:18.836"
    assert format_accept_date(t + 0.0009) == "21/Nov/2026:09:33:18.836"  # truncated
    assert format_accept_date(1795253598.999999) == "21/Nov/2026:09:33:18.999"
    plus2 = datetime.timezone(datetime.timedelta(hours=2))
    assert format_accept_date(t, plus2) == "21/Nov/2026:11:33:18.836"


def test_local_time_follows_tz(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "UTC-2")  # POSIX: two hours east of UTC
    time.tzset()
    t = ts("21/Nov/2026:23:33:18.836")
    assert format_accept_date(t) == "22/Nov/2026:01:33:18.836"
    assert syslog_message("local0", "info", t, 1, "x") == b"<134>Nov 22 01:33:18 haproxy[1]: x\n"


def test_syslog_framing() -> None:
    t = ts("01/Nov/2026:07:08:09.500")
    assert syslog_message("local0", "info", t, 42, "m") == b"<134>Nov  1 07:08:09 haproxy[42]: m\n"
    # server/health events from the samples
    assert syslog_message("local0", "alert", t, 1, "x").startswith(b"<129>")
    assert syslog_message("local0", "emerg", t, 1, "x").startswith(b"<128>")
    assert syslog_message("local0", "notice", t, 1, "x").startswith(b"<133>")
    assert syslog_message("local0", "warning", t, 1, "x").startswith(b"<132>")
    assert syslog_message("kern", "emerg", t, 1, "x").startswith(b"<0>")
    assert syslog_message("local7", "debug", t, 1, "x").startswith(b"<191>")
    assert syslog_message("daemon", "err", t, 7, b"raw", tag="stack", hostname="lb1") == (
        b"<27>Nov  1 07:08:09 lb1 stack[7]: raw\n"
    )
    assert len(syslog_message("user", "info", t, 1, "z" * 5000, maxlen=100)) == 101
    assert FACILITIES["local0"] == 16 and LEVELS["info"] == 6
    with pytest.raises(KeyError):
        syslog_message("nope", "info", t, 1, "x")


def test_sample_server_events() -> None:
    line = (
        "<129>Nov 21 09:32:47 haproxy[11792]: Server be_dead/d1 is DOWN, reason: Layer4 "
        'connection problem, info: "Connection refused", check duration: 0ms. 0 active and 0 '
        "backup servers left. 0 sessions active, 0 requeued, 0 remaining in queue."
    )
    msg = line.partition(": ")[2]
    stamp = syslog_ts("Nov 21 09:32:47")
    assert syslog_message("local0", "alert", stamp, 11792, msg) == line.encode() + b"\n"


def test_termination_state() -> None:
    assert termination_state() == TS_NORMAL
    assert termination_state("L", "R") == TS_LOCAL
    assert termination_state("s", "Q") == TS_SERVER_TIMEOUT_QUEUE
    assert termination_state("S", "C", "V", "N") == "SCVN"
    assert termination_state(cookie="D", set_cookie="I") == "--DI"
    for bad in (("X", "-"), ("-", "Z"), ("--", "-")):
        with pytest.raises(ValueError):
            termination_state(*bad)


# --- %B: HAProxy counts its HTX message (values captured from HAProxy 2.6.12) --------------------


@pytest.mark.parametrize(
    ("headers", "body", "chunked", "expected"),
    [
        ([(b"content-length", b"5"), (b"x-foo", b"bar")], 5, False, 62),
        ([(b"transfer-encoding", b"chunked"), (b"x-foo", b"bar")], 8, True, 75),
        (  # the server's Connection header is not part of the message
            [
                (b"content-length", b"5"),
                (b"connection", b"keep-alive"),
                (b"keep-alive", b"timeout=5"),
            ],
            5,
            False,
            73,
        ),
    ],
)
def test_percent_b_of_a_forwarded_response(headers, body, chunked, expected) -> None:
    assert htx_response_size(b"HTTP/1.1", b"200", b"OK", headers, body, chunked) == expected


def test_percent_b_of_generated_pages() -> None:
    redirect = (
        b"HTTP/1.1 302 Found\r\ncontent-length: 0\r\n"
        b"location: https://www.example.com/redir/a?b=c\r\ncache-control: no-cache\r\n\r\n"
    )
    assert htx_page_size(redirect) == 116
    http10 = (
        b"HTTP/1.1 302 Found\r\ncontent-length: 0\r\nlocation: https:///redir/a?b=c\r\n"
        b"cache-control: no-cache\r\nconnection: close\r\n\r\n"
    )
    assert htx_page_size(http10) == 101  # the H1 layer's connection: close is not counted
    assert htx_page_size(builtin_error(503)) == 217
    assert htx_page_size(b"") == 0
