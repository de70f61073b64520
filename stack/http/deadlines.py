"""Connection timeouts as deadlines checked by one periodic scan.

A ``callLater`` per request and per timer kind costs a heap push and a DelayedCall object on
the hot path; HAProxy-style timeouts only need to fire within a fraction of a second, so each
connection stores one ``deadline`` float (reactor time) and a single ticker wakes up every
``resolution`` seconds to expire the overdue ones. Time comes from the injected reactor, so
tests drive it with ``task.Clock``.
"""

from __future__ import annotations

from typing import Protocol

from twisted.internet.interfaces import IReactorTime
from twisted.internet.task import LoopingCall


class HasDeadline(Protocol):
    deadline: float | None

    def deadline_expired(self, now: float) -> None: ...


class Deadlines:
    """The set of objects whose ``deadline`` the ticker watches."""

    def __init__(self, reactor: IReactorTime, resolution: float = 0.1) -> None:
        self._reactor = reactor
        self.now = reactor.seconds  # bound once: read many times per request
        self._resolution = resolution
        self._watched: set[HasDeadline] = set()
        self._ticker: LoopingCall | None = None

    def watch(self, obj: HasDeadline) -> None:
        self._watched.add(obj)
        if self._ticker is None:
            ticker = LoopingCall(self._tick)
            ticker.clock = self._reactor
            ticker.start(self._resolution, now=False)
            self._ticker = ticker

    def unwatch(self, obj: HasDeadline) -> None:
        self._watched.discard(obj)
        if not self._watched and self._ticker is not None:
            self._ticker.stop()
            self._ticker = None

    def _tick(self) -> None:
        now = self._reactor.seconds()
        expired = [obj for obj in self._watched if obj.deadline is not None and obj.deadline <= now]
        for obj in expired:
            obj.deadline = None
            obj.deadline_expired(now)

    def __len__(self) -> int:
        return len(self._watched)
