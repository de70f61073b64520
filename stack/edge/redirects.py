"""The edge's own redirects, as complete raw responses in Apache 2.4's shape (edge.md §3.1).

Apache builds them with ``RewriteRule ... [R]`` and ``ap_send_error_response``: an
``HTTP/1.1`` status line, ``Location``, ``Content-Length``, ``Connection: close`` when the
connection ends, then ``Content-Type: text/html; charset=iso-8859-1`` (that order) and a
small HTML page whose link is the HTML-escaped Location (``ap_escape_html``: ``& < > "``).
``ServerSignature`` is left at its compiled-in default, Off, so the page has no ``<address>``
line; ``Date`` and ``Server`` are left to the layer that writes the response. HEAD gets the
same head (``Content-Length`` included, as RFC 9110 §9.3.2 allows) without the page.

Two deliberate departures from the seed's ``RewriteRule`` lines, which edge.md §3.1 shows to be
unsafe or surprising:

* ``https://%{HTTP_HOST}$1`` reflects any Host, port included (an open redirect, and
  ``https://a.test:80/``). :class:`HttpsRedirect` emits only configured names and the HTTPS
  port it is given.
* ``^/([^/]+)$`` appends a slash to every one-segment path (``/favicon.ico/``).
  :class:`SlashRedirect` redirects only the configured application prefixes.

Apache re-escapes the path (``/caf%C3%A9`` becomes ``/caf%c3%a9``); here the target is kept
byte for byte, except that bytes above 0x7E, which cannot appear in a URI, are
percent-encoded. A Location holding a control byte or a space cannot come from the HTTP
parser; should one reach :func:`redirect_response` anyway it answers 400 and closes rather
than write a header that splits the response.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence

from stack.edge.pages import error_page, page
from stack.http.message import Request

__all__ = [
    "ACME_CHALLENGE",
    "REASONS",
    "HttpsRedirect",
    "SlashRedirect",
    "host_name",
    "redirect_response",
]

REASONS: dict[int, bytes] = {
    301: b"Moved Permanently",
    302: b"Found",
    303: b"See Other",
    307: b"Temporary Redirect",
    308: b"Permanent Redirect",
}

# Let's Encrypt's HTTP-01 validator fetches these over plain HTTP (RFC 8555 §8.3); Mozilla's
# generated configurations exempt them from the HTTPS redirect.
ACME_CHALLENGE = b"/.well-known/acme-challenge/"

_UNSAFE = re.compile(rb"[\x00-\x20\x7f]")
_HIGH = re.compile(rb"[\x80-\xff]")
_HTML_SPECIAL = re.compile(rb'[&<>"]')
_HTML_ESCAPES = {ord("&"): b"&amp;", ord("<"): b"&lt;", ord(">"): b"&gt;", ord('"'): b"&quot;"}


def _percent(match: re.Match[bytes]) -> bytes:
    return b"%%%02X" % match[0][0]


def _html(match: re.Match[bytes]) -> bytes:
    return _HTML_ESCAPES[match[0][0]]


def redirect_response(
    status: int, location: bytes, *, head_only: bool = False, close: bool = False
) -> bytes:
    """The complete raw redirect to ``location``; a 400 (always closing) if ``location``
    holds a byte that would break the header. ``head_only`` is for HEAD requests. The
    sentence around the link is http_protocol.c ``get_canned_error_string``'s."""
    if _UNSAFE.search(location) is not None:
        return error_page(400, head=head_only)
    if status not in REASONS:
        raise ValueError(f"not a redirect status: {status}")
    if not location.isascii():
        location = _HIGH.sub(_percent, location)
    sentence = (
        b"The answer to your request is located " if status == 303 else b"The document has moved "
    )
    link = _HTML_SPECIAL.sub(_html, location)
    message = b'<p>%s<a href="%s">here</a>.</p>\n' % (sentence, link)
    return page(status, message, headers=((b"Location", location),), close=close, head=head_only)


def host_name(host: bytes | None) -> bytes | None:
    """The name part of a Host value, lowercased, without its port or trailing dot (IPv6
    literals keep their brackets); ``None`` when there is no Host or its port is malformed,
    so the caller falls back to its configured name."""
    if not host:
        return None
    if host[:1] == b"[":
        end = host.find(b"]") + 1
        name, port = host[:end], host[end:]
    else:
        name, colon, port = host.partition(b":")
        port = colon + port
        if name[-1:] == b".":
            name = name[:-1]
    if port and (port[:1] != b":" or not (len(port) == 1 or port[1:].isdigit())):
        return None
    return name.lower()


def _check_status(status: int) -> int:
    if status not in REASONS:
        raise ValueError(f"redirect status must be one of 301, 302, 303, 307, 308, not {status}")
    return status


_DNS_NAME = re.compile(
    r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*"
)


def _server_name(name: str) -> str:
    """A configured name as it goes in a Location: a DNS name (A-labels, no trailing dot) or
    an IP literal, IPv6 in brackets. No port and no wildcard: the port is ``https_port``."""
    text = name.strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    if ":" in text:
        try:
            return f"[{ipaddress.IPv6Address(text).compressed}]"
        except ValueError:
            raise ValueError(f"invalid server name {name!r} (no port: use https_port)") from None
    text = text.removesuffix(".")
    if not _DNS_NAME.fullmatch(text):
        raise ValueError(f"invalid server name {name!r}")
    return text


class HttpsRedirect:
    """The plain-HTTP vhost: every request except ACME challenges goes to the same path on
    ``https://NAME[:PORT]``.

    NAME is the request's Host (the absolute-form authority, which the parser has already put
    in Host) when its host part is one of ``server_names`` (case-insensitive, a trailing dot
    and any port ignored), written as configured; otherwise ``default_name``. A Host that is
    absent, unknown or malformed is never reflected, so the redirect cannot point elsewhere.
    ``OPTIONS *``, or any target that is not origin-form, is sent to ``/``: there is no path
    to keep, and the root of the HTTPS site is the one safe answer.
    """

    __slots__ = ("_default", "_names", "status")

    def __init__(
        self,
        server_names: Sequence[str],
        default_name: str,
        https_port: int,
        status: int = 301,
    ) -> None:
        self.status = _check_status(status)
        if not 0 < https_port < 65536:
            raise ValueError(f"invalid HTTPS port {https_port}")
        port = b"" if https_port == 443 else b":%d" % https_port

        def origin(name: str) -> bytes:
            return b"https://" + name.encode("ascii") + port

        names: dict[bytes, bytes] = {}
        for name in server_names:
            canonical = _server_name(name)
            names.setdefault(canonical.lower().encode("ascii"), origin(canonical))
        self._names = names
        self._default = origin(_server_name(default_name))

    def _origin(self, request: Request) -> bytes:
        name = host_name(request.header(b"host"))
        return self._default if name is None else self._names.get(name, self._default)

    def response(self, request: Request, close: bool = False) -> bytes | None:
        """The raw redirect for ``request``, or ``None`` for an ACME challenge, which the
        caller serves. ``close``: the caller closes the connection after this response.
        Never carries HSTS: a browser ignores it over plain HTTP (RFC 6797 §8.1) and a
        server must not send it there (§7.2)."""
        target = request.target
        if target[:1] != b"/":
            target = b"/"
        elif request.path.startswith(ACME_CHALLENGE):
            return None
        return redirect_response(
            self.status,
            self._origin(request) + target,
            head_only=request.method == b"HEAD",
            close=close,
        )


# RFC 3986 ``pchar`` and ``/``; the last character may not be ``/``.
_PREFIX = re.compile(r"/[!$&'()*+,\-./0-9:;=@A-Z_a-z~%]*[!$&'()*+,\-.0-9:;=@A-Z_a-z~%]")


class SlashRedirect:
    """Sends ``/app`` to ``/app/`` (query kept) for the configured application prefixes only:
    what the seed's ``RewriteRule ^/([^/]+)$ https://%{HTTP_HOST}/$1/ [R,L]`` is for, without
    its catch-all effect on every other one-segment path. The match is exact and
    case-sensitive, as mod_rewrite's is."""

    __slots__ = ("_prefixes", "status")

    def __init__(self, prefixes: Sequence[str], status: int = 301) -> None:
        self.status = _check_status(status)
        checked = set()
        for prefix in prefixes:
            if not _PREFIX.fullmatch(prefix):
                raise ValueError(
                    f"invalid prefix {prefix!r}: a path starting with '/', without trailing "
                    "'/', query or fragment"
                )
            checked.add(prefix.encode("ascii"))
        self._prefixes = frozenset(checked)

    def response(
        self, request: Request, scheme: bytes, host: bytes, close: bool = False
    ) -> bytes | None:
        """The raw redirect to ``scheme://host`` + prefix + ``/`` when the path is exactly a
        configured prefix, else ``None``. ``host`` (port included, if any) comes from the
        caller, which has validated it."""
        path = request.path
        if path not in self._prefixes:
            return None
        location = b"%s://%s%s/" % (scheme, host, path)
        if request.query:
            location += b"?" + request.query
        return redirect_response(
            self.status, location, head_only=request.method == b"HEAD", close=close
        )
