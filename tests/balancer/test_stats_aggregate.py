"""aggregate.py: the workers' ``show stat typed``/``show info typed`` parsed back into rows (the
exact inverse of stats.py's formatters) and merged into one answer by HAProxy's aggregation
rules (management.txt 9.2: by the fields' origin, nature and scope)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_stats import Lab

from stack.balancer import stats
from stack.balancer.aggregate import (
    INFO_OVERRIDES,
    STAT_OVERRIDES,
    merge_fields,
    merge_info,
    merge_rows,
    parse_typed_info,
    parse_typed_stat,
    rule,
)
from stack.balancer.checks import CheckResult, HealthState
from stack.balancer.stats import (
    CSV_HEADER,
    FIELD_NAMES,
    Field,
    Row,
    format_csv,
    format_info,
    format_json,
    format_typed,
    row_type,
    value,
)

# -- a balancer with traffic: test_stats.py's ------------------------------------------------


class FakeChecker:
    def __init__(self, states: dict[int, tuple[Any, HealthState, CheckResult]]) -> None:
        self._tracked = [type("T", (), {"server": s}) for s, _h, _r in states.values()]
        self.states = states

    def state(self, server: object) -> HealthState:
        return self.states[id(server)][1]

    def last_result(self, server: object) -> tuple[CheckResult, int]:
        return self.states[id(server)][2], 2


def _health(rise: int, fall: int, health: int) -> HealthState:
    state = HealthState(rise, fall)
    state.health = health
    return state


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    made = Lab(tmp_path)
    made.source.node = 'node: one, "two"'  # a value with a colon, spaces, quotes
    for path in ("/a", "/b", "/c"):
        assert made.get(path).endswith(b"hello")
    s1, s2, _s3, _s4 = made.service.backends["app"].servers
    checker = FakeChecker(
        {
            id(s1): (s1, _health(2, 3, 3), CheckResult("L7STS", 503, "Service: Unavailable")),
            id(s2): (s2, _health(2, 3, 1), CheckResult("L4CON", None, "Connection refused")),
        }
    )
    made.source._checkers = {id(s1): checker, id(s2): checker}
    made.reactor.advance(7)
    yield made
    made.service.pool.close_all()


# -- hand-made rows ---------------------------------------------------------------------------

POS = {name: i for i, name in enumerate(FIELD_NAMES)}
LETTER = {"F": 0, "B": 1, "S": 2}
Info = tuple[int, str, Field]


def make_row(letter: str, iid: int, sid: int, **fields: Field) -> Row:
    row: Row = [None] * len(FIELD_NAMES)
    row[POS["iid"]] = ("KGS", "u32", iid)
    row[POS["sid"]] = ("KGS", "u32", sid)
    row[POS["type"]] = ("CGS", "u32", LETTER[letter])
    for name, field in fields.items():
        row[POS[name]] = field
    return row


def u32(tags: str, v: int) -> Field:
    return (tags, "u32", v)


def u64(tags: str, v: int) -> Field:
    return (tags, "u64", v)


def text(tags: str, v: str) -> Field:
    return (tags, "str", v)


def merged_value(answers: list[list[Row]], name: str, index: int = 0) -> object:
    return value(merge_rows(answers)[index], name)


# -- parsing: the inverse of the formatters --------------------------------------------------


def test_typed_stat_round_trip_from_a_balancer(lab: Lab) -> None:
    rows = lab.source.rows()
    s1 = next(r for r in rows if value(r, "svname") == "s1")
    assert value(s1, "last_chk") == "Service: Unavailable"  # a value holding a colon
    assert value(s1, "check_desc") == "Layer7 wrong status"
    assert value(s1, "lastsess") == 7
    typed = format_typed(rows)
    parsed = parse_typed_stat(typed)
    assert parsed == rows
    assert format_typed(parsed) == typed
    # what the runtime API answers parses the same
    assert parse_typed_stat(lab.api.execute("show stat typed", "admin")) == lab.source.rows()
    assert parse_typed_stat("") == []


def test_typed_info_round_trip_from_a_balancer(lab: Lab) -> None:
    fields = lab.source.info()
    names = [name for _pos, name, _field in fields]
    assert "Unstoppable Jobs" in names and "Build info" in names
    assert dict((n, f[2]) for _p, n, f in fields)["node"] == 'node: one, "two"'
    typed = format_info(fields, "typed")
    assert parse_typed_info(typed) == fields
    assert parse_typed_info(lab.api.execute("show info typed", "admin"))[:6] == fields[:6]


_ORIGINS, _NATURES, _SCOPES = "MSKCP", "GLmMRCDATNOa", "PSsC"
_TAGS = st.builds(
    lambda o, n, s: o + n + s,
    st.sampled_from(_ORIGINS),
    st.sampled_from(_NATURES),
    st.sampled_from(_SCOPES),
)
_TEXT = st.text(
    st.characters(codec="utf-8", exclude_characters="\n"), max_size=20
) | st.sampled_from(["a:b", " spaced out ", "::", "é ü 中文 ☃", "", ":", "1:2:3"])
_VALUES = {
    "u32": st.integers(0, 2**32 - 1),
    "u64": st.integers(0, 2**64 - 1),
    "s32": st.integers(-(2**31), 2**31 - 1),
    "s64": st.integers(-(2**63), 2**63 - 1),
    "flt": st.floats(allow_nan=False),
    "str": _TEXT,
}
_FIELDS = st.sampled_from(sorted(_VALUES)).flatmap(
    lambda kind: st.tuples(_TAGS, st.just(kind), _VALUES[kind])
)
_FIXED = (POS["iid"], POS["sid"], POS["type"])


@st.composite
def _rows(draw: st.DrawFn) -> Row:
    letter = draw(st.sampled_from("FBS"))
    others = draw(
        st.dictionaries(
            st.sampled_from([i for i in range(len(FIELD_NAMES)) if i not in _FIXED]),
            _FIELDS,
            max_size=12,
        )
    )
    row = make_row(letter, draw(st.integers(0, 99999)), draw(st.integers(0, 99999)))
    for pos, field in others.items():
        row[pos] = field
    return row


@given(st.lists(_rows(), max_size=5))
def test_typed_stat_round_trip_property(rows: list[Row]) -> None:
    assert parse_typed_stat(format_typed(rows)) == rows


@given(
    st.lists(
        st.tuples(
            st.integers(0, 200),
            st.text(st.characters(codec="utf-8", exclude_characters=":\n"))
            .map(str.strip)
            .filter(bool),
            _FIELDS,
        ),
        max_size=8,
    )
)
def test_typed_info_round_trip_property(fields: list[tuple[int, str, Field]]) -> None:
    assert parse_typed_info(format_info(fields, "typed")) == fields


@pytest.mark.parametrize(
    ("text", "bad"),
    [
        ("F.2.0.0.pxname.1:KNS:str\n", "F.2.0.0.pxname.1:KNS:str"),  # no value
        ("F.2.0.0.pxname.1:KNS:str:web\nrubbish\n", "rubbish"),
        ("F.2.0.0.pxnome.1:KNS:str:web\n", "pxnome"),  # name not at that position
        ("F.2.0.999.pxname.1:KNS:str:web\n", "999"),
        ("F.2.0.4.scur.1:MGP:u32:x1\n", "x1"),
        ("F.2.0.4.scur.1:MGP:u32: 1\n", "u32: 1"),
        ("F.2.0.4.scur.1:MGP:flt:1_0\n", "1_0"),
        ("F.2.0.4.scur.1:MGP:u16:1\n", "u16"),
        ("F.2.0.4.scur.1:XGP:u32:1\n", "XGP"),
        ("F.2.0.4.scur.1:MG:u32:1\n", ":MG:"),
        ("X.2.0.4.scur.1:MGP:u32:1\n", "X.2.0"),
        ("L.2.0.4.scur.1:MGP:u32:1\n", "L.2.0"),
        ("F.2.0.4.scur.1:MGP:u32:1\nF.2.0.4.scur.1:MGP:u32:2\n", "F.2.0.4.scur.1:MGP:u32:2"),
        ("F.2.0.4.scur.1:MGP:u32:1\nB.2.0.5.smax.1:MMP:u32:1\n", "B.2.0.5.smax"),
        ("F.2.0.4.scur.1:MGP:u32:1\n\n", "F.2.0.4.scur"),  # no type, iid, sid
        (  # the letter says backend, the type field frontend
            "B.2.0.27.iid.1:KGS:u32:2\nB.2.0.28.sid.1:KGS:u32:0\nB.2.0.32.type.1:CGS:u32:0\n",
            "B.2.0.27.iid",
        ),
        (  # iid 3 in the prefix, 2 in the field
            "F.3.0.27.iid.1:KGS:u32:2\nF.3.0.28.sid.1:KGS:u32:0\nF.3.0.32.type.1:CGS:u32:0\n",
            "F.3.0.27.iid",
        ),
    ],
)
def test_malformed_typed_stat_names_the_line(text: str, bad: str) -> None:
    with pytest.raises(ValueError, match="malformed typed stat line") as caught:
        parse_typed_stat(text)
    assert bad in str(caught.value)


def test_malformed_typed_info_names_the_line() -> None:
    good = "0.Name.1:POS:str:HAProxy\n"
    with pytest.raises(ValueError, match=r"line 2: 'Pid: 12'"):
        parse_typed_info(good + "Pid: 12\n")
    with pytest.raises(ValueError, match=r"line 1: '6\.Pid\.1:SGP:u32:abc'"):
        parse_typed_info("6.Pid.1:SGP:u32:abc\n")
    with pytest.raises(ValueError, match="Build info"):
        parse_typed_info("Build info:POS:str:x\n")  # no position
    assert parse_typed_info(good + "\n") == [(0, "Name", ("POS", "str", "HAProxy"))]


# -- merging rows ----------------------------------------------------------------------------


def test_counters_gauges_and_rates_are_summed() -> None:
    a = [make_row("F", 2, 0, stot=u64("MCP", 3), bin=u64("MCP", 100), scur=u32("MGP", 2))]
    b = [make_row("F", 2, 0, stot=u64("MCP", 4), bin=u64("MCP", 50), scur=u32("MGP", 5))]
    a[0][POS["rate"]] = u32("MRP", 7)
    b[0][POS["rate"]] = u32("MRP", 1)
    (row,) = merge_rows([a, b])
    assert value(row, "stot") == 7 and value(row, "bin") == 150
    assert value(row, "scur") == 7 and value(row, "rate") == 8
    assert row[POS["stot"]] == ("MCP", "u64", 7)
    assert isinstance(value(row, "bin"), int)


def test_maxima_minima_averages_durations() -> None:
    a = [make_row("S", 3, 1, smax=u32("MMP", 9), rtime=u32("MaP", 10), rtime_max=u32("MMP", 40))]
    b = [make_row("S", 3, 1, smax=u32("MMP", 4), rtime=u32("MaP", 20), rtime_max=u32("MMP", 90))]
    c = [make_row("S", 3, 1, smax=u32("MMP", 6), rtime=u32("MaP", 31))]
    a[0][POS["check_duration"]] = u64("MDP", 12)
    b[0][POS["check_duration"]] = u64("MDP", 30)
    row = merge_rows([a, b, c])[0]
    assert value(row, "smax") == 9
    assert value(row, "rtime") == 20  # (10 + 20 + 31) / 3 = 20.33
    assert value(row, "rtime_max") == 90
    assert value(row, "check_duration") == 30
    assert merge_fields([u32("MaP", 1), u32("MaP", 2)]) == ("MaP", "u32", 2)  # round(1.5)
    assert merge_fields([("MaP", "flt", 1.0), ("MaP", "flt", 2.0)]) == ("MaP", "flt", 1.5)
    assert merge_fields([u32("MmP", 5), u32("MmP", 3), u32("MmP", 4)]) == ("MmP", "u32", 3)


def test_ages_take_the_youngest_ignoring_never() -> None:
    def age(*values: int) -> object:
        answers = [[make_row("S", 3, 1, lastsess=("MAP", "s32", v))] for v in values]
        return merged_value(answers, "lastsess")

    assert age(30, -1, 12) == 12
    assert age(-1, 5) == 5
    assert age(-1, -1) == -1
    assert age(0, 9) == 0
    lastchg = [[make_row("B", 3, 0, lastchg=u32("MAP", v))] for v in (100, 40)]
    assert merged_value(lastchg, "lastchg") == 40


def test_keys_names_status_and_config_are_the_first_workers() -> None:
    def server(status: str, pid: int, check: str) -> list[Row]:
        return [
            make_row(
                "S",
                3,
                1,
                pxname=text("KNS", "app"),
                svname=text("KNS", "s1"),
                status=text("SGP", status),
                pid=u32("KGP", pid),
                check_status=text("MOP", check),
                check_code=u32("MOP", 200 if check == "L7OK" else 503),
                check_rise=u32("CGS", 2),
                addr=text("CGS", "10.0.0.1:8001"),
                act=u32("SGP", 1),
            )
        ]

    row = merge_rows([server("UP", 1, "L7OK"), server("DOWN", 2, "L7STS")])[0]
    assert value(row, "status") == "UP" and value(row, "pid") == 1
    assert value(row, "check_status") == "L7OK" and value(row, "check_code") == 200
    assert (value(row, "pxname"), value(row, "svname")) == ("app", "s1")
    assert (value(row, "iid"), value(row, "sid"), row_type(row)) == (3, 1, 2)
    assert value(row, "check_rise") == 2 and value(row, "act") == 1


def test_per_process_limits_are_summed_service_limits_kept() -> None:
    a = [make_row("F", 2, 0, slim=u32("CLP", 1000), rate_lim=u32("CLP", 10))]
    b = [make_row("F", 2, 0, slim=u32("CLP", 500), rate_lim=u32("CLP", 0))]
    a[0][POS["qlimit"]] = u32("CGS", 5)
    b[0][POS["qlimit"]] = u32("CGS", 7)
    a[0][POS["weight"]] = u32("MLS", 11)  # a limit of service scope
    b[0][POS["weight"]] = u32("MLS", 13)
    row = merge_rows([a, b])[0]
    assert value(row, "slim") == 1500 and value(row, "rate_lim") == 10
    assert value(row, "qlimit") == 5 and value(row, "weight") == 11
    assert rule("CLP", "u32") == "sum" and rule("CLS", "u32") == "first"


def test_objects_of_later_answers_are_appended_in_their_order() -> None:
    fe = make_row("F", 2, 0, stot=u64("MCP", 1))
    be = make_row("B", 3, 0, stot=u64("MCP", 1))
    s1 = make_row("S", 3, 1, stot=u64("MCP", 1))
    s2 = make_row("S", 3, 2, stot=u64("MCP", 1))
    other = make_row("B", 4, 0, stot=u64("MCP", 1))
    rows = merge_rows([[fe, be], [s2, fe, other, s1], [s1]])
    keys = [(row_type(r), value(r, "iid"), value(r, "sid")) for r in rows]
    assert keys == [(0, 2, 0), (1, 3, 0), (2, 3, 2), (1, 4, 0), (2, 3, 1)]
    assert [value(r, "stot") for r in rows] == [2, 1, 1, 1, 2]
    # same iid and sid, other type: other objects
    assert len(merge_rows([[make_row("F", 2, 0)], [make_row("B", 2, 0)]])) == 2


def test_a_field_empty_in_one_worker_is_merged_from_the_others() -> None:
    a = [make_row("S", 3, 1, stot=u64("MCP", 3))]
    b = [make_row("S", 3, 1, stot=u64("MCP", 4), slim=u32("CLP", 10))]
    c = [make_row("S", 3, 1, slim=u32("CLP", 20), check_status=text("MOP", "L4OK"))]
    row = merge_rows([a, b, c])[0]
    assert value(row, "stot") == 7 and value(row, "slim") == 30
    assert value(row, "check_status") == "L4OK"
    assert value(row, "dreq") is None
    # the tags and type are those of the first worker that has the field
    assert merge_fields([u64("MCP", 1), u32("MGP", 2)]) == ("MCP", "u64", 3)


def test_overridden_columns() -> None:
    def backend(act: int, rate_max: int, downtime: int) -> list[Row]:
        row = make_row("B", 3, 0, act=u32("MGP", act), bck=u32("MGP", 1))
        row[POS["rate_max"]] = u32("MGP", rate_max)
        row[POS["downtime"]] = u32("MCP", downtime)
        row[POS["rate"]] = u32("MGP", 4)
        return [row]

    row = merge_rows([backend(2, 9, 60), backend(2, 30, 50)])[0]
    assert value(row, "act") == 2 and value(row, "bck") == 1  # servers, not per worker
    assert value(row, "rate_max") == 30 and value(row, "downtime") == 60
    assert value(row, "rate") == 8  # the rate itself is a plain sum
    assert set(STAT_OVERRIDES) <= set(FIELD_NAMES)
    assert set(INFO_OVERRIDES) <= set(stats.INFO_NAMES.split(" ")) | {"Unstoppable Jobs"}


def test_merge_info_by_the_same_rules() -> None:
    def worker(pid: int, conns: int, idle: int, max_rate: int, uptime: int) -> list[Info]:
        return [
            (0, "Name", text("POS", "HAProxy")),
            (5, "Process_num", u32("KGP", 1)),
            (6, "Pid", u32("SGP", pid)),
            (7, "Uptime", text("MDP", f"0d 0h00m{uptime:02d}s")),
            (8, "Uptime_sec", u32("MDP", uptime)),
            (15, "Maxconn", u32("CLP", 1000)),
            (17, "CurrConns", u32("MGP", conns)),
            (31, "MaxSessRate", u32("MRP", max_rate)),
            (49, "Idle_pct", u32("MaP", idle)),
            (50, "node", text("COS", f"lb{pid}")),
            (54, "Unstoppable Jobs", u32("MGP", 0)),
            (70, "Start_time_sec", u32("MDP", 1000 - uptime)),
        ]

    a = worker(101, 3, 90, 7, 40)
    b = worker(102, 4, 61, 9, 50)
    b.append((66, "Build info", text("POS", "x")))
    info = merge_info([a, b])
    assert [(p, n) for p, n, _f in info] == [(p, n) for p, n, _f in b]
    got = {name: field[2] for _pos, name, field in info}
    assert got["Pid"] == 101 and got["Process_num"] == 1 and got["node"] == "lb101"
    assert got["Maxconn"] == 2000 and got["CurrConns"] == 7 and got["Idle_pct"] == 76
    assert got["MaxSessRate"] == 9 and got["Uptime_sec"] == 50 and got["Start_time_sec"] == 950
    assert got["Uptime"] == "0d 0h00m40s"  # text: the first worker's
    assert got["Build info"] == "x"


def test_unknown_nature_and_strings_keep_the_first() -> None:
    assert merge_fields([u32("MXP", 1), u32("MXP", 2)]) == ("MXP", "u32", 1)
    assert merge_fields([text("MCP", "a"), text("MCP", "b")]) == ("MCP", "str", "a")
    # Uptime: a duration as text
    assert merge_fields([text("MDP", "0d 0h00m09s"), text("MDP", "0d 0h00m10s")])[2] == (
        "0d 0h00m09s"
    )


def test_every_tag_stats_emits_has_its_rule(lab: Lab) -> None:
    expected = {
        "CGS": "first",
        "CLP": "sum",
        "CNS": "first",
        "COS": "first",
        "KGP": "first",
        "KGS": "first",
        "KNS": "first",
        "MAP": "age",
        "MCP": "sum",
        "MDP": "max",
        "MGP": "sum",
        "MMP": "max",
        "MOP": "first",
        "MRP": "sum",
        "MaP": "mean",
        "POS": "first",
        "SGP": "first",
    }
    seen: set[tuple[str, str]] = set()
    for row in lab.source.rows():
        seen |= {(f[0], f[1]) for f in row if f is not None}
    seen |= {(f[0], f[1]) for _p, _n, f in lab.source.info()}
    assert {tags for tags, _kind in seen} <= set(expected)
    for tags, kind in seen:
        assert rule(tags, kind) == ("first" if kind == "str" else expected[tags]), tags
    for tags, operation in expected.items():
        assert rule(tags, "u32") == operation


def test_a_single_answer_is_unchanged_and_formats_as_csv(lab: Lab) -> None:
    rows = lab.source.rows()
    assert merge_rows([rows]) == rows
    info = lab.source.info()
    assert merge_info([info]) == info
    csv = format_csv(merge_rows([rows]))
    assert csv.startswith(CSV_HEADER) and csv == format_csv(rows)
    assert merge_rows([]) == [] and merge_info([]) == []


def test_workers_answers_merge_end_to_end(tmp_path: Path, lab: Lab) -> None:
    (tmp_path / "b").mkdir()
    other = Lab(tmp_path / "b")
    try:
        other.get("/x")
        answers = [
            parse_typed_stat(lab.api.execute("show stat typed", "admin")),
            parse_typed_stat(other.api.execute("show stat typed", "admin")),
        ]
        rows = merge_rows(answers)
        one, two = answers

        def pick(rows: list[Row], sv: str) -> Row:
            px = "web" if sv == "FRONTEND" else "app"
            return next(r for r in rows if (value(r, "pxname"), value(r, "svname")) == (px, sv))

        for sv in ("FRONTEND", "BACKEND", "s1"):
            want = value(pick(one, sv), "stot") + value(pick(two, sv), "stot")  # type: ignore[operator]
            assert value(pick(rows, sv), "stot") == want
        fe = rows[0]
        assert value(fe, "stot") == 4 and value(fe, "slim") == 2000
        assert value(pick(rows, "BACKEND"), "act") == 2
        assert value(pick(rows, "s1"), "status") == value(pick(one, "s1"), "status")
        # every format prints the merged rows
        csv = format_csv(rows)
        assert csv.splitlines()[0] + "\n" == CSV_HEADER
        assert len(csv.splitlines()) == len(rows) + 1
        assert parse_typed_stat(format_typed(rows)) == rows
        assert len(json.loads(format_json(rows))) == len(rows)
        info = merge_info(
            [
                parse_typed_info(lab.api.execute("show info typed", "admin")),
                parse_typed_info(other.api.execute("show info typed", "admin")),
            ]
        )
        fields = {name: field[2] for _pos, name, field in info}
        assert fields["CumConns"] == 4 and fields["Maxconn"] == 2000
        assert fields["Nbproc"] == 1 and fields["Name"] == "HAProxy"
        assert "CumReq: 4\n" in format_info(info)
    finally:
        other.service.pool.close_all()
