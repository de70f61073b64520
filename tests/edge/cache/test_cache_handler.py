"""The cache in front of an upstream, in memory: a client channel on a StringTransport, the
edge's virtual host, the cache, and a scripted upstream answering on the test's command;
time is a Clock, the store a real one in a temporary directory."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from twisted.internet.defer import Deferred, maybeDeferred
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransportWithDisconnection

from stack.config import load
from stack.edge.cache.handler import CacheHandler
from stack.edge.cache.lock import CacheLock
from stack.edge.cache.policy import format_http_date
from stack.edge.cache.store import CacheStore
from stack.edge.handler import EdgeHandler, EdgeLog, routes_for
from stack.http.capture import CapturedExchange
from stack.http.message import Headers, Response
from stack.http.server import Exchange, ServerChannel
from tests.http.fakes import make_channel, responses

NOW = 1_800_000_000.0


class Upstream:
    """A RequestHandler that records exchanges; the test answers them."""

    def __init__(self) -> None:
        self.exchanges: list[Exchange] = []
        self.ended: list[Exchange] = []

    def handle(self, exchange: Exchange) -> None:
        self.exchanges.append(exchange)

    def error_response(self, status: int) -> bytes:
        return b""

    def exchange_ended(self, exchange: Exchange) -> None:
        self.ended.append(exchange)


def answer(
    exchange: Exchange,
    headers: Headers,
    body: bytes = b"stored body",
    status: int = 200,
    finish: bool = True,
) -> None:
    exchange.respond(Response(status, b"X", list(headers), content_length=len(body)))
    exchange.write(body)
    if finish:
        exchange.finish()


def sync_runner(f: Callable[..., Any], *args: Any) -> Deferred[Any]:
    return maybeDeferred(f, *args)


class Edge:
    def __init__(self, tmp_path: Path, extra: str = "") -> None:
        ini = tmp_path / "edge.ini"
        ini.write_text(
            "[global]\n"
            f"state-dir = {tmp_path}\n"
            "[edge t]\n"
            "bind = 127.0.0.1:9443\n"
            "server-name = localhost\n"
            "proxy-pass = / http://127.0.0.1:9000/\n"
            "cache = on\n" + extra
        )
        config = load(str(ini)).edges[0]
        assert config.cache is not None
        self.settings = config.cache
        self.clock = Clock()
        self.clock.advance(NOW)
        self.store = CacheStore(
            self.settings.directory,
            self.clock,
            size_limit=10_000_000,
            memory_limit=1_000_000,
            max_object=self.settings.max_object,
            clean_interval=60.0,
            log=lambda message: None,
            run_in_thread=sync_runner,
        )
        started: list[object] = []
        self.store.start().addBoth(started.append)
        assert started == [None]
        self.upstream = Upstream()
        lock = CacheLock(self.clock, 5.0, 10) if self.settings.lock else None
        self.cache = CacheHandler(self.settings, self.store, self.upstream, self.clock, lock)
        self.vhost = EdgeHandler(config, routes_for(config, [self.cache]), EdgeLog(config))

    def connect(self) -> tuple[ServerChannel, StringTransportWithDisconnection]:
        channel, transport, _clock, _h = make_channel(handler=self.vhost, clock=self.clock)
        return channel, transport

    def get(
        self, path: bytes = b"/page", headers: bytes = b"", method: bytes = b"GET"
    ) -> StringTransportWithDisconnection:
        _channel, transport = self.connect()
        request = b"%s %s HTTP/1.1\r\nHost: localhost:9443\r\n%s\r\n" % (method, path, headers)
        _channel.dataReceived(request)
        return transport

    def fetch(self) -> Exchange:
        """The next request the upstream has not answered yet."""
        return self.upstream.exchanges[-1]


def one(transport: StringTransportWithDisconnection) -> tuple[int, dict[str, str], bytes]:
    (response,) = responses(transport.value())
    return response


FRESH: Headers = [(b"cache-control", b"max-age=60"), (b"etag", b'"v1"')]


@pytest.fixture
def edge(tmp_path: Path) -> Edge:
    return Edge(tmp_path)


def test_miss_is_stored_while_relayed_then_hit_with_age_and_original_date(edge: Edge) -> None:
    date = format_http_date(NOW)
    t1 = edge.get()
    exchange = edge.fetch()
    assert isinstance(exchange, CapturedExchange)
    answer(exchange, [*FRESH, (b"date", date)])
    status, headers, body = one(t1)
    assert (status, body) == (200, b"stored body")
    assert headers["cache-status"] == "stack; fwd=miss; stored"
    (entry,) = edge.store.variants(b"https://localhost:9443/page")
    assert entry.facts is not None and entry.facts.lifetime == 60  # worked out once, at the fill
    edge.clock.advance(10)
    t2 = edge.get()
    assert len(edge.upstream.exchanges) == 1
    status, headers, body = one(t2)
    assert (status, body) == (200, b"stored body")
    assert headers["age"] == "10"
    assert headers["date"] == date.decode()  # not rewritten on a hit
    assert headers["cache-status"].startswith("stack; hit; ttl=")


def test_body_reaches_the_client_before_the_upstream_finishes(edge: Edge) -> None:
    transport = edge.get()
    exchange = edge.fetch()
    exchange.respond(Response(200, b"OK", list(FRESH), content_length=10))
    exchange.write(b"first")
    exchange.flush()
    assert transport.value().endswith(b"first")
    exchange.write(b"-last")
    exchange.finish()
    assert one(transport)[2] == b"first-last"
    assert one(edge.get())[2] == b"first-last"


def test_stale_entry_is_revalidated_and_a_304_merged(edge: Edge) -> None:
    edge.get()
    answer(edge.fetch(), [(b"cache-control", b"max-age=1"), (b"etag", b'"v1"'), (b"x-a", b"1")])
    edge.clock.advance(5)
    transport = edge.get()
    revalidation = edge.fetch()
    assert revalidation.request.header(b"if-none-match") == b'"v1"'
    answer(
        revalidation,
        [(b"cache-control", b"max-age=100"), (b"x-a", b"2")],
        body=b"",
        status=304,
    )
    status, headers, body = one(transport)
    assert (status, body, headers["x-a"]) == (200, b"stored body", "2")
    assert headers["cache-status"].startswith("stack; fwd=stale; fwd-status=304")
    assert one(edge.get())[1]["cache-status"].startswith("stack; hit")
    assert len(edge.upstream.exchanges) == 2


def test_an_origin_error_is_replaced_by_the_stale_copy(edge: Edge) -> None:
    edge.get()
    answer(edge.fetch(), [(b"cache-control", b"max-age=1"), (b"etag", b'"v1"')])
    edge.clock.advance(5)
    transport = edge.get()
    answer(edge.fetch(), [], body=b"down", status=503)
    status, headers, body = one(transport)
    assert (status, body) == (200, b"stored body")
    assert "stale-if-error" in headers["cache-status"]


def test_must_revalidate_forbids_the_stale_copy(edge: Edge) -> None:
    edge.get()
    cc = (b"cache-control", b"max-age=1, must-revalidate")
    answer(edge.fetch(), [cc, (b"etag", b'"v1"')])
    edge.clock.advance(5)
    transport = edge.get()
    answer(edge.fetch(), [], body=b"down", status=503)
    assert one(transport)[:3:2] == (503, b"down")


def test_a_broken_upstream_without_a_stored_copy_is_a_502(edge: Edge) -> None:
    transport = edge.get()
    edge.fetch().abort()
    assert one(transport)[0] == 502


@pytest.mark.parametrize("method", [b"POST", b"DELETE", b"M-SEARCH"])
def test_unsafe_methods_invalidate_on_success(edge: Edge, method: bytes) -> None:
    edge.get()
    answer(edge.fetch(), FRESH)
    transport = edge.get(method=method)
    unsafe = edge.fetch()
    assert not isinstance(unsafe, CapturedExchange)  # passed through as the client's own
    answer(unsafe, [], body=b"done")
    assert one(transport)[0] == 200
    edge.get()
    assert len(edge.upstream.exchanges) == 3  # the GET after it went to the upstream


def test_an_unsafe_method_that_fails_invalidates_nothing(edge: Edge) -> None:
    edge.get()
    answer(edge.fetch(), FRESH)
    edge.get(method=b"POST")
    answer(edge.fetch(), [], body=b"no", status=500)
    assert one(edge.get())[1]["cache-status"].startswith("stack; hit")


def test_concurrent_misses_collapse_into_one_fetch(edge: Edge) -> None:
    t1 = edge.get()
    t2 = edge.get()
    t3 = edge.get()
    assert len(edge.upstream.exchanges) == 1
    answer(edge.fetch(), FRESH)
    edge.clock.advance(0)
    assert len(edge.upstream.exchanges) == 1
    assert [one(t)[2] for t in (t1, t2, t3)] == [b"stored body"] * 3
    assert one(t2)[1]["cache-status"].startswith("stack; hit")


def test_waiters_go_to_the_upstream_when_the_response_is_not_storable(edge: Edge) -> None:
    edge.get()
    t2 = edge.get()
    answer(edge.fetch(), [(b"cache-control", b"no-store")], finish=False)
    edge.clock.advance(0)  # released at the head: no waiting for a body nobody will store
    assert len(edge.upstream.exchanges) == 2
    answer(edge.fetch(), [(b"cache-control", b"no-store")], body=b"second")
    assert one(t2)[2] == b"second"


def test_vary_star_is_never_stored(edge: Edge) -> None:
    edge.get()
    answer(edge.fetch(), [*FRESH, (b"vary", b"*")])
    edge.get()
    assert len(edge.upstream.exchanges) == 2


def test_vary_selects_the_variant(edge: Edge) -> None:
    edge.get(headers=b"Accept-Language: fr\r\n")
    answer(edge.fetch(), [*FRESH, (b"vary", b"Accept-Language")], body=b"bonjour")
    edge.get(headers=b"Accept-Language: de\r\n")
    answer(edge.fetch(), [*FRESH, (b"vary", b"Accept-Language")], body=b"hallo")
    assert one(edge.get(headers=b"Accept-Language: fr\r\n"))[2] == b"bonjour"
    assert one(edge.get(headers=b"Accept-Language: de\r\n"))[2] == b"hallo"
    assert len(edge.upstream.exchanges) == 2


def test_client_conditionals_are_answered_from_the_store(edge: Edge) -> None:
    transport = edge.get(headers=b'If-None-Match: "v1"\r\n')
    fill = edge.fetch()
    assert fill.request.header(b"if-none-match") is None  # the whole response is fetched
    answer(fill, FRESH)
    assert one(transport)[0] == 304
    status, headers, body = one(edge.get(headers=b'If-None-Match: "v1"\r\n'))
    assert (status, body, headers["etag"]) == (304, b"", '"v1"')
    assert one(edge.get())[2] == b"stored body"  # the body was stored all the same


@pytest.mark.parametrize(
    ("range_", "status", "body", "content_range"),
    [
        (b"bytes=0-5", 206, b"stored", "bytes 0-5/11"),
        (b"bytes=7-", 206, b"body", "bytes 7-10/11"),
        (b"bytes=-4", 206, b"body", "bytes 7-10/11"),
        (b"bytes=20-", 416, b"", "bytes */11"),
        (b"bytes=0-1,3-4", 200, b"stored body", None),
    ],
)
def test_ranges_are_served_from_a_stored_response(
    edge: Edge, range_: bytes, status: int, body: bytes, content_range: str | None
) -> None:
    edge.get()
    answer(edge.fetch(), FRESH)
    got_status, headers, got_body = one(edge.get(headers=b"Range: %s\r\n" % range_))
    assert (got_status, got_body, headers.get("content-range")) == (status, body, content_range)


def test_only_if_cached_miss_is_a_504(edge: Edge) -> None:
    transport = edge.get(headers=b"Cache-Control: only-if-cached\r\n")
    assert one(transport)[0] == 504
    assert edge.upstream.exchanges == []


def test_stale_while_revalidate_answers_at_once_and_refreshes_behind(edge: Edge) -> None:
    edge.get()
    cc = (b"cache-control", b"max-age=1, stale-while-revalidate=30")
    answer(edge.fetch(), [cc, (b"etag", b'"v1"')])
    edge.clock.advance(5)
    transport = edge.get()
    status, headers, body = one(transport)
    assert (status, body) == (200, b"stored body")
    assert "stale-while-revalidate" in headers["cache-status"]
    refresh = edge.fetch()
    assert isinstance(refresh, CapturedExchange)
    assert refresh.request.header(b"if-none-match") == b'"v1"'
    answer(refresh, [(b"cache-control", b"max-age=100")], body=b"", status=304)
    assert one(edge.get())[1]["cache-status"].startswith("stack; hit")
    assert len(edge.upstream.exchanges) == 2


def test_client_no_cache_revalidates(edge: Edge) -> None:
    edge.get()
    answer(edge.fetch(), FRESH)
    edge.get(headers=b"Cache-Control: no-cache\r\n")
    assert len(edge.upstream.exchanges) == 2
    assert edge.fetch().request.header(b"if-none-match") == b'"v1"'


def test_client_no_cache_ignored_when_configured(tmp_path: Path) -> None:
    edge = Edge(tmp_path, "cache-ignore-cache-control = on\n")
    edge.get()
    answer(edge.fetch(), FRESH)
    transport = edge.get(headers=b"Cache-Control: no-cache\r\nPragma: no-cache\r\n")
    assert one(transport)[1]["cache-status"].startswith("stack; hit")
    assert len(edge.upstream.exchanges) == 1


def test_paths_outside_the_cache_prefixes_pass_through(tmp_path: Path) -> None:
    edge = Edge(tmp_path, "cache-disable = /private/\n")
    edge.get(b"/private/x")
    assert not isinstance(edge.fetch(), CapturedExchange)
    answer(edge.fetch(), FRESH)
    edge.get(b"/private/x")
    assert len(edge.upstream.exchanges) == 2


def test_authorization_responses_are_stored_only_when_allowed(edge: Edge) -> None:
    edge.get(headers=b"Authorization: Basic eDp5\r\n")
    answer(edge.fetch(), FRESH)
    edge.get(headers=b"Authorization: Basic eDp5\r\n")
    assert len(edge.upstream.exchanges) == 2
    answer(edge.fetch(), [(b"cache-control", b"public, max-age=60")])
    edge.get(headers=b"Authorization: Basic eDp5\r\n")
    assert len(edge.upstream.exchanges) == 2


def test_the_upstream_hears_when_each_fill_is_over(edge: Edge) -> None:
    edge.get()
    fill = edge.fetch()
    answer(fill, FRESH)
    assert edge.upstream.ended == [fill]


class Producer:
    """The server connection, as the upstream registers it for backpressure."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def pauseProducing(self) -> None:
        self.calls.append("pause")

    def resumeProducing(self) -> None:
        self.calls.append("resume")

    def stopProducing(self) -> None:
        self.calls.append("stop")


@pytest.mark.parametrize(
    ("cache_control", "after_client_left"),
    [(b"max-age=60", "resume"), (b"no-store", "stop")],
    ids=["storing-goes-on", "nothing-to-store-stops"],
)
def test_a_client_leaving_mid_body(
    edge: Edge, cache_control: bytes, after_client_left: str
) -> None:
    channel, transport = edge.connect()
    channel.dataReceived(b"GET /big HTTP/1.1\r\nHost: localhost:9443\r\n\r\n")
    fill = edge.fetch()
    server = Producer()
    fill.respond(Response(200, b"OK", [(b"cache-control", cache_control)], content_length=10))
    fill.register_producer(server)  # type: ignore[arg-type]
    fill.write(b"first")
    fill.flush()
    transport.producer.pauseProducing()  # the client's socket is full: the server waits
    assert server.calls == ["pause"]
    channel.connectionLost(None)
    transport.producer.stopProducing()  # what Twisted does to the producer of a lost connection
    assert server.calls[-1] == after_client_left
    fill.write(b"-last")
    fill.finish()
    stored = edge.store.variants(b"https://localhost:9443/big")
    assert len(stored) == (1 if after_client_left == "resume" else 0)
