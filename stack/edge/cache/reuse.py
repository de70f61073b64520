"""Whether a stored response may answer a request now (RFC 9111 §4.2 to §4.2.4, RFC 5861).

A stored variant's freshness facts are worked out once, when it is stored or freshened
(``Freshness``), so a hit costs a subtraction and a few comparisons. ``reuse`` then weighs
them against the request's own directives and the clock, and says what the cache must do:
answer, answer and refresh in the background, or ask the origin.
"""

from __future__ import annotations

import math
from enum import Enum

from stack.config.model import EdgeCache
from stack.edge.cache.policy import (
    RequestRules,
    ResponseRules,
    freshness_lifetime,
    initial_age,
    response_rules,
)
from stack.http.message import Headers


class Verdict(Enum):
    FRESH = "fresh"  # serve it
    STALE_ALLOWED = "stale"  # serve it: the client accepts it stale (max-stale)
    STALE_WHILE_REVALIDATE = "swr"  # serve it, refresh it in the background
    REVALIDATE = "revalidate"  # ask the origin (conditionally when it has validators)


class Freshness:
    """What RFC 9111 needs to know about one stored variant, computed once."""

    __slots__ = ("initial_age", "lifetime", "response_time", "rules")

    def __init__(
        self,
        rules: ResponseRules,
        lifetime: float,
        initial_age: float,
        response_time: float,
    ) -> None:
        self.rules = rules
        self.lifetime = lifetime
        self.initial_age = initial_age
        self.response_time = response_time

    def age(self, now: float) -> float:
        """current_age (RFC 9111 §4.2.3)."""
        return self.initial_age + max(0.0, now - self.response_time)

    def ttl(self, now: float) -> float:
        """Seconds of freshness left (negative once stale)."""
        return self.lifetime - self.age(now)

    @property
    def may_serve_stale(self) -> bool:
        """must-revalidate, proxy-revalidate and s-maxage forbid stale answers to a shared
        cache (RFC 9111 §5.2.2.2, §5.2.2.8, §5.2.2.10); so does no-cache."""
        rules = self.rules
        return not (rules.must_revalidate or rules.no_cache or rules.s_maxage is not None)


def freshness(
    status: int,
    headers: Headers,
    settings: EdgeCache,
    name: bytes,
    request_time: float,
    response_time: float,
) -> Freshness:
    """The :class:`Freshness` of a response stored with ``headers``."""
    rules = response_rules(headers, name)
    lifetime = freshness_lifetime(status, headers, rules, settings, response_time)
    age = initial_age(headers, request_time, response_time)
    return Freshness(rules, lifetime, age, response_time)


def reuse(facts: Freshness, request: RequestRules, now: float) -> Verdict:
    """What to do with a stored variant that matches the request."""
    if facts.rules.no_cache or request.no_cache:
        return Verdict.REVALIDATE
    age = facts.age(now)
    lifetime = facts.lifetime
    if request.max_age is not None and age > request.max_age:
        return Verdict.REVALIDATE
    left = lifetime - age
    if left > 0:
        if request.min_fresh is None or left >= request.min_fresh:
            return Verdict.FRESH
        return Verdict.REVALIDATE
    if not facts.may_serve_stale:
        return Verdict.REVALIDATE
    staleness = -left
    if request.max_stale is not None and staleness <= request.max_stale:
        return Verdict.STALE_ALLOWED
    window = facts.rules.stale_while_revalidate
    if window is not None and staleness <= window:
        return Verdict.STALE_WHILE_REVALIDATE
    return Verdict.REVALIDATE


def stale_on_error(facts: Freshness, request: RequestRules, now: float, always: bool) -> bool:
    """Whether a stale variant may replace an error from the origin: within its
    ``stale-if-error`` window (RFC 5861 §4), or at any age when CacheStaleOnError is on;
    never when the response or the client forbids stale answers."""
    if not facts.may_serve_stale or request.no_cache:
        return False
    staleness = -facts.ttl(now)
    window = facts.rules.stale_if_error
    if window is not None:
        return staleness <= window
    if request.max_stale is not None and staleness <= request.max_stale:
        return True
    return always and (request.max_age is None or request.max_age == math.inf)
