"""HAProxy 2.6 cookie persistence (the ``cookie`` directive), without I/O.

``CookiePersistenceRules.on_request`` reads and rewrites the request's ``Cookie`` headers and says
which server the persistence cookie designates; ``on_response`` handles the server's own
``Set-Cookie`` named like the persistence cookie, inserts a new one when HAProxy would, and adds
``cache-control: private`` for ``nocache``. Both keep the two log characters of the termination
state (haproxy.md §1.2 "Log flags").

The parsers follow HAProxy 2.6.12 (src/http_ana.c ``http_manage_client_side_cookies``,
``http_manage_server_side_cookies``, ``http_process_res_common`` and
``http_check_response_for_cacheability``) step by step, including what they do to the bytes around
the cookies they touch: spaces around ``=`` are removed, a deleted cookie takes the delimiter
before it away and keeps the one after it, ``$`` attributes go with the cookie before them. The
header values they get are those of ``stack.http.message``: lowercased names, values without
surrounding whitespace, in order, duplicates kept. Time is passed in (unix seconds, a float);
HAProxy works on whole seconds (``date.tv_sec``) and keeps cookie dates in C ``int``s, which the
arithmetic below reproduces (``_s32``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from stack.balancer.samples import COOKIE_VALUE_STOP, HDR_VALUE_STOP, value_end
from stack.config.model import CookieMode, CookiePersistence
from stack.http.message import Headers, Request, Response

__all__ = [
    "CookieDecision",
    "CookiePersistenceRules",
    "CookieServer",
    "decode_date",
    "encode_date",
]


class CookieServer(Protocol):
    """What the core needs from a server (``ServerRuntime`` satisfies it)."""

    name: str
    cookie: str | None  # the server's ``cookie VALUE``

    def usable(self) -> bool:
        """Up and not disabled: HAProxy's ``srv->cur_state != SRV_ST_STOPPED``."""
        ...


@dataclass(slots=True)
class CookieDecision:
    """One request's persistence state, kept by the transaction from request to response.

    ``client_flag``/``server_flag`` are the 3rd and 4th characters of the termination state
    (``-`` for both when the backend has neither ``insert``, ``rewrite``, ``prefix`` nor
    ``indirect``: HAProxy logs them only under ``PR_CK_ANY``, src/log.c). ``server`` is the server
    the cookie designates and ``direct`` HAProxy's ``SF_DIRECT``: the transaction connects to
    ``server`` instead of balancing (``server`` is ``None`` with ``direct`` set when a
    ``use-server`` rule had already chosen). ``last_date``/``first_date`` are the dates decoded
    from the cookie, in unix seconds (multiples of 4), as HAProxy keeps them (C ``int``).
    """

    client_flag: str  # N I D V E O U -
    server_flag: str = "-"  # N I U P R D -
    server: CookieServer | None = None
    direct: bool = False
    last_date: int | None = None
    first_date: int | None = None
    ignore_persist: bool = False  # SF_IGNORE_PRST: the cookie is neither used nor set


# --- dates: src/base64.c s30tob64 / b64tos30 ------------------------------------------------------

_B64 = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_B64_REV = {c: i for i, c in enumerate(_B64)}
_MASK30 = (1 << 30) - 1


def _s32(value: int) -> int:
    """``value`` stored in (or cast to) a 32-bit C ``int``."""
    return ((value + 0x80000000) & 0xFFFFFFFF) - 0x80000000


def _s30tob64(value: int) -> bytes:
    """The low 30 bits of ``value`` as 5 base64 characters, most significant first."""
    value &= _MASK30
    return bytes(_B64[(value >> shift) & 0x3F] for shift in (24, 18, 12, 6, 0))


def _b64tos30(text: bytes | bytearray) -> int:
    """The 30-bit value of the first 5 characters of ``text``, or -1 when one of them is not in
    the standard base64 alphabet (``=`` padding included)."""
    out = 0
    for c in text[:5]:
        digit = _B64_REV.get(c)
        if digit is None:
            return -1
        out = (out << 6) | digit
    return out


def encode_date(unix: int) -> str:
    """A cookie date field: ``s30tob64((unix + 3) >> 2)`` (4-second units, rounded up)."""
    return _s30tob64((unix + 3) >> 2).decode("ascii")


def decode_date(text: str) -> int | None:
    """The unix time of a date field (its first 5 characters), or ``None`` when HAProxy would
    ignore it: fewer than 5 characters, a character outside the base64 alphabet, or zero."""
    raw = text.encode("utf-8", "replace")
    if len(raw) < 5:
        return None
    value = _b64tos30(raw)
    return value << 2 if value > 0 else None


# --- byte-level helpers of src/http.c and src/http_ana.c ------------------------------------------

_SP, _HT = 0x20, 0x09
_EQUAL, _QUOTE, _BSLASH, _DOLLAR = 0x3D, 0x22, 0x5C, 0x24
_COOKIE_DELIM = b"~"  # prefix mode: NAME=SRV~OPAQUE
_COOKIE_DELIM_DATE = b"|"  # NAME=SRV|LAST|FIRST
_EXPIRED_COOKIE = b"=; Expires=Thu, 01-Jan-1970 00:00:01 GMT; path=/"
_CACHEABLE_STATUSES = frozenset((200, 203, 204, 206, 300, 301, 404, 405, 410, 414, 501))
_SAFE_METHODS = frozenset((b"GET", b"HEAD", b"OPTIONS", b"TRACE"))
_UNCACHEABLE = frozenset((b"private", b"no-cache", b"no-store", b"max-age=0", b"s-maxage=0"))


_ATT_STOP = re.compile(rb"[=,;]")  # Cookie, Set-Cookie2
_ATT_STOP_SET_COOKIE = re.compile(rb"[=;]")


def _blank_by_equal(value: bytes) -> bool:
    """Whether a blank touches an ``=``: the only change the parser makes to a Cookie header
    that does not hold our cookie's name."""
    return (
        b" =" in value
        or b"= " in value
        or (b"\t" in value and (b"\t=" in value or b"=\t" in value))
    )


def _del_value(buf: bytearray, start: int, end: int, frm: int, nxt: int) -> tuple[int, int]:
    """``http_del_hdr_value``: delete ``buf[frm:nxt]`` where ``frm`` is a cookie's start (the
    header's start or the delimiter before it) and ``nxt`` the delimiter after the deleted run
    (or ``end``). A first cookie takes the following delimiter and blanks with it; otherwise
    blanks before ``frm`` go, and the delimiter at ``nxt`` plus one space (when there was room)
    replace the run. Like the C ``memmove`` it does not shorten ``buf``: the last bytes before
    ``end`` stay behind it. Returns (length change, new ``frm``)."""
    prev = frm
    if prev == start:
        if nxt < end:
            nxt += 1
        while nxt < end and buf[nxt] in (_SP, _HT):
            nxt += 1
    else:
        # HAProxy does not bound this loop; the byte before the value is the header name's.
        while prev > start and buf[prev - 1] in (_SP, _HT):
            prev -= 1
        frm = prev
        if nxt < end:
            buf[prev] = buf[nxt]
            prev += 1
            nxt += 1
            if prev + 1 < nxt:
                buf[prev] = _SP
                prev += 1
            while nxt < end and buf[nxt] in (_SP, _HT):
                nxt += 1
    buf[prev : end - (nxt - prev)] = buf[nxt:end]
    return prev - nxt, frm


def _list_items(value: bytes) -> list[bytes]:
    """The elements of a comma-separated header value as ``http_find_header(..., full=0)`` walks
    them: split at unquoted commas, blanks trimmed."""
    buf = bytearray(value)
    items: list[bytes] = []
    start, end = 0, len(buf)
    while True:
        stop = value_end(buf, start, end, HDR_VALUE_STOP)
        items.append(bytes(buf[start:stop]).strip(b" \t\r\n"))
        if stop >= end:
            return items
        start = stop + 1


class _RequestState:
    """The parts of HAProxy's txn/stream flags that the client-side parser reads and writes."""

    __slots__ = ("assigned", "ck", "direct", "first", "force", "ignore", "last", "now", "target")

    def __init__(self, now: int, force: bool, ignore: bool, assigned: bool) -> None:
        self.now = now
        self.force = force  # SF_FORCE_PRST
        self.ignore = ignore  # SF_IGNORE_PRST
        self.assigned = assigned  # SF_ASSIGNED
        self.direct = assigned  # SF_DIRECT (a use-server rule sets both)
        self.ck = "N"  # TX_CK_*
        self.target: CookieServer | None = None
        self.last = 0  # txn->cookie_last_date
        self.first = 0  # txn->cookie_first_date


def _scan_cookie(
    buf: bytearray, start: int, hdr_end: int, att_stop: re.Pattern[bytes]
) -> tuple[int, int, int, int, int, int]:
    """One cookie of a Cookie/Set-Cookie value from ``start``, as HAProxy's parsers walk it:
    the name's start and end (blanks trimmed), ``equal`` (the first ``att_stop`` byte, or the
    end), the value's start and end (blanks trimmed; both at ``equal`` without an ``=``) and
    ``nxt``, where the value ends (the next unquoted delimiter)."""
    att_beg = start
    while att_beg < hdr_end and buf[att_beg] in (_SP, _HT):
        att_beg += 1
    m = att_stop.search(buf, att_beg, hdr_end)
    equal = att_end = hdr_end if m is None else m.start()
    while att_end > att_beg and buf[att_end - 1] in (_SP, _HT):
        att_end -= 1
    if equal < hdr_end and buf[equal] == _EQUAL:
        val_beg = equal + 1
        while val_beg < hdr_end and buf[val_beg] in (_SP, _HT):
            val_beg += 1
        nxt = value_end(buf, val_beg, hdr_end, COOKIE_VALUE_STOP)
        val_end = nxt
        while val_end > val_beg and buf[val_end - 1] in (_SP, _HT):
            val_end -= 1
    else:
        val_beg = val_end = nxt = equal
    return att_beg, att_end, equal, val_beg, val_end, nxt


def _strip_equal_blanks(
    buf: bytearray, att_end: int, equal: int, val_beg: int
) -> tuple[int, int, int]:
    """Remove the blanks before and after a cookie's ``=`` in place, as HAProxy does for every
    cookie it parses. Returns the shift of what follows (0 or negative) and the new positions
    of ``=`` and of the value."""
    stripped = 0
    if att_end != equal:
        del buf[att_end:equal]
        stripped = att_end - equal
        equal += stripped
        val_beg += stripped
    if val_beg > equal + 1:
        del buf[equal + 1 : val_beg]
        after = equal + 1 - val_beg
        val_beg += after
        stripped += after
    return stripped, equal, val_beg


class CookiePersistenceRules:
    """One backend's ``cookie`` directive, applied to requests and responses."""

    def __init__(
        self, config: CookiePersistence, servers: Sequence[CookieServer], persist: bool
    ) -> None:
        self.config = config
        self.servers = servers
        self.persist = persist  # option persist
        self._name = config.name.encode()
        self._ins = config.mode is CookieMode.INSERT
        self._rw = config.mode is CookieMode.REWRITE
        self._pfx = config.mode is CookieMode.PREFIX
        self._ind = config.indirect
        self._psv = config.preserve
        # src/log.c logs the flags only when ck_opts & PR_CK_ANY (rewrite|indirect|insert|prefix)
        self._logged = self._ins or self._rw or self._pfx or self._ind
        self._maxidle = config.maxidle
        self._maxlife = config.maxlife
        # the tail after the value and dates, built once (http_process_res_common)
        tail = b""
        if config.domains:
            # cfgparse-listen.c joins repeated ``domain`` keywords as "a; domain=b"
            tail += b"; domain=" + b"; domain=".join(d.encode() for d in config.domains)
        if config.httponly:
            tail += b"; HttpOnly"
        if config.secure:
            tail += b"; Secure"
        if config.attrs:
            tail += b"; " + b"; ".join(a.encode() for a in config.attrs)
        self._tail = tail
        self._cookie_bytes: dict[str, bytes] = {}

    # -- request ---------------------------------------------------------------------------------

    def on_request(
        self,
        request: Request,
        now: float,
        *,
        force_persist: bool = False,
        ignore_persist: bool = False,
        assigned: bool = False,
    ) -> CookieDecision:
        """Find the persistence cookie in every ``Cookie`` header, check its dates, choose the
        server and rewrite the headers in place (``http_manage_client_side_cookies``).

        ``force_persist``/``ignore_persist`` are the outcome of ``force-persist`` and
        ``ignore-persist`` rules; ``assigned`` says a ``use-server`` rule already chose the
        server (then the cookie is not used and logs ``U``, and the request counts as direct).
        """
        st = _RequestState(math.floor(now), force_persist, ignore_persist, assigned)
        headers = request.headers
        i = 0
        while i < len(headers):
            name, value = headers[i]
            if name != b"cookie":
                i += 1
                continue
            if self._name not in value and not _blank_by_equal(value):
                i += 1  # nothing the parser would see or change
                continue
            new = self._client_header(value, st)
            if new is None:
                del headers[i]
                continue
            if new is not value:
                headers[i] = (name, new)
            i += 1
        return CookieDecision(
            client_flag=st.ck if self._logged else "-",
            server_flag="N" if self._logged else "-",
            server=st.target,
            direct=st.direct,
            last_date=st.last or None,
            first_date=st.first or None,
            ignore_persist=ignore_persist,
        )

    def _server_cookie(self, server: CookieServer) -> bytes | None:
        cookie = server.cookie
        if cookie is None:
            return None
        raw = self._cookie_bytes.get(cookie)
        if raw is None:
            raw = self._cookie_bytes[cookie] = cookie.encode()
        return raw

    def _client_header(self, value: bytes, st: _RequestState) -> bytes | None:
        """One ``Cookie`` header: its new value (``value`` itself when unchanged), or ``None``
        when it must be removed. Mirrors http_manage_client_side_cookies pointer for pointer."""
        buf = bytearray(value)
        hdr_beg, hdr_end = 0, len(buf)
        del_from: int | None = None  # start of a run of cookies scheduled for deletion
        preserve_hdr = False  # something in the header must stay
        name = self._name
        name_len = len(name)
        is_first = True
        prev = hdr_beg
        while prev < hdr_end:
            att_beg, att_end, equal, val_beg, val_end, nxt = _scan_cookie(
                buf, prev + (not is_first), hdr_end, _ATT_STOP
            )
            is_first = False

            # RFC 2109 '$' attributes are skipped; they go with a deleted cookie before them.
            # (2.6 reads one byte past the value when it ends with a delimiter; that byte is the
            # next header's name or free space, never '$' in practice; fixed upstream f6a891160.)
            if att_beg < hdr_end and buf[att_beg] == _DOLLAR:
                prev = nxt
                continue

            if equal == nxt:
                # no '=': not ours, keep it, and flush a pending deletion up to here
                preserve_hdr = True
                if del_from is not None:
                    delta, del_from = _del_value(buf, hdr_beg, hdr_end, del_from, prev)
                    nxt += delta
                    hdr_end += delta
                    del_from = None
                prev = nxt
                continue

            # blanks around '=' are removed (for every cookie, not only ours)
            if att_end != equal or val_beg > equal + 1:
                stripped, equal, val_beg = _strip_equal_blanks(buf, att_end, equal, val_beg)
                val_end += stripped
                nxt += stripped
                hdr_end += stripped

            if att_end - att_beg == name_len and buf[att_beg:att_end] == name:
                delim = self._parse_value(buf, val_beg, val_end, st)
                if delim is not None:
                    self._choose(bytes(buf[val_beg:delim]) if delim > val_beg else b"", st)
                else:
                    delim = val_beg  # expired (O or E): as if there was no cookie
                if self._pfx and delim != val_end:
                    # NAME=SRV~OPAQUE -> NAME=OPAQUE, and keep it
                    del buf[val_beg : delim + 1]
                    delta = val_beg - (delim + 1)
                    val_end += delta
                    nxt += delta
                    hdr_end += delta
                    del_from = None
                    preserve_hdr = True
                elif del_from is None and self._ins and self._ind:
                    del_from = prev
            else:
                preserve_hdr = True
                if del_from is not None:
                    delta, del_from = _del_value(buf, hdr_beg, hdr_end, del_from, prev)
                    nxt += delta
                    hdr_end += delta
                    del_from = None
            prev = nxt

        if del_from is not None:
            hdr_end = del_from if preserve_hdr else hdr_beg
        # htx_change_blk_value_len / http_remove_header
        if hdr_end - hdr_beg == len(value):
            return value
        if hdr_end == hdr_beg:
            return None
        return bytes(buf[hdr_beg:hdr_end])

    def _parse_value(
        self, buf: bytearray, val_beg: int, val_end: int, st: _RequestState
    ) -> int | None:
        """Where the server part of our cookie's value ends (``delim``), after reading its date
        fields; ``None`` when maxlife/maxidle made it expire (flag O or E)."""
        if self._pfx:
            delim = buf.find(_COOKIE_DELIM, val_beg, val_end)
            return val_end if delim < 0 else delim
        delim = val_end
        vbar = buf.find(_COOKIE_DELIM_DATE, val_beg, val_end)
        if vbar >= 0:
            # NAME=SRV|LAST[|FIRST]: 5 base64 characters each, read even if more follow
            delim = vbar
            vbar += 1
            if val_end - vbar >= 5:
                date = _b64tos30(buf[vbar : vbar + 5])
                if date > 0:
                    st.last = _s32(date << 2)
            vbar2 = buf.find(_COOKIE_DELIM_DATE, vbar, val_end)
            if vbar2 >= 0 and val_end - vbar2 > 5:
                date = _b64tos30(buf[vbar2 + 1 : vbar2 + 6])
                if date > 0:
                    st.first = _s32(date << 2)
        # maxlife first (O), then maxidle (E); a date more than a day ahead counts as expired.
        # HAProxy compares (signed)(now - date): 32-bit differences.
        now = st.now
        if (
            st.first
            and self._maxlife
            and (_s32(now - st.first) > self._maxlife or _s32(st.first - now) > 86400)
        ):
            st.ck = "O"
            st.first = st.last = 0
            return None
        if (
            st.last
            and self._maxidle
            and (_s32(now - st.last) > self._maxidle or _s32(st.last - now) > 86400)
        ):
            st.ck = "E"
            st.first = st.last = 0
            return None
        return delim

    def _choose(self, wanted: bytes, st: _RequestState) -> None:
        """The first server whose cookie is ``wanted`` and that is up (or any, under persist);
        an empty value, ignore-persist or an already assigned server skip the search."""
        found = False
        if wanted and not st.ignore and not st.assigned:
            for server in self.servers:
                if self._server_cookie(server) != wanted:
                    continue
                up = server.usable()
                if up or self.persist or st.force:
                    st.ck = "V" if up else "D"
                    st.direct = st.assigned = True
                    st.target = server
                    found = True
                    break
                st.ck = "D"  # down: go on, another server may share the value
        # HAProxy tests !(flags & (TX_CK_DOWN|TX_CK_EXPIRED|TX_CK_OLD)), and those three values
        # OR to TX_CK_MASK: so only a request with no cookie state yet becomes I or U. A second
        # persistence cookie after a valid one leaves V in place.
        if not found and st.ck == "N":
            st.ck = "U" if (st.ignore or st.assigned) else "I"

    # -- redispatch ------------------------------------------------------------------------------

    def redispatched(self, decision: CookieDecision, server: CookieServer | None) -> None:
        """The transaction left the cookie's server (``option redispatch`` on a retry, or a
        queue redistributed) and balanced again, to ``server``. HAProxy clears ``SF_DIRECT``
        (the response then inserts a cookie: flag I) and, when the server changed, turns a
        ``V`` into ``D`` (backend.c ``assign_server_and_queue``): the observed ``--DI +2``."""
        if server is not decision.server and decision.client_flag == "V":
            decision.client_flag = "D"
        decision.direct = False

    # -- response --------------------------------------------------------------------------------

    def on_response(
        self,
        decision: CookieDecision,
        server: CookieServer | None,
        request: Request,
        response: Response,
        now: float,
    ) -> None:
        """Apply the response half (``http_process_res_common``) for ``server``, the server that
        actually answered (after redispatch), or ``None`` when none did.

        The server's own ``Set-Cookie: NAME=...`` is kept (``preserve``), deleted (insert mode,
        or ``indirect`` on a direct request: ``D``), rewritten (``rewrite``: ``R``) or prefixed
        (``prefix``: ``R``); an untouched one logs ``P``. Then a ``set-cookie`` is appended as
        HAProxy 2.6 builds it when it would insert one (``I``, or ``U`` for a date refresh), and
        ``cache-control: private`` after it for ``nocache`` if the response is cacheable.
        Interim responses (1xx other than 101) are left alone.
        """
        if (
            decision.direct
            and server is not None
            and decision.server is not None
            and server is not decision.server
        ):
            # connected elsewhere than the cookie said: that was a redispatch
            self.redispatched(decision, server)
        if response.status < 200 and response.status != 101:
            return
        now_s = math.floor(now)
        sck = "N"
        headers = response.headers
        # every Set-Cookie, then every Set-Cookie2 (http_manage_server_side_cookies)
        for header_name, is_cookie2 in ((b"set-cookie", False), (b"set-cookie2", True)):
            i = 0
            while i < len(headers):
                name, value = headers[i]
                if name != header_name or (self._name not in value and not _blank_by_equal(value)):
                    i += 1
                    continue
                new, sck = self._server_header(value, is_cookie2, sck, decision, server)
                if new is None:
                    del headers[i]
                    continue
                if new is not value:
                    headers[i] = (name, new)
                i += 1

        cacheable = self.config.nocache and _cacheable(request, response)

        last = decision.last_date or 0
        first = decision.first_date or 0
        if (
            server is not None
            and self._ins
            and not (self._psv and sck == "P")
            and (
                not decision.direct
                or ((self._maxidle or last) and (not last or last - now_s < 0))
                or (self._maxlife and not first)
                or (not self._maxlife and first)
            )
            and (not self.config.postonly or request.method == b"POST")
            and not decision.ignore_persist
        ):
            cookie = self._server_cookie(server)
            headers.append((b"set-cookie", self._set_cookie(cookie, first, now_s)))
            sck = "U" if cookie is not None and decision.direct else "I"
            if cacheable:
                headers.append((b"cache-control", b"private"))
        decision.server_flag = sck if self._logged else "-"

    def _set_cookie(self, cookie: bytes | None, first: int, now: int) -> bytes:
        """The inserted Set-Cookie value, in http_process_res_common's order."""
        name = self._name
        if cookie is None:
            # a server without a cookie value (a backup, say) asks for removal
            return name + _EXPIRED_COOKIE + self._tail
        out = name + b"=" + cookie
        if self._maxidle or self._maxlife:
            out += _COOKIE_DELIM_DATE + _s30tob64((now + 3) >> 2)
            if self._maxlife:
                out += _COOKIE_DELIM_DATE + _s30tob64(first >> 2 if first else (now + 3) >> 2)
        return out + b"; path=/" + self._tail

    def _server_header(
        self,
        value: bytes,
        is_cookie2: bool,
        sck: str,
        decision: CookieDecision,
        server: CookieServer | None,
    ) -> tuple[bytes | None, str]:
        """One Set-Cookie (only its first cookie counts: commas may sit in Expires) or
        Set-Cookie2 (comma-separated cookies) header: (new value or ``None`` to remove it,
        new set-cookie state)."""
        buf = bytearray(value)
        hdr_beg, hdr_end = 0, len(buf)
        changed = False
        name = self._name
        name_len = len(name)
        is_first = True
        prev = hdr_beg
        while prev < hdr_end:
            att_beg, att_end, equal, val_beg, val_end, nxt = _scan_cookie(
                buf,
                prev + (not is_first),
                hdr_end,
                _ATT_STOP if is_cookie2 else _ATT_STOP_SET_COOKIE,
            )
            is_first = False
            if nxt < hdr_end:
                # Set-Cookie2: on to the next comma; Set-Cookie: the rest is attributes
                nxt = value_end(buf, nxt, hdr_end, HDR_VALUE_STOP) if is_cookie2 else hdr_end
            if equal == val_end:  # no '='
                prev = nxt
                continue
            if att_end != equal or val_beg > equal + 1:
                stripped, equal, val_beg = _strip_equal_blanks(buf, att_end, equal, val_beg)
                val_end += stripped
                nxt += stripped
                hdr_end += stripped
                del buf[hdr_end:]  # htx_change_blk_value_len
                changed = True

            if (
                not decision.ignore_persist
                and att_end - att_beg == name_len
                and buf[att_beg:att_end] == name
            ):
                sck = "P"  # found, passed as is unless changed below
                cookie = None if server is None else self._server_cookie(server)
                if self._psv:
                    pass
                elif (server is not None and self._ins) or (decision.direct and self._ind):
                    sck = "D"
                    if prev == hdr_beg and nxt == hdr_end:
                        return None, sck
                    # Set-Cookie2 only. HAProxy 2.6 does not shorten the header here: the
                    # bytes the deletion moved stay at its end ("a=1, SRV=2; Version=1, b=3"
                    # becomes "a=1, b=3=2; Version=1, b=3", seen on 2.6.12), and the next pass
                    # starts one byte after ``prev``, so a cookie that slid to the start loses
                    # its first letter.
                    delta, prev = _del_value(buf, hdr_beg, hdr_end, prev, nxt)
                    nxt = prev
                    hdr_end += delta
                    changed = True
                elif cookie is not None and self._rw:
                    buf[val_beg:val_end] = cookie
                    delta = len(cookie) - (val_end - val_beg)
                    nxt += delta
                    hdr_end += delta
                    sck = "R"
                    changed = True
                elif cookie is not None and self._pfx:
                    buf[val_beg:val_beg] = cookie + _COOKIE_DELIM
                    delta = len(cookie) + 1
                    nxt += delta
                    hdr_end += delta
                    sck = "R"
                    changed = True
            prev = nxt
        if not changed:
            return value, sck
        return bytes(buf), sck

    # -- log ---------------------------------------------------------------------------------

    def flags(self, decision: CookieDecision) -> str:
        """The two cookie characters of the termination state (``%tsc`` positions 3 and 4)."""
        return decision.client_flag + decision.server_flag


def _cacheable(request: Request, response: Response) -> bool:
    """HAProxy 2.6.12's ``TX_CACHEABLE`` at the time the cookie is inserted.

    Set for GET/HEAD/OPTIONS/TRACE (http_wait_for_request), cleared for a status outside RFC 7231's
    cacheable-by-default list (http_wait_for_response), then
    ``http_check_response_for_cacheability``: ``Pragma: no-cache`` (first Pragma header, whole
    value) or a Cache-Control element private/no-cache/no-store/max-age=0/s-maxage=0 clear it,
    ``public`` sets it again (even for a POST or a 302), and without freshness (``max-age``,
    ``s-maxage``, ``Expires``) or a validator (``ETag``, ``Last-Modified``) it is cleared too
    (upstream 879debeec, in 2.6 since 2.6.10; observed on 2.6.12). The later fix letting
    ``s-maxage`` override ``max-age=0`` (ca4fd7393, 2023-07) is not in 2.6.12.
    """
    cacheable = request.method in _SAFE_METHODS and response.status in _CACHEABLE_STATUSES
    if response.status < 200:
        return False
    headers: Headers = response.headers
    for name, value in headers:
        if name == b"pragma":
            if value.strip(b" \t").lower() == b"no-cache":
                return False
            break
    fresh = False
    for name, value in headers:
        if name != b"cache-control":
            continue
        for item in _list_items(value):
            low = item.lower()
            if low == b"public":
                cacheable = True
            elif low in _UNCACHEABLE:
                cacheable = False
            elif low.startswith(b'no-cache="set-cookie'):
                pass  # only TX_CACHE_COOK, which nocache does not look at
            elif low.startswith(b"s-maxage") or low.startswith(b"max-age"):
                fresh = True
    if not fresh:
        fresh = any(name == b"expires" for name, _ in headers)
    if not fresh and not any(name in (b"etag", b"last-modified") for name, _ in headers):
        cacheable = False
    return cacheable
