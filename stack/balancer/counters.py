"""The figures the stats page, ``show stat`` and Prometheus report, with HAProxy's meaning.

Plain objects, sans IO: the balancer adds to them as requests go; time, where a figure needs
it (rates), is passed in as reactor seconds. One object per frontend, backend and server; a
reload hands the same objects to the new configuration, so the counts go on across it.
"""

from __future__ import annotations

__all__ = ["FreqCounter", "ProxyCounters", "ServerCounters"]


class FreqCounter:
    """HAProxy's ``freq_ctr`` over one-second periods: events in the current period plus
    the previous period's, weighted by how much of it is still inside the sliding second
    (``read_freq_ctr``). ``max`` is the highest rate read at an event (``rate_max``)."""

    __slots__ = ("curr", "max", "prev", "start")

    def __init__(self) -> None:
        self.start = 0  # the current period's first millisecond
        self.curr = 0
        self.prev = 0
        self.max = 0

    def _rotate(self, now_ms: int) -> None:
        elapsed = now_ms - self.start
        if elapsed < 1000:
            return
        self.prev = self.curr if elapsed < 2000 else 0
        self.curr = 0
        self.start = now_ms - (elapsed % 1000)

    def add(self, now: float, count: int = 1) -> None:
        now_ms = int(now * 1000)
        self._rotate(now_ms)
        self.curr += count
        rate = self._read(now_ms)
        if rate > self.max:
            self.max = rate

    def rate(self, now: float) -> int:
        """Events per second over the last second, at ``now``."""
        now_ms = int(now * 1000)
        self._rotate(now_ms)
        return self._read(now_ms)

    def _read(self, now_ms: int) -> int:
        remaining = 1000 - (now_ms - self.start)
        if remaining <= 0:
            return self.curr
        return self.curr + (self.prev * remaining + 999) // 1000


class ProxyCounters:
    """A frontend's or a backend's figures (HAProxy's ``fe_counters``/``be_counters``).

    ``sessions`` counts client connections (frontend) or requests given to a server
    (backend): ``stot``; ``max_sessions`` is ``smax``; ``requests`` is ``req_tot``;
    ``responses`` holds ``hrsp_1xx`` .. ``hrsp_5xx`` at index 1..5 and ``hrsp_other`` at 0.
    """

    __slots__ = (
        "bytes_in",
        "bytes_out",
        "cli_aborts",
        "conn_rate",
        "connections",
        "denied_req",
        "denied_resp",
        "down_trans",
        "downtime",
        "failed_conns",
        "failed_req",
        "failed_resp",
        "intercepted",
        "internal_errors",
        "last_change",
        "last_session",
        "lbtot",
        "max_conns",
        "max_queue",
        "max_sessions",
        "redispatches",
        "req_rate",
        "requests",
        "responses",
        "retries",
        "sess_rate",
        "sessions",
        "srv_aborts",
        "times",
    )

    def __init__(self) -> None:
        self.sessions = 0
        self.max_sessions = 0
        self.connections = 0
        self.max_conns = 0
        self.bytes_in = 0
        self.bytes_out = 0
        self.denied_req = 0
        self.denied_resp = 0
        self.failed_req = 0  # ereq: invalid requests
        self.failed_conns = 0  # econ
        self.failed_resp = 0  # eresp
        self.internal_errors = 0  # eint
        self.retries = 0  # wretr
        self.redispatches = 0  # wredis
        self.cli_aborts = 0
        self.srv_aborts = 0
        self.intercepted = 0  # requests answered by the proxy itself (stats, redirects)
        self.requests = 0
        self.responses = [0, 0, 0, 0, 0, 0]
        self.lbtot = 0  # times a server was picked by the balancing algorithm
        self.max_queue = 0
        self.sess_rate = FreqCounter()
        self.req_rate = FreqCounter()
        self.conn_rate = FreqCounter()
        self.last_session = -1.0  # reactor time of the last session, -1: never
        self.last_change = 0.0
        self.down_trans = 0  # chkdown of a backend: UP -> DOWN transitions
        self.downtime = 0.0  # seconds spent DOWN before the current state
        # qtime/ctime/rtime/ttime: HAProxy's averages over the last 1024 sessions
        self.times = SessionTimes()

    def response(self, status: int) -> None:
        self.responses[status // 100 if 100 <= status < 600 else 0] += 1


class ServerCounters(ProxyCounters):
    """A server's figures: a backend's, plus its health-check ones."""

    __slots__ = ("check_down", "check_failures")

    def __init__(self) -> None:
        super().__init__()
        self.check_failures = 0  # chkfail: failed checks while UP
        self.check_down = 0  # chkdown: UP -> DOWN transitions


class SessionTimes:
    """``qtime``/``ctime``/``rtime``/``ttime``: running averages over the last 1024
    sessions, in ms, as HAProxy's ``swrate_add`` keeps them; and their maxima."""

    __slots__ = (
        "ctime",
        "ctime_max",
        "qtime",
        "qtime_max",
        "rtime",
        "rtime_max",
        "ttime",
        "ttime_max",
    )

    SAMPLES = 1024  # TIME_STATS_SAMPLES

    def __init__(self) -> None:
        self.qtime = self.ctime = self.rtime = self.ttime = 0.0
        self.qtime_max = self.ctime_max = self.rtime_max = self.ttime_max = 0

    def add(self, queue_ms: int, connect_ms: int, response_ms: int, total_ms: int) -> None:
        n = self.SAMPLES
        if queue_ms >= 0:
            self.qtime += (queue_ms - self.qtime) / n
            self.qtime_max = max(self.qtime_max, queue_ms)
        if connect_ms >= 0:
            self.ctime += (connect_ms - self.ctime) / n
            self.ctime_max = max(self.ctime_max, connect_ms)
        if response_ms >= 0:
            self.rtime += (response_ms - self.rtime) / n
            self.rtime_max = max(self.rtime_max, response_ms)
        if total_ms >= 0:
            self.ttime += (total_ms - self.ttime) / n
            self.ttime_max = max(self.ttime_max, total_ms)
