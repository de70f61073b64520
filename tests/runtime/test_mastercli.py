"""The master's runtime API with ``workers = N`` (:mod:`stack.runtime.mastercli`), in memory.

The workers are real :class:`RuntimeApi` command sets (each with its own state), asked the way
the master asks a worker's private socket: a fresh non-interactive session at level admin,
whose whole output comes back. Answers that come later are Deferreds the test fires."""

from __future__ import annotations

from typing import Any

import pytest
from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.testing import MemoryReactorClock, StringTransport

from stack.balancer.stats import CSV_HEADER, FIELD_NAMES, format_csv, format_info, format_typed
from stack.runtime.api import CommandError, RuntimeApi, Session
from stack.runtime.mastercli import MasterCli, Process
from stack.runtime.service import IDLE_TIMEOUT, RuntimeFactory

_POS = {name: i for i, name in enumerate(FIELD_NAMES)}


def _row(kind: int, iid: int, sid: int, pxname: str, svname: str, **numbers: int) -> list[Any]:
    row: list[Any] = [None] * len(FIELD_NAMES)
    row[_POS["pxname"]] = ("KNS", "str", pxname)
    row[_POS["svname"]] = ("KNS", "str", svname)
    row[_POS["iid"]] = ("KNS", "u32", iid)
    row[_POS["sid"]] = ("KNS", "u32", sid)
    row[_POS["type"]] = ("CNS", "u32", kind)
    row[_POS["status"]] = ("SOP", "str", "OPEN" if kind == 0 else "UP")
    for name, number in numbers.items():
        tags = {"stot": "MCP", "scur": "MGP", "smax": "MMP"}[name]
        row[_POS[name]] = (tags, "u64", number)
    return row


class Worker:
    """One worker's commands and state: a server's admin state, and its own counters."""

    def __init__(self, index: int, stot: int, scur: int, smax: int) -> None:
        self.index = index
        self.state = "ready"
        self.api = RuntimeApi()
        self.asked: list[str] = []
        rows = [_row(0, 2, 0, "web", "FRONTEND", stot=stot, scur=scur, smax=smax)]
        self.api.register(("show", "stat"), self._show_stat, level="user", help="stats")
        self.api.register(("show", "info"), self._show_info, level="user", help="info")
        self.api.register(
            ("show", "sess"),
            lambda a: f"0x{index}: sess of worker {index}\n",
            level="user",
            help="sessions",
        )
        self.api.register(
            ("show", "servers", "state"),
            lambda a: f"state {self.state}\n",
            level="user",
            help="server states",
        )
        self.api.register(("set", "server"), self._set_server, level="admin", help="set")
        self.rows = rows

    def _show_stat(self, args: list[str]) -> str:
        if "typed" not in args:
            return format_csv(self.rows)
        return format_typed(self.rows)

    def _show_info(self, args: list[str]) -> str:
        fields = [
            (0, "Name", ("POS", "str", "HAProxy")),
            (4, "Pid", ("SGP", "u32", 100 + self.index)),
            (18, "CumConns", ("MCP", "u32", 10 * self.index)),
        ]
        return format_info(fields, "typed" if "typed" in args else "")

    def _set_server(self, args: list[str]) -> str:
        if args[:1] != ["web/s1"]:
            raise CommandError("No such server.\n")
        if self.index == 2 and args[-1] == "drain":
            raise CommandError("worker 2 refuses\n")
        self.state = args[-1]
        return ""


class Cluster:
    def __init__(self) -> None:
        self.workers = {1: Worker(1, stot=5, scur=1, smax=3), 2: Worker(2, stot=7, scur=2, smax=2)}
        self.later: dict[int, Deferred[str]] = {}  # a worker whose answer the test gives
        self.down: set[int] = set()
        self.cli = MasterCli(self.processes, self.ask, clock=lambda: 1000.0 + 3723)

    def processes(self) -> list[Process]:
        live = [Process(i, 4000 + i, 1000.0, reloads=1) for i in self.workers if i not in self.down]
        return [Process(0, 4000, 1000.0, reloads=2, failed_reloads=1), *live]

    def ask(self, index: int, text: str) -> Deferred[str]:
        worker = self.workers[index]
        worker.asked.append(text)
        if index in self.later:
            return self.later[index]
        if index in self.down:
            return fail(ConnectionRefusedError("Connection was refused by other side"))
        return succeed(worker.api.execute(text, "admin"))

    def run(self, command: str, session: Session | None = None) -> str:
        answer = self.cli.run(command, session or Session("admin"))
        if isinstance(answer, str):
            return answer
        out: list[str] = []
        answer.addCallback(out.append)
        assert out, "the answer did not come"
        return out[0]


@pytest.fixture
def cluster() -> Cluster:
    return Cluster()


def test_show_stat_sums_the_workers_counters_and_maxes_their_maxima(cluster: Cluster) -> None:
    csv = cluster.run("show stat")
    assert csv.startswith(CSV_HEADER)
    line = csv.splitlines()[1].split(",")
    names = CSV_HEADER[2:].split(",")
    assert line[names.index("stot")] == "12"  # 5 + 7
    assert line[names.index("scur")] == "3"  # 1 + 2
    assert line[names.index("smax")] == "3"  # max(3, 2)
    assert line[names.index("pxname")] == "web"
    assert csv.endswith(",\n\n")
    # each worker was asked for the typed form
    assert cluster.workers[2].asked == ["show stat -1 -1 -1 typed\n"]


def test_show_stat_keeps_the_filters_and_prints_the_format_asked(cluster: Cluster) -> None:
    typed = cluster.run("show stat web 1 -1 typed")
    assert "F.2.0.7.stot.1:MCP:u64:12\n" in typed
    assert cluster.workers[1].asked == ["show stat web 1 -1 typed\n"]
    json = cluster.run("show stat json")
    assert (
        json.startswith('[[{"objType":"Frontend"') and '"value":{"type":"u64","value":12}' in json
    )


def test_show_stat_option_errors_are_the_masters_own(cluster: Cluster) -> None:
    assert cluster.run("show stat domain dns") == "Invalid statistics domain.\n\n"
    assert cluster.workers[1].asked == []


def test_show_stat_always_gives_the_workers_a_filter(cluster: Cluster) -> None:
    """In 2.6 any three words are a filter: the workers must not take options for one."""
    cluster.run("show stat web 1")  # two words: no filter, as 2.6
    cluster.run("show stat up json")
    cluster.run("show stat web 1 -1 no-maint desc")  # a filter, then options
    cluster.run("show stat typed desc up")  # three words: a filter, naming no proxy (2.6)
    assert cluster.workers[1].asked == [
        "show stat -1 -1 -1 typed\n",
        "show stat -1 -1 -1 up typed\n",
        "show stat web 1 -1 no-maint typed\n",
        "show stat typed desc up typed\n",
    ]


def test_show_info_merges_the_fields(cluster: Cluster) -> None:
    info = cluster.run("show info")
    assert "Name: HAProxy\n" in info
    assert "Pid: 101\n" in info  # a status: worker 1's
    assert "CumConns: 30\n" in info  # 10 + 20


def test_a_worker_that_does_not_answer_is_named(cluster: Cluster) -> None:
    cluster.later[2] = Deferred()
    d = cluster.cli.run("show stat", Session("admin"))
    assert isinstance(d, Deferred)
    out: list[str] = []
    d.addCallback(out.append)
    assert out == []  # waits for worker 2
    cluster.later[2].errback(TimeoutError("no answer on worker2.sock in 10 s"))
    assert out == ["worker 2 did not answer: no answer on worker2.sock in 10 s\n\n"]


def test_a_dead_worker_is_not_asked(cluster: Cluster) -> None:
    cluster.down.add(2)
    assert "CumConns: 10\n" in cluster.run("show info")
    assert cluster.workers[2].asked == []


def test_state_changes_reach_every_worker(cluster: Cluster) -> None:
    assert cluster.run("set server web/s1 state maint") == "\n"
    assert [w.state for w in cluster.workers.values()] == ["maint", "maint"]
    assert cluster.run("set server web/nope state ready") == "No such server.\n\n"


def test_a_worker_answering_differently_is_shown_with_its_number(cluster: Cluster) -> None:
    assert cluster.run("set server web/s1 state drain") == "[worker 2] worker 2 refuses\n\n"
    assert [w.state for w in cluster.workers.values()] == ["drain", "ready"]


def test_other_shows_come_from_worker_1_show_sess_from_all(cluster: Cluster) -> None:
    assert cluster.run("show servers state") == "state ready\n\n"
    assert cluster.workers[2].asked == []
    assert cluster.run("show sess") == "0x1: sess of worker 1\n0x2: sess of worker 2\n\n"


def test_at_n_and_at_pid_reach_one_worker(cluster: Cluster) -> None:
    cluster.run("@2 set server web/s1 state maint")
    assert [w.state for w in cluster.workers.values()] == ["ready", "maint"]
    assert cluster.run("@!4001 show servers state") == "state ready\n\n"
    assert cluster.run("@2 show stat").startswith(CSV_HEADER)


def test_an_unknown_target_ends_the_session_as_haproxy(cluster: Cluster) -> None:
    session = Session("admin")
    for target in ("@9", "@x", "@!1"):
        session = Session("admin")
        answer = cluster.run(f"{target} show info", session)
        assert answer == f"Can't find the target PID matching the prefix '{target}'\n"
        assert session.closed
    assert cluster.run("@1") == ""


def test_the_session_level_travels_with_the_command(cluster: Cluster) -> None:
    user = Session("user")
    assert cluster.run("set server web/s1 state maint", user) == "Permission denied\n\n"
    assert cluster.run("@2 set server web/s1 state maint", user) == "Permission denied\n\n"
    assert [w.state for w in cluster.workers.values()] == ["ready", "ready"]
    assert cluster.workers[2].asked[-1] == "user;set server web/s1 state maint\n"
    assert cluster.run("show servers state", user) == "state ready\n\n"
    operator = Session("admin")
    assert cluster.run("operator", operator) == "\n"
    assert cluster.run("show cli level", operator) == "operator\n\n"
    assert cluster.run("@1 show cli level", operator) == "operator\n\n"
    assert cluster.workers[1].asked[-1] == "operator;show cli level\n"


def test_prompt_mode_frames_every_answer_with_the_prompt(cluster: Cluster) -> None:
    session = Session("admin")
    assert cluster.run("prompt", session) == "\n> "
    assert cluster.run("show servers state", session) == "state ready\n\n> "
    assert cluster.run("@2 prompt", session) == "\n"  # the session's own: interactive again off
    assert not session.interactive


def test_show_proc_has_haproxys_layout(cluster: Cluster) -> None:
    lines = cluster.run("show proc").split("\n")
    assert (
        lines[0]
        == "#<PID>          <type>          <reloads>       <uptime>        <version>      "
    )
    assert lines[1].split() == [
        "4000",
        "master",
        "2",
        "[failed:",
        "1]",
        "0d01h02m03s",
        lines[1].split()[-1],
    ]
    assert lines[1].index("master") == 16 and lines[1].index("0d01h") == 48
    assert lines[2] == "# workers"
    assert lines[3].startswith("4001            worker          1               0d01h02m03s     ")
    assert lines[5:] == ["# programs", "", ""]
    assert cluster.run("@master show proc") == cluster.run("show proc")


def test_help_adds_the_masters_commands_to_the_workers(cluster: Cluster) -> None:
    text = cluster.run("help")
    lines = text.splitlines()
    assert lines[0] == "The following commands are valid at this level:"
    assert (
        "  @<relative pid>                         : send a command to the <relative pid> process"
        in lines
    )
    assert any(line.startswith("  show proc ") for line in lines)
    assert any(line.startswith("  set server") for line in lines)
    body = lines[
        1 : lines.index("  help [<command>]                        : list matching or all commands")
    ]
    assert body == sorted(body)


# -- the connection, with answers that come later ---------------------------------------------


class Later:
    """Commands whose answers the test gives, in order."""

    def __init__(self) -> None:
        self.pending: list[Deferred[str]] = []

    def run(self, command: str, session: Session) -> str | Deferred[str]:
        if command == "now":
            return "now\n\n"
        d: Deferred[str] = Deferred()
        self.pending.append(d)
        return d


def _connection(commands: Any) -> tuple[Any, StringTransport]:
    factory = RuntimeFactory(commands, "admin", 16384, IDLE_TIMEOUT, MemoryReactorClock())
    proto = factory.buildProtocol(None)
    transport = StringTransport()
    proto.makeConnection(transport)
    return proto, transport


def test_answers_keep_the_order_of_the_commands() -> None:
    later = Later()
    proto, transport = _connection(later)
    proto.dataReceived(b"slow\nnow\n")
    assert transport.value() == b"" and len(later.pending) == 1  # 'now' waits its turn
    later.pending[0].callback("slow\n\n")
    assert transport.value() == b"slow\n\nnow\n\n"
    assert transport.disconnecting


def test_a_half_closed_peer_still_gets_the_answer_coming() -> None:
    later = Later()
    proto, transport = _connection(later)
    proto.dataReceived(b"slow\n")
    proto.readConnectionLost()  # socat after echo
    assert not transport.disconnecting
    later.pending[0].callback("slow\n\n")
    assert transport.value() == b"slow\n\n"
    assert transport.disconnecting


def test_an_answer_for_a_peer_gone_is_dropped() -> None:
    later = Later()
    proto, transport = _connection(later)
    proto.dataReceived(b"slow\n")
    proto.connectionLost(None)
    later.pending[0].callback("slow\n\n")
    assert transport.value() == b""


def test_a_failed_answer_is_an_internal_error_not_a_hang() -> None:
    later = Later()
    proto, transport = _connection(later)
    proto.dataReceived(b"slow\n")
    later.pending[0].errback(RuntimeError("bug"))
    assert transport.value() == b"Internal error.\n\n"
    assert transport.disconnecting
