"""Built-in demo origins, so ``etc/stack.ini`` shows a working balancer with no other servers.

Two apps stand in for the Apache + PHP web servers of the HAProxy tutorial (seed 000):

* ``site``: any path answers a page naming the server, the method, the path and the
  ``X-Forwarded-For`` it received, so round-robin and ``option forwardfor`` are visible;
* ``films``: the tutorial's ``/fun/films.php``, which keeps favourite films in a PHP session.
  Sessions are local to one server, exactly like PHP's default file store, so a client that is
  not kept sticky to one server loses its list: the point of the tutorial's stickiness section.

These are demos: ``twisted.web`` Resources, written for clarity rather than speed.
"""

from __future__ import annotations

import html
import secrets
import zlib
from collections import OrderedDict
from typing import Any

from twisted.application.internet import StreamServerEndpointService
from twisted.application.service import IService
from twisted.internet.endpoints import TCP4ServerEndpoint
from twisted.internet.interfaces import IReactorTime
from twisted.web import http
from twisted.web.resource import Resource
from twisted.web.server import Request, Site

from stack.config import model

SESSION_COOKIE = b"PHPSESSID"
SESSION_TTL = 3600.0  # PHP-like idle lifetime, and the tutorial's ``appsession ... timeout 1h``
MAX_SESSIONS = 10_000
FILMS_PREFIX = b"/fun"
STATIC_PREFIX = b"/static/"
STATIC_MODIFIED = b"Mon, 02 Nov 2026 10:00:00 GMT"
FILMS_SEPARATOR = " , "  # the PHP app appends ' , ' between films


class DemoSite(Site):
    """A Site that writes no access log and no "Starting factory" lines, and names itself.

    The balancer in front already logs every request; demo lines would only double the noise.
    The name makes twistd's "... starting on PORT" line say which demo it is.
    """

    noisy = False

    def __init__(self, resource: Resource, name: str) -> None:
        super().__init__(resource)
        self.name = name
        self.displayTracebacks = False

    def log(self, request: http.Request) -> None:
        pass

    def logPrefix(self) -> str:
        return f"demo {self.name}"


def _page(title: str, body: str) -> bytes:
    return (
        "<html>\n"
        f"    <head>\n        <title>{html.escape(title)}</title>\n    </head>\n"
        f"    <body>\n{body}    </body>\n"
        "</html>\n"
    ).encode()


def _start_response(request: Request, name: str) -> None:
    request.setResponseCode(200)
    request.setHeader(b"content-type", b"text/html; charset=utf-8")
    request.setHeader(b"x-served-by", name.encode())
    request.setHeader(b"cache-control", b"no-store")


def _text(value: bytes | None) -> str:
    return value.decode("utf-8", "replace") if value is not None else ""


class SitePage(Resource):
    """The ``site`` app: one page for every path and method, echoing what the origin saw."""

    isLeaf = True

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name

    def render(self, request: Request) -> bytes:
        if request.path.startswith(STATIC_PREFIX):
            return self._static(request)
        _start_response(request, self.name)
        xff = request.getHeader(b"x-forwarded-for")
        lines = [
            f"<h1>site</h1> served by {html.escape(self.name)}",
            f"<p>method: {html.escape(_text(request.method))}</p>",
            f"<p>path: {html.escape(_text(request.uri))}</p>",
            f"<p>X-Forwarded-For: {html.escape(_text(xff)) if xff is not None else '(none)'}</p>",
        ]
        return _page(f"site {self.name}", "".join(f"        {line}\n" for line in lines))

    def _static(self, request: Request) -> bytes:
        """A cacheable asset (the embedded default caches /static/ at the edge): the same
        bytes from every server, so it has one ETag, with a minute of freshness."""
        path = _text(request.path)
        body = f"/* {path}: a static asset of the stack demo */\n".encode() * 32
        request.setResponseCode(200)
        request.setHeader(b"content-type", b"text/css; charset=utf-8")
        request.setHeader(b"cache-control", b"public, max-age=60")
        request.setHeader(b"last-modified", STATIC_MODIFIED)
        request.setHeader(b"x-served-by", self.name.encode())
        etag = b'"%08x"' % zlib.crc32(body)
        if request.setETag(etag) == http.CACHED:
            return b""
        return body


class SessionStore:
    """PHP's server-local session store: id -> favourites, idle expiry, bounded size.

    The dict is kept in last-use order, so both the expired sessions and the one to evict
    when full are at its front: each request costs O(1) amortised, with no timer.
    """

    def __init__(
        self, clock: IReactorTime, ttl: float = SESSION_TTL, max_sessions: int = MAX_SESSIONS
    ) -> None:
        self.clock = clock
        self.ttl = ttl
        self.max_sessions = max_sessions
        self._sessions: OrderedDict[str, tuple[float, list[str]]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._sessions)

    def _expire(self, now: float) -> None:
        while self._sessions:
            last_used, _ = next(iter(self._sessions.values()))
            if now - last_used < self.ttl:
                break
            self._sessions.popitem(last=False)

    def get(self, session_id: str) -> list[str] | None:
        """The favourites of a live session (marking it used), or ``None`` if unknown."""
        now = self.clock.seconds()
        self._expire(now)
        entry = self._sessions.get(session_id)
        if entry is None:
            return None
        self._sessions[session_id] = (now, entry[1])
        self._sessions.move_to_end(session_id)
        return entry[1]

    def create(self) -> tuple[str, list[str]]:
        """A new empty session with a fresh unguessable id, as ``session_start()`` makes."""
        now = self.clock.seconds()
        self._expire(now)
        while len(self._sessions) >= self.max_sessions:
            self._sessions.popitem(last=False)
        session_id = secrets.token_hex(16)
        favourites: list[str] = []
        self._sessions[session_id] = (now, favourites)
        return session_id, favourites


class FilmsPage(Resource):
    """The ``films`` app: seed 000's ``films.php`` under ``/fun``; an index page elsewhere.

    Paths outside ``/fun`` create no session, so health checks do not fill the store.
    """

    isLeaf = True

    def __init__(self, name: str, clock: IReactorTime) -> None:
        super().__init__()
        self.name = name
        self.sessions = SessionStore(clock)

    def render(self, request: Request) -> bytes:
        _start_response(request, self.name)
        path = request.path
        served_by = f"        <p>served by {html.escape(self.name)}</p>\n"
        if not (path == FILMS_PREFIX or path.startswith(FILMS_PREFIX + b"/")):
            return _page(
                f"films {self.name}",
                f'        films app: try <a href="/fun/films.php?fav=avengers">'
                f"/fun/films.php?fav=avengers</a>\n{served_by}",
            )
        favourites = self._session(request)
        fav = request.args.get(b"fav")
        if fav:
            favourites.append(_text(fav[-1]))  # PHP keeps the last of repeated keys
        message = "My Favourite Films: " + FILMS_SEPARATOR.join(favourites)
        return _page("My Favourite Films", f"        {html.escape(message)}\n{served_by}")

    def _session(self, request: Request) -> list[str]:
        cookie = request.getCookie(SESSION_COOKIE)
        if cookie is not None:
            favourites = self.sessions.get(_text(cookie))
            if favourites is not None:
                return favourites
        session_id, favourites = self.sessions.create()
        # Written by hand for PHP's exact spelling (Request.addCookie writes "Path=/").
        cookie_line = SESSION_COOKIE + b"=" + session_id.encode() + b"; path=/"
        request.responseHeaders.addRawHeader(b"set-cookie", cookie_line)
        return favourites


def demo_site(demo: model.DemoServer, clock: IReactorTime) -> Site:
    """The quiet ``Site`` for one ``[demo NAME]`` section; ``clock`` times session expiry."""
    if demo.app == "site":
        resource: Resource = SitePage(demo.name)
    elif demo.app == "films":
        resource = FilmsPage(demo.name, clock)
    else:
        raise ValueError(f"demo {demo.name}: unknown app {demo.app!r} (site or films)")
    return DemoSite(resource, demo.name)


def demo_service(demo: model.DemoServer, reactor: Any = None) -> IService:
    """A service listening on ``demo.bind`` with the demo's app.

    ``reactor`` must provide ``IReactorTCP`` and ``IReactorTime``; it is injectable so tests
    can use a ``MemoryReactorClock``. The listening port opens when the service starts.
    """
    if reactor is None:
        from twisted.internet import reactor as default_reactor

        reactor = default_reactor
    endpoint = TCP4ServerEndpoint(reactor, demo.bind.port, interface=demo.bind.host)
    service = StreamServerEndpointService(endpoint, demo_site(demo, reactor))
    service.setName(f"demo {demo.name}")
    return service
