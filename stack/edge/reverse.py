"""``ProxyPassReverse``, ``ProxyPassReverseCookiePath`` and ``ProxyPassReverseCookieDomain``:
response headers naming the backend are rewritten to name the edge (edge.md §3.2).

What Apache 2.4 does (modules/proxy/proxy_util.c ``ap_proxy_location_reverse_map`` and
``ap_proxy_cookie_reverse_map``, applied by mod_proxy_http ``process_proxy_header``), and where
this differs:

* Headers: ``Location``, ``Content-Location``, ``URI`` and ``Destination`` (the code's list;
  the manual names only the first three), every occurrence; ``Set-Cookie`` for the cookie
  rules. Bodies, ``Link`` and ``Refresh`` are left alone.
* A mapping whose internal URL is absolute matches a header value that starts with it. Apache
  compares the whole prefix as a case-insensitive string; here scheme and host compare
  case-insensitively, the port numerically with http's 80 and https's 443 implied when
  absent, and the path case-sensitively (RFC 3986 §6.2.2.1; Apache's own source carries a
  FIXME asking for exactly that). A relative value (``/internal/x``) never matches an
  absolute internal URL, in Apache as here.
* A mapping whose internal URL is a bare path (``ProxyPassReverse /app/ /internal/``)
  matches the path of a value: a relative value as it is, an absolute one (whatever its host,
  as in Apache) from the first ``/`` after ``://``.
* The first mapping that matches, in configuration order, wins: the matched prefix is
  replaced by the public one. The result is always absolute (Apache's
  ``ap_construct_url``): ``public_base`` + public prefix + the rest, unless the public prefix
  is itself an absolute URL.
* Cookie attributes are the ``;``-separated parts after the first (the cookie's own
  ``name=value``, which Apache would wrongly read as an attribute were the cookie called
  ``path``); names are case-insensitive, blanks around values are kept.
  ``Path=``: when its value starts with an internal path (case-sensitive, first rule in
  configuration order), **the whole value** becomes the public path, as Apache does and
  documents ("the cookie path will be replaced with public-path"). ``Domain=``: when its
  value equals an internal domain, ignoring case, it becomes the public domain. Apache
  compares only the internal domain's length of it (``backend.local`` also matches
  ``backend.localhost``); equality is required here. A leading dot is not special, in
  Apache as here. Every ``Path``/``Domain`` attribute of a cookie is treated.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from stack.http.message import Headers

__all__ = ["ReverseRewriter"]

_LOCATION_HEADERS = (b"location", b"content-location", b"uri", b"destination")
_DEFAULT_PORTS = {b"http": 80, b"https": 443}
_SCHEME = re.compile(rb"[A-Za-z][A-Za-z0-9+.\-]*")
_CONTROLS = re.compile(rb"[\x00-\x20\x7f]")

Origin = tuple[bytes, bytes, int | None]


def _split_absolute(url: bytes) -> tuple[Origin, bytes] | None:
    """``((scheme, host, port), rest)`` of an absolute URL, scheme and host lowercased and the
    default port filled in; ``rest`` starts at the path (or ``?``/``#``), possibly empty.
    ``None`` when ``url`` is not absolute or its authority does not parse."""
    sep = url.find(b"://")
    if sep <= 0 or not _SCHEME.fullmatch(url, 0, sep):
        return None
    scheme = url[:sep].lower()
    start = sep + 3
    end = len(url)
    for stop in b"/?#":
        i = url.find(bytes((stop,)), start, end)
        if i >= 0:
            end = i
    authority = url[start:end]
    if not authority or b"@" in authority:
        return None
    if authority[:1] == b"[":
        close = authority.find(b"]") + 1
        if close == 0:
            return None
        host, port_text = authority[:close], authority[close:]
    else:
        host, colon, port_text = authority.partition(b":")
        port_text = colon + port_text
    port = _DEFAULT_PORTS.get(scheme)
    if len(port_text) > 1 and port_text[1:].isdigit():
        port = int(port_text[1:])
    elif port_text not in (b"", b":"):
        return None
    return (scheme, host.lower(), port), url[end:]


def _ascii(text: str, what: str) -> bytes:
    """``text`` as header bytes: ASCII without controls or blanks, which would split or end
    the header it goes in."""
    if not text.isascii() or _CONTROLS.search(text.encode()):
        raise ValueError(f"invalid {what} {text!r}")
    return text.encode()


class _Mapping:
    __slots__ = ("absolute_public", "origin", "path", "public")

    def __init__(self, public: str, internal: str) -> None:
        self.public = _ascii(public, "public path")
        self.absolute_public = _split_absolute(self.public) is not None
        if not self.absolute_public and not self.public.startswith(b"/"):
            raise ValueError(f"public path {public!r} must start with '/' or be an absolute URL")
        url = _ascii(internal, "internal URL")
        if url.startswith(b"/"):
            self.origin: Origin | None = None
            self.path = url
        else:
            split = _split_absolute(url)
            if split is None:
                raise ValueError(f"internal URL {internal!r} must be absolute or start with '/'")
            self.origin, self.path = split
            if self.path[:1] not in (b"", b"/"):
                raise ValueError(f"internal URL {internal!r} must not carry a query or fragment")


def _cookie_rule(kind: str, internal: str, public: str) -> tuple[bytes, bytes]:
    what = f"cookie {kind} rule"
    raw = _ascii(internal, what), _ascii(public, what)
    if not all(raw) or any(b";" in value or b"," in value for value in raw):
        raise ValueError(f"invalid {what} {internal!r} -> {public!r}")
    return raw


class ReverseRewriter:
    """Rewrites a backend response's headers in place, compiled once from the vhost's
    ``ProxyPassReverse`` (``mappings``: public prefix, internal URL),
    ``ProxyPassReverseCookiePath`` and ``ProxyPassReverseCookieDomain`` (``cookie_paths``,
    ``cookie_domains``: internal, public) directives."""

    __slots__ = ("_domains", "_mappings", "_names", "_paths")

    def __init__(
        self,
        mappings: Sequence[tuple[str, str]] = (),
        cookie_paths: Sequence[tuple[str, str]] = (),
        cookie_domains: Sequence[tuple[str, str]] = (),
    ) -> None:
        self._mappings = tuple(_Mapping(public, internal) for public, internal in mappings)
        paths: list[tuple[bytes, bytes]] = []
        for internal, public in cookie_paths:
            paths.append(_cookie_rule("path", internal, public))
        self._paths = tuple(paths)
        domains: dict[bytes, bytes] = {}
        for internal, public in cookie_domains:
            raw_internal, raw_public = _cookie_rule("domain", internal, public)
            domains.setdefault(raw_internal.lower(), raw_public)
        self._domains = domains
        names: set[bytes] = set()
        if self._mappings:
            names.update(_LOCATION_HEADERS)
        if self._paths or self._domains:
            names.add(b"set-cookie")
        self._names = frozenset(names)

    @property
    def active(self) -> bool:
        """Whether any rule is configured (else :meth:`rewrite` does nothing)."""
        return bool(self._names)

    def rewrite(self, headers: Headers, public_base: bytes) -> None:
        """Rewrite ``headers`` (lowercase names) in place. ``public_base`` is the edge's
        ``scheme://host[:port]`` for this request, without a trailing slash."""
        names = self._names
        if not names:
            return
        for i, (name, value) in enumerate(headers):
            if name in names:
                if name == b"set-cookie":
                    new = self._cookie(value)
                else:
                    new = self._location(value, public_base)
                if new is not None:
                    headers[i] = (name, new)

    def _location(self, value: bytes, public_base: bytes) -> bytes | None:
        split = _split_absolute(value) if b"://" in value else None
        for mapping in self._mappings:
            if mapping.origin is None:
                if split is None:
                    part = value
                    if b"://" in value:
                        # Absolute but not parsable here: Apache looks for the first '/'.
                        slash = value.find(b"/", value.find(b"://") + 3)
                        if slash < 0:
                            continue
                        part = value[slash:]
                else:
                    part = split[1]
                    if part[:1] != b"/":
                        continue
            elif split is None or split[0] != mapping.origin:
                continue
            else:
                part = split[1]
            if part.startswith(mapping.path):
                rest = part[len(mapping.path) :]
                if mapping.absolute_public:
                    return mapping.public + rest
                return public_base + mapping.public + rest
        return None

    def _cookie(self, value: bytes) -> bytes | None:
        parts = value.split(b";")
        changed = False
        for k in range(1, len(parts)):
            attr = parts[k]
            stripped = attr.lstrip()
            key = stripped[:7].lower()
            new: bytes | None = None
            if key.startswith(b"path="):
                start = len(attr) - len(stripped) + 5
                core = attr[start:].strip()
                for internal, public in self._paths:
                    if core.startswith(internal):
                        new = public
                        break
            elif key == b"domain=":
                start = len(attr) - len(stripped) + 7
                core = attr[start:].strip()
                new = self._domains.get(core.lower()) if core else None
            if new is None:
                continue
            lead = attr.index(core, start)
            parts[k] = attr[:lead] + new + attr[lead + len(core) :]
            changed = True
        return b";".join(parts) if changed else None
