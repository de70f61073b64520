"""The certificates the HTTPS edge serves: loaded from PEM files the way Apache and HAProxy read
them, or made on first start for ``certificate = auto``.

:func:`load_certificate` accepts both layouts operators bring along:

* HAProxy ``crt``: one file with the leaf certificate, its key and the intermediates (every
  certificate after the first is chain). With no key in the file, ``<file>.key`` is read
  (HAProxy's default ``ssl-load-extra-files``).
* Apache ``SSLCertificateFile`` + ``SSLCertificateKeyFile`` + ``SSLCertificateChainFile``:
  separate files, given as ``key`` and ``chain``.

Keys protected by a passphrase are refused: Apache would prompt at start-up
(``SSLPassPhraseDialog``), which a service restarted by keepalived or systemd cannot answer.

:func:`ensure_auto_certificate` keeps a small local CA and a 90-day leaf (Mozilla's recommended
lifespan) under ``<state_dir>/tls/``, so a test or lab edge serves HTTPS without an operator
making certificates; clients trust ``ca.pem`` once and survive every leaf renewal.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import socket
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = [
    "AutoCertificate",
    "CertificateError",
    "ServedCertificate",
    "ensure_auto_certificate",
    "load_certificate",
]

ServerKey = (
    rsa.RSAPrivateKey
    | ec.EllipticCurvePrivateKey
    | ed25519.Ed25519PrivateKey
    | ed448.Ed448PrivateKey
)

CA_LIFETIME = datetime.timedelta(days=3650)
LEAF_LIFETIME = datetime.timedelta(days=90)
RENEW_BEFORE = datetime.timedelta(days=30)
# Back-dating absorbs clocks a little behind ours; lifetimes count from this moment, so the leaf
# stays within Mozilla's 90 days.
BACKDATE = datetime.timedelta(hours=1)


class CertificateError(ValueError):
    """A certificate, key or chain file that cannot be served; the message names the file."""


@dataclass(frozen=True)
class ServedCertificate:
    """One certificate ready to serve, with the facts logs and SNI matching need."""

    path: str
    #: lowercased DNS names and IP addresses from subjectAltName; the subject CN only when the
    #: certificate has no subjectAltName (as clients still accept such certificates' CN).
    names: tuple[str, ...]
    #: SHA-256 of the DER certificate, ``AB:CD:...`` like ``openssl x509 -fingerprint -sha256``
    fingerprint: str
    not_after: datetime.datetime
    key: ServerKey = field(repr=False, compare=False)
    certificate: x509.Certificate = field(repr=False, compare=False)
    chain: tuple[x509.Certificate, ...] = field(default=(), repr=False, compare=False)


def load_certificate(
    cert: str, key: str | None = None, chain: str | None = None
) -> ServedCertificate:
    """Read a leaf certificate with its key and chain; see the module docstring for the layouts.

    Raises :class:`CertificateError` when a file is unreadable, holds no certificate, holds an
    encrypted or unusable key, or the key does not belong to the certificate.
    """
    data = _read(cert)
    found = _pem_certificates(data, cert)
    leaf, extra = found[0], found[1:]
    if key is not None:
        key_path, key_data = key, _read(key)
    elif _has_private_key(data):
        key_path, key_data = cert, data
    else:
        key_path = cert + ".key"
        if not os.path.exists(key_path):
            raise CertificateError(f"{cert}: no private key in the file and no {key_path}")
        key_data = _read(key_path)
    private_key = _private_key(key_data, key_path)
    if _public_der(private_key.public_key()) != _public_der(leaf.public_key()):
        raise CertificateError(f"key {key_path} does not match certificate {cert}")
    if chain is not None:
        extra += _pem_certificates(_read(chain), chain)
    return ServedCertificate(
        path=cert,
        names=certificate_names(leaf),
        fingerprint=fingerprint(leaf),
        not_after=leaf.not_valid_after_utc,
        key=private_key,
        certificate=leaf,
        chain=_unique(extra, leaf),
    )


def certificate_names(certificate: x509.Certificate) -> tuple[str, ...]:
    """The names a client may reach this certificate by, lowercased, in certificate order."""
    try:
        san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        common = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        return tuple(_text(a.value).lower() for a in common[:1])
    names = [n.lower() for n in san.get_values_for_type(x509.DNSName)]
    names += [str(ip) for ip in san.get_values_for_type(x509.IPAddress)]
    return tuple(dict.fromkeys(names))


def fingerprint(certificate: x509.Certificate) -> str:
    """SHA-256 fingerprint as ``openssl x509 -fingerprint -sha256`` prints it."""
    return certificate.fingerprint(hashes.SHA256()).hex(":").upper()


# --- certificate = auto -------------------------------------------------------------------------


@dataclass(frozen=True)
class AutoCertificate:
    """Where ``certificate = auto`` keeps its files, and what this start had to make."""

    ca_path: str
    ca_fingerprint: str
    cert_path: str
    key_path: str
    created_ca: bool
    issued_leaf: bool


def ensure_auto_certificate(state_dir: str, names: Sequence[str]) -> AutoCertificate:
    """Make sure ``<state_dir>/tls/`` holds a local CA and a leaf for ``names`` issued by it.

    The CA (ECDSA P-256, 10 years) is made once and kept, so clients that trust ``ca.pem`` keep
    trusting the edge; it is replaced only when its files are unusable or it would expire
    within a leaf lifetime. The leaf (ECDSA P-256, 90 days, serverAuth) is re-issued when the
    names differ, fewer than 30 days remain, or its files are unusable or not from this CA.
    ``names`` are DNS names (``*.example.com`` allowed) or IP addresses.

    Keys are written mode 0600 by writing a temporary file and renaming it, so a crash never
    leaves half a key; directories this creates are mode 0700.
    """
    wanted = _auto_names(names)
    tls_dir = os.path.join(state_dir, "tls")
    os.makedirs(state_dir, mode=0o700, exist_ok=True)
    os.makedirs(tls_dir, mode=0o700, exist_ok=True)
    os.chmod(tls_dir, 0o700)
    ca_path, ca_key_path = os.path.join(tls_dir, "ca.pem"), os.path.join(tls_dir, "ca.key")
    cert_path, key_path = os.path.join(tls_dir, "server.pem"), os.path.join(tls_dir, "server.key")
    now = datetime.datetime.now(datetime.UTC)

    ca = _usable_ca(ca_path, ca_key_path, now)
    created_ca = ca is None
    if ca is None:
        ca_key, ca_cert = _make_ca(now)
        _write_atomically(ca_key_path, _key_pem(ca_key), 0o600)
        _write_atomically(ca_path, ca_cert.public_bytes(serialization.Encoding.PEM), 0o644)
    else:
        ca_key, ca_cert = ca

    issued_leaf = created_ca or not _usable_leaf(cert_path, key_path, ca_cert, wanted, now)
    if issued_leaf:
        leaf_key, leaf = _make_leaf(ca_key, ca_cert, wanted, now)
        _write_atomically(key_path, _key_pem(leaf_key), 0o600)
        _write_atomically(cert_path, leaf.public_bytes(serialization.Encoding.PEM), 0o644)
    return AutoCertificate(
        ca_path=ca_path,
        ca_fingerprint=fingerprint(ca_cert),
        cert_path=cert_path,
        key_path=key_path,
        created_ca=created_ca,
        issued_leaf=issued_leaf,
    )


def _auto_names(names: Sequence[str]) -> tuple[str, ...]:
    """``names`` as they will appear in the certificate: IPs canonical, DNS names lowercased
    A-labels without a trailing dot, duplicates dropped."""
    out: list[str] = []
    for raw in names:
        name = raw.strip().rstrip(".")
        try:
            out.append(str(ipaddress.ip_address(name.strip("[]"))))
            continue
        except ValueError:
            pass
        if not name.isascii():
            try:
                name = name.encode("idna").decode("ascii")
            except UnicodeError:
                raise ValueError(f"certificate = auto: {raw!r} is not a valid host name") from None
        if not name:
            raise ValueError(f"certificate = auto: empty name in {list(names)!r}")
        out.append(name.lower())
    if not out:
        raise ValueError("certificate = auto needs at least one name")
    return tuple(dict.fromkeys(out))


def _usable_ca(
    ca_path: str, key_path: str, now: datetime.datetime
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate] | None:
    try:
        served = load_certificate(ca_path, key_path)
    except CertificateError:
        return None
    try:
        constraints = served.certificate.extensions.get_extension_for_class(x509.BasicConstraints)
    except x509.ExtensionNotFound:
        return None
    if not constraints.value.ca or not isinstance(served.key, ec.EllipticCurvePrivateKey):
        return None
    if served.not_after - now < LEAF_LIFETIME:
        return None
    return served.key, served.certificate


def _usable_leaf(
    cert_path: str,
    key_path: str,
    ca: x509.Certificate,
    wanted: tuple[str, ...],
    now: datetime.datetime,
) -> bool:
    try:
        served = load_certificate(cert_path, key_path)
    except CertificateError:
        return False
    try:
        served.certificate.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return (
        set(served.names) == set(wanted)
        and served.certificate.not_valid_before_utc <= now
        and served.not_after - now >= RENEW_BEFORE
    )


def _make_ca(now: datetime.datetime) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [x509.NameAttribute(NameOID.COMMON_NAME, f"stack local CA {socket.gethostname()}"[:64])]
    )
    start = now - BACKDATE
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + CA_LIFETIME)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(signs_certificates=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .sign(key, hashes.SHA256())
    )
    return key, certificate


def _make_leaf(
    ca_key: ec.EllipticCurvePrivateKey,
    ca: x509.Certificate,
    names: tuple[str, ...],
    now: datetime.datetime,
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    general: list[x509.GeneralName] = []
    for name in names:
        try:
            general.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            general.append(x509.DNSName(name))
    # RFC 5280 §4.2.1.6: with an empty subject the subjectAltName must be critical.
    subject = (
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
        if len(names[0]) <= 64
        else x509.Name([])
    )
    start = now - BACKDATE
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + LEAF_LIFETIME)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(signs_certificates=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName(general), critical=not subject)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    return key, certificate


def _key_usage(*, signs_certificates: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=signs_certificates,
        crl_sign=signs_certificates,
        encipher_only=False,
        decipher_only=False,
    )


def _write_atomically(path: str, data: bytes, mode: int) -> None:
    directory = os.path.dirname(path)
    fd, temporary = tempfile.mkstemp(dir=directory, prefix="." + os.path.basename(path) + ".")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


# --- files ---------------------------------------------------------------------------------------


def _read(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as exc:
        raise CertificateError(f"{path}: {exc.strerror or exc}") from None


def _pem_certificates(data: bytes, path: str) -> list[x509.Certificate]:
    if b"-----BEGIN CERTIFICATE-----" not in data:
        raise CertificateError(f"{path}: no PEM certificate found")
    try:
        return x509.load_pem_x509_certificates(data)
    except ValueError as exc:
        raise CertificateError(f"{path}: unreadable PEM certificate ({exc})") from None


def _has_private_key(data: bytes) -> bool:
    return b"PRIVATE KEY-----" in data


def _private_key(data: bytes, path: str) -> ServerKey:
    if b"ENCRYPTED PRIVATE KEY-----" in data or b"Proc-Type: 4,ENCRYPTED" in data:
        raise _encrypted(path)
    if not _has_private_key(data):
        raise CertificateError(f"{path}: no PEM private key found")
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except TypeError:  # "Password was not given but private key is encrypted"
        raise _encrypted(path) from None
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise CertificateError(f"{path}: unreadable private key ({exc})") from None
    if not isinstance(key, ServerKey):
        raise CertificateError(f"{path}: a {type(key).__name__} cannot sign TLS handshakes")
    return key


def _encrypted(path: str) -> CertificateError:
    return CertificateError(
        f"{path}: the private key is encrypted; passphrases are not supported "
        "(decrypt it with `openssl pkey -in KEY -out KEY.plain`)"
    )


def _public_der(public_key: CertificatePublicKeyTypes) -> bytes:
    return public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _unique(chain: list[x509.Certificate], leaf: x509.Certificate) -> tuple[x509.Certificate, ...]:
    """The chain without repeats (an intermediate both bundled and in the chain file) and
    without the leaf itself, which some bundles repeat."""
    seen = {leaf.fingerprint(hashes.SHA256())}
    out = []
    for certificate in chain:
        digest = certificate.fingerprint(hashes.SHA256())
        if digest not in seen:
            seen.add(digest)
            out.append(certificate)
    return tuple(out)


def _text(value: str | bytes) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value
