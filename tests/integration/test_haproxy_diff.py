"""Differential tests: stack's balancer tier against the real HAProxy 2.6 on loopback.

Each scenario is one backend description (haproxy_run.Backend) rendered both as haproxy.cfg
and as stack's INI. HAProxy (``/usr/sbin/haproxy -db``) and ``twistd -n stack`` run at the same
time, each in front of its own set of recording origins (origin.py) with the same names, and get
the same requests, interleaved (request i to HAProxy, then to stack), each client keeping the
cookies it was given and replaying them. Compared per request: the status line, the response
headers (Date dropped, names lower-cased, order and values kept), the body (the origin's JSON
echo of the request it saw: which server answered, method, target, headers) and, for
redispatch, the time taken. Also compared: everything each origin received and the health-check
requests. Cookie dates (``maxidle``/``maxlife``) are decoded and compared within 4 s (their
resolution) instead of byte for byte. ``test_httplog_matches`` compares the httplog lines of the
same run (server, status, the cookie flags of the termination state, retries).

Any other difference is a finding: these tests assert equality and are not weakened when stack
differs.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

import pytest
from conftest import require_system
from haproxy_run import (
    HAPROXY,
    Backend,
    Proc,
    Server,
    encode_date,
    exchange,
    free_port,
    log_entries,
    normalise_record,
    normalise_response,
    start_haproxy,
    start_stack,
)
from origin import Origin

pytestmark = [pytest.mark.integration, pytest.mark.needs_system]

KINDS = ("haproxy", "stack")
LM = {"Last-Modified": "Wed, 21 Oct 2015 07:28:00 GMT"}


class CheckedOrigin(Origin):
    """A recording origin whose ``/health`` answers 503 while ``healthy`` is False."""

    def __init__(self, name: str, healthy: bool = True) -> None:
        self.healthy = healthy
        super().__init__(name)

    def _respond(self, conn, method, target, record, hmap) -> bool:
        if target.startswith("/health") and not self.healthy:
            target = "/health?status=503"
        return super()._respond(conn, method, target, record, hmap)


def q(path: str = "/", **params: object) -> str:
    """``q("/x", status=404, hdrs={...})``: a target asking the origin for that answer."""
    if not params:
        return path
    return (
        path + "?" + urlencode({k: json.dumps(v) if k == "hdrs" else v for k, v in params.items()})
    )


Value = str | Callable[[dict[str, str]], str]


def jar(name: str, before: str = "", after: str = "") -> Callable[[dict[str, str]], str]:
    """A Cookie header value replaying what this client was given for ``name``."""
    return lambda j: f"{before}{name}={j.get(name, '')}{after}"


def dated(server: str, last: int | None, first: int | None = None) -> Callable[[dict], str]:
    """``SRV=A|LAST[|FIRST]`` with dates relative to now (seconds), encoded as HAProxy does."""

    def make(_j: dict) -> str:
        now = int(time.time())
        v = f"SRV={server}"
        if last is not None:
            v += "|" + encode_date(now + last)
        if first is not None:
            v += "|" + encode_date(now + first)
        return v

    return make


@dataclass
class Req:
    method: str
    target: str
    headers: list[tuple[str, Value]] = field(default_factory=list)
    body: bytes = b""
    before: Callable[[Run], None] | None = None


@dataclass
class Scenario:
    backend: Backend
    requests: list[Req]
    origins: tuple[str, ...] = ("s1", "s2")
    sick: tuple[str, ...] = ()  # origins whose /health answers 503 from the start
    wait_down: tuple[str, ...] = ()  # servers both proxies must mark DOWN before the requests
    timing: bool = False  # compare the time each answer took (retries, redispatch)


# ---------------------------------------------------------------------------------------------
# The scenarios


def two(lines: list[str], a: str = "cookie A", b: str = "cookie B") -> Backend:
    return Backend(lines, [Server("s1", "s1", a), Server("s2", "s2", b)])


def sleep_into_date_window(_run: Run) -> None:
    """Wait until the second is 1 mod 4: a date written now stays current for 2-3 s."""
    while int(time.time()) % 4 != 1:
        time.sleep(0.05)


def sleep_past_date(_run: Run) -> None:
    """Wait until a date written in the current window has expired (a refresh is due)."""
    now = int(time.time())
    due = ((now + 3) >> 2 << 2) + 1
    while time.time() < due + 0.05:
        time.sleep(0.05)


def mark(server: str, healthy: bool, event: str) -> Callable[[Run], None]:
    def hook(run: Run) -> None:
        since = run.offsets()
        for origin in run.origins.values():
            origin[server].healthy = healthy
        run.wait_log(f"Server be/{server} is {event}", since)

    return hook


SCENARIOS: dict[str, Scenario] = {
    "insert_indirect_nocache": Scenario(
        two(["balance roundrobin", "cookie SRV insert indirect nocache"]),
        [
            Req("GET", "/first"),
            Req("GET", q("/lm", hdrs=LM)),
            Req("GET", q("/maxage", hdrs={"Cache-Control": "max-age=60"})),
            Req("GET", q("/etag", hdrs={"ETag": '"v1"'})),
            Req("GET", q("/expires", hdrs={"Expires": "Thu, 01 Dec 2094 16:00:00 GMT"})),
            Req("GET", q("/smaxage", hdrs={"Cache-Control": "public, s-maxage=30"})),
            Req("GET", q("/nostore", hdrs={"Cache-Control": "no-store", **LM})),
            Req("GET", q("/private", hdrs={"Cache-Control": "private", **LM})),
            Req("GET", q("/nocache", hdrs={"Cache-Control": "no-cache", **LM})),
            Req("GET", q("/maxage0", hdrs={"Cache-Control": "max-age=0"})),
            Req("GET", q("/smaxage0", hdrs={"Cache-Control": "s-maxage=0", **LM})),
            Req("GET", q("/pragma", hdrs={"Pragma": "no-cache", **LM})),
            Req("GET", q("/vary", hdrs={"Vary": "User-Agent", **LM})),
            Req("GET", q("/404", status=404, hdrs=LM)),
            Req("GET", q("/500", status=500, hdrs=LM)),
            Req("GET", q("/302", status=302, hdrs=LM)),
            Req("HEAD", q("/head", hdrs=LM)),
            Req("OPTIONS", q("/options", hdrs=LM)),
            Req("POST", q("/post", hdrs=LM), [("Content-Type", "text/plain")], b"hello"),
            Req("GET", q("/req-pragma", hdrs=LM), [("Pragma", "no-cache")]),
            Req("GET", q("/req-cc", hdrs=LM), [("Cache-Control", "no-cache")]),
            Req("GET", q("/req-auth", hdrs=LM), [("Authorization", "Basic eDp5")]),
            # Replaying the cookie: direct, stripped from what the origin sees.
            Req("GET", "/around", [("Cookie", jar("SRV", "foo=1; ", "; bar=2"))]),
            Req("GET", "/alone", [("Cookie", jar("SRV"))]),
            Req("GET", "/first-of-two", [("Cookie", jar("SRV", "", "; z=9"))]),
            Req("GET", "/last-of-two", [("Cookie", jar("SRV", "a=1; "))]),
            Req("GET", "/tight", [("Cookie", jar("SRV", "a=1;", ";b=2"))]),
            Req("GET", "/two-headers", [("Cookie", "a=1"), ("Cookie", jar("SRV"))]),
            Req("GET", q("/direct-lm", hdrs=LM), [("Cookie", jar("SRV"))]),
            Req(
                "GET",
                q("/app-sets-srv", hdrs={"Set-Cookie": "SRV=fromapp; Path=/"}),
                [("Cookie", jar("SRV"))],
            ),
            Req("GET", q("/app-sets-srv-nocookie", hdrs={"Set-Cookie": "SRV=fromapp; Path=/"})),
            Req("GET", q("/app-sets-other", hdrs={"Set-Cookie": "other=1; Path=/"})),
            # Invalid, empty, duplicated and look-alike persistence cookies.
            Req("GET", "/invalid", [("Cookie", "foo=1; SRV=zz; bar=2")]),
            Req("GET", "/empty", [("Cookie", "SRV=")]),
            Req("GET", "/dup", [("Cookie", "SRV=B; SRV=A")]),
            Req("GET", "/case", [("Cookie", "srv=A")]),
            Req("GET", "/quoted", [("Cookie", 'SRV="A"')]),
            Req("GET", "/spaces", [("Cookie", "a=1 ;  SRV=A  ; b=2")]),
        ],
    ),
    "insert_postonly": Scenario(
        two(["balance roundrobin", "cookie SRV insert postonly"]),
        [
            Req("GET", "/get"),
            Req("GET", q("/get-lm", hdrs=LM)),
            Req("POST", "/post", [("Content-Type", "text/plain")], b"data"),
            Req("GET", "/replay", [("Cookie", jar("SRV", "x=1; "))]),
            Req("POST", "/replay-post", [("Cookie", jar("SRV"))], b"d"),
            Req("POST", "/invalid-post", [("Cookie", "SRV=nope")], b"d"),
            Req(
                "POST",
                "/length-first",
                [("Content-Length", "4"), ("X-After", "1"), ("Cookie", jar("SRV"))],
                b"abcd",
            ),
            Req("GET", "/invalid-get", [("Cookie", "SRV=nope")]),
            Req("GET", q("/app-sets", hdrs={"Set-Cookie": "SRV=app; Path=/"})),
        ],
    ),
    "insert_preserve": Scenario(
        two(["balance roundrobin", "cookie SRV insert indirect nocache preserve"]),
        [
            Req("GET", "/plain"),
            Req("GET", q("/app-sets", hdrs={"Set-Cookie": "SRV=app1; Path=/", **LM})),
            Req("GET", "/replay-app", [("Cookie", jar("SRV"))]),
            Req("GET", "/valid", [("Cookie", "SRV=B")]),
            Req(
                "GET",
                q("/valid-app-sets", hdrs={"Set-Cookie": "SRV=app2; Path=/"}),
                [("Cookie", "SRV=A")],
            ),
            Req(
                "GET",
                q("/logout", hdrs={"Set-Cookie": "SRV=; Expires=Thu, 01 Jan 1970 00:00:01 GMT"}),
                [("Cookie", "SRV=B; k=v")],
            ),
        ],
    ),
    "insert_attributes": Scenario(
        Backend(
            [
                "balance roundrobin",
                "cookie SRV insert indirect nocache httponly secure domain .a.example "
                "domain .b.example attr SameSite=Lax",
            ],
            [Server("s1", "s1", "cookie A"), Server("s2", "s2", "")],
        ),
        [
            Req("GET", q("/one", hdrs=LM)),
            Req("GET", q("/no-cookie-value", hdrs=LM)),
            Req("GET", "/replay", [("Cookie", "SRV=A")]),
            Req("GET", "/empty", [("Cookie", "SRV=")]),
        ],
    ),
    "prefix": Scenario(
        two(["balance roundrobin", "cookie JSESSIONID prefix"]),
        [
            Req("GET", q("/login", hdrs={"Set-Cookie": "JSESSIONID=abc123; Path=/"})),
            Req("GET", "/again", [("Cookie", jar("JSESSIONID"))]),
            Req("GET", "/around", [("Cookie", jar("JSESSIONID", "o=1; ", "; x=2"))]),
            Req(
                "GET",
                q("/renew", hdrs={"Set-Cookie": "JSESSIONID=def456; Path=/; HttpOnly"}),
                [("Cookie", jar("JSESSIONID"))],
            ),
            Req("GET", "/after-renew", [("Cookie", jar("JSESSIONID"))]),
            Req("GET", "/plain", [("Cookie", "JSESSIONID=plainvalue")]),
            Req("GET", "/unknown", [("Cookie", "JSESSIONID=Z~zzz")]),
            Req("GET", "/other-server", [("Cookie", "JSESSIONID=B~bbb")]),
            Req("GET", "/empty-opaque", [("Cookie", "JSESSIONID=A~")]),
            Req("GET", q("/s2-login", hdrs={"Set-Cookie": "JSESSIONID=s2sess"})),
            Req("GET", q("/other-cookie", hdrs={"Set-Cookie": "PHPSESSID=x; Path=/"})),
        ],
    ),
    "rewrite": Scenario(
        two(["balance roundrobin", "cookie SRV rewrite"]),
        [
            Req("GET", q("/login", hdrs={"Set-Cookie": "SRV=whatever; Path=/"})),
            Req("GET", "/again", [("Cookie", jar("SRV", "", "; k=v"))]),
            Req("GET", "/no-set-cookie", [("Cookie", "SRV=B")]),
            Req(
                "GET",
                q("/direct-sets", hdrs={"Set-Cookie": "SRV=x; Path=/; Secure"}),
                [("Cookie", "SRV=B")],
            ),
            Req(
                "GET",
                q("/invalid-sets", hdrs={"Set-Cookie": "SRV=y; Path=/"}),
                [("Cookie", "SRV=Q")],
            ),
            Req("GET", "/plain"),
        ],
    ),
    "maxidle_maxlife": Scenario(
        two(["balance roundrobin", "cookie SRV insert indirect nocache maxidle 30m maxlife 8h"]),
        [
            Req("GET", "/first", before=sleep_into_date_window),
            Req("GET", "/same-window", [("Cookie", jar("SRV"))]),
            Req("GET", "/no-date", [("Cookie", "SRV=A")]),
            Req("GET", "/last-only", [("Cookie", dated("A", 0))]),
            Req("GET", "/idle-expired", [("Cookie", dated("A", -3600, -3700))]),
            Req("GET", "/life-expired", [("Cookie", dated("A", 0, -9 * 3600))]),
            Req("GET", "/ancient", [("Cookie", "SRV=A|AAAAB")]),
            Req("GET", "/future", [("Cookie", dated("A", 2 * 86400, 0))]),
            Req("GET", "/near-future", [("Cookie", dated("A", 3600, 0))]),
            Req("GET", "/garbage-date", [("Cookie", "SRV=A|!!!!!")]),
            Req("GET", "/invalid-server", [("Cookie", dated("Z", 0, 0))]),
            Req("GET", "/refresh", [("Cookie", jar("SRV", "k=1; "))], before=sleep_past_date),
        ],
    ),
    "stick_on_cookie": Scenario(
        Backend(
            [
                "balance roundrobin",
                "stick-table type string len 32 size 1k expire 1h",
                "stick on req.cook(JSESSIONID)",
                "stick store-response res.cook(JSESSIONID)",
            ],
            [Server("s1", "s1"), Server("s2", "s2")],
        ),
        [
            Req("GET", q("/login", hdrs={"Set-Cookie": "JSESSIONID=sess1; Path=/"})),
            Req("GET", "/a", [("Cookie", jar("JSESSIONID"))]),
            Req("GET", "/anon1"),
            Req("GET", "/b", [("Cookie", jar("JSESSIONID", "x=1; "))]),
            Req("GET", "/anon2"),
            Req("GET", "/fresh", [("Cookie", "JSESSIONID=fresh2")]),
            Req("GET", "/fresh-again", [("Cookie", "JSESSIONID=fresh2")]),
            Req("GET", "/anon3"),
            Req("GET", "/fresh-again2", [("Cookie", "JSESSIONID=fresh2")]),
            # The request's store is taken: the response's cookie is not stored.
            Req(
                "GET",
                q("/both", hdrs={"Set-Cookie": "JSESSIONID=resp3; Path=/"}),
                [("Cookie", "JSESSIONID=req3")],
            ),
            Req("GET", "/resp3", [("Cookie", "JSESSIONID=resp3")]),
            Req("GET", "/resp3-again", [("Cookie", "JSESSIONID=resp3")]),
            Req("GET", "/req3", [("Cookie", "JSESSIONID=req3")]),
            # Keys longer than len 32 are cut to 32 characters.
            Req("GET", "/long", [("Cookie", "JSESSIONID=" + "k" * 32 + "first")]),
            Req("GET", "/anon4"),
            Req("GET", "/long2", [("Cookie", "JSESSIONID=" + "k" * 32 + "second")]),
            Req("GET", "/empty", [("Cookie", "JSESSIONID=")]),
            Req("GET", "/anon5"),
            Req("GET", "/empty2", [("Cookie", "JSESSIONID=")]),
        ],
    ),
    "stick_with_health": Scenario(
        Backend(
            [
                "balance roundrobin",
                "option httpchk GET /health",
                "stick-table type string len 32 size 1k expire 1h",
                "stick on req.cook(JSESSIONID)",
                "stick store-response res.cook(JSESSIONID)",
            ],
            [
                Server("s1", "s1", "check inter 100ms rise 2 fall 1"),
                Server("s2", "s2", "check inter 100ms rise 2 fall 1"),
            ],
        ),
        [
            Req("GET", q("/login", hdrs={"Set-Cookie": "JSESSIONID=k1"})),
            Req("GET", "/k1", [("Cookie", "JSESSIONID=k1")]),
            Req("GET", "/k1-down", [("Cookie", "JSESSIONID=k1")], before=mark("s1", False, "DOWN")),
            Req("GET", "/k1-down2", [("Cookie", "JSESSIONID=k1")]),
            Req("GET", "/k1-up", [("Cookie", "JSESSIONID=k1")], before=mark("s1", True, "UP")),
            Req("GET", "/anon1"),
            Req("GET", "/anon2"),
        ],
    ),
    "redispatch": Scenario(
        Backend(
            [
                "balance roundrobin",
                "cookie SRV insert indirect nocache",
                "option redispatch",
                "retries 2",
            ],
            [Server("a", "dead", "cookie A"), Server("b", "s2", "cookie B")],
        ),
        [
            Req("GET", "/to-dead", [("Cookie", "x=1; SRV=A")]),
            Req("GET", "/anon1"),
            Req("GET", "/anon2"),
            Req("GET", "/to-live", [("Cookie", "SRV=B")]),
            Req("POST", "/post-to-dead", [("Cookie", "SRV=A")], b"payload"),
        ],
        timing=True,
    ),
    "no_redispatch": Scenario(
        Backend(
            ["balance roundrobin", "cookie SRV insert indirect nocache", "retries 2"],
            [Server("a", "dead", "cookie A"), Server("b", "s2", "cookie B")],
        ),
        [
            Req("GET", "/to-dead", [("Cookie", "SRV=A")]),
            Req("GET", "/anon1"),
            Req("GET", "/anon2"),
        ],
        timing=True,
    ),
    "health_routing": Scenario(
        Backend(
            [
                "balance roundrobin",
                "cookie SRV insert indirect nocache",
                "option httpchk GET /health",
            ],
            [
                Server("s1", "s1", "cookie A check inter 100ms rise 2 fall 1"),
                Server("s2", "s2", "cookie B check inter 100ms rise 2 fall 1"),
            ],
        ),
        [
            Req("GET", "/r1"),
            Req("GET", "/r2"),
            Req("GET", "/r3"),
            Req("GET", "/down-cookie", [("Cookie", "a=1; SRV=A")]),
            Req("GET", "/live-cookie", [("Cookie", "SRV=B")]),
            Req("GET", "/back-up", [("Cookie", "SRV=A")], before=mark("s1", True, "UP")),
            Req("GET", "/r4"),
            Req("GET", "/r5"),
        ],
        sick=("s1",),
        wait_down=("s1",),
    ),
    "health_persist": Scenario(
        Backend(
            [
                "balance roundrobin",
                "cookie SRV insert indirect nocache",
                "option httpchk GET /health",
                "option persist",
            ],
            [
                Server("s1", "s1", "cookie A check inter 100ms rise 2 fall 1"),
                Server("s2", "s2", "cookie B check inter 100ms rise 2 fall 1"),
            ],
        ),
        [
            Req("GET", "/r1"),
            Req("GET", "/down-cookie", [("Cookie", "a=1; SRV=A")]),
            Req("GET", q("/down-cookie-lm", hdrs=LM), [("Cookie", "SRV=A")]),
            Req("GET", "/live-cookie", [("Cookie", "SRV=B")]),
            Req("GET", "/r2"),
        ],
        sick=("s1",),
        wait_down=("s1",),
    ),
    "persist_redispatch_dead": Scenario(
        Backend(
            [
                "balance roundrobin",
                "cookie SRV insert indirect nocache",
                "option persist",
                "option redispatch",
                "retries 1",
            ],
            [Server("a", "dead", "cookie A check inter 100ms"), Server("b", "s2", "cookie B")],
        ),
        [
            Req("GET", "/to-down", [("Cookie", "SRV=A")]),
            Req("GET", "/anon1"),
            Req("GET", "/anon2"),
        ],
        wait_down=("a",),
        timing=True,
    ),
}


# ---------------------------------------------------------------------------------------------
# Running a scenario against both proxies


@dataclass
class Run:
    procs: dict[str, Proc]
    origins: dict[str, dict[str, CheckedOrigin]]
    responses: dict[str, list] = field(default_factory=lambda: {k: [] for k in KINDS})
    raw: dict[str, list] = field(default_factory=lambda: {k: [] for k in KINDS})
    dates: dict[str, list] = field(default_factory=lambda: {k: [] for k in KINDS})
    elapsed: dict[str, list] = field(default_factory=lambda: {k: [] for k in KINDS})
    sent: dict[str, list] = field(default_factory=lambda: {k: [] for k in KINDS})
    logs: dict[str, list] = field(default_factory=dict)

    def offsets(self) -> dict[str, int]:
        return {k: len(p.log_text()) for k, p in self.procs.items()}

    def wait_log(self, text: str, since: dict[str, int] | None = None, timeout=8.0) -> None:
        """Wait until both proxies have logged ``text`` (after the offsets ``since``)."""
        since = since or {}

        def missing() -> list[str]:
            return [k for k, p in self.procs.items() if text not in p.log_text()[since.get(k, 0) :]]

        deadline = time.monotonic() + timeout
        while missing() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not missing(), f"{missing()} never logged {text!r}"


def _set_cookie_jar(j: dict[str, str], headers: list[tuple[str, str]]) -> None:
    for k, v in headers:
        if k.lower() == "set-cookie":
            name, _, value = v.split(";")[0].partition("=")
            j[name.strip()] = value.strip()


def run_scenario(scn: Scenario, workdir: Path) -> Run:
    if not os.access(HAPROXY, os.X_OK):
        require_system(f"{HAPROXY} is not installed (Debian's haproxy package)")
    dead = free_port()  # nothing listens there
    origins = {
        kind: {n: CheckedOrigin(n, healthy=n not in scn.sick) for n in scn.origins}
        for kind in KINDS
    }
    procs: dict[str, Proc] = {}
    try:
        for kind in KINDS:
            addrs = {n: f"127.0.0.1:{o.port}" for n, o in origins[kind].items()}
            addrs["dead"] = f"127.0.0.1:{dead}"
            port = free_port()
            d = workdir / kind
            d.mkdir()
            if kind == "haproxy":
                procs[kind] = start_haproxy(scn.backend.haproxy_cfg(port, addrs), port, d)
            else:
                procs[kind] = start_stack(scn.backend.stack_ini(port, addrs), port, d)
        run = Run(procs, origins)
        for server in scn.wait_down:
            run.wait_log(f"Server be/{server} is DOWN")
        jars: dict[str, dict[str, str]] = {k: {} for k in KINDS}
        for req in scn.requests:
            if req.before:
                req.before(run)
            for kind in KINDS:
                headers = [(k, v(jars[kind]) if callable(v) else v) for k, v in req.headers]
                r = exchange(procs[kind].port, req.method, req.target, headers, req.body)
                _set_cookie_jar(jars[kind], r.headers)
                run.sent[kind].append(headers)
                run.raw[kind].append(r.raw)
                run.elapsed[kind].append(r.elapsed)
                run.responses[kind].append(normalise_response(r, run.dates[kind]))
        # Compare health-check requests only once each checked origin got one from both.
        checked = [x.target for x in scn.backend.servers if " check" in f" {x.options}"]
        checked = [n for n in checked if n in scn.origins]
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline and not all(
            any(r["target"].startswith("/health") for r in origins[k][n].requests)
            for k in KINDS
            for n in checked
        ):
            time.sleep(0.05)
        # httplog lines are written when each stream ends: give them a moment.
        n = len(scn.requests)
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            run.logs = {k: log_entries(p.log_text()) for k, p in procs.items()}
            if all(len(v) >= n for v in run.logs.values()):
                break
            time.sleep(0.05)
        return run
    finally:
        for p in procs.values():
            p.stop()
        for group in origins.values():
            for o in group.values():
                o.close()


def _dates_match(h: list[int], s: list[int]) -> bool:
    return len(h) == len(s) and all(abs(a - b) <= 4 for a, b in zip(h, s, strict=True))


def _lines(resp: dict) -> list[str]:
    body = resp["body"]
    if isinstance(body, dict):
        body = {k: v for k, v in body.items() if k != "headers"} | {"headers": body["headers"]}
    return [resp["status"]] + [f"{k}: {v}" for k, v in resp["headers"]] + [f"body {body}"]


def _explain(h: dict, s: dict) -> str:
    """The differing lines (- haproxy, + stack), and whether only the header order differs."""
    hl, sl = _lines(h), _lines(s)
    kind = "header order only" if sorted(hl) == sorted(sl) else "content"
    diff = [ln for ln in difflib.ndiff(hl, sl) if ln[:1] in "-+"]
    return f"  [{kind}] (- haproxy, + stack)\n" + "\n".join(f"    {ln}" for ln in diff)


def wire_findings(scn: Scenario, run: Run) -> list[str]:
    out = []
    for i, req in enumerate(scn.requests):
        hr, sr = run.responses["haproxy"][i], run.responses["stack"][i]
        what = f"request {i} {req.method} {req.target} sent {run.sent['haproxy'][i]}"
        if hr != sr:
            out.append(f"{what}:\n{_explain(hr, sr)}")
            out.append(f"    haproxy bytes {run.raw['haproxy'][i]!r}")
            out.append(f"    stack bytes   {run.raw['stack'][i]!r}")
        if scn.timing:
            he, se = run.elapsed["haproxy"][i], run.elapsed["stack"][i]
            if abs(he - se) > 0.5:
                out.append(f"{what}: haproxy answered in {he:.2f}s, stack in {se:.2f}s")
    if not _dates_match(run.dates["haproxy"], run.dates["stack"]):
        out.append(
            f"cookie dates (decoded, unix time): haproxy {run.dates['haproxy']} "
            f"vs stack {run.dates['stack']}"
        )
    # Everything each origin received (health checks apart), and the health checks themselves.
    for name in scn.origins:
        seen, checks = {}, {}
        for kind in KINDS:
            records = run.origins[kind][name].requests
            d: list[int] = []
            seen[kind] = [
                normalise_record(r, d) for r in records if not r["target"].startswith("/health")
            ]
            checks[kind] = [
                normalise_record(r, d) for r in records[:] if r["target"].startswith("/health")
            ][:1]
        if seen["haproxy"] != seen["stack"]:
            out.append(
                f"origin {name} received:\n  via haproxy {seen['haproxy']}\n"
                f"  via stack   {seen['stack']}"
            )
        if checks["haproxy"] != checks["stack"]:
            out.append(
                f"origin {name} first health check:\n  from haproxy {checks['haproxy']}\n"
                f"  from stack   {checks['stack']}"
            )
    return out


_RUNS: dict[str, Run] = {}


@pytest.fixture
def scenario_run(request, tmp_path_factory) -> Callable[[str], Run]:
    def get(name: str) -> Run:
        if name not in _RUNS:
            _RUNS[name] = run_scenario(SCENARIOS[name], tmp_path_factory.mktemp(name))
        return _RUNS[name]

    return get


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_client_and_origin_see_the_same(name: str, scenario_run) -> None:
    scn = SCENARIOS[name]
    findings = wire_findings(scn, scenario_run(name))
    assert not findings, f"{name}: stack differs from HAProxy 2.6:\n" + "\n".join(findings)


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_httplog_matches(name: str, scenario_run) -> None:
    """Server, status, bytes (%B), termination state (cookie flags), retries and request line
    per request."""
    run = scenario_run(name)
    h, s = run.logs["haproxy"], run.logs["stack"]
    diffs = [f"  haproxy {a}\n  stack   {b}" for a, b in zip(h, s, strict=False) if a != b]
    if len(h) != len(s):
        diffs.append(f"  haproxy logged {len(h)} requests, stack {len(s)}")
    assert not diffs, f"{name}: httplog differs:\n" + "\n".join(diffs)


def test_the_two_configs_say_the_same() -> None:
    """The renderer: every haproxy.cfg backend line has its INI twin (docs/config.md)."""
    be = SCENARIOS["redispatch"].backend
    addrs = {"s2": "127.0.0.1:2", "dead": "127.0.0.1:1"}
    cfg, ini = be.haproxy_cfg(10, addrs), be.stack_ini(10, addrs)
    assert "    option redispatch\n" in cfg and "option redispatch = on\n" in ini
    assert "    retries 2\n" in cfg and "retries = 2\n" in ini
    assert "server a = 127.0.0.1:1 cookie A\n" in ini
    assert re.search(r"^    server a 127\.0\.0\.1:1 cookie A$", cfg, re.M)
    st = SCENARIOS["stick_on_cookie"].backend.stack_ini(10, {"s1": "h:1", "s2": "h:2"})
    assert "stick-table = type string len 32 size 1k expire 1h\n" in st
    assert "stick store-response = res.cook(JSESSIONID)\n" in st
