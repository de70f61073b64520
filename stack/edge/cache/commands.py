"""The runtime API's cache commands: ``show cache``, ``purge cache URL`` and
``purge cache prefix URL``.

HAProxy 2.6 has ``show cache`` and no purge; an Apache operator purges with ``htcacheclean -p
ROOT URL``, which only works on a cache no server is using. Here a purge reaches the running
caches, so a deploy can drop stale assets at once.
"""

from __future__ import annotations

from collections.abc import Sequence

from stack.edge.cache.service import EdgeCacheService
from stack.runtime.api import CommandError, RuntimeApi


def register_cache_commands(runtime: RuntimeApi, caches: Sequence[EdgeCacheService]) -> None:
    """Register the cache commands for every edge cache of this process."""

    def show(args: list[str]) -> str:
        if args:
            raise CommandError("'show cache' takes no argument.")
        if not caches:
            return "No cache configured.\n"
        return "".join(cache.show() for cache in caches)

    def purge(args: list[str]) -> str:
        prefix = bool(args) and args[0] == "prefix"
        if prefix:
            args = args[1:]
        if len(args) != 1 or "://" not in args[0]:
            raise CommandError(
                "Usage: purge cache [prefix] <url>, the public URL such as "
                "https://www.example.com/static/site.css"
            )
        url = args[0].encode()
        removed = sum(cache.purge(url, prefix) for cache in caches)
        return f"{removed} stored response{'s' * (removed != 1)} removed.\n"

    runtime.register(
        ("show", "cache"), show, level="operator", help="show the edge caches and their size"
    )
    runtime.register(
        ("purge", "cache"),
        purge,
        level="operator",
        help="drop a URL (or every URL under a prefix) from the edge caches",
        args="[prefix] <url>",
    )
