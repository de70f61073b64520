"""CacheLock: concurrent misses for one URL wait for the first one's fill.

mod_cache's lock only stops concurrent *stores*; here the herd itself is held back, as RFC
9111 §4 allows ("combine multiple incoming requests into a single forward one"): the first
miss fetches, the others wait and then look the cache up again. The wait is bounded twice,
as CacheLockMaxAge bounds Apache's: a lock older than ``max_age`` no longer holds anyone (its
fill may be a slow download nobody should queue behind), and at most ``max_waiters`` requests
wait on one key; the rest go to the backend themselves.
"""

from __future__ import annotations

from collections.abc import Callable

from twisted.internet.interfaces import IDelayedCall, IReactorTime


class _Held:
    __slots__ = ("since", "timer", "waiters")

    def __init__(self, since: float) -> None:
        self.since = since
        self.waiters: list[Callable[[], None]] = []
        self.timer: IDelayedCall | None = None


class CacheLock:
    """Per-key fill locks with bounded waiting lists."""

    def __init__(self, reactor: IReactorTime, max_age: float, max_waiters: int) -> None:
        self.reactor = reactor
        self.max_age = max_age
        self.max_waiters = max_waiters
        self._held: dict[bytes, _Held] = {}

    def __len__(self) -> int:
        return len(self._held)

    def held(self, key: bytes) -> bool:
        held = self._held.get(key)
        return held is not None and self.reactor.seconds() - held.since < self.max_age

    def acquire(self, key: bytes) -> bool:
        """Take the lock for a fill of ``key``; False while another fill holds it. A lock
        past ``max_age`` is taken over (its waiters are released first)."""
        now = self.reactor.seconds()
        held = self._held.get(key)
        if held is not None:
            if now - held.since < self.max_age:
                return False
            self._wake(key, held)
        self._held[key] = _Held(now)
        return True

    def wait(self, key: bytes, resume: Callable[[], None]) -> bool:
        """Queue ``resume`` until the fill of ``key`` ends (or the lock ages out). False when
        nothing holds the key or the waiting list is full: the caller goes ahead itself."""
        held = self._held.get(key)
        if held is None or len(held.waiters) >= self.max_waiters:
            return False
        remaining = self.max_age - (self.reactor.seconds() - held.since)
        if remaining <= 0:
            return False
        held.waiters.append(resume)
        if held.timer is None:
            held.timer = self.reactor.callLater(remaining, self._expired, key, held)
        return True

    def release(self, key: bytes) -> None:
        """The fill of ``key`` is over (stored or not): every waiter looks again."""
        held = self._held.pop(key, None)
        if held is not None:
            self._wake(key, held)

    def _expired(self, key: bytes, held: _Held) -> None:
        held.timer = None
        waiters, held.waiters = held.waiters, []
        for resume in waiters:
            resume()

    def _wake(self, key: bytes, held: _Held) -> None:
        if self._held.get(key) is held:
            del self._held[key]
        if held.timer is not None and held.timer.active():
            held.timer.cancel()
        held.timer = None
        waiters, held.waiters = held.waiters, []
        for resume in waiters:
            self.reactor.callLater(0, resume)
