"""Persistence: cookie, stick-table, stick rules and their samples, and appsession."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from stack.config.errors import Invalid
from stack.config.model import (
    Condition,
    CookieMode,
    CookiePersistence,
    Origin,
    Sample,
    StackConfig,
    StickRule,
    StickTable,
    StickTableType,
)
from stack.config.values import (
    parse_appsession,
    parse_cookie,
    parse_sample,
    parse_stick_rule,
    parse_stick_table,
)
from stack.config.words import split_words

ORIGIN = Origin("t.ini", 1, "backend b", "cookie")
Load = Callable[[str], StackConfig]
Problems = Callable[[str], list[str]]


def words(text: str) -> list[str]:
    return text.split()


def cookie(text: str) -> CookiePersistence:
    return parse_cookie(split_words(text), ORIGIN)


# --- cookie --------------------------------------------------------------------------------------


def test_cookie_seeds() -> None:
    assert cookie("SRVNAME insert") == CookiePersistence(
        "SRVNAME", CookieMode.INSERT, origin=ORIGIN
    )
    assert cookie("SERVERNAME insert indirect nocache") == CookiePersistence(
        "SERVERNAME", CookieMode.INSERT, indirect=True, nocache=True, origin=ORIGIN
    )
    assert cookie("JSESSIONID prefix indirect nocache") == CookiePersistence(
        "JSESSIONID", CookieMode.PREFIX, indirect=True, nocache=True, origin=ORIGIN
    )
    c = cookie("SERVERID insert indirect nocache maxidle 30m maxlife 8h")
    assert (c.mode, c.maxidle, c.maxlife) == (CookieMode.INSERT, 1800, 28800)


def test_cookie_every_option() -> None:
    c = cookie(
        "SRV insert postonly preserve httponly secure domain .example.com domain example.org "
        "maxidle 3600 maxlife 1d attr SameSite=Lax attr Partitioned"
    )
    assert c == CookiePersistence(
        "SRV",
        CookieMode.INSERT,
        postonly=True,
        preserve=True,
        httponly=True,
        secure=True,
        domains=(".example.com", "example.org"),
        maxidle=3600,  # a bare number is seconds here, as in HAProxy
        maxlife=86400,
        attrs=("SameSite=Lax", "Partitioned"),
        origin=ORIGIN,
    )
    assert cookie("SRV").mode is CookieMode.PASSIVE
    assert cookie("SRV rewrite").mode is CookieMode.REWRITE
    assert cookie("SRV indirect preserve").preserve
    assert cookie("SRV insert insert").mode is CookieMode.INSERT


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "cookie needs a cookie name"),
        (
            "insert indirect",
            "the cookie name is missing: the value starts with the option 'insert'",
        ),
        ("SRV=1 insert", "'SRV=1' is not a valid cookie name"),
        ("SRV insert prefix", "cookie 'rewrite', 'insert' and 'prefix' modes are incompatible"),
        ("SRV rewrite indirect", "cookie 'rewrite' and 'indirect' modes are incompatible"),
        ("SRV prefix preserve", "cookie 'preserve' requires at least 'insert' or 'indirect'"),
        (
            "SRV prefix maxidle 30m",
            "cookie 'maxidle' only works with insert-mode cookies (HAProxy silently ignores it "
            "otherwise): add 'insert' or remove it",
        ),
        ("SRV maxlife 8h", "cookie 'maxlife' only works with insert-mode cookies"),
        ("SRV insert maxidle", "cookie option 'maxidle' needs a duration"),
        ("SRV insert maxidle 1500ms", "cookie option 'maxidle': '1500ms' is not a whole number"),
        (
            "SRV insert maxlife soon",
            "cookie option 'maxlife': invalid duration 'soon' (use a number with us, ms, s, m, "
            "h or d; a bare number is seconds here)",
        ),
        (
            "SRV insert maxlife 3000000000",
            "duration '3000000000' is too large (at most 2147483647s",
        ),
        ("SRV insert domain", "cookie option 'domain' needs a domain"),
        ('SRV insert domain ""', "cookie option 'domain' needs a domain"),
        ("SRV insert domain a/b", "character '/' is not permitted in domain name 'a/b'"),
        ("SRV insert attr a;b", "character ';' is not permitted in cookie attribute 'a;b'"),
        ("SRV insert dynamic", "cookie option 'dynamic' is not supported yet"),
        ("SRV insert indrect", "unknown cookie option 'indrect' (use rewrite, insert, prefix"),
        ("SRV insert indrect", "; did you mean 'indirect'?"),
    ],
)
def test_cookie_errors(text: str, message: str) -> None:
    with pytest.raises(Invalid, match=re.escape(message)):
        cookie(text)


def test_cookie_in_the_loader(load_ini: Load) -> None:
    cfg = load_ini(
        """
        [defaults]
        cookie = SRV insert indirect nocache
        option persist
        option allbackups = on

        [backend inherits]
        server a = 10.0.0.1:80 cookie a

        [backend own]
        cookie = JSESSIONID prefix
        option persist = off
        server a = 10.0.0.1:80 cookie s1
        """
    )
    inherits, own = cfg.backends
    assert inherits.cookie is not None and own.cookie is not None
    assert (inherits.cookie.name, inherits.cookie.mode, inherits.cookie.origin.line) == (
        "SRV",
        CookieMode.INSERT,
        3,
    )
    assert (own.cookie.name, own.cookie.mode, own.cookie.indirect) == (
        "JSESSIONID",
        CookieMode.PREFIX,
        False,
    )
    assert (inherits.persist, own.persist) == (True, False)
    assert inherits.allbackups and own.allbackups
    assert [s.cookie for s in (*inherits.servers, *own.servers)] == ["a", "s1"]


def test_cookie_errors_are_located(problems_of: Problems) -> None:
    assert problems_of(
        """\
        [backend b]
        cookie = SRV insert rewrite
        [frontend f]
        bind = :1
        cookie = SRV insert
        """
    ) == [
        "t.ini:2: [backend b] cookie: cookie 'rewrite', 'insert' and 'prefix' modes are "
        "incompatible",
        "t.ini:5: [frontend f] cookie: 'cookie' is not allowed in a frontend section (only in: "
        "defaults, backend, listen)",
    ]


# --- stick-table ---------------------------------------------------------------------------------


def test_stick_table() -> None:
    assert parse_stick_table(words("type string len 32 size 30k expire 60m peers LB")) == (
        StickTable(StickTableType.STRING, 30720, 32, 3600.0, False, "LB")
    )
    assert parse_stick_table(words("type ip size 1m")) == StickTable(StickTableType.IP, 1 << 20)
    assert parse_stick_table(words("size 1g type ipv6 nopurge")) == StickTable(
        StickTableType.IPV6, 1 << 30, nopurge=True
    )
    assert parse_stick_table(words("type integer size 100 expire 0")).expire is None
    assert parse_stick_table(words("type ipv4 size 1K")).type is StickTableType.IP
    # HAProxy's default key size is 32 with the NUL: 31 bytes kept (a 40-byte key stored as 31)
    assert parse_stick_table(words("type string size 1")).key_len == 31
    assert parse_stick_table(words("type string len 64 size 1")).key_len == 64


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "stick-table: missing type (type ip, ipv6, integer or string)"),
        ("type ip", "stick-table: missing size (such as 'size 1m')"),
        ("size 1m", "stick-table: missing type"),
        ("type", "stick-table: missing argument after 'type'"),
        ("type ipv5 size 1", "unknown stick-table type 'ipv5' (use ip, ipv6, integer or string)"),
        ("type binary size 1", "stick-table type 'binary' is not supported yet"),
        ("type ip len 4 size 1", "'len' goes right after 'type string'"),
        ("type string len 0 size 1", "stick-table len must be between 1 and 65535, not 0"),
        ("type string len", "stick-table: missing argument after 'len'"),
        ("type ip size 0", "stick-table size must be between 1 and 4294967295, not '0'"),
        (
            "type ip size 5t",
            "invalid stick-table size '5t' (use a number with an optional k, m or g)",
        ),
        ("type ip size 8g", "stick-table size must be between 1 and 4294967295, not '8g'"),
        ("type ip size 1 expire 1y", "stick-table expire: invalid duration '1y'"),
        ("type ip size 1 expire 30d", "stick-table expire: duration '30d' is too large"),
        ("type ip size 1 store gpc0", "stick-table option 'store' is not supported yet"),
        ("type ip size 1 peers a/b", "character '/' is not permitted in peers section name 'a/b'"),
        ("type ip size 1 expires 1m", "unknown stick-table argument 'expires'"),
    ],
)
def test_stick_table_errors(text: str, message: str) -> None:
    with pytest.raises(Invalid, match=re.escape(message)):
        parse_stick_table(text.split())


# --- samples and stick rules ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "response", "expected"),
    [
        ("req.cook(JSESSIONID)", False, Sample("req.cook", "JSESSIONID", "req.cook(JSESSIONID)")),
        ("cookie(JSESSIONID)", False, Sample("req.cook", "JSESSIONID", "cookie(JSESSIONID)")),
        ("cook(sid)", False, Sample("req.cook", "sid", "cook(sid)")),
        ("src", False, Sample("src", None, "src")),
        ("req.hdr(X-Client)", False, Sample("req.hdr", "x-client", "req.hdr(X-Client)")),
        ("hdr(host)", False, Sample("req.hdr", "host", "hdr(host)")),
        ("url_param(sid)", False, Sample("url_param", "sid", "url_param(sid)")),
        ("res.cook(JSESSIONID)", True, Sample("res.cook", "JSESSIONID", "res.cook(JSESSIONID)")),
        ("set-cookie(PHPSESSID)", True, Sample("res.cook", "PHPSESSID", "set-cookie(PHPSESSID)")),
        ("scook(sid)", True, Sample("res.cook", "sid", "scook(sid)")),
        # HAProxy's cookie() follows the direction of the rule
        ("cookie(JSESSIONID)", True, Sample("res.cook", "JSESSIONID", "cookie(JSESSIONID)")),
    ],
)
def test_samples(text: str, response: bool, expected: Sample) -> None:
    assert parse_sample(text, response=response) == expected


@pytest.mark.parametrize(
    ("text", "response", "message"),
    [
        ("res.cook(x)", False, "'res.cook(x)' reads the response: it is only usable in 'stick "
         "store-response' (use req.cook(NAME), src, req.hdr(NAME) or url_param(NAME) here)"),
        ("set-cookie(x)", False, "'set-cookie(x)' reads the response"),
        ("req.cook(x)", True, "'stick store-response' reads the response: use res.cook(NAME), "
         "not 'req.cook(x)'"),
        ("src", True, "'stick store-response' reads the response: use res.cook(NAME), not 'src'"),
        ("url_param(x)", True, "use res.cook(NAME), not 'url_param(x)'"),
        ("hdr(x)", True, "'hdr(x)' in 'stick store-response' is res.hdr, not supported yet"),
        ("req.cook", False, "'req.cook' needs a name in parentheses, as in req.cook(JSESSIONID)"),
        ("req.cook()", False, "'req.cook' needs a name in parentheses"),
        ("src(1)", False, "'src' takes no argument"),
        ("url_param(x,;)", False, "'url_param(x,;)': only one argument (the name) is supported"),
        ("req.cook(x),lower", False, "converters such as 'lower' in 'req.cook(x),lower' are not "
         "supported yet"),
        ("req.cok(x)", False, "unknown or unsupported sample fetch 'req.cok(x)'"),
        ("req.cok(x)", False, "; did you mean 'req.cook'?"),
        ("req.hdr(a b)", False, "'a b' is not a valid header name"),
    ],
)  # fmt: skip
def test_sample_errors(text: str, response: bool, message: str) -> None:
    with pytest.raises(Invalid, match=re.escape(message)):
        parse_sample(text, response=response)


def _no_condition(words: list[str]) -> Condition:
    return Condition((), words[0] == "unless", " ".join(words))


def test_stick_rule() -> None:
    origin = Origin("t.ini", 3, "backend b", "stick on")
    rule = parse_stick_rule("on", ["req.cook(JSESSIONID)"], _no_condition, origin)
    assert rule == StickRule(
        "on", Sample("req.cook", "JSESSIONID", "req.cook(JSESSIONID)"), None, None, origin
    )
    rule = parse_stick_rule("match", words("src table other if TRUE"), _no_condition, origin)
    assert (rule.kind, rule.sample.fetch, rule.table) == ("match", "src", "other")
    assert rule.condition is not None and rule.condition.text == "if TRUE"


@pytest.mark.parametrize(
    ("kind", "text", "message"),
    [
        ("on", "", "'stick on' needs a sample fetch such as req.cook(JSESSIONID)"),
        ("match", "src table", "'table' needs the name of a backend that has a stick-table"),
        ("on", "src tabel x", "unexpected 'tabel x' after the sample (expected 'table NAME', 'if' "
         "or 'unless')"),
        ("on", "src table a/b", "character '/' is not permitted in table name 'a/b'"),
        ("store-response", "src", "'stick store-response' reads the response"),
    ],
)  # fmt: skip
def test_stick_rule_errors(kind: str, text: str, message: str) -> None:
    origin = Origin("t.ini", 3, "backend b", f"stick {kind}")
    with pytest.raises(Invalid, match=re.escape(message)):
        parse_stick_rule(kind, text.split(), _no_condition, origin)


def test_stick_rules_in_the_loader(load_ini: Load) -> None:
    cfg = load_ini(
        """\
        [backend tomcats]
        stick-table = type string len 32 size 30k expire 60m
        stick store-response = res.cook(JSESSIONID)
        stick on = req.cook(JSESSIONID)
        acl api = path_beg /api
        stick match =
            src table clients if !api
            url_param(sid)
        stick store-request = src table clients unless api
        server s1 = 127.0.0.1:9001

        [backend clients]
        stick-table = type ip size 100k
        """
    )
    tomcats = cfg.backend("tomcats")
    assert tomcats.stick_table == StickTable(StickTableType.STRING, 30720, 32, 3600.0)
    # file order, whichever key a rule was written under
    assert [(r.kind, r.sample.text, r.table, r.origin.line) for r in tomcats.stick_rules] == [
        ("store-response", "res.cook(JSESSIONID)", None, 3),
        ("on", "req.cook(JSESSIONID)", None, 4),
        ("match", "src", "clients", 7),
        ("match", "url_param(sid)", None, 8),
        ("store-request", "src", "clients", 9),
    ]
    match = tomcats.stick_rules[2]
    assert match.condition is not None
    assert match.condition.text == "if !api"
    assert match.condition.groups[0][0].acls[0].name == "api"
    assert str(match.origin) == "t.ini:7: [backend tomcats] stick match"
    assert cfg.backend("clients").stick_table == StickTable(StickTableType.IP, 102400)
    assert cfg.backend("clients").stick_rules == ()


def test_stick_rules_in_a_listen_with_peers(load_ini: Load) -> None:
    cfg = load_ini(
        """\
        [global]
        localpeer = me
        [peers LB]
        peer me = 127.0.0.1:19000
        [listen l]
        bind = 127.0.0.1:8000
        stick-table = type ip size 1m expire 30m peers LB
        stick on = src
        """
    )
    (backend,) = cfg.backends
    assert backend.stick_table is not None and backend.stick_table.peers == "LB"
    assert [r.kind for r in backend.stick_rules] == ["on"]
    assert backend.notices == ()
    assert [s.name for s in cfg.peers] == ["LB"]


def test_stick_table_references(problems_of: Problems) -> None:
    assert problems_of(
        """\
        [backend a]
        stick on = src
        stick match = src table nowhere
        stick store-request = src table b
        stick store-response = res.cook(x) table c
        stick on = req.cook(x) if unknown_acl
        [backend b]
        [backend c]
        stick-table = type string size 1k
        [backend d]
        stick match = src table cc
        """
    ) == [
        "t.ini:2: [backend a] stick on: no stick-table in [backend a]: add 'stick-table = type "
        "... size ...' here, or name another backend's with 'table NAME'",
        "t.ini:3: [backend a] stick match: table nowhere: no backend named 'nowhere'",
        "t.ini:4: [backend a] stick store-request: table b: [backend b] has no stick-table",
        "t.ini:6: [backend a] stick on: 'stick on' is already written at line 2: put each "
        "further occurrence on an indented line below the first one",
        "t.ini:11: [backend d] stick match: table cc: no backend named 'cc'; did you mean 'c'?",
    ]


def test_stick_rule_condition_errors(problems_of: Problems) -> None:
    assert problems_of(
        """\
        [backend a]
        stick-table = type ip size 1
        stick on = src if unknown_acl
        stick-table x = type ip size 1
        """
    ) == [
        "t.ini:3: [backend a] stick on: ACL 'unknown_acl' is not defined in this section (nor "
        "predefined)",
        "t.ini:4: [backend a] stick-table x: unexpected 'x' in the key (did you mean "
        "'stick-table'?)",
    ]


# --- appsession ----------------------------------------------------------------------------------


def test_appsession() -> None:
    a = parse_appsession(words("PHPSESSID len 32 timeout 1h"))
    assert (a.cookie, a.table, a.query_string) == (
        "PHPSESSID",
        StickTable(StickTableType.STRING, 1 << 20, 32, 3600.0),
        False,
    )
    a = parse_appsession(words("JSESSIONID len 52 timeout 3h request-learn mode query-string"))
    assert (a.table.key_len, a.table.expire, a.query_string) == (52, 10800.0, True)
    assert parse_appsession(words("X timeout 5000 len 8")).table.expire == 5.0  # ms


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "appsession needs the application's cookie name"),
        ("len 32 timeout 1h", "appsession needs the application's cookie name"),
        ("PHPSESSID len 32", "appsession: missing 'timeout' (appsession = NAME len N timeout T"),
        ("PHPSESSID timeout 1h", "appsession: missing 'len'"),
        ("PHPSESSID len", "appsession: missing argument for 'len'"),
        ("PHPSESSID len 0 timeout 1h", "appsession len must be between 1 and 65535, not 0"),
        ("PHPSESSID len 32 timeout 1y", "appsession timeout: invalid duration '1y'"),
        ("PHPSESSID len 32 timeout 0", "appsession timeout must be greater than 0"),
        ("PHPSESSID len 32 timeout 1h mode cookie", "unknown appsession mode 'cookie'"),
        (
            "ASPSESSIONID len 64 timeout 3h prefix",
            "appsession option 'prefix' (cookie names that start with NAME) has no stick-table "
            "equivalent: remove it to match the cookie named NAME exactly",
        ),
        (
            "PHPSESSID len 32 timeout 1h request-lern",
            "unknown appsession option 'request-lern' (use len, timeout, request-learn, mode); "
            "did you mean 'request-learn'?",
        ),
        ("PHP;SESSID len 32 timeout 1h", "'PHP;SESSID' is not a valid cookie name"),
    ],
)
def test_appsession_errors(text: str, message: str) -> None:
    with pytest.raises(Invalid, match=re.escape(message)):
        parse_appsession(text.split())


def test_appsession_runs_as_a_stick_table(load_ini: Load) -> None:
    cfg = load_ini(
        """\
        [backend films]
        balance = roundrobin
        appsession = PHPSESSID len 32 timeout 1h
        server webserver3 = 127.0.0.1:9302
        """
    )
    films = cfg.backend("films")
    assert films.stick_table == StickTable(StickTableType.STRING, 1 << 20, 32, 3600.0)
    assert [(r.kind, r.sample, r.table, r.condition) for r in films.stick_rules] == [
        ("on", Sample("req.cook", "PHPSESSID", "req.cook(PHPSESSID)"), None, None),
        ("store-response", Sample("res.cook", "PHPSESSID", "res.cook(PHPSESSID)"), None, None),
    ]
    assert [str(r.origin) for r in films.stick_rules] == ["t.ini:3: [backend films] appsession"] * 2
    assert films.notices == (
        "t.ini:3: [backend films] appsession: HAProxy removed 'appsession' in 1.6; stack runs "
        "this one as the stick table HAProxy recommends instead: 'stick-table = type string len "
        "32 size 1m expire 1h', 'stick on = req.cook(PHPSESSID)' and 'stick store-response = "
        "res.cook(PHPSESSID)'. Write these lines in place of 'appsession' and this notice goes "
        "away.",
    )


def test_appsession_query_string_and_other_rules(load_ini: Load) -> None:
    cfg = load_ini(
        """\
        [listen app]
        bind = 127.0.0.1:8000
        stick match = src
        appsession = JSESSIONID len 52 timeout 3h mode query-string
        """
    )
    (backend,) = cfg.backends
    assert [(r.kind, r.sample.text) for r in backend.stick_rules] == [
        ("match", "src"),
        ("on", "req.cook(JSESSIONID)"),
        ("on", "url_param(JSESSIONID)"),
        ("store-response", "res.cook(JSESSIONID)"),
    ]
    (notice,) = backend.notices
    assert "'stick on = url_param(JSESSIONID)'" in notice
    assert "'stick-table = type string len 52 size 1m expire 3h'" in notice


def test_appsession_errors_are_located(problems_of: Problems) -> None:
    assert problems_of(
        """\
        [backend a]
        stick-table = type ip size 1
        appsession = X len 32 timeout 1h
        [backend b]
        appsession = Y len 32
        [backend c]
        appsession Z = len 32 timeout 1h
        [defaults]
        appsession = W len 32 timeout 1h
        """
    ) == [
        "t.ini:3: [backend a] appsession: this backend already has a stick-table (line 2): "
        "appsession would be a second one; keep one",
        "t.ini:5: [backend b] appsession: appsession: missing 'timeout' (appsession = NAME len N "
        "timeout T [request-learn] [mode path-parameters|query-string])",
        "t.ini:7: [backend c] appsession Z: the cookie name is the first word of the value: "
        "write 'appsession = Z len 32 timeout 1h'",
        "t.ini:9: [defaults] appsession: 'appsession' is not allowed in a defaults section (only "
        "in: backend, listen)",
    ]
