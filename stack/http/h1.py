"""Sans-IO HTTP/1.1 framing: bytes in, message events out, with strict rules on top of llhttp.

llhttp (through httptools) already rejects the classic desync vectors: CL with TE, duplicate or
malformed Content-Length, obfuscated Transfer-Encoding, bad chunk sizes, bare LF, obs-fold, spaces
before the colon and NUL/CR in values. This module adds what llhttp leaves to the application:
Host rules (RFC 9112 §3.2), size limits (431/414), target forms and dot-segments, and the parts of
keep-alive and Upgrade handling a proxy needs. Nothing here touches a socket or a clock: a
connection feeds bytes and receives calls on its sink.
"""

from __future__ import annotations

from typing import Protocol

import httptools

from stack.config.model import Limits
from stack.http.message import Headers, Request, Response, set_host


class ProtocolError(Exception):
    """The peer broke HTTP: answer ``status`` (when it is a client) and close."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class RequestSink(Protocol):
    def request_received(self, request: Request) -> None: ...
    def request_body(self, data: bytes) -> None: ...
    def request_complete(self) -> None: ...


class ResponseSink(Protocol):
    def response_received(self, response: Response) -> None: ...
    def response_body(self, data: bytes) -> None: ...
    def response_complete(self) -> None: ...


# The headers that decide a request's framing and handling, looked at once per request.
_FRAMING = frozenset({b"content-length", b"transfer-encoding", b"expect", b"upgrade"})
_VERSIONS = {"1.1": b"1.1", "1.0": b"1.0"}

# Connection options a proxy never forwards (RFC 9110 §7.6.1), besides the ones Connection names.
HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
        b"http2-settings",
    }
)


def connection_tokens(headers: Headers) -> set[bytes]:
    """The lowercased options listed in every Connection header."""
    tokens: set[bytes] = set()
    for name, value in headers:
        if name == b"connection":
            for token in value.split(b","):
                token = token.strip().lower()
                if token:
                    tokens.add(token)
    return tokens


def strip_hop_by_hop(headers: Headers, keep_upgrade: bool = False, drop: bytes = b"") -> Headers:
    """A copy of ``headers`` without the hop-by-hop ones, every header Connection names, and
    ``drop`` (a framing header the caller sets itself).

    ``keep_upgrade`` keeps ``Upgrade`` when a tunnel (websocket) is being set up end to end.
    The usual case (no Connection header) is one pass with no set built.
    """
    out = []
    named: set[bytes] | None = None
    for item in headers:
        name = item[0]
        if name in HOP_BY_HOP or name == drop:
            if name == b"connection" and named is None:
                named = connection_tokens(headers)
                named.discard(b"cache-control")  # RFC 9110 §7.6.1: never a connection option
                if keep_upgrade:
                    named.discard(b"upgrade")
            if keep_upgrade and name == b"upgrade":
                out.append(item)
            continue
        out.append(item)
    if named:
        out = [item for item in out if item[0] not in named]
    return out


def _dot_segments(path: bytes) -> bytes | None:
    """``path`` with ``.``/``..`` segments (also as ``%2e``) removed, or ``None`` when a ``..``
    climbs above the root. Paths without dots are returned unchanged (the fast case)."""
    if b"." not in path and b"%2" not in path:
        return path
    segments = path.split(b"/")
    out: list[bytes] = []
    changed = False
    for seg in segments[1:]:
        plain = seg.replace(b"%2e", b".").replace(b"%2E", b".") if b"%" in seg else seg
        if plain == b".":
            changed = True
            continue
        if plain == b"..":
            changed = True
            if not out:
                return None
            out.pop()
            continue
        out.append(seg)
    if not changed:
        return path
    trailing = segments[-1] in (b".", b"..", b"%2e", b"%2E", b"%2e%2e", b"%2E%2E")
    result = b"/" + b"/".join(out)
    if trailing and not result.endswith(b"/"):
        result += b"/"
    return result


class RequestParser:
    """Parses requests from a client connection and calls its sink.

    Raises ``ProtocolError`` from ``feed`` on anything that must be refused; the connection
    then answers the status and closes. After a request announcing ``Connection: close`` (or an
    HTTP/1.0 request without keep-alive) nothing more is parsed: the rest is discarded, so a
    pipelined request smuggled behind it is never seen.
    """

    __slots__ = (
        "_closed",
        "_head_bytes",
        "_head_limit",
        "_headers",
        "_host_count",
        "_in_head",
        "_max_headers",
        "_max_line",
        "_parser",
        "_request",
        "_sink",
        "_size",
        "_url",
        "upgraded",
    )

    def __init__(self, sink: RequestSink, limits: Limits) -> None:
        self._sink = sink
        self._max_line = limits.max_request_line
        self._head_limit = limits.max_header_bytes + limits.max_request_line
        self._max_headers = limits.max_headers
        self._parser = self._new_parser()
        self._headers: Headers = []
        self._url = b""
        self._in_head = False
        self._head_bytes = 0
        self._size = 0  # request line and header fields of the head being parsed
        self._host_count = 0
        self._request: Request | None = None
        self._closed = False
        self.upgraded = b""

    def _new_parser(self) -> httptools.HttpRequestParser:
        parser = httptools.HttpRequestParser(self)
        # We stop at Connection: close ourselves; llhttp would otherwise raise on the rest.
        parser.set_dangerous_leniencies(lenient_data_after_close=True)
        return parser

    @property
    def in_head(self) -> bool:
        """A request head has started and is not complete (for ``timeout http-request``)."""
        return self._in_head

    def feed(self, data: bytes) -> None:
        if self._closed:
            return
        # Bound what llhttp buffers for one unfinished head: count every chunk fed while a
        # head is in progress (never body bytes); a head's first chunk is bounded by the read.
        continuing = self._in_head
        if continuing:
            self._head_bytes += len(data)
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade as exc:
            offset = exc.args[0]
            self._after_upgrade(data[offset:])
        except httptools.HttpParserCallbackError as exc:
            cause = exc.__context__
            if isinstance(cause, ProtocolError):
                raise cause from None
            raise ProtocolError(400, f"bad request: {exc}") from None
        except httptools.HttpParserInvalidMethodError:
            raise ProtocolError(400, "invalid method") from None
        except httptools.HttpParserError as exc:
            raise ProtocolError(400, f"bad request: {exc}") from None
        if continuing and self._in_head and self._head_bytes > self._head_limit:
            if not self._headers and len(self._url) + len(data) > self._max_line:
                raise ProtocolError(414, "request URI too long")
            raise ProtocolError(431, "request header fields too large")

    def _after_upgrade(self, rest: bytes) -> None:
        request = self._request
        if request is not None and request.upgrade is not None:
            # A tunnel: everything after the head belongs to it.
            self._closed = True
            self.upgraded = rest
            return
        # Upgrade offered but not taken (h2c and friends): carry on with a fresh parser.
        self._parser = self._new_parser()
        if rest:
            self.feed(rest)

    # -- llhttp callbacks ------------------------------------------------------------------------

    def on_message_begin(self) -> None:
        self._in_head = True
        self._head_bytes = 0
        self._size = 0
        self._headers = []
        self._url = b""
        self._host_count = 0
        self._request = None

    def on_url(self, url: bytes) -> None:
        url = self._url + url
        self._url = url
        if len(url) > self._max_line:
            raise ProtocolError(414, "request URI too long")

    def on_header(self, name: bytes, value: bytes) -> None:
        if self._request is not None:
            return  # a trailer field after a chunked body: dropped, never forwarded
        headers = self._headers
        if len(headers) >= self._max_headers:
            raise ProtocolError(431, "too many header fields")
        name = name.lower()
        if name == b"host":
            self._host_count += 1
        value = value.rstrip(b" \t")
        self._size += len(name) + len(value) + 4
        headers.append((name, value))

    def on_headers_complete(self) -> None:
        parser = self._parser
        headers = self._headers
        url = self._url
        if len(url) + self._size > self._head_limit:
            raise ProtocolError(431, "request header fields too large")
        version = _VERSIONS.get(parser.get_http_version())
        if version is None:
            raise ProtocolError(505, "HTTP version not supported")
        method = parser.get_method()
        if (
            self._host_count == 1
            and url[:1] == b"/"
            and url.find(b"/.") < 0  # find, not "in": a third of the cost on short bytes
            and url.find(b"%2") < 0
        ):
            target = url  # the usual origin-form target: no dot segment can hide in it
        else:
            target = self._target(method, url, headers, version)
        content_length: int | None = 0
        chunked = False
        expect = False
        upgrade = None
        for name, value in headers:
            if name in _FRAMING:
                if name == b"content-length":
                    content_length = int(value)  # llhttp validated it is one decimal number
                elif name == b"transfer-encoding":
                    if version == b"1.0":
                        raise ProtocolError(400, "Transfer-Encoding in an HTTP/1.0 request")
                    chunked = True
                elif name == b"expect":
                    if value.lower() != b"100-continue":
                        raise ProtocolError(417, "unsupported expectation")
                    expect = version == b"1.1"
                elif parser.should_upgrade() and value.lower().startswith(b"websocket"):
                    upgrade = value
        if chunked:
            content_length = None
        request = Request(
            method,
            target,
            version,
            headers,
            parser.should_keep_alive(),
            content_length,
            chunked,
            expect,
            upgrade,
        )
        self._request = request
        self._in_head = False
        self._head_bytes = 0
        self._sink.request_received(request)

    def _target(self, method: bytes, url: bytes, headers: Headers, version: bytes) -> bytes:
        if version == b"1.1" and self._host_count == 0:
            raise ProtocolError(400, "missing Host header")
        if self._host_count > 1:
            raise ProtocolError(400, "duplicate Host header")
        if url[:1] == b"/":
            target = url
        elif url[:7].lower() == b"http://" or url[:8].lower() == b"https://":
            # Absolute form: its authority wins over Host (RFC 9112 §3.2.2).
            rest = url.split(b"://", 1)[1]
            slash = rest.find(b"/")
            query = rest.find(b"?")
            cut = min(i for i in (slash, query, len(rest)) if i >= 0)
            authority, target = rest[:cut], rest[cut:]
            if not authority or b"@" in authority:
                raise ProtocolError(400, "invalid absolute-form authority")
            if not target.startswith(b"/"):
                target = b"/" + target
            set_host(headers, authority)
        elif url == b"*" and method == b"OPTIONS":
            return url
        else:
            raise ProtocolError(400, "invalid request target")
        q = target.find(b"?")
        path = target if q < 0 else target[:q]
        normal = _dot_segments(path)
        if normal is None:
            raise ProtocolError(400, "path climbs above the root")
        if normal is not path:
            target = normal if q < 0 else normal + target[q:]
        return target

    def on_body(self, body: bytes) -> None:
        self._sink.request_body(body)

    def on_message_complete(self) -> None:
        request = self._request
        if request is not None and not request.keep_alive:
            self._closed = True
        if request is not None and request.upgrade is not None:
            return  # the tunnel takes over at HttpParserUpgrade
        self._sink.request_complete()


class ResponseParser:
    """Parses responses from a backend connection and calls its sink.

    The caller says when the response answers a HEAD (no body whatever the headers say) with
    ``expect_response(head=True)``; ``eof()`` completes a close-delimited body. A malformed
    response raises ``ProtocolError(502)``.
    """

    __slots__ = (
        "_done",
        "_head",
        "_headers",
        "_in_message",
        "_max_headers",
        "_parser",
        "_reason",
        "_response",
        "_sink",
        "_until_close",
    )

    def __init__(self, sink: ResponseSink, max_headers: int = 101) -> None:
        self._sink = sink
        self._max_headers = max_headers
        self._parser = httptools.HttpResponseParser(self)
        self._head = False
        self._headers: Headers = []
        self._reason = b""
        self._response: Response | None = None
        self._in_message = False
        self._done = False
        self._until_close = False

    def expect_response(self, head: bool = False) -> None:
        """Arm the parser for the response to the next request."""
        self._head = head
        self._done = False

    @property
    def in_message(self) -> bool:
        return self._in_message

    def feed(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserCallbackError as exc:
            cause = exc.__context__
            if isinstance(cause, ProtocolError):
                raise cause from None
            raise
        except httptools.HttpParserUpgrade as exc:
            # 101 Switching Protocols: what follows the head is tunnel data.
            rest = data[exc.args[0] :]
            if rest:
                self._sink.response_body(rest)
        except httptools.HttpParserError as exc:
            raise ProtocolError(502, f"invalid response from server: {exc}") from None

    def eof(self) -> bool:
        """The server closed. Returns True if that completed a close-delimited response."""
        # Judged from the head as received: a proxy may re-frame the Response it was
        # handed (chunked towards an HTTP/1.1 client) without changing how this body ends.
        if self._in_message and self._until_close:
            self._in_message = False
            self._sink.response_complete()
            return True
        return False

    def on_message_begin(self) -> None:
        if self._done:
            raise ProtocolError(502, "data after the response")
        self._in_message = True
        self._headers = []
        self._reason = b""
        self._response = None

    def on_status(self, reason: bytes) -> None:
        self._reason += reason

    def on_header(self, name: bytes, value: bytes) -> None:
        if self._response is not None:
            return  # trailer
        headers = self._headers
        if len(headers) >= self._max_headers:
            raise ProtocolError(502, "too many header fields in response")
        headers.append((name.lower(), value.rstrip(b" \t")))

    def on_headers_complete(self) -> None:
        parser = self._parser
        status = parser.get_status_code()
        headers = self._headers
        content_length: int | None = None
        chunked = False
        coded = False
        for name, value in headers:
            if name == b"content-length":
                content_length = int(value)
            elif name == b"transfer-encoding":
                # Framing follows the last coding: chunked, or else the body runs to the
                # close (RFC 9112 §6.3), as llhttp reads it.
                coded = True
                chunked = value.rpartition(b",")[2].strip().lower() == b"chunked"
        length_header = content_length is not None and not coded
        if chunked:
            content_length = None
        head = self._head
        if head or status < 200 or status == 204 or status == 304:
            content_length = 0
            chunked = False
        response = Response(
            status,
            self._reason,
            headers,
            parser.should_keep_alive(),
            content_length,
            chunked,
        )
        response.length_header = length_header
        self._until_close = content_length is None and not chunked
        self._response = response
        self._sink.response_received(response)
        if head and status >= 200:
            # llhttp cannot be told to skip a HEAD response's body: end it here and use a
            # fresh parser for the next exchange.
            self._in_message = False
            self._done = True
            self._parser = httptools.HttpResponseParser(self)
            self._sink.response_complete()

    def on_body(self, body: bytes) -> None:
        if self._done:
            raise ProtocolError(502, "body after a HEAD response")
        self._sink.response_body(body)

    def on_message_complete(self) -> None:
        response = self._response
        if self._done:
            return
        self._in_message = False
        if response is not None and 100 <= response.status < 200 and response.status != 101:
            return  # interim response: the final one follows
        self._done = True
        self._sink.response_complete()


# -- serialisation ---------------------------------------------------------------------------------

_REASONS = {
    100: b"Continue",
    101: b"Switching Protocols",
    200: b"OK",
    301: b"Moved Permanently",
    302: b"Found",
    303: b"See Other",
    307: b"Temporary Redirect",
    308: b"Permanent Redirect",
    400: b"Bad Request",
    401: b"Unauthorized",
    403: b"Forbidden",
    404: b"Not Found",
    405: b"Method Not Allowed",
    408: b"Request Timeout",
    413: b"Payload Too Large",
    414: b"URI Too Long",
    417: b"Expectation Failed",
    421: b"Misdirected Request",
    429: b"Too Many Requests",
    431: b"Request Header Fields Too Large",
    500: b"Internal Server Error",
    501: b"Not Implemented",
    502: b"Bad Gateway",
    503: b"Service Unavailable",
    504: b"Gateway Timeout",
    505: b"HTTP Version Not Supported",
}


def reason_phrase(status: int) -> bytes:
    return _REASONS.get(status, b"Unknown")


def request_head(request: Request, headers: Headers) -> bytes:
    """The request head to send a server: always HTTP/1.1 with CRLF line ends."""
    parts = [request.method, b" ", request.target, b" HTTP/1.1\r\n"]
    for name, value in headers:
        parts += (name, b": ", value, b"\r\n")
    parts.append(b"\r\n")
    return b"".join(parts)


def response_head(status: int, reason: bytes, headers: Headers) -> bytes:
    parts = [b"HTTP/1.1 %d " % status, reason, b"\r\n"]
    for name, value in headers:
        parts += (name, b": ", value, b"\r\n")
    parts.append(b"\r\n")
    return b"".join(parts)


def chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


LAST_CHUNK = b"0\r\n\r\n"
