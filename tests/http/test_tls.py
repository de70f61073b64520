"""TLS to servers (``server ... ssl verify ... ca-file ... sni ... crt ...``): real OpenSSL
handshakes between the creator under test and a TLS echo server, joined in memory
(``twisted.test.iosim``), with a throwaway CA made for the test."""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from OpenSSL import SSL, crypto
from pki import Issued, issue, make_ca
from twisted.internet import ssl
from twisted.internet.interfaces import IHandshakeListener, IOpenSSLClientConnectionCreator
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.task import Clock
from twisted.protocols.tls import TLSMemoryBIOFactory
from twisted.python.failure import Failure
from twisted.test.iosim import connectedServerAndClient
from zope.interface import implementer

import stack.http.tls
from stack.config.model import ServerTls
from stack.http.tls import TlsFileError, server_tls_options, sni_for

SERVER_NAME = "backend.example"


@dataclass
class Pki:
    dir: Path
    ca: Issued
    other_ca: Issued
    server: Issued
    client: Issued

    @property
    def ca_file(self) -> str:
        return str(self.dir / "ca.pem")

    @property
    def other_ca_file(self) -> str:
        return str(self.dir / "other-ca.pem")

    @property
    def client_file(self) -> str:
        return str(self.dir / "client.pem")


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    d = tmp_path_factory.mktemp("pki")
    ca = make_ca("Test Root CA")
    other = make_ca("Other Root CA")
    server = issue(
        ca,
        SERVER_NAME,
        [x509.DNSName(SERVER_NAME), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))],
    )
    client = issue(ca, "lb1", [], client=True)
    (d / "ca.pem").write_bytes(ca.cert_pem())
    (d / "other-ca.pem").write_bytes(other.cert_pem())
    (d / "client.pem").write_bytes(client.cert_pem() + client.key_pem())
    return Pki(d, ca, other, server, client)


# --- an in-memory TLS echo server ---------------------------------------------------------------


@implementer(IHandshakeListener)
class Client(Protocol):
    def __init__(self) -> None:
        self.handshake_done = False
        self.received = b""
        self.reason: Failure | None = None

    def handshakeCompleted(self) -> None:
        self.handshake_done = True
        self.transport.write(b"ping")  # type: ignore[union-attr]

    def dataReceived(self, data: bytes) -> None:
        self.received += data

    def connectionLost(self, reason: Failure = ...) -> None:  # type: ignore[assignment]
        self.reason = reason


class Echo(Protocol):
    def dataReceived(self, data: bytes) -> None:
        self.transport.write(data)  # type: ignore[union-attr]


@dataclass
class Outcome:
    client: Client
    sni: list[bytes | None] = field(default_factory=list)
    peer_certificates: list[x509.Certificate | None] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.client.handshake_done and self.client.received == b"ping"


def exchange(
    creator: IOpenSSLClientConnectionCreator, pki: Pki, require_client_cert: bool = False
) -> Outcome:
    """Handshake ``creator`` against a server presenting ``pki.server`` and echo one message."""
    server_options: dict[str, Any] = {
        "privateKey": pki.server.key,
        "certificate": pki.server.cert,
    }
    if require_client_cert:
        server_options["trustRoot"] = ssl.Certificate(crypto.X509.from_cryptography(pki.ca.cert))
    options = ssl.CertificateOptions(**server_options)
    outcome = Outcome(Client())

    def servername(connection: SSL.Connection) -> None:
        outcome.sni.append(connection.get_servername())

    context = options.getContext()
    context.set_tlsext_servername_callback(servername)

    client_factory = Factory.forProtocol(lambda: outcome.client)
    server_factory = Factory.forProtocol(Echo)
    clock = Clock()  # the TLS transports flush their writes with callLater(0)
    tls_client = TLSMemoryBIOFactory(creator, True, client_factory, clock=clock)
    tls_server = TLSMemoryBIOFactory(options, False, server_factory, clock=clock)
    _, server, pump = connectedServerAndClient(
        lambda: tls_server.buildProtocol(None),
        lambda: tls_client.buildProtocol(None),
        clock=clock,
    )
    pump.flush()
    if outcome.ok:
        peer = server.getPeerCertificate()
        outcome.peer_certificates.append(peer.to_cryptography() if peer is not None else None)
    return outcome


# --- verify required ------------------------------------------------------------------------------


def test_verified_with_right_ca_and_name(pki: Pki) -> None:
    tls = ServerTls(verify=True, ca_file=pki.ca_file, sni=f"str({SERVER_NAME})")
    sni = sni_for(tls, None)
    assert sni == SERVER_NAME
    outcome = exchange(server_tls_options(tls, "127.0.0.1", sni), pki)
    assert outcome.ok
    assert outcome.sni == [SERVER_NAME.encode()]


def test_wrong_ca_fails(pki: Pki) -> None:
    tls = ServerTls(verify=True, ca_file=pki.other_ca_file, sni=f"str({SERVER_NAME})")
    outcome = exchange(server_tls_options(tls, "127.0.0.1", SERVER_NAME), pki)
    assert not outcome.ok and not outcome.client.handshake_done
    assert outcome.client.reason is not None
    assert "certificate verify failed" in str(outcome.client.reason.value)


def test_wrong_hostname_fails(pki: Pki) -> None:
    tls = ServerTls(verify=True, ca_file=pki.ca_file, sni="str(other.example)")
    outcome = exchange(server_tls_options(tls, "127.0.0.1", sni_for(tls, None)), pki)
    assert not outcome.client.handshake_done
    assert outcome.client.reason is not None
    assert outcome.client.reason.check(ssl.VerificationError)
    assert outcome.sni == [b"other.example"]


def test_without_sni_only_the_chain_is_verified(pki: Pki) -> None:
    # HAProxy: "When no name is found, the certificate's names are ignored."
    tls = ServerTls(verify=True, ca_file=pki.ca_file)
    outcome = exchange(server_tls_options(tls, "10.9.9.9", None), pki)
    assert outcome.ok
    assert outcome.sni == [None]  # no SNI sent


def test_without_sni_the_chain_still_counts(pki: Pki) -> None:
    tls = ServerTls(verify=True, ca_file=pki.other_ca_file)
    assert not exchange(server_tls_options(tls, "127.0.0.1", None), pki).client.handshake_done


def test_verifyhost_checks_the_name_without_sending_it(pki: Pki) -> None:
    tls = ServerTls(verify=True, ca_file=pki.ca_file)
    good = exchange(server_tls_options(tls, "10.0.0.1", None, verifyhost=SERVER_NAME), pki)
    assert good.ok and good.sni == [None]
    bad = exchange(server_tls_options(tls, "10.0.0.1", None, verifyhost="x.example"), pki)
    assert not bad.client.handshake_done


def test_sni_from_host_header(pki: Pki) -> None:
    tls = ServerTls(verify=True, ca_file=pki.ca_file, sni="req.hdr(host)")
    sni = sni_for(tls, f"{SERVER_NAME}:8443".encode())
    assert sni == SERVER_NAME
    outcome = exchange(server_tls_options(tls, "127.0.0.1", sni), pki)
    assert outcome.ok and outcome.sni == [SERVER_NAME.encode()]


def test_ca_file_directory(pki: Pki, tmp_path: Path) -> None:
    (tmp_path / "a.crt").write_bytes(pki.other_ca.cert_pem())
    (tmp_path / "b.pem").write_bytes(pki.ca.cert_pem())
    (tmp_path / ".hidden.pem").write_bytes(b"not a certificate")
    (tmp_path / "notes.txt").write_bytes(b"ignored")
    tls = ServerTls(verify=True, ca_file=str(tmp_path), sni=f"str({SERVER_NAME})")
    assert exchange(server_tls_options(tls, "127.0.0.1", SERVER_NAME), pki).ok


def test_no_ca_file_uses_system_trust(pki: Pki) -> None:
    # the throwaway CA is in no system store
    for ca_file in (None, "@system-ca"):
        tls = ServerTls(verify=True, ca_file=ca_file, sni=f"str({SERVER_NAME})")
        outcome = exchange(server_tls_options(tls, "127.0.0.1", SERVER_NAME), pki)
        assert not outcome.client.handshake_done


# --- verify none ----------------------------------------------------------------------------------


def test_verify_none_passes_with_wrong_ca_and_name(pki: Pki) -> None:
    tls = ServerTls(verify=False, ca_file=pki.other_ca_file, sni="str(whatever.example)")
    outcome = exchange(server_tls_options(tls, "127.0.0.1", sni_for(tls, None)), pki)
    assert outcome.ok
    assert outcome.sni == [b"whatever.example"]


def test_verify_none_without_sni(pki: Pki) -> None:
    outcome = exchange(server_tls_options(ServerTls(verify=False), "127.0.0.1", None), pki)
    assert outcome.ok and outcome.sni == [None]


# --- client certificate -------------------------------------------------------------------------


def test_crt_presents_client_certificate(pki: Pki) -> None:
    tls = ServerTls(verify=True, ca_file=pki.ca_file, crt=pki.client_file)
    outcome = exchange(server_tls_options(tls, "127.0.0.1", None), pki, require_client_cert=True)
    assert outcome.ok
    assert outcome.peer_certificates == [pki.client.cert]


def test_without_crt_a_server_requiring_one_refuses(pki: Pki) -> None:
    tls = ServerTls(verify=True, ca_file=pki.ca_file)
    outcome = exchange(server_tls_options(tls, "127.0.0.1", None), pki, require_client_cert=True)
    assert not outcome.ok
    assert outcome.client.reason is not None
    assert "certificate required" in str(outcome.client.reason.value)


def test_crt_key_in_separate_file(pki: Pki, tmp_path: Path) -> None:
    crt = tmp_path / "client.pem"
    crt.write_bytes(pki.client.cert_pem() + pki.ca.cert_pem())  # leaf + chain
    (tmp_path / "client.pem.key").write_bytes(pki.client.key_pem())
    tls = ServerTls(verify=False, crt=str(crt))
    outcome = exchange(server_tls_options(tls, "127.0.0.1", None), pki, require_client_cert=True)
    assert outcome.ok and outcome.peer_certificates == [pki.client.cert]


# --- errors and caching ---------------------------------------------------------------------------


def test_missing_files(pki: Pki, tmp_path: Path) -> None:
    with pytest.raises(TlsFileError, match="ca-file"):
        server_tls_options(ServerTls(ca_file=str(tmp_path / "nope.pem")), "h", None)
    bad = tmp_path / "bad.pem"
    bad.write_bytes(b"garbage")
    with pytest.raises(TlsFileError, match="no PEM certificate"):
        server_tls_options(ServerTls(ca_file=str(bad)), "h", None)
    only_cert = tmp_path / "only-cert.pem"
    only_cert.write_bytes(pki.client.cert_pem())
    with pytest.raises(TlsFileError, match=r"^crt .*only-cert\.pem: no private key in the file"):
        server_tls_options(ServerTls(verify=False, crt=str(only_cert)), "h", None)


def test_creators_cached_until_a_file_changes(
    pki: Pki, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = [1000.0]
    monkeypatch.setattr(stack.http.tls.time, "monotonic", lambda: clock[0])
    ca = tmp_path / "ca.pem"
    ca.write_bytes(pki.ca.cert_pem())
    tls = ServerTls(ca_file=str(ca), sni=f"str({SERVER_NAME})")
    first = server_tls_options(tls, "127.0.0.1", SERVER_NAME)
    assert server_tls_options(tls, "127.0.0.1", SERVER_NAME) is first
    assert server_tls_options(tls, "127.0.0.1", "b.example") is not first
    ca.write_bytes(pki.other_ca.cert_pem())
    stat = ca.stat()
    os.utime(ca, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    # files are looked at again at most once a second, not on every connection
    assert server_tls_options(tls, "127.0.0.1", SERVER_NAME) is first
    clock[0] += 1.5
    second = server_tls_options(tls, "127.0.0.1", SERVER_NAME)
    assert second is not first
    assert not exchange(second, pki).client.handshake_done  # the new CA is in force


# --- sni_for --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "host", "expected"),
    [
        (None, b"h.example", None),
        ("str(api.example)", b"h.example", "api.example"),
        ("str(api.example)", None, "api.example"),
        ("req.hdr(host)", b"h.example", "h.example"),
        ("req.hdr(host)", b"h.example:8443", "h.example"),
        ("req.hdr(Host)", b"H.Example:80", "H.Example"),
        ("hdr(host)", b"h.example", "h.example"),
        ("req.fhdr(host)", b" h.example ", "h.example"),
        ("req.hdr(host)", b"[2001:db8::1]:443", "2001:db8::1"),
        ("req.hdr(host)", b"2001:db8::1", "2001:db8::1"),
        ("req.hdr(host)", None, None),
        ("req.hdr(host)", b"", None),
    ],
)
def test_sni_for(expression: str | None, host: bytes | None, expected: str | None) -> None:
    assert sni_for(ServerTls(sni=expression), host) == expected


def test_sni_for_unsupported() -> None:
    with pytest.raises(ValueError, match="unsupported sni"):
        sni_for(ServerTls(sni="ssl_fc_sni"), b"h")
