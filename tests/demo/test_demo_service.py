"""The demo origins, driven through the real ``Site`` over an in-memory transport.

Going through ``HTTPChannel`` (not a ``DummyRequest``) checks what a balancer will actually see:
the status line, headers and ``Set-Cookie`` on the wire.
"""

from __future__ import annotations

import re

import pytest
from twisted.internet.address import IPv4Address
from twisted.internet.task import Clock
from twisted.internet.testing import MemoryReactorClock, StringTransport

from stack.config import model
from stack.demo.service import (
    MAX_SESSIONS,
    SESSION_TTL,
    FilmsPage,
    SessionStore,
    demo_service,
    demo_site,
)

COOKIE_RE = re.compile(rb"^(?i:set-cookie): PHPSESSID=([0-9a-f]{32}); path=/\r?$", re.M)


def _demo(app: str, name: str = "demo1", port: int = 9101) -> model.DemoServer:
    return model.DemoServer(name=name, app=app, bind=model.Endpoint("127.0.0.1", port))


class Response:
    def __init__(self, raw: bytes) -> None:
        head, _, self.body = raw.partition(b"\r\n\r\n")
        status_line, *lines = head.split(b"\r\n")
        self.raw_head = head
        self.status = int(status_line.split()[1])
        self.headers: dict[bytes, list[bytes]] = {}
        for line in lines:
            key, _, value = line.partition(b":")
            self.headers.setdefault(key.strip().lower(), []).append(value.strip())

    def header(self, name: bytes) -> bytes | None:
        values = self.headers.get(name)
        return values[0] if values else None

    @property
    def session_id(self) -> bytes | None:
        match = COOKIE_RE.search(self.raw_head)
        return match.group(1) if match else None


class Client:
    """One site, many requests: each on a fresh connection, as the tests need no keep-alive."""

    def __init__(self, app: str, name: str = "demo1", clock: Clock | None = None) -> None:
        self.clock = clock or Clock()
        self.site = demo_site(_demo(app, name), self.clock)

    def get(self, target: bytes, headers: dict[bytes, bytes] | None = None) -> Response:
        protocol = self.site.buildProtocol(IPv4Address("TCP", "127.0.0.1", 40000))
        assert protocol is not None
        transport = StringTransport()
        protocol.makeConnection(transport)
        lines = [b"GET " + target + b" HTTP/1.1", b"Host: example.test", b"Connection: close"]
        lines += [k + b": " + v for k, v in (headers or {}).items()]
        protocol.dataReceived(b"\r\n".join(lines) + b"\r\n\r\n")
        return Response(transport.value())


def test_site_names_the_server_and_echoes_the_request() -> None:
    response = Client("site", "site2").get(b"/some/page?x=1", {b"X-Forwarded-For": b"192.0.2.7"})
    assert response.status == 200
    assert response.header(b"x-served-by") == b"site2"
    assert (response.header(b"content-type") or b"").startswith(b"text/html")
    assert b"<h1>site</h1> served by site2" in response.body
    assert b"GET" in response.body
    assert b"/some/page?x=1" in response.body
    assert b"192.0.2.7" in response.body
    assert response.session_id is None


def test_site_escapes_what_it_echoes() -> None:
    response = Client("site").get(b"/a", {b"X-Forwarded-For": b"<script>"})
    assert b"<script>" not in response.body
    assert b"&lt;script&gt;" in response.body


def test_films_issues_a_session_cookie_and_accumulates_favourites() -> None:
    client = Client("films", "films1")
    first = client.get(b"/fun/films.php?fav=avengers")
    assert first.status == 200
    assert first.header(b"x-served-by") == b"films1"
    session = first.session_id
    assert session is not None
    assert b"My Favourite Films: avengers" in first.body
    assert b"films1" in first.body

    second = client.get(b"/fun/films?fav=jurassic%20world", {b"Cookie": b"PHPSESSID=" + session})
    assert second.session_id is None  # known session: no new cookie
    assert b"My Favourite Films: avengers , jurassic world" in second.body


def test_films_sessions_are_isolated_between_clients() -> None:
    client = Client("films")
    one = client.get(b"/fun/films.php?fav=avengers").session_id
    two = client.get(b"/fun/films.php?fav=race3").session_id
    assert one and two and one != two
    client.get(b"/fun/films.php?fav=jurassicworld", {b"Cookie": b"PHPSESSID=" + one})
    last_two = client.get(b"/fun/anything?fav=gold", {b"Cookie": b"PHPSESSID=" + two})
    assert b"My Favourite Films: race3 , gold" in last_two.body
    last_one = client.get(b"/fun/films.php", {b"Cookie": b"PHPSESSID=" + one})
    assert b"My Favourite Films: avengers , jurassicworld" in last_one.body


def test_films_sessions_are_local_to_one_server() -> None:
    """What the tutorial's stickiness fixes: another server does not know the session."""
    session = Client("films", "films1").get(b"/fun/films.php?fav=avengers").session_id
    assert session is not None
    other = Client("films", "films2").get(
        b"/fun/films.php?fav=gold", {b"Cookie": b"PHPSESSID=" + session}
    )
    assert other.session_id not in (None, session)
    assert b"My Favourite Films: gold" in other.body


def test_films_unknown_session_gets_a_new_cookie() -> None:
    client = Client("films")
    response = client.get(b"/fun/films.php?fav=x", {b"Cookie": b"PHPSESSID=" + b"0" * 32})
    assert response.session_id is not None
    assert response.session_id != b"0" * 32
    assert b"My Favourite Films: x\n" in response.body


def test_films_session_expires_after_an_hour_idle() -> None:
    clock = Clock()
    client = Client("films", clock=clock)
    session = client.get(b"/fun/films.php?fav=a").session_id
    assert session is not None
    cookie = {b"Cookie": b"PHPSESSID=" + session}
    clock.advance(SESSION_TTL - 1)
    assert client.get(b"/fun/films.php?fav=b", cookie).session_id is None  # use renews it
    clock.advance(SESSION_TTL - 1)
    assert b"a , b , c" in client.get(b"/fun/films.php?fav=c", cookie).body
    clock.advance(SESSION_TTL)
    expired = client.get(b"/fun/films.php?fav=d", cookie)
    assert expired.session_id not in (None, session)
    assert b"My Favourite Films: d" in expired.body


def test_films_outside_fun_creates_no_session() -> None:
    client = Client("films", "films2")
    response = client.get(b"/")
    assert response.status == 200
    assert response.session_id is None
    assert response.header(b"x-served-by") == b"films2"
    resource = client.site.resource
    assert isinstance(resource, FilmsPage)
    assert len(resource.sessions) == 0


def test_session_store_is_bounded_and_evicts_least_recently_used() -> None:
    clock = Clock()
    store = SessionStore(clock, max_sessions=3)
    first, _ = store.create()
    second, _ = store.create()
    store.create()
    assert store.get(first) is not None  # first is now the most recently used
    store.create()
    assert len(store) == 3
    assert store.get(second) is None
    assert store.get(first) is not None
    assert MAX_SESSIONS == 10_000


def test_session_store_drops_expired_sessions() -> None:
    clock = Clock()
    store = SessionStore(clock, ttl=10)
    for _ in range(5):
        store.create()
    clock.advance(10)
    store.create()
    assert len(store) == 1


def test_unknown_app_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown app"):
        demo_site(_demo("wiki"), Clock())


def test_demo_service_listens_on_the_bind_address() -> None:
    reactor = MemoryReactorClock()
    service = demo_service(_demo("films", "films1", 9103), reactor)
    assert service.name == "demo films1"
    service.startService()
    try:
        [(port, factory, _backlog, interface)] = reactor.tcpServers
        assert (port, interface) == (9103, "127.0.0.1")
        assert getattr(factory, "noisy", None) is False
        assert factory.logPrefix() == "demo films1"  # type: ignore[attr-defined]
    finally:
        service.stopService()
