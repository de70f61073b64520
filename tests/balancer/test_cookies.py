"""Cookie persistence (stack.balancer.cookies) against HAProxy 2.6.12.

Vectors marked "observed" come from haproxy.md §1.2/§1.4 and the captures in
/work/shared/reference/haproxy-2.6-syslog-samples.txt (configuration 1's be_ins, be_pfx, be_rw,
be_idle, be_post; configuration 2's be_redisp, be_downck, be_persist). The ``HAPROXY_2_6_12``
tables were produced by sending the same requests through Debian's haproxy 2.6.12-1+deb12u4
(/usr/sbin/haproxy) on loopback, with an origin echoing the Cookie headers it received and
answering with the Set-Cookie/Cache-Control headers asked for, and reading the termination state
from its httplog line. The module was also compared with that binary on about 4,000 random
Cookie/Set-Cookie/Cache-Control combinations, with no difference.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stack.balancer.cookies import (
    CookieDecision,
    CookiePersistenceRules,
    CookieServer,
    decode_date,
    encode_date,
)
from stack.config.model import CookieMode, CookiePersistence
from stack.http.message import Headers, Request, Response

# 2026-11-21 09:33:22 UTC, the second of the observed be_idle --NI request (09:33:22.961)
T_IDLE = 1795253602.961

INS = CookiePersistence(  # be_ins
    "SRV",
    CookieMode.INSERT,
    indirect=True,
    nocache=True,
    httponly=True,
    secure=True,
    domains=(".example.com",),
)
PFX = CookiePersistence("JSESSIONID", CookieMode.PREFIX)  # be_pfx
RW = CookiePersistence("SRV", CookieMode.REWRITE)  # be_rw
IDLE = CookiePersistence("SRV", CookieMode.INSERT, maxidle=1800, maxlife=28800)  # be_idle
POST = CookiePersistence("SRV", CookieMode.INSERT, postonly=True)  # be_post
PASSIVE = CookiePersistence("SRV")
INS_IND = CookiePersistence("SRV", CookieMode.INSERT, indirect=True)  # be_redisp & co


@dataclass(eq=False)
class Srv:
    name: str
    cookie: str | None
    up: bool = True

    def usable(self) -> bool:
        return self.up


def ab(a_up: bool = True, b_up: bool = True) -> list[Srv]:
    return [Srv("s1", "a", a_up), Srv("s2", "b", b_up)]


def request(cookies: Sequence[str] = (), method: str = "GET") -> Request:
    headers: Headers = [(b"host", b"h")]
    headers += [(b"cookie", c.encode()) for c in cookies]
    headers.append((b"user-agent", b"t"))
    return Request(method.encode(), b"/", b"1.1", headers)


def cookies_of(req: Request) -> list[str]:
    return [v.decode() for k, v in req.headers if k == b"cookie"]


@dataclass
class Exchange:
    decision: CookieDecision
    forwarded: list[str]  # Cookie headers the server received
    response: Headers  # the whole response head after on_response
    added: Headers  # the set-cookie / set-cookie2 / cache-control headers, in order
    flags: str


def exchange(
    config: CookiePersistence,
    cookies: Sequence[str] = (),
    *,
    servers: list[Srv] | None = None,
    served: str | None = None,
    method: str = "GET",
    status: int = 200,
    headers: Sequence[tuple[str, str]] = (),
    now: float = T_IDLE,
    persist: bool = False,
) -> Exchange:
    """One request and response. ``served`` names the server that answered; by default the one
    the cookie designates, else the first."""
    servers = ab() if servers is None else servers
    rules = CookiePersistenceRules(config, servers, persist)
    req = request(list(cookies), method)
    decision = rules.on_request(req, now)
    if served is None:
        server = next((s for s in servers if s is decision.server), servers[0])
    else:
        server = next(s for s in servers if s.name == served)
    resp_headers: Headers = [(b"content-type", b"text/plain")]
    resp_headers += [(k.lower().encode(), v.encode()) for k, v in headers]
    resp = Response(status, b"OK", resp_headers)
    rules.on_response(decision, server, req, resp, now)
    names = (b"set-cookie", b"set-cookie2", b"cache-control")
    return Exchange(
        decision,
        cookies_of(req),
        resp.headers,
        [(k, v) for k, v in resp.headers if k in names],
        rules.flags(decision),
    )


def sc(value: str) -> tuple[bytes, bytes]:
    return (b"set-cookie", value.encode())


CC_PRIVATE = (b"cache-control", b"private")
INS_A = sc("SRV=a; path=/; domain=.example.com; HttpOnly; Secure")
INS_B = sc("SRV=b; path=/; domain=.example.com; HttpOnly; Secure")


# --- dates ----------------------------------------------------------------------------------------


def test_date_vector_from_appendix_a() -> None:
    # observed: set-cookie: SRV=a|awFlZ|awFlZ at 2026-11-21 09:33:22; awFlZ = 448813401 * 4 s
    assert encode_date(1795253602) == "awFlZ"
    assert decode_date("awFlZ") == 448813401 * 4 == 1795253604


@pytest.mark.parametrize("t", [0, 1, 3, 4, 5, 1_000_000_007, 1795253602, 2**31 - 1])
def test_date_round_trip_rounds_up_to_four_seconds(t: int) -> None:
    decoded = decode_date(encode_date(t))
    assert decoded is None if t == 0 else decoded == (t + 3) // 4 * 4


def test_date_decoding_rejects_what_b64tos30_rejects() -> None:
    assert decode_date("AAAAB") == 4
    assert decode_date("AAAAA") is None  # zero is "no date"
    assert decode_date("AAAA") is None  # fewer than 5 characters
    assert decode_date("AAA=B") is None  # padding
    assert decode_date("AA-AB") is None  # URL-safe alphabet is not accepted
    assert decode_date("AAAABxyz") == 4  # only the first 5 characters count
    assert decode_date("/////") == (2**30 - 1) * 4


# --- observed exchanges (haproxy.md §1.2, syslog samples) -----------------------------------------


def test_ins_no_cookie_inserts_without_cache_control() -> None:
    # observed --NI; a plain 200 without validator is not cacheable: no cache-control
    ex = exchange(INS, served="s1")
    assert ex.flags == "NI"
    assert ex.added == [INS_A]
    assert ex.response[-1] == INS_A  # appended after the server's headers


def test_ins_no_cookie_with_last_modified_adds_cache_control_private() -> None:
    # observed --NI on s2 with lm=...: set-cookie then cache-control: private
    ex = exchange(INS, served="s2", headers=[("Last-Modified", "Mon, 01 Jan 2024 00:00:00 GMT")])
    assert ex.flags == "NI"
    assert ex.added == [INS_B, CC_PRIVATE]
    assert ex.response[-2:] == [INS_B, CC_PRIVATE]


def test_ins_valid_cookie_is_stripped_and_not_reinserted() -> None:
    ex = exchange(INS, ["SRV=b"])  # observed --VN
    assert ex.flags == "VN"
    assert ex.decision.server is not None and ex.decision.server.name == "s2"
    assert ex.decision.direct
    assert ex.forwarded == []  # the only cookie: the header goes
    assert ex.added == []


def test_ins_indirect_keeps_the_other_cookies() -> None:
    ex = exchange(INS, ["foo=1; SRV=b; bar=2"])  # observed
    assert ex.forwarded == ["foo=1; bar=2"]
    assert ex.flags == "VN"


def test_ins_invalid_cookie_is_stripped_and_reinserted() -> None:
    ex = exchange(INS, ["SRV=zz"], served="s1")  # observed --II
    assert ex.forwarded == []
    assert ex.decision.server is None and not ex.decision.direct
    assert ex.flags == "II"
    assert ex.added == [INS_A]


def test_ins_server_cookie_is_deleted_on_a_direct_request() -> None:
    # observed --VD: the origin's SRV=fromapp goes, other=1 stays, nothing is inserted
    ex = exchange(
        INS, ["SRV=a"], headers=[("Set-Cookie", "SRV=fromapp; Path=/"), ("Set-Cookie", "other=1")]
    )
    assert ex.flags == "VD"
    assert ex.added == [sc("other=1")]


def test_prefix_server_cookie_is_prefixed() -> None:
    ex = exchange(PFX, served="s1", headers=[("Set-Cookie", "JSESSIONID=abc123; Path=/")])
    assert ex.flags == "NR"  # observed
    assert ex.added == [sc("JSESSIONID=a~abc123; Path=/")]


def test_prefix_client_cookie_loses_the_server_part() -> None:
    ex = exchange(PFX, ["JSESSIONID=a~abc123"])
    assert ex.forwarded == ["JSESSIONID=abc123"]
    assert ex.flags == "VN"
    assert ex.decision.server is not None and ex.decision.server.name == "s1"


def test_prefix_unknown_server_is_invalid_and_forwarded_without_it() -> None:
    ex = exchange(PFX, ["JSESSIONID=zz~abc"], served="s2")
    assert ex.flags == "IN"  # observed --IN
    assert ex.forwarded == ["JSESSIONID=abc"]


def test_prefix_cookie_without_tilde_is_forwarded_untouched() -> None:
    assert exchange(PFX, ["JSESSIONID=xyz"]).forwarded == ["JSESSIONID=xyz"]  # observed
    # a whole value equal to a server's cookie still designates it (HAProxy 2.6.12)
    ex = exchange(PFX, ["JSESSIONID=a"])
    assert (ex.forwarded, ex.flags) == (["JSESSIONID=a"], "VN")


def test_rewrite_replaces_the_value_and_keeps_attributes() -> None:
    ex = exchange(RW, served="s1", headers=[("Set-Cookie", "SRV=whatever; Path=/")])
    assert ex.flags == "NR"  # observed
    assert ex.added == [sc("SRV=a; Path=/")]
    assert exchange(RW, served="s2").flags == "NN"  # observed
    ex = exchange(RW, ["SRV=b"])
    assert (ex.flags, ex.forwarded) == ("VN", ["SRV=b"])  # observed; rewrite never strips


def test_maxidle_maxlife_first_insertion_carries_both_dates() -> None:
    ex = exchange(IDLE, served="s1")  # observed --NI, set-cookie: SRV=a|awFlZ|awFlZ; path=/
    assert ex.flags == "NI"
    assert ex.added == [sc("SRV=a|awFlZ|awFlZ; path=/")]


def test_maxlife_old_dates_are_expired_and_reinserted() -> None:
    ex = exchange(IDLE, ["SRV=b|AAAAB|AAAAB"], served="s2")  # observed --OI
    assert ex.flags == "OI"
    assert ex.decision.server is None and ex.decision.last_date is None
    assert ex.added == [sc("SRV=b|awFlZ|awFlZ; path=/")]
    assert ex.forwarded == ["SRV=b|AAAAB|AAAAB"]  # no indirect: forwarded as is


def test_maxidle_cookie_without_date_is_updated() -> None:
    ex = exchange(IDLE, ["SRV=b"])  # observed --VU
    assert ex.flags == "VU"
    assert ex.added == [sc("SRV=b|awFlZ|awFlZ; path=/")]


def test_postonly() -> None:
    assert exchange(POST, served="s1").flags == "NN"  # observed: GET gets no cookie
    ex = exchange(POST, served="s2", method="POST")  # observed --NI
    assert ex.flags == "NI"
    assert ex.added == [sc("SRV=b; path=/")]


# --- redispatch and down servers (haproxy.md §1.4) ------------------------------------------------


def test_redispatch_turns_valid_into_down_and_inserts() -> None:
    # observed be_redisp --DI +2: SRV=a on a dead (but not checked, so up) server
    servers = ab()
    rules = CookiePersistenceRules(INS_IND, servers, persist=False)
    req = request(["SRV=a"])
    decision = rules.on_request(req, T_IDLE)
    assert rules.flags(decision) == "VN"
    assert decision.server is servers[0] and decision.direct
    rules.redispatched(decision, servers[1])
    resp = Response(200, b"OK", [])
    rules.on_response(decision, servers[1], req, resp, T_IDLE)
    assert rules.flags(decision) == "DI"
    assert resp.headers == [sc("SRV=b; path=/")]


def test_redispatch_is_recognised_without_being_told() -> None:
    servers = ab()
    rules = CookiePersistenceRules(INS_IND, servers, persist=False)
    req = request(["SRV=a"])
    decision = rules.on_request(req, T_IDLE)
    rules.on_response(decision, servers[1], req, Response(200, b"OK", []), T_IDLE)
    assert rules.flags(decision) == "DI"


def test_redispatch_back_to_the_same_server_keeps_v_but_inserts() -> None:
    # backend.c assign_server_and_queue: V becomes D only when the server changed
    servers = ab()
    rules = CookiePersistenceRules(INS_IND, servers, persist=False)
    req = request(["SRV=a"])
    decision = rules.on_request(req, T_IDLE)
    rules.redispatched(decision, servers[0])
    resp = Response(200, b"OK", [])
    rules.on_response(decision, servers[0], req, resp, T_IDLE)
    assert rules.flags(decision) == "VI"
    assert resp.headers == [sc("SRV=a; path=/")]


def test_server_down_by_check_balances_normally() -> None:
    ex = exchange(INS_IND, ["SRV=a"], servers=ab(a_up=False), served="s2")  # observed --DI
    assert ex.flags == "DI"
    assert ex.decision.server is None and not ex.decision.direct
    assert ex.forwarded == []
    assert ex.added == [sc("SRV=b; path=/")]


def test_option_persist_sends_to_the_down_server() -> None:
    servers = ab(a_up=False)
    ex = exchange(INS_IND, ["SRV=a"], servers=servers, persist=True)
    assert ex.decision.server is servers[0] and ex.decision.direct
    assert ex.flags == "DN"  # D even though it is used (TX_CK_DOWN)


def test_force_persist_is_like_option_persist() -> None:
    servers = ab(a_up=False)
    rules = CookiePersistenceRules(INS_IND, servers, persist=False)
    decision = rules.on_request(request(["SRV=a"]), T_IDLE, force_persist=True)
    assert decision.server is servers[0] and decision.client_flag == "D"


def test_persist_then_redispatch_logs_di() -> None:
    # observed be_persist --DI +1: the down server is tried, then the request goes to b
    servers = ab(a_up=False)
    rules = CookiePersistenceRules(INS_IND, servers, persist=True)
    req = request(["SRV=a"])
    decision = rules.on_request(req, T_IDLE)
    rules.redispatched(decision, servers[1])
    rules.on_response(decision, servers[1], req, Response(200, b"OK", []), T_IDLE)
    assert rules.flags(decision) == "DI"


def test_no_response_leaves_the_server_flag_n() -> None:
    # observed be_noredisp SCVN: HAProxy answered 503 itself, on_response is not called
    rules = CookiePersistenceRules(INS_IND, ab(), persist=False)
    assert rules.flags(rules.on_request(request(["SRV=a"]), T_IDLE)) == "VN"


def test_servers_sharing_a_value_first_operational_wins() -> None:
    servers = [Srv("s1", "a", False), Srv("s2", "a"), Srv("s3", "b")]
    ex = exchange(INS_IND, ["SRV=a"], servers=servers)
    assert ex.decision.server is servers[1]
    assert ex.flags == "VN"  # the down s1 set D, the up s2 then V (HAProxy 2.6.12)
    servers = [Srv("s1", "a"), Srv("s2", "a")]
    assert exchange(INS_IND, ["SRV=a"], servers=servers).decision.server is servers[0]
    servers = [Srv("s1", "a", False), Srv("s2", "a", False), Srv("s3", "b")]
    ex = exchange(INS_IND, ["SRV=a"], servers=servers, persist=True)
    assert ex.decision.server is servers[0]


def test_server_without_cookie_value_asks_for_removal() -> None:
    config = replace(INS_IND, domains=(".x.org",), httponly=True)
    ex = exchange(config, servers=[Srv("s1", None)])
    assert ex.added == [
        sc("SRV=; Expires=Thu, 01-Jan-1970 00:00:01 GMT; path=/; domain=.x.org; HttpOnly")
    ]
    assert ex.flags == "NI"
    # a client cookie naming nothing configured is invalid, stripped, and removed again
    ex = exchange(config, ["SRV=zz"], servers=[Srv("s1", None)])
    assert (ex.flags, ex.forwarded) == ("II", [])


def test_ignore_persist_and_use_server() -> None:
    rules = CookiePersistenceRules(INS_IND, ab(), persist=False)
    req = request(["x=1; SRV=a"])
    decision = rules.on_request(req, T_IDLE, ignore_persist=True)
    assert (decision.client_flag, decision.server, cookies_of(req)) == ("U", None, ["x=1"])
    resp = Response(200, b"OK", [sc("SRV=app")])
    rules.on_response(decision, ab()[1], req, resp, T_IDLE)
    assert resp.headers == [sc("SRV=app")] and rules.flags(decision) == "UN"
    # use-server already chose: U, and the request counts as direct (no insertion)
    servers = ab()
    rules = CookiePersistenceRules(INS_IND, servers, persist=False)
    req = request(["SRV=a"])
    decision = rules.on_request(req, T_IDLE, assigned=True)
    assert (decision.client_flag, decision.server, decision.direct) == ("U", None, True)
    resp = Response(200, b"OK", [])
    rules.on_response(decision, servers[1], req, resp, T_IDLE)
    assert resp.headers == [] and rules.flags(decision) == "UN"


# --- emitted Set-Cookie ---------------------------------------------------------------------------


def test_attribute_order_with_multiple_domains_and_attrs() -> None:
    config = CookiePersistence(
        "SRV",
        CookieMode.INSERT,
        indirect=True,
        httponly=True,
        secure=True,
        domains=(".example.com", ".b.org"),
        attrs=("SameSite=Lax", "Partitioned"),
        maxidle=60,
    )
    ex = exchange(config, served="s2")
    assert ex.added == [
        sc(
            "SRV=b|awFlZ; path=/; domain=.example.com; domain=.b.org; HttpOnly; Secure; "
            "SameSite=Lax; Partitioned"
        )
    ]


def test_header_names_are_lowercase_and_appended_last() -> None:
    ex = exchange(INS, served="s1", headers=[("ETag", '"e"'), ("X-After", "1")])
    assert [k for k, _ in ex.response] == [
        b"content-type",
        b"etag",
        b"x-after",
        b"set-cookie",
        b"cache-control",
    ]


# --- nocache: HAProxy 2.6.12's TX_CACHEABLE -------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "status", "headers", "private"),
    [
        ("GET", 200, [], False),  # observed: no validator, no freshness
        ("GET", 200, [("Last-Modified", "x")], True),  # observed
        ("GET", 200, [("ETag", '"e"')], True),
        ("GET", 200, [("Expires", "0")], True),
        ("GET", 200, [("Cache-Control", "max-age=60")], True),
        ("GET", 200, [("Cache-Control", "s-maxage=5")], True),
        ("GET", 200, [("Cache-Control", "max-age=0")], False),
        ("GET", 200, [("Cache-Control", "max-age=0, s-maxage=10")], False),  # fixed after 2.6.12
        ("GET", 200, [("Cache-Control", "private, max-age=60")], False),
        ("GET", 200, [("Cache-Control", "PRIVATE"), ("Cache-Control", "s-maxage=5")], False),
        ("GET", 200, [("Cache-Control", 'no-cache="set-cookie"'), ("ETag", "e")], True),
        ("GET", 200, [("Cache-Control", 'private="x"'), ("ETag", "e")], True),
        ("GET", 200, [("ETag", "e"), ("Pragma", "no-cache")], False),
        ("GET", 200, [("ETag", "e"), ("Pragma", "no-cache, x")], True),  # whole value compared
        ("HEAD", 200, [("ETag", "e")], True),
        ("OPTIONS", 200, [("ETag", "e")], True),
        ("DELETE", 200, [("ETag", "e")], False),
        ("POST", 200, [("ETag", "e")], False),
        ("POST", 200, [("Cache-Control", "public, max-age=60")], True),  # public sets it back
        ("POST", 200, [("Cache-Control", "public")], False),  # but freshness is still needed
        ("DELETE", 200, [("ETag", "e"), ("Cache-Control", "public")], True),
        ("GET", 302, [("ETag", "e")], False),
        ("GET", 302, [("Cache-Control", "public"), ("ETag", "e")], True),
        ("GET", 404, [("ETag", "e")], True),
        ("GET", 501, [("ETag", "e")], True),
        ("GET", 500, [("ETag", "e")], False),
    ],
)
def test_nocache_cacheability(
    method: str, status: int, headers: list[tuple[str, str]], private: bool
) -> None:
    ex = exchange(INS, served="s1", method=method, status=status, headers=headers)
    appended = ex.response[1 + len(headers) :]
    assert appended == ([INS_A, CC_PRIVATE] if private else [INS_A])


def test_nocache_needs_an_insertion() -> None:
    ex = exchange(INS, ["SRV=a"], headers=[("ETag", "e")])
    assert ex.added == []


def test_interim_responses_are_left_alone() -> None:
    ex = exchange(INS, served="s1", status=100, headers=[("Set-Cookie", "SRV=x")])
    assert ex.added == [sc("SRV=x")] and ex.flags == "NN"


# --- expiry ---------------------------------------------------------------------------------------

L = 1795253600  # a multiple of 4: decode_date(encode_date(L)) == L
MAXIDLE = CookiePersistence("SRV", CookieMode.INSERT, indirect=True, maxidle=1800)
MAXLIFE = CookiePersistence("SRV", CookieMode.INSERT, indirect=True, maxlife=3600)


@pytest.mark.parametrize(
    ("now", "flag"),
    [
        (L + 1800, "V"),  # exactly maxidle: still valid ((signed)(now - last) > maxidle)
        (L + 1800.99, "V"),  # whole seconds
        (L + 1801, "E"),
        (L - 86400, "V"),  # a day ahead is tolerated
        (L - 86401, "E"),  # beyond a day in the future: expired
    ],
)
def test_maxidle_boundaries(now: float, flag: str) -> None:
    rules = CookiePersistenceRules(MAXIDLE, ab(), persist=False)
    req = request([f"x=1; SRV=a|{encode_date(L)}"])
    decision = rules.on_request(req, now)
    assert decision.client_flag == flag
    assert cookies_of(req) == ["x=1"]  # stripped either way
    assert (decision.server is not None) == (flag == "V")


@pytest.mark.parametrize(
    ("now", "flag"),
    [(L + 3600, "V"), (L + 3601, "O"), (L - 86400, "V"), (L - 86401, "O")],
)
def test_maxlife_boundaries(now: int, flag: str) -> None:
    rules = CookiePersistenceRules(MAXLIFE, ab(), persist=False)
    decision = rules.on_request(request([f"SRV=a|{encode_date(now)}|{encode_date(L)}"]), now)
    assert decision.client_flag == flag


def test_maxlife_is_checked_before_maxidle() -> None:
    config = replace(MAXIDLE, maxlife=3600)
    rules = CookiePersistenceRules(config, ab(), persist=False)
    old = encode_date(L)
    decision = rules.on_request(request([f"SRV=a|{old}|{old}"]), L + 5000)
    assert decision.client_flag == "O"


def test_dates_are_ignored_without_maxidle_or_maxlife() -> None:
    rules = CookiePersistenceRules(INS_IND, ab(), persist=False)
    decision = rules.on_request(request([f"SRV=a|{encode_date(L)}"]), L + 10**6)
    assert decision.client_flag == "V" and decision.last_date == L


@pytest.mark.parametrize(
    ("config", "cookie", "now", "added", "flag"),
    [
        # maxidle: refreshed once the stored date (rounded up to 4 s) is in the past
        (MAXIDLE, f"SRV=a|{encode_date(L)}", L, [], "VN"),
        (MAXIDLE, f"SRV=a|{encode_date(L)}", L + 1, ["SRV=a|awFlZ; path=/"], "VU"),
        # maxlife: first date kept, last date refreshed
        (MAXLIFE, f"SRV=a|{encode_date(L)}|{encode_date(L - 100)}", L, [], "VN"),
        (MAXLIFE, "SRV=a", L, ["SRV=a|awFlY|awFlY; path=/"], "VU"),
        (MAXLIFE, f"SRV=a|{encode_date(L + 8)}|AAAAB", L + 8, ["SRV=a|awFla|awFla; path=/"], "OI"),
        # a first date without maxlife is dropped; a past last date without maxidle refreshed
        (INS_IND, f"SRV=a|{encode_date(L)}|{encode_date(L)}", L, ["SRV=a; path=/"], "VU"),
        (INS_IND, f"SRV=a|{encode_date(L)}", L + 1, ["SRV=a; path=/"], "VU"),
        (INS_IND, f"SRV=a|{encode_date(L)}", L, [], "VN"),
    ],
)
def test_date_refresh_conditions(
    config: CookiePersistence, cookie: str, now: float, added: list[str], flag: str
) -> None:
    ex = exchange(config, [cookie], now=now, served="s1")
    assert [v.decode() for _, v in ex.added] == added
    assert ex.flags == flag


def test_malformed_dates() -> None:
    rules = CookiePersistenceRules(IDLE, ab(), persist=False)
    for value in ("SRV=a|", "SRV=a||", "SRV=a|!!!!!|!!!!!", "SRV=a|AAAA"):
        decision = rules.on_request(request([value]), T_IDLE)
        assert (decision.client_flag, decision.last_date, decision.first_date) == ("V", None, None)


# --- preserve, passive, indirect without insert ---------------------------------------------------


def test_preserve_keeps_the_server_cookie_and_skips_insertion() -> None:
    config = replace(INS_IND, preserve=True)
    ex = exchange(config, served="s1", headers=[("Set-Cookie", "SRV=fromapp; Path=/")])
    assert ex.added == [sc("SRV=fromapp; Path=/")] and ex.flags == "NP"
    ex = exchange(config, served="s1")
    assert ex.added == [sc("SRV=a; path=/")] and ex.flags == "NI"


def test_insert_without_indirect_deletes_the_server_cookie_and_forwards_the_client_one() -> None:
    config = CookiePersistence("SRV", CookieMode.INSERT)
    ex = exchange(config, ["x=1; SRV=a"], headers=[("Set-Cookie", "SRV=fromapp; Path=/")])
    assert ex.forwarded == ["x=1; SRV=a"]
    assert ex.added == [] and ex.flags == "VD"


def test_passive_mode_logs_dashes_but_persists() -> None:
    ex = exchange(PASSIVE, ["SRV=b"], headers=[("Set-Cookie", "SRV=x")])
    assert ex.decision.server is not None and ex.decision.server.name == "s2"
    assert ex.flags == "--"  # src/log.c: only under PR_CK_ANY
    assert ex.forwarded == ["SRV=b"] and ex.added == [sc("SRV=x")]
    ex = exchange(replace(PASSIVE, indirect=True), ["SRV=b"], headers=[("Set-Cookie", "SRV=x")])
    assert ex.flags == "VD"  # indirect on a direct request deletes the server's cookie
    assert ex.forwarded == ["SRV=b"]  # but strips the client's only in insert mode


def test_prefix_indirect() -> None:
    config = replace(PFX, indirect=True)
    ex = exchange(config, ["JSESSIONID=a~abc"], headers=[("Set-Cookie", "JSESSIONID=new")])
    assert (ex.forwarded, ex.added, ex.flags) == (["JSESSIONID=abc"], [], "VD")
    ex = exchange(config, served="s1", headers=[("Set-Cookie", "JSESSIONID=new")])
    assert (ex.added, ex.flags) == ([sc("JSESSIONID=a~new")], "NR")


# --- request parsing corners, as HAProxy 2.6.12 did them ------------------------------------------

HAPROXY_2_6_12: list[tuple[CookiePersistence, list[str], list[str], str, str | None]] = [
    # (config, Cookie headers sent, Cookie headers forwarded, flags, server chosen or None)
    (INS, ['x="a;b"; SRV=a; y="c,d"'], ['x="a;b"; y="c,d"'], "VN", "s1"),
    (INS, ["$Version=1; SRV=a; $Path=/; x=1"], ["$Version=1; x=1"], "VN", "s1"),
    (INS, ["x=1; SRV=a; $Path=/"], ["x=1"], "VN", "s1"),
    (INS, ["a = 1; SRV = b ; c= 3"], ["a=1; c=3"], "VN", "s2"),
    (INS, ["x=1; SRV=a;"], ["x=1; "], "VN", "s1"),
    (INS, ["x=1; SRV=a; "], ["x=1; "], "VN", "s1"),
    (INS, ["SRV=a;"], [], "VN", "s1"),
    (INS, ["x=1, SRV=a, y=2"], ["x=1, y=2"], "VN", "s1"),
    (INS, ["a=1;SRV=b;c=2"], ["a=1; c=2"], "VN", "s2"),
    (INS, ["a=1 ; SRV=b ; c=2"], ["a=1; c=2"], "VN", "s2"),
    (INS, ["noeq; SRV=a; other"], ["noeq; other"], "VN", "s1"),
    (INS, ["SRV=a; SRV=b"], [], "VN", "s1"),  # the first valid one wins, V stays
    (INS, ["SRV=zz; SRV=b"], [], "VN", "s2"),
    (INS, ["SRV=b; SRV=zz; x=1"], ["x=1"], "VN", "s2"),
    (INS, ["x=1", "SRV=a", "y=2; SRV=a"], ["x=1", "y=2"], "VN", "s1"),
    (INS, ["SRV="], [], "II", None),
    (INS, ["srv=a; SRVX=b; SRV=a"], ["srv=a; SRVX=b"], "VN", "s1"),
    (INS, ['e=; f==; g=a=b; SRV=b; h=$x; i="a b"'], ['e=; f==; g=a=b; h=$x; i="a b"'], "VN", "s2"),
    # an unbalanced quote opens a quoted string that runs to the end: SRV is not seen
    (INS, ['x=a"b; SRV=a'], ['x=a"b; SRV=a'], "NI", None),
    (PFX, ["x=1; JSESSIONID=a~p~q; y=2"], ["x=1; JSESSIONID=p~q; y=2"], "VN", "s1"),
    (PFX, ["JSESSIONID=~abc"], ["JSESSIONID=abc"], "IN", None),
    (PASSIVE, ["a = 1; SRV=b"], ["a=1; SRV=b"], "--", "s2"),  # blanks around '=' go anyway
]


@pytest.mark.parametrize(("config", "sent", "forwarded", "flags", "chosen"), HAPROXY_2_6_12)
def test_request_vectors_from_haproxy_2_6_12(
    config: CookiePersistence, sent: list[str], forwarded: list[str], flags: str, chosen: str | None
) -> None:
    ex = exchange(config, sent, served="s1" if chosen is None else chosen)
    assert ex.forwarded == forwarded
    assert ex.flags == flags
    assert (ex.decision.server.name if ex.decision.server else None) == chosen


def test_other_headers_keep_their_place() -> None:
    rules = CookiePersistenceRules(INS_IND, ab(), persist=False)
    req = request(["a=1; SRV=a", "SRV=a"])
    rules.on_request(req, T_IDLE)
    assert req.headers == [(b"host", b"h"), (b"cookie", b"a=1"), (b"user-agent", b"t")]


HAPROXY_2_6_12_RESPONSES: list[
    tuple[CookiePersistence, list[str], list[tuple[str, str]], Headers, str]
] = [
    # (config, Cookie sent, Set-Cookie* from the server, headers out, flags), served by s1/s2
    (RW, [], [("Set-Cookie", "SRV=; Path=/")], [sc("SRV=a; Path=/")], "NR"),
    (RW, [], [("Set-Cookie", 'SRV="q;x"; Path=/')], [sc("SRV=a; Path=/")], "NR"),
    (
        RW,
        [],
        [("Set-Cookie", "SRV=1"), ("Set-Cookie", "SRV=2, SRV=3")],
        [sc("SRV=a"), sc("SRV=a, SRV=3")],
        "NR",
    ),
    (
        CookiePersistence("SRV", CookieMode.INSERT, nocache=True),
        [],
        [("Set-Cookie", " SRV = fromapp ; Path=/")],
        [sc("SRV=a; path=/")],
        "NI",
    ),
    (
        INS_IND,
        [],
        [("Set-Cookie", "x = 1 ; Path=/")],
        [sc("x=1 ; Path=/"), sc("SRV=a; path=/")],
        "NI",
    ),
    (INS_IND, [], [("Set-Cookie", "; SRV=1")], [sc("; SRV=1"), sc("SRV=a; path=/")], "NI"),
    # Set-Cookie2: HAProxy 2.6 deletes a cookie inside it without shortening the header
    (
        INS_IND,
        [],
        [("Set-Cookie2", "a=1, SRV=2; Version=1, b=3")],
        [(b"set-cookie2", b"a=1, b=3=2; Version=1, b=3"), sc("SRV=a; path=/")],
        "NI",
    ),
    (
        INS_IND,
        [],
        [("Set-Cookie2", "SRV=2, SRV=3, b=3")],
        [(b"set-cookie2", b"SRV=3, b=3=3, b=3"), sc("SRV=a; path=/")],
        "NI",
    ),
    (
        RW,
        [],
        [("Set-Cookie2", "a=1, SRV=2; Version=1, SRV=4")],
        [(b"set-cookie2", b"a=1, SRV=a; Version=1, SRV=a")],
        "NR",
    ),
    (
        RW,
        [],
        [("Set-Cookie2", "a = 1, SRV = 2 , b=3")],
        [(b"set-cookie2", b"a=1, SRV=a , b=3")],
        "NR",
    ),
    # a later blank-stripping in the same header sets its length right again
    (
        INS_IND,
        [],
        [("Set-Cookie2", "a=1, SRV = 2 , b = 3")],
        [(b"set-cookie2", b"a=1, b=3"), sc("SRV=a; path=/")],
        "NI",
    ),
]


@pytest.mark.parametrize(("config", "sent", "headers", "out", "flags"), HAPROXY_2_6_12_RESPONSES)
def test_response_vectors_from_haproxy_2_6_12(
    config: CookiePersistence,
    sent: list[str],
    headers: list[tuple[str, str]],
    out: Headers,
    flags: str,
) -> None:
    ex = exchange(config, sent, served="s1", headers=headers)
    assert ex.added == out
    assert ex.flags == flags


# --- properties -----------------------------------------------------------------------------------

# Cookie names: anything but the delimiters and blanks (``"`` and ``$`` included), not NAME.
_NAME_CHARS = st.sampled_from(list("abcXYZ019!#%&'*+-.^_`|~$\"()<>@[]{}?/:"))
_names = st.text(_NAME_CHARS, min_size=1, max_size=8).filter(
    lambda n: n != "SRV" and not n.startswith("$")
)
_PLAIN = list("abcXYZ019!#%&'*+-./:<>=?@[]^_`{|}~$()")
_plain = st.text(st.sampled_from([*_PLAIN, " "]), max_size=8).map(lambda s: s.strip(" "))
# quoted strings may hold the delimiters; quotes stay balanced (an unbalanced one hides what
# follows, see HAPROXY_2_6_12)
_quoted = st.text(st.sampled_from([*_PLAIN, " ", ";", ","]), max_size=8).map(lambda s: f'"{s}"')
_values = st.one_of(_plain, _quoted, st.just(""))
_cookies = st.builds(lambda n, v: f"{n}={v}", _names, _values)
_others = st.lists(st.one_of(_cookies, _names), max_size=6)  # bare names: no '='


def _split(value: str) -> list[str]:
    """The cookies of a header: split at ';' and ',' outside a value's quoted strings."""
    out: list[str] = []
    cur, quoted, in_value = "", False, False
    for c in value:
        if c == '"' and in_value:
            quoted = not quoted
        if c in ";," and not quoted:
            out.append(cur.strip(" \t"))
            cur, in_value = "", False
            continue
        in_value = in_value or c == "="
        cur += c
    out.append(cur.strip(" \t"))
    return out


@settings(max_examples=300, deadline=None)
@given(
    others=_others,
    pos=st.integers(min_value=0),
    seps=st.lists(st.sampled_from(["; ", ";", ";  ", " ; ", ", ", ";\t"]), min_size=8),
    mode=st.sampled_from(["insert", "passive", "rewrite", "prefix", "dollar"]),
)
def test_property_persistence_cookie_found_wherever_it_stands(
    others: list[str], pos: int, seps: list[str], mode: str
) -> None:
    """Seed 004's HAProxy < 1.3.23 "weird bug" (the cookie missed after cookies with special
    characters) must never happen."""
    config = {
        "insert": INS_IND,
        "passive": PASSIVE,
        "rewrite": RW,
        "prefix": replace(PFX, name="SRV"),
        "dollar": INS_IND,
    }[mode]
    ours = "SRV=b~opaque" if mode == "prefix" else "SRV=b"
    items = list(others)
    if mode == "dollar":
        items = [f"${o}" if i % 2 else o for i, o in enumerate(items)]
    items.insert(pos % (len(items) + 1), ours)
    value = "".join(
        item + (seps[i % len(seps)] if i < len(items) - 1 else "") for i, item in enumerate(items)
    )
    servers = ab()
    rules = CookiePersistenceRules(config, servers, persist=False)
    decision = rules.on_request(request([value]), T_IDLE)
    assert decision.server is servers[1]
    assert decision.direct
    assert decision.client_flag == ("-" if mode == "passive" else "V")


@settings(max_examples=300, deadline=None)
@given(
    headers=st.lists(
        st.tuples(_others, st.integers(min_value=0), st.integers(min_value=0, max_value=2)),
        min_size=1,
        max_size=3,
    ),
    value=st.sampled_from(["b", "a", "zz", "", "b|AAAAB"]),
)
def test_property_indirect_strips_only_the_persistence_cookie(
    headers: list[tuple[list[str], int, int]], value: str
) -> None:
    """With canonical "; " separators the others come out byte for byte, in order; a header
    left empty is dropped."""
    sent, expected = [], []
    for others, pos, count in headers:
        items = list(others)
        for _ in range(count):
            items.insert(pos % (len(items) + 1), f"SRV={value}")
        if not items:
            continue
        sent.append("; ".join(items))
        if others:
            expected.append("; ".join(others))
    rules = CookiePersistenceRules(INS_IND, ab(), persist=False)
    req = request(sent)
    rules.on_request(req, T_IDLE)
    assert cookies_of(req) == expected


@settings(max_examples=300, deadline=None)
@given(
    others=_others,
    pos=st.integers(min_value=0),
    seps=st.lists(st.sampled_from(["; ", ";", ";  ", " ; ", ";\t"]), min_size=8),
)
def test_property_indirect_keeps_other_cookies_whatever_the_separators(
    others: list[str], pos: int, seps: list[str]
) -> None:
    items = list(others)
    items.insert(pos % (len(items) + 1), "SRV=a")
    value = "".join(
        item + (seps[i % len(seps)] if i < len(items) - 1 else "") for i, item in enumerate(items)
    )
    rules = CookiePersistenceRules(INS_IND, ab(), persist=False)
    req = request([value])
    rules.on_request(req, T_IDLE)
    forwarded = cookies_of(req)
    if not others:
        assert forwarded == []
        return
    (out,) = forwarded
    kept = [c for c in _split(out) if c]  # a trailing delimiter may stay ("x=1; ")
    assert kept == others
    assert out.startswith(others[0])


@settings(max_examples=200, deadline=None)
@given(others=_others, value=_values)
def test_property_passive_and_rewrite_forward_cookies_untouched(
    others: list[str], value: str
) -> None:
    """Modes that never strip forward the header as sent when nothing has blanks around '='."""
    header = "; ".join([*others, f"SRV={value}"])
    for config in (PASSIVE, RW, replace(INS_IND, indirect=False)):
        req = request([header])
        CookiePersistenceRules(config, ab(), persist=False).on_request(req, T_IDLE)
        assert cookies_of(req) == [header]


def test_protocol_is_satisfied_by_a_plain_object() -> None:
    server: CookieServer = Srv("s1", "a")
    assert server.usable()
