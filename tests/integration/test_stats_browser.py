"""The stats page as a browser shows it: headless Chromium renders the page of a running
``twistd -n stack``; the DOM holds the server rows, and the screenshot is a real picture (its
size, and pixels that are not all one colour), decoded with the standard library."""

from __future__ import annotations

import shutil
import struct
import subprocess
import zlib
from pathlib import Path

from conftest import free_port, require_system

INI = """\
[defaults]
mode = http
timeout connect = 2s
timeout client = 10s
timeout server = 5s

[frontend fe]
bind = 127.0.0.1:{port}
default_backend = be

[backend be]
server web1 = 127.0.0.1:{origin} weight 3
server web2 = 127.0.0.1:{origin}
server web3 = 127.0.0.1:{origin} disabled

[listen stats]
bind = 127.0.0.1:{stats}
stats uri = /stats
stats refresh = 10s
"""


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    require_system("chromium (Debian package) is not installed")
    raise AssertionError("unreachable")


def _run(browser: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--window-size=1400,900", *args],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )


def _png_pixels(data: bytes) -> tuple[int, int, set[bytes]]:
    """Width, height and the set of distinct pixels of an 8-bit RGB/RGBA PNG."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width = 8, b"", 0
    height = depth = color = 0
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        chunk = data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, color = struct.unpack(">IIBB", chunk[:10])
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + length
    assert depth == 8 and color in (2, 6), (depth, color)
    bpp = 3 if color == 2 else 4
    raw = zlib.decompress(idat)
    stride = width * bpp
    pixels: set[bytes] = set()
    prev = bytearray(stride)
    for y in range(height):
        line = raw[y * (stride + 1) : (y + 1) * (stride + 1)]
        kind, row = line[0], bytearray(line[1:])
        for i in range(stride):
            a = row[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if kind == 1:
                row[i] = (row[i] + a) & 0xFF
            elif kind == 2:
                row[i] = (row[i] + b) & 0xFF
            elif kind == 3:
                row[i] = (row[i] + (a + b) // 2) & 0xFF
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else b if pb <= pc else c
                row[i] = (row[i] + pred) & 0xFF
        if y % 10 == 0:
            pixels.update(bytes(row[x : x + 3]) for x in range(0, stride, bpp * 7))
        prev = row
    return width, height, pixels


def test_stats_page_renders_in_chromium(run_stack, origins, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    browser = _chromium()
    o = origins("o")
    port, stats = free_port(), free_port()
    stack = run_stack(INI.format(port=port, stats=stats, origin=o.port), port)
    url = f"http://127.0.0.1:{stats}/stats"
    dom = _run(browser, "--dump-dom", url)
    assert dom.returncode == 0, dom.stderr[-2000:]
    html = dom.stdout
    assert "<table>" in html and '<section id="be">' in html
    assert html.count('<tr class="server">') == 3
    assert "web1" in html and "web2" in html and "web3" in html
    assert 'class="st maint">MAINT' in html and 'class="st nocheck">no check' in html
    shot = tmp_path / "stats.png"
    result = _run(browser, f"--screenshot={shot}", url)
    assert result.returncode == 0 and shot.exists(), result.stderr[-2000:]
    width, height, pixels = _png_pixels(shot.read_bytes())
    assert (width, height) == (1400, 900)
    assert len(pixels) > 20  # text, table rules and coloured states, not a blank page
    # a page without 'stats auth' is announced at start
    assert "has no 'stats auth'" in stack.log_text()
