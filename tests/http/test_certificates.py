"""Loading served certificates in HAProxy's and Apache's file layouts, and ``certificate = auto``
(a local CA and a 90-day leaf kept under the state directory)."""

from __future__ import annotations

import datetime
import ipaddress
import os
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID
from OpenSSL import crypto
from pki import Issued, issue, make_ca

from stack.http.certificates import (
    CertificateError,
    ensure_auto_certificate,
    load_certificate,
)


@pytest.fixture(scope="module")
def root() -> Issued:
    return make_ca("Test Root CA")


@pytest.fixture(scope="module")
def intermediate(root: Issued) -> Issued:
    return make_ca("Test Intermediate CA", root)


@pytest.fixture(scope="module")
def leaf(intermediate: Issued) -> Issued:
    return issue(
        intermediate,
        "www.example.com",
        [
            x509.DNSName("WWW.Example.com"),
            x509.DNSName("*.api.example.com"),
            x509.IPAddress(ipaddress.ip_address("192.0.2.7")),
        ],
    )


def write(path: Path, *parts: bytes) -> str:
    path.write_bytes(b"".join(parts))
    return str(path)


def openssl_style(certificate: x509.Certificate) -> str:
    digest = certificate.fingerprint(hashes.SHA256())
    return ":".join(f"{b:02X}" for b in digest)


# --- load_certificate ----------------------------------------------------------------------------


def test_haproxy_bundle_holds_leaf_key_and_chain(
    tmp_path: Path, leaf: Issued, intermediate: Issued
) -> None:
    path = write(tmp_path / "site.pem", leaf.cert_pem(), leaf.key_pem(), intermediate.cert_pem())
    served = load_certificate(path)
    assert served.path == path
    assert served.certificate == leaf.cert
    assert served.chain == (intermediate.cert,)
    assert served.names == ("www.example.com", "*.api.example.com", "192.0.2.7")
    assert served.fingerprint == openssl_style(leaf.cert)
    assert served.not_after == leaf.cert.not_valid_after_utc


def test_apache_separate_key_and_chain_files(
    tmp_path: Path, leaf: Issued, intermediate: Issued
) -> None:
    served = load_certificate(
        write(tmp_path / "site.crt", leaf.cert_pem()),
        key=write(tmp_path / "site.key.pem", leaf.key_pem()),
        chain=write(tmp_path / "chain.pem", intermediate.cert_pem()),
    )
    assert served.certificate == leaf.cert
    assert served.chain == (intermediate.cert,)


def test_chain_in_both_bundle_and_chain_file_is_sent_once(
    tmp_path: Path, leaf: Issued, intermediate: Issued, root: Issued
) -> None:
    served = load_certificate(
        write(tmp_path / "site.pem", leaf.cert_pem(), leaf.key_pem(), intermediate.cert_pem()),
        chain=write(tmp_path / "chain.pem", intermediate.cert_pem(), root.cert_pem()),
    )
    assert served.chain == (intermediate.cert, root.cert)


def test_key_next_to_certificate_is_found(tmp_path: Path, leaf: Issued) -> None:
    path = write(tmp_path / "site.pem", leaf.cert_pem())
    write(tmp_path / "site.pem.key", leaf.key_pem())
    assert load_certificate(path).key.public_key() == leaf.key.public_key()


def test_no_key_anywhere(tmp_path: Path, leaf: Issued) -> None:
    path = write(tmp_path / "site.pem", leaf.cert_pem())
    with pytest.raises(CertificateError, match=f"{path}: no private key.*{path}.key"):
        load_certificate(path)


def test_mismatched_key_names_both_files(tmp_path: Path, leaf: Issued, root: Issued) -> None:
    cert = write(tmp_path / "site.pem", leaf.cert_pem())
    key = write(tmp_path / "other.key", root.key_pem())
    with pytest.raises(CertificateError) as caught:
        load_certificate(cert, key)
    assert str(caught.value) == f"key {key} does not match certificate {cert}"


@pytest.mark.parametrize(
    "content", [b"", b"not a certificate\n", b"-----BEGIN PRIVATE KEY-----\nAAAA\n"]
)
def test_garbage_is_no_certificate(tmp_path: Path, content: bytes) -> None:
    path = write(tmp_path / "garbage.pem", content)
    with pytest.raises(CertificateError, match=f"^{path}: no PEM certificate found$"):
        load_certificate(path)


def test_broken_pem_certificate(tmp_path: Path) -> None:
    path = write(
        tmp_path / "broken.pem",
        b"-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n",
    )
    with pytest.raises(CertificateError, match=f"^{path}: unreadable PEM certificate"):
        load_certificate(path)


def test_missing_file(tmp_path: Path) -> None:
    path = str(tmp_path / "absent.pem")
    with pytest.raises(CertificateError, match=f"^{path}: No such file"):
        load_certificate(path)


@pytest.mark.parametrize("legacy", [False, True], ids=["pkcs8", "traditional"])
def test_encrypted_key_is_refused(tmp_path: Path, leaf: Issued, legacy: bool) -> None:
    key_format = (
        serialization.PrivateFormat.TraditionalOpenSSL
        if legacy
        else serialization.PrivateFormat.PKCS8
    )
    encrypted = leaf.key.private_bytes(
        serialization.Encoding.PEM, key_format, serialization.BestAvailableEncryption(b"secret")
    )
    cert = write(tmp_path / "site.pem", leaf.cert_pem())
    key = write(tmp_path / "site.key", encrypted)
    with pytest.raises(CertificateError, match=f"^{key}: .*encrypted.*passphrases are not"):
        load_certificate(cert, key)


def test_without_subject_alt_name_the_common_name_is_the_name(tmp_path: Path, root: Issued) -> None:
    old_style = issue(root, "Legacy.Example.ORG", [])
    served = load_certificate(
        write(tmp_path / "old.pem", old_style.cert_pem(), old_style.key_pem())
    )
    assert served.names == ("legacy.example.org",)


def test_common_name_ignored_when_subject_alt_name_present(tmp_path: Path, root: Issued) -> None:
    both = issue(root, "cn.example", [x509.DNSName("san.example")])
    served = load_certificate(write(tmp_path / "both.pem", both.cert_pem(), both.key_pem()))
    assert served.names == ("san.example",)


def test_rsa_certificate(tmp_path: Path, root: Issued) -> None:
    rsa_leaf = issue(root, "rsa.example", [x509.DNSName("rsa.example")], rsa_bits=2048)
    served = load_certificate(write(tmp_path / "rsa.pem", rsa_leaf.cert_pem(), rsa_leaf.key_pem()))
    assert served.names == ("rsa.example",)


# --- certificate = auto --------------------------------------------------------------------------


def load_pem(path: str) -> x509.Certificate:
    return x509.load_pem_x509_certificate(Path(path).read_bytes())


def san_of(certificate: x509.Certificate) -> list[str]:
    san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return [str(n.value) for n in san]


def verifies_against(leaf_path: str, ca_path: str) -> bool:
    store = crypto.X509Store()
    store.add_cert(crypto.X509.from_cryptography(load_pem(ca_path)))
    context = crypto.X509StoreContext(store, crypto.X509.from_cryptography(load_pem(leaf_path)))
    try:
        context.verify_certificate()
    except crypto.X509StoreContextError:
        return False
    return True


def mode(path: str) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_first_start_creates_ca_and_leaf(tmp_path: Path) -> None:
    state = tmp_path / "state"
    auto = ensure_auto_certificate(str(state), ["Edge.Example.com", "127.0.0.1", "::1"])
    assert auto.created_ca and auto.issued_leaf
    tls = state / "tls"
    assert auto.ca_path == str(tls / "ca.pem")
    assert auto.cert_path == str(tls / "server.pem")
    assert auto.key_path == str(tls / "server.key")
    assert mode(str(state)) == 0o700
    assert mode(str(tls)) == 0o700
    assert mode(auto.key_path) == 0o600
    assert mode(str(tls / "ca.key")) == 0o600
    assert sorted(os.listdir(tls)) == ["ca.key", "ca.pem", "server.key", "server.pem"]

    ca = load_pem(auto.ca_path)
    assert auto.ca_fingerprint == openssl_style(ca)
    assert ca.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value.startswith(
        "stack local CA "
    )
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert (ca.not_valid_after_utc - ca.not_valid_before_utc).days == 3650

    served = load_certificate(auto.cert_path, auto.key_path)
    assert served.chain == ()  # the CA is the trust anchor, not sent
    assert served.names == ("edge.example.com", "127.0.0.1", "::1")
    assert san_of(served.certificate) == ["edge.example.com", "127.0.0.1", "::1"]
    lifespan = served.not_after - served.certificate.not_valid_before_utc
    assert lifespan == datetime.timedelta(days=90)
    usage = served.certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [x509.ExtendedKeyUsageOID.SERVER_AUTH]
    assert served.certificate.public_key().curve.name == "secp256r1"  # type: ignore[union-attr]
    assert verifies_against(auto.cert_path, auto.ca_path)


def test_later_start_reuses_everything(tmp_path: Path) -> None:
    first = ensure_auto_certificate(str(tmp_path), ["edge.example"])
    leaf_before = Path(first.cert_path).read_bytes()
    again = ensure_auto_certificate(str(tmp_path), ["EDGE.example."])
    assert not again.created_ca and not again.issued_leaf
    assert again.ca_fingerprint == first.ca_fingerprint
    assert Path(again.cert_path).read_bytes() == leaf_before


def test_changed_names_reissue_the_leaf_with_the_same_ca(tmp_path: Path) -> None:
    first = ensure_auto_certificate(str(tmp_path), ["a.example"])
    before = load_certificate(first.cert_path, first.key_path)
    second = ensure_auto_certificate(str(tmp_path), ["a.example", "b.example"])
    assert second.issued_leaf and not second.created_ca
    assert second.ca_fingerprint == first.ca_fingerprint
    after = load_certificate(second.cert_path, second.key_path)
    assert after.fingerprint != before.fingerprint
    assert after.names == ("a.example", "b.example")
    assert verifies_against(second.cert_path, second.ca_path)
    assert mode(second.key_path) == 0o600


def test_leaf_close_to_expiry_is_reissued(tmp_path: Path) -> None:
    first = ensure_auto_certificate(str(tmp_path), ["edge.example"])
    ca_key = serialization.load_pem_private_key(
        (tmp_path / "tls" / "ca.key").read_bytes(), password=None
    )
    ca = load_pem(first.ca_path)
    old = load_certificate(first.cert_path, first.key_path)
    now = datetime.datetime.now(datetime.UTC)
    expiring = (
        x509.CertificateBuilder()
        .subject_name(old.certificate.subject)
        .issuer_name(ca.subject)
        .public_key(old.key.public_key())  # type: ignore[arg-type]
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=70))
        .not_valid_after(now + datetime.timedelta(days=20))
        .add_extension(
            old.certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value,
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())  # type: ignore[arg-type]
    )
    Path(first.cert_path).write_bytes(expiring.public_bytes(serialization.Encoding.PEM))

    renewed = ensure_auto_certificate(str(tmp_path), ["edge.example"])
    assert renewed.issued_leaf and not renewed.created_ca
    assert load_certificate(
        renewed.cert_path, renewed.key_path
    ).not_after - now > datetime.timedelta(days=89)


def test_unusable_leaf_is_reissued(tmp_path: Path) -> None:
    first = ensure_auto_certificate(str(tmp_path), ["edge.example"])
    Path(first.key_path).write_bytes(b"truncated")
    again = ensure_auto_certificate(str(tmp_path), ["edge.example"])
    assert again.issued_leaf and not again.created_ca
    load_certificate(again.cert_path, again.key_path)


def test_leaf_from_another_ca_is_reissued(tmp_path: Path) -> None:
    first = ensure_auto_certificate(str(tmp_path), ["edge.example"])
    stranger = issue(make_ca("Somebody else"), "edge.example", [x509.DNSName("edge.example")])
    Path(first.cert_path).write_bytes(stranger.cert_pem())
    Path(first.key_path).write_bytes(stranger.key_pem())
    again = ensure_auto_certificate(str(tmp_path), ["edge.example"])
    assert again.issued_leaf
    assert verifies_against(again.cert_path, again.ca_path)


def test_unusable_ca_makes_a_new_ca_and_leaf(tmp_path: Path) -> None:
    first = ensure_auto_certificate(str(tmp_path), ["edge.example"])
    (tmp_path / "tls" / "ca.key").write_bytes(b"")
    again = ensure_auto_certificate(str(tmp_path), ["edge.example"])
    assert again.created_ca and again.issued_leaf
    assert again.ca_fingerprint != first.ca_fingerprint
    assert verifies_against(again.cert_path, again.ca_path)


def test_no_temporary_files_left(tmp_path: Path) -> None:
    ensure_auto_certificate(str(tmp_path), ["a.example"])
    ensure_auto_certificate(str(tmp_path), ["b.example"])
    assert sorted(os.listdir(tmp_path / "tls")) == ["ca.key", "ca.pem", "server.key", "server.pem"]


def test_auto_needs_a_name(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="at least one name"):
        ensure_auto_certificate(str(tmp_path), [])
    assert not (tmp_path / "tls").exists()
