"""TLS for the HTTPS edge: real OpenSSL handshakes between :class:`TlsTermination` and pyOpenSSL
clients, joined through memory BIOs.

Every refusal is paired with a control: the same client against a deliberately permissive
server succeeds, so a refusal is the edge's doing and not a client unable to speak the
protocol, cipher or group under test."""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import ipaddress
from dataclasses import dataclass

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from OpenSSL import SSL, crypto
from pki import Issued, issue, make_ca
from twisted.internet import ssl
from twisted.internet.interfaces import IHandshakeListener, IOpenSSLServerConnectionCreator
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.task import Clock
from twisted.protocols.tls import TLSMemoryBIOFactory
from twisted.test.iosim import connectedServerAndClient
from zope.interface import implementer
from zope.interface.verify import verifyObject

from stack.http.certificates import CertificateError, ServedCertificate, load_certificate
from stack.http.tls_server import TlsTermination, sni, tls_facts

# Options and calls pyOpenSSL does not wrap, reached through its binding.
_lib = SSL._lib  # type: ignore[attr-defined]
OP_ALLOW_CLIENT_RENEGOTIATION = 0x100  # OpenSSL 3's SSL_OP_ALLOW_CLIENT_RENEGOTIATION


def session_reused(connection: SSL.Connection) -> bool:
    return bool(_lib.SSL_session_reused(connection._ssl))  # type: ignore[attr-defined]


def restrict_groups(context: SSL.Context, groups: bytes) -> None:
    assert _lib.SSL_CTX_set1_curves_list(context._context, groups) == 1  # type: ignore[attr-defined]


# --- certificates ---------------------------------------------------------------------------------


@dataclass
class Certs:
    root: Issued
    default: ServedCertificate  # ECDSA, issued by an intermediate
    a: ServedCertificate  # ECDSA, issued by the root directly
    b: ServedCertificate  # RSA 2048
    wild: ServedCertificate  # *.wild.example
    special: ServedCertificate  # special.wild.example, more specific than the wildcard
    spare: ServedCertificate  # another certificate for default.example, for reloads

    def served(self) -> list[ServedCertificate]:
        return [self.default, self.a, self.b, self.wild, self.special]


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    d = tmp_path_factory.mktemp("edge-pki")
    root = make_ca("Edge Test Root")
    intermediate = make_ca("Edge Test Intermediate", root)

    def served(name: str, issued: Issued, chain: bytes = b"") -> ServedCertificate:
        path = d / f"{name}.pem"
        path.write_bytes(issued.cert_pem() + issued.key_pem() + chain)
        return load_certificate(str(path))

    def dns(ca: Issued, name: str, rsa_bits: int | None = None) -> Issued:
        return issue(ca, name, [x509.DNSName(name)], rsa_bits=rsa_bits)

    return Certs(
        root=root,
        default=served(
            "default",
            issue(
                intermediate,
                "default.example",
                [
                    x509.DNSName("default.example"),
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                ],
            ),
            intermediate.cert_pem(),
        ),
        a=served("a", dns(root, "a.example")),
        b=served("b", dns(root, "b.example", rsa_bits=2048)),
        wild=served("wild", dns(root, "*.wild.example")),
        special=served("special", dns(root, "special.wild.example")),
        spare=served("spare", dns(intermediate, "default.example"), intermediate.cert_pem()),
    )


# --- in-memory handshakes -------------------------------------------------------------------------


def client_context(
    certs: Certs,
    version: int | None = None,
    *,
    ciphers: bytes | None = None,
    tls13: bytes | None = None,
    groups: bytes | None = None,
    alpn: list[bytes] | None = None,
    tickets: bool = True,
) -> SSL.Context:
    """A verifying client trusting only the root; ``version`` pins one protocol version."""
    context = SSL.Context(SSL.TLS_CLIENT_METHOD)
    context.set_verify(SSL.VERIFY_PEER)
    store = context.get_cert_store()
    assert store is not None
    store.add_cert(crypto.X509.from_cryptography(certs.root.cert))
    # Level 0 lets this client speak TLS 1.0/1.1 and SHA-1 suites, so only the server refuses.
    context.set_cipher_list(ciphers or b"DEFAULT:@SECLEVEL=0")
    if version is not None:
        context.set_min_proto_version(version)
        context.set_max_proto_version(version)
    if tls13 is not None:
        context.set_tls13_ciphersuites(tls13)
    if groups is not None:
        restrict_groups(context, groups)
    if alpn is not None:
        context.set_alpn_protos(alpn)
    if not tickets:
        context.set_options(SSL.OP_NO_TICKET)
    return context


def permissive_server(served: ServedCertificate, options: int = 0) -> SSL.Context:
    """Everything OpenSSL can still do: TLS 1.0 up, every suite and group."""
    context = SSL.Context(SSL.TLS_SERVER_METHOD)
    context.set_min_proto_version(SSL.TLS1_VERSION)
    context.set_cipher_list(b"ALL:@SECLEVEL=0")
    context.set_tls13_ciphersuites(
        b"TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:"
        b"TLS_AES_128_CCM_SHA256"
    )
    context.use_certificate(served.certificate)
    context.use_privatekey(served.key)
    for extra in served.chain:
        context.add_extra_chain_cert(extra)
    if options:
        context.set_options(options)
    return context


def _shuttle(source: SSL.Connection, target: SSL.Connection) -> bool:
    try:
        data = source.bio_read(65536)
    except SSL.WantReadError:
        return False
    target.bio_write(data)
    return True


def _step(connection: SSL.Connection) -> None:
    with contextlib.suppress(SSL.WantReadError):
        connection.do_handshake()


def shuttle(server: SSL.Connection, client: SSL.Connection) -> None:
    while _shuttle(client, server) | _shuttle(server, client):
        pass


def handshake(
    server: SSL.Connection | TlsTermination | SSL.Context,
    client_ctx: SSL.Context,
    server_name: str | None = None,
    session: SSL.Session | None = None,
) -> tuple[SSL.Connection, SSL.Connection]:
    """(server, client) connections after a finished handshake; raises ``SSL.Error`` when
    either side gives up."""
    if isinstance(server, TlsTermination):
        server = server.serverConnectionForTLS(None)  # type: ignore[arg-type]
    elif isinstance(server, SSL.Context):
        server = SSL.Connection(server, None)
    server.set_accept_state()
    client = SSL.Connection(client_ctx, None)
    client.set_connect_state()
    if server_name is not None:
        client.set_tlsext_host_name(server_name.encode())
    if session is not None:
        client.set_session(session)
    for _ in range(20):
        _step(client)
        _step(server)
        if not (_shuttle(client, server) | _shuttle(server, client)):
            break
    assert tls_facts(server)[1] and tls_facts(client)[1], "handshake did not finish"
    return server, client


def talk(sender: SSL.Connection, receiver: SSL.Connection, data: bytes) -> bytes:
    sender.send(data)
    _shuttle(sender, receiver)
    return receiver.recv(65536)


def exchange(server: SSL.Connection, client: SSL.Connection) -> None:
    """A request and a response; also delivers TLS 1.3 session tickets to the client."""
    assert talk(client, server, b"GET / HTTP/1.1\r\n\r\n") == b"GET / HTTP/1.1\r\n\r\n"
    assert talk(server, client, b"HTTP/1.1 200 OK\r\n\r\n") == b"HTTP/1.1 200 OK\r\n\r\n"


def peer_fingerprint(client: SSL.Connection) -> str:
    peer = client.get_peer_certificate()
    assert peer is not None
    return peer.to_cryptography().fingerprint(hashes.SHA256()).hex(":").upper()


@pytest.fixture(scope="module")
def edge(certs: Certs) -> TlsTermination:
    return TlsTermination(certs.served())


# --- SNI --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("server_name", "expected"),
    [
        ("a.example", "a"),
        ("A.Example.", "a"),
        ("b.example", "b"),
        ("x.wild.example", "wild"),
        ("special.wild.example", "special"),  # an exact name beats the wildcard
        ("deep.x.wild.example", "default"),  # a wildcard covers one label only
        ("wild.example", "default"),
        ("unknown.example", "default"),
        (None, "default"),
    ],
)
def test_sni_picks_the_certificate(
    certs: Certs, edge: TlsTermination, server_name: str | None, expected: str
) -> None:
    want: ServedCertificate = getattr(certs, expected)
    assert edge.certificate_for(server_name) is want
    server, client = handshake(edge, client_context(certs), server_name)
    assert peer_fingerprint(client) == want.fingerprint
    assert sni(server) == server_name
    exchange(server, client)


def test_first_certificate_naming_a_host_wins(certs: Certs) -> None:
    edge = TlsTermination([certs.default, certs.spare])
    assert edge.certificate_for("default.example") is certs.default
    assert TlsTermination([certs.spare, certs.default]).certificate_for("default.example") is (
        certs.spare
    )


def test_whole_chain_is_sent_for_each_certificate(certs: Certs, edge: TlsTermination) -> None:
    # The client trusts only the root: without the intermediate the handshake would fail.
    _, client = handshake(edge, client_context(certs), "default.example")
    chain = client.get_peer_cert_chain(as_cryptography=True)
    assert chain == [certs.default.certificate, *certs.default.chain]
    # After the SNI switch the other context's (empty) chain is used, not the default's.
    _, client = handshake(edge, client_context(certs), "a.example")
    assert client.get_peer_cert_chain(as_cryptography=True) == [certs.a.certificate]


# --- protocol versions, ciphers, groups -----------------------------------------------------------


@pytest.mark.parametrize(
    ("profile", "version", "accepted"),
    [
        ("intermediate", SSL.TLS1_VERSION, False),
        ("intermediate", SSL.TLS1_1_VERSION, False),
        ("intermediate", SSL.TLS1_2_VERSION, True),
        ("intermediate", SSL.TLS1_3_VERSION, True),
        ("modern", SSL.TLS1_2_VERSION, False),
        ("modern", SSL.TLS1_3_VERSION, True),
    ],
)
def test_protocol_versions(certs: Certs, profile: str, version: int, accepted: bool) -> None:
    edge = TlsTermination(certs.served(), profile)
    context = client_context(certs, version)
    handshake(permissive_server(certs.default), context)  # control: the client can speak it
    if accepted:
        server, client = handshake(edge, context)
        assert tls_facts(server)[0] == tls_facts(client)[0]
        exchange(server, client)
    else:
        with pytest.raises(SSL.Error):
            handshake(edge, context)


def test_unknown_profile(certs: Certs) -> None:
    with pytest.raises(ValueError, match="unknown TLS profile 'old'"):
        TlsTermination(certs.served(), "old")


@pytest.mark.parametrize(
    ("cipher", "server_name"),
    [
        ("ECDHE-ECDSA-AES128-GCM-SHA256", None),
        ("ECDHE-RSA-AES128-GCM-SHA256", "b.example"),
        ("ECDHE-ECDSA-AES256-GCM-SHA384", None),
        ("ECDHE-RSA-AES256-GCM-SHA384", "b.example"),
        ("ECDHE-ECDSA-CHACHA20-POLY1305", None),
        ("ECDHE-RSA-CHACHA20-POLY1305", "b.example"),
    ],
)
def test_mozilla_tls12_ciphers_accepted(
    certs: Certs, edge: TlsTermination, cipher: str, server_name: str | None
) -> None:
    context = client_context(certs, SSL.TLS1_2_VERSION, ciphers=cipher.encode())
    server, _ = handshake(edge, context, server_name)
    assert tls_facts(server) == ("TLSv1.2", cipher)


@pytest.mark.parametrize(
    ("cipher", "server_name"),
    [
        ("ECDHE-ECDSA-AES128-SHA", None),
        ("ECDHE-ECDSA-AES256-SHA384", None),
        ("ECDHE-RSA-AES128-SHA", "b.example"),
        ("AES128-SHA", "b.example"),
        ("AES128-GCM-SHA256", "b.example"),
        ("DHE-RSA-AES128-GCM-SHA256", "b.example"),
    ],
)
def test_other_tls12_ciphers_refused(certs: Certs, cipher: str, server_name: str | None) -> None:
    served = certs.b if server_name else certs.default
    # dh_param_bits must not bring DHE suites in.
    edge = TlsTermination(certs.served(), dh_param_bits=2048)
    context = client_context(certs, SSL.TLS1_2_VERSION, ciphers=f"{cipher}:@SECLEVEL=0".encode())
    control, _ = handshake(permissive_server(served), context, server_name)
    assert tls_facts(control) == ("TLSv1.2", cipher)
    with pytest.raises(SSL.Error):
        handshake(edge, context, server_name)


@pytest.mark.parametrize(
    "suite", ["TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256"]
)
def test_tls13_suites_accepted(certs: Certs, edge: TlsTermination, suite: str) -> None:
    server, _ = handshake(edge, client_context(certs, SSL.TLS1_3_VERSION, tls13=suite.encode()))
    assert tls_facts(server) == ("TLSv1.3", suite)


def test_tls13_suite_outside_the_profile_refused(certs: Certs, edge: TlsTermination) -> None:
    context = client_context(certs, SSL.TLS1_3_VERSION, tls13=b"TLS_AES_128_CCM_SHA256")
    control, _ = handshake(permissive_server(certs.default), context)
    assert tls_facts(control)[1] == "TLS_AES_128_CCM_SHA256"
    with pytest.raises(SSL.Error):
        handshake(edge, context)


def test_client_cipher_order_is_followed(certs: Certs, edge: TlsTermination) -> None:
    tls12 = client_context(
        certs,
        SSL.TLS1_2_VERSION,
        ciphers=b"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-ECDSA-AES128-GCM-SHA256",
    )
    assert tls_facts(handshake(edge, tls12)[0])[1] == "ECDHE-ECDSA-CHACHA20-POLY1305"
    tls13 = client_context(
        certs,
        SSL.TLS1_3_VERSION,
        tls13=b"TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256",
    )
    assert tls_facts(handshake(edge, tls13)[0])[1] == "TLS_CHACHA20_POLY1305_SHA256"


@pytest.mark.parametrize("group", ["X448", "secp521r1"])
def test_groups_outside_the_profile_refused(certs: Certs, edge: TlsTermination, group: str) -> None:
    context = client_context(certs, groups=group.encode())
    handshake(permissive_server(certs.default), context)
    with pytest.raises(SSL.Error):
        handshake(edge, context)


@pytest.mark.parametrize("group", ["X25519", "prime256v1", "secp384r1"])
def test_profile_groups_accepted(certs: Certs, edge: TlsTermination, group: str) -> None:
    server, _ = handshake(edge, client_context(certs, groups=group.encode()))
    negotiated = server.get_group_name()
    assert negotiated is not None
    assert negotiated.lower() == {"prime256v1": "secp256r1"}.get(group, group).lower()


def test_hybrid_post_quantum_group_preferred_when_available(
    certs: Certs, edge: TlsTermination
) -> None:
    assert edge.groups is not None
    server, _ = handshake(edge, client_context(certs))
    assert server.get_group_name() == edge.groups.split(":")[0]


def test_client_renegotiation_refused(certs: Certs, edge: TlsTermination) -> None:
    def renegotiate(server: SSL.Connection, client: SSL.Connection) -> None:
        assert client.renegotiate()
        for _ in range(5):
            _step(client)
            shuttle(server, client)
            for side in (server, client):
                with contextlib.suppress(SSL.WantReadError):
                    side.recv(100)
        assert not client.renegotiate_pending()
        exchange(server, client)

    context = client_context(certs, SSL.TLS1_2_VERSION)
    allowing = permissive_server(certs.default, OP_ALLOW_CLIENT_RENEGOTIATION)
    renegotiate(*handshake(allowing, context))
    with pytest.raises(SSL.Error, match="no renegotiation"):
        renegotiate(*handshake(edge, context))


# --- ALPN -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("configured", "offered", "negotiated"),
    [
        ((b"http/1.1",), [b"h2", b"http/1.1"], b"http/1.1"),
        ((b"http/1.1",), [b"h2"], b""),  # no common protocol: carry on without ALPN
        ((b"http/1.1",), None, b""),
        ((b"h2", b"http/1.1"), [b"http/1.1", b"h2"], b"h2"),  # the server's preference
        ((), [b"http/1.1"], b""),
    ],
)
def test_alpn(
    certs: Certs,
    configured: tuple[bytes, ...],
    offered: list[bytes] | None,
    negotiated: bytes,
) -> None:
    edge = TlsTermination(certs.served(), alpn=configured)
    server, client = handshake(edge, client_context(certs, alpn=offered), "a.example")
    assert server.get_alpn_proto_negotiated() == negotiated
    assert client.get_alpn_proto_negotiated() == negotiated
    exchange(server, client)


# --- session resumption -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cache", "tickets", "client_tickets", "resumed_12", "resumed_13"),
    [
        (True, False, False, True, True),  # session id (1.2); stateful ticket (1.3)
        (False, True, True, True, True),  # stateless ticket
        (True, True, True, True, True),
        (False, False, True, False, False),
        # No cache and the client refuses tickets: nothing to resume in 1.2; a 1.3 client
        # cannot refuse tickets, so they are still sent and used.
        (False, True, False, False, True),
    ],
)
@pytest.mark.parametrize("version", [SSL.TLS1_2_VERSION, SSL.TLS1_3_VERSION], ids=["1.2", "1.3"])
@pytest.mark.parametrize("server_name", [None, "a.example"])
def test_session_resumption(
    certs: Certs,
    cache: bool,
    tickets: bool,
    client_tickets: bool,
    resumed_12: bool,
    resumed_13: bool,
    version: int,
    server_name: str | None,
) -> None:
    resumed = resumed_12 if version == SSL.TLS1_2_VERSION else resumed_13
    edge = TlsTermination(certs.served(), session_cache=cache, session_tickets=tickets)
    context = client_context(certs, version, tickets=client_tickets)
    server, client = handshake(edge, context, server_name)
    exchange(server, client)
    assert not session_reused(server)
    server, client = handshake(edge, context, server_name, client.get_session())
    assert session_reused(server) is resumed
    assert session_reused(client) is resumed
    assert peer_fingerprint(client) == edge.certificate_for(server_name).fingerprint
    exchange(server, client)


@pytest.mark.parametrize("version", [SSL.TLS1_2_VERSION, SSL.TLS1_3_VERSION], ids=["1.2", "1.3"])
def test_session_survives_a_client_leaving_without_close_notify(certs: Certs, version: int) -> None:
    edge = TlsTermination(certs.served(), session_tickets=False)
    context = client_context(certs, version, tickets=False)
    server, client = handshake(edge, context)
    exchange(server, client)
    server.bio_shutdown()  # what Twisted does when the TCP connection ends
    with pytest.raises(SSL.ZeroReturnError):  # an ordinary close, not a fatal error
        server.recv(100)
    server.shutdown()  # Twisted answers with its close_notify
    del server
    server, _ = handshake(edge, context, None, client.get_session())
    assert session_reused(server)


@pytest.mark.parametrize("version", [SSL.TLS1_2_VERSION, SSL.TLS1_3_VERSION], ids=["1.2", "1.3"])
def test_session_survives_an_aborted_connection(certs: Certs, version: int) -> None:
    edge = TlsTermination(certs.served(), session_tickets=False)
    context = client_context(certs, version, tickets=False)
    server, client = handshake(edge, context)
    exchange(server, client)
    del server  # freed without close_notify sent (abortConnection, a timeout)
    gc.collect()
    server, _ = handshake(edge, context, None, client.get_session())
    assert session_reused(server)


# --- reload ---------------------------------------------------------------------------------------


def test_replace_serves_new_certificates_to_new_handshakes_only(certs: Certs) -> None:
    edge = TlsTermination([certs.default, certs.a])
    old_server, old_client = handshake(edge, client_context(certs))
    pending = edge.serverConnectionForTLS(None)  # type: ignore[arg-type]
    assert peer_fingerprint(old_client) == certs.default.fingerprint

    edge.replace([certs.spare, certs.b])
    assert edge.certificates == (certs.spare, certs.b)
    _, new_client = handshake(edge, client_context(certs))
    assert peer_fingerprint(new_client) == certs.spare.fingerprint
    _, new_client = handshake(edge, client_context(certs), "b.example")
    assert peer_fingerprint(new_client) == certs.b.fingerprint

    # Established before the reload: untouched, still carries data both ways.
    assert peer_fingerprint(old_client) == certs.default.fingerprint
    exchange(old_server, old_client)
    # Accepted before the reload, ClientHello after: finishes with the set it started with.
    _, late_client = handshake(pending, client_context(certs), "a.example")
    assert peer_fingerprint(late_client) == certs.a.fingerprint


def test_replace_with_an_unusable_certificate_keeps_the_old_set(certs: Certs) -> None:
    edge = TlsTermination([certs.default, certs.a])
    broken = dataclasses.replace(certs.b, key=certs.a.key)  # the key of another certificate
    with pytest.raises(CertificateError, match=f"^{certs.b.path}: cannot be served"):
        edge.replace([certs.spare, broken])
    with pytest.raises(CertificateError, match="no certificate"):
        edge.replace([])
    assert edge.certificates == (certs.default, certs.a)
    _, client = handshake(edge, client_context(certs))
    assert peer_fingerprint(client) == certs.default.fingerprint


def test_unusable_certificate_at_start(certs: Certs) -> None:
    with pytest.raises(CertificateError):
        TlsTermination([dataclasses.replace(certs.default, key=certs.a.key)])


# --- facts for logs -------------------------------------------------------------------------------


def test_tls_facts_and_sni(certs: Certs, edge: TlsTermination) -> None:
    fresh = edge.serverConnectionForTLS(None)  # type: ignore[arg-type]
    assert tls_facts(fresh) == ("", "")
    assert sni(fresh) is None
    server, _ = handshake(
        edge,
        client_context(certs, SSL.TLS1_3_VERSION, tls13=b"TLS_AES_256_GCM_SHA384"),
        "b.example",
    )
    assert tls_facts(server) == ("TLSv1.3", "TLS_AES_256_GCM_SHA384")
    assert sni(server) == "b.example"


# --- through Twisted's TLS layer ------------------------------------------------------------------


@implementer(IHandshakeListener)
class Client(Protocol):
    def __init__(self) -> None:
        self.received = b""
        self.protocol: bytes | None = None

    def handshakeCompleted(self) -> None:
        self.protocol = self.transport.negotiatedProtocol  # type: ignore[union-attr]
        self.transport.write(b"ping")  # type: ignore[union-attr]

    def dataReceived(self, data: bytes) -> None:
        self.received += data


class Echo(Protocol):
    def dataReceived(self, data: bytes) -> None:
        self.transport.write(data)  # type: ignore[union-attr]


def test_serves_through_twisted_tls_layer(certs: Certs, edge: TlsTermination) -> None:
    assert verifyObject(IOpenSSLServerConnectionCreator, edge)
    trust = ssl.Certificate(crypto.X509.from_cryptography(certs.root.cert))
    creator = ssl.optionsForClientTLS("b.example", trust, acceptableProtocols=[b"h2", b"http/1.1"])
    client = Client()
    clock = Clock()
    tls_client = TLSMemoryBIOFactory(
        creator, True, Factory.forProtocol(lambda: client), clock=clock
    )
    tls_server = TLSMemoryBIOFactory(edge, False, Factory.forProtocol(Echo), clock=clock)
    _, server, pump = connectedServerAndClient(
        lambda: tls_server.buildProtocol(None),
        lambda: tls_client.buildProtocol(None),
        clock=clock,
    )
    pump.flush()
    assert client.received == b"ping"
    assert client.protocol == b"http/1.1"
    assert sni(server.getHandle()) == "b.example"
