"""Servers over TLS end to end (``server ... ssl verify required ca-file F sni STR``, seed 003):
twistd in front of TLS origins that present a certificate from a throwaway CA."""

from __future__ import annotations

import ipaddress
import socket
import ssl
import threading
from pathlib import Path

import pytest
from conftest import free_port, wait_for
from cryptography import x509
from origin import Origin
from pki import Issued, issue, make_ca
from test_balancer import get, ini

pytestmark = pytest.mark.integration

NAME = "backend.example"


class TlsOrigin(Origin):
    """The recording origin behind TLS; it records the SNI each connection sent."""

    def __init__(self, name: str, certificate: Issued, directory: Path) -> None:
        pem = directory / f"{name}.pem"
        pem.write_bytes(certificate.cert_pem() + certificate.key_pem())
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(str(pem))
        self.sni: list[str | None] = []
        self.handshake_failures = 0
        self.context.sni_callback = lambda _sock, name, _ctx: self.sni.append(name)  # type: ignore[assignment]
        self._lock = threading.Lock()
        super().__init__(name)

    def _serve(self, conn: socket.socket) -> None:
        try:
            wrapped = self.context.wrap_socket(conn, server_side=True)
        except (ssl.SSLError, OSError):
            with self._lock:
                self.handshake_failures += 1
            conn.close()
            return
        super()._serve(wrapped)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Issued]:
    d = tmp_path_factory.mktemp("pki")
    ca, other = make_ca("Test Root CA"), make_ca("Other Root CA")
    server = issue(
        ca, NAME, [x509.DNSName(NAME), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    )
    (d / "ca.pem").write_bytes(ca.cert_pem())
    (d / "other-ca.pem").write_bytes(other.cert_pem())
    return d, server


def test_verified_tls_server_with_sni_and_reuse(pki, run_stack) -> None:
    d, cert = pki
    origin = TlsOrigin("s1", cert, d)
    port = free_port()
    try:
        stack = run_stack(
            ini(
                port,
                f"[backend be]\nserver s1 = 127.0.0.1:{origin.port} ssl verify required "
                f"ca-file {d / 'ca.pem'} sni str({NAME})\n",
                "default_backend = be",
            ),
            port,
        )
        for i in range(3):
            r, body = get(port, f"/tls{i}")
            assert r.status == 200 and b'"target": "/tls%d"' % i in body
        assert origin.sni == [NAME]  # one handshake: the connection was reused
        assert origin.connections == 1
        assert " 200 " in stack.log_text()
    finally:
        origin.close()


def test_untrusted_certificate_is_a_connect_failure(pki, run_stack) -> None:
    """A server whose certificate does not chain to ``ca-file`` never sees the request: every
    attempt fails at the handshake, is retried, and the client gets HAProxy's 503 (``SC``)."""
    d, cert = pki
    origin = TlsOrigin("s1", cert, d)
    port = free_port()
    try:
        stack = run_stack(
            ini(
                port,
                f"[backend be]\nretries = 1\nserver s1 = 127.0.0.1:{origin.port} ssl "
                f"ca-file {d / 'other-ca.pem'} sni str({NAME})\n",
                "default_backend = be",
            ),
            port,
        )
        r, _ = get(port, "/secret")
        assert r.status == 503
        assert origin.requests == []
        # the origin's thread counts the last failure a moment after the client gave up
        wait_for(lambda: origin.handshake_failures >= 2, timeout=3)
        assert origin.handshake_failures == 2  # the attempt and its one retry
        assert "SC--" in stack.log_text()
    finally:
        origin.close()


def test_wrong_name_fails_and_redispatch_finds_the_good_server(pki, run_stack) -> None:
    """``sni req.hdr(host)``: the name sent is the client's Host, and the certificate must carry
    it. With ``option redispatch`` the last retry goes to the other server."""
    d, cert = pki
    bad = TlsOrigin("bad", cert, d)
    good = TlsOrigin("good", cert, d)
    port = free_port()
    try:
        run_stack(
            ini(
                port,
                f"""[backend be]
balance = first
retries = 1
option redispatch = on
server bad = 127.0.0.1:{bad.port} ssl ca-file {d / "ca.pem"} sni str(other.example)
server good = 127.0.0.1:{good.port} ssl ca-file {d / "ca.pem"} sni req.hdr(host)
""",
                "default_backend = be",
            ),
            port,
        )
        r, _ = get(port, "/x", headers={"Host": f"{NAME}:{port}"})
        assert r.status == 200 and r.getheader("X-Served-By") == "good"
        assert good.sni == [NAME]
        assert bad.requests == [] and bad.sni == ["other.example"]
    finally:
        bad.close()
        good.close()
