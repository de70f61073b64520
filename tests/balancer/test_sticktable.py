"""Stick tables and stick rules. Cases marked "2.6.12" were checked against Debian's HAProxy
2.6.12 (``stick store-request req.hdr(x-k)`` into each table type, then ``show table``)."""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stack.balancer.samples import read_int64
from stack.balancer.sticktable import (
    MAX_STORES,
    StickEntry,
    StickRules,
    StickTable,
    buf2ip,
    dump_text,
)
from stack.config import model
from stack.http.message import Request, Response

T = model.StickTableType
ORIGIN = model.Origin("test.cfg", 1, "backend app", "stick")


def table(
    type_: model.StickTableType = T.STRING,
    size: int = 100,
    key_len: int = 32,
    expire: float | None = None,
    nopurge: bool = False,
    name: str = "app",
    server_data: bool = True,
) -> StickTable:
    t = StickTable(name, model.StickTable(type_, size, key_len, expire, nopurge))
    if server_data:
        t.enable_server_data()
    return t


@dataclass
class Srv:
    name: str
    puid: int
    up: bool = True

    def usable(self) -> bool:
        return self.up


def smp(fetch: str, arg: str | None = None) -> model.Sample:
    return model.Sample(fetch, arg, fetch if arg is None else f"{fetch}({arg})")


COND_OK = model.Condition((), False, "if ok")
COND_NO = model.Condition((), False, "if no")


def rule(
    kind: str,
    fetch: str,
    arg: str | None = None,
    table: str | None = None,
    condition: model.Condition | None = None,
) -> model.StickRule:
    return model.StickRule(kind, smp(fetch, arg), table, condition, ORIGIN)


def condition(cond: model.Condition, ctx: Any) -> bool:
    return cond is COND_OK


def req(cookie: str | None = None, target: bytes = b"/", **hdrs: str) -> Request:
    headers = [(b"cookie", cookie.encode())] if cookie is not None else []
    headers += [(k.replace("_", "-").encode(), v.encode()) for k, v in hdrs.items()]
    return Request(b"GET", target, b"1.1", headers)


def res(*set_cookies: str) -> Response:
    return Response(200, b"OK", [(b"set-cookie", c.encode()) for c in set_cookies])


def match(
    rules: StickRules,
    ctx: Any,
    request: Request,
    src: str,
    now: float,
    persist: bool,
    assigned: bool = False,
) -> Any:
    """The server the request-side rules assign (one phase alone)."""
    return rules.on_request(ctx, request, src, now, persist, assigned).server


def store_response(
    rules: StickRules, ctx: Any, response: Response, server: Any, now: float, src: str | None = None
) -> None:
    """Store the ``store-response`` keys -> ``server`` (one phase alone)."""
    rules.on_response(ctx, response, server, now, (), src)


@dataclass
class Backend:
    """A backend's servers, tables and rules, as the glue would hold them."""

    rules: list[model.StickRule]
    tables: dict[str, StickTable] = field(default_factory=dict)
    servers: list[Srv] = field(default_factory=lambda: [Srv("s1", 1), Srv("s2", 2), Srv("s3", 3)])
    stick: StickRules = field(init=False)

    def __post_init__(self) -> None:
        if not self.tables:
            self.tables = {"app": table()}
        self.stick = StickRules(self.rules, self.tables, "app", self.servers, condition)

    @property
    def t(self) -> StickTable:
        return self.tables["app"]


# --- keys -----------------------------------------------------------------------------------


def test_string_keys_are_cut_to_key_size_minus_one() -> None:
    t = table(key_len=8)
    assert t.key_size == 9
    assert t.key_for(b"abcdefghijkl") == b"abcdefgh"  # 2.6.12, len 8
    assert t.key_for("12345678") == b"12345678"
    assert t.key_for(b"ab\0cd") == b"ab"
    assert t.key_for(b"") == b""
    # HAProxy without `len` has key_size 32 (31 bytes): the loader's key_len 31
    nolen = table(key_len=31)
    assert nolen.key_size == 32
    assert nolen.key_for(b"0123456789" * 4) == b"0123456789012345678901234567890"  # 2.6.12


@pytest.mark.parametrize(
    ("raw", "key"),
    [  # 2.6.12
        (b"12ab", 12),
        (b"abc", 0),
        (b"-1", 4294967295),
        (b"+7", 7),
        (b"99999999999999999999", 4294967295),  # saturates to INT64_MAX, then the low 32 bits
        (b"9223372036854775808", 4294967295),
        (b"-99999999999999999999", 0),  # INT64_MIN
        (b"4294967296", 0),
        (b"4294967297", 1),
        (b"0x10", 0),
        (b"-", 0),
        (b"", None),  # an empty string is no integer at all
        (b" 5", 0),
    ],
)
def test_integer_keys(raw: bytes, key: int | None) -> None:
    assert table(T.INTEGER).key_for(raw) == key


def test_read_int64() -> None:
    assert read_int64(b"-9223372036854775808") == -(1 << 63)
    assert read_int64(b"9223372036854775807x") == (1 << 63) - 1
    assert read_int64(b"007") == 7


@pytest.mark.parametrize(
    ("raw", "key"),
    [  # 2.6.12
        (b"10.0.0.1x", "10.0.0.1"),
        (b"9.9.9.9 z", "9.9.9.9"),
        (b"001.002.003.004", "1.2.3.4"),
        (b"1.2.3.4.5", None),
        (b"1.2.3", None),
        (b"256.1.1.1", None),
        (b"::ffff:1.2.3.4", None),
        (b"1..2.3.4", None),
        (b".1.2.3.4", None),
        (b"", None),
    ],
)
def test_ipv4_keys(raw: bytes, key: str | None) -> None:
    t = table(T.IP)
    assert t.key_size == 4
    expected = None if key is None else socket.inet_aton(key)
    assert t.key_for(raw) == expected
    assert buf2ip(raw) == expected


@pytest.mark.parametrize(
    ("raw", "text"),
    [  # 2.6.12
        (b"::1", "::1"),
        (b"::ffff:1.2.3.4", "::ffff:1.2.3.4"),
        (b"2001:DB8:0:0:0:0:0:2", "2001:db8::2"),
        (b"::", "::"),
        (b"1.2.3.4", None),
        (b"fe80::1%eth0", None),
        (b"x" * 47, None),
    ],
)
def test_ipv6_keys(raw: bytes, text: str | None) -> None:
    t = table(T.IPV6)
    assert t.key_size == 16
    key = t.key_for(raw)
    assert (None if key is None else t.key_text(key)) == text


def test_src_keys_per_table_type() -> None:
    assert table(T.IP).key_for_address("127.0.0.1") == b"\x7f\0\0\1"
    assert table(T.IP).key_for_address("::ffff:10.1.2.3") == b"\x0a\1\2\3"
    assert table(T.IP).key_for_address("::1") is None
    v6 = table(T.IPV6)
    assert v6.key_text(v6.key_for_address("127.0.0.1") or b"") == "::ffff:127.0.0.1"  # 2.6.12
    assert v6.key_for_address("::1") == socket.inet_pton(socket.AF_INET6, "::1")
    assert table(T.INTEGER).key_for_address("127.0.0.1") == 2130706433  # 2.6.12
    assert table(T.INTEGER).key_for_address("::1") is None
    assert table(T.STRING).key_for_address("10.0.0.1") == b"10.0.0.1"
    assert table(T.STRING).key_for_address("2001:DB8::1") == b"2001:db8::1"
    assert table(T.STRING, key_len=4).key_for_address("10.0.0.1") == b"10.0"
    assert table(T.STRING).key_for_address("unix") is None


def test_native_keys_for_peers() -> None:
    assert table(T.STRING, key_len=4).native_key(b"abcdef") == b"abcd"
    assert table(T.INTEGER).native_key(-1) == 4294967295
    assert table(T.IP).native_key(b"\1\2\3\4") == b"\1\2\3\4"
    with pytest.raises(ValueError):
        table(T.IP).native_key(b"\1\2\3")
    with pytest.raises(TypeError):
        table(T.INTEGER).native_key(b"1")
    with pytest.raises(TypeError):
        table(T.STRING).native_key(1)


# --- expiry ---------------------------------------------------------------------------------


def test_expiry_boundary_and_refresh_on_match() -> None:
    t = table(expire=10.0)
    e = t.store(b"k", 1, "s1", now=100.0)
    assert e is not None and e.expires == 110.0
    assert t.lookup(b"k", 109.999, touch=False) is e
    assert t.lookup(b"k", 110.0) is None  # tick_is_expired: now >= expires
    assert len(t) == 0
    t.store(b"k", 1, "s1", now=100.0)
    hit = t.lookup(b"k", 105.0)  # a hit refreshes
    assert hit is not None and hit.expires == 115.0 and hit.touched == 105.0
    assert t.lookup(b"k", 114.9) is not None
    assert t.lookup(b"k", 124.8) is not None
    assert t.lookup(b"k", 134.8, touch=False) is None


def test_expire_drops_and_counts() -> None:
    t = table(expire=10.0)
    for i in range(5):
        t.store(b"k%d" % i, 1, "s1", now=float(i))
    t.lookup(b"k0", 5.0)  # refreshed until 15
    assert t.next_expiry() == 11.0
    assert t.expire(12.0) == 2  # k1 (11), k2 (12)
    assert sorted(e.key for e in t.entries()) == [b"k0", b"k3", b"k4"]
    assert t.expire(12.0) == 0
    assert t.expire(100.0) == 3
    assert len(t) == 0 and t.next_expiry() is None


def test_no_expire_and_expire_zero_never_expire() -> None:
    for expire in (None, 0.0):
        t = table(expire=expire)
        e = t.store(b"k", 1, "s1", now=0.0)
        assert e is not None and e.expires is None
        assert t.expire(1e9) == 0
        assert t.lookup(b"k", 1e9) is e
        assert t.expire_ms == 0


# --- size bound -----------------------------------------------------------------------------


def test_full_table_trashes_the_oldest_first() -> None:
    # 2.6.12, `type string size 4`, stores k1 k2 k3 k4 k1 k5: k1 k3 k4 k5 remain. Storing k1
    # again first trashed the oldest entry (k1 itself: HAProxy allocates before looking up).
    t = table(size=4)
    for i, k in enumerate([b"k1", b"k2", b"k3", b"k4", b"k1", b"k5"]):
        assert t.store(k, 1, "s1", now=float(i)) is not None
    assert sorted(e.key for e in t.entries()) == [b"k1", b"k3", b"k4", b"k5"]
    assert len(t) == 4


def test_oldest_means_least_recently_refreshed() -> None:
    t = table(size=3, expire=100.0)
    for i, k in enumerate([b"a", b"b", b"c"]):
        t.store(k, 1, "s1", now=float(i))
    t.lookup(b"a", 3.0)  # a is now the most recent
    t.store(b"d", 1, "s1", now=4.0)
    assert sorted(e.key for e in t.entries()) == [b"a", b"c", b"d"]


def test_trash_batch_is_size_over_256_plus_one() -> None:
    t = table(size=512)
    for i in range(512):
        t.store(b"%04d" % i, 1, "s1", now=float(i))
    t.store(b"new", 1, "s1", now=600.0)
    assert len(t) == 512 - 3 + 1
    assert min(e.key for e in t.entries()) == b"0003"


def test_expired_entries_go_before_live_ones_are_trashed() -> None:
    t = table(size=2, expire=10.0)
    t.store(b"a", 1, "s1", now=0.0)
    t.store(b"b", 1, "s1", now=5.0)
    t.store(b"c", 1, "s1", now=12.0)  # a expired at 10: no trashing needed
    assert sorted(e.key for e in t.entries()) == [b"b", b"c"]


def test_nopurge_refuses_new_and_existing_keys_when_full() -> None:
    # 2.6.12, `size 2 nopurge`: a store for k1 to s2 when full left k1 on s1
    t = table(size=2, nopurge=True)
    assert t.store(b"k1", 1, "s1", 0.0) is not None
    assert t.store(b"k2", 2, "s2", 1.0) is not None
    assert t.store(b"k3", 1, "s1", 2.0) is None
    assert t.store(b"k1", 2, "s2", 3.0) is None
    k1 = t.lookup(b"k1", 4.0)
    assert k1 is not None and k1.server_id == 1  # still matchable, and refreshed
    assert len(t) == 2
    t.remove(b"k2")
    assert t.store(b"k3", 1, "s1", 5.0) is not None


@given(st.lists(st.tuples(st.sampled_from("abcdefghij"), st.booleans()), max_size=60))
def test_size_bound_and_lru_model(ops: list[tuple[str, bool]]) -> None:
    """Against a plain LRU model (size 4 < 256: batch of one)."""
    t = table(size=4, expire=1000.0)
    lru: list[str] = []
    for i, (k, is_store) in enumerate(ops):
        now = float(i)
        if is_store:
            if len(lru) >= 4:
                lru.pop(0)
            if k in lru:
                lru.remove(k)
            lru.append(k)
            assert t.store(k.encode(), 1, "s1", now) is not None
        else:
            hit = t.lookup(k.encode(), now)
            assert (hit is not None) == (k in lru)
            if k in lru:
                lru.remove(k)
                lru.append(k)
        assert sorted(e.key for e in t.entries()) == sorted(x.encode() for x in lru)
        assert len(t) <= 4


# --- show table -----------------------------------------------------------------------------


def test_show_matches_haproxy_format() -> None:
    # 2.6.12: "# table: be_stk, type: string, size:1024, used:2" and
    # "0x...: key=newsess1 use=0 exp=1799914 server_id=1 server_key=s1"
    t = table(size=1024, expire=1800.0, name="be_stk")
    t.store(b"newsess1", 1, "s1", now=0.0)
    t.store(b"newsess2", 2, "s2", now=0.05)
    lines = t.show(now=0.086)
    assert lines[0] == "# table: be_stk, type: string, size:1024, used:2"
    ptr, rest = lines[1].split(": ", 1)
    assert ptr.startswith("0x") and int(ptr, 16) > 0
    assert rest == "key=newsess1 use=0 exp=1799914 server_id=1 server_key=s1"
    assert lines[2].endswith(": key=newsess2 use=0 exp=1799964 server_id=2 server_key=s2")
    assert t.show(now=1.0)[1].split(": ")[0] == ptr  # pointers are stable
    assert len(lines) == 3


def test_show_orders_and_escapes_as_haproxy() -> None:
    t = table(key_len=8, name="be_str")
    for k in [b"abcdefgh", b"a b=c\\d", b"\x01\x7f\xe9x", b"12345678", b"1234567", b"b", b"B"]:
        t.store(k, 1, "s1", 0.0)
    for k in [b"ab", b"a", b"\x1bq\tz"]:
        t.store(k, 1, "s1", 0.0)
    keys = [line.split(": ", 1)[1].split(" use=")[0] for line in t.show(0.0)[1:]]
    assert keys == [  # 2.6.12, in this order
        "key=\\x01\\x7F\\xE9x",
        "key=\\eq\\tz",
        "key=1234567",
        "key=12345678",
        "key=B",
        "key=a",
        "key=a\\ b\\=c\\\\d",
        "key=ab",
        "key=abcdefgh",
        "key=b",
    ]
    assert dump_text(b"a\rb\nc\x00d") == "a\\rb\\nc"


def test_show_integer_order_is_little_endian_memory_order() -> None:
    t = table(T.INTEGER, name="be_int")
    for k in [12, 0, 4294967295, 7, 1, 256, 2, 5]:
        t.store(k, 1, "s1", 0.0)
    keys = [line.split(" ")[1] for line in t.show(0.0)[1:]]
    assert keys == [f"key={k}" for k in (0, 256, 1, 2, 5, 7, 12, 4294967295)]  # 2.6.12
    assert t.show(0.0)[0] == "# table: be_int, type: integer, size:100, used:8"


def test_show_addresses_and_types() -> None:
    t4 = table(T.IP, name="be_ip")
    ptrs = {}
    for raw in [b"10.0.0.1", b"9.9.9.9", b"1.2.3.4"]:
        e = t4.store(t4.key_for(raw) or b"", 1, "s1", 0.0)
        assert e is not None
        ptrs[raw.decode()] = e.ptr
    tail = "use=0 exp=0 server_id=1 server_key=s1"
    assert t4.show(0.0) == [  # 2.6.12 order: numeric
        "# table: be_ip, type: ip, size:100, used:3",
        f"{ptrs['1.2.3.4']}: key=1.2.3.4 {tail}",
        f"{ptrs['9.9.9.9']}: key=9.9.9.9 {tail}",
        f"{ptrs['10.0.0.1']}: key=10.0.0.1 {tail}",
    ]
    t6 = table(T.IPV6, name="be_ip6")
    t6.store(t6.key_for_address("127.0.0.1") or b"", 1, "s1", 0.0)
    assert t6.show(0.0)[0] == "# table: be_ip6, type: ipv6, size:100, used:1"
    assert " key=::ffff:127.0.0.1 " in t6.show(0.0)[1]


def test_show_without_server_data_and_missing_server_key() -> None:
    bare = table(name="be_unref", server_data=False)
    assert bare.show(0.0) == ["# table: be_unref, type: string, size:100, used:0"]
    assert bare.data_types == 0
    bare.apply_remote(b"k", None, None, 0.0)
    assert bare.show(0.0)[1].endswith(": key=k use=0 exp=0")
    t = table()
    t.apply_remote(b"k", 3, None, 0.0)
    assert t.show(0.0)[1].endswith(": key=k use=0 exp=0 server_id=3 server_key=-")
    assert t.data_types == 0x80001


def test_show_drops_expired_entries() -> None:
    t = table(expire=1.0)
    t.store(b"k", 1, "s1", 0.0)
    assert t.show(0.5)[0].endswith("used:1")
    assert t.show(1.0) == ["# table: app, type: string, size:100, used:0"]


# --- peers hooks ----------------------------------------------------------------------------


def test_listener_sees_local_updates_only() -> None:
    t = table(expire=60.0)
    seen: list[tuple[bytes | int, int, str | None]] = []

    def listener(tab: StickTable, e: StickEntry) -> None:
        assert tab is t
        seen.append((e.key, e.server_id, e.server_key))

    t.listeners.append(listener)
    t.store(b"a", 1, "s1", 0.0)
    t.lookup(b"a", 1.0)  # a stick match refresh is pushed too
    t.lookup(b"a", 2.0, touch=False)
    t.lookup(b"zz", 2.0)
    t.apply_remote(b"b", 2, "s2", 3.0)  # learnt from a peer: not pushed back
    assert seen == [(b"a", 1, "s1"), (b"a", 1, "s1")]


def test_apply_remote() -> None:
    t = table(expire=1800.0, key_len=4)
    e = t.apply_remote(b"injected-sess", 2, "s2", now=0.0)
    assert e is not None and e.key == b"inje" and e.expires == 1800.0
    e = t.apply_remote(b"injected", None, None, now=10.0, expire=5.0)  # timed update
    assert e is not None and e.server_id == 2 and e.server_key == "s2" and e.expires == 15.0
    assert t.expire_ms == 1800000 and t.key_size == 5
    full = table(size=1, nopurge=True)
    full.apply_remote(b"a", 1, "s1", 0.0)
    assert full.apply_remote(b"b", 1, "s1", 0.0) is None


def test_clear_and_remove() -> None:
    t = table()
    t.store(b"a", 1, "s1", 0.0)
    t.store(b"b", 1, "s1", 0.0)
    assert t.remove(b"a") and not t.remove(b"a")
    assert t.clear() == 1 and len(t) == 0
    assert t.lookup(b"b", 0.0) is None


# --- rules ----------------------------------------------------------------------------------


def jsessionid_backend(**kw: Any) -> Backend:
    """Seed 003: `stick store-response res.cook(JSESSIONID)` + `stick on req.cook(JSESSIONID)`
    with `stick-table type string len 32 size 30k expire 60m peers LB`."""
    t = StickTable("tomcats", model.StickTable(T.STRING, 30720, 32, 3600.0, peers="LB"))
    return Backend(
        [
            rule("store-response", "res.cook", "JSESSIONID"),
            rule("on", "req.cook", "JSESSIONID"),
        ],
        {"app": t},
        **kw,
    )


def test_seed_003_jsessionid_idiom() -> None:
    be = jsessionid_backend()
    s1, s2, _ = be.servers
    sid = "04939656BF230A8B1A26C70E996AEC86"
    # first request: no cookie, no match; the balancer picks s1, whose response sets the cookie
    first = be.stick.on_request(None, req(), "10.0.0.1", 0.0, persist=False)
    assert first.server is None and first.stores == []
    be.stick.on_response(None, res(f"JSESSIONID={sid}; Path=/"), s1, 0.5, first.stores)
    # the next request carrying the cookie sticks to s1
    nxt = be.stick.on_request(None, req(f"JSESSIONID={sid}"), "10.0.0.2", 60.0, False)
    assert nxt.server is s1
    be.stick.on_response(None, res(), s1, 60.1, nxt.stores)
    assert be.t.show(60.1) == [
        "# table: tomcats, type: string, size:30720, used:1",
        f"{be.t.lookup(sid.encode(), 0, False).ptr}: key={sid} use=0 exp=3600000 "  # type: ignore[union-attr]
        "server_id=1 server_key=s1",
    ]
    # another session lands on s2 and is kept apart
    be.stick.on_response(None, res("JSESSIONID=other"), s2, 61.0)
    assert match(be.stick, None, req("JSESSIONID=other"), "", 62.0, False) is s2
    assert match(be.stick, None, req(f"JSESSIONID={sid}"), "", 62.0, False) is s1


def test_seed_000_appsession_translation() -> None:
    # `appsession PHPSESSID len 32 timeout 1h` ->
    # stick-table type string len 32 size 1m expire 1h / stick on req.cook(PHPSESSID) /
    # stick store-response res.cook(PHPSESSID)
    t = StickTable("films", model.StickTable(T.STRING, 1048576, 32, 3600.0))
    be = Backend(
        [rule("on", "req.cook", "PHPSESSID"), rule("store-response", "res.cook", "PHPSESSID")],
        {"app": t},
    )
    s3 = be.servers[2]
    sid = "k8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3"  # 32 characters: all kept
    store_response(be.stick, None, res(f"PHPSESSID={sid}; path=/"), s3, now=0.0)
    assert be.t.key_for(sid + "tail") == sid.encode()
    assert match(be.stick, None, req(f"PHPSESSID={sid}"), "", 3599.0, False) is s3
    # the match refreshed it: an hour after the last use it is still there, then gone
    assert match(be.stick, None, req(f"PHPSESSID={sid}"), "", 7198.9, False) is s3
    assert match(be.stick, None, req(f"PHPSESSID={sid}"), "", 10798.9 + 0.2, False) is None


def test_store_records_the_server_that_answered() -> None:
    be = jsessionid_backend()
    s1, s2, _ = be.servers
    be.stick.on_response(None, res("JSESSIONID=a"), s1, 0.0)
    s1.up = False
    got = be.stick.on_request(None, req("JSESSIONID=a"), "", 1.0, persist=False)
    assert got.server is None  # s1 is down: ignored, the balancer chooses (say s2)
    be.stick.on_response(None, res(), s2, 1.1, got.stores)  # after redispatch: s2 answered
    e = be.t.lookup(b"a", 2.0, touch=False)
    assert e is not None and (e.server_id, e.server_key) == (2, "s2")
    assert match(be.stick, None, req("JSESSIONID=a"), "", 2.0, False) is s2


def test_down_server_ignored_unless_persist() -> None:
    be = jsessionid_backend()
    s1 = be.servers[0]
    be.t.store(b"a", 1, "s1", 0.0)
    s1.up = False
    assert match(be.stick, None, req("JSESSIONID=a"), "", 1.0, persist=False) is None
    assert match(be.stick, None, req("JSESSIONID=a"), "", 1.0, persist=True) is s1


def test_lookup_by_name_then_id() -> None:
    be = jsessionid_backend()
    s1, s2, s3 = be.servers
    be.t.apply_remote(b"byname", 1, "s3", 0.0)  # names win over ids (peers with other orders)
    be.t.apply_remote(b"byid", 2, None, 0.0)
    be.t.apply_remote(b"unknown-name", 1, "gone", 0.0)
    be.t.apply_remote(b"nothing", 9, "gone", 0.0)
    assert match(be.stick, None, req("JSESSIONID=byname"), "", 1.0, False) is s3
    assert match(be.stick, None, req("JSESSIONID=byid"), "", 1.0, False) is s2
    assert match(be.stick, None, req("JSESSIONID=unknown-name"), "", 1.0, False) is s1
    assert match(be.stick, None, req("JSESSIONID=nothing"), "", 1.0, False) is None
    # a name found on a down server does not fall back to the id
    s3.up = False
    assert match(be.stick, None, req("JSESSIONID=byname"), "", 1.0, False) is None


def test_first_match_wins_and_later_hits_are_refreshed() -> None:
    tables = {"app": table(expire=10.0), "other": table(expire=10.0, name="other")}
    be = Backend(
        [rule("match", "req.hdr", "x-a"), rule("match", "req.hdr", "x-b", table="other")],
        tables,
    )
    s1, s2, _ = be.servers
    tables["app"].store(b"a", 1, "s1", 0.0)
    tables["other"].store(b"b", 2, "s2", 0.0)
    assert match(be.stick, None, req(x_a="a", x_b="b"), "", 5.0, False) is s1
    assert tables["other"].lookup(b"b", 14.0, touch=False) is not None  # refreshed at 5
    # a server already assigned (persistence cookie) is kept, the entry still refreshed
    assert match(be.stick, None, req(x_a="a"), "", 9.0, False, assigned=True) is None
    assert tables["app"].lookup(b"a", 18.0, touch=False) is not None
    assert match(be.stick, None, req(x_a="zz", x_b="b"), "", 14.5, False) is s2


def test_first_store_per_table_and_stick_on_skipped_whole() -> None:
    be = Backend(
        [
            rule("store-request", "req.hdr", "x-a"),
            rule("store-request", "req.hdr", "x-b"),  # same table: ignored
            rule("on", "req.hdr", "x-c"),  # same table: skipped, its match too
        ]
    )
    be.t.store(b"c", 2, "s2", 0.0)
    got = be.stick.on_request(None, req(x_a="a", x_b="b", x_c="c"), "", 1.0, False)
    assert got.server is None
    assert [k for _, k in got.stores] == [b"a"]
    assert be.t.lookup(b"c", 1.0, touch=False).touched == 0.0  # type: ignore[union-attr]
    # without x-a, the next store rule for the table is the first to apply
    got = be.stick.on_request(None, req(x_b="b", x_c="c"), "", 2.0, False)
    assert [k for _, k in got.stores] == [b"b"] and got.server is None


def test_store_request_and_store_response_coexist_in_one_table() -> None:
    be = Backend(
        [
            rule("store-request", "req.hdr", "x-k"),
            rule("store-response", "res.cook", "A"),
            rule("store-response", "res.cook", "B"),  # same table as the previous: ignored
        ]
    )
    s1 = be.servers[0]
    got = be.stick.on_request(None, req(x_k="fromreq"), "", 0.0, False)
    be.stick.on_response(None, res("A=fromres", "B=second"), s1, 0.1, got.stores)
    assert sorted(e.key for e in be.t.entries()) == [b"fromreq", b"fromres"]


def test_at_most_eight_stores() -> None:
    names = [f"t{i}" for i in range(10)]
    tables = {"app": table()} | {n: table(name=n) for n in names}
    rules = [rule("store-request", "req.hdr", "x-k", table=n) for n in names]
    be = Backend(rules, tables)
    got = be.stick.on_request(None, req(x_k="k"), "", 0.0, False)
    assert len(got.stores) == MAX_STORES
    be.stick.on_response(None, res(), be.servers[0], 0.0, got.stores)
    assert [len(tables[n]) for n in names] == [1] * 8 + [0, 0]


def test_conditions_and_missing_samples() -> None:
    be = Backend(
        [
            rule("store-request", "req.hdr", "x-k", condition=COND_NO),
            rule("store-request", "req.hdr", "x-missing"),  # no sample: next rule's turn
            rule("store-request", "url_param", "sid", condition=COND_OK),
        ]
    )
    calls: list[Any] = []

    def cond(c: model.Condition, ctx: Any) -> bool:
        calls.append(ctx)
        return condition(c, ctx)

    be.stick = StickRules(be.rules, be.tables, "app", be.servers, cond)
    got = be.stick.on_request("CTX", req(target=b"/?sid=42", x_k="k"), "", 0.0, False)
    be.stick.on_response("CTX", res(), be.servers[1], 0.0, got.stores)
    assert [(e.key, e.server_key) for e in be.t.entries()] == [(b"42", "s2")]
    assert calls == ["CTX", "CTX"]


def test_src_rules_and_other_tables() -> None:
    tables = {"app": table(T.IP), "shared": table(T.IPV6, name="shared")}
    be = Backend(
        [rule("on", "src"), rule("store-response", "src", table="shared")],
        tables,
    )
    s2 = be.servers[1]
    got = be.stick.on_request(None, req(), "192.0.2.7", 0.0, False)
    be.stick.on_response(None, res(), s2, 0.1, got.stores, src="192.0.2.7")
    assert tables["app"].lookup(socket.inet_aton("192.0.2.7"), 1.0) is not None
    assert " key=::ffff:192.0.2.7 " in tables["shared"].show(1.0)[1]
    assert match(be.stick, None, req(), "192.0.2.7", 1.0, False) is s2
    assert match(be.stick, None, req(), "192.0.2.8", 1.0, False) is None
    assert be.stick.has_store_rules and be.stick.has_request_rules
    assert tables["shared"].server_data


def test_bad_rules() -> None:
    with pytest.raises(ValueError, match="unable to find stick-table"):
        StickRules([rule("on", "src", table="nope")], {"app": table()}, "app", [], condition)
    with pytest.raises(ValueError, match="unable to find stick-table"):
        StickRules([rule("on", "src")], {}, None, [], condition)
    with pytest.raises(ValueError, match="unknown stick rule"):
        StickRules([rule("bogus", "src")], {"app": table()}, "app", [], condition)


def test_full_nopurge_table_still_matches_but_stores_nothing() -> None:
    t = StickTable("app", model.StickTable(T.STRING, 1, 32, None, nopurge=True))
    be = Backend([rule("on", "req.cook", "S")], {"app": t})
    s1, s2, _ = be.servers
    got = be.stick.on_request(None, req("S=a"), "", 0.0, False)
    be.stick.on_response(None, res(), s1, 0.0, got.stores)
    got = be.stick.on_request(None, req("S=b"), "", 1.0, False)
    be.stick.on_response(None, res(), s2, 1.0, got.stores)
    assert [e.key for e in t.entries()] == [b"a"]
    assert match(be.stick, None, req("S=a"), "", 2.0, False) is s1


def test_appsession_query_string_mode_falls_back_to_the_url_param() -> None:
    # the loader's translation of `appsession ... mode query-string` adds
    # `stick on url_param(NAME)` after `stick on req.cook(NAME)`, same table
    be = Backend(
        [
            rule("on", "req.cook", "SID"),
            rule("on", "url_param", "SID"),
            rule("store-response", "res.cook", "SID"),
        ]
    )
    s1, s2, _ = be.servers
    be.t.store(b"x", 1, "s1", 0.0)
    be.t.store(b"y", 2, "s2", 0.0)
    assert match(be.stick, None, req(target=b"/?SID=y"), "", 1.0, False) is s2
    # the cookie rule queued a store for the table: the url_param rule is skipped whole
    got = be.stick.on_request(None, req("SID=x", target=b"/?SID=y"), "", 1.0, False)
    assert got.server is s1 and [k for _, k in got.stores] == [b"x"]
