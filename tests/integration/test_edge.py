"""The HTTPS edge end to end: ``twistd -n stack`` with an ``[edge]`` in front of the balancer,
clients speaking TLS with Python's ``ssl``, a recording origin behind.

Each test starts its own process; certificates come from ``tests/pki.py`` (a throwaway CA)
or from ``certificate = auto``.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import ROOT, Stack, free_port, raw_exchange, wait_for
from cryptography import x509
from origin import Origin
from pki import Issued, issue, make_ca

pytestmark = pytest.mark.integration


def _write_pair(directory: Path, name: str, issued: Issued) -> Path:
    path = directory / f"{name}.pem"
    path.write_bytes(issued.cert_pem() + issued.key_pem())
    return path


class Pki:
    def __init__(self, directory: Path) -> None:
        self.ca = make_ca("edge test CA")
        self.ca_path = directory / "ca.pem"
        self.ca_path.write_bytes(self.ca.cert_pem())
        self.directory = directory

    def leaf(self, name: str, *dns: str) -> tuple[Path, Issued]:
        names: list[x509.GeneralName] = [x509.DNSName(d) for d in dns]
        if not dns:
            import ipaddress

            names = [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
        issued = issue(self.ca, dns[0] if dns else "127.0.0.1", names)
        return _write_pair(self.directory, name, issued), issued

    def context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca_path))


def fingerprint(der: bytes) -> str:
    return hashlib.sha256(der).hexdigest()


def https(
    port: int,
    target: str,
    ctx: ssl.SSLContext,
    *,
    method: str = "GET",
    host: str | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[http.client.HTTPResponse, bytes, http.client.HTTPSConnection]:
    """One request on a new connection; the Host is what a browser sends (with the port)."""
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=10)
    host = host or f"127.0.0.1:{port}"
    conn.request(method, target, headers={"Host": host, **(headers or {})})
    response = conn.getresponse()
    body = response.read()
    return response, body, conn


def edge_config(
    edge: str,
    origin: Origin,
    *,
    https_port: int,
    balancer_port: int,
    global_lines: str = "",
    frontend_lines: str = "",
) -> str:
    return f"""\
[global]
maxconn = 256
{global_lines}
[defaults]
mode = http
timeout connect = 2s
timeout client = 10s
timeout server = 10s

[edge www]
bind = 127.0.0.1:{https_port}
{edge}

[frontend web]
bind = 127.0.0.1:{balancer_port}
default_backend = app
{frontend_lines}

[backend app]
server s1 = 127.0.0.1:{origin.port}
"""


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return Pki(tmp_path)


Run = Callable[..., Stack]


def start(
    run_stack: Run,
    edge: str,
    origin: Origin,
    *,
    tiers: tuple[str, ...] = ("edge", "balancer"),
    frontend_lines: str = "",
) -> tuple[Stack, int, int]:
    https_port, balancer_port = free_port(), free_port()
    ini = edge_config(
        edge,
        origin,
        https_port=https_port,
        balancer_port=balancer_port,
        frontend_lines=frontend_lines,
    )
    return run_stack(ini, https_port, tiers), https_port, balancer_port


def sent_headers(record: dict) -> dict[str, str]:
    """The headers the origin received (its echoed record), by lowercase name."""
    return {k.lower(): v for k, v in record["headers"]}


# --- TLS ------------------------------------------------------------------------------------------


def test_https_reaches_the_origin_through_the_balancer_in_memory(
    run_stack: Run, origins: Callable[[str], Origin], pki: Pki
) -> None:
    origin = origins("o1")
    cert, _ = pki.leaf("site")
    stack, port, balancer_port = start(
        run_stack, f"certificate = {cert}\nproxy-pass = / web\nhsts = on\n", origin
    )
    response, body, conn = https(port, "/x?y=1", pki.context(), headers={"User-Agent": "t"})
    assert response.status == 200
    record = json.loads(body)
    assert record["target"] == "/x?y=1"
    sent = sent_headers(record)
    assert sent["x-forwarded-for"] == "127.0.0.1"
    assert sent["x-forwarded-proto"] == "https"
    assert sent["x-forwarded-port"] == str(port)
    assert sent["x-forwarded-host"] == f"127.0.0.1:{port}"
    assert sent["host"] == f"127.0.0.1:{balancer_port}"  # ProxyPreserveHost off
    assert response.getheader("Strict-Transport-Security") == "max-age=63072000"
    # keep-alive: a second request on the same TLS connection
    conn.request("GET", "/again", headers={"Host": "127.0.0.1"})
    again = conn.getresponse()
    assert again.status == 200 and json.loads(again.read())["target"] == "/again"
    conn.close()
    # in memory: the balancer's own port never saw a connection
    assert "hands requests to frontend web in memory" in stack.log_text()


def test_tls_versions(run_stack: Run, origins: Callable[[str], Origin], pki: Pki) -> None:
    cert, _ = pki.leaf("site")
    _stack, port, _ = start(run_stack, f"certificate = {cert}\nproxy-pass = / web\n", origins("o"))
    for version, accepted in (
        (ssl.TLSVersion.TLSv1, False),
        (ssl.TLSVersion.TLSv1_1, False),
        (ssl.TLSVersion.TLSv1_2, True),
        (ssl.TLSVersion.TLSv1_3, True),
    ):
        ctx = pki.context()
        ctx.minimum_version = ctx.maximum_version = version
        if not accepted:
            ctx.set_ciphers("ALL:@SECLEVEL=0")
        try:
            with (
                socket.create_connection(("127.0.0.1", port)) as raw,
                ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
            ):
                got = tls.version()
        except (ssl.SSLError, ConnectionResetError):
            got = None
        if accepted:
            assert got == version.name.replace("_", "."), version
        else:
            assert got is None, version


def test_sni_picks_the_certificate_for_each_name(
    run_stack: Run, origins: Callable[[str], Origin], pki: Pki
) -> None:
    a, a_issued = pki.leaf("a", "a.test")
    b, b_issued = pki.leaf("b", "b.test")
    _stack, port, _ = start(
        run_stack,
        f"server-name = a.test\nserver-alias = b.test\ncertificate =\n    {a}\n    {b}\n"
        "proxy-pass = / web\n",
        origins("o"),
    )
    from cryptography.hazmat.primitives.serialization import Encoding

    for name, issued in (("a.test", a_issued), ("b.test", b_issued), ("other.test", a_issued)):
        ctx = pki.context()
        ctx.check_hostname = False
        with (
            socket.create_connection(("127.0.0.1", port)) as raw,
            ctx.wrap_socket(raw, server_hostname=name) as tls,
        ):
            der = tls.getpeercert(binary_form=True)
        assert der == issued.cert.public_bytes(Encoding.DER), name


def test_sighup_swaps_the_certificate_for_new_connections_only(
    run_stack: Run, origins: Callable[[str], Origin], pki: Pki, tmp_path: Path
) -> None:
    from cryptography.hazmat.primitives.serialization import Encoding

    live = tmp_path / "live.pem"
    first, first_issued = pki.leaf("first")
    second, second_issued = pki.leaf("second")
    shutil.copy(first, live)
    stack, port, _ = start(run_stack, f"certificate = {live}\nproxy-pass = / web\n", origins("o"))
    response, _body, old = https(port, "/before", pki.context())
    assert response.status == 200
    old_der = old.sock.getpeercert(binary_form=True)
    assert old_der == first_issued.cert.public_bytes(Encoding.DER)

    shutil.copy(second, live)
    os.kill(stack.proc.pid, signal.SIGHUP)
    assert wait_for(lambda: "certificates reloaded" in stack.log_text())
    _response, _body, new = https(port, "/after", pki.context())
    new_der = new.sock.getpeercert(binary_form=True)
    assert new_der == second_issued.cert.public_bytes(Encoding.DER)
    assert fingerprint(new_der) != fingerprint(old_der)
    new.close()
    # the connection opened before the reload still works, with its old certificate
    old.request("GET", "/still", headers={"Host": "127.0.0.1"})
    still = old.getresponse()
    assert still.status == 200 and json.loads(still.read())["target"] == "/still"
    assert old.sock.getpeercert(binary_form=True) == old_der
    old.close()

    # a bad file is reported and the current certificate stays in service
    live.write_text("not a certificate\n")
    os.kill(stack.proc.pid, signal.SIGHUP)
    assert wait_for(lambda: "certificate reload failed" in stack.log_text())
    _response, _body, after = https(port, "/bad", pki.context())
    assert after.sock.getpeercert(binary_form=True) == new_der
    after.close()


def test_certificate_auto_creates_then_reuses_a_local_ca(
    run_stack: Run, origins: Callable[[str], Origin], tmp_path: Path
) -> None:
    origin = origins("o")
    https_port, balancer_port = free_port(), free_port()
    ini = edge_config(
        "server-name = localhost\nserver-alias = 127.0.0.1\ncertificate = auto\n"
        "proxy-pass = / web\n",
        origin,
        https_port=https_port,
        balancer_port=balancer_port,
        global_lines=f"state-dir = {tmp_path / 'state'}",
    )
    stack = run_stack(ini, https_port, ("edge", "balancer"))
    ca = tmp_path / "state" / "tls" / "ca.pem"
    assert ca.exists()
    text = stack.log_text()
    assert str(ca) in text
    match = re.search(r"SHA-256 ([0-9A-F:]{95})", text)
    assert match is not None, text
    ctx = ssl.create_default_context(cafile=str(ca))
    response, _body, conn = https(https_port, "/auto", ctx, host=f"localhost:{https_port}")
    assert response.status == 200
    conn.close()
    first = ca.read_bytes()
    stack.proc.terminate()
    stack.proc.wait(10)
    again = run_stack(ini, https_port, ("edge", "balancer"))
    assert ca.read_bytes() == first  # reused, not re-created
    assert match.group(1) in again.log_text()


def test_the_balancer_sees_the_client_and_its_tls_in_memory(
    run_stack: Run, origins: Callable[[str], Origin], pki: Pki
) -> None:
    cert, _ = pki.leaf("site")
    _stack, https_port, balancer_port = start(
        run_stack,
        f"certificate = {cert}\nproxy-pass = / web\n",
        origins("o"),
        frontend_lines="http-request =\n"
        "    set-header X-Src %[src]\n"
        "    set-header X-Tls %[ssl_fc]/%[ssl_fc_protocol]/%[ssl_fc_cipher]\n"
        "    set-header X-Secure yes if { ssl_fc }",
    )
    ctx = pki.context()
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers("ECDHE-ECDSA-AES256-GCM-SHA384")
    _response, body, conn = https(https_port, "/tls", ctx)
    conn.close()
    sent = sent_headers(json.loads(body))
    assert sent["x-src"] == "127.0.0.1"
    assert sent["x-tls"] == "1/TLSv1.2/ECDHE-ECDSA-AES256-GCM-SHA384"
    assert sent["x-secure"] == "yes"
    # the same frontend reached over plain HTTP: no TLS to see
    out, _closed = raw_exchange(
        balancer_port, b"GET /plain HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    plain = sent_headers(json.loads(out.partition(b"\r\n\r\n")[2]))
    assert plain["x-tls"] == "0//" and "x-secure" not in plain


# --- redirects --------------------------------------------------------------------------------


def test_http_redirects_to_https_without_open_redirect(
    run_stack: Run, origins: Callable[[str], Origin], pki: Pki
) -> None:
    origin = origins("o")
    cert, _ = pki.leaf("site")
    plain = free_port()
    _stack, port, _ = start(
        run_stack,
        f"redirect-bind = 127.0.0.1:{plain}\nserver-name = www.example.test\n"
        f"server-alias = 127.0.0.1\ncertificate = {cert}\nproxy-pass = / web\nhsts = on\n",
        origin,
    )
    wait_for(lambda: _listening(plain))

    def get(target: str, host: str) -> bytes:
        out, _closed = raw_exchange(
            plain, f"GET {target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode()
        )
        return out

    out = get("/fun/films?fav=x", f"127.0.0.1:{plain}")
    assert out.startswith(b"HTTP/1.1 301 Moved Permanently\r\n")
    assert f"\r\nLocation: https://127.0.0.1:{port}/fun/films?fav=x\r\n".encode() in out
    assert b"Strict-Transport-Security" not in out  # never over plain HTTP
    out = get("/x", "evil.example")
    assert f"\r\nLocation: https://www.example.test:{port}/x\r\n".encode() in out
    # ACME challenges are served, not redirected
    out = get("/.well-known/acme-challenge/token1", "127.0.0.1")
    assert out.startswith(b"HTTP/1.1 200 ")
    assert json.loads(out.partition(b"\r\n\r\n")[2])["target"] == (
        "/.well-known/acme-challenge/token1"
    )
    sent = sent_headers(origin.requests[-1])
    assert sent["x-forwarded-proto"] == "http"


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
        return True
    except OSError:
        return False


def test_slash_redirect_only_for_configured_prefixes(
    run_stack: Run, origins: Callable[[str], Origin], pki: Pki
) -> None:
    cert, _ = pki.leaf("site")
    _stack, port, _ = start(
        run_stack,
        f"certificate = {cert}\nslash-redirect = /fun /app1\nproxy-pass = / web\n",
        origins("o"),
    )
    ctx = pki.context()
    response, _body, conn = https(port, "/fun?x=1", ctx)
    assert response.status == 301
    assert response.getheader("Location") == f"https://127.0.0.1:{port}/fun/?x=1"
    conn.close()
    for target in ("/favicon.ico", "/fun/", "/funny", "/app2"):
        response, body, conn = https(port, target, ctx)
        assert response.status == 200, target
        assert json.loads(body)["target"] == target
        conn.close()


# --- reverse proxy --------------------------------------------------------------------------------


def test_proxy_pass_reverse_and_cookies(
    run_stack: Run, origins: Callable[[str], Origin], pki: Pki
) -> None:
    origin = origins("o")
    cert, _ = pki.leaf("site")
    _stack, port, _ = start(
        run_stack,
        f"certificate = {cert}\n"
        f"proxy-pass = /app/ http://127.0.0.1:{origin.port}/internal/\n"
        "cookie-path = /internal/ /app/\ncookie-domain = backend.local 127.0.0.1\n",
        origin,
        tiers=("edge",),
    )
    headers = {
        "Location": f"http://127.0.0.1:{origin.port}/internal/landing",
        "Content-Location": f"http://127.0.0.1:{origin.port}/internal/c",
        "Set-Cookie": "sid=1; Path=/internal/; Domain=backend.local",
    }
    target = "/app/page?hdrs=" + _quote(json.dumps(headers))
    response, body, conn = https(port, target, pki.context())
    conn.close()
    assert json.loads(body)["target"].startswith("/internal/page?")
    assert response.getheader("Location") == f"https://127.0.0.1:{port}/app/landing"
    assert response.getheader("Content-Location") == f"https://127.0.0.1:{port}/app/c"
    assert response.getheader("Set-Cookie") == "sid=1; Path=/app/; Domain=127.0.0.1"
    response, _body, conn = https(port, "/elsewhere", pki.context())
    assert response.status == 404
    conn.close()


def _quote(text: str) -> str:
    from urllib.parse import quote

    return quote(text, safe="")


def test_x_forwarded_for_trusts_only_configured_proxies(
    run_stack: Run, origins: Callable[[str], Origin], pki: Pki
) -> None:
    origin = origins("o")
    cert, _ = pki.leaf("site")
    _stack, port, _ = start(
        run_stack, f"certificate = {cert}\nproxy-pass = / web\nvia = on\n", origin
    )
    _response, body, conn = https(
        port, "/", pki.context(), headers={"X-Forwarded-For": "203.0.113.9"}
    )
    conn.close()
    sent = sent_headers(json.loads(body))
    assert sent["x-forwarded-for"] == "127.0.0.1"  # replaced: the peer is not trusted
    assert sent["via"] == f"1.1 127.0.0.1:{port}"


def test_separate_edge_process_connects_to_the_balancer(
    run_stack: Run, origins: Callable[[str], Origin], pki: Pki
) -> None:
    origin = origins("o")
    cert, _ = pki.leaf("site")
    https_port, balancer_port = free_port(), free_port()
    ini = edge_config(
        f"certificate = {cert}\nproxy-pass = / web\n",
        origin,
        https_port=https_port,
        balancer_port=balancer_port,
    )
    run_stack(ini, balancer_port, ("balancer",))
    edge = run_stack(ini, https_port, ("edge",))
    response, body, conn = https(https_port, "/split", pki.context())
    conn.close()
    assert response.status == 200 and json.loads(body)["target"] == "/split"
    assert "in memory" not in edge.log_text()


def test_bad_requests_are_answered_by_the_edge(
    run_stack: Run, origins: Callable[[str], Origin], pki: Pki
) -> None:
    origin = origins("o")
    cert, _ = pki.leaf("site")
    _stack, port, _ = start(run_stack, f"certificate = {cert}\nproxy-pass = / web\n", origin)
    ctx = pki.context()
    cases = {
        400: b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
        414: b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: a\r\n\r\n",
        431: b"GET / HTTP/1.1\r\nHost: a\r\nX: " + b"b" * 30000 + b"\r\n\r\n",
    }
    for status, data in cases.items():
        with (
            socket.create_connection(("127.0.0.1", port)) as raw,
            ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
        ):
            tls.sendall(data)
            out = b""
            while True:
                chunk = tls.recv(65536)
                if not chunk:
                    break
                out += chunk
        assert out.startswith(b"HTTP/1.1 %d " % status), out[:80]
        assert b"Connection: close" in out
    assert origin.requests == []  # nothing it could not frame went further


def test_access_log_combined_and_reopen(
    run_stack: Run, origins: Callable[[str], Origin], pki: Pki, tmp_path: Path
) -> None:
    origin = origins("o")
    cert, _ = pki.leaf("site")
    log = tmp_path / "access.log"
    stack, port, _ = start(
        run_stack,
        f"certificate = {cert}\nproxy-pass = / web\naccess-log = {log} tls\n",
        origin,
    )
    _response, body, conn = https(
        port, "/a?b=1", pki.context(), headers={"Referer": "https://r/", "User-Agent": "ua/1"}
    )
    conn.close()
    assert wait_for(lambda: log.exists() and log.read_text())
    line = log.read_text().splitlines()[0]
    pattern = (
        r'127\.0\.0\.1 - - \[\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}\] "GET /a\?b=1 HTTP/1\.1" '
        r'200 \d+ "https://r/" "ua/1" TLSv1\.3 TLS_\w+'
    )
    assert re.fullmatch(pattern, line), line
    sent = int(line.split('" 200 ')[1].split()[0])
    assert sent > len(body)  # %O: headers included
    rotated = tmp_path / "access.log.1"
    log.rename(rotated)
    os.kill(stack.proc.pid, signal.SIGUSR1)
    assert wait_for(lambda: log.exists())
    _r, _b, conn = https(port, "/after", pki.context())
    conn.close()
    assert wait_for(lambda: "/after" in log.read_text())
    assert "/after" not in rotated.read_text()


# --- the embedded default ----------------------------------------------------------------------


def test_embedded_default_serves_the_demo_over_https(run_stack: Run, tmp_path: Path) -> None:
    ini = (ROOT / "etc" / "stack.ini").read_text()
    ini = ini.replace("state-dir = ../var", f"state-dir = {tmp_path / 'var'}")
    for port in (8080, 8081, 8443, 9101, 9102, 9103, 9104):
        if _listening(port):
            pytest.skip(f"port {port} is in use: the embedded default needs it")
    stack = run_stack(ini, 8443, ("demo", "balancer", "edge"))
    ca = tmp_path / "var" / "tls" / "ca.pem"
    ctx = ssl.create_default_context(cafile=str(ca))
    response, body, conn = https(8443, "/fun/films?fav=x", ctx)
    assert response.status == 200, body
    assert b"x" in body
    cookie = response.getheader("Set-Cookie")
    conn.close()
    assert cookie
    response, body, conn = https(
        8443, "/fun/films?fav=y", ctx, headers={"Cookie": cookie.split(";")[0]}
    )
    conn.close()
    assert response.status == 200
    # http://127.0.0.1:8080/ -> https://127.0.0.1:8443/, /fun -> /fun/
    out, _closed = raw_exchange(
        8080, b"GET /fun/films?fav=x HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n"
    )
    assert b"\r\nLocation: https://127.0.0.1:8443/fun/films?fav=x\r\n" in out
    response, _body, conn = https(8443, "/fun", ctx)
    assert response.status == 301 and response.getheader("Location") == (
        "https://127.0.0.1:8443/fun/"
    )
    conn.close()
    # the demo's /static/ assets are cached at the edge (once the store's index is read)
    assert wait_for(lambda: " stored responses (" in stack.log_text())
    statuses = []
    for _ in range(2):
        response, body, conn = https(8443, "/static/site.css", ctx)
        conn.close()
        assert response.status == 200 and b"static asset" in body
        statuses.append(response.getheader("Cache-Status"))
    assert statuses[0] == "stack; fwd=miss; stored"
    assert statuses[1].startswith("stack; hit")
    assert stack.proc.poll() is None
    # curl, as the README says (when installed)
    if shutil.which("curl"):
        result = subprocess.run(
            ["curl", "-sk", "https://127.0.0.1:8443/fun/films?fav=x"],
            capture_output=True,
            timeout=10,
        )
        assert result.returncode == 0 and b"films" in result.stdout.lower()
