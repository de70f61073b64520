"""The pages the edge answers itself, in Apache 2.4's words and layout.

Operators coming from Apache grep for these bodies and browsers show them; the texts are
httpd's canned error strings (``modules/http/http_protocol.c``), the layout its
``ap_send_error_response``: an HTML 2.0 document, ``text/html; charset=iso-8859-1``.
"""

from __future__ import annotations

from collections.abc import Sequence

from stack.http.errors import PARSE_ERRORS
from stack.http.h1 import reason_phrase

_MESSAGES = {
    400: b"<p>Your browser sent a request that this server could not understand.<br />\n</p>\n",
    404: b"<p>The requested URL was not found on this server.</p>\n",
    408: b"<p>Server timeout waiting for the HTTP request from the client.</p>\n",
    413: b"The requested resource does not allow request data with the requested method or "
    b"the amount of data provided in\nthe request exceeds the capacity limit.\n",
    414: b"<p>The requested URL's length exceeds the capacity\nlimit for this server.<br />\n"
    b"</p>\n",
    431: b"<p>Your browser sent a request that this server could not understand.<br />\n"
    b"Size of a request header field exceeds server limit.<br />\n</p>\n",
    500: b"<p>The server encountered an internal error or\nmisconfiguration and was unable to "
    b"complete\nyour request.</p>\n",
    501: b"<p>The requested method is not supported by this server.</p>\n",
    502: b"<p>The proxy server received an invalid\r\nresponse from an upstream server.<br />"
    b"\r\n</p>\n",
    503: b"<p>The server is temporarily unable to service your\nrequest due to maintenance "
    b"downtime or capacity\nproblems. Please try again later.</p>\n",
    504: b"<p>The gateway did not receive a timely response\nfrom the upstream server or "
    b"application.</p>\n",
    505: b"<p>The server does not support the HTTP protocol version used in the request.</p>\n",
}


def page(
    status: int,
    message: bytes,
    *,
    headers: Sequence[tuple[bytes, bytes]] = (),
    close: bool = False,
    head: bool = False,
) -> bytes:
    """A complete response with Apache's HTML body; ``head``: no body (a HEAD request)."""
    reason = reason_phrase(status)
    body = (
        b'<!DOCTYPE HTML PUBLIC "-//IETF//DTD HTML 2.0//EN">\n<html><head>\n'
        b"<title>%d %s</title>\n</head><body>\n<h1>%s</h1>\n%s</body></html>\n"
        % (status, reason, reason, message)
    )
    lines = [b"HTTP/1.1 %d %s" % (status, reason)]
    lines.extend(b"%s: %s" % header for header in headers)
    lines.append(b"Content-Length: %d" % len(body))
    if close:
        lines.append(b"Connection: close")
    lines.append(b"Content-Type: text/html; charset=iso-8859-1")
    return b"\r\n".join(lines) + b"\r\n\r\n" + (b"" if head else body)


def error_page(status: int, *, close: bool = False, head: bool = False) -> bytes:
    """Apache's page for ``status`` (2.4 no longer echoes the URL in its 404); parse errors
    close the connection, as httpd does."""
    message = _MESSAGES.get(status, b"")
    return page(status, message, close=close or status in PARSE_ERRORS, head=head)
