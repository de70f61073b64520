"""Health checks as HAProxy 2.6 runs them, without sockets or clocks.

Everything a checker decides lives here as plain values: the health counter and its timers
(src/check.c ``set_server_check_status``, src/server.c ``srv_getinter``), the request bytes an
``option httpchk`` check puts on the wire (src/tcpcheck.c ``tcpcheck_eval_send`` as formatted by
the HTTP/1 mux), how a response is judged (``tcpcheck_eval_expect_http``), the check statuses
with their log wording (``check_statuses``, ``srv_append_status``), the log lines themselves, the
first-check spreading and ``spread-checks`` jitter, and the ``slowstart`` ramp. The Twisted side
(``stack.balancer.checker``) only moves bytes and reads the clock.

Times are seconds as floats, like the rest of the configuration model; HAProxy's millisecond
integer arithmetic is reproduced where it shows (first-check offsets, jitter, durations).
"""

from __future__ import annotations

import math
import os
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from typing import cast

from stack.config.model import ConnectionMode, HttpCheck, HttpCheckExpect, Server
from stack.http import h1
from stack.http.message import Response

# HAProxy's tune.bufsize: what a check may read of a response, head included.
TUNE_BUFSIZE = 16384
# include/haproxy/defaults.h: checks with a shorter interval do not dictate the start spreading.
SRV_CHK_INTER_THRES = 1.0
# src/check.c: a check's description (the "info" of the logs) is cut to HCHK_DESC_LEN - 1.
HCHK_DESC_LEN = 128
# include/haproxy/backend-t.h: eweight = uweight * BE_WEIGHT_SCALE for dynamic algorithms.
BE_WEIGHT_SCALE = 16

# -- check statuses --------------------------------------------------------------------------------

# code -> (description used after "reason: ", passed, the HTTP code is shown). The "code" is
# printed for the statuses HAProxy ranks at or above HCHK_STATUS_L57DATA (layer 5-7 data seen).
STATUSES: dict[str, tuple[str, bool, bool]] = {
    "SOCKERR": ("Socket error", False, False),
    "L4OK": ("Layer4 check passed", True, False),
    "L4TOUT": ("Layer4 timeout", False, False),
    "L4CON": ("Layer4 connection problem", False, False),
    "L6OK": ("Layer6 check passed", True, False),
    "L6TOUT": ("Layer6 timeout", False, False),
    "L6RSP": ("Layer6 invalid response", False, False),
    "L7TOUT": ("Layer7 timeout", False, False),
    "L7RSP": ("Layer7 invalid response", False, False),
    "L7OK": ("Layer7 check passed", True, True),
    "L7OKC": ("Layer7 check conditionally passed", True, True),
    "L7STS": ("Layer7 wrong status", False, True),
}

# conn_err_code_str() texts for the TLS handshake failures a check reports as L6RSP.
SSL_HANDSHAKE_FAILURE = "SSL handshake failure"
SSL_CLOSED_IN_HANDSHAKE = "Connection closed during SSL handshake"
SSL_ERROR_IN_HANDSHAKE = "Connection error during SSL handshake"


def _ascii_encode(text: str) -> str:
    """``chunk_asciiencode(..., '"')``: non-printable bytes, ``<``, ``>`` and ``"`` as ``<XX>``."""
    out = []
    for byte in text.encode("latin-1", "replace"):
        if byte < 0x20 or byte > 0x7E or byte in (0x3C, 0x3E, 0x22):
            out.append(f"<{byte:02X}>")
        else:
            out.append(chr(byte))
    return "".join(out)


@dataclass(frozen=True, slots=True)
class CheckResult:
    """The outcome of one check: HAProxy's status code (``L7OK``, ``L4CON``...), the HTTP status
    when one was read, and the free-text ``info`` (the check's "desc")."""

    status: str
    code: int | None = None
    info: str = ""

    @property
    def passed(self) -> bool:
        return STATUSES[self.status][1]

    @property
    def description(self) -> str:
        """``Layer7 wrong status``, ``Layer4 connection problem``..."""
        return STATUSES[self.status][0]

    def reason(self, duration_ms: int | None) -> str:
        """What ``srv_append_status`` writes after ``reason: ``, e.g.
        ``Layer7 wrong status, code: 503, info: "Service Unavailable", check duration: 1ms``;
        ``duration_ms`` ``None`` (or negative) leaves the duration out."""
        desc, _passed, with_code = STATUSES[self.status]
        text = desc
        if with_code:
            text += f", code: {self.code if self.code is not None else 0}"
        info = self.info[: HCHK_DESC_LEN - 1]
        if info:
            text += f', info: "{_ascii_encode(info)}"'
        if duration_ms is not None and duration_ms >= 0:
            text += f", check duration: {duration_ms}ms"
        return text


def connected(tls: bool) -> CheckResult:
    """A connect-only check that got through: L4OK, or L6OK once the TLS handshake is done."""
    return CheckResult("L6OK" if tls else "L4OK")


def connect_failure(errno_: int | None, message: str = "") -> CheckResult:
    """The connect failed (``L4CON``); the info is ``strerror(errno)`` as HAProxy prints it
    (``Connection refused``), else ``message``."""
    info = os.strerror(errno_) if errno_ else message
    return CheckResult("L4CON", info=info)


def socket_error(errno_: int | None) -> CheckResult:
    """An I/O error on an established connection before anything was read (``SOCKERR``),
    e.g. ``Connection reset by peer``."""
    return CheckResult("SOCKERR", info=os.strerror(errno_) if errno_ else "")


def tls_failure(info: str = SSL_HANDSHAKE_FAILURE) -> CheckResult:
    """The TLS handshake failed (``L6RSP``)."""
    return CheckResult("L6RSP", info=info)


class Stage(Enum):
    """Where a running check is, which decides what its timeout is called."""

    CONNECTING = "connecting"
    HANDSHAKE = "handshake"
    EXCHANGE = "exchange"


def timed_out(stage: Stage) -> CheckResult:
    """``chk_report_conn_err`` on expiry: L4TOUT before the connection is up, L6TOUT during the
    TLS handshake, L7TOUT waiting for the response. HAProxy gives no info for these."""
    if stage is Stage.CONNECTING:
        return CheckResult("L4TOUT")
    if stage is Stage.HANDSHAKE:
        return CheckResult("L6TOUT")
    return CheckResult("L7TOUT")


# -- the health counter and its timers ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Transition:
    """The server changed state because of a check: ``up`` is the new state."""

    up: bool


class HealthState:
    """HAProxy's ``check->health``: 0 .. rise+fall-1, UP when at least ``rise``.

    It starts at ``rise`` (src/server.c), so a fresh server is UP and one failed check takes it
    DOWN; a failure below ``rise`` drops it to 0, a success reaching ``rise`` jumps to
    rise+fall-1, so a fully UP server needs ``fall`` failures and a DOWN one ``rise``
    successes. ``status`` is the last check status (``INI`` before any).
    """

    __slots__ = ("changed", "fall", "health", "rise", "status")

    def __init__(self, rise: int, fall: int) -> None:
        self.rise = rise
        self.fall = fall
        self.health = rise
        self.status = "INI"
        self.changed = False  # did the last record() move the counter (HAProxy's "report")

    @property
    def up(self) -> bool:
        return self.health >= self.rise

    @property
    def fully_up(self) -> bool:
        return self.health == self.rise + self.fall - 1

    def record(self, ok: bool) -> Transition | None:
        """Count one check result; returns the state change it causes, if any."""
        was_up = self.up
        self.changed = False
        if ok:
            if self.health < self.rise + self.fall - 1:
                self.changed = True
                self.health += 1
                if self.health >= self.rise:
                    self.health = self.rise + self.fall - 1
        elif self.health > 0:
            self.changed = True
            self.health -= 1
            if self.health < self.rise:
                self.health = 0
        if self.up != was_up:
            return Transition(self.up)
        return None

    def observe(self, result: CheckResult) -> tuple[bool, Transition | None]:
        """Record a check result. Returns whether ``option log-health-checks`` logs it (the
        status changed or the counter moved) and the state change, if any."""
        transition = self.record(result.passed)
        log = result.status != self.status or self.changed
        self.status = result.status
        return log, transition

    def next_interval(self, config: Server) -> float:
        """``srv_getinter``: ``inter`` when fully UP, ``downinter`` when fully DOWN, otherwise
        (going up or down, or never checked) ``fastinter``; each defaults to ``inter``."""
        if self.fully_up:
            return config.inter
        if self.health == 0:
            return config.downinter or config.inter
        return config.fastinter or config.inter

    def status_text(self, weight: int = 1) -> str:
        """``0/2 DOWN``, ``1/2 DOWN``, ``3/3 UP`` (``DRAIN`` for a weight-0 server that is up)."""
        if self.up:
            label = "UP" if weight else "DRAIN"
            return f"{self.health - self.rise + 1}/{self.fall} {label}"
        return f"{self.health}/{self.rise} DOWN"


# -- scheduling -----------------------------------------------------------------------------------


def _ms(seconds: float) -> int:
    return round(seconds * 1000)


def startup_interval(config: Server) -> float:
    """The interval ``srv_getinter`` gives before the first check (health = rise)."""
    return HealthState(config.rise, config.fall).next_interval(config)


def first_check_delays(servers: Sequence[Server]) -> list[float]:
    """When each check first runs after start (``start_checks``/``start_check_task``).

    HAProxy numbers every check of the process in configuration order (``srvpos`` out of
    ``nbcheck``) and takes ``mininter``, the smallest start-up interval of at least one second;
    check k starts ``max(mininter, its own interval) * k / nbcheck`` ms after start. Pass all
    the checked servers of all backends, in order, to reproduce it process-wide.
    """
    intervals = [_ms(startup_interval(s)) for s in servers]
    thres = _ms(SRV_CHK_INTER_THRES)
    mininter = min((i for i in intervals if i >= thres), default=0)
    count = len(intervals)
    return [max(mininter, i) * pos // count / 1000 for pos, i in enumerate(intervals)]


def spread_interval(interval: float, spread_checks: int, rng: random.Random) -> float:
    """The delay before the next check: the interval with global ``spread-checks`` N% applied
    as HAProxy does (``rv = inter * N / 100``, then ``rv -= 2 * rv * random``)."""
    inter = _ms(interval)
    rv = 0
    if spread_checks > 0:
        rv = inter * spread_checks // 100
        rv -= int(2 * rv * rng.random())
    return (inter + rv) / 1000


def check_timeouts(
    config: Server, connect_timeout: float | None, check_timeout: float | None
) -> tuple[float, float | None]:
    """``(connect, after_connect)`` for one check (src/tcpcheck.c ``tcpcheck_eval_connect``).

    Without ``timeout check`` the server's ``inter`` bounds the whole check (``after_connect``
    is ``None``: the connect deadline keeps running). With it, the connection (TLS handshake
    included) gets min(``inter``, ``timeout connect``) and then ``timeout check`` starts.
    """
    inter = config.inter
    if check_timeout:
        connect = min(inter, connect_timeout) if connect_timeout else inter
        return connect, check_timeout
    return inter, None


# -- the HTTP request ------------------------------------------------------------------------------

_NO_LENGTH_METHODS = frozenset({"OPTIONS", "GET", "HEAD", "DELETE"})


def _line_ver11(version: str) -> bool:
    """tcpcheck's HTX_SL_F_VER_11: "HTTP/2", or "HTTP/x.y" at or above 1.1."""
    return (len(version) == 6 and version[5] == "2") or (
        len(version) == 8 and (version[5] > "1" or (version[5] == "1" and version[7] >= "1"))
    )


def _mux_ver11(version: str) -> bool:
    """The H1 mux's H1_MF_VER_11 (``h1_parse_req_vsn``): "HTTP/x.y" at or above 1.1 only."""
    return len(version) == 8 and (version[5] > "1" or (version[5] == "1" and version[7] >= "1"))


def _clean_connection(value: bytes) -> tuple[bytes, set[bytes]]:
    """``h1_parse_connection_header`` with H1_MF_CLEAN_CONN_HDR: the value without its
    ``close``/``keep-alive`` tokens (kept text untouched until a token is dropped, then the
    remaining ones joined with ","), and the tokens seen."""
    flags: set[bytes] = set()
    out = b""
    rewritten = False
    pos = 0
    for word_raw in value.split(b","):
        start = pos
        pos += len(word_raw) + 1
        word = word_raw.strip(b" \t")
        if not word:
            continue
        lower = word.lower()
        if lower in (b"close", b"keep-alive", b"upgrade"):
            flags.add(lower)
        if lower in (b"close", b"keep-alive"):
            rewritten = True
            continue
        if not rewritten:  # untouched so far: keep the original text up to this word
            out = value[: start + len(word_raw)]
            continue
        out = out + b"," + word if out else word
    return out, flags


def http_check_request(
    check: HttpCheck,
    server_address: str = "",
    connection_mode: ConnectionMode = ConnectionMode.KEEP_ALIVE,
) -> bytes:
    """The bytes HAProxy 2.6 sends for ``option httpchk`` (+ ``http-check send``).

    As observed: the defaults give ``OPTIONS / HTTP/1.0`` and no header at all; an HTTP/1.1
    check adds ``connection: close`` after the configured headers (HAProxy's HTX adds
    ``Connection: close`` and the H1 mux, which owns that header, writes it back only where
    HTTP/1.1 needs it). Header names go out lowercased, values as configured (headers with an
    empty value are skipped). ``content-length`` is sent when there is a body, or for methods
    other than OPTIONS/GET/HEAD/DELETE (2.6.10+, "Skip C-L header for empty body").

    ``server_address`` is unused: 2.6 never adds a Host header of its own (``option httpchk``'s
    ``<host>`` argument came later). ``connection_mode`` matters only when a configured
    ``Connection`` header has neither ``close`` nor ``keep-alive``. Header values are literal
    (HAProxy would expand ``%[...]`` log-format expressions in them).
    """
    del server_address
    method = check.method or "OPTIONS"
    uri = check.uri or "/"
    version = check.version or "HTTP/1.0"
    line_version = "HTTP/1.1" if _line_ver11(version) else version
    out = [f"{method} {uri} {line_version}\r\n".encode("latin-1")]
    conn_flags: set[bytes] = set()
    user_connection = False
    for name, value in check.headers:
        if not value:
            continue
        lname = name.lower()
        if lname == b"connection":
            user_connection = True
            value, flags = _clean_connection(value)
            conn_flags |= flags
            if not value:
                continue
        out.append(lname + b": " + value + b"\r\n")
    if not user_connection:
        conn_flags.add(b"close")  # the Connection: close tcpcheck adds itself
    body = check.body
    if body or method not in _NO_LENGTH_METHODS:
        out.append(b"content-length: %d\r\n" % len(body))
    if b"upgrade" not in conn_flags:
        if b"close" in conn_flags:
            close = True
        elif b"keep-alive" in conn_flags:
            close = False
        else:
            close = connection_mode is not ConnectionMode.KEEP_ALIVE
        ver11 = _mux_ver11(version)
        if close and ver11:
            out.append(b"connection: close\r\n")
        elif not close and not ver11:
            out.append(b"connection: keep-alive\r\n")
    out.append(b"\r\n")
    out.append(body)
    return b"".join(out)


# -- judging the response --------------------------------------------------------------------------

DEFAULT_EXPECT = HttpCheckExpect(kind="status", statuses=((200, 399),))


def needs_body(check: HttpCheck) -> bool:
    """Whether the expect rule looks at the body (``string``/``rstring``)."""
    expect = check.expect or DEFAULT_EXPECT
    return expect.kind in ("string", "rstring")


def _body_match(expect: HttpCheckExpect, body: bytes) -> bool:
    if expect.kind == "string":
        return expect.text in body
    return cast("re.Pattern[bytes]", expect.regex).search(body) is not None


def evaluate_http_response(
    check: HttpCheck, status: int, reason: bytes, body: bytes
) -> CheckResult:
    """Judge a complete response as ``tcpcheck_eval_expect_http`` does.

    No ``http-check expect`` means ``status 200-399``. Status rules fail with ``L7STS`` and the
    reason phrase as info; body rules with ``L7RSP`` and HAProxy's fixed texts. A pass is
    ``L7OK`` with no info. ``!`` inverts the match.
    """
    expect = check.expect or DEFAULT_EXPECT
    text = reason.decode("latin-1")
    if expect.kind == "status":
        match = any(low <= status <= high for low, high in expect.statuses)
        failure = CheckResult("L7STS", status, text)
    elif expect.kind == "rstatus":
        pattern = cast("re.Pattern[bytes]", expect.regex)
        match = pattern.search(b"%d" % status) is not None
        failure = CheckResult("L7STS", status, text)
    elif expect.kind in ("string", "rstring"):
        if not body:
            return CheckResult("L7RSP", status, "HTTP content check could not find a response body")
        match = _body_match(expect, body)
        info = (
            "HTTP check matched unwanted content"
            if expect.negate
            else "HTTP content check did not match"
        )
        failure = CheckResult("L7RSP", status, info)
    else:
        return CheckResult("L7RSP", status)
    if match == expect.negate:
        return failure
    return CheckResult("L7OK", status)


class HttpCheckExchange:
    """The response side of one HTTP check: feed the bytes read, get a result when HAProxy
    would have one.

    Status rules are decided as soon as the head is parsed; body rules when the body matches
    (a ``!`` rule then fails at once), or when the response ends, the server closes or
    ``TUNE_BUFSIZE`` bytes have been read. Malformed or truncated heads give ``L7RSP``.
    """

    __slots__ = (
        "_body",
        "_check",
        "_complete",
        "_needs_body",
        "_parser",
        "_received",
        "_response",
        "result",
    )

    def __init__(self, check: HttpCheck) -> None:
        self._check = check
        self._needs_body = needs_body(check)
        self._parser = h1.ResponseParser(self)
        self._parser.expect_response(head=check.method == "HEAD")
        self._response: Response | None = None
        self._body: list[bytes] = []
        self._received = 0
        self._complete = False
        self.result: CheckResult | None = None

    def feed(self, data: bytes) -> CheckResult | None:
        """Bytes from the server; returns the result once decided."""
        if self.result is not None:
            return self.result
        room = TUNE_BUFSIZE - self._received
        full = len(data) >= room
        data = data[:room]
        self._received += len(data)
        try:
            self._parser.feed(data)
        except h1.ProtocolError:
            return self._decide(CheckResult("L7RSP"))
        response = self._response
        if response is None:
            return self._decide(CheckResult("L7RSP")) if full else None
        if not self._needs_body or self._complete or full:
            return self._evaluate()
        body = b"".join(self._body)
        expect = self._check.expect or DEFAULT_EXPECT
        if body and _body_match(expect, body):
            return self._evaluate()
        return None

    def closed(self, errno_: int | None = None) -> CheckResult:
        """The server closed (``errno_`` set for an error such as a reset)."""
        if self.result is not None:
            return self.result
        if self._response is None:
            if self._received == 0 and errno_:
                return self._decide(socket_error(errno_))
            return self._decide(CheckResult("L7RSP"))
        return self._evaluate()

    def _evaluate(self) -> CheckResult:
        response = self._response
        assert response is not None
        body = b"".join(self._body)
        return self._decide(
            evaluate_http_response(self._check, response.status, response.reason, body)
        )

    def _decide(self, result: CheckResult) -> CheckResult:
        self.result = result
        return result

    # ResponseSink
    def response_received(self, response: Response) -> None:
        if 100 <= response.status < 200 and response.status != 101:
            return  # interim response: the final one follows
        self._response = response

    def response_body(self, data: bytes) -> None:
        if self._response is not None:
            self._body.append(data)

    def response_complete(self) -> None:
        self._complete = True


# -- log lines -------------------------------------------------------------------------------------


def health_check_line(
    backend: str,
    server: str,
    result: CheckResult,
    duration_ms: int,
    state: HealthState,
    *,
    backup: bool = False,
    weight: int = 1,
) -> str:
    """``Health check for server be/srv failed, reason: ..., check duration: 1ms, status:
    0/2 DOWN.`` (``option log-health-checks``; logged at notice)."""
    if result.status == "L7OKC":
        verdict = "conditionally succeeded"
    else:
        verdict = "succeeded" if result.passed else "failed"
    kind = "backup server" if backup else "server"
    return (
        f"Health check for {kind} {backend}/{server} {verdict}, "
        f"reason: {result.reason(duration_ms)}, status: {state.status_text(weight)}."
    )


def _counts(active: int, backups: int, left: bool) -> str:
    word = "left" if left else "online"
    running = " Running on backup." if backups and not active else ""
    return f". {active} active and {backups} backup servers {word}.{running}"


def server_down_line(
    backend: str,
    server: str,
    *,
    active: int,
    backups: int,
    sessions: int = 0,
    requeued: int = 0,
    queued: int = 0,
    result: CheckResult | None = None,
    duration_ms: int | None = None,
    backup: bool = False,
) -> str:
    """``Server be/srv is DOWN. 0 active and 0 backup servers left. 0 sessions active, 0
    requeued, 0 remaining in queue.`` (alert). ``result`` adds ``, reason: ...`` after DOWN:
    HAProxy does so when ``option log-health-checks`` is off (the reason was not logged yet).
    ``active``/``backups`` are the usable servers after the change."""
    prefix = "Backup Server" if backup else "Server"
    reason = f", reason: {result.reason(duration_ms)}" if result is not None else ""
    return (
        f"{prefix} {backend}/{server} is DOWN{reason}{_counts(active, backups, True)}"
        f" {sessions} sessions active, {requeued} requeued, {queued} remaining in queue."
    )


def server_up_line(
    backend: str,
    server: str,
    *,
    active: int,
    backups: int,
    requeued: int = 0,
    queued: int = 0,
    result: CheckResult | None = None,
    duration_ms: int | None = None,
    backup: bool = False,
) -> str:
    """``Server be/srv is UP. 1 active and 0 backup servers online. 0 sessions requeued, 0
    total in queue.`` (notice); ``result`` as for :func:`server_down_line`."""
    prefix = "Backup Server" if backup else "Server"
    reason = f", reason: {result.reason(duration_ms)}" if result is not None else ""
    return (
        f"{prefix} {backend}/{server} is UP{reason}{_counts(active, backups, False)}"
        f" {requeued} sessions requeued, {queued} total in queue."
    )


def no_server_line(backend: str, kind: str = "backend") -> str:
    """``backend be has no server available!`` (emerg); ``kind`` is ``proxy`` for a
    ``listen`` section, as HAProxy's ``proxy_type_str``."""
    return f"{kind} {backend} has no server available!"


def severity(line: str) -> str:
    """The syslog level HAProxy gives each of the lines above."""
    if line.startswith(("Health check for", "Agent check for")):
        return "notice"
    if line.endswith("has no server available!"):
        return "emerg"
    if " is DOWN" in line:
        return "alert"
    return "notice"


# -- slowstart -------------------------------------------------------------------------------------


def _slowstart_seconds(slowstart: float) -> int:
    """HAProxy stores ``slowstart`` in whole seconds, rounded up."""
    return (_ms(slowstart) + 999) // 1000


def slowstart_weight_factor(elapsed: float, slowstart: float) -> float:
    """The share of its weight a server has ``elapsed`` seconds after going back UP
    (``server_recalc_eweight``, dynamic algorithms): ``w = (16 * elapsed + S) // S`` sixteenths
    with whole seconds, so it starts at 1/16 and grows linearly to 1 at ``S`` seconds."""
    period = _slowstart_seconds(slowstart)
    if period <= 0 or elapsed < 0 or elapsed >= period:
        return 1.0
    w = (BE_WEIGHT_SCALE * math.floor(elapsed) + period) // period
    return min(w, BE_WEIGHT_SCALE) / BE_WEIGHT_SCALE


def slowstart_maxconn(maxconn: int, elapsed: float, slowstart: float) -> int:
    """``srv_dynamic_maxconn`` during slowstart: maxconn * (100 * elapsed / S)%, at least 1."""
    period = _slowstart_seconds(slowstart)
    if period <= 0 or elapsed < 0 or elapsed >= period or not maxconn:
        return maxconn
    ratio = 100 * math.floor(elapsed) // period
    return max(1, maxconn * ratio // 100)


def warmup_interval(slowstart: float) -> float:
    """How often 2.6's warmup task recomputes the weight: ``MAX(1000, slowstart / 20)`` ms
    with ``slowstart`` in seconds, i.e. every second in practice."""
    return max(1000, _slowstart_seconds(slowstart) // 20) / 1000
