"""The request headers the edge adds for the backend (mod_proxy_http's ``ProxyAddHeaders``
plus ``ProxyVia``), and the real client address as mod_remoteip finds it (edge.md §3.3).

Apache appends to whatever ``X-Forwarded-For`` the client sent, so anyone can put any
address in front of their own. Here the incoming ``X-Forwarded-*`` headers are believed only
from a trusted proxy (``RemoteIPTrustedProxy``; Caddy's ``trusted_proxies``):

* From any other peer every ``X-Forwarded-For``, ``-Host``, ``-Server``, ``-Proto`` and
  ``-Port`` is removed and the edge's own are added: ``X-Forwarded-For: <peer>``,
  ``X-Forwarded-Host: <Host as received, port included>`` (none without a Host),
  ``X-Forwarded-Server: <server name>``, ``X-Forwarded-Proto``, ``X-Forwarded-Port``.
* From a trusted proxy the two hop lists grow, as Apache's ``apr_table_mergen`` makes them:
  ``X-Forwarded-For`` gets ``, <peer>`` and ``X-Forwarded-Server`` gets ``, <server name>``
  (several lines of one are joined into one first, RFC 9110 §5.3). ``X-Forwarded-Host``,
  ``-Proto`` and ``-Port`` describe the client's original request, which that proxy saw and
  the edge did not: they are kept as they are when present, and the edge's are added only
  when absent.

Apache adds no ``X-Forwarded-Proto``/``-Port`` (the seed would need mod_headers); the edge does,
since the backend cannot otherwise tell that the client used TLS. ``Via`` (``ProxyVia On``) is
appended to the last ``Via`` list or added, whatever the peer, as RFC 9110 §7.6.3 asks of a
gateway; ``Forwarded`` (RFC 7239) is neither added nor removed, as in Apache.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence

from stack.http.message import Headers

__all__ = ["ForwardedHeaders"]

_XFF = b"x-forwarded-for"
_XFH = b"x-forwarded-host"
_XFS = b"x-forwarded-server"
_XFP = b"x-forwarded-proto"
_XFPORT = b"x-forwarded-port"
_FORWARDED_NAMES = frozenset((_XFF, _XFH, _XFS, _XFP, _XFPORT))
_VIA = b"via"

# What may go in a header value the edge writes from configuration.
_FIELD_TEXT = re.compile(r"[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?")

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def _append_list(headers: Headers, name: bytes, item: bytes) -> None:
    """Add ``item`` to the comma-separated list ``name``: several lines are first joined into
    the first one, in order; an absent list is started at the end."""
    found = [i for i, (key, _) in enumerate(headers) if key == name]
    if not found:
        headers.append((name, item))
        return
    values = [headers[i][1] for i in found if headers[i][1]]
    values.append(item)
    headers[found[0]] = (name, b", ".join(values))
    for i in reversed(found[1:]):
        del headers[i]


def _address(text: str | bytes) -> Address | None:
    """An IP literal, IPv4-mapped IPv6 read as IPv4 (as mod_remoteip does), else ``None``."""
    try:
        address = ipaddress.ip_address(text.decode("ascii") if isinstance(text, bytes) else text)
    except (ValueError, UnicodeDecodeError):
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


class ForwardedHeaders:
    """The forwarding headers of one edge vhost, compiled once.

    ``server_name`` goes in ``X-Forwarded-Server``; ``trusted_proxies`` are addresses or CIDR
    networks (host bits must be zero) whose ``X-Forwarded-*`` are believed; ``via`` is the
    ``Via`` entry (``"1.1 edge.test:8443"``), ``None`` for none; ``add_forwarded`` is
    ``ProxyAddHeaders``.
    """

    __slots__ = ("_add", "_server", "_v4", "_v6", "_via")

    def __init__(
        self,
        server_name: str,
        trusted_proxies: Sequence[str] = (),
        via: str | None = None,
        add_forwarded: bool = True,
    ) -> None:
        if not _FIELD_TEXT.fullmatch(server_name):
            raise ValueError(f"invalid server name {server_name!r}")
        if via is not None and not _FIELD_TEXT.fullmatch(via):
            raise ValueError(f"invalid Via entry {via!r}")
        self._server = server_name.encode("ascii")
        self._via = None if via is None else via.encode("ascii")
        self._add = add_forwarded
        v4: list[ipaddress.IPv4Network] = []
        v6: list[ipaddress.IPv6Network] = []
        for entry in trusted_proxies:
            try:
                network = ipaddress.ip_network(entry.strip())
            except ValueError as e:
                raise ValueError(f"invalid trusted proxy {entry!r}: {e}") from None
            if isinstance(network, ipaddress.IPv4Network):
                v4.append(network)
            else:
                v6.append(network)
                mapped = network.network_address.ipv4_mapped
                if mapped is not None and network.prefixlen >= 96:
                    v4.append(ipaddress.IPv4Network((mapped, network.prefixlen - 96)))
        self._v4 = tuple(v4)
        self._v6 = tuple(v6)

    def _trusted(self, address: Address | None) -> bool:
        if address is None:
            return False
        networks: Sequence[Network] = self._v4 if address.version == 4 else self._v6
        return any(address in network for network in networks)

    def is_trusted(self, ip: str) -> bool:
        """Whether ``ip`` (the connection's peer) is a trusted proxy."""
        if not self._v4 and not self._v6:
            return False
        return self._trusted(_address(ip))

    def apply(
        self, headers: Headers, client_ip: str, host: bytes | None, proto: bytes, port: int
    ) -> None:
        """Add the forwarding headers to a request's ``headers`` (lowercase names) in place.

        ``client_ip`` is the connection's peer, ``host`` the Host as received (``None`` when
        there was none), ``proto`` ``b"https"`` or ``b"http"``, ``port`` the port the client
        connected to.
        """
        if self._add:
            peer = client_ip.encode("ascii")
            if self.is_trusted(client_ip):
                _append_list(headers, _XFF, peer)
                present = {key for key, _ in headers if key in _FORWARDED_NAMES}
                if host is not None and _XFH not in present:
                    headers.append((_XFH, host))
                _append_list(headers, _XFS, self._server)
                if _XFP not in present:
                    headers.append((_XFP, proto))
                if _XFPORT not in present:
                    headers.append((_XFPORT, b"%d" % port))
            else:
                if any(key in _FORWARDED_NAMES for key, _ in headers):
                    headers[:] = [h for h in headers if h[0] not in _FORWARDED_NAMES]
                headers.append((_XFF, peer))
                if host is not None:
                    headers.append((_XFH, host))
                headers.append((_XFS, self._server))
                headers.append((_XFP, proto))
                headers.append((_XFPORT, b"%d" % port))
        if self._via is not None:
            _append_list(headers, _VIA, self._via)

    def client_address(self, headers: Headers, peer_ip: str) -> str:
        """The client as mod_remoteip finds it: while the current address is a trusted proxy,
        step to the next ``X-Forwarded-For`` entry from the right. An entry that is empty or
        not an IP literal ends the walk (and is not used), as does the list's start.
        ``peer_ip`` comes back unchanged when it is not trusted; an address taken from the
        header comes back in its canonical form. Every ``X-Forwarded-For`` line counts, in
        order (Apache reads only the first)."""
        if not self.is_trusted(peer_ip):
            return peer_ip
        entries: list[bytes] = []
        for key, value in headers:
            if key == _XFF:
                entries.extend(value.split(b","))
        client = peer_ip
        trusted = True
        for entry in reversed(entries):
            if not trusted:
                break
            address = _address(entry.strip(b" \t"))
            if address is None:
                break
            client = str(address)
            trusted = self._trusted(address)
        return client
