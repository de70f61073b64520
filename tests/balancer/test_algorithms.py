"""Server selection, checked against sequences recorded from HAProxy 2.6.12.

The ``HAPROXY_*`` vectors below were produced by running Debian's HAProxy 2.6.12 on loopback
(servers pointing at an ``http-request return`` listener, the chosen server echoed through
``http-response set-header X-Srv %[srv_name]``, one connection per request, runtime changes
through the stats socket, ``maxconn 1`` servers held busy by a tarpitted request).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stack.balancer.algorithms import (
    SRV_EWGHT_MAX,
    Balancer,
    FirstBalancer,
    LeastConnBalancer,
    RoundRobinBalancer,
    SourceBalancer,
    StaticRoundRobinBalancer,
    UriBalancer,
    make_balancer,
    sdbm,
    source_hash,
    uri_hash_input,
)
from stack.config import model


@dataclass(eq=False)
class Srv:
    name: str
    weight: int = 1
    backup: bool = False
    maxconn: int = 0
    up: bool = True
    load: int = 0

    def usable(self) -> bool:
        return self.up


def farm(
    weights: list[int], backups: set[int] | frozenset[int] = frozenset(), maxconn: int = 0
) -> list[Srv]:
    return [
        Srv(f"s{i + 1}", w, backup=(i + 1) in backups, maxconn=maxconn)
        for i, w in enumerate(weights)
    ]


def one(b: Balancer, src: str | None = None, uri: bytes = b"") -> str:
    """A short request: pick, take a slot, finish (what the recording client did)."""
    s = b.pick(src, uri)
    if s is None:
        return "<none>"
    assert isinstance(s, Srv)
    s.load += 1
    b.taken(s)
    s.load -= 1
    b.release(s)
    return s.name


def seq(b: Balancer, n: int) -> str:
    return " ".join(one(b) for _ in range(n))


# --- vectors from the brief / haproxy.md -------------------------------------------------------


def test_roundrobin_3_to_1_observed() -> None:
    b = RoundRobinBalancer(farm([3, 1]))
    assert seq(b, 12) == "s1 s1 s1 s2 s1 s1 s1 s2 s1 s1 s1 s2"


def test_roundrobin_equal_weights_declaration_order_balance_rr_vtc() -> None:
    b = RoundRobinBalancer(farm([1, 1, 1, 1]))
    assert seq(b, 5) == "s1 s2 s3 s4 s1"


def test_sdbm_appendix_a() -> None:
    assert sdbm(b"/url1") == 4103199409
    assert sdbm(b"/url2") == 4103199410
    assert sdbm(b"/url3") == 4103199411
    assert sdbm(b"/url4") == 4103199412
    assert sdbm(b"") == 0


def test_source_vector_observed() -> None:
    b = SourceBalancer(farm([1, 1, 1, 1]))
    got = [one(b, f"127.0.0.{i}") for i in range(1, 6)]
    assert got == ["s2", "s3", "s4", "s1", "s2"]


def test_uri_vector_balance_uri_vtc() -> None:
    b = UriBalancer(farm([1, 1, 1, 1]))
    got = [one(b, None, u) for u in (b"/url1", b"/url2", b"/url3", b"/url4")]
    assert got == ["s2", "s3", "s4", "s1"]
    assert one(b, None, b"/url1?ignore=this-arg") == "s2"


def test_uri_observed_syslog_sample() -> None:
    b = UriBalancer(farm([1, 1, 1, 1]))
    got = [one(b, None, f"/uri/url{i}".encode()) for i in range(1, 5)]
    assert got == ["s1", "s2", "s3", "s4"]
    assert one(b, None, b"/uri/url1?x=1") == "s1"


# --- recorded sequences -----------------------------------------------------------------------

HAPROXY_SEQUENCES = {
    ("roundrobin", (3, 1)): "s1 s1 s1 s2 s1 s1 s1 s2 s1 s1",
    ("static-rr", (3, 1)): "s1 s1 s1 s2 s1 s1 s1 s2 s1 s1",
    ("leastconn", (3, 1)): "s1 s2 s1 s2 s1 s2 s1 s2",
    ("roundrobin", (1, 1, 1, 1)): "s1 s2 s3 s4 s1 s2 s3 s4 s1 s2",
    ("static-rr", (1, 1, 1, 1)): "s1 s2 s3 s4 s1 s2 s3 s4 s1 s2",
    ("leastconn", (1, 1, 1, 1)): "s1 s2 s3 s4 s1 s2 s3 s4",
    ("roundrobin", (5, 3, 2)): "s1 s2 s1 s3 s1 s2 s1 s2 s1 s3 s1 s2 s1 s3 s1 s2 s1 s2 s1 s3 s1 s2",
    ("static-rr", (5, 3, 2)): "s1 s1 s2 s1 s3 s1 s2 s1 s2 s3 s1 s1 s2 s1 s3 s1 s2 s1 s2 s3 s1 s1",
    ("leastconn", (5, 3, 2)): "s1 s2 s3 s1 s2 s3 s1 s2",
    ("roundrobin", (1, 2, 3)): "s3 s2 s3 s1 s3 s2 s3 s2 s3 s1 s3 s2 s3 s2",
    ("static-rr", (1, 2, 3)): "s1 s3 s2 s3 s2 s3 s1 s3 s2 s3 s2 s3 s1 s3",
    ("leastconn", (1, 2, 3)): "s1 s2 s3 s1 s2 s3 s1 s2",
    ("roundrobin", (10, 7, 3, 1)): (
        "s1 s2 s1 s3 s1 s2 s1 s2 s1 s4 s2 s1 s3 s1 s2 s1 s2 s1 s3 s1 "
        "s2 s1 s2 s1 s3 s1 s2 s1 s2 s1 s4 s2 s1 s3 s1 s2 s1 s2 s1 s3"
    ),
    ("static-rr", (10, 7, 3, 1)): (
        "s1 s2 s1 s2 s1 s2 s3 s1 s1 s2 s1 s2 s1 s3 s1 s2 s1 s2 s1 s3 "
        "s4 s1 s2 s1 s2 s1 s2 s3 s1 s1 s2 s1 s2 s1 s3 s1 s2 s1 s2 s1"
    ),
    ("leastconn", (10, 7, 3, 1)): "s1 s2 s3 s4 s1 s2 s3 s4",
    ("roundrobin", (7, 0, 2)): "s1 s1 s1 s1 s3 s1 s1 s1 s3 s1 s1 s1 s1 s3 s1 s1 s1 s3 s1 s1",
    ("static-rr", (7, 0, 2)): "s1 s1 s1 s1 s3 s1 s1 s1 s3 s1 s1 s1 s1 s3 s1 s1 s1 s3 s1 s1",
    ("leastconn", (7, 0, 2)): "s1 s3 s1 s3 s1 s3 s1 s3",
    ("roundrobin", (1, 4, 4, 2, 9)): (
        "s5 s2 s5 s3 s5 s4 s2 s5 s3 s5 s1 s5 s2 s5 s3 s5 s4 s2 s5 s3 "
        "s5 s2 s5 s3 s5 s4 s2 s5 s3 s5 s1 s5 s2 s5 s3 s5 s4 s2 s5 s3"
    ),
    ("static-rr", (1, 4, 4, 2, 9)): (
        "s1 s2 s5 s3 s5 s2 s5 s3 s5 s4 s2 s5 s3 s5 s2 s5 s3 s5 s4 s5 "
        "s1 s2 s5 s3 s5 s2 s5 s3 s5 s4 s2 s5 s3 s5 s2 s5 s3 s5 s4 s5"
    ),
    ("leastconn", (1, 4, 4, 2, 9)): "s1 s2 s3 s4 s5 s1 s2 s3",
    ("roundrobin", (200, 3)): " ".join(["s1"] * 40),
    ("static-rr", (200, 3)): " ".join(["s1"] * 40),
    ("leastconn", (200, 3)): "s1 s2 s1 s2 s1 s2 s1 s2",
    ("roundrobin", (2, 2, 1)): "s1 s2 s1 s2 s3 s1 s2 s1 s2 s3 s1 s2",
    ("static-rr", (2, 2, 1)): "s1 s2 s1 s2 s3 s1 s2 s1 s2 s3 s1 s2",
    ("leastconn", (2, 2, 1)): "s1 s2 s3 s1 s2 s3 s1 s2",
    ("static-rr", (2, 4, 6)): "s1 s3 s2 s3 s2 s3 s1 s3 s2 s3 s2 s3 s1 s3",
}


@pytest.mark.parametrize(("algo", "weights"), list(HAPROXY_SEQUENCES))
def test_haproxy_sequences(algo: str, weights: tuple[int, ...]) -> None:
    expected = HAPROXY_SEQUENCES[(algo, weights)]
    b = make_balancer(model.Balance(model.Algorithm(algo)), farm(list(weights)))
    assert seq(b, len(expected.split())) == expected


def test_roundrobin_maintenance_and_back() -> None:
    servers = farm([1, 1, 1])
    b = RoundRobinBalancer(servers)
    out = [seq(b, 4)]
    servers[1].up = False
    b.recalc()
    out.append(seq(b, 4))
    servers[1].up = True
    b.recalc()
    out.append(seq(b, 7))
    assert " | ".join(out) == "s1 s2 s3 s1 | s3 s1 s3 s1 | s3 s1 s2 s3 s1 s2 s3"


def test_roundrobin_runtime_weights() -> None:
    servers = farm([2, 1])
    b = RoundRobinBalancer(servers)
    out = [seq(b, 5)]
    servers[1].weight = 3
    b.recalc()
    out.append(seq(b, 10))
    servers[0].weight = 0
    b.recalc()
    out.append(seq(b, 3))
    servers[0].weight = 2
    b.recalc()
    out.append(seq(b, 8))
    assert " | ".join(out) == (
        "s1 s1 s2 s1 s1 | s2 s1 s2 s1 s2 s2 s1 s2 s1 s2 | s2 s2 s2 | s2 s1 s2 s1 s2 s2 s1 s2"
    )


def test_unusable_without_recalc_is_never_returned() -> None:
    servers = farm([1, 1, 1])
    b = RoundRobinBalancer(servers)
    assert seq(b, 1) == "s1"
    servers[1].up = False  # nobody called recalc()
    assert "s2" not in seq(b, 10).split()


@pytest.mark.parametrize(
    ("cls", "allbackups", "expected"),
    [
        (RoundRobinBalancer, False, "s1 s1 s1 | " + "s2 " * 11 + "s2 | s3 s3 s3 s3"),
        # HAProxy quirk: the map is sized by the first backup's weight (2) but filled from
        # every usable backup, so s3 (weight 3) gets half of the traffic.
        (StaticRoundRobinBalancer, False, "s1 s1 s1 | " + "s3 s2 " * 6 + "| s3 s3 s3 s3"),
        (SourceBalancer, False, "s1 s1 s1 | " + "s2 " * 11 + "s2 | s3 s3 s3 s3"),
        (RoundRobinBalancer, True, "s1 s1 s1 | s3 s3 s2 s3 s2 s3 s3 s2 s3 s2 s3 s3 | s3 s3 s3 s3"),
        (
            StaticRoundRobinBalancer,
            True,
            "s1 s1 s1 | s3 s2 s3 s3 s2 s3 s2 s3 s3 s2 s3 s2 | s3 s3 s3 s3",
        ),
    ],
)
def test_backups(cls: type[Balancer], allbackups: bool, expected: str) -> None:
    servers = farm([1, 2, 3], backups={2, 3})
    b = cls(servers, allbackups=allbackups)
    out = [" ".join(one(b, "127.0.0.1") for _ in range(3))]
    servers[0].up = False
    b.recalc()
    out.append(" ".join(one(b, f"127.0.0.{k}") for k in range(1, 13)))
    servers[1].up = False
    b.recalc()
    out.append(" ".join(one(b, f"127.0.0.{k}") for k in range(1, 5)))
    assert " | ".join(out) == expected


def _held(b: Balancer, pre: int, k: int, during: int, after: int) -> str:
    """``pre`` short requests, ``k`` long ones held, ``during`` short ones, release, ``after``."""
    out = [seq(b, pre)]
    held = []
    for _ in range(k):
        s = b.pick()
        assert isinstance(s, Srv)
        s.load += 1
        b.taken(s)
        held.append(s)
    out.append(" ".join(s.name for s in held))
    out.append(seq(b, during))
    for s in held:
        s.load -= 1
        b.release(s)
    out.append(seq(b, after))
    return " | ".join(out)


def test_roundrobin_full_server_keeps_its_turn() -> None:
    # s1 (weight 2, maxconn 1) is busy for 13 requests; HAProxy keeps advancing its position,
    # so once free it catches up with 11 requests in a row.
    b = RoundRobinBalancer(farm([2, 1], maxconn=1))
    assert _held(b, 4, 1, 13, 11) == (
        "s1 s1 s2 s1 | s1 | " + "s2 " * 12 + "s2 | " + " ".join(["s1"] * 11)
    )


def test_leastconn_busy_servers() -> None:
    b = LeastConnBalancer(farm([1, 1, 1], maxconn=1))
    assert _held(b, 2, 2, 5, 7) == "s1 s2 | s3 s1 | s2 s2 s2 s2 s2 | s2 s3 s1 s2 s3 s1 s2"


def test_static_rr_skips_full() -> None:
    b = StaticRoundRobinBalancer(farm([1, 2, 1], maxconn=1))
    assert _held(b, 3, 1, 6, 8) == ("s1 s2 s2 | s3 | s1 s2 s2 s1 s2 s2 | s3 s1 s2 s2 s3 s1 s2 s2")


def test_all_full_returns_none() -> None:
    for cls in (RoundRobinBalancer, StaticRoundRobinBalancer, LeastConnBalancer, FirstBalancer):
        servers = farm([1, 2], maxconn=1)
        b = cls(servers)
        for s in servers:
            s.load = 1
        assert b.pick() is None, cls
        assert b.has_usable()
        servers[1].load = 0
        assert b.pick() is servers[1], cls


def test_hash_returns_full_server() -> None:
    servers = farm([1, 1, 1, 1], maxconn=1)
    for s in servers:
        s.load = 5
    assert SourceBalancer(servers).pick("127.0.0.1") is servers[1]
    assert UriBalancer(servers).pick(None, b"/url1") is servers[1]


def test_nothing_usable() -> None:
    servers = farm([1, 1])
    for s in servers:
        s.up = False
    for algo in model.Algorithm:
        b = make_balancer(model.Balance(algo), servers)
        assert b.pick("127.0.0.1", b"/") is None
        assert not b.has_usable()


# --- source and uri ---------------------------------------------------------------------------


def test_source_ipv6_and_packed() -> None:
    assert source_hash("::1") == 1
    assert source_hash("2001:db8::1") == 0x20010DB8 ^ 1
    assert source_hash(bytes([127, 0, 0, 1])) == 0x7F000001
    assert source_hash(b"127.0.0.1") == 0x7F000001
    assert source_hash("::ffff:127.0.0.1") == 0xFFFF ^ 0x7F000001
    b = SourceBalancer(farm([1, 1, 1, 1]))
    assert one(b, "::1") == "s2"  # recorded
    b = SourceBalancer(farm([1, 2, 3]))
    got = [one(b, f"127.0.{k}.{k * 7}") for k in range(12)] + [one(b, "::1")]
    assert " ".join(got) == "s2 s3 s2 s3 s1 s3 s2 s3 s2 s3 s1 s3 s3"  # recorded


def test_source_single_server_and_no_address() -> None:
    servers = farm([1, 1])
    servers[0].up = False
    b = SourceBalancer(servers)
    assert b.pick("10.0.0.1") is servers[1]
    servers[0].up = True
    b.recalc()
    assert [one(b, None) for _ in range(3)] == ["s1", "s2", "s1"]  # map round robin fallback
    assert one(b, "not-an-address") in ("s1", "s2")


@pytest.mark.parametrize(
    ("name", "options", "expected"),
    [
        ("uri4", {}, "s3 s4 s1 s1 s3 s2 s4"),
        ("uri_len", {"length": 3}, "s1 s1 s1 s1 s1 s1 s1"),
        ("uri_depth", {"depth": 1}, "s2 s2 s2 s2 s2 s2 s2"),
        ("uri_whole", {"whole": True}, "s1 s2 s4 s3 s4 s2 s2"),
        ("uri_po", {"path_only": True}, "s1 s2 s3 s3 s1 s1 s2"),
    ],
)
def test_uri_options_recorded(name: str, options: dict[str, object], expected: str) -> None:
    b = UriBalancer(farm([1, 1, 1, 1]), **options)  # type: ignore[arg-type]
    paths = [
        f"/{name}/url1",
        f"/{name}/url2",
        f"/{name}/url3?x=1",
        f"/{name}/a/b/c",
        f"/{name}/url1?ignore=this-arg",
        f"http://example.com/{name}/url1",
        f"/{name}",
    ]
    assert " ".join(one(b, None, p.encode()) for p in paths) == expected


def test_uri_hash_input() -> None:
    assert uri_hash_input(b"/a/b/c?x") == b"/a/b/c"
    assert uri_hash_input(b"/a/b/c?x", whole=True) == b"/a/b/c?x"
    assert uri_hash_input(b"/a/b/c?x", length=3) == b"/a/"
    assert uri_hash_input(b"/a/b/c?x", depth=2) == b"/a/b"
    assert uri_hash_input(b"/a/b/c?x", depth=5) == b"/a/b/c"
    assert uri_hash_input(b"/a?b/c", depth=1) == b"/a"
    assert uri_hash_input(b"http://h:80/p/q?x", path_only=True) == b"/p/q"
    assert uri_hash_input(b"http://h:80", path_only=True) == b""
    assert uri_hash_input(b"h:80", path_only=True) == b""
    assert uri_hash_input(b"*", path_only=True) == b""
    assert uri_hash_input(b"http://h/p?q") == b"http://h/p"


def test_make_balancer_uri_options() -> None:
    bal = model.Balance(
        model.Algorithm.URI, uri_whole=True, uri_len=9, uri_depth=2, uri_path_only=True
    )
    b = make_balancer(bal, farm([1, 1]))
    assert isinstance(b, UriBalancer)
    assert (b.whole, b.length, b.depth, b.path_only) == (True, 9, 2, True)


# --- first and leastconn ----------------------------------------------------------------------


def test_first() -> None:
    servers = farm([1, 1, 1], maxconn=2)
    b = FirstBalancer(servers)
    picks = []
    for _ in range(6):
        s = b.pick()
        assert isinstance(s, Srv)
        s.load += 1
        b.taken(s)
        picks.append(s.name)
    assert picks == ["s1", "s1", "s2", "s2", "s3", "s3"]
    assert b.pick() is None
    servers[1].load -= 1
    assert b.pick() is servers[1]


def test_first_backup() -> None:
    servers = farm([1, 1, 1], backups={2, 3}, maxconn=1)
    b = FirstBalancer(servers)
    servers[0].up = False
    b.recalc()
    assert b.pick() is servers[1]
    servers[1].load = 1
    assert b.pick() is None  # only the first backup is used
    b = FirstBalancer(servers, allbackups=True)
    assert b.pick() is servers[2]


def test_leastconn_weighted_keys() -> None:
    servers = farm([1, 2])
    b = LeastConnBalancer(servers)
    for s in servers:
        s.load = 1
        b.taken(s)
    # keys: (1+1)*4096/16 = 512 for s1, (1+1)*4096/32 = 256 for s2
    assert b.pick() is servers[1]
    servers[1].load = 3
    b.taken(servers[1])  # (3+1)*4096/32 = 512: tie, s2 was re-inserted last
    assert b.pick() is servers[0]


def test_leastconn_resyncs_without_hooks() -> None:
    servers = farm([1, 1, 1])
    b = LeastConnBalancer(servers)
    got = []
    for _ in range(6):
        s = b.pick()
        assert isinstance(s, Srv)
        got.append(s.name)
        s.load += 1  # no taken()/release(): the balancer notices at the next pick
    assert got == ["s1", "s2", "s3", "s1", "s2", "s3"]


# --- properties -------------------------------------------------------------------------------

weights_st = st.lists(st.integers(min_value=1, max_value=256), min_size=1, max_size=8)


@settings(max_examples=150, deadline=None)
@given(weights_st, st.integers(min_value=1, max_value=4))
def test_roundrobin_share_matches_weights(weights: list[int], rounds: int) -> None:
    b = RoundRobinBalancer(farm(weights))
    counts: Counter[str] = Counter()
    total = sum(weights)
    for r in range(1, rounds + 1):
        counts.update(one(b) for _ in range(total))
        for i, w in enumerate(weights):
            assert abs(counts[f"s{i + 1}"] - r * w) <= 1


@settings(max_examples=150, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=64), min_size=1, max_size=8))
def test_static_rr_map_slots(weights: list[int]) -> None:
    b = StaticRoundRobinBalancer(farm(weights))
    nonzero = [w for w in weights if w]
    if not nonzero:
        assert b.pick() is None
        return
    g = 0
    for w in weights:  # HAProxy's GCD also folds zero weights in, harmlessly
        a, c = g, w
        while c:
            a, c = c, a % c
        g = a
    slots = Counter(s.srv.name for s in b.map)
    assert len(b.map) == sum(w // g for w in weights)
    for i, w in enumerate(weights):
        assert slots[f"s{i + 1}"] == w // g
    assert Counter(one(b) for _ in range(len(b.map))) == slots


op_st = st.tuples(
    st.sampled_from(["pick", "toggle", "weight", "load", "unload"]),
    st.integers(min_value=0, max_value=5),
    st.integers(min_value=0, max_value=20),
)


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(list(model.Algorithm)),
    st.lists(st.integers(min_value=0, max_value=20), min_size=1, max_size=6),
    st.sets(st.integers(min_value=0, max_value=5)),
    st.booleans(),
    st.lists(op_st, max_size=60),
)
def test_never_picks_ineligible(
    algo: model.Algorithm,
    weights: list[int],
    backups: set[int],
    allbackups: bool,
    ops: list[tuple[str, int, int]],
) -> None:
    servers = [
        Srv(f"s{i}", w, backup=i in backups, maxconn=2 if i % 2 else 0)
        for i, w in enumerate(weights)
    ]
    b = make_balancer(model.Balance(algo), servers, allbackups=allbackups)
    hashed = algo in (model.Algorithm.SOURCE, model.Algorithm.URI)
    for op, idx, val in ops:
        s = servers[idx % len(servers)]
        if op == "toggle":
            s.up = not s.up
            b.recalc()
        elif op == "weight":
            s.weight = val
            b.recalc()
        elif op == "load":
            s.load += 1
            b.taken(s)
        elif op == "unload" and s.load:
            s.load -= 1
            b.release(s)
        else:
            got = b.pick(f"10.0.{val}.{idx}", f"/p{val}".encode())
            eligible = [x for x in servers if x.up and x.weight > 0]
            actives = [x for x in eligible if not x.backup]
            assert b.has_usable() == bool(eligible)
            if got is None:
                if not hashed:
                    pool = actives or [x for x in eligible if x.backup]
                    if not allbackups and not actives and pool:
                        pool = pool[:1]
                    assert all(x.maxconn and x.load >= x.maxconn for x in pool)
                else:
                    assert not eligible
                continue
            assert got in eligible
            assert got.backup == (not actives)
            if not hashed:
                assert not (got.maxconn and got.load >= got.maxconn)
            if algo is model.Algorithm.LEASTCONN:
                pool = actives or [x for x in eligible if x.backup]

                def key(x: Srv) -> int:
                    return (x.load + 1) * SRV_EWGHT_MAX // (x.weight * 16) if x.load else 0

                free = [x for x in pool if not (x.maxconn and x.load >= x.maxconn)]
                if allbackups or actives:
                    assert key(got) == min(key(x) for x in free)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.integers(min_value=1, max_value=10), min_size=2, max_size=6),
    st.integers(min_value=0, max_value=2**32 - 1),
    st.binary(max_size=40),
)
def test_hashes_are_map_lookups(weights: list[int], addr: int, path: bytes) -> None:
    ip = ".".join(str((addr >> s) & 255) for s in (24, 16, 8, 0))
    src = SourceBalancer(farm(weights))
    assert src.pick(ip) is src.map[addr % src.tot_weight].srv
    assert src.pick(ip) is src.pick(ip)
    uri = UriBalancer(farm(weights))
    key = sdbm(uri_hash_input(b"/" + path))
    assert uri.pick(None, b"/" + path) is uri.map[key % uri.tot_weight].srv


# --- redispatch: srvtoavoid -----------------------------------------------------------------------


def test_roundrobin_avoided_server_uses_up_its_turn() -> None:
    """fwrr_get_next_server(px, srvtoavoid): s1's turn is spent on the failed attempt, so the
    redispatched request goes to s2 and the next plain pick is s3, then s1 again."""
    servers = farm([1, 1, 1])
    b = RoundRobinBalancer(servers)
    assert b.pick_avoiding(servers[0], None, b"") is servers[1]
    assert seq(b, 4) == "s3 s1 s2 s3"


def test_roundrobin_sole_server_is_taken_even_if_avoided() -> None:
    servers = farm([1])
    b = RoundRobinBalancer(servers)
    assert b.pick_avoiding(servers[0], None, b"") is servers[0]


def test_static_rr_walks_past_the_avoided_server() -> None:
    servers = farm([2, 1])
    b = StaticRoundRobinBalancer(servers)
    first = b.pick(None, b"")
    assert first is servers[0]
    assert b.pick_avoiding(servers[0], None, b"") is servers[1]


@pytest.mark.parametrize("cls", [FirstBalancer, LeastConnBalancer])
def test_first_and_leastconn_take_the_next_best_other_server(cls: type[Balancer]) -> None:
    servers = farm([1, 1, 1])
    b = cls(servers)
    assert b.pick(None, b"") is servers[0]
    assert b.pick_avoiding(servers[0], None, b"") is servers[1]
    servers[1].up = servers[2].up = False
    b.recalc()
    assert b.pick_avoiding(servers[0], None, b"") is servers[0]  # nothing else left


def test_hash_algorithms_ignore_the_avoided_server() -> None:
    servers = farm([1, 1])
    b = SourceBalancer(servers)
    chosen = b.pick("192.0.2.1", b"")
    assert chosen is not None
    assert b.pick_avoiding(chosen, "192.0.2.1", b"") is chosen
