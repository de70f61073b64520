"""The stats page (``stats enable``/``stats uri``): HTML, ``;csv``, ``;json``, ``;typed``, Basic
auth and the admin POST, as HAProxy 2.6 answers them.

What must match HAProxy byte for byte is what tools read: the 401 with its
``www-authenticate: Basic realm="..."`` (browsers and scripts), the CSV/JSON bodies and their
``content-type``/``refresh`` headers, and the admin POST's ``303 See Other`` to
``<uri>;st=DONE|ERRP|DENY|NONE|PART|...`` (checked against 2.6.12). The HTML is stack's own:
one table per proxy, every name escaped, compact inline CSS, no external asset.

Sans IO: :func:`answer_get` and :func:`answer_post` build the response bytes from the request
and a :class:`~stack.balancer.stats.StatsSource`; the frontend sends them.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import html
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

from stack.balancer.stats import (
    FIELD_NAMES,
    PRODUCT_NAME,
    PRODUCT_VERSION,
    Row,
    StatsSource,
    format_csv,
    format_json,
    format_typed,
    row_type,
    value,
)
from stack.config.model import StatsPage
from stack.http.errors import builtin_error
from stack.http.message import Request

__all__ = [
    "ADMIN_ACTIONS",
    "Options",
    "answer_get",
    "answer_post",
    "authorized",
    "matches",
    "open_page_warnings",
    "unauthorized",
]

# The actions HAProxy's page offers; stack carries out the administrative ones.
ADMIN_ACTIONS = {"ready": "ready", "drain": "drain", "maint": "maint"}
_HAPROXY_ACTIONS = frozenset(
    "ready drain maint shutdown dhlth ehlth hrunn hnolb hdown dagent eagent arunn adown".split()  # noqa: SIM905
)
MAX_POST = 16384  # larger admin bodies are answered st=EXCD, as HAProxy's buffer limit

_POS = {name: i for i, name in enumerate(FIELD_NAMES)}


def matches(page: StatsPage, target: bytes) -> bool:
    """Whether a request for ``target`` is the page's: any URI *beginning* with the prefix."""
    return target.startswith(page.uri.encode("latin-1"))


class Options:
    """The ``;csv``, ``;json``, ``;typed``, ``;norefresh``, ``;up``, ``;no-maint``,
    ``;st=CODE`` and ``;scope=NAME`` words that follow the page's URI."""

    __slots__ = ("format", "no_maint", "norefresh", "scope", "status", "up")

    def __init__(self, page: StatsPage, target: bytes) -> None:
        rest = target[len(page.uri.encode("latin-1")) :].decode("latin-1")
        self.format = "html"
        self.norefresh = self.up = self.no_maint = False
        self.status = ""
        self.scope = ""
        for word in rest.split(";")[1:]:
            if word == "csv":
                self.format = "csv"
            elif word == "json":
                self.format = "json"
            elif word == "typed":
                self.format = "typed"
            elif word == "norefresh":
                self.norefresh = True
            elif word == "up":
                self.up = True
            elif word == "no-maint":
                self.no_maint = True
            elif word.startswith("st="):
                self.status = word[3:7]
            elif word.startswith("scope="):
                self.scope = word[6:]

    def suffix(self) -> str:
        """The flags a redirect keeps (``stats_send_http_redirect``)."""
        return (
            (";up" if self.up else "")
            + (";norefresh" if self.norefresh else "")
            + (f";scope={self.scope}" if self.scope else "")
        )


def authorized(page: StatsPage, request: Request) -> bool:
    """``stats auth``: no users means an open page; otherwise Basic credentials that match one
    user. Every user is compared, each in constant time, so timing tells nothing about which
    user or how much of a password matched."""
    if not page.users:
        return True
    header = request.header(b"authorization")
    if header is None:
        return False
    scheme, _, encoded = header.strip().partition(b" ")
    if scheme.lower() != b"basic":
        return False
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        return False
    user, sep, password = decoded.partition(b":")
    if not sep:
        return False
    ok = False
    for name, secret in page.users:
        same_user = hmac.compare_digest(user, name.encode("utf-8"))
        same_password = hmac.compare_digest(password, secret.encode("utf-8"))
        ok |= same_user and same_password
    return ok


def unauthorized(page: StatsPage, connection: bytes) -> bytes:
    """HAProxy 2.6's 401: its built-in page plus ``www-authenticate``, before ``connection``."""
    realm = page.realm.replace('"', "")
    head, sep, body = builtin_error(401, connection).partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    at = len(lines) - 1 if connection else len(lines)
    lines.insert(at, b'www-authenticate: Basic realm="%s"' % realm.encode("utf-8"))
    return b"\r\n".join(lines) + sep + body


def _chunked(
    status: bytes, content_type: bytes, body: bytes, refresh: bytes, connection: bytes
) -> bytes:
    head = b"HTTP/1.1 %s\r\ncache-control: no-cache\r\ncontent-type: %s\r\n" % (
        status,
        content_type,
    )
    if refresh:
        head += b"refresh: %s\r\n" % refresh
    head += b"transfer-encoding: chunked\r\n" + connection + b"\r\n"
    chunk = b"%X\r\n%s\r\n" % (len(body), body) if body else b""
    return head + chunk + b"0\r\n\r\n"


def answer_get(
    page: StatsPage,
    request: Request,
    source: StatsSource,
    connection: bytes,
    admin: bool,
    proxy: str,
    now: float | None = None,
) -> bytes:
    """The page for an authorized GET (or HEAD): HTML or one of the machine formats."""
    options = Options(page, request.target)
    if now is None:
        now = source.now()
    scope = options.scope or None
    rows = source.rows(
        legends=True,  # addr/cookie/algo: the page is authenticated or deliberately open
        proxy=scope,
        up_only=options.up,
        no_maint=options.no_maint,
        now=now,
    )
    refresh = b""
    if page.refresh and not options.norefresh:
        refresh = b"%d" % int(page.refresh)
    if options.format == "csv":
        body = format_csv(rows).encode("utf-8")
        ctype = b"text/plain"
    elif options.format == "typed":
        body = format_typed(rows).encode("utf-8")
        ctype = b"text/plain"
    elif options.format == "json":
        body = format_json(rows).encode("utf-8")
        ctype = b"application/json"
    else:
        body = render_html(page, source, rows, options, admin, proxy, now).encode("utf-8")
        ctype = b"text/html"
    if request.method == b"HEAD":
        body = b""
    return _chunked(b"200 OK", ctype, body, refresh, connection)


def answer_post(
    page: StatsPage,
    request: Request,
    body: bytes,
    source: StatsSource,
    connection: bytes,
    admin: bool,
) -> bytes:
    """An admin POST (``b=<backend>&s=<server>&action=<action>``): carry it out, then
    ``303 See Other`` to the page with the outcome, as HAProxy's ``stats_process_http_post``."""
    options = Options(page, request.target)
    code = post_result(body, source, admin)
    location = f"{page.uri};st={code}{options.suffix()}".encode("latin-1")
    return (
        b"HTTP/1.1 303 See Other\r\ncache-control: no-cache\r\ncontent-type: text/plain\r\n"
        b"content-length: 0\r\nlocation: " + location + b"\r\n" + connection + b"\r\n"
    )


def post_result(body: bytes, source: StatsSource, admin: bool) -> str:
    """The ``st=`` code of an admin POST, after carrying it out."""
    if not admin:
        return "DENY"
    if len(body) > MAX_POST:
        return "EXCD"
    try:
        fields = parse_qsl(body.decode("latin-1"), keep_blank_values=True)
    except ValueError:
        return "ERRP"
    backend_name = action = ""
    servers: list[str] = []
    for key, text in fields:
        if key == "b":
            backend_name = text
        elif key == "s":
            servers.append(text)
        elif key == "action":
            action = text
    backend = _find_backend(source, backend_name)
    if backend is None or action not in _HAPROXY_ACTIONS:
        return "ERRP"
    if not servers:
        return "NONE"
    state = ADMIN_ACTIONS.get(action)
    if state is None:
        return "ERRP"  # health and agent actions: stack has no agent and no forced health
    by_name = {s.name: s for s in backend.servers}
    done = 0
    for name in servers:
        server = by_name.get(name)
        if server is None:
            continue
        backend.set_admin(server, state)
        done += 1
    if done == 0:
        return "ERRP"
    return "DONE" if done == len(servers) else "PART"


def _find_backend(source: StatsSource, name: str) -> Any:
    """A backend by name or by ``#<iid>``."""
    for px_name, iid, _handler, backend in source.proxies():
        if backend is None:
            continue
        if name == px_name or (name.startswith("#") and name[1:] == str(iid)):
            return backend
    return None


# -- the HTML page ---------------------------------------------------------------------------------

_CSS = """
body{font:13px/1.35 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;
background:#f6f7f9;color:#1d2330}
header{background:#1d2330;color:#fff;padding:10px 18px;display:flex;gap:24px;
align-items:baseline;flex-wrap:wrap}
header h1{font-size:17px;margin:0}header span{color:#b9c2d3}
main{padding:12px 18px}
.msg{padding:8px 12px;border-radius:4px;margin:0 0 12px;background:#e3f1e3;color:#124d12}
.msg.bad{background:#f8e1e1;color:#7a1010}
section{background:#fff;border:1px solid #d8dde6;border-radius:6px;margin:0 0 16px;
overflow-x:auto}
section h2{font-size:14px;margin:0;padding:8px 12px;background:#eef1f6;
border-bottom:1px solid #d8dde6}
table{border-collapse:collapse;width:100%;white-space:nowrap}
th,td{padding:3px 8px;text-align:right;border-bottom:1px solid #eef0f4}
th{background:#fafbfc;font-weight:600;color:#4a5365;font-size:12px}
th.g{text-align:center;border-left:1px solid #d8dde6}
td.l,th.l{text-align:left}td.b{border-left:1px solid #eef0f4}
tr.frontend td,tr.backend td{background:#f3f5f9;font-weight:600}
.st{display:inline-block;padding:1px 6px;border-radius:3px;font-weight:600;color:#fff}
.up{background:#2e8b3d}.going{background:#c28a00}.down{background:#c0392b}
.maint{background:#6c5ce7}.drain{background:#2d7fb8}.nolb{background:#d35400}
.nocheck{background:#7f8c8d}.open{background:#2e8b3d}
form.admin{padding:8px 12px;border-top:1px solid #d8dde6;background:#fafbfc}
footer{color:#6b7385;padding:0 18px 18px}
"""

_ST_MESSAGES = {
    "DONE": ("The requested action was processed successfully.", False),
    "NONE": ("Nothing has changed.", True),
    "PART": ("Action processed with some errors.", True),
    "ERRP": ("Action not processed because of invalid parameters.", True),
    "EXCD": ("Action not processed: the buffer couldn't store all the data.", True),
    "DENY": ("Action denied.", True),
    "IVAL": ("Invalid requests (unsupported method or chunked encoded request).", True),
    "UNKN": ("Unexpected result.", True),
}


def _state_class(status: str) -> str:
    if status.startswith("MAINT"):
        return "maint"
    if status.startswith("DRAIN"):
        return "drain"
    if status.startswith("NOLB"):
        return "nolb"
    if status == "no check":
        return "nocheck"
    if status in ("UP", "OPEN"):
        return "up"
    if status.startswith("UP ") or status.startswith("DOWN "):
        return "going"
    return "down" if status.startswith("DOWN") else "up"


def _v(row: Row, name: str) -> str:
    field = row[_POS[name]]
    return "" if field is None else html.escape(str(field[2]))


def _age(seconds: str) -> str:
    if not seconds:
        return ""
    s = int(seconds)
    if s < 0:
        return ""
    d, s = divmod(s, 86400)
    h, s = divmod(s, 3600)
    m, s = divmod(s, 60)
    return (f"{d}d" if d else "") + (f"{h}h" if d or h else "") + f"{m}m{s:02d}s"


def _bytes(value: str) -> str:
    if not value:
        return ""
    n = float(value)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return value


_HEAD = (
    '<tr><th class="l" rowspan="2">Name</th><th class="g" colspan="2">Queue</th>'
    '<th class="g" colspan="3">Session rate</th><th class="g" colspan="5">Sessions</th>'
    '<th class="g" colspan="2">Bytes</th><th class="g" colspan="2">Denied</th>'
    '<th class="g" colspan="3">Errors</th><th class="g" colspan="2">Warnings</th>'
    '<th class="g" colspan="9">Server</th></tr>'
    "<tr><th>Cur</th><th>Max</th><th>Cur</th><th>Max</th><th>Limit</th>"
    "<th>Cur</th><th>Max</th><th>Limit</th><th>Total</th><th>LbTot</th>"
    "<th>In</th><th>Out</th><th>Req</th><th>Resp</th><th>Req</th><th>Conn</th><th>Resp</th>"
    "<th>Retr</th><th>Redis</th><th>Status</th><th>LastChk</th><th>Wght</th><th>Act</th>"
    "<th>Bck</th><th>Chk</th><th>Dwn</th><th>Dwntme</th><th>LastChg</th></tr>"
)


def _html_row(row: Row, kind: str, admin: bool) -> str:
    name = (
        "Frontend" if kind == "frontend" else "Backend" if kind == "backend" else _v(row, "svname")
    )
    status = _v(row, "status")
    check = _v(row, "check_status")
    if check and _v(row, "check_code"):
        check += " " + _v(row, "check_code")
    if check and _v(row, "check_duration"):
        check += f" in {_v(row, 'check_duration')}ms"
    title = _v(row, "check_desc") + (": " + _v(row, "last_chk") if _v(row, "last_chk") else "")
    box = ""
    if admin and kind == "server":
        box = f'<input type="checkbox" name="s" value="{_v(row, "svname")}"> '
    cells = [
        f'<td class="l">{box}{name}</td>',
        *(f"<td>{_v(row, n)}</td>" for n in ("qcur", "qmax", "rate", "rate_max", "rate_lim")),
        *(f"<td>{_v(row, n)}</td>" for n in ("scur", "smax", "slim", "stot", "lbtot")),
        f"<td>{_bytes(_v(row, 'bin'))}</td><td>{_bytes(_v(row, 'bout'))}</td>",
        *(f"<td>{_v(row, n)}</td>" for n in ("dreq", "dresp", "ereq", "econ", "eresp")),
        f"<td>{_v(row, 'wretr')}</td><td>{_v(row, 'wredis')}</td>",
        f'<td class="l"><span class="st {_state_class(status)}">{status}</span></td>',
        f'<td class="l" title="{title}">{check}</td>',
        *(f"<td>{_v(row, n)}</td>" for n in ("weight", "act", "bck", "chkfail", "chkdown")),
        f"<td>{_age(_v(row, 'downtime'))}</td><td>{_age(_v(row, 'lastchg'))}</td>",
    ]
    return f'<tr class="{kind}">' + "".join(cells) + "</tr>"


def render_html(
    page: StatsPage,
    source: StatsSource,
    rows: list[Row],
    options: Options,
    admin: bool,
    proxy: str,
    now: float,
) -> str:
    """The page a browser shows: one table per proxy, servers between its frontend and backend
    rows, states in colour, check details on hover, admin checkboxes when allowed."""
    esc = html.escape
    info = {name: field[2] for _pos, name, field in source.info(now)}
    title = "Statistics Report for " + ("stack" if page.hide_version else PRODUCT_NAME)
    node = page.show_node if page.show_node else source.node
    parts = [
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8">',
        f"<title>{esc(title)}</title><style>{_CSS}</style></head><body>",
        f"<header><h1>{esc(title)}</h1>",
    ]
    if not page.hide_version:
        parts.append(f"<span>stack (HAProxy {esc(PRODUCT_VERSION)} statistics)</span>")
    parts.append(f"<span>node {esc(node)}</span>")
    parts.append(
        f"<span>pid {esc(str(info['Pid']))}, uptime {esc(str(info['Uptime']))}</span>"
        f"<span>{esc(str(info['CurrConns']))} connections, "
        f"{esc(str(info['CumReq']))} requests</span>"
        f"<span>{esc(time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(now)))}</span></header>"
        "<main>"
    )
    if options.status in _ST_MESSAGES:
        text, bad = _ST_MESSAGES[options.status]
        parts.append(f'<p class="msg{" bad" if bad else ""}">{esc(text)}</p>')
    groups: dict[str, list[Row]] = {}
    for row in rows:
        groups.setdefault(str(value(row, "pxname")), []).append(row)
    for name, group in groups.items():
        parts.append(f'<section id="{esc(name)}"><h2>{esc(name)}</h2>')
        has_servers = any(row_type(r) == 2 for r in group)
        form = admin and has_servers
        if form:
            parts.append(f'<form class="admin-form" method="post" action="{esc(page.uri)}">')
        parts.append(f"<table>{_HEAD}")
        for row in group:
            kind = ("frontend", "backend", "server")[row_type(row)]
            parts.append(_html_row(row, kind, form))
        parts.append("</table>")
        if form:
            parts.append(
                '<div class="admin">Choose the action to perform on the checked servers: '
                '<select name="action"><option value="">---</option>'
                '<option value="ready">Set state to READY</option>'
                '<option value="drain">Set state to DRAIN</option>'
                '<option value="maint">Set state to MAINT</option></select>'
                f'<input type="hidden" name="b" value="{esc(name)}">'
                ' <input type="submit" value="Apply"></div></form>'
            )
        parts.append("</section>")
    parts.append(
        f"</main><footer>Proxy {esc(proxy)}; refreshed "
        f"{'never' if not page.refresh or options.norefresh else f'every {int(page.refresh)} s'}"
        f' &middot; <a href="{esc(page.uri)};csv">CSV</a>'
        f' &middot; <a href="{esc(page.uri)};json">JSON</a></footer></body></html>\n'
    )
    return "".join(parts)


def compile_admin(
    page: StatsPage, compile_condition: Callable[[Any], Callable[[Any], bool]]
) -> Callable[[Any], bool]:
    """``stats admin if COND`` as a test on the request's context; no condition: never."""
    if page.admin is None:
        return lambda ctx: False
    return compile_condition(page.admin)


def open_page_warnings(config: Any) -> list[str]:
    """A warning for each stats page without ``stats auth``: anyone who can reach it reads
    every server's address and state (and, with ``stats admin``, changes them)."""
    out = []
    for kind, proxies in (("frontend", config.frontends), ("backend", config.backends)):
        for proxy in proxies:
            page = proxy.stats
            if page is None or page.users:
                continue
            where = f" ({page.origin.file}:{page.origin.line})" if page.origin else ""
            admin = " and 'stats admin' lets them change server states" if page.admin else ""
            out.append(
                f"{kind} '{proxy.name}'{where}: the stats page {page.uri} has no 'stats auth': "
                f"anyone who reaches it can read it{admin}"
            )
    return list(dict.fromkeys(out))
