"""Whether a stored response may answer now (RFC 9111 §4.2 to §4.2.4, RFC 5861), with time
from a Clock: the freshness facts are computed once at storing, then the clock moves."""

from __future__ import annotations

import math

import pytest
from twisted.internet.task import Clock

from stack.config.model import EdgeCache
from stack.edge.cache.policy import format_http_date, request_rules
from stack.edge.cache.reuse import Freshness, Verdict, freshness, reuse, stale_on_error
from stack.http.message import Headers

T0 = 1_800_000_000.0
SETTINGS = EdgeCache()


def stored(clock: Clock, *cache_control: bytes, extra: Headers | None = None) -> Freshness:
    headers: Headers = [(b"date", format_http_date(clock.seconds()))]
    headers += [(b"cache-control", value) for value in cache_control]
    headers += extra or []
    return freshness(200, headers, SETTINGS, b"stack", clock.seconds(), clock.seconds())


def verdict(facts: Freshness, clock: Clock, *request: tuple[bytes, bytes]) -> Verdict:
    return reuse(facts, request_rules(list(request), False), clock.seconds())


@pytest.fixture
def clock() -> Clock:
    c = Clock()
    c.advance(T0)
    return c


def test_fresh_until_max_age_then_revalidate(clock: Clock) -> None:
    facts = stored(clock, b"max-age=10")
    clock.advance(9.5)
    assert verdict(facts, clock) is Verdict.FRESH
    assert facts.age(clock.seconds()) == 9.5 and facts.ttl(clock.seconds()) == 0.5
    clock.advance(0.5)
    assert verdict(facts, clock) is Verdict.REVALIDATE


def test_age_from_the_origin_counts(clock: Clock) -> None:
    facts = stored(clock, b"max-age=10", extra=[(b"age", b"8")])
    clock.advance(1)
    assert verdict(facts, clock) is Verdict.FRESH
    clock.advance(1)
    assert verdict(facts, clock) is Verdict.REVALIDATE


def test_request_max_age_and_min_fresh(clock: Clock) -> None:
    facts = stored(clock, b"max-age=100")
    clock.advance(30)
    assert verdict(facts, clock, (b"cache-control", b"max-age=20")) is Verdict.REVALIDATE
    assert verdict(facts, clock, (b"cache-control", b"max-age=40")) is Verdict.FRESH
    assert verdict(facts, clock, (b"cache-control", b"min-fresh=80")) is Verdict.REVALIDATE
    assert verdict(facts, clock, (b"cache-control", b"min-fresh=60")) is Verdict.FRESH


@pytest.mark.parametrize(
    ("request_cc", "expected"),
    [
        (b"no-cache", Verdict.REVALIDATE),
        (b"max-stale", Verdict.STALE_ALLOWED),
        (b"max-stale=10", Verdict.STALE_ALLOWED),
        (b"max-stale=1", Verdict.REVALIDATE),
    ],
)
def test_client_directives_on_a_stale_response(
    clock: Clock, request_cc: bytes, expected: Verdict
) -> None:
    facts = stored(clock, b"max-age=1")
    clock.advance(5)
    assert verdict(facts, clock, (b"cache-control", request_cc)) is expected


def test_stale_while_revalidate_window(clock: Clock) -> None:
    facts = stored(clock, b"max-age=1, stale-while-revalidate=10")
    clock.advance(5)
    assert verdict(facts, clock) is Verdict.STALE_WHILE_REVALIDATE
    clock.advance(7)
    assert verdict(facts, clock) is Verdict.REVALIDATE


@pytest.mark.parametrize(
    "forbidding",
    [b"must-revalidate", b"proxy-revalidate", b"s-maxage=1", b"no-cache"],
)
def test_directives_that_forbid_stale_answers(clock: Clock, forbidding: bytes) -> None:
    facts = stored(clock, b"max-age=1, stale-while-revalidate=100, stale-if-error=100", forbidding)
    clock.advance(5)
    assert verdict(facts, clock, (b"cache-control", b"max-stale")) is Verdict.REVALIDATE
    rules = request_rules([], False)
    assert not stale_on_error(facts, rules, clock.seconds(), always=True)


def test_stale_if_error_window_and_cache_stale_on_error(clock: Clock) -> None:
    rules = request_rules([], False)
    windowed = stored(clock, b"max-age=1, stale-if-error=10")
    plain = stored(clock, b"max-age=1")
    clock.advance(5)
    assert stale_on_error(windowed, rules, clock.seconds(), always=False)
    assert not stale_on_error(plain, rules, clock.seconds(), always=False)
    assert stale_on_error(plain, rules, clock.seconds(), always=True)  # CacheStaleOnError on
    clock.advance(10)
    assert not stale_on_error(windowed, rules, clock.seconds(), always=True)  # past its window
    no_cache = request_rules([(b"cache-control", b"no-cache")], False)
    assert not stale_on_error(plain, no_cache, clock.seconds(), always=True)


def test_heuristic_freshness_from_last_modified(clock: Clock) -> None:
    modified = format_http_date(clock.seconds() - 1000)
    facts = stored(clock, extra=[(b"last-modified", modified)])
    assert facts.lifetime == pytest.approx(100)  # 10 % of (Date - Last-Modified)
    clock.advance(99)
    assert verdict(facts, clock) is Verdict.FRESH
    clock.advance(2)
    assert verdict(facts, clock) is Verdict.REVALIDATE


def test_no_freshness_at_all_is_never_fresh(clock: Clock) -> None:
    facts = stored(clock, b"no-cache", extra=[(b"etag", b'"x"')])
    assert verdict(facts, clock) is Verdict.REVALIDATE
    assert facts.lifetime < math.inf
