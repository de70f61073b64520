"""One edge's cache as a Twisted service: the store opened at start, closed at stop, one
CacheLock shared by the edge's routes, and the runtime API's cache commands.

Every ``proxy-pass`` of an edge with ``cache = on`` gets a :class:`CacheHandler` in front of
its upstream; they share one store, since keys are public URLs and cannot collide across
routes, and purging a URL must not depend on which route served it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from twisted.application.service import Service

from stack.config.model import EdgeCache
from stack.edge.cache.handler import CacheHandler
from stack.edge.cache.lock import CacheLock
from stack.edge.cache.store import CacheStore
from stack.http.server import RequestHandler

CacheLog = Callable[[str, str], None]  # (level: info|warn|error, message)


class EdgeCacheService(Service):
    """The store, the lock and the handlers of one edge's cache."""

    def __init__(self, settings: EdgeCache, reactor: Any, log: CacheLog, name: str = "") -> None:
        self.settings = settings
        self.reactor = reactor
        self.name = name
        self.log = log
        self.store = CacheStore(
            settings.directory,
            reactor,
            size_limit=settings.size,
            memory_limit=settings.memory,
            max_object=settings.max_object,
            clean_interval=settings.clean_interval,
            log=lambda message: log("warn", message),
        )
        self.lock = (
            CacheLock(reactor, settings.lock_max_age, settings.lock_max_waiters)
            if settings.lock
            else None
        )
        self.handlers: list[CacheHandler] = []
        self.earlier = (0, 0)  # hits and misses of the handlers before the last reload

    def handler_for(self, upstream: RequestHandler) -> CacheHandler:
        handler = CacheHandler(self.settings, self.store, upstream, self.reactor, self.lock)
        self.handlers.append(handler)
        return handler

    def forget_handlers(self) -> None:
        """A reload builds new handlers over this store: keep the old ones' figures only."""
        hits, misses = self.earlier
        self.earlier = (
            hits + sum(h.hits for h in self.handlers),
            misses + sum(h.misses for h in self.handlers),
        )
        self.handlers = []

    def startService(self) -> None:
        super().startService()
        d = self.store.start()
        d.addCallback(self._loaded)
        d.addErrback(self._failed)

    def _loaded(self, _: object) -> None:
        store = self.store
        self.log(
            "info",
            f"{store.entries} stored responses ({store.bytes} bytes) in {self.settings.directory}",
        )

    def _failed(self, failure: Any) -> None:
        self.log(
            "error",
            f"cannot use {self.settings.directory}: {failure.getErrorMessage()}; "
            "requests go to the backend uncached",
        )

    def stopService(self) -> Any:
        self.store.stop()
        return super().stopService()

    # -- runtime API -----------------------------------------------------------------------------

    def show(self) -> str:
        """``show cache``: one line per edge cache, as HAProxy's ``show cache`` lists caches."""
        store = self.store
        hits = self.earlier[0] + sum(h.hits for h in self.handlers)
        misses = self.earlier[1] + sum(h.misses for h in self.handlers)
        return (
            f"{self.name}: entries={store.entries} bytes={store.bytes} "
            f"size-limit={self.settings.size} hits={hits} misses={misses} "
            f"root={self.settings.directory}\n"
        )

    def purge(self, url: bytes, prefix: bool) -> int:
        if prefix:
            return self.store.purge_prefix(url)
        return self.store.remove(url)
