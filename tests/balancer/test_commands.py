"""The balancer's runtime API commands on a ``BalancerService`` built on a
``MemoryReactorClock``: answers, errors, levels, and the server state machine behind them
(maintenance, drain, health, weights) with the log lines HAProxy 2.6 writes. The expected
texts are HAProxy 2.6.12's, captured on loopback (tests/integration/test_runtime_haproxy.py
compares the two live)."""

from __future__ import annotations

from pathlib import Path

import pytest
from twisted.internet.testing import MemoryReactorClock

from stack.balancer.backend import ADMIN_CMAINT, BackendRuntime, ServerRuntime
from stack.balancer.commands import register_balancer_commands
from stack.balancer.service import BalancerService
from stack.config import load
from stack.runtime.api import RuntimeApi

INI = """\
[global]
stats socket = {sock} level admin

[defaults]
mode = http
timeout connect = 2s
timeout client = 10s
timeout server = 5s

[frontend fe]
bind = 127.0.0.1:18080
default_backend = be

[backend be]
balance = roundrobin
server s1 = 127.0.0.1:18081 weight 3 check inter 1s
server s2 = 127.0.0.1:18082
server s3 = 127.0.0.1:18083 disabled check inter 1s
server s4 = 127.0.0.1:18082 disabled

[backend bs]
balance = static-rr
server a = 127.0.0.1:18084 weight 5

[backend tomcats]
stick-table = type string len 32 size 30k expire 60m
stick store-response = res.cook(JSESSIONID)
stick on = req.cook(JSESSIONID)
server t1 = 127.0.0.1:18087
server t2 = 127.0.0.1:18088
"""

HEADER = (
    "1\n# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight "
    "srv_iweight srv_time_since_last_change srv_check_status srv_check_result "
    "srv_check_health srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id "
    "srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port srv_check_addr srv_agent_addr "
    "srv_agent_port\n"
)


class Lb:
    def __init__(self, tmp_path: Path) -> None:
        path = tmp_path / "stack.ini"
        path.write_text(INI.format(sock=tmp_path / "h.sock"))
        self.reactor = MemoryReactorClock()
        self.reactor.advance(1000.0)
        self.service = BalancerService(load(str(path)), self.reactor)
        self.api = RuntimeApi()
        register_balancer_commands(self.api, self.service)
        self.lines: list[tuple[str, str]] = []
        for backend in self.service.backends.values():
            backend.log = lambda line, level: self.lines.append((line, level))

    def __call__(self, line: str, level: str = "admin") -> str:
        return self.api.execute(line, level)

    def server(self, backend: str, name: str) -> ServerRuntime:
        return next(s for s in self.backend(backend).servers if s.name == name)

    def backend(self, name: str) -> BackendRuntime:
        return self.service.backends[name]

    def state(self, backend: str = "be") -> list[str]:
        out = self(f"show servers state {backend}")
        assert out.startswith(HEADER) and out.endswith("\n\n")
        return out[len(HEADER) : -1].splitlines()


@pytest.fixture
def lb(tmp_path: Path) -> Lb:
    return Lb(tmp_path)


def test_show_servers_state_at_start(lb: Lb) -> None:
    lb.reactor.advance(2)
    assert lb.state() == [
        "3 be 1 s1 127.0.0.1 2 0 3 3 2 1 0 2 6 0 0 0 - 18081 - 0 0 - - 0",
        "3 be 2 s2 127.0.0.1 2 0 1 1 2 1 0 2 0 0 0 0 - 18082 - 0 0 - - 0",
        "3 be 3 s3 127.0.0.1 0 5 1 1 2 1 0 0 14 0 0 0 - 18083 - 0 0 - - 0",
        "3 be 4 s4 127.0.0.1 0 5 1 1 2 1 0 0 8 0 0 0 - 18082 - 0 0 - - 0",
    ]
    everything = lb("show servers state")
    assert everything.count("\n3 be ") == 4 and "\n5 tomcats 2 t2 " in everything
    assert lb("show servers state #4") == lb("show servers state bs")
    assert lb("show servers state nope") == "Can't find backend.\n\n"
    assert lb("show servers state", "user").startswith(HEADER)


def test_show_backend_and_get_weight(lb: Lb) -> None:
    assert lb("show backend", "user") == "# name\nbe\nbs\ntomcats\n\n"
    assert lb("get weight be/s1", "user") == "3 (initial 3)\n\n"
    assert lb("get weight be/#2") == "1 (initial 1)\n\n"
    assert lb("get weight #3/s1") == "3 (initial 3)\n\n"
    assert lb("get weight be") == "Require 'backend/server'.\n\n"
    assert lb("get weight nope/s1") == "No such backend.\n\n"
    assert lb("get weight be/zz") == "No such server.\n\n"


def test_set_weight_rules_and_messages(lb: Lb) -> None:
    assert lb("set weight be/s1 50%") == "\n"
    assert lb("get weight be/s1") == "1 (initial 3)\n\n"
    s1 = lb.server("be", "s1")
    assert s1.uweight == 1 and s1.weight == 1
    static = "Backend is using a static LB algorithm and only accepts weights '0%' and '100%'.\n\n"
    assert lb("set weight bs/a 50%") == static
    assert lb("set weight bs/a 2") == static
    assert lb("set weight bs/a 0%") == "\n"
    assert lb.server("bs", "a").weight == 0
    assert lb("set weight bs/a 5") == "\n"
    assert lb("set weight be/s1 300") == (
        "Absolute weight can only be between 0 and 256 inclusive.\n\n"
    )
    assert lb("set weight be/s1 -1%") == "Relative weight must be positive.\n\n"
    assert lb("set weight be/s1") == "Require <weight> or <weight%>.\n\n"
    # 2.6 sends this one without its line feed ("...string\n" then the connection ends);
    # stack's framework always ends an answer with one (docs/runtime.md lists it)
    assert lb("set weight be/s1 3x") == "Trailing garbage in weight string\n\n"
    assert lb("set server be/s1 weight 1000%") == "\n"
    assert s1.uweight == 30
    assert lb("set server be/s1 weight 2") == "\n" and s1.uweight == 2
    assert lb("set weight be/s1 2", "operator") == "Permission denied\n\n"


def test_disable_and_enable_server_log_and_state(lb: Lb) -> None:
    s2 = lb.server("be", "s2")
    lb.reactor.advance(5)
    assert lb("disable server be/s2") == "\n"
    assert not s2.usable() and s2.admin == 1 and s2.last_change == lb.reactor.seconds()
    assert lb.state()[1] == "3 be 2 s2 127.0.0.1 0 1 1 1 0 1 0 0 0 0 0 0 - 18082 - 0 0 - - 0"
    assert lb.lines == [
        (
            "Server be/s2 is going DOWN for maintenance. 1 active and 0 backup servers left. "
            "0 sessions active, 0 requeued, 0 remaining in queue.",
            "alert",
        )
    ]
    lb.lines.clear()
    assert lb("enable server be/s2") == "\n"
    assert s2.usable() and s2.weight == 1
    # an unchecked server keeps the health the maintenance zeroed, as in 2.6
    assert lb.state()[1] == "3 be 2 s2 127.0.0.1 2 0 1 1 0 1 0 0 0 0 0 0 - 18082 - 0 0 - - 0"
    assert lb.lines == [("Server be/s2 is UP/READY (leaving forced maintenance).", "notice")]
    assert s2.counters.check_down == 1


def test_config_disabled_server_comes_up_at_once_and_keeps_the_config_bit(lb: Lb) -> None:
    s3 = lb.server("be", "s3")
    assert lb("enable server be/s3") == "\n"
    assert s3.admin == ADMIN_CMAINT and s3.usable() and s3.up
    assert lb.state()[2] == "3 be 3 s3 127.0.0.1 2 4 1 1 0 1 0 2 6 0 0 0 - 18083 - 0 0 - - 0"
    assert lb("set server be/s4 state ready") == "\n"
    assert lb.state()[3] == "3 be 4 s4 127.0.0.1 2 4 1 1 0 1 0 0 8 0 0 0 - 18082 - 0 0 - - 0"


def test_the_last_server_into_maintenance_says_no_server_is_left(lb: Lb) -> None:
    lb("disable server be/s2")
    lb.lines.clear()
    before = lb.backend("be").counters.down_trans
    lb("set server be/s1 state maint")
    assert lb.lines == [
        (
            "Server be/s1 is going DOWN for maintenance. 0 active and 0 backup servers left. "
            "0 sessions active, 0 requeued, 0 remaining in queue.",
            "alert",
        ),
        ("backend be has no server available!", "emerg"),
    ]
    assert lb.backend("be").counters.down_trans == before + 1
    assert lb.backend("be").last_change == lb.reactor.seconds()
    # checks pause: health 0, the paused bit
    assert lb.state()[0].split()[12:14] == ["0", "14"]


def test_drain_keeps_the_server_up_with_zero_weight(lb: Lb) -> None:
    s2 = lb.server("be", "s2")
    assert lb("set server be/s2 state drain") == "\n"
    assert s2.usable() and s2.weight == 0 and s2.eweight == 1 and s2.admin == 8
    assert lb("set server be/s2 state drain") == "\n"
    assert lb("set server be/s2 state maint") == "\n"
    assert s2.admin == 1
    assert lb("set server be/s2 state drain") == "\n"
    assert lb("set server be/s2 state ready") == "\n"
    assert [line for line, _ in lb.lines] == [
        "Server be/s2 enters drain state. 1 active and 0 backup servers online. "
        "0 sessions requeued, 0 total in queue.",
        "Server be/s2 is going DOWN for maintenance. 1 active and 0 backup servers left. "
        "0 sessions active, 0 requeued, 0 remaining in queue.",
        "Server be/s2 is UP/DRAIN (leaving forced maintenance).",
        "Server be/s2 remains in forced drain mode.",
        "Server be/s2 is UP (leaving forced drain).",
    ]
    # from drain, maintenance is no alert
    assert lb.lines[1][1] == "notice"
    assert s2.weight == 1


def test_set_server_health(lb: Lb) -> None:
    s2 = lb.server("be", "s2")
    assert lb("set server be/s2 health stopping") == "\n"
    assert s2.op_state == 3 and s2.weight == 0 and s2.usable()
    assert lb("set server be/s2 health down") == "\n"
    assert s2.op_state == 0 and s2.health.health == 0
    assert lb("set server be/s2 health up") == "\n"
    assert s2.op_state == 2 and s2.health.health == 4
    assert lb("set server be/s2 health up") == "\n"  # no change, nothing said
    assert [line for line, _ in lb.lines] == [
        "Server be/s2 is stopping, changed from CLI. 1 active and 0 backup servers online. "
        "0 sessions requeued, 0 total in queue.",
        "Server be/s2 is DOWN, changed from CLI. 1 active and 0 backup servers left. "
        "0 sessions active, 0 requeued, 0 remaining in queue.",
        "Server be/s2 is UP, changed from CLI. 2 active and 0 backup servers online. "
        "0 sessions requeued, 0 total in queue.",
    ]
    assert [level for _, level in lb.lines] == ["notice", "notice", "notice"]


def test_set_server_errors(lb: Lb) -> None:
    assert lb("set server be/s1 health bad") == (
        "'set server <srv> health' expects 'up', 'stopping', or 'down'.\n\n"
    )
    assert lb("set server be/s1 state bad") == (
        "'set server <srv> state' expects 'ready', 'drain' and 'maint'.\n\n"
    )
    usage = (
        "usage: set server <backend>/<server> addr | agent | agent-addr | agent-port | "
        "agent-send | check-addr | check-port | fqdn | health | ssl | state | weight\n\n"
    )
    assert lb("set server be/s1 foo") == usage
    assert lb("set server be/s1") == usage
    for line in ("set server be", "set server", "disable server", "disable server be/"):
        assert lb(line) == "Require 'backend/server'.\n\n"
    assert lb("disable server /s1") == "Require 'backend/server'.\n\n"
    assert lb("enable server be/s9") == "No such server.\n\n"
    assert lb("enable server nope/s1") == "No such backend.\n\n"
    assert lb("disable server be/s1", "operator") == "Permission denied\n\n"


def test_disable_and_enable_health(lb: Lb) -> None:
    assert lb("disable health be/s1") == "\n"
    assert lb.state()[0].split()[13] == "2"
    assert lb("disable health be/s2") == "\n"
    assert lb("enable health be/s2") == (
        "Health check was not configured on this server, cannot enable.\n\n"
    )
    assert lb("enable health be/s1") == "\n"
    assert lb.state()[0].split()[13] == "6"


def test_show_table_list_key_and_data_filters(lb: Lb) -> None:
    table = lb.service.tables["tomcats"]
    now = lb.reactor.seconds()
    table.store(b"AAA", 1, "t1", now)
    table.store(b"BBB", 2, "t2", now)
    assert lb("show table", "operator") == "# table: tomcats, type: string, size:30720, used:2\n\n"
    lines = lb("show table tomcats").splitlines()
    assert lines[0] == "# table: tomcats, type: string, size:30720, used:2"
    assert lines[1].endswith(": key=AAA use=0 exp=3600000 server_id=1 server_key=t1")
    assert lines[2].endswith(": key=BBB use=0 exp=3600000 server_id=2 server_key=t2")
    only = lb("show table tomcats data.server_id eq 2").splitlines()
    assert len(only) == 3 and only[1].endswith(
        "key=BBB use=0 exp=3600000 server_id=2 server_key=t2"
    )
    key = lb("show table tomcats key AAA").splitlines()
    assert key[0].startswith("# table: tomcats") and "key=AAA" in key[1]
    assert lb("show table tomcats key ZZZ") == "\n"
    assert lb("show table nope") == "No such table\n\n"
    assert lb("show table tomcats foo") == (
        'Optional argument only supports "data.<store_data_type>" <operator> <value> and key '
        "<key>\n\n"
    )
    assert lb("show table tomcats data.gpc0 eq 1") == (
        "Filter entry #1: Data type not stored in this table\n\n"
    )
    assert lb("show table tomcats data.nope eq 1") == "Filter entry #1: Unknown data type\n\n"
    assert lb("show table tomcats data.server_id is 1") == (
        'Filter entry #1: Require and operator among "eq", "ne", "le", "ge", "lt", "gt"\n\n'
    )
    assert lb("show table tomcats data.server_id eq x") == (
        "Filter entry #1: Require a valid integer value to compare against\n\n"
    )
    assert lb("show table tomcats key") == "Key value expected\n\n"
    assert lb("show table tomcats", "user") == "Permission denied\n\n"


def test_clear_and_set_table(lb: Lb) -> None:
    table = lb.service.tables["tomcats"]
    now = lb.reactor.seconds()
    for i, key in enumerate((b"A", b"B", b"C")):
        table.store(key, i % 2 + 1, f"t{i % 2 + 1}", now)
    assert lb("clear table tomcats key B") == "\n"
    assert len(table) == 2
    assert lb("clear table tomcats data.server_id eq 1") == "\n"
    assert [e.key for e in table.entries()] == [] or len(table) == 0
    assert lb("set table tomcats key NEW data.server_id 2") == "\n"
    entry = table.lookup(b"NEW", now, touch=False)
    assert entry is not None and entry.server_id == 2 and entry.server_key is None
    assert lb("set table tomcats key NEW data.server_id x") == (
        "Require a valid integer value to store\n\n"
    )
    assert lb("set table tomcats key NEW data.gpc0 1") == "Data type not stored in this table\n\n"
    assert lb("set table tomcats key NEW foo 1") == '"data.<type>" followed by a value expected\n\n'
    assert lb("set table tomcats") == "\n"
    assert lb("set table") == (
        "Required arguments: <table> key <key> [data.<store_data_type> <value>]*\n\n"
    )
    assert lb("set table tomcats data.server_id eq 1") == (
        'content-based lookup is only supported with the "show" and "clear" actions\n\n'
    )
    assert lb("clear table tomcats") == "\n" and len(table) == 0
    assert lb("clear table tomcats", "user") == "Permission denied\n\n"


def test_show_sess_lists_the_streams_each_frontend_registers(lb: Lb) -> None:
    class Address:
        host, port = "127.0.0.1", 41784

    class Exchange:
        client = Address()
        t_accept = lb.reactor.seconds() - 2

    class Route:
        backend = lb.backend("be")

    class Txn:
        exchange = Exchange()
        route = Route()
        server = lb.server("be", "s1")

    handler = lb.service.handlers["fe"]
    handler.streams = {Txn()}  # type: ignore[attr-defined]
    text = lb("show sess", "operator")
    assert text.endswith("\n\n") and text.count("\n") == 2
    assert text[:-2].split(": ", 1)[1] == (
        "proto=tcpv4 src=127.0.0.1:41784 fe=fe be=be srv=s1 ts=00 epoch=0 age=2s exp="
    )
    assert lb("show sess", "user") == "Permission denied\n\n"


def test_help_lists_the_balancer_commands_as_haproxy(lb: Lb) -> None:
    text = lb("help")
    assert (
        "  disable server (DEPRECATED)             : disable a server for maintenance "
        "(use 'set server' instead)\n"
    ) in text
    assert (
        "  enable server  (DEPRECATED)             : enable a disabled server "
        "(use 'set server' instead)\n"
    ) in text
    assert (
        "  set weight <bk>/<srv>  (DEPRECATED)     : change a server's weight "
        "(use 'set server' instead)\n"
    ) in text
    assert (
        "  show servers state [<backend>]          : dump volatile server information "
        "(all or for a single backend)\n"
    ) in text


def test_several_commands_on_one_line(lb: Lb) -> None:
    assert lb("disable server be/s2; get weight be/s2; enable server be/s2") == (
        "\n1 (initial 1)\n\n\n"
    )


def test_checks_pause_in_maintenance_and_resume_up_at_once(lb: Lb) -> None:
    from twisted.internet import error
    from twisted.python.failure import Failure

    checker = lb.service.health.by_backend["be"]
    log: list[str] = []
    checker.log = log.append
    s1, s3 = lb.server("be", "s1"), lb.server("be", "s3")
    checker.start()
    lb.reactor.advance(1.0)
    connects = [c for c in lb.reactor.tcpClients if c[1] == 18081]
    assert connects and not [c for c in lb.reactor.tcpClients if c[1] == 18083]
    assert lb.state()[0].split()[13] == "7"  # CHK_ST_INPROGRESS while the check runs
    connects[0][2].clientConnectionFailed(
        None, Failure(error.ConnectionRefusedError(111, "Connection refused"))
    )
    assert not s1.up and s1.health.health == 0
    assert s1.counters.check_failures == 1 and s1.counters.check_down == 1
    assert s1.last_change == lb.reactor.seconds()
    assert lb.state()[0].split()[10:14] == ["8", "2", "0", "6"]  # L4CON, failed, 0, enabled
    lb.lines.clear()
    lb("disable server be/s1")
    assert lb.lines == [("Server be/s1 was DOWN and now enters maintenance.", "notice")]
    lb.reactor.tcpClients.clear()
    lb.reactor.advance(5.0)
    assert not [c for c in lb.reactor.tcpClients if c[1] == 18081]  # paused
    lb.lines.clear()
    lb("enable server be/s1")
    assert s1.up and s1.health.health == 2
    assert lb.lines == [("Server be/s1 is UP/READY (leaving forced maintenance).", "notice")]
    lb("enable server be/s3")  # config-disabled: tracked from the start, checked once enabled
    lb.reactor.advance(1.0)
    assert [c for c in lb.reactor.tcpClients if c[1] == 18083]
    assert s3.up
    checker.stop()


def test_set_health_down_is_corrected_by_the_checks(lb: Lb) -> None:
    checker = lb.service.health.by_backend["be"]
    checker.log = None
    s1 = lb.server("be", "s1")
    checker.start()
    lb("set server be/s1 health down")
    assert not s1.up
    for _ in range(2):  # rise 2: two passing checks bring it back
        lb.reactor.advance(1.0)
        connect = next(c for c in lb.reactor.tcpClients if c[1] == 18081)
        lb.reactor.tcpClients.remove(connect)
        from twisted.internet.address import IPv4Address
        from twisted.internet.testing import StringTransport

        protocol = connect[2].buildProtocol(IPv4Address("TCP", "127.0.0.1", 18081))
        protocol.makeConnection(StringTransport())
    assert s1.up and s1.health.health == 4
    checker.stop()
