"""HTTP/1.1 message heads as plain objects, shared by every tier.

Header names are stored lowercased, as HAProxy's HTX does and emits on HTTP/1 output; values are
the bytes received, without surrounding whitespace. Lists keep order and duplicates.
"""

from __future__ import annotations

Headers = list[tuple[bytes, bytes]]

# RFC 9110 §9.2.2: a request with one of these methods may be sent again after a failure.
IDEMPOTENT_METHODS = frozenset({b"GET", b"HEAD", b"OPTIONS", b"TRACE", b"PUT", b"DELETE"})


def first_header(headers: Headers, name: bytes) -> bytes | None:
    """The first value of header ``name`` (lowercase), or ``None``."""
    for key, value in headers:
        if key == name:
            return value
    return None


def set_host(headers: Headers, host: bytes) -> None:
    """Make ``host`` the request's Host: the first Host field replaced in place, or one added
    (the parser has already refused requests with two)."""
    for i, (key, _value) in enumerate(headers):
        if key == b"host":
            headers[i] = (b"host", host)
            return
    headers.append((b"host", host))


class Request:
    """A parsed request head.

    ``target`` is what will be forwarded: the origin-form path and query (an absolute-form
    target is split, its authority replacing Host, as RFC 9112 §3.2.2 requires). ``path`` is
    ``target`` up to ``?``. ``has_body`` is false for requests with neither Content-Length nor
    chunked framing; ``content_length`` is ``None`` when the body is chunked.
    """

    __slots__ = (
        "chunked",
        "content_length",
        "expect_continue",
        "has_body",
        "headers",
        "keep_alive",
        "method",
        "path",
        "query",
        "target",
        "upgrade",
        "version",
    )

    def __init__(
        self,
        method: bytes,
        target: bytes,
        version: bytes,
        headers: Headers,
        keep_alive: bool = True,
        content_length: int | None = 0,
        chunked: bool = False,
        expect_continue: bool = False,
        upgrade: bytes | None = None,
    ) -> None:
        self.method = method
        self.target = target
        self.version = version
        self.headers = headers
        self.keep_alive = keep_alive
        self.content_length = content_length
        self.chunked = chunked
        self.expect_continue = expect_continue
        self.upgrade = upgrade
        self.has_body = chunked or bool(content_length)
        q = target.find(b"?")
        if q < 0:
            self.path = target
            self.query = b""
        else:
            self.path = target[:q]
            self.query = target[q + 1 :]

    def header(self, name: bytes) -> bytes | None:
        """The first value of header ``name`` (lowercase), or ``None``."""
        return first_header(self.headers, name)

    def header_values(self, name: bytes) -> list[bytes]:
        """Every value of header ``name`` (lowercase), comma-separated lists split."""
        out: list[bytes] = []
        for key, value in self.headers:
            if key == name:
                out.extend(v.strip() for v in value.split(b","))
        return out

    def set_target(self, target: bytes) -> None:
        """Replace the target and keep ``path``/``query`` in step."""
        self.target = target
        q = target.find(b"?")
        self.path, self.query = (target, b"") if q < 0 else (target[:q], target[q + 1 :])

    def __repr__(self) -> str:
        return f"<Request {self.method.decode()} {self.target!r} HTTP/{self.version.decode()}>"


class Response:
    """A parsed or generated response head.

    ``length_header``: ``headers`` already hold the ``content-length`` to send (a proxy
    forwards the server's in place, as HAProxy does, even for HEAD where ``content_length``,
    the body to expect, is 0); otherwise the engine adds one from ``content_length``.
    """

    __slots__ = (
        "chunked",
        "content_length",
        "headers",
        "keep_alive",
        "length_header",
        "reason",
        "status",
    )

    def __init__(
        self,
        status: int,
        reason: bytes,
        headers: Headers,
        keep_alive: bool = True,
        content_length: int | None = None,
        chunked: bool = False,
    ) -> None:
        self.status = status
        self.reason = reason
        self.headers = headers
        self.keep_alive = keep_alive
        self.content_length = content_length
        self.chunked = chunked
        self.length_header = False

    def header(self, name: bytes) -> bytes | None:
        return first_header(self.headers, name)

    def __repr__(self) -> str:
        return f"<Response {self.status} {self.reason!r}>"
