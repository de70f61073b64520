"""The figures the stats page, ``show stat`` and Prometheus report, with HAProxy's meaning.

Plain objects, sans IO: the balancer adds to them as requests go; time is passed in as
reactor seconds. One object per frontend, backend and server; a reload hands the same objects
to the new configuration, so the counts go on across it.

Why the rates look the way they do: counting must cost next to nothing per request, so every
figure is a plain int incremented in place. The per-second rates (``rate``, ``req_rate``,
``conn_rate`` and their maxima) are not counted separately: each object remembers its totals
at the start of the current one-second period, and an event only checks whether that period
is over (``now - counters.period >= 1.0``, then :meth:`ProxyCounters.rotate`). Reading a rate
then gives exactly HAProxy's ``read_freq_ctr``: the events of the current period plus the
previous period's, weighted by how much of it still lies inside the sliding second; and a
rate's maximum is the largest count of one period, as HAProxy's ``update_freq_ctr`` return
value feeds ``sps_max``/``rps_max``.
"""

from __future__ import annotations

__all__ = [
    "RATES",
    "TIME_STATS_SAMPLES",
    "FrontendCounters",
    "ProxyCounters",
    "ServerCounters",
    "SessionTimes",
]

TIME_STATS_SAMPLES = 1024  # include/haproxy/defaults.h: the window of qtime/ctime/rtime/ttime

# The totals whose per-second rate the stats report, by index: sessions (``rate``), requests
# (``req_rate``), connections (``conn_rate``).
RATES = ("sessions", "requests", "connections")
SESSIONS, REQUESTS, CONNECTIONS = 0, 1, 2

_NEVER = float("-inf")


class SessionTimes:
    """``qtime``/``ctime``/``rtime``/``ttime``: HAProxy's sliding-window sums (``swrate``,
    src/stream.c ``stream_update_time_stats``) over the last 1024 requests, in integer ms, and
    their maxima. ``add`` takes the object's request count *including* this request, as
    HAProxy reads ``cum_req`` after counting it; ``average`` divides as ``swrate_avg`` with
    the window HAProxy's stats use (the request count while it is below 1024)."""

    __slots__ = (
        "c_sum",
        "ctime_max",
        "d_sum",
        "q_sum",
        "qtime_max",
        "rtime_max",
        "t_sum",
        "ttime_max",
    )

    def __init__(self) -> None:
        self.q_sum = self.c_sum = self.d_sum = self.t_sum = 0
        self.qtime_max = self.ctime_max = self.rtime_max = self.ttime_max = 0

    def add(
        self, samples: int, queue_ms: int, connect_ms: int, data_ms: int, total_ms: int
    ) -> None:
        """One request's queue, connect, response-header and total times (ms)."""
        if samples > TIME_STATS_SAMPLES:  # swrate_add_dynamic: no decay before the window fills
            n = TIME_STATS_SAMPLES
            self.q_sum += queue_ms - (self.q_sum + n - 1) // n
            self.c_sum += connect_ms - (self.c_sum + n - 1) // n
            self.d_sum += data_ms - (self.d_sum + n - 1) // n
            self.t_sum += total_ms - (self.t_sum + n - 1) // n
        else:
            self.q_sum += queue_ms
            self.c_sum += connect_ms
            self.d_sum += data_ms
            self.t_sum += total_ms
        if queue_ms > self.qtime_max:
            self.qtime_max = queue_ms
        if connect_ms > self.ctime_max:
            self.ctime_max = connect_ms
        if data_ms > self.rtime_max:
            self.rtime_max = data_ms
        if total_ms > self.ttime_max:
            self.ttime_max = total_ms

    @staticmethod
    def average(total: int, samples: int) -> int:
        n = samples if 0 < samples < TIME_STATS_SAMPLES else TIME_STATS_SAMPLES
        return (total + n - 1) // n

    def averages(self, samples: int) -> tuple[int, int, int, int]:
        """(qtime, ctime, rtime, ttime) as the stats print them."""
        avg = self.average
        return (
            avg(self.q_sum, samples),
            avg(self.c_sum, samples),
            avg(self.d_sum, samples),
            avg(self.t_sum, samples),
        )


class ProxyCounters:
    """A backend's figures (HAProxy's ``be_counters``), and the base of the others.

    ``sessions`` is ``stot`` (requests given to a server), ``max_sessions`` ``smax``,
    ``requests`` ``req_tot``; ``responses`` holds ``hrsp_1xx`` .. ``hrsp_5xx`` at index 1..5
    and ``hrsp_other`` at 0. Current values (``scur``, ``qcur``) are read from the runtime
    objects, not kept here.
    """

    __slots__ = (
        "bytes_in",
        "bytes_out",
        "cli_aborts",
        "connect",
        "connections",
        "denied_req",
        "denied_resp",
        "down_trans",
        "downtime",
        "failed_conns",
        "failed_req",
        "failed_resp",
        "failed_rewrites",
        "intercepted",
        "internal_errors",
        "last_change",
        "last_session",
        "lbtot",
        "max_queue",
        "max_sessions",
        "period",
        "rate_marks",
        "rate_maxes",
        "rate_prevs",
        "redispatches",
        "requests",
        "responses",
        "retries",
        "reuse",
        "sessions",
        "srv_aborts",
        "times",
        "wire_out",
    )

    def __init__(self) -> None:
        self.sessions = 0
        self.max_sessions = 0
        self.connections = 0  # conn_tot (frontends)
        self.bytes_in = 0  # request bytes as HAProxy counts them (the HTX message)
        self.bytes_out = 0  # response bytes, likewise (the log's %B)
        self.wire_out = 0  # response bytes on the wire, framing included (h1_bytes_out)
        self.denied_req = 0
        self.denied_resp = 0
        self.failed_req = 0  # ereq: invalid requests
        self.failed_conns = 0  # econ
        self.failed_resp = 0  # eresp
        self.failed_rewrites = 0  # wrew
        self.internal_errors = 0  # eint
        self.retries = 0  # wretr
        self.redispatches = 0  # wredis
        self.cli_aborts = 0
        self.srv_aborts = 0
        self.intercepted = 0  # requests answered by the proxy itself (stats, redirects)
        self.requests = 0
        self.responses = [0, 0, 0, 0, 0, 0]
        self.lbtot = 0  # times a server was picked by the balancing algorithm
        self.connect = 0  # connection attempts to servers
        self.reuse = 0  # requests sent over an idle server connection
        self.max_queue = 0
        self.last_session = _NEVER  # reactor time of the last session
        self.last_change = 0.0
        self.down_trans = 0  # chkdown: UP -> DOWN transitions
        self.downtime = 0.0  # seconds spent DOWN before the current state
        self.times = SessionTimes()
        self.period = _NEVER  # start of the current one-second rate period
        self.rate_marks = [0, 0, 0]  # RATES totals at the start of the period
        self.rate_prevs = [0, 0, 0]  # events in the previous period
        self.rate_maxes = [0, 0, 0]  # most events in one period

    def response(self, status: int) -> None:
        self.responses[status // 100 if 100 <= status < 600 else 0] += 1

    # -- rates -----------------------------------------------------------------------------------

    def rotate(self, now: float) -> None:
        """Start a new one-second period at ``now`` (the caller checked ``now - period >=
        1.0``): HAProxy's ``update_freq_ctr`` rotation, before the event is counted."""
        self.period += 1.0
        missed = now - self.period >= 1.0  # two periods or more without an event
        marks, prevs, maxes = self.rate_marks, self.rate_prevs, self.rate_maxes
        for i, name in enumerate(RATES):
            total = getattr(self, name)
            current = total - marks[i]
            if current > maxes[i]:
                maxes[i] = current
            prevs[i] = 0 if missed else current
            marks[i] = total
        if missed:
            self.period = now

    def rate(self, index: int, now: float) -> int:
        """Events per second over the last second at ``now`` (``read_freq_ctr``)."""
        current = getattr(self, RATES[index]) - self.rate_marks[index]
        past = self.rate_prevs[index]
        if self.period == _NEVER:
            return 0
        remain = int((self.period + 1.0 - now) * 1000)
        if remain < 0:
            remain += 1000
            past = current if remain >= 0 else 0
            current = 0
        if not current and past <= 1:
            return past  # HAProxy's flapping correction at very low rates
        return (past * remain + current * 1000) // 1000

    def rate_max(self, index: int) -> int:
        current = getattr(self, RATES[index]) - self.rate_marks[index]
        best = self.rate_maxes[index]
        return current if current > best else best

    def last_session_age(self, now: float) -> int:
        """``lastsess``: seconds since the last session, -1 when never."""
        if self.last_session == _NEVER:
            return -1
        return int(now - self.last_session)


class FrontendCounters(ProxyCounters):
    """A frontend's figures (``fe_counters``): ``sessions`` counts accepted client
    connections (``stot``), ``max_sessions`` the most at once (``smax``)."""

    __slots__ = ()

    def accepted(self, current: int, now: float) -> None:
        """A client connection was accepted; ``current`` counts it."""
        if now - self.period >= 1.0:
            self.rotate(now)
        self.sessions += 1
        self.connections += 1
        if current > self.max_sessions:
            self.max_sessions = current


class ServerCounters(ProxyCounters):
    """A server's figures: a backend's, plus its health-check ones."""

    __slots__ = ("check_down", "check_failures")

    def __init__(self) -> None:
        super().__init__()
        self.check_failures = 0  # chkfail: failed checks while UP
        self.check_down = 0  # chkdown: UP -> DOWN transitions
