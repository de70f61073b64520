"""The edge's HTTP cache in front of one ``proxy-pass`` upstream (mod_cache's place).

``CacheHandler`` is a ``RequestHandler`` between the edge's virtual host and the tier that
answers (the balancer in memory, or a server over the network). A GET or HEAD it may answer
comes from the store; a miss or a revalidation goes to the upstream as a
``CapturedExchange``, so the answer comes back here first: a 304 is merged into the stored
response, an error may be replaced by the stale copy, and a storable response is written to
disk while it streams to the client. Everything else passes through untouched, except that an
unsafe method's success invalidates what the cache holds for that URL.
"""

from __future__ import annotations

from twisted.internet.interfaces import IPushProducer, IReactorTime
from zope.interface import implementer

from stack.config.model import EdgeCache
from stack.edge.cache.lock import CacheLock
from stack.edge.cache.policy import (
    SAFE_METHODS,
    RequestRules,
    cache_key,
    cache_status,
    client_headers,
    format_http_date,
    invalidates,
    invalidation_targets,
    merge_304,
    not_modified,
    request_rules,
    revalidation_headers,
    secondary_key,
    storable,
    stored_headers,
    surrogate_capability,
    vary_fields,
)
from stack.edge.cache.ranges import UNSATISFIABLE, SliceTarget, requested_range
from stack.edge.cache.reuse import Freshness, Verdict, freshness, reuse, stale_on_error
from stack.edge.cache.store import BodyTarget, CacheStore, EntryWriter, StoredResponse
from stack.edge.pages import error_page
from stack.http.capture import CapturedExchange
from stack.http.message import Headers, Request, Response
from stack.http.server import Exchange, RequestHandler, ResponseFilter

# Conditionals a client sends are answered by the cache from what it stores; they are not
# forwarded on a fill, so the origin sends the whole response once.
_CLIENT_CONDITIONALS = frozenset({b"if-none-match", b"if-modified-since"})
# Fields a 304 generated from a stored 200 carries (RFC 9110 §15.4.5).
_NOT_MODIFIED_FIELDS = frozenset(
    {b"cache-control", b"content-location", b"date", b"etag", b"expires", b"vary"}
)
_ERRORS = frozenset({500, 502, 503, 504})


class CacheHandler:
    """The cache of one edge route: a ``RequestHandler`` wrapping the route's upstream."""

    def __init__(
        self,
        settings: EdgeCache,
        store: CacheStore,
        upstream: RequestHandler,
        reactor: IReactorTime,
        lock: CacheLock | None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.upstream = upstream
        self.reactor = reactor
        self.lock = lock
        self.name = settings.name.encode()
        self.prefixes = tuple(p.encode() for p in settings.prefixes)
        self.disabled = tuple(p.encode() for p in settings.disabled)
        self.capability = (b"surrogate-capability", surrogate_capability(self.name))
        self.hits = 0
        self.misses = 0

    # -- RequestHandler --------------------------------------------------------------------------

    def handle(self, exchange: Exchange) -> None:
        request = exchange.request
        key = self._key(exchange)
        if key is None:
            self.upstream.handle(exchange)
            return
        if (
            request.method not in (b"GET", b"HEAD")
            or request.has_body
            or request.upgrade is not None
        ):
            if request.method not in SAFE_METHODS:
                exchange.filter = _Invalidating(self, exchange.filter, key)
            self.upstream.handle(exchange)
            return
        exchange.log = _SERVED
        self.lookup(exchange, key, waited=False)

    def error_response(self, status: int) -> bytes:
        return self.upstream.error_response(status)

    def exchange_ended(self, exchange: Exchange) -> None:
        state = exchange.log
        if isinstance(state, _Served):
            state.client_gone()
        else:
            self.upstream.exchange_ended(exchange)

    # -- lookups ---------------------------------------------------------------------------------

    def _key(self, exchange: Exchange) -> bytes | None:
        """The primary key (the public URL), or ``None`` where the cache is not enabled."""
        record = exchange.front
        target = getattr(record, "target", None)
        host = getattr(record, "public_host", None)
        if target is None or host is None:
            return None
        q = target.find(b"?")
        path = target if q < 0 else target[:q]
        if not path.startswith(self.prefixes) or (self.disabled and path.startswith(self.disabled)):
            return None
        return cache_key(host, target, self.settings.ignore_query_string)

    def select(self, key: bytes, request: Request) -> StoredResponse | None:
        """The newest stored variant whose Vary-selected headers match the request."""
        for entry in self.store.variants(key):
            if not entry.vary or entry.variant == secondary_key(entry.vary, request.headers):
                return entry
        return None

    def facts(self, entry: StoredResponse) -> Freshness:
        facts = entry.facts
        if facts is None:
            facts = entry.facts = freshness(
                entry.status,
                entry.headers,
                self.settings,
                self.name,
                entry.request_time,
                entry.response_time,
            )
        return facts

    def lookup(self, exchange: Exchange, key: bytes, waited: bool) -> None:
        request = exchange.request
        if exchange.finished:
            return
        now = self.reactor.seconds()
        rules = request_rules(request.headers, self.settings.ignore_cache_control)
        entry = self.select(key, request) if self.store.ready else None
        if entry is not None:
            facts = self.facts(entry)
            verdict = reuse(facts, rules, now)
            if verdict is not Verdict.REVALIDATE:
                self.hits += 1
                detail = None
                if verdict is Verdict.STALE_WHILE_REVALIDATE:
                    detail = b"stale-while-revalidate"
                    self._refresh_in_background(exchange, key, entry)
                elif verdict is Verdict.STALE_ALLOWED:
                    detail = b"max-stale"
                serve(self, exchange, entry, facts, now, hit=True, detail=detail)
                return
        if rules.only_if_cached:
            self._answer_504(exchange)
            return
        lock = self.lock
        if lock is not None and not rules.no_cache:
            if not waited and lock.wait(key, lambda: self.lookup(exchange, key, waited=True)):
                return
            if not lock.acquire(key):
                lock = None  # the herd's bound is reached: go alone, without the lock
        else:
            lock = None
        self.misses += 1
        Fill(self, exchange, key, entry, rules, lock is not None).start()

    def _refresh_in_background(self, exchange: Exchange, key: bytes, entry: StoredResponse) -> None:
        lock = self.lock
        if lock is not None and not lock.acquire(key):
            return  # already being refreshed
        rules = request_rules([], False)
        Fill(self, None, key, entry, rules, lock is not None, like=exchange).start()

    def _answer_504(self, exchange: Exchange) -> None:
        """only-if-cached and nothing usable stored (RFC 9111 §5.2.1.7)."""
        exchange.send_raw(error_page(504, close=not exchange.request.keep_alive))

    # -- invalidation ----------------------------------------------------------------------------

    def invalidate(self, exchange: Exchange, key: bytes, status: int, headers: Headers) -> None:
        """An unsafe method succeeded: the URL's stored responses (and those of a same-origin
        Location or Content-Location) are out of date (RFC 9111 §4.4)."""
        if not invalidates(exchange.request.method, status):
            return
        host = getattr(exchange.front, "public_host", b"")
        target = getattr(exchange.front, "target", b"/")
        self.store.remove(key)
        for other in invalidation_targets(host, target, headers):
            self.store.remove(cache_key(host, other, self.settings.ignore_query_string))


class _Invalidating:
    """The response filter of an unsafe request: sees its status, then lets the edge's own
    filter rewrite the response as usual."""

    def __init__(self, cache: CacheHandler, inner: ResponseFilter | None, key: bytes) -> None:
        self.cache = cache
        self.inner = inner
        self.key = key

    def response_head(self, exchange: Exchange, response: Response) -> None:
        self.cache.invalidate(exchange, self.key, response.status, response.headers)
        if self.inner is not None:
            self.inner.response_head(exchange, response)

    def raw_response(self, exchange: Exchange, data: bytes) -> bytes:
        if data[9:12].isdigit():
            self.cache.invalidate(exchange, self.key, int(data[9:12]), [])
        return data if self.inner is None else self.inner.raw_response(exchange, data)


# -- answering from the store ----------------------------------------------------------------------


class _Served:
    """The cache's per-exchange state while a client is answered (``exchange.log``)."""

    def client_gone(self) -> None:
        pass


_SERVED = _Served()


def serve(
    cache: CacheHandler,
    exchange: Exchange,
    entry: StoredResponse,
    facts: Freshness,
    now: float,
    *,
    hit: bool,
    detail: bytes | None = None,
    fwd: bytes | None = None,
    fwd_status: int | None = None,
) -> None:
    """Answer ``exchange`` from ``entry``: a 304 when the client's own conditional matches,
    else the stored response with its stored Date, a computed Age and Cache-Status."""
    request = exchange.request
    status_value = cache_status(
        cache.name,
        hit=hit,
        fwd=fwd,
        fwd_status=fwd_status,
        ttl=facts.ttl(now),
        detail=detail,
    )
    age = (b"age", b"%d" % int(facts.age(now)))
    if entry.status == 200 and not_modified(request.headers, entry.status, entry.headers):
        headers = [(n, v) for n, v in entry.headers if n in _NOT_MODIFIED_FIELDS]
        headers += (age, (b"cache-status", status_value))
        exchange.respond(Response(304, b"Not Modified", headers, content_length=0))
        exchange.finish()
        return
    headers = [(n, v) for n, v in client_headers(entry.headers) if n != b"age"]
    headers += (age, (b"cache-status", status_value))
    wanted = requested_range(request.headers, entry.length, entry.headers)
    if entry.status != 200 or request.method != b"GET":
        wanted = None
    if wanted == UNSATISFIABLE:
        headers.append((b"content-range", b"bytes */%d" % entry.length))
        exchange.respond(Response(416, b"Range Not Satisfiable", headers, content_length=0))
        exchange.finish()
        return
    status, reason, length = entry.status, entry.reason, entry.length
    target: BodyTarget = exchange
    if wanted is not None:
        first, last = wanted
        headers.append((b"content-range", b"bytes %d-%d/%d" % (first, last, length)))
        status, reason, length = 206, b"Partial Content", last - first + 1
        target = SliceTarget(exchange, first, last)
    exchange.respond(Response(status, reason, headers, content_length=length))
    if request.method == b"HEAD" or not entry.length:
        exchange.finish()
        return
    cache.store.send_body(entry, target, lambda ok: _body_sent(exchange, ok))


def _body_sent(exchange: Exchange, ok: bool) -> None:
    if ok:
        exchange.finish()
    else:
        exchange.abort()  # the head is out: a short body is the only honest signal left


# -- filling from the upstream ---------------------------------------------------------------------


class Fill(_Served):
    """One request to the upstream on the cache's behalf: a miss, a revalidation of a stale
    variant, or a background refresh (``client`` is ``None``). It relays the response to the
    client while storing it, or turns it into an answer from the store (304, stale on
    error)."""

    writer: EntryWriter | None = None
    facts: Freshness | None = None  # of the response being stored
    relaying = False
    done = False
    _producer: IPushProducer | None = None

    def __init__(
        self,
        cache: CacheHandler,
        client: Exchange | None,
        key: bytes,
        entry: StoredResponse | None,
        rules: RequestRules,
        locked: bool,
        like: Exchange | None = None,
    ) -> None:
        self.cache = cache
        self.client = client
        self.key = key
        self.entry = entry
        self.rules = rules
        self.locked = locked
        origin = client if client is not None else like
        assert origin is not None
        self.origin_request = origin.request
        now = cache.reactor.seconds()
        self.request_time = now
        self.inner = CapturedExchange(origin.channel, self._upstream_request(), self, now, now)
        self.inner.front = origin.front
        if client is not None:
            client.log = self

    def _upstream_request(self) -> Request:
        """The request sent on: the client's (already through ProxyPass), without its own
        conditionals, with the stored variant's validators when revalidating, and with the
        Surrogate-Capability this cache answers to."""
        request = self.origin_request
        headers = [(n, v) for n, v in request.headers if n not in _CLIENT_CONDITIONALS]
        method = request.method
        entry = self.entry
        if entry is not None:
            headers += revalidation_headers(entry.headers)
        if self.client is None:
            method = b"GET"
            headers = [(n, v) for n, v in headers if n not in (b"cache-control", b"pragma")]
        headers.append(self.cache.capability)
        return Request(method, request.target, request.version, headers, keep_alive=True)

    def start(self) -> None:
        self.cache.upstream.handle(self.inner)

    # -- ResponseCapture -------------------------------------------------------------------------

    def captured_head(self, response: Response) -> None:
        cache = self.cache
        now = cache.reactor.seconds()
        entry = self.entry
        status = response.status
        if entry is not None and status == 304:
            merged = merge_304(entry.headers, response.headers)
            fresh = cache.store.freshen(entry, merged, self.request_time, now)
            self._answer_from(fresh, fwd=b"stale", fwd_status=304)
            return
        if entry is not None and status in _ERRORS and self._stale_allowed(entry, now):
            self._answer_from(entry, fwd=b"stale", fwd_status=status, detail=b"stale-if-error")
            return
        if response.header(b"date") is None:
            # RFC 9110 §6.6.1: a recipient with a clock dates what it caches or forwards.
            response.headers.append((b"date", format_http_date(now)))
        self.writer = self._writer(response, now)
        if self.writer is None:
            self._unlock()  # nothing will be stored: the herd need not wait for this body
        client = self.client
        if client is None or client.finished:
            return
        fwd = b"miss" if entry is None else b"stale"
        value = cache_status(
            cache.name,
            hit=False,
            fwd=fwd,
            fwd_status=status if entry is not None else None,
            stored=self.writer is not None,
        )
        headers = client_headers(response.headers)
        headers.append((b"cache-status", value))
        if (
            self.writer is not None
            and status == 200
            and not_modified(client.request.headers, status, response.headers)
        ):
            # The client's conditional matches what is being stored: answer it now and let
            # the body go only to the disk.
            headers = [(n, v) for n, v in headers if n in _NOT_MODIFIED_FIELDS]
            headers.append((b"cache-status", value))
            client.respond(Response(304, b"Not Modified", headers, content_length=0))
            client.finish()
            return
        relayed = Response(
            status,
            response.reason,
            headers,
            content_length=response.content_length,
            chunked=response.chunked,
        )
        relayed.length_header = response.length_header
        self.relaying = True
        client.respond(relayed)
        if self._producer is not None:
            client.register_producer(_Pacing(self, self._producer))

    def captured_data(self, data: bytes) -> None:
        writer = self.writer
        if writer is not None and not writer.write(data):
            self.writer = None
        if self.relaying:
            client = self.client
            assert client is not None
            client.write(data)

    def captured_flush(self) -> None:
        if self.relaying:
            client = self.client
            assert client is not None
            client.flush()

    def captured_producer(self, producer: IPushProducer | None) -> None:
        self._producer = producer
        client = self.client
        if self.relaying and client is not None and not client.finished:
            if producer is None:
                client.unregister_producer()
            else:
                client.register_producer(_Pacing(self, producer))

    def captured_end(self) -> None:
        writer, self.writer = self.writer, None
        if writer is not None:
            stored = writer.finish()
            if stored is not None:
                stored.facts = self.facts
            if stored is not None and self.entry is not None and stored is not self.entry:
                if stored.variant != self.entry.variant:
                    self.cache.store.remove_entry(self.entry)
        if self.relaying:
            client = self.client
            assert client is not None
            client.finish()
        self._over()

    def captured_failed(self) -> None:
        writer, self.writer = self.writer, None
        if writer is not None:
            writer.abort()
        client = self.client
        if client is not None and not client.finished:
            if self.relaying:
                client.abort()
            else:
                entry = self.entry
                now = self.cache.reactor.seconds()
                if entry is not None and self._stale_allowed(entry, now):
                    self._answer_from(entry, fwd=b"stale", detail=b"stale-if-error")
                else:
                    request = client.request
                    client.send_raw(error_page(502, close=not request.keep_alive))
        self._over()

    # -- helpers ---------------------------------------------------------------------------------

    def _writer(self, response: Response, now: float) -> EntryWriter | None:
        """A store writer when the response may be stored, else ``None``."""
        cache = self.cache
        settings = cache.settings
        request = self.origin_request
        if request.method != b"GET" or self.rules.no_store or not cache.store.ready:
            return None
        if response.content_length is not None and response.content_length > settings.max_object:
            return None
        headers = response.headers
        kept = [
            (n, v)
            for n, v in stored_headers(headers, cache.name, settings)
            if n != b"content-length"
        ]
        # Worked out once, on what will be stored: it decides storing, then serves every hit.
        facts = freshness(response.status, kept, settings, cache.name, self.request_time, now)
        reason = storable(
            b"GET",
            response.status,
            request.headers,
            headers,
            facts.rules,
            settings,
            bool(request.query),
        )
        if reason is not None:
            return None
        fields = vary_fields(headers)
        if fields is None:
            return None
        self.facts = facts
        return cache.store.writer(
            self.key,
            secondary_key(fields, request.headers),
            fields,
            response.status,
            response.reason,
            kept,
            self.request_time,
            now,
        )

    def _stale_allowed(self, entry: StoredResponse, now: float) -> bool:
        facts = self.cache.facts(entry)
        return stale_on_error(facts, self.rules, now, self.cache.settings.stale_on_error)

    def _answer_from(
        self,
        entry: StoredResponse,
        *,
        fwd: bytes,
        fwd_status: int | None = None,
        detail: bytes | None = None,
    ) -> None:
        """Answer the client from the store instead of relaying (after a 304, or instead of
        an error); the upstream's own body, if any, is dropped as it comes."""
        client = self.client
        if client is None or client.finished:
            return
        cache = self.cache
        now = cache.reactor.seconds()
        serve(
            cache,
            client,
            entry,
            cache.facts(entry),
            now,
            hit=False,
            fwd=fwd,
            fwd_status=fwd_status,
            detail=detail,
        )

    def _over(self) -> None:
        if self.done:
            return
        self.done = True
        self._unlock()
        self.cache.upstream.exchange_ended(self.inner)

    def _unlock(self) -> None:
        lock = self.cache.lock
        if self.locked and lock is not None:
            self.locked = False
            lock.release(self.key)

    def client_gone(self) -> None:
        """The client left: the fill goes on (the response is still worth storing), but
        nothing is relayed any more."""
        self.relaying = False


@implementer(IPushProducer)
class _Pacing:
    """The server connection as the client's producer: a slow client pauses it, but a
    client that goes away stops it only when nothing is being stored; otherwise the fill
    resumes at full speed and completes the stored copy."""

    def __init__(self, fill: Fill, producer: IPushProducer) -> None:
        self.fill = fill
        self.producer = producer

    def pauseProducing(self) -> None:
        self.producer.pauseProducing()

    def resumeProducing(self) -> None:
        self.producer.resumeProducing()

    def stopProducing(self) -> None:
        fill = self.fill
        fill.relaying = False
        if fill.writer is None:
            self.producer.stopProducing()
        else:
            self.producer.resumeProducing()
