"""TLS towards the servers: HAProxy's ``server ... ssl [verify none|required] [ca-file F]
[sni EXPR] [crt F]``.

:func:`server_tls_options` turns a :class:`~stack.config.model.ServerTls` into the connection
creator Twisted's TLS layer takes (``TLSMemoryBIOFactory``, ``wrapClientTLS``, ``connectSSL``);
:func:`sni_for` evaluates the ``sni`` expression for one request.

What HAProxy 2.6 checks (doc/configuration.txt, server options ``verify``, ``verifyhost``,
``sni``): with ``verify required`` (the default) the server's chain must lead to a CA of
``ca-file``, and *if a name is known* the certificate must carry it. The name is the SNI value
sent (the ``sni`` expression's result) or, without SNI, the static ``verifyhost``; when there is
neither, "the certificate's names are ignored": only the chain is verified. The address on the
``server`` line is never compared with the certificate. This module follows that rule; the
``verifyhost`` keyword stands in for HAProxy's directive of the same name (the model has no
field for it yet). ``verify none`` checks nothing, but still sends the SNI.

Differences from HAProxy:

* No ``ca-file`` with ``verify required`` is a configuration error in HAProxy 2.6 (unless
  ``ca-file @system-ca``); here it means the system trust store (Twisted's ``platformTrust``),
  as ``@system-ca`` does. A ``ca-file`` naming a directory loads its ``.pem``, ``.crt`` and
  ``.cer`` files, as HAProxy does (CRLs are not read).
* Names are matched by ``service_identity`` (RFC 6125: subjectAltName DNS and IP entries,
  wildcards in the leftmost label). HAProxy's own matcher also accepts a certificate whose only
  name is its subject CN; such a certificate fails here. An IP address given as SNI is not sent
  (RFC 6066 forbids it) and is matched against the certificate's IP entries.
* ``crt`` is a PEM file with the certificate, its key and optionally the chain to send; when
  the key is missing it is read from the same path plus ``.key`` (HAProxy's default
  ``ssl-load-extra-files``).

Files are read once (and again when their modification time or size changes, looked at no
more than once a second); creators are
cached by their inputs, so calling :func:`server_tls_options` per connection does not rebuild
the OpenSSL context. Each distinct SNI value (``sni req.hdr(host)``) gets its own creator and
context: Twisted checks the name it sends, and older Twisted releases hook that check on the
context, which therefore cannot be shared between names. The cache holds 256 creators.
"""

from __future__ import annotations

import os
import re
import time
from functools import lru_cache
from typing import Any

from cryptography import x509
from OpenSSL import SSL, crypto
from twisted.internet import ssl
from twisted.internet.interfaces import IOpenSSLClientConnectionCreator
from twisted.protocols.tls import TLSMemoryBIOProtocol
from zope.interface import implementer

from stack.config.model import ServerTls
from stack.http.certificates import CertificateError, load_certificate

__all__ = ["TlsFileError", "server_tls_options", "sni_for"]

SYSTEM_CA = "@system-ca"
_CA_SUFFIXES = (".pem", ".crt", ".cer")
_STR_SNI = re.compile(r"str\((.*)\)", re.DOTALL)
_HOST_SNI = re.compile(r"(?:req\.)?f?hdr\(\s*host\s*\)", re.IGNORECASE)


class TlsFileError(ValueError):
    """A ``ca-file`` or ``crt`` that cannot be read or holds no usable certificate/key."""


# --- sni ------------------------------------------------------------------------------------------


def sni_for(tls: ServerTls, request_host: bytes | None) -> str | None:
    """The SNI to send for one request: ``str(NAME)`` gives NAME; ``req.hdr(host)`` (also
    ``hdr(host)``, ``req.fhdr(host)``) gives the client's ``Host`` without its port (``[v6]``
    brackets removed), or ``None`` when the request has none, in which case no SNI is sent
    and, as in HAProxy, no name is checked. No ``sni`` gives ``None``.

    Raises ``ValueError`` for any other expression (``ssl_fc_sni`` and converters are not
    supported).
    """
    expression = tls.sni
    if expression is None:
        return None
    fixed, from_host = _sni_plan(expression)
    if not from_host:
        return fixed
    if request_host is None:
        return None
    return _strip_port(request_host.strip().decode("latin-1")) or None


@lru_cache(maxsize=64)
def _sni_plan(expression: str) -> tuple[str | None, bool]:
    """What an ``sni`` expression asks for, read once: (fixed name, take the Host header)."""
    expression = expression.strip()
    fixed = _STR_SNI.fullmatch(expression)
    if fixed is not None:
        return fixed.group(1) or None, False
    if _HOST_SNI.fullmatch(expression):
        return None, True
    raise ValueError(f"unsupported sni expression {expression!r} (use str(NAME) or req.hdr(host))")


def _strip_port(host: str) -> str:
    if host.startswith("["):
        end = host.find("]")
        return host[1:end] if end > 0 else host
    if host.count(":") == 1:
        return host.partition(":")[0]
    return host  # a bare IPv6 address, or no port


# --- connection creators --------------------------------------------------------------------------


@implementer(IOpenSSLClientConnectionCreator)
class _NamedClient:
    """``verify none`` with an SNI: Twisted's creators always verify the name they send."""

    def __init__(self, options: ssl.CertificateOptions, server_name: bytes) -> None:
        self._options = options
        self._server_name = server_name

    def clientConnectionForTLS(self, tlsProtocol: TLSMemoryBIOProtocol) -> SSL.Connection:
        connection = self._options.clientConnectionForTLS(tlsProtocol)
        connection.set_tlsext_host_name(self._server_name)
        return connection


def server_tls_options(
    tls: ServerTls,
    server_host: str,
    sni_value: str | None,
    *,
    verifyhost: str | None = None,
) -> IOpenSSLClientConnectionCreator:
    """The creator for one TLS connection to a server.

    ``server_host`` is the address from the ``server`` line; as in HAProxy it is not checked
    against the certificate (pass it as ``verifyhost`` to require it). ``sni_value`` is what
    :func:`sni_for` gave for the request: it is sent as SNI and, with ``verify required``, is
    the name the certificate must carry; without it ``verifyhost`` is that name; with neither,
    only the chain is verified.

    Raises :class:`TlsFileError` when ``ca-file`` or ``crt`` cannot be used.
    """
    return _cached_options(
        tls,
        server_host,
        sni_value or None,
        verifyhost or None,
        _file_stamp(tls.ca_file),
        _file_stamp(tls.crt),
    )


# Paths whose stamp was read in the last second: a TLS connection per request must not cost
# two stat() calls each, and a changed file is still picked up within a second.
_STAMP_TTL = 1.0
_stamps: dict[str, tuple[float, tuple[int, int] | None]] = {}


def _file_stamp(path: str | None) -> tuple[int, int] | None:
    if path is None or path == SYSTEM_CA:
        return None
    now = time.monotonic()
    known = _stamps.get(path)
    if known is not None and now - known[0] < _STAMP_TTL:
        return known[1]
    stamp = _read_stamp(path)
    _stamps[path] = (now, stamp)
    return stamp


def _read_stamp(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    if os.path.isdir(path):  # a directory of CAs: any file in it may change
        stamps = [st.st_mtime_ns]
        for name in sorted(os.listdir(path)):
            try:
                stamps.append(os.stat(os.path.join(path, name)).st_mtime_ns)
            except OSError:
                continue
        return hash(tuple(stamps)), st.st_size
    return st.st_mtime_ns, st.st_size


@lru_cache(maxsize=256)
def _cached_options(
    tls: ServerTls,
    server_host: str,
    sni_value: str | None,
    verifyhost: str | None,
    ca_stamp: tuple[int, int] | None,
    crt_stamp: tuple[int, int] | None,
) -> IOpenSSLClientConnectionCreator:
    extra: dict[str, object] = {}
    if tls.crt is not None:
        key, certificate, chain = _load_client_certificate(tls.crt, crt_stamp)
        extra.update(privateKey=key, certificate=certificate)
        if chain:
            extra["extraCertChain"] = list(chain)
    if not tls.verify:
        options = ssl.CertificateOptions(**extra)  # type: ignore[arg-type]
        if sni_value is None:
            return options
        return _NamedClient(options, _sni_bytes(sni_value))
    trust = _load_trust(tls.ca_file, ca_stamp)
    if sni_value is not None:
        return ssl.optionsForClientTLS(sni_value, trust, extraCertificateOptions=extra)
    if verifyhost is not None:
        return ssl.optionsForClientTLS(
            verifyhost, trust, extraCertificateOptions=extra, sendServerName=False
        )
    return ssl.CertificateOptions(trustRoot=trust, **extra)  # type: ignore[arg-type]


def _sni_bytes(name: str) -> bytes:
    try:
        return name.encode("idna")
    except UnicodeError:
        return name.encode("ascii", "replace")


# --- files ----------------------------------------------------------------------------------------


def _read(path: str, what: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as exc:
        raise TlsFileError(f"{what} {path!r}: {exc.strerror or exc}") from None


def _pem_certificates(data: bytes, path: str, what: str) -> list[crypto.X509]:
    try:
        found = x509.load_pem_x509_certificates(data)
    except ValueError:
        found = []
    if not found:
        raise TlsFileError(f"{what} {path!r}: no PEM certificate found")
    return [crypto.X509.from_cryptography(c) for c in found]


@lru_cache(maxsize=32)
def _load_trust(ca_file: str | None, stamp: tuple[int, int] | None) -> Any:
    """The trust root (an ``IOpenSSLTrustRoot``) of ``ca_file``; ``stamp`` keys the cache."""
    if ca_file is None or ca_file == SYSTEM_CA:
        return ssl.platformTrust()
    certificates: list[crypto.X509] = []
    if os.path.isdir(ca_file):
        for name in sorted(os.listdir(ca_file)):
            path = os.path.join(ca_file, name)
            if name.startswith(".") or not name.endswith(_CA_SUFFIXES) or os.path.isdir(path):
                continue
            certificates += _pem_certificates(_read(path, "ca-file"), path, "ca-file")
        if not certificates:
            raise TlsFileError(f"ca-file {ca_file!r}: no .pem, .crt or .cer certificate in it")
    else:
        certificates = _pem_certificates(_read(ca_file, "ca-file"), ca_file, "ca-file")
    return ssl.trustRootFromCertificates([ssl.Certificate(c) for c in certificates])


@lru_cache(maxsize=32)
def _load_client_certificate(
    path: str, stamp: tuple[int, int] | None
) -> tuple[Any, x509.Certificate, tuple[x509.Certificate, ...]]:
    """Key, certificate and chain of a ``crt`` file (the edge's loader: key in the file or in
    ``PATH.key``, and it must match); ``stamp`` keys the cache."""
    try:
        loaded = load_certificate(path)
    except CertificateError as exc:
        raise TlsFileError(f"crt {exc}") from None
    return loaded.key, loaded.certificate, loaded.chain
