"""``redirect`` rules: the complete response HAProxy 2.6 generates (haproxy.md §1.10).

Pure: no I/O and no reactor. :class:`RedirectRules` is compiled once from the configuration;
:meth:`RedirectRules.apply` returns the raw bytes of the first matching rule's response, which
the caller writes as they are (and closes the connection after, when :func:`wants_close` says
so).

What HAProxy 2.6 does (src/http_rules.c ``http_parse_redirect_rule``, src/http_ana.c
``http_apply_redirect_rule``, src/mux_h1.c for the bytes on the wire):

* ``scheme S``: Location = S + ``://`` + the first ``Host`` value as received (port included;
  none gives an empty host, so ``https:///path``) + the path and query. ``prefix P``: P + the
  path and query; a prefix of exactly ``/`` adds nothing (a self-redirection). A request
  target without a path (``*``) counts as ``/``. ``drop-query`` cuts the path at the first
  ``?``; ``append-slash`` appends ``/`` when the Location does not already end with one (after
  the query, if it was kept: HAProxy does not look). ``location L``: L as written (rendered when
  it holds ``%[fetch]``); drop-query and append-slash do not apply to it.
* Codes 301, 302 (the default), 303, 307, 308 with their reason phrases; an unknown code is
  302 Found, as HAProxy's switch falls back.
* The response is ``HTTP/1.1``, with lowercase header names in this order: ``content-length:
  0``, ``location``, ``cache-control: no-cache`` (302, 303 and 307 only), ``set-cookie``
  (``set-cookie NAME[=V]`` gives ``NAME[=V]; path=/;``, ``clear-cookie NAME`` gives
  ``NAME; path=/; Max-Age=0;``: the text as written plus HAProxy's fixed suffix), then the
  ``connection`` header the H1 mux adds last (``stack.http.errors.generated_connection``).
  No body.

HAProxy keeps one cookie per rule (the last ``set-cookie``/``clear-cookie`` on the line); the
loader accepts only one, and should a model carry both, ``set_cookie`` is used.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from stack.balancer.rules import compile_format, split_path
from stack.config.model import Condition, Redirect
from stack.http.errors import generated_connection
from stack.http.message import Request

__all__ = ["REASONS", "RedirectRules", "server_redirect", "wants_close"]

REASONS: dict[int, bytes] = {
    301: b"Moved Permanently",
    302: b"Found",
    303: b"See Other",
    307: b"Temporary Redirect",
    308: b"Permanent Redirect",
}
_NO_CACHE_CODES = (302, 303, 307)
_CLOSE_TAIL = b"\r\nconnection: close\r\n\r\n"

ConditionEvaluator = Callable[[Condition, Any], bool]


def wants_close(response: bytes) -> bool:
    """Whether a response from :meth:`RedirectRules.apply` ends the connection (its
    ``connection: close`` header is always the last one)."""
    return response.endswith(_CLOSE_TAIL)


class _Rule:
    """One compiled ``redirect`` line."""

    __slots__ = ("condition", "drop_query", "head", "kind", "slash", "tail", "target")

    def __init__(self, redirect: Redirect) -> None:
        self.kind = redirect.kind
        if redirect.kind not in ("scheme", "prefix", "location"):
            raise ValueError(f"unknown redirect type {redirect.kind!r}")
        fmt = redirect.target
        if redirect.kind == "prefix" and fmt.text == "/":
            self.target: Callable[[Any], bytes] = lambda ctx: b""
        else:
            self.target = compile_format(fmt)
        self.drop_query = redirect.drop_query
        self.slash = redirect.append_slash
        self.condition = redirect.condition
        code = redirect.code if redirect.code in REASONS else 302
        self.head = b"HTTP/1.1 %d %s\r\ncontent-length: 0\r\nlocation: " % (code, REASONS[code])
        tail = b"\r\n"
        if code in _NO_CACHE_CODES:
            tail += b"cache-control: no-cache\r\n"
        if redirect.set_cookie is not None:
            tail += b"set-cookie: " + redirect.set_cookie.encode() + b"; path=/;\r\n"
        elif redirect.clear_cookie is not None:
            tail += b"set-cookie: " + redirect.clear_cookie.encode() + b"; path=/; Max-Age=0;\r\n"
        self.tail = tail

    def location(self, ctx: Any, request: Request) -> bytes:
        if self.kind == "location":
            return self.target(ctx)
        split = split_path(request.target)
        path = split[1] if split is not None else b"/"
        if self.drop_query:
            q = path.find(b"?")
            if q >= 0:
                path = path[:q]
        if self.kind == "scheme":
            location = self.target(ctx) + b"://" + _host(request) + path
        else:
            location = self.target(ctx) + path
        if self.slash and location and not location.endswith(b"/"):
            location += b"/"
        return location


def _host(request: Request) -> bytes:
    """The first ``Host`` value as ``http_find_header(..., full=0)`` gives it: up to a comma,
    without surrounding blanks."""
    host = request.header(b"host")
    if host is None:
        return b""
    return host.split(b",", 1)[0].strip(b" \t")


def server_redirect(prefix: bytes, request: Request) -> bytes | None:
    """The 302 of a server with ``redir PREFIX`` (src/http_ana.c
    ``http_perform_server_redirect``), or ``None`` when the request is not redirected.

    HAProxy redirects only GET and HEAD (other methods go to the server as usual) and only a
    target with a path. Location is PREFIX (nothing for a prefix of exactly ``/``) + the path
    and query as they would be forwarded, after ``http-request`` rewrites. HAProxy builds the
    response with ``Connection: close`` and closes the client connection after it; its H1 mux
    moves that header last. Captured from HAProxy 2.6.12::

        HTTP/1.1 302 Found
        cache-control: no-cache
        content-length: 0
        location: http://img.example.com/a/b?c=d
        connection: close
    """
    method = request.method
    if method != b"GET" and method != b"HEAD":
        return None
    split = split_path(request.target)
    if split is None:
        return None
    if prefix == b"/":
        prefix = b""
    return _SERVER_REDIRECT_HEAD + prefix + split[1] + _CLOSE_TAIL


_SERVER_REDIRECT_HEAD = (
    b"HTTP/1.1 302 Found\r\ncache-control: no-cache\r\ncontent-length: 0\r\nlocation: "
)


class RedirectRules:
    """A proxy's ``redirect`` rules in order; ``evaluate(condition, ctx)`` decides their
    ``if``/``unless`` conditions (the caller's compiled ACLs). ``httpclose`` is the
    frontend's ``option httpclose``, which closes after any response HAProxy generates."""

    def __init__(
        self,
        redirects: Sequence[Redirect],
        evaluate: ConditionEvaluator,
        *,
        httpclose: bool = False,
    ) -> None:
        self.rules = tuple(_Rule(r) for r in redirects)
        self.evaluate = evaluate
        self.httpclose = httpclose

    def __bool__(self) -> bool:
        return bool(self.rules)

    def apply(self, ctx: Any, request: Request, ssl: bool) -> bytes | None:
        """The raw response of the first rule whose condition holds, else ``None``.

        ``ctx`` is what conditions and ``%[fetch]`` expressions read; ``ssl`` (the client
        connection is TLS) is accepted for callers without a context, but HAProxy builds the
        Location without looking at it: ``redirect scheme https if !{ ssl_fc }`` says it in
        the condition.
        """
        evaluate = self.evaluate
        for rule in self.rules:
            condition = rule.condition
            if condition is not None and not evaluate(condition, ctx):
                continue
            return (
                rule.head
                + rule.location(ctx, request)
                + rule.tail
                + generated_connection(request, self.httpclose)
                + b"\r\n"
            )
        return None
