"""The balancer's runtime API commands, with HAProxy 2.6's syntax, answers and errors.

Registered on the process's :class:`stack.runtime.RuntimeApi` by
:func:`register_balancer_commands` (``stack/tap.py``). Each answer is built from the live
runtime objects (``BackendRuntime``, ``ServerRuntime``, ``StickTable``); every change goes
through ``BackendRuntime`` (``set_admin``, ``set_health``, ``set_weight``), which also logs
what HAProxy logs. Read against 2.6's src/server.c (``cli_parse_*``), src/proxy.c (``show
servers state``, ``show backend``), src/stick_table.c (``show/clear/set table``) and
src/stream.c (``show sess``); the levels are those the handlers check there. Backends and
servers may be named ``#<id>``.

``show table`` is registered at operator level because handlers do not see the session's
level: HAProxy shows a ``user`` session the table headers without their entries.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from stack.balancer.backend import (
    ADMIN_STATES,
    CHECK_CONFIGURED,
    CHECK_ENABLED,
    CHECK_INPROGRESS,
    HEALTH_STATES,
    BackendRuntime,
    ServerRuntime,
)
from stack.balancer.checks import STATUSES
from stack.balancer.sticktable import Key, StickEntry, StickTable
from stack.config import model
from stack.runtime.api import CommandError, RuntimeApi

if TYPE_CHECKING:
    from stack.balancer.service import BalancerService

__all__ = [
    "SERVERS_STATE_HEADER",
    "BalancerCommands",
    "register_balancer_commands",
    "session_line",
]

# src/server_state.c: SRV_STATE_FILE_VERSION and SRV_STATE_FILE_FIELD_NAMES
SERVERS_STATE_HEADER = (
    "1\n# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight "
    "srv_iweight srv_time_since_last_change srv_check_status srv_check_result "
    "srv_check_health srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id "
    "srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port srv_check_addr srv_agent_addr "
    "srv_agent_port\n"
)

# include/haproxy/check-t.h: enum healthcheck_status, as `show servers state` prints it
CHECK_STATUS_CODES = {
    "INI": 1,
    "SOCKERR": 5,
    "L4OK": 6,
    "L4TOUT": 7,
    "L4CON": 8,
    "L6OK": 9,
    "L6TOUT": 10,
    "L6RSP": 11,
    "L7TOUT": 12,
    "L7RSP": 13,
    "L7OK": 15,
    "L7OKC": 16,
    "L7STS": 17,
}
# enum chk_result
CHK_RES_UNKNOWN, CHK_RES_FAILED, CHK_RES_PASSED, CHK_RES_CONDPASS = 0, 2, 3, 4

# stktable_data_types[].name in 2.6's order; stack's tables store only the first and the
# 20th (server_id, server_key), the others are known names "not stored in this table".
DATA_TYPES = (
    "server_id",
    "gpt0",
    "gpc0",
    "gpc0_rate",
    "conn_cnt",
    "conn_rate",
    "conn_cur",
    "sess_cnt",
    "sess_rate",
    "http_req_cnt",
    "http_req_rate",
    "http_err_cnt",
    "http_err_rate",
    "bytes_in_cnt",
    "bytes_in_rate",
    "bytes_out_cnt",
    "bytes_out_rate",
    "gpc1",
    "gpc1_rate",
    "server_key",
    "http_fail_cnt",
    "http_fail_rate",
    "gpt",
    "gpc",
    "gpc_rate",
)
FILTER_LEN = 4  # STKTABLE_FILTER_LEN
_OPS = ("eq", "ne", "le", "ge", "lt", "gt")

_REQUIRE_SERVER = "Require 'backend/server'.\n"
_SET_SERVER_USAGE = (
    "usage: set server <backend>/<server> addr | agent | agent-addr | agent-port | "
    "agent-send | check-addr | check-port | fqdn | health | ssl | state | weight\n"
)


def _atoi(text: str) -> int:
    """C's ``atoi``: an optional sign and the leading digits, 0 without any."""
    text = text.lstrip(" \t\n\v\f\r")
    sign = 1
    if text[:1] in ("+", "-"):
        sign = -1 if text[0] == "-" else 1
        text = text[1:]
    digits = ""
    for ch in text:
        if not ("0" <= ch <= "9"):
            break
        digits += ch
    return sign * int(digits) if digits else 0


def _strl2llrc(text: str) -> int | None:
    """``strl2llrc``: a whole-string decimal integer (a leading ``-`` allowed); like the C
    code, characters below ``0`` slip through as negative digits."""
    if not text:
        return None
    negative = text[0] == "-"
    value = 0
    for ch in text[1:] if negative else text:
        digit = ord(ch) - 48
        if digit > 9:
            return None
        value = value * 10 - digit if negative else value * 10 + digit
    if not -(1 << 63) <= value < 1 << 63:
        return None
    return value


def check_result(server: ServerRuntime) -> int:
    """``check->result``: unknown while a check runs or before any, else passed/failed."""
    status = server.health.status
    if server.check_state & CHECK_INPROGRESS or status not in STATUSES:
        return CHK_RES_UNKNOWN
    if status == "L7OKC":
        return CHK_RES_CONDPASS
    return CHK_RES_PASSED if STATUSES[status][1] else CHK_RES_FAILED


def session_line(
    ident: int,
    src: Any,
    frontend: str,
    backend: str | None,
    server: str | None,
    age: float,
    expires: float | None,
) -> str:
    """One ``show sess`` line in 2.6's shape, with the facts stack keeps: the stream's
    synthetic address, protocol and client address, frontend, backend, server, age and next
    expiry. HAProxy's channel and connector flag groups (``rq[...]``, ``scf=[...]``) describe
    its own internals and are left out."""
    host = getattr(src, "host", None)
    port = getattr(src, "port", None)
    if host is None:
        proto, where = "unix_stream", "unix:1"
    else:
        version = 6 if ":" in host else 4
        proto = f"tcpv{version}"
        where = f"[{host}]:{port}" if version == 6 else f"{host}:{port}"
    exp = "" if expires is None else _ticks(expires)
    return (
        f"0x{0x55D0C0DE8000 + ident * 0x400:x}: proto={proto} src={where} fe={frontend} "
        f"be={backend or '<NONE>'} srv={server or '<none>'} ts=00 epoch=0 age={_ticks(age)} "
        f"exp={exp}"
    )


def _ticks(seconds: float) -> str:
    """HAProxy's ``human_time``: ``1s``, ``2m3s``, ``1h2m``, ``3d4h`` (rounded down)."""
    t = max(0, int(seconds))
    if t < 60:
        return f"{t}s"
    if t < 3600:
        return f"{t // 60}m{t % 60}s"
    if t < 86400:
        return f"{t // 3600}h{t % 3600 // 60}m"
    return f"{t // 86400}d{t % 86400 // 3600}h"


class BalancerCommands:
    """The handlers, over one :class:`BalancerService`."""

    def __init__(self, balancer: BalancerService) -> None:
        self.balancer = balancer
        ids = getattr(balancer, "proxy_ids", {})
        self.backend_ids = {name: ids.get(name, 0) for name in balancer.backends}

    # -- lookups -----------------------------------------------------------------------------

    def now(self) -> float:
        return float(self.balancer.reactor.seconds())

    def backends(self) -> list[BackendRuntime]:
        """In HAProxy's order (proxy ids, that is config order)."""
        return sorted(self.balancer.backends.values(), key=lambda b: self.backend_ids[b.name])

    def find_backend(self, name: str) -> BackendRuntime | None:
        """``proxy_be_by_name``: a name, or ``#<id>``."""
        if name.startswith("#"):
            wanted = _atoi(name[1:])
            for backend in self.balancer.backends.values():
                if self.backend_ids[backend.name] == wanted:
                    return backend
            return None
        return self.balancer.backends.get(name)

    def _lookup(self, backend_name: str, server_name: str) -> ServerRuntime:
        """``get_backend_server``: the server by name, or ``#<puid>``."""
        backend = self.find_backend(backend_name)
        if backend is None:
            raise CommandError("No such backend.\n")
        sid = _atoi(server_name[1:]) if server_name.startswith("#") else None
        for server in backend.servers:
            if (sid is not None and server.puid == sid) or (
                sid is None and server.name == server_name
            ):
                return server
        raise CommandError("No such server.\n")

    def find_server(self, arg: str) -> ServerRuntime:
        """``cli_find_server``: ``<backend>/<server>``, both parts required."""
        backend, slash, server = arg.partition("/")
        if not slash or not backend or not server:
            raise CommandError(_REQUIRE_SERVER)
        return self._lookup(backend, server)

    # -- servers ------------------------------------------------------------------------------

    def show_servers_state(self, args: list[str]) -> str:
        if args and args[0]:
            backend = self.find_backend(args[0])
            if backend is None:
                raise CommandError("Can't find backend.\n")
            backends = [backend]
        else:
            backends = self.backends()
        now = int(self.now())
        lines = [SERVERS_STATE_HEADER]
        for backend in backends:
            for server in backend.servers:
                lines.append(self.server_state_line(backend, server, now) + "\n")
        return "".join(lines)

    def server_state_line(self, backend: BackendRuntime, server: ServerRuntime, now: int) -> str:
        config = server.config
        address = config.address
        health = server.health
        fields = (
            self.backend_ids[backend.name],
            backend.name,
            server.puid,
            server.name,
            address.host or "-",
            server.op_state,
            server.admin,
            server.uweight,
            server.iweight,
            now - int(server.last_change),
            CHECK_STATUS_CODES.get(health.status, 0),
            check_result(server),
            health.health,
            server.check_state,
            0,  # agent checks are not modelled
            0,  # backend `id`: not modelled
            0,  # server `id`: not modelled
            "-",  # fqdn: addresses are resolved at start
            address.port,
            "-",  # SRV record
            1 if config.tls is not None else 0,
            config.check_port or 0,
            "-",  # check addr
            "-",  # agent addr
            0,  # agent port
        )
        return " ".join(str(f) for f in fields)

    def show_backend(self, args: list[str]) -> str:
        return "# name\n" + "".join(f"{b.name}\n" for b in self.backends())

    def get_weight(self, args: list[str]) -> str:
        arg = args[0] if args else ""
        backend, _slash, server_name = arg.partition("/")
        if not server_name:
            raise CommandError(_REQUIRE_SERVER)
        server = self._lookup(backend, server_name)
        return f"{server.uweight} (initial {server.iweight})\n"

    def set_weight(self, args: list[str]) -> str:
        server = self.find_server(args[0] if args else "")
        error = server.backend.set_weight(server, args[1] if len(args) > 1 else "")
        if error is not None:
            raise CommandError(error)
        return ""

    def disable_server(self, args: list[str]) -> str:
        server = self.find_server(args[0] if args else "")
        server.backend.set_admin(server, "maint")
        return ""

    def enable_server(self, args: list[str]) -> str:
        server = self.find_server(args[0] if args else "")
        server.backend.set_admin(server, "ready")
        return ""

    def disable_health(self, args: list[str]) -> str:
        server = self.find_server(args[0] if args else "")
        server.check_state &= ~CHECK_ENABLED
        return ""

    def enable_health(self, args: list[str]) -> str:
        server = self.find_server(args[0] if args else "")
        if not server.check_state & CHECK_CONFIGURED:
            raise CommandError("Health check was not configured on this server, cannot enable.\n")
        server.check_state |= CHECK_ENABLED
        return ""

    def set_server(self, args: list[str]) -> str:
        server = self.find_server(args[0] if args else "")
        what = args[1] if len(args) > 1 else ""
        value = args[2] if len(args) > 2 else ""
        backend = server.backend
        if what == "weight":
            error = backend.set_weight(server, value)
            if error is not None:
                raise CommandError(error)
        elif what == "state":
            if value not in ADMIN_STATES:
                raise CommandError(
                    "'set server <srv> state' expects 'ready', 'drain' and 'maint'.\n"
                )
            backend.set_admin(server, value)
        elif what == "health":
            if value not in HEALTH_STATES:
                raise CommandError(
                    "'set server <srv> health' expects 'up', 'stopping', or 'down'.\n"
                )
            backend.set_health(server, value)
        elif what in ("agent", "agent-send"):
            raise CommandError("agent checks are not enabled on this server.\n")
        else:
            # addr, agent-addr, agent-port, check-addr, check-port, fqdn, ssl: not supported
            raise CommandError(_SET_SERVER_USAGE)
        return ""

    # -- sessions -----------------------------------------------------------------------------

    def show_sess(self, args: list[str]) -> str:
        """Every request in flight, from each frontend's ``streams`` registry."""
        now = self.now()
        lines = []
        for handler in self.balancer.handlers.values():
            for txn in list(getattr(handler, "streams", ())):
                lines.append(self._sess(txn, handler.name, now))
        return "".join(f"{line}\n" for line in lines)

    @staticmethod
    def _sess(txn: Any, frontend: str, now: float) -> str:
        route = getattr(txn, "route", None)
        backend = getattr(getattr(route, "backend", None), "name", None)
        server = getattr(getattr(txn, "server", None), "name", None)
        exchange = txn.exchange
        started = getattr(exchange, "t_accept", now)
        return session_line(
            id(txn) & 0xFFFFFF, exchange.client, frontend, backend, server, now - started, None
        )

    # -- stick tables -------------------------------------------------------------------------

    def tables(self) -> list[StickTable]:
        """``stktables_list``: HAProxy prepends each table, so the last declared comes first."""
        return [t for t in reversed(list(self.balancer.tables.values())) if t.size]

    def find_table(self, name: str) -> StickTable | None:
        return self.balancer.tables.get(name)

    def show_table(self, args: list[str]) -> str:
        if not args or not args[0]:
            return "".join(f"{t.show_header()}\n" for t in self.tables())
        table = self._table(args[0])
        return self._table_request(table, args, "show")

    def clear_table(self, args: list[str]) -> str:
        if not args or not args[0]:
            raise CommandError(
                'Required arguments: <table> "data.<store_data_type>" <operator> <value> '
                "or <table> key <key>\n"
            )
        return self._table_request(self._table(args[0]), args, "clear")

    def set_table(self, args: list[str]) -> str:
        if not args or not args[0]:
            raise CommandError(
                "Required arguments: <table> key <key> [data.<store_data_type> <value>]*\n"
            )
        return self._table_request(self._table(args[0]), args, "set")

    def _table(self, name: str) -> StickTable:
        table = self.find_table(name)
        if table is None:
            raise CommandError("No such table\n")
        return table

    def _table_request(self, table: StickTable, args: list[str], action: str) -> str:
        word = args[1] if len(args) > 1 else ""
        if word == "key":
            return self._per_key(table, args, action)
        if word.startswith("data."):
            if action == "set":
                raise CommandError(
                    'content-based lookup is only supported with the "show" and "clear" actions\n'
                )
            return self._by_data(table, self._filters(table, args), action)
        if word:
            raise CommandError(
                {
                    "show": 'Optional argument only supports "data.<store_data_type>" '
                    "<operator> <value> and key <key>\n",
                    "clear": 'Required arguments: <table> "data.<store_data_type>" <operator> '
                    "<value> or <table> key <key>\n",
                    "set": "Required arguments: <table> key <key> [data.<store_data_type> "
                    "<value>]*\n",
                }[action]
            )
        if action == "set":
            return ""  # 2.6 walks the table for a "set" without a key and does nothing
        return self._by_data(table, [], action)

    def _stored(self, table: StickTable, data_type: str) -> bool:
        return table.server_data and data_type in ("server_id", "server_key", "server_name")

    @staticmethod
    def _known(data_type: str) -> bool:
        return data_type in DATA_TYPES or data_type == "server_name"

    def _filters(self, table: StickTable, args: list[str]) -> list[tuple[str, str, int]]:
        """``table_prepare_data_request``: up to four ``data.<type> <op> <value>``."""
        filters: list[tuple[str, str, int]] = []

        def arg(i: int) -> str:
            return args[i] if i < len(args) else ""

        i = 0
        while i < FILTER_LEN:
            if i > 0 and not arg(1 + 3 * i):
                break
            data_type = arg(1 + 3 * i)[5:]
            if not self._known(data_type):
                raise CommandError(f"Filter entry #{i + 1}: Unknown data type\n")
            if not self._stored(table, data_type):
                raise CommandError(f"Filter entry #{i + 1}: Data type not stored in this table\n")
            op = arg(2 + 3 * i)
            if op not in _OPS:
                raise CommandError(
                    f"Filter entry #{i + 1}: Require and operator among "
                    '"eq", "ne", "le", "ge", "lt", "gt"\n'
                )
            value = _strl2llrc(arg(3 + 3 * i))
            if value is None:
                raise CommandError(
                    f"Filter entry #{i + 1}: Require a valid integer value to compare against\n"
                )
            filters.append((data_type, op, value))
            i += 1
        if arg(1 + 3 * i):
            raise CommandError(
                f"Detected extra data in filter, {3 + 3 * i + 1}th word of input, "
                f"after '{arg(3 * i)}'\n"
            )
        return filters

    @staticmethod
    def _matches(entry: StickEntry, filters: Sequence[tuple[str, str, int]]) -> bool:
        for data_type, op, value in filters:
            # server_key is a dictionary entry: HAProxy's filter reads it as 0
            data = entry.server_id if data_type == "server_id" else 0
            if data < value and op in ("eq", "gt", "ge"):
                return False
            if data == value and op in ("ne", "gt", "lt"):
                return False
            if data > value and op in ("eq", "lt", "le"):
                return False
        return True

    def _by_data(
        self, table: StickTable, filters: Sequence[tuple[str, str, int]], action: str
    ) -> str:
        now = self.now()
        lines = table.show(now)
        if action == "show":
            entries = self._ordered(table, now)
            return (
                lines[0]
                + "\n"
                + "".join(
                    f"{table.show_entry(e, now)}\n" for e in entries if self._matches(e, filters)
                )
            )
        for entry in self._ordered(table, now):
            if self._matches(entry, filters):
                table.remove(entry.key)
        return ""

    @staticmethod
    def _ordered(table: StickTable, now: float) -> list[StickEntry]:
        """The entries in ``show`` order (the tree order HAProxy walks)."""
        by_ptr = {e.ptr: e for e in table.entries()}
        out = []
        for line in table.show(now)[1:]:
            entry = by_ptr.get(line.split(":", 1)[0])
            if entry is not None:
                out.append(entry)
        return out

    def _per_key(self, table: StickTable, args: list[str], action: str) -> str:
        """``table_process_entry_per_key``."""
        text = args[2] if len(args) > 2 else ""
        if not text:
            raise CommandError("Key value expected\n")
        key = self._cli_key(table, text)
        now = self.now()
        if action == "show":
            entry = table.lookup(key, now, touch=False)
            if entry is None:
                return ""
            return f"{table.show_header()}\n{table.show_entry(entry, now)}\n"
        if action == "clear":
            table.remove(key)
            return ""
        server_id: int | None = None
        rest = args[3:]
        pairs: list[tuple[str, str]] = []
        for i in range(0, len(rest), 2):
            pairs.append((rest[i], rest[i + 1] if i + 1 < len(rest) else ""))
        entry = table.set_server_id(key, None, now)
        if entry is None:
            raise CommandError("Unable to allocate a new entry\n")
        for name, value_text in pairs:
            if not name.startswith("data."):
                raise CommandError('"data.<type>" followed by a value expected\n')
            data_type = name[5:]
            if not self._known(data_type):
                raise CommandError("Unknown data type\n")
            if not self._stored(table, data_type):
                raise CommandError("Data type not stored in this table\n")
            value = _strl2llrc(value_text)
            if value is None:
                raise CommandError("Require a valid integer value to store\n")
            if data_type == "server_id":
                server_id = value
                table.set_server_id(key, server_id, now)
            # server_key is a dictionary entry: HAProxy takes the integer and stores nothing
        return ""

    @staticmethod
    def _cli_key(table: StickTable, text: str) -> Key:
        """The key as the CLI parses it for each table type."""
        t = table.type
        if t is model.StickTableType.IP:
            try:
                return socket.inet_aton(text) if text.count(".") == 3 else b"\0\0\0\0"
            except OSError:
                return b"\0\0\0\0"  # inetaddr_host: 0.0.0.0 for what it cannot read
        if t is model.StickTableType.IPV6:
            try:
                return ipaddress.IPv6Address(text).packed
            except ValueError:
                raise CommandError("Invalid key\n") from None
        if t is model.StickTableType.INTEGER:
            digits = text.lstrip(" \t")
            if not digits or (not digits[:1].isdigit() and digits[:1] not in "+-"):
                raise CommandError("Invalid key\n")
            value = _atoi(digits)
            if value < 0:
                value &= (1 << 64) - 1  # strtoul wraps a negative number
            if value > 0xFFFFFFFF:
                raise CommandError("Invalid key\n")
            return value
        key = table.key_for(text)
        assert key is not None
        return key


Handler = Callable[[list[str]], str]


def _commands(c: BalancerCommands) -> Iterable[tuple[tuple[str, ...], Handler, str, str, str]]:
    """(words, handler, level, args synopsis, help) as HAProxy 2.6 registers them."""
    yield (
        ("show", "servers", "state"),
        c.show_servers_state,
        "user",
        "[<backend>]",
        "dump volatile server information (all or for a single backend)",
    )
    yield (
        ("show", "backend"),
        c.show_backend,
        "user",
        "",
        "list backends in the current running config",
    )
    yield (
        ("get", "weight"),
        c.get_weight,
        "user",
        "<bk>/<srv>",
        "report a server's current weight",
    )
    yield (
        ("set", "weight"),
        c.set_weight,
        "admin",
        "<bk>/<srv>  (DEPRECATED)",
        "change a server's weight (use 'set server' instead)",
    )
    yield (
        ("set", "server"),
        c.set_server,
        "admin",
        "<bk>/<srv> [opts]",
        "change a server's state, weight, address or ssl",
    )
    yield (
        ("disable", "server"),
        c.disable_server,
        "admin",
        "(DEPRECATED)",
        "disable a server for maintenance (use 'set server' instead)",
    )
    yield (
        ("enable", "server"),
        c.enable_server,
        "admin",
        " (DEPRECATED)",
        "enable a disabled server (use 'set server' instead)",
    )
    yield (("disable", "health"), c.disable_health, "admin", "", "disable health checks")
    yield (("enable", "health"), c.enable_health, "admin", "", "enable health checks")
    yield (
        ("show", "sess"),
        c.show_sess,
        "operator",
        "[id]",
        "report the list of current sessions or dump this exact session",
    )
    yield (
        ("show", "table"),
        c.show_table,
        "operator",
        "<table> [<filter>]*",
        "report table usage stats or dump this table's contents (filter: data/key)",
    )
    yield (
        ("clear", "table"),
        c.clear_table,
        "operator",
        "<table> [<filter>]*",
        "remove an entry from a table (filter: data/key)",
    )
    yield (
        ("set", "table"),
        c.set_table,
        "operator",
        "<table> key <k> [data.* <v>]*",
        "update or create a table entry's data",
    )


def register_balancer_commands(runtime: RuntimeApi, balancer: BalancerService) -> BalancerCommands:
    """Register the balancer's commands on ``runtime``; returns the handlers' object."""
    commands = BalancerCommands(balancer)
    for words, handler, level, args, text in _commands(commands):
        runtime.register(words, handler, level=level, help=text, args=args)
    return commands
