"""Byte ranges served from a stored complete response (RFC 9110 §14), as mod_cache does
through the byterange filter: one range per request; several ranges, or a Range the cache
cannot read, get the whole response, which RFC 9110 §14.2 allows."""

from __future__ import annotations

from twisted.internet.interfaces import IPushProducer

from stack.edge.cache.store import BodyTarget
from stack.http.message import Headers, first_header

UNSATISFIABLE = (-1, -1)


def requested_range(
    request_headers: Headers, length: int, stored_headers: Headers
) -> tuple[int, int] | None:
    """``(first, last)`` inclusive for a single satisfiable ``bytes=`` range,
    :data:`UNSATISFIABLE` for one that starts past the end, ``None`` to send everything
    (no Range, several ranges, a syntax error, or an If-Range that does not match)."""
    value = first_header(request_headers, b"range")
    if value is None:
        return None
    if_range = first_header(request_headers, b"if-range")
    if if_range is not None and not _if_range_matches(if_range, stored_headers):
        return None
    unit, _, spec = value.partition(b"=")
    if unit.strip().lower() != b"bytes" or b"," in spec:
        return None
    first_text, dash, last_text = spec.strip().partition(b"-")
    if not dash:
        return None
    first_text, last_text = first_text.strip(), last_text.strip()
    if not first_text:  # suffix: the last N bytes
        if not last_text.isdigit() or int(last_text) == 0:
            return None if not last_text.isdigit() else UNSATISFIABLE
        return max(0, length - int(last_text)), length - 1
    if not first_text.isdigit() or (last_text and not last_text.isdigit()):
        return None
    first = int(first_text)
    last = int(last_text) if last_text else length - 1
    if last_text and last < first:
        return None  # invalid: ignored, the whole response goes
    if first >= length:
        return UNSATISFIABLE
    return first, min(last, length - 1)


def _if_range_matches(if_range: bytes, stored_headers: Headers) -> bool:
    """If-Range needs a strong ETag match, or the exact Last-Modified date (RFC 9110
    §13.1.5)."""
    if if_range.startswith(b'"'):
        etag = first_header(stored_headers, b"etag")
        return etag is not None and not etag.startswith(b"W/") and etag == if_range
    return first_header(stored_headers, b"last-modified") == if_range


class SliceTarget:
    """Passes on only bytes ``first``..``last`` of a body streamed whole into it."""

    __slots__ = ("first", "last", "offset", "target")

    def __init__(self, target: BodyTarget, first: int, last: int) -> None:
        self.target = target
        self.first = first
        self.last = last
        self.offset = 0

    def write(self, data: bytes) -> None:
        start = self.offset
        end = start + len(data)
        self.offset = end
        if end <= self.first or start > self.last:
            return
        lo = max(self.first - start, 0)
        hi = min(self.last + 1 - start, len(data))
        self.target.write(data[lo:hi] if lo or hi < len(data) else data)

    def flush(self) -> None:
        self.target.flush()

    def register_producer(self, producer: IPushProducer) -> None:
        self.target.register_producer(producer)

    def unregister_producer(self) -> None:
        self.target.unregister_producer()
