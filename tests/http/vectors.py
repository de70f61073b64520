"""The 50 parser/smuggling vectors of reference/edge.md §5.3 (tests/http/data copy), with the
verdict stack gives each: the status of the single response and whether the connection
closes. Parsed from the data file so the bytes are exactly the reference's."""

from __future__ import annotations

import re
from pathlib import Path

DATA = Path(__file__).parent / "data" / "parser-vectors.txt"

# name -> (status, closed). Framing ambiguity: 400 + close; size limits: 431/414;
# what stays unambiguous is served (200) and keeps the connection open.
EXPECTED: dict[str, tuple[int, bool]] = {
    "baseline": (200, False),
    "cl-te-both": (400, True),
    "te-cl-smuggle": (400, True),
    "te-xchunked": (400, True),
    "te-space-before-colon": (400, True),
    "te-dup-chunked-x": (400, True),
    "te-chunked-chunked": (400, True),
    "te-comma-chunked": (400, True),
    "te-tab": (200, False),
    "te-http10": (400, True),
    "te-obsfold": (400, True),
    "ws-before-first-header": (400, True),
    "cl-dup-diff": (400, True),
    "cl-dup-same-list": (400, True),
    "cl-plus": (400, True),
    "cl-hex": (400, True),
    "cl-negative": (400, True),
    "cl-empty": (400, True),
    "cl-underscore": (400, True),
    "chunk-size-hexprefix": (400, True),
    "chunk-size-underscore": (400, True),
    "chunk-size-negative": (400, True),
    "chunk-size-leading-space": (400, True),
    "chunk-size-overflow": (400, True),
    "chunk-bare-lf": (400, True),
    "chunk-data-too-long": (400, True),
    "chunk-ext-bare-cr": (400, True),
    "bare-lf-headers": (400, True),
    "bare-cr-in-value": (400, True),
    "nul-in-value": (400, True),
    "obs-fold-value": (400, True),
    "no-host-11": (400, True),
    "dup-host": (400, True),
    "space-in-name": (400, True),
    "empty-header-name": (400, True),
    "bad-version": (400, True),
    "lf-in-request-line": (400, True),
    "huge-header-100k": (431, True),
    "huge-uri-100k": (414, True),
    "many-headers-2000": (431, True),
    "path-dotdot": (400, True),
    "path-enc-dotdot": (400, True),
    "path-enc-slash": (200, False),
    "path-double-slash": (200, False),
    "absolute-form-host-mismatch": (200, False),
    "header-crlf-injection-resp": (200, False),
    "pipelined-after-close": (200, True),
    "cl-te-classic-clte": (400, True),
    "h2c-upgrade": (200, False),
    "connection-drops-xff": (200, True),
}


def _decode(expr: str) -> bytes:
    out = b""
    for part in re.findall(r'"(?:[^"\\]|\\.)*"(?: x \d+)?|\.\.\.', expr):
        if part == "...":
            continue
        m = re.fullmatch(r'("(?:[^"\\]|\\.)*")(?: x (\d+))?', part)
        assert m is not None
        text = m.group(1)[1:-1].encode().decode("unicode_escape").encode("latin-1")
        out += text * int(m.group(2) or 1)
    return out


def load_vectors() -> list[tuple[str, bytes]]:
    src = DATA.read_text()
    vectors = []
    for name, expr in re.findall(r"^\d+\. (\S+) .*\n   request : (.*)$", src, re.M):
        if name == "many-headers-2000":
            data = b"GET / HTTP/1.1\r\nHost: a\r\n"
            data += b"".join(b"X%d: y\r\n" % i for i in range(2000)) + b"\r\n"
        else:
            data = _decode(expr)
        vectors.append((name, data))
    return vectors


VECTORS = load_vectors()
assert [n for n, _ in VECTORS] == list(EXPECTED), "vector file and verdict table disagree"
