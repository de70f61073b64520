"""HAProxy 2.6's statistics: the rows of ``show stat`` and of the stats page, in every format.

Why byte for byte: operators point haproxy_exporter, Zabbix templates, hatop and their own
scripts at the CSV, the typed output and the JSON, and those tools find columns by position
or by the exact header. So the rows follow ``stats_fill_fe_stats``/``_sv_``/``_be_`` of
HAProxy 2.6 (src/stats.c): the same 103 static columns, the ``-`` separator, then the module
columns (``ssl_*``, ``h2_*``, ``h1_*``); the same fields left empty per object type; the same
tags (origin, nature, scope) and value types in ``typed`` and ``json``; proxies in config
order (frontend row, server rows, backend row; a ``listen`` under one name) and HAProxy's
numeric ids (``iid`` from 1 in config order, 2 when a ``stats socket`` exists, because
HAProxy's CLI proxy takes the first).

Module columns stack has no figure for are left empty; those that are genuinely zero in
stack (no HTTP/2, no TLS on the balancer's binds) are 0.

Sans IO: :class:`StatsSource` reads the balancer's runtime objects and the time it is given.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from stack.balancer.backend import ADMIN_IMAINT, ADMIN_MAINT, ADMIN_RMAINT
from stack.balancer.counters import CONNECTIONS, REQUESTS, SESSIONS, ProxyCounters
from stack.config.model import Algorithm
from stack.runtime.api import CommandError, RuntimeApi

__all__ = [
    "CSV_HEADER",
    "FIELD_NAMES",
    "INFO_NAMES",
    "PRODUCT_NAME",
    "PRODUCT_VERSION",
    "Row",
    "StatsSource",
    "format_csv",
    "format_info",
    "format_json",
    "format_typed",
    "register_stats_commands",
    "row_type",
    "value",
]

# HAProxy 2.6.12's header, byte for byte (the line ends with a comma, then a line feed).
_STATIC = [
    "pxname",
    "svname",
    "qcur",
    "qmax",
    "scur",
    "smax",
    "slim",
    "stot",
    "bin",
    "bout",
    "dreq",
    "dresp",
    "ereq",
    "econ",
    "eresp",
    "wretr",
    "wredis",
    "status",
    "weight",
    "act",
    "bck",
    "chkfail",
    "chkdown",
    "lastchg",
    "downtime",
    "qlimit",
    "pid",
    "iid",
    "sid",
    "throttle",
    "lbtot",
    "tracked",
    "type",
    "rate",
    "rate_lim",
    "rate_max",
    "check_status",
    "check_code",
    "check_duration",
    "hrsp_1xx",
    "hrsp_2xx",
    "hrsp_3xx",
    "hrsp_4xx",
    "hrsp_5xx",
    "hrsp_other",
    "hanafail",
    "req_rate",
    "req_rate_max",
    "req_tot",
    "cli_abrt",
    "srv_abrt",
    "comp_in",
    "comp_out",
    "comp_byp",
    "comp_rsp",
    "lastsess",
    "last_chk",
    "last_agt",
    "qtime",
    "ctime",
    "rtime",
    "ttime",
    "agent_status",
    "agent_code",
    "agent_duration",
    "check_desc",
    "agent_desc",
    "check_rise",
    "check_fall",
    "check_health",
    "agent_rise",
    "agent_fall",
    "agent_health",
    "addr",
    "cookie",
    "mode",
    "algo",
    "conn_rate",
    "conn_rate_max",
    "conn_tot",
    "intercepted",
    "dcon",
    "dses",
    "wrew",
    "connect",
    "reuse",
    "cache_lookups",
    "cache_hits",
    "srv_icur",
    "src_ilim",
    "qtime_max",
    "ctime_max",
    "rtime_max",
    "ttime_max",
    "eint",
    "idle_conn_cur",
    "safe_conn_cur",
    "used_conn_cur",
    "need_conn_est",
    "uweight",
    "agg_server_status",
    "agg_server_check_status",
    "agg_check_status",
]
_MODULES = [
    "ssl_sess",
    "ssl_reused_sess",
    "ssl_failed_handshake",
    "h2_headers_rcvd",
    "h2_data_rcvd",
    "h2_settings_rcvd",
    "h2_rst_stream_rcvd",
    "h2_goaway_rcvd",
    "h2_detected_conn_protocol_errors",
    "h2_detected_strm_protocol_errors",
    "h2_rst_stream_resp",
    "h2_goaway_resp",
    "h2_open_connections",
    "h2_backend_open_streams",
    "h2_total_connections",
    "h2_backend_total_streams",
    "h1_open_connections",
    "h1_open_streams",
    "h1_total_connections",
    "h1_total_streams",
    "h1_bytes_in",
    "h1_bytes_out",
    "h1_spliced_bytes_in",
    "h1_spliced_bytes_out",
]
FIELD_NAMES: tuple[str, ...] = (*_STATIC, *_MODULES)  # positions as typed/json number them
STATIC_COUNT = len(_STATIC)  # 103: the "-" column comes after these
CSV_HEADER = "# " + ",".join([*_STATIC, "-", *_MODULES]) + ",\n"
_POS = {name: i for i, name in enumerate(FIELD_NAMES)}

PRODUCT_NAME = "HAProxy"  # show info's Name: hatop and check scripts match it
PRODUCT_VERSION = "2.6.12-stack-0.1.0"  # the 2.6 figures it follows, then stack's own version
RELEASE_DATE = "2026/11/21"
# When this process started (Uptime, Start_time_sec): stats.py is imported with the first
# configuration, and a reload keeps the process, so its uptime goes on.
PROCESS_STARTED = time.time()

# Object types (the "type" column) and their letters in the typed output.
TYPE_FE, TYPE_BE, TYPE_SV = 0, 1, 2
_TYPE_LETTER = {TYPE_FE: "F", TYPE_BE: "B", TYPE_SV: "S"}
_TYPE_NAME = {TYPE_FE: "Frontend", TYPE_BE: "Backend", TYPE_SV: "Server"}

# Tags: origin, nature, scope (src/stats.c stats_emit_field_tags)
_ORIGIN = {"M": "Metric", "S": "Status", "K": "Key", "C": "Config", "P": "Product"}
_NATURE = {
    "G": "Gauge",
    "L": "Limit",
    "m": "Min",
    "M": "Max",
    "R": "Rate",
    "C": "Counter",
    "D": "Duration",
    "A": "Age",
    "T": "Time",
    "N": "Name",
    "O": "Output",
    "a": "Avg",
}
_SCOPE = {"P": "Process", "S": "Service", "s": "System", "C": "Cluster"}

# One field: (tags, type, value), e.g. ("MCP", "u64", 12); None: empty.
Field = tuple[str, str, object]
Row = list[Field | None]

# HAProxy's algorithm names (backend_lb_algo_str)
_ALGO = {
    Algorithm.ROUNDROBIN: "roundrobin",
    Algorithm.STATIC_RR: "static-rr",
    Algorithm.LEASTCONN: "leastconn",
    Algorithm.FIRST: "first",
    Algorithm.SOURCE: "source",
    Algorithm.URI: "uri",
}

# Check statuses whose HTTP code HAProxy reports (>= HCHK_STATUS_L57DATA)
_WITH_CODE = ("L7OK", "L7OKC", "L7STS", "L7OKD", "L7OKCD", "PROCERR", "PROCTOUT", "PROCOK")


def _u32(tags: str, value: int) -> Field:
    return (tags, "u32", value)


def _u64(tags: str, value: int) -> Field:
    return (tags, "u64", value)


def _str(tags: str, value: str) -> Field:
    return (tags, "str", value)


def _s32(tags: str, value: int) -> Field:
    return (tags, "s32", value)


def value(row: Row, name: str) -> object:
    """A row's value for the column ``name`` (``None`` when empty)."""
    field = row[_POS[name]]
    return None if field is None else field[2]


def row_type(row: Row) -> int:
    """0 frontend, 1 backend, 2 server."""
    return int(value(row, "type"))  # type: ignore[call-overload]


def _new_row() -> Row:
    return [None] * len(FIELD_NAMES)


def _set_http_counters(row: Row, counters: ProxyCounters) -> None:
    responses = counters.responses
    for i in range(1, 6):
        row[_POS["hrsp_1xx"] + i - 1] = _u64("MCP", responses[i])
    row[_POS["hrsp_other"]] = _u64("MCP", responses[0])


def _set_modules(row: Row, ssl: bool, h2: bool, h1: Sequence[int | None] | None) -> None:
    """``ssl_*`` and ``h2_*`` zeros (stack's balancer speaks neither on its binds), ``h1_*``
    where stack has the figure."""
    start = _POS["ssl_sess"]
    if ssl:
        for i in range(3):
            row[start + i] = _u64("MCP", 0)
    if h2:
        base = _POS["h2_headers_rcvd"]
        for i in range(13):
            name = FIELD_NAMES[base + i]
            gauge = name in ("h2_open_connections", "h2_backend_open_streams")
            row[base + i] = _u64("MGP" if gauge else "MCP", 0)
    if h1 is not None:
        base = _POS["h1_open_connections"]
        for i, value in enumerate(h1):
            if value is not None:
                row[base + i] = _u64("MGP" if i < 2 else "MCP", value)


@dataclass(frozen=True)
class Check:
    """What the health checker knows of one server, for the check columns."""

    status: str  # INI, L4OK, L7STS...
    code: int | None
    info: str
    description: str
    duration_ms: int | None
    rise: int
    fall: int
    health: int


class StatsSource:
    """The balancer's figures as HAProxy's stats rows.

    ``balancer`` is a ``BalancerService`` (or anything with ``handlers``, ``backends`` and
    ``health.checkers``); ``first_iid`` is 2 when the config declares a ``stats socket``
    (HAProxy's CLI proxy takes id 1), else 1; ``started`` the reactor time the process
    started (``lastchg`` of objects that never changed, ``Uptime``).
    """

    def __init__(
        self,
        balancer: Any,
        *,
        started: float,
        first_iid: int = 1,
        node: str = "",
        maxconn: int = 0,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.balancer = balancer
        self.started = started
        self.first_iid = first_iid
        self.node = node or socket.gethostname()
        self.maxconn = maxconn
        reactor = getattr(balancer, "reactor", None)
        self.clock = clock or (reactor.seconds if reactor is not None else None)
        self._checkers: dict[int, Any] | None = None

    def now(self) -> float:
        assert self.clock is not None
        return self.clock()

    # -- the proxies -----------------------------------------------------------------------------

    def proxies(self) -> list[tuple[str, int, Any, Any]]:
        """(name, iid, frontend handler or None, backend runtime or None) in config order."""
        handlers = self.balancer.handlers
        backends = self.balancer.backends
        order: dict[str, tuple[Any, int]] = {}
        for i, (name, handler) in enumerate(handlers.items()):
            order.setdefault(name, (_origin_key(handler.config, i), i))
        for i, (name, backend) in enumerate(backends.items()):
            key = _origin_key(backend.config, len(handlers) + i)
            if name not in order or key < order[name][0]:
                order[name] = (key, i)
        names = sorted(order, key=lambda n: order[n][0])
        return [
            (name, self.first_iid + i, handlers.get(name), backends.get(name))
            for i, name in enumerate(names)
        ]

    def checker_for(self, server: Any) -> Any:
        if self._checkers is None:
            found: dict[int, Any] = {}
            health = getattr(self.balancer, "health", None)
            for checker in getattr(health, "checkers", ()):
                for tracked in getattr(checker, "_tracked", ()):
                    found[id(tracked.server)] = checker
            self._checkers = found
        return self._checkers.get(id(server))

    def check(self, server: Any) -> Check | None:
        """The server's check columns, ``None`` when it is not checked."""
        checker = self.checker_for(server)
        if checker is None:
            return None
        state = checker.state(server)
        if state is None:
            return None
        result, duration = checker.last_result(server)
        status = result.status if result is not None else state.status
        description = result.description if result is not None else "Initializing"
        return Check(
            status=status,
            code=result.code if result is not None else None,
            info=result.info if result is not None else "",
            description=description,
            duration_ms=duration,
            rise=state.rise,
            fall=state.fall,
            health=state.health,
        )

    # -- rows -----------------------------------------------------------------------------------

    def rows(
        self,
        *,
        legends: bool = True,
        proxy: str | None = None,
        iid: int = -1,
        types: int = 7,
        sid: int = -1,
        up_only: bool = False,
        no_maint: bool = False,
        now: float | None = None,
    ) -> list[Row]:
        """Every row ``show stat`` prints, with its filters: ``proxy`` (a name), or ``iid``
        (-1: all), ``types`` (bit 1 frontends, 2 backends, 4 servers), ``sid`` (-1: all);
        ``up_only`` hides servers not UP, ``no_maint`` those in maintenance."""
        if now is None:
            now = self.now()
        out: list[Row] = []
        for name, px_iid, handler, backend in self.proxies():
            if proxy is not None and name != proxy:
                continue
            if iid != -1 and px_iid != iid:
                continue
            if handler is not None and types & 1 and sid in (-1, 0):
                out.append(self.frontend_row(handler, px_iid, now))
            if backend is not None:
                if types & 4:
                    for server in backend.servers:
                        if sid != -1 and server.puid != sid:
                            continue
                        if no_maint and server.admin & ADMIN_MAINT:
                            continue
                        if up_only and not (server.up and not server.admin & ADMIN_MAINT):
                            continue
                        out.append(self.server_row(backend, server, px_iid, now, legends))
                if types & 2 and sid in (-1, 0):
                    out.append(
                        self.backend_row(backend, px_iid, now, legends, hide=up_only or no_maint)
                    )
        return out

    def frontend_row(self, handler: Any, iid: int, now: float) -> Row:
        c = handler.counters
        factory = handler.factory
        row = _new_row()
        row[0] = _str("KNS", handler.name)
        row[1] = _str("KNS", "FRONTEND")
        row[_POS["scur"]] = _u32("MGP", handler.connections)
        row[_POS["smax"]] = _u32("MMP", c.max_sessions)
        slim = getattr(factory, "maxconn", 0) or handler.config.maxconn or self.maxconn
        row[_POS["slim"]] = _u32("CLP", slim)
        row[_POS["stot"]] = _u64("MCP", c.sessions)
        row[_POS["bin"]] = _u64("MCP", c.bytes_in)
        row[_POS["bout"]] = _u64("MCP", c.bytes_out)
        row[_POS["dreq"]] = _u64("MCP", c.denied_req)
        row[_POS["dresp"]] = _u64("MCP", c.denied_resp)
        row[_POS["ereq"]] = _u64("MCP", c.failed_req)
        row[_POS["status"]] = _str("SGP", "OPEN")
        row[_POS["pid"]] = _u32("KGP", 1)
        row[_POS["iid"]] = _u32("KGS", iid)
        row[_POS["sid"]] = _u32("KGS", 0)
        row[_POS["type"]] = _u32("CGS", TYPE_FE)
        row[_POS["rate"]] = _u32("MRP", c.rate(SESSIONS, now))
        row[_POS["rate_lim"]] = _u32("CLP", 0)
        row[_POS["rate_max"]] = _u32("MMP", c.rate_max(SESSIONS))
        _set_http_counters(row, c)
        row[_POS["req_rate"]] = _u32("MRP", c.rate(REQUESTS, now))
        row[_POS["req_rate_max"]] = _u32("MMP", c.rate_max(REQUESTS))
        row[_POS["req_tot"]] = _u64("MCP", c.requests)
        for name in ("comp_in", "comp_out", "comp_byp", "comp_rsp"):
            row[_POS[name]] = _u64("MCP", 0)
        row[_POS["mode"]] = _str("CGS", "http")
        row[_POS["conn_rate"]] = _u32("MRP", c.rate(CONNECTIONS, now))
        row[_POS["conn_rate_max"]] = _u32("MMP", c.rate_max(CONNECTIONS))
        row[_POS["conn_tot"]] = _u64("MCP", c.connections)
        row[_POS["intercepted"]] = _u64("MCP", c.intercepted)
        row[_POS["dcon"]] = _u64("MCP", 0)
        row[_POS["dses"]] = _u64("MCP", 0)
        row[_POS["wrew"]] = _u64("MCP", c.failed_rewrites)
        row[_POS["cache_lookups"]] = _u64("MCP", 0)
        row[_POS["cache_hits"]] = _u64("MCP", 0)
        row[_POS["eint"]] = _u64("MCP", c.internal_errors)
        # h1: open connections, open streams, total connections, total streams, bytes in,
        # bytes out, spliced in/out
        h1 = (handler.connections, None, c.connections, c.requests, None, c.wire_out, 0, 0)
        _set_modules(row, ssl=True, h2=True, h1=h1)
        return row

    def server_row(self, backend: Any, server: Any, iid: int, now: float, legends: bool) -> Row:
        c = server.counters
        config = server.config
        check = self.check(server)
        checking = check is not None and not server.admin & ADMIN_MAINT
        row = _new_row()
        row[0] = _str("KNS", backend.name)
        row[1] = _str("KNS", server.name)
        row[_POS["qcur"]] = _u32("MGP", len(server.queue))
        row[_POS["qmax"]] = _u32("MMP", c.max_queue)
        row[_POS["scur"]] = _u32("MGP", server.served)
        row[_POS["smax"]] = _u32("MMP", c.max_sessions)
        if server.maxconn:
            row[_POS["slim"]] = _u32("CLP", server.maxconn)
        row[_POS["stot"]] = _u64("MCP", c.sessions)
        row[_POS["bin"]] = _u64("MCP", c.bytes_in)
        row[_POS["bout"]] = _u64("MCP", c.bytes_out)
        row[_POS["dresp"]] = _u64("MCP", c.denied_resp)
        row[_POS["econ"]] = _u64("MCP", c.failed_conns)
        row[_POS["eresp"]] = _u64("MCP", c.failed_resp)
        row[_POS["wretr"]] = _u64("MCP", c.retries)
        row[_POS["wredis"]] = _u64("MCP", c.redispatches)
        row[_POS["status"]] = _str("SGP", server_status(server, check))
        row[_POS["weight"]] = _u32("MaP", server.weight)
        row[_POS["act"]] = _u32("SGP", 0 if server.backup else 1)
        row[_POS["bck"]] = _u32("SGP", 1 if server.backup else 0)
        if check is not None:
            row[_POS["chkfail"]] = _u64("MCP", c.check_failures)
            row[_POS["chkdown"]] = _u64("MCP", c.check_down)
        row[_POS["lastchg"]] = _u32("MAP", int(now - (server.last_change or self.started)))
        if check is not None:
            row[_POS["downtime"]] = _u32("MCP", int(server_downtime(server, now)))
        if server.maxqueue:
            row[_POS["qlimit"]] = _u32("CGS", server.maxqueue)
        row[_POS["pid"]] = _u32("KGP", 1)
        row[_POS["iid"]] = _u32("KGS", iid)
        row[_POS["sid"]] = _u32("KGS", server.puid)
        if config.slowstart and server.up and server.weight < server.uweight and server.uweight:
            row[_POS["throttle"]] = _u32("MaP", server.weight * 100 // server.uweight)
        row[_POS["lbtot"]] = _u64("MCP", c.lbtot)
        row[_POS["type"]] = _u32("CGS", TYPE_SV)
        row[_POS["rate"]] = _u32("MRP", c.rate(SESSIONS, now))
        row[_POS["rate_max"]] = _u32("MMP", c.rate_max(SESSIONS))
        if checking:
            assert check is not None
            row[_POS["check_status"]] = _str("MOP", check.status)
            if check.status in _WITH_CODE and check.code is not None:
                row[_POS["check_code"]] = _u32("MOP", check.code)
            if check.status != "INI" and check.duration_ms is not None:
                row[_POS["check_duration"]] = _u64("MDP", check.duration_ms)
            row[_POS["check_desc"]] = _str("MOP", check.description)
            row[_POS["last_chk"]] = _str("MOP", check.info)
            row[_POS["check_rise"]] = _u32("CGS", check.rise)
            row[_POS["check_fall"]] = _u32("CGS", check.fall)
            row[_POS["check_health"]] = _u32("CGS", check.health)
        _set_http_counters(row, c)
        row[_POS["req_tot"]] = _u64("MCP", c.requests)
        row[_POS["cli_abrt"]] = _u64("MCP", c.cli_aborts)
        row[_POS["srv_abrt"]] = _u64("MCP", c.srv_aborts)
        row[_POS["lastsess"]] = _s32("MAP", c.last_session_age(now))
        _set_times(row, c)
        if legends:
            address = server.address
            host = address.host or "127.0.0.1"
            text = f"[{host}]:{address.port}" if ":" in host else f"{host}:{address.port}"
            row[_POS["addr"]] = _str("CGS", text)
            if server.cookie:
                row[_POS["cookie"]] = _str("CNS", server.cookie)
        row[_POS["mode"]] = _str("CGS", "http")
        row[_POS["wrew"]] = _u64("MCP", c.failed_rewrites)
        row[_POS["connect"]] = _u64("MCP", c.connect)
        row[_POS["reuse"]] = _u64("MCP", c.reuse)
        row[_POS["srv_icur"]] = _u32("MGP", 0)
        row[_POS["eint"]] = _u64("MCP", c.internal_errors)
        row[_POS["idle_conn_cur"]] = _u32("MGP", 0)
        row[_POS["safe_conn_cur"]] = _u32("MGP", 0)
        row[_POS["used_conn_cur"]] = _u32("MGP", server.served)
        row[_POS["need_conn_est"]] = _u32("MGP", server.served)
        row[_POS["uweight"]] = _u32("MaP", server.uweight)
        _set_modules(row, ssl=config.tls is None, h2=False, h1=None)
        return row

    def backend_row(self, backend: Any, iid: int, now: float, legends: bool, hide: bool) -> Row:
        c = backend.counters
        config = backend.config
        servers = backend.servers
        row = _new_row()
        row[0] = _str("KNS", backend.name)
        row[1] = _str("KNS", "BACKEND")
        row[_POS["qcur"]] = _u32("MGP", len(backend.queue))
        row[_POS["qmax"]] = _u32("MMP", c.max_queue)
        row[_POS["scur"]] = _u32("MGP", backend.active)
        row[_POS["smax"]] = _u32("MMP", c.max_sessions)
        row[_POS["slim"]] = _u32("CLP", self.fullconn(backend.name))
        row[_POS["stot"]] = _u64("MCP", c.sessions)
        row[_POS["bin"]] = _u64("MCP", c.bytes_in)
        row[_POS["bout"]] = _u64("MCP", c.bytes_out)
        row[_POS["dreq"]] = _u64("MCP", c.denied_req)
        row[_POS["dresp"]] = _u64("MCP", c.denied_resp)
        row[_POS["econ"]] = _u64("MCP", c.failed_conns)
        row[_POS["eresp"]] = _u64("MCP", c.failed_resp)
        row[_POS["wretr"]] = _u64("MCP", c.retries)
        row[_POS["wredis"]] = _u64("MCP", c.redispatches)
        weight, uweight, act, bck = backend_weights(backend)
        status = "UP" if weight > 0 or not servers else "DOWN"
        if hide:
            up = sum(1 for s in servers if s.up)
            status += f" ({up}/{len(servers)})"
        row[_POS["status"]] = _str("SGP", status)
        row[_POS["weight"]] = _u32("MaP", weight)
        row[_POS["act"]] = _u32("MGP", act)
        row[_POS["bck"]] = _u32("MGP", bck)
        row[_POS["chkdown"]] = _u64("MCP", c.down_trans)
        row[_POS["lastchg"]] = _u32("MAP", int(now - (backend.last_change or self.started)))
        if servers:
            down = weight == 0 and backend.last_change
            extra = now - backend.last_change if down else 0.0
            row[_POS["downtime"]] = _u32("MCP", int(c.downtime + extra))
        row[_POS["pid"]] = _u32("KGP", 1)
        row[_POS["iid"]] = _u32("KGS", iid)
        row[_POS["sid"]] = _u32("KGS", 0)
        row[_POS["lbtot"]] = _u64("MCP", c.lbtot)
        row[_POS["type"]] = _u32("CGS", TYPE_BE)
        row[_POS["rate"]] = _u32("MGP", c.rate(SESSIONS, now))
        row[_POS["rate_max"]] = _u32("MGP", c.rate_max(SESSIONS))
        _set_http_counters(row, c)
        row[_POS["req_tot"]] = _u64("MCP", c.requests)
        row[_POS["cli_abrt"]] = _u64("MCP", c.cli_aborts)
        row[_POS["srv_abrt"]] = _u64("MCP", c.srv_aborts)
        for name in ("comp_in", "comp_out", "comp_byp", "comp_rsp"):
            row[_POS[name]] = _u64("MCP", 0)
        row[_POS["lastsess"]] = _s32("MAP", c.last_session_age(now))
        _set_times(row, c)
        if legends:
            if config.cookie is not None:
                row[_POS["cookie"]] = _str("CNS", config.cookie.name)
            row[_POS["algo"]] = _str("CGS", _ALGO.get(config.balance.algorithm, "roundrobin"))
        row[_POS["mode"]] = _str("CGS", "http")
        row[_POS["wrew"]] = _u64("MCP", c.failed_rewrites)
        row[_POS["connect"]] = _u64("MCP", c.connect)
        row[_POS["reuse"]] = _u64("MCP", c.reuse)
        row[_POS["cache_lookups"]] = _u64("MCP", 0)
        row[_POS["cache_hits"]] = _u64("MCP", 0)
        row[_POS["eint"]] = _u64("MCP", c.internal_errors)
        row[_POS["uweight"]] = _u32("MaP", uweight)
        for name in ("agg_server_status", "agg_server_check_status", "agg_check_status"):
            row[_POS[name]] = _u32("MGP", 0)
        h1 = (None, None, c.connect, c.requests, None, None, 0, 0)
        _set_modules(row, ssl=all(s.config.tls is None for s in servers), h2=True, h1=h1)
        return row

    def fullconn(self, backend: str) -> int:
        """HAProxy's default ``fullconn``: a tenth (rounded up) of the ``maxconn`` of every
        frontend that can route to the backend."""
        total = 0
        for handler in self.balancer.handlers.values():
            if backend in _reachable(handler.config):
                factory = handler.factory
                total += getattr(factory, "maxconn", 0) or handler.config.maxconn or self.maxconn
        return (total + 9) // 10

    # -- show info --------------------------------------------------------------------------------

    def info(self, now: float | None = None) -> list[tuple[int, str, Field]]:
        """``show info``'s fields: (position, name, field), in HAProxy 2.6.12's order."""
        if now is None:
            now = self.now()
        handlers = list(self.balancer.handlers.values())
        uptime = max(0, int(now - self.started))
        conns = sum(h.connections for h in handlers)
        cum_conns = sum(h.counters.connections for h in handlers)
        cum_req = sum(h.counters.requests for h in handlers)
        conn_rate = sum(h.counters.rate(CONNECTIONS, now) for h in handlers)
        sess_rate = sum(h.counters.rate(SESSIONS, now) for h in handlers)
        max_conn_rate = sum(h.counters.rate_max(CONNECTIONS) for h in handlers)
        max_sess_rate = sum(h.counters.rate_max(SESSIONS) for h in handlers)
        bytes_out = sum(h.counters.wire_out for h in handlers)
        listeners = sum(len(h.config.binds) for h in handlers)
        try:
            import resource

            nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        except (ImportError, OSError, ValueError):
            nofile = 0
        days, rest = divmod(uptime, 86400)
        hours, rest = divmod(rest, 3600)
        minutes, seconds = divmod(rest, 60)
        values: list[tuple[int, str, Field]] = [
            (0, "Name", _str("POS", PRODUCT_NAME)),
            (1, "Version", _str("POS", PRODUCT_VERSION)),
            (2, "Release_date", _str("POS", RELEASE_DATE)),
            (3, "Nbthread", _u32("CGS", 1)),
            (4, "Nbproc", _u32("CGS", 1)),
            (5, "Process_num", _u32("KGP", 1)),
            (6, "Pid", _u32("SGP", os.getpid())),
            (7, "Uptime", _str("MDP", f"{days}d {hours}h{minutes:02d}m{seconds:02d}s")),
            (8, "Uptime_sec", _u32("MDP", uptime)),
            (9, "Memmax_MB", _u32("CLP", 0)),
            (10, "PoolAlloc_MB", _u32("MGP", 0)),
            (11, "PoolUsed_MB", _u32("MGP", 0)),
            (12, "PoolFailed", _u32("MCP", 0)),
            (13, "Ulimit-n", _u32("CLP", nofile)),
            (14, "Maxsock", _u32("CLP", nofile)),
            (15, "Maxconn", _u32("CLP", self.maxconn)),
            (16, "Hard_maxconn", _u32("CLP", self.maxconn)),
            (17, "CurrConns", _u32("MGP", conns)),
            (18, "CumConns", _u32("MCP", cum_conns)),
            (19, "CumReq", _u32("MCP", cum_req)),
            (20, "MaxSslConns", _u32("MMP", 0)),
            (21, "CurrSslConns", _u32("MGP", 0)),
            (22, "CumSslConns", _u32("MCP", 0)),
            (23, "Maxpipes", _u32("CLP", 0)),
            (24, "PipesUsed", _u32("MGP", 0)),
            (25, "PipesFree", _u32("MGP", 0)),
            (26, "ConnRate", _u32("MRP", conn_rate)),
            (27, "ConnRateLimit", _u32("CLP", 0)),
            (28, "MaxConnRate", _u32("MMP", max_conn_rate)),
            (29, "SessRate", _u32("MRP", sess_rate)),
            (30, "SessRateLimit", _u32("CLP", 0)),
            (31, "MaxSessRate", _u32("MRP", max_sess_rate)),
            (32, "SslRate", _u32("MRP", 0)),
            (33, "SslRateLimit", _u32("CLP", 0)),
            (34, "MaxSslRate", _u32("MMP", 0)),
            (35, "SslFrontendKeyRate", _u32("MGP", 0)),
            (36, "SslFrontendMaxKeyRate", _u32("MMP", 0)),
            (37, "SslFrontendSessionReuse_pct", _u32("MGP", 0)),
            (38, "SslBackendKeyRate", _u32("MRP", 0)),
            (39, "SslBackendMaxKeyRate", _u32("MMP", 0)),
            (40, "SslCacheLookups", _u32("MCP", 0)),
            (41, "SslCacheMisses", _u32("MCP", 0)),
            (42, "CompressBpsIn", _u32("MRP", 0)),
            (43, "CompressBpsOut", _u32("MRP", 0)),
            (44, "CompressBpsRateLim", _u32("CLP", 0)),
            (47, "Tasks", _u32("MGP", 0)),
            (48, "Run_queue", _u32("MGP", 0)),
            (49, "Idle_pct", _u32("MaP", 100)),
            (50, "node", _str("COS", self.node)),
            (52, "Stopping", _u32("MGP", 0)),
            (53, "Jobs", _u32("MGP", conns + listeners)),
            (54, "Unstoppable Jobs", _u32("MGP", 0)),
            (55, "Listeners", _u32("MGP", listeners)),
            (56, "ActivePeers", _u32("MGP", 0)),
            (57, "ConnectedPeers", _u32("MGP", 0)),
            (58, "DroppedLogs", _u32("MGP", 0)),
            (59, "BusyPolling", _u32("MGP", 0)),
            (60, "FailedResolutions", _u32("MGP", 0)),
            (61, "TotalBytesOut", _u64("MGP", bytes_out)),
            (62, "TotalSplicdedBytesOut", _u64("MGP", 0)),
            (63, "BytesOutRate", _u64("MRP", 0)),
            (64, "DebugCommandsIssued", _u32("MGP", 0)),
            (65, "CumRecvLogs", _u32("MCP", 0)),
            (66, "Build info", _str("POS", PRODUCT_VERSION)),
            (67, "Memmax_bytes", _u32("CLP", 0)),
            (68, "PoolAlloc_bytes", _u64("MGP", 0)),
            (69, "PoolUsed_bytes", _u64("MGP", 0)),
            (70, "Start_time_sec", _u32("MDP", int(self.started))),
            (71, "Tainted", _str("SGP", "0")),
        ]
        return values


INFO_NAMES = (
    (
        "Name Version Release_date Nbthread Nbproc Process_num Pid Uptime Uptime_sec Memmax_MB "
        "PoolAlloc_MB PoolUsed_MB PoolFailed Ulimit-n Maxsock Maxconn Hard_maxconn CurrConns "
        "CumConns CumReq MaxSslConns CurrSslConns CumSslConns Maxpipes PipesUsed PipesFree "
        "ConnRate ConnRateLimit MaxConnRate SessRate SessRateLimit MaxSessRate SslRate "
        "SslRateLimit MaxSslRate SslFrontendKeyRate SslFrontendMaxKeyRate "
        "SslFrontendSessionReuse_pct SslBackendKeyRate SslBackendMaxKeyRate SslCacheLookups "
        "SslCacheMisses CompressBpsIn CompressBpsOut CompressBpsRateLim Tasks Run_queue Idle_pct "
        "node Stopping Jobs Unstoppable_Jobs Listeners ActivePeers ConnectedPeers DroppedLogs "
        "BusyPolling FailedResolutions TotalBytesOut TotalSplicdedBytesOut BytesOutRate "
        "DebugCommandsIssued CumRecvLogs Build_info Memmax_bytes PoolAlloc_bytes PoolUsed_bytes "
        "Start_time_sec Tainted"
    )
    .replace("_Jobs", " Jobs")
    .replace("Build_info", "Build info")
)


def _origin_key(config: Any, index: int) -> tuple[str, int, int]:
    origin = getattr(config, "origin", None)
    if origin is None:
        return ("", 0, index)
    return (origin.file, origin.line, index)


def _reachable(frontend: Any) -> set[str]:
    names = {u.backend for u in frontend.use_backends}
    if frontend.default_backend:
        names.add(frontend.default_backend)
    return names


def server_status(server: Any, check: Check | None) -> str:
    """The status column: ``stats_fill_sv_stats_computestate`` and its strings."""
    admin = server.admin
    if admin & ADMIN_RMAINT:
        return "MAINT (resolution)"
    if admin & ADMIN_IMAINT:
        return "MAINT (via)"
    if admin & ADMIN_MAINT:
        return "MAINT"
    stopping = getattr(server, "stopping", False)
    if server.up and not stopping:
        going_down = check is not None and check.health < check.rise + check.fall - 1
        if server.draining:
            if going_down:
                assert check is not None
                return f"DRAIN {check.health - check.rise + 1}/{check.fall}"
            return "DRAIN"
        if going_down:
            assert check is not None
            return f"UP {check.health - check.rise + 1}/{check.fall}"
        return "UP" if check is not None else "no check"
    if server.up and stopping:
        if check is None or check.health == check.rise + check.fall - 1:
            return "NOLB"
        return f"NOLB {check.health - check.rise + 1}/{check.fall}"
    if check is not None and check.health:
        return f"DOWN {check.health}/{check.rise}"
    return "DOWN"


def server_downtime(server: Any, now: float) -> float:
    """``srv_downtime``: the time spent DOWN, the current spell included."""
    downtime: float = server.counters.downtime
    if server.up or not server.last_change:
        return downtime
    return downtime + now - server.last_change


def backend_weights(backend: Any) -> tuple[int, int, int, int]:
    """(weight, uweight, act, bck) of a backend: the effective weights of the servers taking
    traffic (the active ones, or the backups when none is left: all of them with
    ``option allbackups``, else the first), their user weights, and how many active and
    backup servers are usable with a non-zero weight."""
    usable = [s for s in backend.servers if s.usable() and s.weight > 0]
    actives = [s for s in usable if not s.backup]
    backups = [s for s in usable if s.backup]
    if actives:
        serving = actives
    elif backups:
        serving = backups if backend.config.allbackups else backups[:1]
    else:
        serving = []
    weight = sum(s.weight for s in serving)
    uweight = sum(s.uweight for s in serving)
    return weight, uweight, len(actives), len(backups)


def _set_times(row: Row, c: ProxyCounters) -> None:
    times = c.times
    qtime, ctime, rtime, ttime = times.averages(c.requests)
    row[_POS["qtime"]] = _u32("MaP", qtime)
    row[_POS["ctime"]] = _u32("MaP", ctime)
    row[_POS["rtime"]] = _u32("MaP", rtime)
    row[_POS["ttime"]] = _u32("MaP", ttime)
    row[_POS["qtime_max"]] = _u32("MMP", times.qtime_max)
    row[_POS["ctime_max"]] = _u32("MMP", times.ctime_max)
    row[_POS["rtime_max"]] = _u32("MMP", times.rtime_max)
    row[_POS["ttime_max"]] = _u32("MMP", times.ttime_max)


# -- output formats ----------------------------------------------------------------------------


def _csv_value(field: Field | None) -> str:
    if field is None:
        return ""
    value = field[2]
    if field[1] != "str":
        return str(value)
    text = str(value)
    # csv_enc: quote a value holding a comma, a quote or a line break; double the quotes
    if any(c in text for c in ',"\r\n'):
        return '"' + text.replace('"', '""') + '"'
    return text


def format_csv(rows: Iterable[Row], header: bool = True) -> str:
    """The CSV of ``show stat`` and ``;csv``: the header, then one line per row."""
    out = [CSV_HEADER] if header else []
    for row in rows:
        cells = [_csv_value(f) for f in row]
        out.append(",".join([*cells[:STATIC_COUNT], "-", *cells[STATIC_COUNT:]]) + ",\n")
    return "".join(out)


def _field_desc(name: str) -> str:
    return _DESCRIPTIONS.get(name, name)


def format_typed(rows: Iterable[Row], desc: bool = False) -> str:
    """``show stat typed``: ``F.<iid>.<sid>.<pos>.<name>.1:<tags>:<type>:<value>``."""
    out: list[str] = []
    for row in rows:
        kind = row[_POS["type"]]
        iid = row[_POS["iid"]]
        sid = row[_POS["sid"]]
        assert kind is not None and iid is not None and sid is not None
        prefix = f"{_TYPE_LETTER[int(kind[2])]}.{iid[2]}.{sid[2]}."  # type: ignore[call-overload]
        for pos, field in enumerate(row):
            if field is None:
                continue
            name = FIELD_NAMES[pos]
            line = f"{prefix}{pos}.{name}.1:{field[0]}:{field[1]}:{field[2]}"
            if desc:
                line += f':"{_field_desc(name)}"'
            out.append(line + "\n")
        out.append("\n")
    return "".join(out)


def _json_tags(tags: str) -> str:
    return (
        f'"tags":{{"origin":"{_ORIGIN[tags[0]]}","nature":"{_NATURE[tags[1]]}",'
        f'"scope":"{_SCOPE[tags[2]]}"}}'
    )


def _json_value(field: Field) -> str:
    value = json.dumps(field[2]) if field[1] == "str" else str(field[2])
    return f'"value":{{"type":"{field[1]}","value":{value}}}'


def format_json(rows: Iterable[Row]) -> str:
    """``show stat json``: a list of rows, each a list of field objects (2.6's layout)."""
    lines: list[str] = []
    for row in rows:
        kind, iid, sid = row[_POS["type"]], row[_POS["iid"]], row[_POS["sid"]]
        assert kind is not None and iid is not None and sid is not None
        obj = _TYPE_NAME[int(kind[2])]  # type: ignore[call-overload]
        fields = [
            f'{{"objType":"{obj}","proxyId":{iid[2]},"id":{sid[2]},'
            f'"field":{{"pos":{pos},"name":"{FIELD_NAMES[pos]}"}},"processNum":1,'
            f"{_json_tags(field[0])},{_json_value(field)}}}"
            for pos, field in enumerate(row)
            if field is not None
        ]
        lines.append("[" + ",".join(fields) + "]")
    return "[" + ",".join(lines) + "]\n"


def format_info(
    fields: Sequence[tuple[int, str, Field]], mode: str = "", desc: bool = False
) -> str:
    """``show info`` as text (``Name: value``), ``typed`` or ``json``."""
    if mode == "json":
        items = [
            f'{{"field":{{"pos":{pos},"name":"{name}"}},"processNum":1,'
            f"{_json_tags(field[0])},{_json_value(field)}}}"
            for pos, name, field in fields
        ]
        return "[" + ",".join(items) + "]\n"
    out = []
    for pos, name, field in fields:
        if mode == "typed":
            line = f"{pos}.{name}.1:{field[0]}:{field[1]}:{field[2]}"
        else:
            line = f"{name}: {field[2]}"
        if desc:
            line += f':"{_INFO_DESCRIPTIONS.get(name, name)}"'
        out.append(line + "\n")
    return "".join(out)


# -- the runtime API ------------------------------------------------------------------------------


def parse_show_stat(args: list[str]) -> dict[str, Any]:
    """``show stat [domain proxy] [{<iid>|<proxy>} <type> <sid>] [typed|json] [desc]
    [up|no-maint]`` as keyword arguments (src/stats.c ``cli_parse_show_stat``)."""
    opts: dict[str, Any] = {"format": "csv", "desc": False, "filters": {}}
    words = list(args)
    if words[:1] == ["domain"]:
        if len(words) < 2 or words[1] not in ("proxy", "resolvers"):
            raise CommandError("Invalid statistics domain.\n")
        if words[1] != "proxy":
            raise CommandError("Only the 'proxy' statistics domain is supported here.\n")
        words = words[2:]
    filters: dict[str, Any] = {}
    # As 2.6 does: any three words are a filter (even "typed desc up", which then names no
    # proxy); fewer are only options, and words it does not know are ignored.
    if len(words) >= 3:
        target, kind, sid = words[0], words[1], words[2]
        filters["target"] = target
        filters["types"] = c_atoi(kind)
        filters["sid"] = c_atoi(sid)
        if filters["types"] == -1:
            filters["types"] = 7
        words = words[3:]
    for word in words:
        if word == "typed":
            opts["format"] = "typed"
        elif word == "json":
            opts["format"] = "json"
        elif word == "desc":
            opts["desc"] = True
        elif word == "up":
            filters["up_only"] = True
        elif word == "no-maint":
            filters["no_maint"] = True
    opts["filters"] = filters
    return opts


def c_atoi(text: str) -> int:
    """C's ``atoi``: the leading optionally signed digits, 0 when there are none."""
    stripped = text.lstrip(" \t")
    end = 1 if stripped[:1] in ("-", "+") else 0
    while end < len(stripped) and stripped[end].isdigit():
        end += 1
    try:
        return int(stripped[:end])
    except ValueError:
        return 0


def resolve_proxy(filters: dict[str, Any], names: Iterable[str]) -> dict[str, Any]:
    """``show stat``'s target as ``rows()`` takes it: a proxy of that name, else the number
    its leading digits make (src/stats.c); no such proxy is an error."""
    out = dict(filters)
    target = out.pop("target", None)
    if target is None:
        return out
    if target in set(names):
        out["proxy"] = target
        return out
    out["iid"] = c_atoi(target)
    if out["iid"] == 0:
        raise CommandError("No such proxy.\n")
    return out


def register_stats_commands(runtime: RuntimeApi, balancer: Any, config: Any = None) -> StatsSource:
    """Register ``show stat`` and ``show info`` for ``balancer``, and hand the same source to
    its frontends for their stats pages and the Prometheus exporter."""
    global_ = getattr(config, "global_", None)
    source = StatsSource(
        balancer,
        started=PROCESS_STARTED,
        first_iid=2 if global_ is not None and global_.stats_sockets else 1,
        node=global_.node if global_ is not None else "",
        maxconn=global_.maxconn if global_ is not None else 0,
    )
    for handler in balancer.handlers.values():
        handler.stats_source = source

    def show_stat(args: list[str]) -> str:
        opts = parse_show_stat(args)
        filters = resolve_proxy(opts["filters"], (name for name, *_ in source.proxies()))
        rows = source.rows(**filters)
        if opts["format"] == "typed":
            return format_typed(rows, opts["desc"])
        if opts["format"] == "json":
            return format_json(rows)
        return format_csv(rows)

    def show_info(args: list[str]) -> str:
        mode = "typed" if "typed" in args else "json" if "json" in args else ""
        return format_info(source.info(), mode, desc="desc" in args)

    runtime.register(
        ("show", "stat"),
        show_stat,
        level="user",
        help="report counters for each proxy and server",
        args="[desc|json|no-maint|typed|up]*",
    )
    runtime.register(
        ("show", "info"),
        show_info,
        level="user",
        help="report information about the running process",
        args="[desc|json|typed|float]*",
    )
    return source


# Captured from HAProxy 2.6.12's `show stat typed desc` and `show info desc`.
_DESCRIPTIONS: dict[str, str] = {
    "pxname": "Proxy name",
    "svname": "Server name",
    "scur": "Number of current sessions on the frontend, backend or server",
    "smax": "Highest value of current sessions encountered since process started",
    "slim": "Frontend/listener/server's maxconn, backend's fullconn",
    "stot": "Total number of sessions since process started",
    "bin": "Total number of request bytes since process started",
    "bout": "Total number of response bytes since process started",
    "dreq": "Total number of denied requests since process started",
    "dresp": "Total number of denied responses since process started",
    "ereq": "Total number of invalid requests since process started",
    "status": "Frontend/listen status: OPEN/WAITING/FULL/STOP; backend: UP/DOWN; server: last check status",  # noqa: E501
    "pid": "Relative worker process number (1)",
    "iid": "Frontend or Backend numeric identifier ('id' setting)",
    "sid": "Server numeric identifier ('id' setting)",
    "type": "Type of the object (Listener, Frontend, Backend, Server)",
    "rate": "Total number of sessions processed by this object over the last second (sessions for listeners/frontends, requests for backends/servers)",  # noqa: E501
    "rate_lim": "Limit on the number of sessions accepted in a second (frontend only, 'rate-limit sessions' setting)",  # noqa: E501
    "rate_max": "Highest value of sessions per second observed since the worker process started",
    "hrsp_1xx": "Total number of HTTP responses with status 100-199 returned by this object since the worker process started",  # noqa: E501
    "hrsp_2xx": "Total number of HTTP responses with status 200-299 returned by this object since the worker process started",  # noqa: E501
    "hrsp_3xx": "Total number of HTTP responses with status 300-399 returned by this object since the worker process started",  # noqa: E501
    "hrsp_4xx": "Total number of HTTP responses with status 400-499 returned by this object since the worker process started",  # noqa: E501
    "hrsp_5xx": "Total number of HTTP responses with status 500-599 returned by this object since the worker process started",  # noqa: E501
    "hrsp_other": "Total number of HTTP responses with status <100, >599 returned by this object since the worker process started (error -1 included)",  # noqa: E501
    "req_rate": "Number of HTTP requests processed over the last second on this object",
    "req_rate_max": "Highest value of http requests observed since the worker process started",
    "req_tot": "Total number of HTTP requests processed by this object since the worker process started",  # noqa: E501
    "comp_in": "Total number of bytes submitted to the HTTP compressor for this object since the worker process started",  # noqa: E501
    "comp_out": "Total number of bytes emitted by the HTTP compressor for this object since the worker process started",  # noqa: E501
    "comp_byp": "Total number of bytes that bypassed HTTP compression for this object since the worker process started (CPU/memory/bandwidth limitation)",  # noqa: E501
    "comp_rsp": "Total number of HTTP responses that were compressed for this object since the worker process started",  # noqa: E501
    "mode": "'mode' setting (tcp/http/health/cli)",
    "conn_rate": "Number of new connections accepted over the last second on the frontend for this worker process",  # noqa: E501
    "conn_rate_max": "Highest value of connections per second observed since the worker process started",  # noqa: E501
    "conn_tot": "Total number of new connections accepted on this frontend since the worker process started",  # noqa: E501
    "intercepted": "Total number of HTTP requests intercepted on the frontend (redirects/stats/services) since the worker process started",  # noqa: E501
    "dcon": "Total number of incoming connections blocked on a listener/frontend by a tcp-request connection rule since the worker process started",  # noqa: E501
    "dses": "Total number of incoming sessions blocked on a listener/frontend by a tcp-request connection rule since the worker process started",  # noqa: E501
    "wrew": "Total number of failed HTTP header rewrites since the worker process started",
    "cache_lookups": "Total number of HTTP requests looked up in the cache on this frontend/backend since the worker process started",  # noqa: E501
    "cache_hits": "Total number of HTTP requests not found in the cache on this frontend/backend since the worker process started",  # noqa: E501
    "eint": "Total number of internal errors since process started",
    "ssl_sess": "Total number of ssl sessions established",
    "ssl_reused_sess": "Total number of ssl sessions reused",
    "ssl_failed_handshake": "Total number of failed handshake",
    "h2_headers_rcvd": "Total number of received HEADERS frames",
    "h2_data_rcvd": "Total number of received DATA frames",
    "h2_settings_rcvd": "Total number of received SETTINGS frames",
    "h2_rst_stream_rcvd": "Total number of received RST_STREAM frames",
    "h2_goaway_rcvd": "Total number of received GOAWAY frames",
    "h2_detected_conn_protocol_errors": "Total number of connection protocol errors",
    "h2_detected_strm_protocol_errors": "Total number of stream protocol errors",
    "h2_rst_stream_resp": "Total number of RST_STREAM sent on detected error",
    "h2_goaway_resp": "Total number of GOAWAY sent on detected error",
    "h2_open_connections": "Count of currently open connections",
    "h2_backend_open_streams": "Count of currently open streams",
    "h2_total_connections": "Total number of connections",
    "h2_backend_total_streams": "Total number of streams",
    "h1_open_connections": "Count of currently open connections",
    "h1_open_streams": "Count of currently open streams",
    "h1_total_connections": "Total number of connections",
    "h1_total_streams": "Total number of streams",
    "h1_bytes_in": "Total number of bytes received",
    "h1_bytes_out": "Total number of bytes send",
    "h1_spliced_bytes_in": "Total number of bytes received using kernel splicing",
    "h1_spliced_bytes_out": "Total number of bytes sendusing kernel splicing",
    "qcur": "Number of current queued connections",
    "qmax": "Highest value of queued connections encountered since process started",
    "econ": "Total number of failed connections to server since the worker process started",
    "eresp": "Total number of invalid responses since the worker process started",
    "wretr": "Total number of server connection retries since the worker process started",
    "wredis": "Total number of server redispatches due to connection failures since the worker process started",  # noqa: E501
    "weight": "Server's effective weight, or sum of active servers' effective weights for a backend",  # noqa: E501
    "act": "Total number of active UP servers with a non-zero weight",
    "bck": "Total number of backup UP servers with a non-zero weight",
    "chkfail": "Total number of failed individual health checks per server/backend, since the worker process started",  # noqa: E501
    "chkdown": "Total number of failed checks causing UP to DOWN server transitions, per server/backend, since the worker process started",  # noqa: E501
    "lastchg": "How long ago the last server state changed, in seconds",
    "downtime": "Total time spent in DOWN state, for server or backend",
    "lbtot": "Total number of requests routed by load balancing since the worker process started (ignores queue pop and stickiness)",  # noqa: E501
    "check_status": "Status report of the server's latest health check, prefixed with '*' if a check is currently in progress",  # noqa: E501
    "check_duration": "Total duration of the latest server health check, in milliseconds",
    "cli_abrt": "Total number of requests or connections aborted by the client since the worker process started",  # noqa: E501
    "srv_abrt": "Total number of requests or connections aborted by the server since the worker process started",  # noqa: E501
    "lastsess": "How long ago some traffic was seen on this object on this worker process, in seconds",  # noqa: E501
    "last_chk": "Short description of the latest health check report for this server (see also check_desc)",  # noqa: E501
    "qtime": "Time spent in the queue, in milliseconds, averaged over the 1024 last requests (backend/server)",  # noqa: E501
    "ctime": "Time spent waiting for a connection to complete, in milliseconds, averaged over the 1024 last requests (backend/server)",  # noqa: E501
    "rtime": "Time spent waiting for a server response, in milliseconds, averaged over the 1024 last requests (backend/server)",  # noqa: E501
    "ttime": "Total request+response time (request+queue+connect+response+processing), in milliseconds, averaged over the 1024 last requests (backend/server)",  # noqa: E501
    "check_desc": "Textual description of the latest health check report for this server",
    "check_rise": "Number of successful health checks before declaring a server UP (server 'rise' setting)",  # noqa: E501
    "check_fall": "Number of failed health checks before declaring a server DOWN (server 'fall' setting)",  # noqa: E501
    "check_health": "Current server health check level (0..fall-1=DOWN, fall..rise-1=UP)",
    "addr": "Server's address:port, shown only if show-legends is set, or at levels oper/admin for the CLI",  # noqa: E501
    "cookie": "Backend's cookie name or Server's cookie value, shown only if show-legends is set, or at levels oper/admin for the CLI",  # noqa: E501
    "connect": "Total number of outgoing connection attempts on this backend/server since the worker process started",  # noqa: E501
    "reuse": "Total number of reused connection on this backend/server since the worker process started",  # noqa: E501
    "srv_icur": "Current number of idle connections available for reuse on this server",
    "qtime_max": "Maximum observed time spent in the queue, in milliseconds (backend/server)",
    "ctime_max": "Maximum observed time spent waiting for a connection to complete, in milliseconds (backend/server)",  # noqa: E501
    "rtime_max": "Maximum observed time spent waiting for a server response, in milliseconds (backend/server)",  # noqa: E501
    "ttime_max": "Maximum observed total request+response time (request+queue+connect+response+processing), in milliseconds (backend/server)",  # noqa: E501
    "idle_conn_cur": "Current number of unsafe idle connections",
    "safe_conn_cur": "Current number of safe idle connections",
    "used_conn_cur": "Current number of connections in use",
    "need_conn_est": "Estimated needed number of connections",
    "uweight": "Server's user weight, or sum of active servers' user weights for a backend",
    "algo": "Backend's load balancing algorithm, shown only if show-legends is set, or at levels oper/admin for the CLI",  # noqa: E501
    "agg_server_status": "Backend's aggregated gauge of servers' status",
    "agg_server_check_status": "Backend's aggregated gauge of servers' state check status",
    "agg_check_status": "Backend's aggregated gauge of servers' state check status",
}

_INFO_DESCRIPTIONS: dict[str, str] = {
    "Name": "Product name",
    "Version": "Product version",
    "Release_date": "Date of latest source code update",
    "Nbthread": "Number of started threads (global.nbthread)",
    "Nbproc": "Number of started worker processes (historical, always 1)",
    "Process_num": "Relative worker process number (1)",
    "Pid": "This worker process identifier for the system",
    "Uptime": "How long ago this worker process was started (days+hours+minutes+seconds)",
    "Uptime_sec": "How long ago this worker process was started (seconds)",
    "Memmax_MB": "Worker process's hard limit on memory usage in MB (-m on command line)",
    "PoolAlloc_MB": "Amount of memory allocated in pools (in MB)",
    "PoolUsed_MB": "Amount of pool memory currently used (in MB)",
    "PoolFailed": "Number of failed pool allocations since this worker was started",
    "Ulimit-n": "Hard limit on the number of per-process file descriptors",
    "Maxsock": "Hard limit on the number of per-process sockets",
    "Maxconn": "Hard limit on the number of per-process connections (configured or imposed by Ulimit-n)",  # noqa: E501
    "Hard_maxconn": "Hard limit on the number of per-process connections (imposed by Memmax_MB or Ulimit-n)",  # noqa: E501
    "CurrConns": "Current number of connections on this worker process",
    "CumConns": "Total number of connections on this worker process since started",
    "CumReq": "Total number of requests on this worker process since started",
    "MaxSslConns": "Hard limit on the number of per-process SSL endpoints (front+back), 0=unlimited",  # noqa: E501
    "CurrSslConns": "Current number of SSL endpoints on this worker process (front+back)",
    "CumSslConns": "Total number of SSL endpoints on this worker process since started (front+back)",  # noqa: E501
    "Maxpipes": "Hard limit on the number of pipes for splicing, 0=unlimited",
    "PipesUsed": "Current number of pipes in use in this worker process",
    "PipesFree": "Current number of allocated and available pipes in this worker process",
    "ConnRate": "Number of front connections created on this worker process over the last second",
    "ConnRateLimit": "Hard limit for ConnRate (global.maxconnrate)",
    "MaxConnRate": "Highest ConnRate reached on this worker process since started (in connections per second)",  # noqa: E501
    "SessRate": "Number of sessions created on this worker process over the last second",
    "SessRateLimit": "Hard limit for SessRate (global.maxsessrate)",
    "MaxSessRate": "Highest SessRate reached on this worker process since started (in sessions per second)",  # noqa: E501
    "SslRate": "Number of SSL connections created on this worker process over the last second",
    "SslRateLimit": "Hard limit for SslRate (global.maxsslrate)",
    "MaxSslRate": "Highest SslRate reached on this worker process since started (in connections per second)",  # noqa: E501
    "SslFrontendKeyRate": "Number of SSL keys created on frontends in this worker process over the last second",  # noqa: E501
    "SslFrontendMaxKeyRate": "Highest SslFrontendKeyRate reached on this worker process since started (in SSL keys per second)",  # noqa: E501
    "SslFrontendSessionReuse_pct": "Percent of frontend SSL connections which did not require a new key",  # noqa: E501
    "SslBackendKeyRate": "Number of SSL keys created on backends in this worker process over the last second",  # noqa: E501
    "SslBackendMaxKeyRate": "Highest SslBackendKeyRate reached on this worker process since started (in SSL keys per second)",  # noqa: E501
    "SslCacheLookups": "Total number of SSL session ID lookups in the SSL session cache on this worker since started",  # noqa: E501
    "SslCacheMisses": "Total number of SSL session ID lookups that didn't find a session in the SSL session cache on this worker since started",  # noqa: E501
    "CompressBpsIn": "Number of bytes submitted to the HTTP compressor in this worker process over the last second",  # noqa: E501
    "CompressBpsOut": "Number of bytes emitted by the HTTP compressor in this worker process over the last second",  # noqa: E501
    "CompressBpsRateLim": "Limit of CompressBpsOut beyond which HTTP compression is automatically disabled",  # noqa: E501
    "Tasks": "Total number of tasks in the current worker process (active + sleeping)",
    "Run_queue": "Total number of active tasks+tasklets in the current worker process",
    "Idle_pct": "Percentage of last second spent waiting in the current worker thread",
    "node": "Node name (global.node)",
    "Stopping": "1 if the worker process is currently stopping, otherwise zero",
    "Jobs": "Current number of active jobs on the current worker process (frontend connections, master connections, listeners)",  # noqa: E501
    "Unstoppable Jobs": "Current number of unstoppable jobs on the current worker process (master connections)",  # noqa: E501
    "Listeners": "Current number of active listeners on the current worker process",
    "ActivePeers": "Current number of verified active peers connections on the current worker process",  # noqa: E501
    "ConnectedPeers": "Current number of peers having passed the connection step on the current worker process",  # noqa: E501
    "DroppedLogs": "Total number of dropped logs for current worker process since started",
    "BusyPolling": "1 if busy-polling is currently in use on the worker process, otherwise zero (config.busy-polling)",  # noqa: E501
    "FailedResolutions": "Total number of failed DNS resolutions in current worker process since started",  # noqa: E501
    "TotalBytesOut": "Total number of bytes emitted by current worker process since started",
    "TotalSplicdedBytesOut": "Total number of bytes emitted by current worker process through a kernel pipe since started",  # noqa: E501
    "BytesOutRate": "Number of bytes emitted by current worker process over the last second",
    "DebugCommandsIssued": "Number of debug commands issued on this process (anything > 0 is unsafe)",  # noqa: E501
    "CumRecvLogs": "Total number of log messages received by log-forwarding listeners on this worker process since started",  # noqa: E501
    "Build info": "Build info",
    "Memmax_bytes": "Worker process's hard limit on memory usage in byes (-m on command line)",
    "PoolAlloc_bytes": "Amount of memory allocated in pools (in bytes)",
    "PoolUsed_bytes": "Amount of pool memory currently used (in bytes)",
    "Start_time_sec": "Start time in seconds",
    "Tainted": "Experimental features used",
}
