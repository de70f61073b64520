"""Sample fetches for stick rules, with HAProxy 2.6 semantics (src/http_fetch.c, src/http.c).

A stick rule fetches one sample from the request or the response head and turns it into a table
key. This module does the first half: ``fetch_request``/``fetch_response`` return the sample's
bytes, or ``None`` when it is absent. ``compile_request``/``compile_response`` do the argument
parsing once and return the fetch as a closure, for the request path.

What HAProxy does, and so what these do (single-value fetch, as stick rules call them; ACLs
iterate instead, which is ``stack.balancer.acl``'s business):

* Header values are first split at commas outside double quotes and trimmed of linear white
  space (``http_find_header`` without ``full``), for every header fetch below, ``Cookie`` and
  ``Set-Cookie`` included. An empty header or an empty list member is an empty value.
* ``req.cook(NAME)``: the **last** occurrence of cookie ``NAME`` over every ``Cookie`` header
  (``cookie`` documentation: "extracts the last occurrence"). Within a value, cookies end at
  ``;`` or ``,`` outside double quotes; spaces and tabs around the name and the value are
  ignored; the name is compared exactly (case-sensitive); the value keeps its quotes;
  attributes whose name starts with ``$`` and cookies without ``=`` are skipped; an empty value
  is a value. Without a name the first cookie's value is returned.
* ``res.cook(NAME)``: the same over ``Set-Cookie`` headers, except that only the first
  ``name=value`` of each comma-separated member counts (the attributes after ``;`` are not
  cookies), so the value is what precedes the first ``;``.
* ``req.hdr(NAME[,OCC])`` / ``res.hdr``: by default the **last** comma-separated value of
  header ``NAME`` (case-insensitive); ``OCC`` > 0 counts from the first value, < 0 from the
  last (at most 10 back, ``MAX_HDR_HISTORY``). No argument at all gives no sample; an empty
  name matches every header.
* ``url_param(NAME[,DELIM])``: the **first** occurrence of ``NAME=`` in the query string, which
  starts after the first ``?`` (or ``DELIM``) of the URI; parameters are separated by ``&``,
  ``;`` or ``DELIM``; the value is raw (no URL decoding). Without a name, the value after the
  first ``=`` of the query string.
* ``src``: the client address text, as given.

Fetches that read the other direction (``req.*`` at response time, ``res.*`` at request time)
give no sample; HAProxy rejects such rules at load time, which is the loader's job.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from stack.config import model
from stack.http.message import Headers, Request, Response

__all__ = [
    "RequestFetch",
    "ResponseFetch",
    "canonical_fetch",
    "compile_request",
    "compile_response",
    "cookie_value",
    "fetch_request",
    "fetch_response",
    "header_value",
    "split_values",
    "url_param",
]

RequestFetch = Callable[[Request, str], bytes | None]
ResponseFetch = Callable[[Response], bytes | None]

_LWS = frozenset(b" \t\r\n")  # HTTP_IS_LWS
_SPHT = frozenset(b" \t")  # HTTP_IS_SPHT
_COMMA, _SEMI, _EQUAL, _DOLLAR = b",", b";", b"=", b"$"
_MAX_HDR_HISTORY = 10

# accepted spellings (HAProxy's aliases) -> canonical name
_ALIASES = {
    "req.cook": "req.cook",
    "req.cookie": "req.cook",
    "cook": "req.cook",
    "cookie": "req.cook",
    "res.cook": "res.cook",
    "res.cookie": "res.cook",
    "scook": "res.cook",
    "set-cookie": "res.cook",
    "req.hdr": "req.hdr",
    "hdr": "req.hdr",
    "res.hdr": "res.hdr",
    "shdr": "res.hdr",
    "url_param": "url_param",
    "urlp": "url_param",
    "src": "src",
}
_REQUEST_FETCHES = frozenset({"req.cook", "req.hdr", "url_param", "src"})
_RESPONSE_FETCHES = frozenset({"res.cook", "res.hdr"})


_INT64_MAX = (1 << 63) - 1
_INT64_MIN = -(1 << 63)


def read_int64(data: bytes) -> int | None:
    """``c_str2int``: ``None`` for an empty string, else ``read_int64``'s value: optional
    sign, leading decimal digits (none is 0), saturated to the signed 64-bit range."""
    if not data:
        return None
    i = 0
    neg = False
    if data[:1] == b"-":
        neg, i = True, 1
    elif data[:1] == b"+":
        i = 1
    j = i
    n = len(data)
    while j < n and 48 <= data[j] <= 57:
        j += 1
    value = int(data[i:j]) if j > i else 0
    if neg:
        return max(-value, _INT64_MIN)
    return min(value, _INT64_MAX)


def canonical_fetch(name: str) -> str:
    """The canonical name of a supported fetch keyword (``urlp`` -> ``url_param``)."""
    try:
        return _ALIASES[name]
    except KeyError:
        raise ValueError(f"unsupported stick sample fetch {name!r}") from None


# --- header values ----------------------------------------------------------------------------


COOKIE_VALUE_STOP = re.compile(rb'[",;]')  # http_find_cookie_value_end
HDR_VALUE_STOP = re.compile(rb'[",]')  # http_find_hdr_value_end


def value_end(buf: bytes | bytearray, s: int, e: int, stop: re.Pattern[bytes]) -> int:
    """``http_find_cookie_value_end`` (``stop`` = ``[",;]``) or ``http_find_hdr_value_end``
    (``[",]``): the first unquoted delimiter from ``s``, else ``e``. A ``"`` opens a quoted
    string in which ``\\`` escapes the next character."""
    m = stop.search(buf, s, e)
    while m is not None:
        s = m.start()
        if buf[s] != 0x22:  # not a double quote: a delimiter
            return s
        # inside a quoted string: find its end, then look for a delimiter again
        s += 1
        while s < e:
            c = buf[s]
            if c == 0x5C:  # backslash
                s += 2
                continue
            s += 1
            if c == 0x22:
                break
        if s >= e:
            return e
        m = stop.search(buf, s, e)
    return e


def split_values(value: bytes) -> list[bytes]:
    """One header line's values as ``http_find_header(..., full=0)`` returns them one by one:
    split at commas outside quotes, each trimmed of LWS; empty members are kept."""
    if _COMMA not in value:  # the common case: one value
        return [value.strip(b" \t\r\n")]
    out: list[bytes] = []
    n = len(value)
    pos = 0
    while True:
        start = pos
        while start < n and value[start] in _LWS:
            start += 1
        end = value_end(value, start, n, HDR_VALUE_STOP)
        vend = end
        while vend > start and value[vend - 1] in _LWS:
            vend -= 1
        out.append(value[start:vend])
        if end >= n:
            return out
        pos = end + 1  # skip the comma


def header_value(headers: Headers, name: bytes | None, occ: int = 0) -> bytes | None:
    """``req.hdr(name[,occ])`` / ``res.hdr``: ``occ`` 0 is the last value (single fetch)."""
    if name is None:
        return None
    name = name.lower()
    values = [p for k, v in headers if not name or k == name for p in split_values(v)]
    if occ == 0:
        occ = -1
    if occ > 0:
        return values[occ - 1] if occ <= len(values) else None
    if -occ > _MAX_HDR_HISTORY or -occ > len(values):
        return None
    return values[occ]


# --- cookies ----------------------------------------------------------------------------------


def _extract_cookie(
    h: bytes, start: int, name: bytes, is_list: bool
) -> tuple[int, int, int] | None:
    """``http_extract_cookie_value`` on ``h[start:]``: ``(value start, value end, where to go
    on from)`` for the first cookie called ``name`` (any cookie when ``name`` is empty), or
    ``None``. ``is_list`` (request side) lets ``,`` end a name and goes on past the first
    cookie; on the response side only the first ``name=value`` counts."""
    e = len(h)
    nl = len(name)
    att_beg = start
    while att_beg + nl + 1 < e:
        while att_beg < e and h[att_beg] in _SPHT:
            att_beg += 1
        equal = att_end = att_beg
        while equal < e:
            c = h[equal : equal + 1]
            if c in (_EQUAL, _SEMI) or (is_list and c == _COMMA):
                break
            equal += 1
            if c == b" " or c == b"\t":
                continue
            att_end = equal
        if equal < e and h[equal : equal + 1] == _EQUAL:
            val_beg = equal + 1
            while val_beg < e and h[val_beg] in _SPHT:
                val_beg += 1
            nxt = value_end(h, val_beg, e, COOKIE_VALUE_STOP)
            val_end = nxt
            while val_end > val_beg and h[val_end - 1] in _SPHT:
                val_end -= 1
        else:
            val_beg = val_end = nxt = equal
        if h[att_beg : att_beg + 1] == _DOLLAR or equal == nxt:
            # "$Path"-style attributes are not cookies; neither is a word without '='
            att_beg = nxt + 1
            continue
        if nl == 0 or (att_end - att_beg == nl and h[att_beg:att_end] == name):
            return val_beg, val_end, nxt + 1
        if not is_list:
            return None
        att_beg = nxt + 1
    return None


def cookie_value(headers: Headers, header: bytes, name: bytes, is_list: bool) -> bytes | None:
    """``smp_fetch_cookie`` as a single fetch: the last value of cookie ``name`` over every
    ``header`` line (``cookie`` with ``is_list``, ``set-cookie`` without), or the first
    cookie's value when ``name`` is empty."""
    nl = len(name)
    found: bytes | None = None
    for key, line in headers:
        if key != header:
            continue
        for value in split_values(line):
            if len(value) < nl + 1:
                continue
            pos = 0
            while True:
                hit = _extract_cookie(value, pos, name, is_list)
                if hit is None:
                    break
                found = value[hit[0] : hit[1]]
                if not nl:
                    return found
                pos = hit[2]
    return found


# --- query string ----------------------------------------------------------------------------


def url_param(target: bytes, name: bytes, delim: bytes = b"?") -> bytes | None:
    """``url_param(name[,delim])`` on a request target: the first occurrence's raw value."""
    q = target.find(delim) if delim else -1
    if q < 0:
        return None
    u = target
    last = len(u)
    seps = {38, 59, delim[0]}  # '&', ';', delim  (http_is_param_delimiter)
    nl = len(name)
    pos = q + 1
    if nl:
        # http_find_url_param_pos
        while True:
            if pos >= last:
                return None
            equal = pos + nl
            if equal >= last:
                return None
            if u[equal] == 61:  # '='
                if u[pos:equal] == name:
                    break
                pos = equal + 1
            while pos < last and u[pos] not in seps:
                pos += 1
            if pos >= last:
                return None
            pos += 1
        vstart = pos + nl + 1
    else:
        eq = u.find(b"=", pos)
        if eq < 0:
            return None
        vstart = eq + 1
    vend = vstart
    while vend < last and u[vend] not in seps:
        vend += 1
    return u[vstart:vend]


# --- fetch dispatch --------------------------------------------------------------------------


def _arg_bytes(arg: str | None) -> bytes | None:
    return None if arg is None else arg.encode("utf-8", "surrogateescape")


def _hdr_args(arg: str | None) -> tuple[bytes | None, int]:
    """``NAME[,OCC]``."""
    if arg is None:
        return None, 0
    name, comma, occ = arg.partition(",")
    if not comma:
        return _arg_bytes(name), 0
    try:
        return _arg_bytes(name.strip()), int(occ.strip())
    except ValueError:
        raise ValueError(f"bad header occurrence in {arg!r}") from None


def _urlp_args(arg: str | None) -> tuple[bytes, bytes]:
    """``NAME[,DELIM]``: the delimiter is the first byte of the second argument."""
    if arg is None:
        return b"", b"?"
    name, comma, delim = arg.partition(",")
    if not comma:
        return _arg_bytes(name) or b"", b"?"
    return _arg_bytes(name) or b"", (_arg_bytes(delim) or b"\0")[:1]


def _none_req(request: Request, src: str) -> bytes | None:
    return None


def _none_res(response: Response) -> bytes | None:
    return None


def compile_request(sample: model.Sample) -> RequestFetch:
    """The request-side fetch of ``sample`` as ``f(request, src)``, arguments parsed once."""
    fetch = canonical_fetch(sample.fetch)
    if fetch == "src":

        def src_(request: Request, src: str) -> bytes | None:
            return src.encode("ascii", "surrogateescape")

        return src_
    if fetch == "req.cook":
        name = _arg_bytes(sample.arg) or b""

        def cook(request: Request, src: str) -> bytes | None:
            return cookie_value(request.headers, b"cookie", name, True)

        return cook
    if fetch == "req.hdr":
        hname, occ = _hdr_args(sample.arg)

        def hdr(request: Request, src: str) -> bytes | None:
            return header_value(request.headers, hname, occ)

        return hdr
    if fetch == "url_param":
        pname, delim = _urlp_args(sample.arg)

        def urlp(request: Request, src: str) -> bytes | None:
            return url_param(request.target, pname, delim)

        return urlp
    return _none_req  # a response fetch: nothing at request time


def compile_response(sample: model.Sample) -> ResponseFetch:
    """The response-side fetch of ``sample`` as ``f(response)``; ``src`` is not read here
    (``StickRules`` passes the client address itself)."""
    fetch = canonical_fetch(sample.fetch)
    if fetch == "res.cook":
        name = _arg_bytes(sample.arg) or b""

        def scook(response: Response) -> bytes | None:
            return cookie_value(response.headers, b"set-cookie", name, False)

        return scook
    if fetch == "res.hdr":
        hname, occ = _hdr_args(sample.arg)

        def shdr(response: Response) -> bytes | None:
            return header_value(response.headers, hname, occ)

        return shdr
    return _none_res  # a request fetch (or src): nothing from the response head


def fetch_request(sample: model.Sample, request: Request, src: str) -> bytes | None:
    """Evaluate ``sample`` on a request head; ``None`` when absent."""
    return compile_request(sample)(request, src)


def fetch_response(sample: model.Sample, response: Response) -> bytes | None:
    """Evaluate ``sample`` on a response head; ``None`` when absent."""
    return compile_response(sample)(response)


def is_request_fetch(sample: model.Sample) -> bool:
    """The fetch reads the request (or the connection) rather than the response."""
    return canonical_fetch(sample.fetch) in _REQUEST_FETCHES


def is_response_fetch(sample: model.Sample) -> bool:
    """The fetch reads the response head."""
    return canonical_fetch(sample.fetch) in _RESPONSE_FETCHES
