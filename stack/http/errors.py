"""The error responses stack generates itself, byte for byte as HAProxy 2.6 sends them.

Operators grep and monitor these bodies, and ``errorfile`` replaces them with raw HTTP
responses, so the built-in ones are kept as complete raw responses too.
"""

from __future__ import annotations

from stack.http.h1 import reason_phrase
from stack.http.message import Request

_MESSAGES = {
    400: b"Your browser sent an invalid request.",
    401: b"You need a valid user and password to access this content.",
    403: b"Request forbidden by administrative rules.",
    404: b"The resource could not be found.",
    405: b"A request was made of a resource using a request method not supported by that resource",
    407: b"You need a valid user and password to access this content.",
    408: b"Your browser didn't send a complete request in time.",
    410: b"The resource is no longer available and will not be available again.",
    413: b"The request entity exceeds the maximum allowed size.",
    414: b"The request URI is too long.",
    417: b"The expectation given in the Expect header could not be met.",
    425: b"Your browser sent early data.",
    429: b"You have sent too many requests in a given amount of time.",
    431: b"The request header fields are too large.",
    500: b"An internal server error occurred.",
    501: b"The server does not support the functionality required to fulfill the request.",
    502: b"The server returned an invalid or incomplete response.",
    503: b"No server is available to handle this request.",
    504: b"The server didn't respond in time.",
    505: b"The HTTP version of the request is not supported.",
}


# HAProxy's own reason phrases (src/http.c), where they differ from the RFC ones.
_HAPROXY_REASONS = {
    400: b"Bad request",
    407: b"Unauthorized",
    408: b"Request Time-out",
    504: b"Gateway Time-out",
}

# Errors raised while a request is still being parsed: HAProxy's mux emits them with capitalised
# names and always closes; the others go through HTX and come out lowercased.
PARSE_ERRORS = frozenset({400, 408, 413, 414, 417, 431, 501, 505})


def builtin_error(status: int, connection: bytes = b"") -> bytes:
    """HAProxy 2.6's built-in response for ``status``, as observed on the wire.

    ``connection`` is the header line the H1 layer appends (:func:`generated_connection`).
    """
    reason = _HAPROXY_REASONS.get(status) or reason_phrase(status)
    message = _MESSAGES.get(status, reason)
    body = b"<html><body><h1>%d %s</h1>\n%s\n</body></html>\n" % (status, reason, message)
    if status in PARSE_ERRORS:
        return (
            b"HTTP/1.1 %d %s\r\nContent-length: %d\r\nCache-Control: no-cache\r\n"
            b"Connection: close\r\nContent-Type: text/html\r\n\r\n%s"
            % (status, reason, len(body), body)
        )
    return (
        b"HTTP/1.1 %d %s\r\ncontent-length: %d\r\ncache-control: no-cache\r\n"
        b"content-type: text/html\r\n%s\r\n%s" % (status, reason, len(body), connection, body)
    )


def generated_connection(request: Request, httpclose: bool = False) -> bytes:
    """The ``connection`` header line HAProxy's H1 layer appends, last, to a response HAProxy
    generates (an error, a redirect) for ``request`` (src/mux_h1.c ``h1_set_cli_conn_mode``,
    ``h1_update_res_conn_value``): ``close`` when the client said so (HTTP/1.0 without
    ``Connection: keep-alive``, or ``Connection: close``), when the request has a body (the
    answer comes before it is read) or with ``option httpclose``; ``keep-alive`` for an
    HTTP/1.0 client that asked for it; nothing for a plain HTTP/1.1 keep-alive exchange.
    A page with ``connection: close`` is followed by the close."""
    version = request.version
    v11 = len(version) == 3 and (version[0] > 0x31 or (version[0] == 0x31 and version[2] >= 0x31))
    # ``keep_alive`` is the parser's reading of the client's version and Connection header,
    # which the balancer has already stripped from the forwarded headers by now.
    if not request.keep_alive or request.has_body or httpclose:
        return b"connection: close\r\n"
    if not v11:
        return b"connection: keep-alive\r\n"
    return b""
